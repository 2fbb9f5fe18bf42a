import { afterEach, describe, expect, it } from 'vitest';
import Herm, { APIConnectionTimeoutError, APIUserAbortError } from 'herm';
import { delay, sendError, sendJson, startScriptedServer, type ScriptedServer } from './helpers/scripted-server.ts';

let server: ScriptedServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function slowServer(ms: number): Promise<ScriptedServer> {
  return startScriptedServer(async (_request, response) => {
    await delay(ms);
    if (!response.destroyed) sendJson(response, 200, { deployment_id: 'dep_1' });
  });
}

describe('timeouts', () => {
  it('fails an attempt that takes longer than timeout', async () => {
    server = await slowServer(1_000);
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin, timeout: 100, maxRetries: 0 });
    const startedAt = performance.now();
    await expect(herm.deployments.get('dep_1')).rejects.toBeInstanceOf(APIConnectionTimeoutError);
    expect(performance.now() - startedAt).toBeLessThan(900);
    expect(server.requests).toHaveLength(1);
  });

  it('retries a timed-out attempt', async () => {
    server = await slowServer(1_000);
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin, timeout: 50 });
    await expect(herm.deployments.get('dep_1', { maxRetries: 1 })).rejects.toBeInstanceOf(APIConnectionTimeoutError);
    expect(server.requests).toHaveLength(2);
  });

  it('takes a per-request timeout over the client one', async () => {
    server = await slowServer(150);
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin, timeout: 50, maxRetries: 0 });
    await expect(herm.deployments.get('dep_1', { timeout: 2_000 })).resolves.toEqual({ deployment_id: 'dep_1' });
  });

  it('covers a body that stalls after the headers', async () => {
    server = await startScriptedServer(async (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"deployment_id":');
      await delay(1_000);
      response.end('"dep_1"}');
    });
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin, timeout: 100, maxRetries: 0 });
    await expect(herm.deployments.get('dep_1')).rejects.toBeInstanceOf(APIConnectionTimeoutError);
  });
});

describe('abort', () => {
  it('rejects with APIUserAbortError and does not retry', async () => {
    server = await slowServer(1_000);
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const startedAt = performance.now();
    await expect(herm.deployments.get('dep_1', { signal: controller.signal })).rejects.toBeInstanceOf(APIUserAbortError);
    expect(performance.now() - startedAt).toBeLessThan(900);
    expect(server.requests).toHaveLength(1);
  });

  it('sends nothing when the signal is already aborted', async () => {
    server = await slowServer(0);
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    await expect(herm.deployments.get('dep_1', { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(APIUserAbortError);
    expect(server.requests).toHaveLength(0);
  });

  it('cuts a retry wait short', async () => {
    server = await startScriptedServer((_request, response) => {
      sendError(response, 429, 'rate_limited', { headers: { 'retry-after': '30' } });
    });
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const startedAt = performance.now();
    await expect(herm.deployments.get('dep_1', { signal: controller.signal })).rejects.toBeInstanceOf(APIUserAbortError);
    expect(performance.now() - startedAt).toBeLessThan(2_000);
    expect(server.requests).toHaveLength(1);
  });
});
