// `herm serve` as a real process: first-start admin key, `herm keys create`, replay across a restart, and a
// kill -9 in the middle of a run.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startChildServer, type ChildServer } from '../support/child-server.ts';
import { startScriptedModelServer, type ScriptedModelServer } from '../support/scripted-model-server.ts';
import { openSse, type WireEvent } from '../support/sse-client.ts';

let model: ScriptedModelServer;
const dataDirs: string[] = [];
const servers: ChildServer[] = [];

beforeAll(async () => {
  model = await startScriptedModelServer();
});

afterAll(async () => {
  for (const server of servers) await server.kill();
  await model?.close();
  for (const dir of dataDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function newDataDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-proc-'));
  dataDirs.push(dir);
  return dir;
}

async function start(env: Record<string, string>): Promise<ChildServer> {
  const server = await startChildServer({ OPENAI_COMPATIBLE_BASE_URL: model.url, ...env });
  servers.push(server);
  return server;
}

async function api(server: ChildServer, key: string, method: string, urlPath: string, body?: unknown) {
  const response = await fetch(`${server.url}${urlPath}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, body: (await response.json()) as any };
}

/** A server on a fresh data directory with one deployment, and an event stream open on it. */
async function startWithDeployment(adminKey: string) {
  const env = { HERM_DATA_DIR: newDataDir(), HERM_ADMIN_KEY: adminKey };
  const first = await start(env);
  const deployment = (await api(first, adminKey, 'POST', '/v1/deployments', { customer_id: 'c', name: 'n', system_prompt: 'p', model: 'openai-compatible/m' })).body;
  const stream = await openSse(`${first.url}/v1/deployments/${deployment.deployment_id}/events`, adminKey);
  return { env, key: adminKey, first, deployment, stream };
}

const endOf = (runId: string) => (event: WireEvent) =>
  event.type === 'run_status' && event.data.run_id === runId && ['completed', 'error'].includes(event.data.status);

describe('herm serve', () => {
  it('prints an admin key once on first start; herm keys create makes scoped keys', async () => {
    const dataDir = newDataDir();
    const env = { HERM_DATA_DIR: dataDir };
    const first = await start(env);
    const match = /admin API key.*: (herm_sk_\S+)/.exec(first.stdout);
    expect(match, first.stdout).not.toBeNull();
    const adminKey = match![1]!;
    expect((await api(first, adminKey, 'GET', '/v1/deployments')).status).toBe(200);

    const created = await runCli(['keys', 'create', '--scopes', 'deployments:read'], env);
    expect(created.code, created.stderr).toBe(0);
    const readKey = created.stdout.trim();
    expect(readKey).toMatch(/^herm_sk_/);
    expect((await api(first, readKey, 'GET', '/v1/deployments')).status).toBe(200);
    expect((await api(first, readKey, 'POST', '/v1/deployments', { customer_id: 'c', name: 'n', system_prompt: 'p' })).status).toBe(403);
    const badScope = await runCli(['keys', 'create', '--scopes', 'everything'], env);
    expect(badScope.code).toBe(2);
    expect(badScope.stderr).toContain('Unknown scope');
    const stored = fs.readFileSync(path.join(dataDir, 'herm.sqlite'));
    expect(stored.includes(Buffer.from(readKey))).toBe(false);

    await first.stop();
    const second = await start(env);
    expect(second.stdout).not.toContain('admin API key');
    expect((await api(second, adminKey, 'GET', '/v1/deployments')).status).toBe(200);
    await second.stop();
  });

  it('replays events after Last-Event-ID across a restart, with no gap and no duplicate', async () => {
    const { env, key, first, deployment, stream } = await startWithDeployment('herm_sk_restart_test_key_123');
    model.enqueue({ text: ['one ', 'two ', 'three'] });
    const run = (await api(first, key, 'POST', `/v1/deployments/${deployment.deployment_id}/messages`, { content: 'count' })).body;
    await stream.waitFor(endOf(run.run_id));
    stream.close();
    const before = stream.events;
    await first.stop();

    const second = await start(env);
    const replay = await openSse(`${second.url}/v1/deployments/${deployment.deployment_id}/events`, key, { 'last-event-id': before[1]!.id });
    await replay.waitFor(endOf(run.run_id));
    expect(replay.events.map((event) => event.id)).toEqual(before.slice(2).map((event) => event.id));
    expect(replay.events.map((event) => event.data)).toEqual(before.slice(2).map((event) => event.data));
    replay.close();
    await second.stop();
  });

  it('resumes a run after kill -9 and loses or duplicates no event', async () => {
    const { env, key, first, deployment, stream } = await startWithDeployment('herm_sk_crash_test_key_1234');
    const position = stream.headers.get('herm-stream-position')!;
    model.enqueue(
      { toolCalls: [{ name: 'write_file', arguments: { path: 'progress.txt', content: 'step one done' } }] },
      { text: ['slow ', 'answer ', 'that ', 'never ', 'finishes'], delayMs: 400 },
      { toolCalls: [{ name: 'read_file', arguments: { path: 'progress.txt' } }] },
      { text: 'Finished after the crash.' },
    );
    const run = (await api(first, key, 'POST', `/v1/deployments/${deployment.deployment_id}/messages`, { content: 'work' })).body;
    await stream.waitFor((event) => event.type === 'token' && event.data.run_id === run.run_id);
    await first.kill();
    stream.close();

    const second = await start(env);
    const after = await openSse(`${second.url}/v1/deployments/${deployment.deployment_id}/events`, key, { 'last-event-id': position });
    const end = await after.waitFor(endOf(run.run_id), 20_000);
    expect(end.data.status).toBe('completed');
    const ids = after.events.map((event) => event.id);
    expect(new Set(ids).size).toBe(ids.length);
    const seqs = ids.map((id) => Number(id.slice(4, 14)));
    expect(seqs).toEqual(seqs.map((_, index) => seqs[0]! + index));
    expect(seqs[0]).toBe(1);
    // What the first process sent before it died is exactly the prefix of what the store replays.
    expect(stream.events.map((event) => event.id)).toEqual(ids.slice(0, stream.events.length));
    const toolResults = after.events.filter((event) => event.type === 'tool_result');
    expect(toolResults.map((event) => event.data.tool)).toEqual(['write_file', 'read_file']);
    expect(JSON.stringify(toolResults[1]!.data.result)).toContain('step one done');
    const runState = await api(second, key, 'GET', `/v1/deployments/${deployment.deployment_id}/runs/${run.run_id}`);
    expect(runState.body.status).toBe('completed');
    after.close();
    await second.stop();
  });

  it('answers a tool call cut off by kill -9 with an error instead of running it twice', async () => {
    const { env, key, first, deployment, stream } = await startWithDeployment('herm_sk_crash_tool_test_key_1');
    const position = stream.headers.get('herm-stream-position')!;
    model.enqueue({ toolCalls: [{ name: 'shell', arguments: { command: 'echo run >> runs.log; sleep 30' } }] }, { text: 'The command was interrupted.' });
    const run = (await api(first, key, 'POST', `/v1/deployments/${deployment.deployment_id}/messages`, { content: 'go' })).body;
    await stream.waitFor((event) => event.type === 'tool_call' && event.data.run_id === run.run_id);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await first.kill();
    stream.close();

    const second = await start(env);
    const after = await openSse(`${second.url}/v1/deployments/${deployment.deployment_id}/events`, key, { 'last-event-id': position });
    const end = await after.waitFor(endOf(run.run_id), 20_000);
    expect(end.data.status).toBe('completed');
    const result = after.events.find((event) => event.type === 'tool_result')!;
    expect(result.data).toMatchObject({ tool: 'shell', is_error: true });
    expect(JSON.stringify(result.data.result)).toContain('outcome is unknown');
    const log = fs.readFileSync(path.join(env.HERM_DATA_DIR, 'workspaces', deployment.deployment_id, 'runs.log'), 'utf8');
    expect(log).toBe('run\n');
    const lastRequest = model.requests.at(-1)!;
    expect(lastRequest.messages.filter((message) => message.role === 'tool')).toHaveLength(1);
    after.close();
    await second.stop();
  });
});
