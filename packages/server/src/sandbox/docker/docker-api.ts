// A small client of the Docker Engine API over node:http: the handful of endpoints the docker sandbox
// backend uses (ping, image inspect, containers, exec), against Docker or Podman's compatible service.
// Unversioned paths, so the daemon's own API version answers; only long-stable fields are used.
import { Agent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { Duplex, Writable } from 'node:stream';

/** Where the Docker Engine API listens, parsed from DOCKER_HOST. */
export type DockerEndpoint = { kind: 'unix'; socketPath: string } | { kind: 'tcp'; host: string; port: number };

export const DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock';

/** Parses DOCKER_HOST: `unix:///path`, `tcp://host:port` or `http://host:port` (no TLS). */
export function parseDockerHost(value: string | undefined): DockerEndpoint {
  const dockerHost = value || DEFAULT_DOCKER_HOST;
  if (dockerHost.startsWith('unix://')) {
    const socketPath = dockerHost.slice('unix://'.length);
    if (!socketPath.startsWith('/')) throw new TypeError(`DOCKER_HOST ${dockerHost}: the socket path must be absolute (unix:///path)`);
    return { kind: 'unix', socketPath };
  }
  const match = /^(?:tcp|http):\/\/(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/.exec(dockerHost);
  if (!match) {
    throw new TypeError(`DOCKER_HOST ${dockerHost} is not supported: use unix:///path/to/socket or tcp://host:port (TLS is not supported)`);
  }
  return { kind: 'tcp', host: match[1]!.replace(/^\[|\]$/g, ''), port: Number(match[2] ?? 2375) };
}

export function describeEndpoint(endpoint: DockerEndpoint): string {
  return endpoint.kind === 'unix' ? `unix://${endpoint.socketPath}` : `tcp://${endpoint.host}:${endpoint.port}`;
}

/** A non-2xx answer of the daemon; `message` is the daemon's own. */
export class DockerApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'DockerApiError';
    this.status = status;
  }
}

export interface DockerRequestOptions {
  /** Gives up (and destroys the connection) after this long. Default 30 s. */
  timeoutMs?: number;
}

export interface DockerApi {
  readonly endpoint: DockerEndpoint;
  /**
   * A JSON request; resolves with the parsed body (a string when it is not JSON, undefined when empty),
   * rejects with DockerApiError on 4xx/5xx.
   */
  request<T = unknown>(method: string, path: string, body?: unknown, options?: DockerRequestOptions): Promise<T>;
  /**
   * POSTs `body` to `path` asking for the connection to be hijacked (exec start): resolves with the raw
   * duplex stream once the daemon has answered 101 (or 200 with the stream as the body).
   */
  hijack(path: string, body: unknown, options?: DockerRequestOptions): Promise<Duplex>;
  /**
   * Which engine serves the API: Podman's compatible service or Docker (from the ping's headers; asked
   * once). They differ where the compatible API is not: Podman ignores HostConfig.MaskedPaths.
   */
  engine(): Promise<'docker' | 'podman'>;
  /** Closes idle keep-alive connections. */
  close(): void;
}

const DEFAULT_TIMEOUT_MS = 30_000;

export function createDockerApi(dockerHost: string | undefined): DockerApi {
  const endpoint = parseDockerHost(dockerHost);
  // Keep-alive saves a connect per call; exec starts get connections of their own, since they are consumed.
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const target = endpoint.kind === 'unix' ? { socketPath: endpoint.socketPath } : { host: endpoint.host, port: endpoint.port };

  const send = (method: string, path: string, body: unknown, extraHeaders: Record<string, string>, useAgent: boolean): ClientRequest => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const outgoing = httpRequest({
      ...target,
      method,
      path,
      agent: useAgent ? agent : false,
      headers: {
        host: 'docker',
        ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) }),
        ...extraHeaders,
      },
    });
    outgoing.end(payload);
    return outgoing;
  };

  let engine: Promise<'docker' | 'podman'> | undefined;

  return {
    endpoint,
    engine() {
      engine ??= new Promise<'docker' | 'podman'>((resolve, reject) => {
        const outgoing = send('GET', '/_ping', undefined, {}, true);
        const timer = setTimeout(() => outgoing.destroy(timeoutError('GET', '/_ping', {})), DEFAULT_TIMEOUT_MS);
        outgoing.once('error', (error) => {
          clearTimeout(timer);
          reject(error);
        });
        outgoing.once('response', (response) => {
          clearTimeout(timer);
          response.resume();
          const podman = response.headers['libpod-api-version'] !== undefined || /libpod|podman/i.test(String(response.headers['server'] ?? ''));
          resolve(podman ? 'podman' : 'docker');
        });
      });
      engine.catch(() => {
        engine = undefined;
      });
      return engine;
    },
    request<T>(method: string, path: string, body?: unknown, options: DockerRequestOptions = {}): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const outgoing = send(method, path, body, {}, true);
        const timer = setTimeout(() => outgoing.destroy(timeoutError(method, path, options)), options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
        outgoing.once('error', (error) => {
          clearTimeout(timer);
          reject(error);
        });
        outgoing.once('response', (response) => {
          readBody(response)
            .then((text) => {
              clearTimeout(timer);
              if ((response.statusCode ?? 500) >= 400) reject(apiError(response.statusCode ?? 500, text));
              else if (!text) resolve(undefined as T);
              else if (/json/.test(response.headers['content-type'] ?? '')) resolve(JSON.parse(text) as T);
              else resolve(text as T);
            })
            .catch((error: unknown) => {
              clearTimeout(timer);
              reject(error);
            });
        });
      });
    },

    hijack(path: string, body: unknown, options: DockerRequestOptions = {}): Promise<Duplex> {
      return new Promise<Duplex>((resolve, reject) => {
        const outgoing = send('POST', path, body, { connection: 'Upgrade', upgrade: 'tcp' }, false);
        const timer = setTimeout(() => outgoing.destroy(timeoutError('POST', path, options)), options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
        outgoing.once('error', (error) => {
          clearTimeout(timer);
          reject(error);
        });
        outgoing.once('upgrade', (_response, socket, head) => {
          clearTimeout(timer);
          if (head.length > 0) socket.unshift(head);
          resolve(socket);
        });
        outgoing.once('response', (response) => {
          clearTimeout(timer);
          const status = response.statusCode ?? 500;
          if (status >= 400) {
            readBody(response).then((text) => reject(apiError(status, text)), reject);
            return;
          }
          // Some daemons answer 200 and stream the output as the body; nothing can be written then,
          // which is fine for an exec without stdin.
          resolve(Duplex.from({ readable: response, writable: new Writable({ write: (_chunk, _encoding, done) => done() }) }));
        });
      });
    },

    close() {
      agent.destroy();
    },
  };
}

function readBody(response: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    response.once('error', reject);
  });
}

function apiError(status: number, text: string): DockerApiError {
  let message = text.trim();
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed.message === 'string') message = parsed.message;
  } catch {
    // not JSON: keep the text
  }
  return new DockerApiError(status, message || `HTTP ${status}`);
}

function timeoutError(method: string, path: string, options: DockerRequestOptions): Error {
  return new Error(`the Docker API did not answer ${method} ${path.split('?')[0]} within ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`);
}
