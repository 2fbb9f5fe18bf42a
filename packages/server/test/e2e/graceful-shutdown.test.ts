// SIGTERM to `herm serve`: messages get a 503 while it drains, a run whose command ends within
// HERM_SHUTDOWN_GRACE_MS completes before the process exits; one that does not is handed off (its command killed,
// no result recorded) and resumed by the next start, where the model reads a plain sentence about the restart —
// never an internal string.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChildServer, type ChildServer } from '../support/child-server.ts';
import { availableDialects, createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { hostProcessesMatching, uniqueSleepSeconds } from '../support/host-processes.ts';
import { startScriptedModelServer, type ScriptedModelServer } from '../support/scripted-model-server.ts';
import { openSse, type WireEvent } from '../support/sse-client.ts';

const ADMIN_KEY = 'herm_sk_graceful_shutdown_key_1';
const RESTARTED = 'The server restarted while this command ran; its outcome is unknown. Check before repeating it.';

let model: ScriptedModelServer;
let command = '';
const servers: ChildServer[] = [];
const databases: TestDatabase[] = [];
const dialects = await availableDialects();

beforeAll(async () => {
  model = await startScriptedModelServer();
  model.setHandler((request) =>
    request.messages.at(-1)?.role === 'tool' ? { text: 'Done.' } : { toolCalls: [{ name: 'shell', arguments: { command } }] },
  );
});

afterAll(async () => {
  for (const server of servers) await server.kill();
  await model?.close();
  for (const database of databases) await database.drop().catch(() => {});
});

async function start(env: Record<string, string>): Promise<ChildServer> {
  const server = await startChildServer({ OPENAI_COMPATIBLE_BASE_URL: model.url, HERM_ADMIN_KEY: ADMIN_KEY, ...env });
  servers.push(server);
  return server;
}

async function api(server: ChildServer, method: string, urlPath: string, body?: unknown) {
  const response = await fetch(`${server.url}${urlPath}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as any };
}

function exited(server: ChildServer): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    if (server.process.exitCode !== null || server.process.signalCode !== null) resolve({ code: server.process.exitCode, signal: server.process.signalCode });
    else server.process.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

const isEnd = (runId: string) => (event: WireEvent) =>
  event.type === 'run_status' && event.data.run_id === runId && (event.data.status === 'completed' || event.data.status === 'error');

for (const dialect of dialects) {
  describe(`graceful shutdown on ${dialect}`, () => {
    async function setUp(graceMs: number) {
      const database = await createTestDatabase(dialect);
      databases.push(database);
      const env: Record<string, string> = {
        HERM_DATA_DIR: database.dataDir,
        HERM_SHUTDOWN_GRACE_MS: String(graceMs),
        ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}),
      };
      const first = await start(env);
      const deployment = (await api(first, 'POST', '/v1/deployments', { customer_id: 'c', name: 'n', system_prompt: 'p', model: 'openai-compatible/m' })).body;
      const stream = await openSse(`${first.url}/v1/deployments/${deployment.deployment_id}/events`, ADMIN_KEY);
      const position = stream.headers.get('herm-stream-position')!;
      const count = () => {
        const file = path.join(database.dataDir, 'workspaces', deployment.deployment_id, 'count.log');
        return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0;
      };
      return { env, first, deploymentId: deployment.deployment_id as string, stream, position, count };
    }

    it('lets a run that ends within HERM_SHUTDOWN_GRACE_MS complete before the process exits, refusing new messages meanwhile', async () => {
      command = 'sleep 2; echo ran >> count.log';
      const { env, first, deploymentId, stream, count } = await setUp(15_000);
      const run = (await api(first, 'POST', `/v1/deployments/${deploymentId}/messages`, { content: 'go' })).body;
      await stream.waitFor((event) => event.type === 'tool_call');
      const exit = exited(first);
      const signalled = Date.now();
      first.process.kill('SIGTERM');
      await new Promise((resolve) => setTimeout(resolve, 300));

      // Draining: a message is refused with the JSON error shape and a retry hint, and creates nothing.
      const refused = await api(first, 'POST', `/v1/deployments/${deploymentId}/messages`, { content: 'more', thread_id: 'new' });
      expect(refused.status).toBe(503);
      expect(refused.body.error).toMatchObject({ type: 'server_error' });
      expect(refused.body.error.message).toContain('shutting down');
      expect(refused.headers.get('retry-after')).toBe('1');

      // The open stream sees the run end; only then does the process exit, cleanly.
      const end = await stream.waitFor(isEnd(run.run_id), 15_000);
      expect(end.data.status).toBe('completed');
      expect(await exit).toEqual({ code: 0, signal: null });
      expect(Date.now() - signalled).toBeGreaterThan(1_000);
      expect(count()).toBe(1);
      stream.close();

      const second = await start(env);
      expect((await api(second, 'GET', `/v1/deployments/${deploymentId}/runs/${run.run_id}`)).body.status).toBe('completed');
      expect((await api(second, 'GET', `/v1/deployments/${deploymentId}/runs`)).body.data).toHaveLength(1);
      expect((await api(second, 'GET', `/v1/deployments/${deploymentId}/threads`)).body.data).toHaveLength(1);
      await second.stop();
    });

    it('hands off a run still at work after the grace period; the next start resumes it and the model reads a plain sentence', async () => {
      const sleep = uniqueSleepSeconds();
      command = `echo ran >> count.log; sleep ${sleep}`;
      const { env, first, deploymentId, stream, position, count } = await setUp(300);
      const run = (await api(first, 'POST', `/v1/deployments/${deploymentId}/messages`, { content: 'go' })).body;
      await stream.waitFor((event) => event.type === 'tool_call');
      await expect.poll(() => hostProcessesMatching(`sleep ${sleep}`), { timeout: 10_000 }).not.toEqual([]);
      const exit = exited(first);
      first.process.kill('SIGTERM');
      expect(await exit).toEqual({ code: 0, signal: null });
      // The command was killed with the handoff, not left running.
      expect(await hostProcessesMatching(`sleep ${sleep}`)).toEqual([]);
      stream.close();
      expect(stream.events.some(isEnd(run.run_id))).toBe(false);

      const second = await start(env);
      const replay = await openSse(`${second.url}/v1/deployments/${deploymentId}/events`, ADMIN_KEY, { 'last-event-id': position });
      const end = await replay.waitFor(isEnd(run.run_id), 20_000);
      replay.close();
      expect(end.data.status).toBe('completed');
      const results = replay.events.filter((event) => event.type === 'tool_result');
      expect(results).toHaveLength(1);
      expect(results[0]!.data).toMatchObject({ tool: 'shell', is_error: true, result: { error: RESTARTED } });
      expect(count()).toBe(1);
      const lastRequest = model.requests.at(-1)!;
      const toolMessages = lastRequest.messages.filter((message) => message.role === 'tool');
      expect(toolMessages).toHaveLength(1);
      expect(toolMessages[0]!.text).toContain(RESTARTED);
      for (const text of [JSON.stringify(replay.events), JSON.stringify(model.requests.map((request) => request.messages))]) {
        expect(text).not.toContain('herm:handoff');
        expect(text).not.toContain('ShutdownHandoff');
      }
      await second.stop();
    });
  });
}
