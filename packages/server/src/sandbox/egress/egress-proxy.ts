// The host's side of `sandbox.network.allow`: an HTTP proxy per deployment (and allowlist), listening on
// a unix socket that is bind-mounted into the sandbox (egress-bridge.ts). It tunnels CONNECT (HTTPS and
// anything else over TLS) and forwards absolute-URI plain-HTTP requests, only to hosts on the
// allowlist; everything else gets a 403 saying why. Names are resolved here, on the host: the sandbox
// has no DNS. Every resolved address that is internal (net/address-policy.ts: loopback, private,
// link-local, multicast, this machine's own…) is dropped unless the operator opened it, or the name
// asked for, at that port (HERM_SANDBOX_INTERNAL_DESTINATIONS, carried in the SandboxSpec), and the
// connection goes to exactly an address that was checked: neither the Herm server, nor other host
// services, nor the private network are reachable by literal, by name, or by DNS rebinding.
//
// Secrets (egress-secrets.ts): a destination that one of the deployment's secrets is bound to is not tunnelled
// blindly: the proxy answers the CONNECT itself, terminates the sandbox's TLS with a certificate of its own CA
// (egress-tls.ts), replaces the secrets' placeholders in each request's headers and target, and sends it on over
// its own TLS connection, verified against the system's CAs; what the host answers comes back with any value it
// echoes turned into the placeholder again (compressed answers decompressed for that). Inside such a tunnel a request
// names only the CONNECT's host (origin-form target), and goes without forwarding headers. Plain-HTTP requests get
// values only to operator-opened internal destinations, never on port 443. Every other destination is tunnelled or
// forwarded untouched.
//
// Proxies start on a deployment's first command and stop after `idleMs` without one; their sockets live
// in a private directory (mode 0711, not listable) removed when the backend closes.
import { createHash } from 'node:crypto';
import { lookup as dnsLookup } from 'node:dns/promises';
import { chmod, chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { connect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { hostAddresses, isInternalAddress } from '../../net/address-policy.ts';
import type { NamedSecretValue } from '../../secrets/secret-redactor.ts';
import { matchAllowList, parseAllowList, type AllowEntry } from './egress-allowlist.ts';
import { EGRESS_SOCKET_NAME } from './egress-bridge.ts';
import {
  bindingsFor,
  responseBodyScrubber,
  scrubResponseHeaders,
  substitute,
  substitutedBasicCredentials,
  substituteHeaders,
  type EgressSecrets,
  type SecretBinding,
} from './egress-secrets.ts';
import { InternalDestinationSet } from './internal-destinations.ts';

export interface EgressLogger {
  debug(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  info?(fields: object, message: string): void;
}

/** Resolves a host name to addresses, like dns.lookup with `all: true`. Injectable for tests. */
export type EgressLookup = (hostname: string) => Promise<Array<{ address: string; family: number }>>;

export interface EgressProxiesOptions {
  logger?: EgressLogger;
  /** A proxy with no command in flight is stopped after this long. Default 60 s. */
  idleMs?: number;
  /** Default: the system resolver (getaddrinfo, as every program on the host). */
  lookup?: EgressLookup;
  /** Owner of the socket directories and sockets (the bubblewrap backend's hostUser). */
  owner?: { uid: number; gid: number };
  /** The deployments' secrets bound to hosts, and the TLS to reach those hosts; without it, nothing is substituted. */
  secrets?: EgressSecrets;
}

/** A running proxy, held while a command that may use it runs. */
export interface EgressLease {
  /** The host directory holding the proxy's socket (`proxy.sock`): bind-mount it into the sandbox. */
  readonly socketDirectory: string;
  release(): void;
}

export interface EgressProxies {
  /**
   * Starts (or reuses) the proxy of this deployment, allowlist and open internal destinations
   * (`host:port`, SandboxSpec.network.internal; none by default).
   */
  acquire(deploymentId: string, allow: readonly string[], internal?: readonly string[]): Promise<EgressLease>;
  /** Stops a deployment's proxies now (it was deleted). */
  discard(deploymentId: string): Promise<void>;
  /** Stops every proxy and removes their sockets. */
  close(): Promise<void>;
  /** Proxies currently listening. */
  readonly size: number;
}

const DEFAULT_IDLE_MS = 60_000;
const CONNECT_TIMEOUT_MS = 10_000;
const MAX_ADDRESSES_TRIED = 3;
// sockaddr_un.sun_path holds 108 bytes with the terminating NUL.
const MAX_SOCKET_PATH = 107;

// Request headers that describe one hop, not the request: never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

// Request headers that name another host, client or URL than the request's own: front ends route or rewrite by
// them. Never sent to a host a secret is bound to (docs/secrets.md).
const ROUTING_HEADERS = ['forwarded', 'x-forwarded-host', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-port', 'x-forwarded-server', 'x-original-url', 'x-rewrite-url', 'x-host', 'x-http-host'];

// Content encodings the proxy undoes to scrub an answer from a bound host (content-encoding tokens).
const DECODERS: Record<string, () => Duplex> = { gzip: createGunzip, 'x-gzip': createGunzip, deflate: createInflate, br: createBrotliDecompress };

interface ProxyEntry {
  key: string;
  deploymentId: string;
  directory: string;
  server: Server;
  listening: Promise<void>;
  active: number;
  idleTimer: NodeJS.Timeout | undefined;
  sockets: Set<Duplex>;
}

export function createEgressProxies(options: EgressProxiesOptions = {}): EgressProxies {
  const idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
  const lookup: EgressLookup = options.lookup ?? ((hostname) => dnsLookup(hostname, { all: true, verbatim: true }));
  const proxies = new Map<string, ProxyEntry>();
  /** Closing proxies by key: a new proxy on the same socket waits for the old one to let go of it. */
  const closing = new Map<string, Promise<void>>();
  let base: Promise<string> | undefined;
  let closed = false;

  const baseDirectory = (): Promise<string> => {
    base ??= (async () => {
      const directory = await mkdtemp(join(tmpdir(), 'herm-egress-'));
      // Traversable, not listable: the sandbox's user (or a Docker daemon's container user) reaches its
      // own socket by its full path, other users cannot find the names.
      await chmod(directory, 0o711);
      return directory;
    })();
    base.catch(() => {
      base = undefined;
    });
    return base;
  };

  const stop = (entry: ProxyEntry, reason: string): Promise<void> => {
    clearTimeout(entry.idleTimer);
    if (proxies.get(entry.key) === entry) proxies.delete(entry.key);
    const done = new Promise<void>((resolve) => {
      entry.server.close(() => resolve());
      for (const socket of entry.sockets) socket.destroy();
    }).finally(() => {
      if (closing.get(entry.key) === done) closing.delete(entry.key);
    });
    closing.set(entry.key, done);
    options.logger?.debug({ deploymentId: entry.deploymentId, reason }, 'egress proxy stopped');
    return done;
  };

  const release = (entry: ProxyEntry): void => {
    entry.active--;
    if (entry.active > 0 || proxies.get(entry.key) !== entry) return;
    entry.idleTimer = setTimeout(() => {
      if (entry.active === 0) void stop(entry, 'idle');
    }, idleMs);
    entry.idleTimer.unref();
  };

  const start = (key: string, deploymentId: string, directory: string, entries: AllowEntry[], internal: InternalDestinationSet): ProxyEntry => {
    const sockets = new Set<Duplex>();
    const server = createEgressServer({
      deploymentId,
      entries,
      internal,
      lookup,
      sockets,
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.secrets ? { secrets: options.secrets } : {}),
    });
    const entry: ProxyEntry = { key, deploymentId, directory, server, listening: Promise.resolve(), active: 0, idleTimer: undefined, sockets };
    entry.listening = (async () => {
      await closing.get(key);
      // Readable inside the sandbox (it holds nothing but the socket); the base directory above is not.
      await mkdir(directory, { recursive: true, mode: 0o755 });
      await chmod(directory, 0o755);
      const socketPath = join(directory, EGRESS_SOCKET_NAME);
      await rm(socketPath, { force: true });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(socketPath, () => {
          server.off('error', reject);
          resolve();
        });
      });
      // Connecting to a unix socket takes write permission on it: the sandbox's user may not be the server's.
      await chmod(socketPath, 0o666);
      if (options.owner) {
        await chown(directory, options.owner.uid, options.owner.gid);
        await chown(socketPath, options.owner.uid, options.owner.gid);
      }
      options.logger?.debug({ deploymentId, socketPath }, 'egress proxy started');
    })();
    return entry;
  };

  return {
    get size() {
      return proxies.size;
    },
    async acquire(deploymentId, allow, internal = []) {
      if (closed) throw new Error('the sandbox backend is closed');
      const entries = parseAllowList(allow);
      if (entries.length === 0) throw new TypeError('network.allow must name at least one host');
      const open = new InternalDestinationSet(internal);
      const key = createHash('sha256')
        .update(`${deploymentId}\0${entries.map((entry) => entry.text).join('\n')}\0${[...open.texts].sort().join('\n')}`)
        .digest('hex')
        .slice(0, 16);
      const directory = join(await baseDirectory(), key);
      if (join(directory, EGRESS_SOCKET_NAME).length > MAX_SOCKET_PATH) {
        throw new Error(`the egress proxy's socket path ${join(directory, EGRESS_SOCKET_NAME)} is too long for a unix socket; set TMPDIR to a shorter directory`);
      }
      if (closed) throw new Error('the sandbox backend is closed');
      let entry = proxies.get(key);
      if (!entry) {
        entry = start(key, deploymentId, directory, entries, open);
        proxies.set(key, entry);
      }
      const current = entry;
      current.active++;
      clearTimeout(current.idleTimer);
      current.idleTimer = undefined;
      try {
        await current.listening;
      } catch (error) {
        if (proxies.get(key) === current) proxies.delete(key);
        current.active--;
        throw new Error(`could not start the egress proxy: ${(error as Error).message}`, { cause: error });
      }
      let released = false;
      return {
        socketDirectory: directory,
        release: () => {
          if (released) return;
          released = true;
          release(current);
        },
      };
    },
    async discard(deploymentId) {
      await Promise.all([...proxies.values()].filter((entry) => entry.deploymentId === deploymentId).map((entry) => stop(entry, 'discarded')));
    },
    async close() {
      closed = true;
      await Promise.all([...proxies.values()].map((entry) => stop(entry, 'closing')));
      await Promise.allSettled(closing.values());
      const directory = await base?.catch(() => undefined);
      if (directory) await rm(directory, { recursive: true, force: true });
    },
  };
}

interface EgressServerOptions {
  deploymentId: string;
  entries: readonly AllowEntry[];
  /** The internal destinations the operator opened to this deployment; default none. */
  internal?: InternalDestinationSet;
  lookup: EgressLookup;
  logger?: EgressLogger;
  /** Every client and upstream socket, so stopping the proxy ends its tunnels too. */
  sockets: Set<Duplex>;
  /** Secrets to put into requests to the hosts they are bound to. */
  secrets?: EgressSecrets;
}

/** Why a destination was refused or could not be reached; `status` is what the client is told. */
class EgressRefusal extends Error {
  readonly status: 400 | 403 | 502 | 504;
  constructor(status: 400 | 403 | 502 | 504, message: string) {
    super(message);
    this.status = status;
  }
}

/** One deployment's proxy: an HTTP server on its unix socket. Exported for tests. */
export function createEgressServer(options: EgressServerOptions): Server {
  const server = createServer();
  const track = (socket: Duplex): void => {
    options.sockets.add(socket);
    socket.once('close', () => options.sockets.delete(socket));
  };
  server.on('connection', track);
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    forwardRequest(request, response, options, track).catch((error: unknown) => {
      const refusal = toRefusal(error);
      if (!response.headersSent) sendError(response, refusal);
      else response.destroy();
    });
  });
  server.on('connect', (request: IncomingMessage, client: Duplex, head: Buffer) => {
    tunnel(request, client, head, options, track).catch((error: unknown) => {
      const refusal = toRefusal(error);
      if (client.writable) client.end(rawResponse(refusal.status, refusal.message));
      else client.destroy();
    });
  });
  server.on('clientError', (_error, socket) => {
    if (socket.writable) socket.end(rawResponse(400, 'malformed request'));
    else socket.destroy();
  });
  return server;
}

/** CONNECT host:port — a TCP tunnel (what HTTPS_PROXY clients use for https://). */
async function tunnel(request: IncomingMessage, client: Duplex, head: Buffer, options: EgressServerOptions, track: (socket: Duplex) => void): Promise<void> {
  client.on('error', () => {});
  const target = parseAuthority(request.url ?? '');
  if (!target) throw new EgressRefusal(400, `CONNECT needs host:port, got ${JSON.stringify(request.url)}`);
  if ((await boundSecrets(options, target.host, target.port)).length > 0) return intercept(target, client, head, options, track);
  const upstream = await openUpstream(target.host, target.port, options, 'CONNECT');
  track(upstream);
  if (client.destroyed) {
    upstream.destroy();
    return;
  }
  client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
  if (head.length > 0) upstream.write(head);
  upstream.on('error', () => client.destroy());
  client.on('error', () => upstream.destroy());
  upstream.pipe(client);
  client.pipe(upstream);
}

/** GET http://host/path (what HTTP_PROXY clients send for http://): forwarded as one request. */
async function forwardRequest(
  request: IncomingMessage,
  response: ServerResponse,
  options: EgressServerOptions,
  track: (socket: Duplex) => void,
): Promise<void> {
  let url: URL;
  // Only ASCII, not percent-encoded, in the host: the URL parser decodes and maps other characters of a host name
  // (IDNA), so `slac%E2%84%AA.com` would become slack.com.
  const rawHost = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(request.url ?? '')?.[1] ?? '';
  if (!isAscii(request.url ?? '') || rawHost.includes('%')) {
    throw new EgressRefusal(400, 'the URL must be ASCII, its host not percent-encoded (a host name with other characters goes in its punycode form, xn--)');
  }
  try {
    url = new URL(request.url ?? '');
  } catch {
    throw new EgressRefusal(400, "this is Herm's egress proxy: send requests through it as an HTTP proxy (HTTP_PROXY), with absolute URLs");
  }
  if (url.protocol !== 'http:') throw new EgressRefusal(400, `only http:// URLs are forwarded; ${url.protocol}// goes through CONNECT (HTTPS_PROXY)`);
  const port = url.port === '' ? 80 : Number(url.port);
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const bindings = await boundSecrets(options, host, port, true);
  const socket = await openUpstream(host, port, options, request.method ?? 'GET');
  track(socket);
  // The Host header always names the URL's host, so a request cannot ask the allowed server for another site.
  await relayRequest(request, response, socket, url.host, `${url.pathname}${url.search}`, bindings, options);
}

/**
 * Sends `request` on `socket` (a connection to the destination `authority`, already checked) and its answer back,
 * with the placeholders of `bindings` replaced in the target and the headers.
 */
async function relayRequest(
  request: IncomingMessage,
  response: ServerResponse,
  socket: Duplex,
  authority: string,
  target: string,
  bindings: readonly SecretBinding[],
  options: EgressServerOptions,
): Promise<void> {
  let headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
  }
  let path = target;
  let sent: NamedSecretValue[] = [];
  let used: SecretBinding[] = [];
  if (bindings.length > 0) {
    // To a bound host, the request names no other host, client or URL than its own (a front end could route it there).
    for (const name of ROUTING_HEADERS) delete headers[name];
    const original = JSON.stringify(headers);
    // Names only, never values: which secrets this request carried.
    used = bindings.filter((binding) => substitute(target, [binding]) !== target || JSON.stringify(substituteHeaders(headers, [binding])) !== original);
    const before = headers;
    headers = substituteHeaders(headers, bindings);
    sent = substitutedBasicCredentials(before, headers, bindings);
    path = substitute(target, bindings);
    // An answer the proxy can read, so that a value the host echoes back goes into the sandbox as the placeholder.
    headers['accept-encoding'] = 'identity';
    if (used.length > 0) {
      // A part of the answer could cut an echoed value in two where no scrubber sees it whole.
      delete headers['range'];
      delete headers['if-range'];
      options.logger?.debug({ deploymentId: options.deploymentId, destination: authority, secrets: used.map((binding) => binding.name) }, 'egress secrets substituted');
    }
  }
  headers['host'] = authority;
  headers['connection'] = 'close';
  await new Promise<void>((resolve, reject) => {
    const upstream = httpRequest(
      { createConnection: () => socket as Socket, method: request.method, path, headers, setHost: false },
      (upstreamResponse) => {
        let responseHeaders: OutgoingHttpHeaders = {};
        for (const [name, value] of Object.entries(upstreamResponse.headers)) {
          if (value !== undefined && !HOP_BY_HOP.has(name)) responseHeaders[name] = value;
        }
        const status = upstreamResponse.statusCode ?? 502;
        // From a bound host: values it echoes go back as placeholders, in the headers and in the body (which then
        // changes length). A body the host compressed anyway (gzip, deflate, br) is decompressed, scrubbed and sent
        // uncompressed; one in another encoding, answering a request that carried a value, is refused (docs/secrets.md).
        const encoding = String(upstreamResponse.headers['content-encoding'] ?? 'identity')
          .trim()
          .toLowerCase();
        const hasBody = request.method !== 'HEAD' && status !== 204 && status !== 304;
        const decoder = encoding === 'identity' || encoding === '' ? undefined : DECODERS[encoding];
        const scrubBody = bindings.length > 0 && hasBody && (encoding === 'identity' || encoding === '' || decoder !== undefined);
        if (bindings.length > 0 && hasBody && !scrubBody && used.length > 0) {
          upstreamResponse.destroy();
          reject(new EgressRefusal(502, `${authority} answered in a content encoding the proxy cannot read (${encoding}), so a value it echoes could not be replaced by its placeholder; the answer was withheld`));
          return;
        }
        if (bindings.length > 0) responseHeaders = scrubResponseHeaders(responseHeaders, bindings, sent);
        if (scrubBody) {
          delete responseHeaders['content-length'];
          if (decoder) delete responseHeaders['content-encoding'];
        }
        response.writeHead(status, upstreamResponse.statusMessage, responseHeaders);
        if (scrubBody) {
          const scrubber = responseBodyScrubber(bindings, sent);
          if (decoder) {
            const decoding = decoder();
            decoding.once('error', (error) => {
              upstreamResponse.destroy();
              response.destroy();
              reject(error);
            });
            upstreamResponse.pipe(decoding).pipe(scrubber).pipe(response);
          } else {
            upstreamResponse.pipe(scrubber).pipe(response);
          }
        } else {
          upstreamResponse.pipe(response);
        }
        upstreamResponse.once('end', resolve);
        upstreamResponse.once('error', reject);
      },
    );
    upstream.once('error', (error) => reject(new EgressRefusal(502, `the request to ${authority} failed: ${error.message}`)));
    response.once('close', () => upstream.destroy());
    request.pipe(upstream);
  });
}

/**
 * The deployment's secrets bound to `host:port` (over plain HTTP: by entries naming the port, see bindingsFor); none
 * without secrets. A failed lookup refuses the request.
 */
async function boundSecrets(options: EgressServerOptions, host: string, port: number, plain = false): Promise<SecretBinding[]> {
  if (!options.secrets) return [];
  let bindings: readonly SecretBinding[];
  try {
    bindings = await options.secrets.bindings(options.deploymentId);
  } catch (error) {
    options.logger?.warn({ deploymentId: options.deploymentId, err: error }, "egress: could not read the deployment's secrets");
    throw new EgressRefusal(502, "could not read the deployment's secrets; try again");
  }
  // In cleartext, a value goes only to a destination the operator opened (HERM_SANDBOX_INTERNAL_DESTINATIONS: a
  // service on this machine or its private network), never to port 443, never to a public host (docs/secrets.md).
  if (plain && (port === 443 || options.internal?.allows(host, port) !== true)) return [];
  return bindingsFor(bindings, host, port, plain);
}

/**
 * CONNECT to a host a secret is bound to: checked like any tunnel, then answered by the proxy itself. A client that
 * starts TLS (the usual case: https://) gets a certificate for the host from the proxy's CA, and each of its
 * requests goes on over a new TLS connection to the host, verified against the system's CAs (and
 * HERM_EGRESS_CA_CERTS); one that speaks plain HTTP in the tunnel (the sandbox's loopback forwards of
 * `localhost:port` entries do) gets plain HTTP. Either way, with the placeholders replaced (relayRequest), and
 * HTTP/1.1 only.
 */
async function intercept(target: { host: string; port: number }, client: Duplex, head: Buffer, options: EgressServerOptions, track: (socket: Duplex) => void): Promise<void> {
  const secrets = options.secrets!;
  // The policy (allowlist, internal addresses) is checked before the tunnel is answered, as for any CONNECT; the
  // connection made for it serves the first request.
  let spare: Socket | undefined = await openUpstream(target.host, target.port, options, 'CONNECT');
  track(spare);
  if (client.destroyed) {
    spare.destroy();
    return;
  }
  client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
  if (head.length > 0) client.unshift(head);
  const first = await peekFirstByte(client);
  if (first === undefined) {
    spare.destroy();
    client.destroy();
    return;
  }
  // 0x16: a TLS handshake record (the ClientHello).
  const tls = first === 0x16;
  const display = isIP(target.host) === 6 ? `[${target.host}]` : target.host;
  const authority = target.port === (tls ? 443 : 80) ? display : `${display}:${target.port}`;
  let socket: Duplex = client;
  if (tls) {
    const secure = new TLSSocket(client as Socket, { isServer: true, secureContext: secrets.tls.secureContext(target.host), ALPNProtocols: ['http/1.1'] });
    secure.on('error', (error) => {
      options.logger?.debug({ deploymentId: options.deploymentId, destination: authority, err: error.message }, 'egress: TLS with the sandbox failed');
      secure.destroy();
    });
    track(secure);
    socket = secure;
  }
  const inner = createServer({ keepAliveTimeout: 5_000 });
  inner.on('request', (request: IncomingMessage, response: ServerResponse) => {
    void (async () => {
      // Checked before anything is sent: the request names the CONNECT's host, never another one.
      const path = originFormTarget(request, target, tls);
      const bindings = await boundSecrets(options, target.host, target.port, !tls);
      let upstream: Duplex | undefined = spare;
      spare = undefined;
      upstream ??= await openUpstream(target.host, target.port, options, request.method ?? 'GET');
      track(upstream);
      if (tls) {
        upstream = tlsConnect({
          socket: upstream as Socket,
          host: target.host,
          ...(isIP(target.host) === 0 ? { servername: target.host } : {}),
          secureContext: secrets.tls.upstreamContext(),
          ALPNProtocols: ['http/1.1'],
        });
        track(upstream);
      }
      await relayRequest(request, response, upstream, authority, path, bindings, options);
    })().catch((error: unknown) => {
      const refusal = toRefusal(error);
      if (!response.headersSent) sendError(response, refusal);
      else response.destroy();
    });
  });
  inner.on('upgrade', (_request: IncomingMessage, upgraded: Duplex) => {
    upgraded.end(
      rawResponse(501, 'protocol upgrades (WebSocket) are not supported to a host a secret is bound to; the secret is substituted in plain HTTP/1.1 requests only'),
    );
  });
  inner.on('clientError', (_error, errored) => {
    if (errored.writable) errored.end(rawResponse(400, 'malformed request'));
    else errored.destroy();
  });
  socket.once('close', () => {
    spare?.destroy();
    inner.close();
  });
  inner.emit('connection', socket);
}

/** The first byte the client sends, left unread; undefined when it ends first. */
function peekFirstByte(socket: Duplex): Promise<number | undefined> {
  return new Promise((resolve) => {
    const done = (value: number | undefined): void => {
      socket.off('readable', onReadable);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      resolve(value);
    };
    const onReadable = (): void => {
      const chunk = socket.read() as Buffer | null;
      if (chunk === null || chunk.length === 0) return;
      socket.unshift(chunk);
      done(chunk[0]);
    };
    const onEnd = (): void => done(undefined);
    socket.on('readable', onReadable);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    onReadable();
  });
}

/** Checks the allowlist, resolves the name, and connects to a permitted address. */
async function openUpstream(host: string, port: number, options: EgressServerOptions, method: string): Promise<Socket> {
  const destination = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  const refuse = (reason: string, detail: string, fields: object = {}): never => {
    const log = options.logger?.info ?? options.logger?.warn;
    log?.call(options.logger, { deploymentId: options.deploymentId, destination, method, reason, ...fields }, 'egress denied');
    throw new EgressRefusal(403, `${destination} ${detail}`);
  };
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new EgressRefusal(400, `bad port in ${destination}`);
  const entry = matchAllowList(options.entries, host, port);
  if (!entry) {
    refuse('not_allowed', "is not on this deployment's network allowlist (sandbox.network.allow); ask its operator to add it");
  }
  let addresses: string[];
  if (isIP(host) !== 0) {
    addresses = [host];
  } else {
    try {
      addresses = (await options.lookup(host)).map((result) => result.address);
    } catch (error) {
      throw new EgressRefusal(502, `could not resolve ${host}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  // Internal addresses only where the operator opened them (or the name asked for) at this port; the
  // connection below goes to one of exactly these checked addresses, never to a new resolution.
  const own = hostAddresses();
  const open = options.internal;
  const permitted = addresses.filter((address) => !isInternalAddress(address, own) || open?.allows(address, port) === true || open?.allows(host, port) === true);
  if (permitted.length === 0) {
    // Decided before any connection is tried: the answer says nothing about whether the port is open.
    refuse(
      'local_address',
      `${isIP(host) === 0 ? 'resolves to' : 'is'} an internal address (this machine or its private network), which sandboxes reach only where the server's operator opens it (HERM_SANDBOX_INTERNAL_DESTINATIONS)`,
      { addresses },
    );
  }
  let lastError: Error | undefined;
  for (const address of permitted.slice(0, MAX_ADDRESSES_TRIED)) {
    try {
      const socket = await connectTo(address, port);
      options.logger?.debug({ deploymentId: options.deploymentId, destination, address, method }, 'egress allowed');
      return socket;
    } catch (error) {
      lastError = error as Error;
    }
  }
  const timedOut = lastError?.message === 'timeout';
  throw new EgressRefusal(timedOut ? 504 : 502, `could not connect to ${destination}: ${timedOut ? 'timed out' : (lastError as NodeJS.ErrnoException)?.code ?? lastError?.message}`);
}

function connectTo(address: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('timeout'));
    }, CONNECT_TIMEOUT_MS);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeListener('error', reject);
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** `host:port` or `[v6]:port`, as CONNECT names its target. */
function parseAuthority(authority: string): { host: string; port: number } | undefined {
  // ASCII only: a host is matched after lower-casing, which maps some other characters onto ASCII letters (K, U+212A).
  if (!isAscii(authority)) return undefined;
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(authority);
  if (!match) return undefined;
  return { host: match[1] ?? match[2]!, port: Number(match[3]) };
}

function isAscii(text: string): boolean {
  return /^[\x21-\x7e]*$/.test(text);
}

/**
 * The target of a request inside an intercepted CONNECT, in origin form (`/path?query`, or `*` for OPTIONS). An
 * absolute-form target (`https://host/path`) is accepted only when it names exactly the CONNECT's host and port (and
 * the tunnel's scheme), and is rewritten to origin form: many front ends route by an absolute URI, and a secret must
 * not reach another host through a bound one. Anything else is a 400, and nothing is sent.
 */
function originFormTarget(request: IncomingMessage, target: { host: string; port: number }, tls: boolean): string {
  const raw = request.url ?? '';
  if (raw.startsWith('/')) return raw;
  if (raw === '*' && request.method === 'OPTIONS') return raw;
  const refuse = (): never => {
    throw new EgressRefusal(
      400,
      `inside a tunnel to ${target.host}:${target.port}, a request's target must be a path (/path) or a URL of that same host and port, got ${JSON.stringify(raw.slice(0, 200))}`,
    );
  };
  if (!isAscii(raw) || (/^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(raw)?.[1] ?? '').includes('%')) refuse();
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return refuse();
  }
  if (url.protocol !== (tls ? 'https:' : 'http:') || url.username !== '' || url.password !== '') refuse();
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port === '' ? (tls ? 443 : 80) : Number(url.port);
  const expected = target.host.toLowerCase().replace(/\.$/, '');
  if (host.replace(/\.$/, '') !== expected || port !== target.port) refuse();
  return `${url.pathname}${url.search}`;
}

function toRefusal(error: unknown): EgressRefusal {
  return error instanceof EgressRefusal ? error : new EgressRefusal(502, (error as Error)?.message ?? String(error));
}

const REASONS: Record<number, string> = { 400: 'Bad Request', 403: 'Forbidden', 501: 'Not Implemented', 502: 'Bad Gateway', 504: 'Gateway Timeout' };

function bodyOf(message: string): string {
  return `Herm egress proxy: ${message}\n`;
}

function sendError(response: ServerResponse, refusal: EgressRefusal): void {
  const body = bodyOf(refusal.message);
  response.writeHead(refusal.status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-herm-egress': refusal.status === 403 ? 'denied' : 'error',
    connection: 'close',
  });
  response.end(body);
}

function rawResponse(status: number, message: string): string {
  const body = bodyOf(message);
  return (
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\n` +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    `X-Herm-Egress: ${status === 403 ? 'denied' : 'error'}\r\n` +
    'Connection: close\r\n\r\n' +
    body
  );
}
