// herm.files against a scripted server on loopback: what goes on the wire, and what comes back.
import Herm, { APIError, NotFoundError, WorkspaceFile } from 'herm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sendError, sendJson, startScriptedServer, type ScriptedHandler, type ScriptedServer } from './helpers/scripted-server.ts';

let server: ScriptedServer;
let herm: Herm;
let handler: ScriptedHandler;

beforeAll(async () => {
  server = await startScriptedServer((request, response, raw) => handler(request, response, raw));
  herm = new Herm({ apiKey: 'k', baseURL: server.origin, maxRetries: 2 });
});

beforeEach(() => {
  server.requests.length = 0;
});

afterAll(() => server.close());

describe('list', () => {
  it('GETs the directory with path as a query parameter and returns the listing', async () => {
    const listing = {
      path: 'videos/',
      entries: [{ name: 'variation-1.mp4', type: 'file', size: 8123456, modified_at: '2026-06-11T20:58:09Z' }],
    };
    handler = (_request, response) => sendJson(response, 200, listing);
    expect(await herm.files.list('dep_7xK9s2', { path: 'videos/' })).toEqual(listing);
    expect(server.requests[0]).toMatchObject({ method: 'GET', pathname: '/v1/deployments/dep_7xK9s2/files' });
    expect(server.requests[0]!.query.get('path')).toBe('videos/');

    await herm.files.list('dep 7/x');
    expect(server.requests[1]!.pathname).toBe('/v1/deployments/dep%207%2Fx/files');
    expect(server.requests[1]!.query.has('path')).toBe(false);
  });
});

describe('read', () => {
  it('returns the raw bytes with text() and bytes(), plus type, size and modification time', async () => {
    const bytes = Buffer.from([0x23, 0x20, 0xc3, 0xa9, 0x0a, 0x00, 0xff]);
    handler = (_request, response) => {
      response.writeHead(200, {
        'content-type': 'text/markdown; charset=utf-8',
        'content-length': bytes.length,
        'last-modified': 'Thu, 11 Jun 2026 20:58:09 GMT',
      });
      response.end(bytes);
    };
    const file = await herm.files.read('dep_7xK9s2', { path: 'notes/a b&c.md' });
    expect(file).toBeInstanceOf(WorkspaceFile);
    expect(server.requests[0]).toMatchObject({ method: 'GET', pathname: '/v1/deployments/dep_7xK9s2/files/content' });
    expect(server.requests[0]!.query.get('path')).toBe('notes/a b&c.md');
    expect(server.requests[0]!.headers.accept).toBe('*/*');
    expect(file).toMatchObject({ path: 'notes/a b&c.md', size: 7, contentType: 'text/markdown; charset=utf-8', modified_at: '2026-06-11T20:58:09Z' });
    expect(await file.bytes()).toEqual(new Uint8Array(bytes));
    expect(await file.text()).toBe('# é\n\u0000\ufffd');
    // bytes() hands out a copy: changing it changes neither the file nor later reads.
    (await file.bytes()).fill(0);
    expect(await file.text()).toBe('# é\n\u0000\ufffd');
  });

  it('retries a body that breaks off, like any connection error', async () => {
    let attempt = 0;
    handler = (_request, response) => {
      attempt += 1;
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 10 });
      if (attempt === 1) {
        response.write('12345');
        setTimeout(() => response.destroy(), 10);
      } else {
        response.end('1234567890');
      }
    };
    const file = await herm.files.read('dep_7xK9s2', { path: 'x.bin' });
    expect(await file.text()).toBe('1234567890');
    expect(server.requests).toHaveLength(2);
  });

  it('throws the typed error of the status', async () => {
    handler = (_request, response) => sendError(response, 404, 'not_found', { message: 'No file or directory at "x".', param: 'path' });
    const error = await herm.files.read('dep_7xK9s2', { path: 'x' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).toMatchObject({ status: 404, type: 'not_found', param: 'path', request_id: 'req_test' });
  });
});

describe('write', () => {
  beforeEach(() => {
    handler = (request, response) => sendJson(response, 200, { path: request.query.get('path'), size: request.bodyBytes.length, modified_at: '2026-06-11T21:15:30Z' });
  });

  it('PUTs a string as UTF-8 text', async () => {
    const written = await herm.files.write('dep_7xK9s2', { path: 'briefs/q3-brief.md', content: '# Q3 ✓\n' });
    expect(written).toEqual({ path: 'briefs/q3-brief.md', size: 9, modified_at: '2026-06-11T21:15:30Z' });
    const request = server.requests[0]!;
    expect(request).toMatchObject({ method: 'PUT', pathname: '/v1/deployments/dep_7xK9s2/files', body: '# Q3 ✓\n' });
    expect(request.query.get('path')).toBe('briefs/q3-brief.md');
    expect(request.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(request.headers['idempotency-key']).toBeUndefined();
  });

  it('PUTs a Uint8Array byte for byte, and a Blob with its own type', async () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, index) => index);
    expect((await herm.files.write('dep_7xK9s2', { path: 'all.bin', content: bytes })).size).toBe(256);
    expect(server.requests[0]!.headers['content-type']).toBe('application/octet-stream');
    expect(new Uint8Array(server.requests[0]!.bodyBytes)).toEqual(bytes);

    await herm.files.write('dep_7xK9s2', { path: 'logo.png', content: new Blob([bytes.subarray(0, 8)], { type: 'image/png' }) });
    expect(server.requests[1]!.headers['content-type']).toBe('image/png');
    expect(new Uint8Array(server.requests[1]!.bodyBytes)).toEqual(bytes.subarray(0, 8));

    await herm.files.write('dep_7xK9s2', { path: 'untyped', content: new Blob(['x']) });
    expect(server.requests[2]!.headers['content-type']).toBe('application/octet-stream');
  });

  it('sends the same bytes again when it retries a 5xx', async () => {
    let attempt = 0;
    handler = (request, response) => {
      attempt += 1;
      if (attempt === 1) sendError(response, 503, 'server_error', { headers: { 'retry-after-ms': '1' } });
      else sendJson(response, 200, { path: 'a.bin', size: request.bodyBytes.length, modified_at: '2026-06-11T21:15:30Z' });
    };
    const content = new Uint8Array([1, 2, 3, 0, 255]);
    expect((await herm.files.write('dep_7xK9s2', { path: 'a.bin', content })).size).toBe(5);
    expect(server.requests.map((request) => [...request.bodyBytes])).toEqual([
      [1, 2, 3, 0, 255],
      [1, 2, 3, 0, 255],
    ]);
  });

  it('surfaces 413 as an APIError with the documented code', async () => {
    handler = (_request, response) => sendError(response, 413, 'validation_error', { message: 'The file is larger than the limit.', param: 'body' });
    const error = await herm.files.write('dep_7xK9s2', { path: 'big.bin', content: new Uint8Array(10) }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(APIError);
    expect(error).toMatchObject({ status: 413, type: 'validation_error', param: 'body' });
    expect(server.requests).toHaveLength(1);
  });
});

describe('delete', () => {
  it('DELETEs the path', async () => {
    handler = (request, response) => sendJson(response, 200, { path: request.query.get('path'), deleted: true });
    expect(await herm.files.delete('dep_7xK9s2', { path: 'drafts/old-take.mp4' })).toEqual({ path: 'drafts/old-take.mp4', deleted: true });
    expect(server.requests[0]).toMatchObject({ method: 'DELETE', pathname: '/v1/deployments/dep_7xK9s2/files', body: '' });
    expect(server.requests[0]!.query.get('path')).toBe('drafts/old-take.mp4');
  });
});

describe('thread_id', () => {
  it('is sent as a query parameter by all four calls when given, and left out otherwise', async () => {
    handler = (request, response) => {
      if (request.pathname.endsWith('/content')) {
        response.writeHead(200, { 'content-type': 'text/plain', 'content-length': 1 });
        response.end('x');
      } else if (request.method === 'GET') sendJson(response, 200, { path: '', entries: [] });
      else if (request.method === 'PUT') sendJson(response, 200, { path: 'a.md', size: 1, modified_at: '2026-06-11T21:15:30Z' });
      else sendJson(response, 200, { path: 'a.md', deleted: true });
    };
    const thread_id = 'thr_9kQv32';
    await herm.files.list('dep_7xK9s2', { thread_id });
    await herm.files.read('dep_7xK9s2', { path: 'a.md', thread_id });
    await herm.files.write('dep_7xK9s2', { path: 'a.md', content: 'x', thread_id });
    await herm.files.delete('dep_7xK9s2', { path: 'a.md', thread_id });
    expect(server.requests.map((request) => [request.method, request.query.get('thread_id'), request.query.get('path')])).toEqual([
      ['GET', thread_id, null],
      ['GET', thread_id, 'a.md'],
      ['PUT', thread_id, 'a.md'],
      ['DELETE', thread_id, 'a.md'],
    ]);
    await herm.files.read('dep_7xK9s2', { path: 'a.md' });
    expect(server.requests.at(-1)!.query.has('thread_id')).toBe(false);
  });
});
