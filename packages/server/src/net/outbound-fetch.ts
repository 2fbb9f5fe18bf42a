// Requests the server itself makes on a tenant's behalf, to URLs the tenant gave: a skill's SKILL.md
// today; MCP servers and webhooks are meant to come through here too, and so are attachments (those a
// model cannot take by URL are still downloaded by the AI SDK, whose check reads the URL's literal host
// only; streamText's experimental_download is the place to plug this in). Each hop:
//   - http: and https: only;
//   - the host is resolved here, and internal addresses (net/address-policy.ts: loopback, private,
//     link-local, this machine's own…) are dropped unless the operator allows them
//     (HERM_ALLOW_PRIVATE_URLS, OutboundPolicy);
//   - the connection goes to one of exactly those checked addresses (a `lookup` that answers with them
//     only), so a name cannot be rebound between the check and the connect; TLS still verifies the name;
//   - redirects are followed by hand, each re-checked the same way (at most 5 by default);
//   - one deadline covers the whole exchange, and the response body has a size limit.
// Every failure to get an answer — a refused address, a closed port, a timeout, a name that does not
// resolve, a broken connection — is the same OutboundFetchError with the same message, so a tenant cannot
// tell a closed port from a refused address and use the server as a port scanner. HTTP statuses are the
// caller's to report.
import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { hostAddresses, isInternalAddress } from './address-policy.ts';

/** Resolves a name to addresses, like dns.lookup with `all: true`. */
export type OutboundLookup = (hostname: string) => Promise<Array<{ address: string; family: number }>>;

/** Which destinations the server may reach for a tenant. The default policy (`{}`) reaches public addresses only. */
export interface OutboundPolicy {
  /** HERM_ALLOW_PRIVATE_URLS: internal addresses may be reached too. Default false. */
  allowPrivate?: boolean;
  /** Narrower exceptions: this internal address may be reached at this port. Default: none. */
  allowInternal?: (address: string, port: number) => boolean;
  /** Default: the system resolver (getaddrinfo). */
  lookup?: OutboundLookup;
}

/** The policy of the server's configuration. */
export function outboundPolicyFromConfig(config: { HERM_ALLOW_PRIVATE_URLS: boolean }): OutboundPolicy {
  return { allowPrivate: config.HERM_ALLOW_PRIVATE_URLS };
}

export interface OutboundRequest {
  url: string;
  policy: OutboundPolicy;
  /** Default GET. */
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Deadline of the whole exchange (every hop, the body included). Default 10 s. */
  timeoutMs?: number;
  /** Largest response body taken. Default 1 MiB. */
  maxBytes?: number;
  /** Redirects followed; 0 returns a redirect as it is. Default 5. */
  maxRedirects?: number;
  signal?: AbortSignal;
}

export interface OutboundResponse {
  /** The URL that answered (after redirects). */
  url: string;
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * `unreachable`: no answer, for whatever reason (deliberately one message). `too_large`: the body is over
 * maxBytes. `redirect`: too many redirects, or one to somewhere that is not an http(s) URL. `url`: the URL
 * itself is not a fetchable http(s) URL. `aborted`: the caller's signal.
 */
export type OutboundFailure = 'unreachable' | 'too_large' | 'redirect' | 'url' | 'aborted';

export class OutboundFetchError extends Error {
  readonly failure: OutboundFailure;
  constructor(failure: OutboundFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OutboundFetchError';
    this.failure = failure;
  }
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_BYTES = 1_048_576;
const DEFAULT_MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Request headers that name the origin's credentials: dropped when a redirect leaves the origin. */
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];

/** The one message of every failure to get an answer from `url`. */
export function unreachableMessage(url: string): string {
  return `could not fetch ${url}: the host did not answer`;
}

/** Requests `url` under `policy`; see the top of this file. */
export async function outboundFetch(request: OutboundRequest): Promise<OutboundResponse> {
  const original = request.url;
  const maxBytes = request.maxBytes ?? DEFAULT_MAX_BYTES;
  const maxRedirects = request.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const timeout = AbortSignal.timeout(request.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
  const fail = (cause: unknown): OutboundFetchError => {
    if (request.signal?.aborted) return new OutboundFetchError('aborted', `fetching ${original} was cancelled`, { cause });
    return new OutboundFetchError('unreachable', unreachableMessage(original), { cause });
  };

  let url = parseHttpUrl(original);
  if (!url) throw new OutboundFetchError('url', `could not fetch ${original}: not an http(s) URL`);
  let method = (request.method ?? 'GET').toUpperCase();
  let body = request.body;
  const headers: Record<string, string> = { 'user-agent': 'Herm', ...lowerCaseKeys(request.headers ?? {}) };
  for (let redirects = 0; ; redirects++) {
    let response: IncomingMessage;
    try {
      response = await send(url, method, headers, body, request.policy, signal);
    } catch (error) {
      throw fail(error);
    }
    const status = response.statusCode ?? 0;
    const location = response.headers.location;
    if (!REDIRECTS.has(status) || location === undefined || maxRedirects === 0) {
      return { url: url.href, status, headers: response.headers, body: await readBody(response, maxBytes, original, fail) };
    }
    response.destroy();
    if (redirects >= maxRedirects) throw new OutboundFetchError('redirect', `could not fetch ${original}: more than ${maxRedirects} redirects`);
    let next: URL | undefined;
    try {
      next = parseHttpUrl(new URL(location, url).href);
    } catch {
      next = undefined;
    }
    if (!next) throw new OutboundFetchError('redirect', `could not fetch ${original}: it redirects to ${JSON.stringify(location)}, which is not an http(s) URL`);
    // What browsers and fetch do: 303 (and 301/302 after a POST) continues as a GET without a body.
    if ((status === 303 && method !== 'HEAD') || ((status === 301 || status === 302) && method === 'POST')) {
      method = 'GET';
      body = undefined;
      delete headers['content-type'];
      delete headers['content-length'];
    }
    if (next.origin !== url.origin) for (const name of CREDENTIAL_HEADERS) delete headers[name];
    url = next;
  }
}

function parseHttpUrl(text: string): URL | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  return url;
}

function lowerCaseKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}

/** Why a hop was not tried: kept as the error's cause (for logs), never shown in its message. */
export class RefusedDestination extends Error {}

/**
 * One hop: resolves and checks the host, then sends the request to a checked address. Exported for callers that
 * need the response as a stream (mcp/policy-fetch.ts: MCP's Streamable HTTP and SSE transports); a refusal is a
 * RefusedDestination (its message is for logs, not tenants).
 */
export async function send(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | Uint8Array | undefined,
  policy: OutboundPolicy,
  signal: AbortSignal,
): Promise<IncomingMessage> {
  signal.throwIfAborted();
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  let resolved: Array<{ address: string; family: number }>;
  if (isIP(hostname) !== 0) {
    resolved = [{ address: hostname, family: isIP(hostname) }];
  } else {
    const lookup = policy.lookup ?? ((name: string) => dnsLookup(name, { all: true, verbatim: true }));
    resolved = await raceSignal(lookup(hostname), signal);
  }
  const own = hostAddresses();
  const permitted = resolved.filter(
    ({ address }) => policy.allowPrivate === true || !isInternalAddress(address, own) || policy.allowInternal?.(address, port) === true,
  );
  if (permitted.length === 0) {
    throw new RefusedDestination(`${url.host} is an internal address (${resolved.map(({ address }) => address).join(', ')}) and private URLs are not allowed`);
  }
  // The socket connects to a checked address only: Node asks this instead of the resolver (an IP
  // literal host is never looked up at all). The name stays the Host header and the TLS server name.
  const pinned = (_hostname: string, options: LookupOptions, callback: (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void): void => {
    if (options.all) callback(null, permitted.map(({ address, family }) => ({ address, family })));
    else callback(null, permitted[0]!.address, permitted[0]!.family);
  };
  const outgoing: OutgoingHttpHeaders = { ...headers };
  if (body !== undefined) outgoing['content-length'] = String(Buffer.byteLength(body));
  const requestFunction = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<IncomingMessage>((resolve, reject) => {
    // No agent: no connection is shared with another request (or another policy).
    const outgoingRequest = requestFunction(url, { method, headers: outgoing, lookup: pinned, agent: false, signal }, resolve);
    outgoingRequest.once('error', reject);
    outgoingRequest.end(body);
  });
}

/** The body, up to `maxBytes`. */
function readBody(response: IncomingMessage, maxBytes: number, url: string, fail: (cause: unknown) => OutboundFetchError): Promise<Buffer> {
  const tooLarge = () => new OutboundFetchError('too_large', `could not fetch ${url}: the response is larger than ${maxBytes} bytes`);
  const declared = Number(response.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    response.destroy();
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    response.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        settled = true;
        response.destroy();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    response.once('end', () => {
      settled = true;
      resolve(Buffer.concat(chunks));
    });
    response.once('error', (error) => {
      if (!settled) reject(fail(error));
      settled = true;
    });
    response.once('close', () => {
      if (!settled) reject(fail(new Error('the connection closed before the response ended')));
      settled = true;
    });
  });
}

/** `promise`, or the signal's reason when it aborts first. */
function raceSignal<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
