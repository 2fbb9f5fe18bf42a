// The HTTP server the API is served on (@hono/node-server's request listener on node:http), made to answer
// every request it rejects before the app sees it in the API's one error shape, `{"error": {"type",
// "message", "request_id"}}`, instead of Node's and the adapter's plain-text or empty answers:
// - Node's parser rejections (a URL or headers over the size limit, a request line that is not HTTP): its
//   `clientError` event, answered on the raw socket;
// - an HTTP/1.1 request without Host, which Node would answer with an empty 400;
// - a request the adapter cannot turn into a URL (an invalid Host, an invalid absolute-form target);
// - CONNECT, which Node would just hang up on.
import { createServer, STATUS_CODES, maxHeaderSize, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { getRequestListener, RequestError } from '@hono/node-server';
import { randomBase62 } from '../util/ids.ts';
import type { ErrorType } from './api-error.ts';

type FetchCallback = Parameters<typeof getRequestListener>[0];

/** How long a rejected connection may take to read the answer before it is cut. */
const LINGER_MS = 5_000;

interface ParserError extends Error {
  code?: string;
  /** llhttp's description, e.g. "Invalid method encountered". */
  reason?: string;
}

interface JsonError {
  status: number;
  type: ErrorType;
  message: string;
}

/** The status, type and message for a parser error; like Node's defaults (431, 413, 408, else 400). */
export function describeClientError(error: ParserError): JsonError {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return {
        status: 431,
        type: 'validation_error',
        message: `The request line and headers are larger than this server accepts (${maxHeaderSize} bytes in all): shorten the URL or the headers.`,
      };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { status: 413, type: 'payload_too_large', message: 'The chunk extensions of the request body are too large.' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, type: 'validation_error', message: 'The request did not arrive in full in time.' };
    default: {
      const reason = (error.reason ?? '').replace(/[^\x20-\x7e]/g, '').slice(0, 200);
      return { status: 400, type: 'validation_error', message: `Malformed HTTP request${reason ? `: ${reason}` : ''}.` };
    }
  }
}

function newRequestId(): string {
  return `req_${randomBase62(20)}`;
}

function errorBody(error: JsonError, requestId: string): string {
  return JSON.stringify({ error: { type: error.type, message: error.message, request_id: requestId } });
}

function errorHeaders(body: string, requestId: string): Record<string, string> {
  return { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'x-request-id': requestId, connection: 'close' };
}

/** A whole HTTP/1.1 response carrying `error`, for writing to a raw socket. */
export function rawErrorResponse(error: JsonError, requestId = newRequestId()): string {
  const body = errorBody(error, requestId);
  const headers = Object.entries(errorHeaders(body, requestId)).map(([name, value]) => `${name}: ${value}\r\n`);
  return `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? 'Error'}\r\n${headers.join('')}\r\n${body}`;
}

/** Writes `response` and closes the socket once it is sent, reading (and dropping) whatever else arrives meanwhile. */
function answerAndClose(socket: Duplex, response: string): void {
  socket.end(response);
  // Unread data would make the close a reset, which can destroy the answer before the client reads it.
  socket.on('data', () => {});
  socket.on('error', () => {});
  socket.resume();
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}

function respond(outgoing: ServerResponse, error: JsonError): void {
  const requestId = newRequestId();
  const body = errorBody(error, requestId);
  outgoing.writeHead(error.status, errorHeaders(body, requestId));
  outgoing.end(body);
}

/** The API's HTTP server, not yet listening: `fetch` (the Hono app) serves every request that parses. */
export function createApiServer(fetch: FetchCallback, hostname: string | undefined): Server {
  const listener = getRequestListener(fetch, {
    // HTTP/1.0 requests may come without Host (load balancers' health checks): they get the listening address.
    hostname,
    // A RequestError is a request the adapter cannot build; anything else would be the app failing outside its
    // own error handler (which renders every error it sees).
    errorHandler: (error) => {
      const requestId = newRequestId();
      const json: JsonError =
        error instanceof RequestError
          ? { status: 400, type: 'validation_error', message: `Malformed request: ${error.message}.` }
          : { status: 500, type: 'server_error', message: 'An unexpected error occurred on the server.' };
      const body = errorBody(json, requestId);
      return new Response(body, { status: json.status, headers: errorHeaders(body, requestId) });
    },
  });
  // Node's own Host check answers an empty 400; the same check here answers in JSON.
  const server = createServer({ requireHostHeader: false }, (incoming: IncomingMessage, outgoing: ServerResponse) => {
    if (incoming.httpVersion === '1.1' && incoming.headers.host === undefined) {
      respond(outgoing, { status: 400, type: 'validation_error', message: 'Malformed request: an HTTP/1.1 request needs a Host header.' });
      return;
    }
    // The listener answers its own errors (errorHandler); should it throw all the same, the request is cut off
    // rather than left to an unhandled rejection.
    listener(incoming, outgoing).catch(() => outgoing.destroy());
  });
  answerClientErrors(server);
  server.on('connect', (_request: IncomingMessage, socket: Duplex) => {
    answerAndClose(socket, rawErrorResponse({ status: 405, type: 'validation_error', message: 'CONNECT is not supported: this is not a proxy.' }));
  });
  return server;
}

/** Answers the server's `clientError`s (Node's parser rejections) with rawErrorResponse, replacing Node's default answer. */
export function answerClientErrors(server: Pick<Server, 'on'>): void {
  server.on('clientError', (error: ParserError, socket: Duplex & { _httpMessage?: { headersSent?: boolean } | null }) => {
    // Nobody to answer, or a response of this connection has begun: an error text would corrupt it.
    if (error.code === 'ECONNRESET' || !socket.writable || socket._httpMessage?.headersSent) {
      socket.destroy();
      return;
    }
    answerAndClose(socket, rawErrorResponse(describeClientError(error)));
  });
}
