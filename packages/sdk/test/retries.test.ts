import { afterEach, describe, expect, it } from 'vitest';
import Herm, { APIConnectionError, BadRequestError, ConflictError, InternalServerError, RateLimitError } from 'herm';
import { sendError, sendJson, startScriptedServer, type ScriptedServer } from './helpers/scripted-server.ts';

let server: ScriptedServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A server that answers the nth request (0-based) with `script[n]`, and the last entry after that. */
async function scripted(script: Array<(response: import('node:http').ServerResponse) => void>): Promise<ScriptedServer> {
  let count = 0;
  return startScriptedServer((_request, response) => {
    const answer = script[Math.min(count++, script.length - 1)];
    answer?.(response);
  });
}

const ok = (response: import('node:http').ServerResponse): void =>
  sendJson(response, 202, { run_id: 'run_1', deployment_id: 'dep_1', thread_id: 'thr_1', status: 'running' });

describe('retries', () => {
  it('retries 5xx and succeeds, reusing one Idempotency-Key', async () => {
    const fast = { headers: { 'retry-after-ms': '5' } };
    server = await scripted([(r) => sendError(r, 500, 'server_error', fast), (r) => sendError(r, 503, 'server_error', fast), ok]);
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    const run = await herm.deployments.messages.send('dep_1', { content: 'hi' });
    expect(run.run_id).toBe('run_1');
    expect(server.requests).toHaveLength(3);
    const keys = new Set(server.requests.map((request) => request.headers['idempotency-key']));
    expect(keys.size).toBe(1);
    expect([...keys][0]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('gives up after maxRetries (default 2) with the last error', async () => {
    server = await scripted([
      (r) => sendError(r, 500, 'server_error', { requestId: 'req_last', headers: { 'retry-after-ms': '5' } }),
    ]);
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    const error = await herm.deployments.get('dep_1').catch((error: unknown) => error);
    expect(error).toBeInstanceOf(InternalServerError);
    expect((error as InternalServerError).request_id).toBe('req_last');
    expect(server.requests).toHaveLength(3);
  });

  it('does not retry a 400', async () => {
    server = await scripted([(r) => sendError(r, 400, 'validation_error', { param: 'name' }), ok]);
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    await expect(herm.deployments.messages.send('dep_1', { content: '' })).rejects.toBeInstanceOf(BadRequestError);
    expect(server.requests).toHaveLength(1);
  });

  it('retries 409 deployment_not_ready but not other conflicts', async () => {
    server = await scripted([(r) => sendError(r, 409, 'deployment_not_ready', { headers: { 'retry-after-ms': '10' } }), ok]);
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    await expect(herm.deployments.messages.send('dep_1', { content: 'hi' })).resolves.toMatchObject({ run_id: 'run_1' });
    expect(server.requests).toHaveLength(2);
    await server.close();

    server = await scripted([(r) => sendError(r, 409, 'conflict'), ok]);
    const other = new Herm({ apiKey: 'k', baseURL: server.origin });
    await expect(other.deployments.messages.send('dep_1', { content: 'hi' })).rejects.toBeInstanceOf(ConflictError);
    expect(server.requests).toHaveLength(1);
  });

  it('honours retry-after-ms instead of the default backoff (≥ 375 ms)', async () => {
    server = await scripted([(r) => sendError(r, 429, 'rate_limited', { headers: { 'retry-after-ms': '60' } }), ok]);
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    await herm.deployments.messages.send('dep_1', { content: 'hi' });
    const [first, second] = server.requests;
    const gap = (second?.receivedAt ?? 0) - (first?.receivedAt ?? 0);
    expect(gap).toBeGreaterThanOrEqual(55);
    expect(gap).toBeLessThan(350);
  });

  it('honours retry-after in seconds', async () => {
    server = await scripted([(r) => sendError(r, 429, 'rate_limited', { headers: { 'retry-after': '1' } }), ok]);
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    await herm.deployments.messages.send('dep_1', { content: 'hi' });
    const [first, second] = server.requests;
    expect((second?.receivedAt ?? 0) - (first?.receivedAt ?? 0)).toBeGreaterThanOrEqual(990);
  });

  it('backs off exponentially with jitter when the server gives no hint', async () => {
    server = await scripted([(r) => sendError(r, 500, 'server_error')]);
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    await expect(herm.deployments.get('dep_1')).rejects.toBeInstanceOf(InternalServerError);
    const [first, second, third] = server.requests.map((request) => request.receivedAt);
    const firstGap = (second ?? 0) - (first ?? 0);
    const secondGap = (third ?? 0) - (second ?? 0);
    expect(firstGap).toBeGreaterThanOrEqual(370);
    expect(firstGap).toBeLessThan(700);
    expect(secondGap).toBeGreaterThanOrEqual(745);
    expect(secondGap).toBeLessThan(1_300);
  });

  it('lets x-should-retry override the status', async () => {
    server = await scripted([(r) => sendError(r, 503, 'server_error', { headers: { 'x-should-retry': 'false' } }), ok]);
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    await expect(herm.deployments.get('dep_1')).rejects.toBeInstanceOf(InternalServerError);
    expect(server.requests).toHaveLength(1);
  });

  it('takes maxRetries per request and per client', async () => {
    server = await scripted([(r) => sendError(r, 429, 'rate_limited', { headers: { 'retry-after-ms': '1' } })]);
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin, maxRetries: 4 });
    await expect(herm.deployments.get('dep_1', { maxRetries: 0 })).rejects.toBeInstanceOf(RateLimitError);
    expect(server.requests).toHaveLength(1);
    await expect(herm.deployments.get('dep_1')).rejects.toBeInstanceOf(RateLimitError);
    expect(server.requests).toHaveLength(6);
  });

  it('retries dropped connections', async () => {
    let count = 0;
    server = await startScriptedServer((_request, response) => {
      if (count++ === 0) response.socket?.destroy();
      else ok(response);
    });
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    await expect(herm.deployments.messages.send('dep_1', { content: 'hi' })).resolves.toMatchObject({ run_id: 'run_1' });
    expect(server.requests).toHaveLength(2);
    expect(server.requests[0]?.headers['idempotency-key']).toBe(server.requests[1]?.headers['idempotency-key']);
  });

  it('ends with APIConnectionError when every attempt drops', async () => {
    server = await startScriptedServer((_request, response) => {
      response.socket?.destroy();
    });
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin, maxRetries: 1 });
    await expect(herm.deployments.get('dep_1')).rejects.toBeInstanceOf(APIConnectionError);
    expect(server.requests).toHaveLength(2);
  });
});
