import { afterEach, describe, expect, it, vi } from 'vitest';
import Herm, { HermError } from 'herm';
import { normalizeBaseURL } from '../src/client.ts';
import { sendJson, startScriptedServer, type ScriptedServer } from './helpers/scripted-server.ts';

let server: ScriptedServer | undefined;

afterEach(async () => {
  vi.unstubAllEnvs();
  await server?.close();
  server = undefined;
});

describe('configuration', () => {
  it('names PRISM_API_KEY when no key is given', () => {
    vi.stubEnv('PRISM_API_KEY', '');
    expect(() => new Herm()).toThrow(HermError);
    expect(() => new Herm()).toThrow(/PRISM_API_KEY/);
  });

  it('reads the key from PRISM_API_KEY and the URL from HERM_BASE_URL', () => {
    vi.stubEnv('PRISM_API_KEY', 'key_from_env');
    vi.stubEnv('HERM_BASE_URL', 'http://127.0.0.1:9999');
    const herm = new Herm();
    expect(herm.apiKey).toBe('key_from_env');
    expect(herm.baseURL).toBe('http://127.0.0.1:9999/v1');
  });

  it('prefers options over the environment', () => {
    vi.stubEnv('PRISM_API_KEY', 'key_from_env');
    vi.stubEnv('HERM_BASE_URL', 'http://127.0.0.1:9999');
    const herm = new Herm({ apiKey: 'key_from_option', baseURL: 'http://example.test/api/v1/' });
    expect(herm.apiKey).toBe('key_from_option');
    expect(herm.baseURL).toBe('http://example.test/api/v1');
  });

  it('defaults to the local server', () => {
    vi.stubEnv('HERM_BASE_URL', '');
    expect(new Herm({ apiKey: 'k' }).baseURL).toBe('http://localhost:8787/v1');
  });

  it('appends /v1 only to a URL without a path', () => {
    expect(normalizeBaseURL('http://127.0.0.1:8787')).toBe('http://127.0.0.1:8787/v1');
    expect(normalizeBaseURL('http://127.0.0.1:8787/')).toBe('http://127.0.0.1:8787/v1');
    expect(normalizeBaseURL('https://api.example.com/v1/')).toBe('https://api.example.com/v1');
    expect(normalizeBaseURL('https://example.com/herm/v2')).toBe('https://example.com/herm/v2');
    expect(() => normalizeBaseURL('localhost:8787')).toThrow(HermError);
  });
});

describe('requests', () => {
  it('sends the key, JSON body and an Idempotency-Key on POST only', async () => {
    server = await startScriptedServer((request, response) => {
      if (request.method === 'POST') sendJson(response, 201, { deployment_id: 'dep_1', status: 'ready' });
      else sendJson(response, 200, { deployment_id: 'dep_1', status: 'ready' });
    });
    const herm = new Herm({ apiKey: 'key_123', baseURL: server.origin, defaultHeaders: { 'X-Team': 'growth' } });

    const created = await herm.deployments.create({ customer_id: 'cus_1', name: 'Agent', system_prompt: 'Be brief.' });
    await herm.deployments.get('dep_1', { headers: { 'X-Trace': 'abc' } });

    expect(created.deployment_id).toBe('dep_1');
    const [post, get] = server.requests;
    expect(post?.method).toBe('POST');
    expect(post?.pathname).toBe('/v1/deployments');
    expect(post?.headers.authorization).toBe('Bearer key_123');
    expect(post?.headers['content-type']).toBe('application/json');
    expect(post?.headers['idempotency-key']).toMatch(/^[0-9a-f-]{36}$/);
    expect(post?.headers['x-team']).toBe('growth');
    expect(post?.json).toEqual({ customer_id: 'cus_1', name: 'Agent', system_prompt: 'Be brief.' });
    expect(get?.headers['idempotency-key']).toBeUndefined();
    expect(get?.headers['x-trace']).toBe('abc');
    expect(get?.body).toBe('');
  });

  it('uses an injected fetch', async () => {
    const calls: string[] = [];
    const herm = new Herm({
      apiKey: 'k',
      baseURL: 'http://herm.invalid',
      fetch: async (input) => {
        calls.push(String(input));
        return Response.json({ thread_id: 'thr_1', deleted: true });
      },
    });
    const deleted = await herm.threads.delete('dep_1', 'thr_1');
    expect(deleted).toEqual({ thread_id: 'thr_1', deleted: true });
    expect(calls).toEqual(['http://herm.invalid/v1/deployments/dep_1/threads/thr_1']);
  });

  it('encodes ids so they stay one path segment', async () => {
    const calls: string[] = [];
    const herm = new Herm({
      apiKey: 'k',
      baseURL: 'http://herm.invalid/v1',
      fetch: async (input) => {
        calls.push(String(input));
        return Response.json({});
      },
    });
    await herm.deployments.get('../secrets?x=1');
    expect(calls).toEqual(['http://herm.invalid/v1/deployments/..%2Fsecrets%3Fx%3D1']);
  });

  it('fails with a HermError on a 2xx body that is not JSON', async () => {
    server = await startScriptedServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/html' });
      response.end('<html>proxy page</html>');
    });
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    await expect(herm.deployments.get('dep_1')).rejects.toThrow(/as JSON/);
    expect(server.requests).toHaveLength(1);
  });
});
