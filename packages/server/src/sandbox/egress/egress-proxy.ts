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
// Proxies start on a deployment's first command and stop after `idleMs` without one; their sockets live
// in a private directory (mode 0711, not listable) removed when the backend closes.
import { createHash } from 'node:crypto';
import { lookup as dnsLookup } from 'node:dns/promises';
import { chmod, chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { connect, isIP, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { hostAddresses, isInternalAddress } from '../../net/address-policy.ts';
import { matchAllowList, parseAllowList, type AllowEntry } from './egress-allowlist.ts';
import { EGRESS_SOCKET_NAME } from './egress-bridge.ts';
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
    const server = createEgressServer({ deploymentId, entries, internal, lookup, sockets, ...(options.logger ? { logger: options.logger } : {}) });
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
  try {
    url = new URL(request.url ?? '');
  } catch {
    throw new EgressRefusal(400, "this is Herm's egress proxy: send requests through it as an HTTP proxy (HTTP_PROXY), with absolute URLs");
  }
  if (url.protocol !== 'http:') throw new EgressRefusal(400, `only http:// URLs are forwarded; ${url.protocol}// goes through CONNECT (HTTPS_PROXY)`);
  const port = url.port === '' ? 80 : Number(url.port);
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const socket = await openUpstream(host, port, options, request.method ?? 'GET');
  track(socket);
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
  }
  // The Host header always names the URL's host, so a request cannot ask the allowed server for another site.
  headers['host'] = url.host;
  headers['connection'] = 'close';
  await new Promise<void>((resolve, reject) => {
    const upstream = httpRequest(
      { createConnection: () => socket, method: request.method, path: `${url.pathname}${url.search}`, headers, setHost: false },
      (upstreamResponse) => {
        const responseHeaders: OutgoingHttpHeaders = {};
        for (const [name, value] of Object.entries(upstreamResponse.headers)) {
          if (value !== undefined && !HOP_BY_HOP.has(name)) responseHeaders[name] = value;
        }
        response.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.statusMessage, responseHeaders);
        upstreamResponse.pipe(response);
        upstreamResponse.once('end', resolve);
        upstreamResponse.once('error', reject);
      },
    );
    upstream.once('error', (error) => reject(new EgressRefusal(502, `the request to ${url.host} failed: ${error.message}`)));
    response.once('close', () => upstream.destroy());
    request.pipe(upstream);
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
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(authority);
  if (!match) return undefined;
  return { host: match[1] ?? match[2]!, port: Number(match[3]) };
}

function toRefusal(error: unknown): EgressRefusal {
  return error instanceof EgressRefusal ? error : new EgressRefusal(502, (error as Error)?.message ?? String(error));
}

const REASONS: Record<number, string> = { 400: 'Bad Request', 403: 'Forbidden', 502: 'Bad Gateway', 504: 'Gateway Timeout' };

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
