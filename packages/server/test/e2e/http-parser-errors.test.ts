// Requests rejected before the app sees them — by Node's HTTP parser, or because no URL can be made of
// them — still get the API's JSON error shape, over a raw TCP socket against a real server.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/test-server.ts';

let herm: TestServer;

beforeAll(async () => {
  herm = await startTestServer();
});

afterAll(async () => {
  await herm?.close();
});

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Whether the server closed the connection after the answer. */
  closed: boolean;
}

/** Sends `bytes` as they are and reads what comes back until the server closes the connection. */
function sendRaw(bytes: string | Buffer): Promise<RawResponse> {
  const { port } = new URL(herm.url);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port: Number(port) });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within 10 s; got: ${Buffer.concat(chunks).toString().slice(0, 500)}`));
    }, 10_000);
    socket.on('data', (chunk) => chunks.push(chunk));
    // The server may cut the connection while this side is still writing: what it sent before counts.
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      if (split < 0) return reject(new Error(`no HTTP response: ${JSON.stringify(text.slice(0, 500))}`));
      const [statusLine, ...headerLines] = text.slice(0, split).split('\r\n');
      const headers = Object.fromEntries(headerLines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
      resolve({ status: Number(statusLine!.split(' ')[1]), headers, body: text.slice(split + 4), closed: true });
    });
    socket.write(bytes);
  });
}

function expectJsonError(response: RawResponse, status: number, type: string): { type: string; message: string; request_id: string } {
  expect(response.status).toBe(status);
  expect(response.headers['content-type']).toBe('application/json');
  expect(response.headers.connection).toBe('close');
  expect(Number(response.headers['content-length'])).toBe(Buffer.byteLength(response.body));
  const body = JSON.parse(response.body);
  expect(Object.keys(body)).toEqual(['error']);
  expect(body.error).toMatchObject({ type, message: expect.any(String), request_id: expect.stringMatching(/^req_[A-Za-z0-9]{20}$/) });
  expect(response.headers['x-request-id']).toBe(body.error.request_id);
  return body.error;
}

describe("Node's parser rejections", () => {
  it('answers a 100,000-character URL with a JSON 431', async () => {
    const response = await sendRaw(`GET /v1/deployments?x=${'a'.repeat(100_000)} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${herm.adminKey}\r\n\r\n`);
    const error = expectJsonError(response, 431, 'validation_error');
    expect(error.message).toContain('larger than this server accepts');
  });

  it('answers headers over the limit with a JSON 431', async () => {
    const response = await sendRaw(`GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`);
    expectJsonError(response, 431, 'validation_error');
  });

  it('answers a garbage request line with a JSON 400', async () => {
    const response = await sendRaw('GARBAGE!\r\n\r\n');
    const error = expectJsonError(response, 400, 'validation_error');
    expect(error.message).toMatch(/^Malformed HTTP request/);
  });

  it('answers other malformed requests with a JSON 400', async () => {
    for (const bytes of [
      'GET / HTTP/9.9\r\nHost: x\r\n\r\n',
      'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
      'GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n',
      Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03]),
    ]) {
      expectJsonError(await sendRaw(bytes), 400, 'validation_error');
    }
  });

  it('answers requests Node parses but the API cannot take with a JSON error', async () => {
    for (const [bytes, status, message] of [
      ['GET /healthz HTTP/1.1\r\n\r\n', 400, /needs a Host header/],
      ['GET /healthz HTTP/1.1\r\nHost: [::\r\n\r\n', 400, /^Malformed request: Invalid URL/],
      ['GET http://[bad/ HTTP/1.1\r\nHost: x\r\n\r\n', 400, /^Malformed request: Invalid absolute URL/],
      ['GET * HTTP/1.1\r\nHost: x\r\n\r\n', 400, /^Malformed request/],
      ['CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 405, /CONNECT is not supported/],
    ] as const) {
      const error = expectJsonError(await sendRaw(bytes), status, 'validation_error');
      expect(error.message, bytes).toMatch(message);
    }
    // HTTP/1.0 needs no Host (health checks of load balancers send none).
    const old = await sendRaw('GET /healthz HTTP/1.0\r\n\r\n');
    expect(old.status).toBe(200);
    expect(JSON.parse(old.body)).toEqual({ status: 'ok' });
  });

  it('still serves well-formed requests on the same server, keep-alive included', async () => {
    const response = await fetch(`${herm.url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });
});
