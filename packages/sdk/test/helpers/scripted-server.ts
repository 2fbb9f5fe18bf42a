// A real HTTP server on loopback whose answers each test scripts; it records every request it gets.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path and query, as sent. */
  url: string;
  pathname: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
  /** The body's exact bytes (for binary uploads). */
  bodyBytes: Buffer;
  /** The body parsed as JSON, when it was JSON. */
  json: unknown;
  /** Milliseconds since the server started, when the request arrived. */
  receivedAt: number;
}

export type ScriptedHandler = (
  request: RecordedRequest,
  response: ServerResponse,
  raw: IncomingMessage,
) => void | Promise<void>;

export interface ScriptedServer {
  /** `http://127.0.0.1:<port>`: no path, so the client appends `/v1`. */
  origin: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export async function startScriptedServer(handler: ScriptedHandler): Promise<ScriptedServer> {
  const requests: RecordedRequest[] = [];
  const startedAt = performance.now();
  const server = createServer(async (raw, response) => {
    const receivedAt = performance.now() - startedAt;
    const chunks: Buffer[] = [];
    for await (const chunk of raw) chunks.push(chunk as Buffer);
    const bodyBytes = Buffer.concat(chunks);
    const body = bodyBytes.toString('utf8');
    const url = new URL(raw.url ?? '/', 'http://127.0.0.1');
    const request: RecordedRequest = {
      method: raw.method ?? 'GET',
      url: raw.url ?? '/',
      pathname: url.pathname,
      query: url.searchParams,
      headers: raw.headers,
      body,
      bodyBytes,
      json: parseJson(body),
      receivedAt,
    };
    requests.push(request);
    try {
      await handler(request, response, raw);
    } catch (error) {
      if (!response.headersSent) sendJson(response, 599, { error: { type: 'test_handler_failed', message: String(error) } });
      else response.destroy();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  response.end(text);
}

/** The API's error shape. */
export function sendError(
  response: ServerResponse,
  status: number,
  type: string,
  options: { message?: string; param?: string; requestId?: string; headers?: Record<string, string> } = {},
): void {
  const requestId = options.requestId ?? 'req_test';
  sendJson(
    response,
    status,
    { error: { type, message: options.message ?? `${type} happened`, param: options.param, request_id: requestId } },
    { 'x-request-id': requestId, ...options.headers },
  );
}

/** Starts an SSE response; the returned function writes one event. */
export function openSse(response: ServerResponse, headers: Record<string, string> = {}): (event: SseEvent) => void {
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...headers });
  response.flushHeaders();
  return (event) => response.write(formatSse(event));
}

export interface SseEvent {
  type: string;
  id: string;
  data: Record<string, unknown>;
}

export function formatSse(event: SseEvent): string {
  return `event: ${event.type}\nid: ${event.id}\ndata: ${JSON.stringify(event.data)}\n\n`;
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves once `condition` holds, polling; fails the test after `timeoutMs`. */
export async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('waitFor: condition not met in time');
    await delay(5);
  }
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
