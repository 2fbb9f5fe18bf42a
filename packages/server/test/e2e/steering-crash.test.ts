// A waiting run survives what kills processes: `herm serve` (./herm, a child process) is killed -9 while a run waits
// on a human, or at each steering commit point (HERM_FAILPOINTS: the pause, the approval), and a server started
// again on the same data has the run waiting (or resumes it) so that the answer runs the call exactly once — or,
// when the process died after taking the approval, never twice. On PostgreSQL the answer goes to another node than
// the one the run paused on, after that one was killed.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { availableDialects, createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { hermListening, killHerm, spawnHerm, type HermProcess } from '../support/herm-process.ts';
import { describeEvents, isFinalStatus, replayProblems, runEventProblems } from '../support/run-invariants.ts';
import { startScriptedModelServer, type ScriptedModelServer, type ScriptedTurn } from '../support/scripted-model-server.ts';
import { openSse, type WireEvent } from '../support/sse-client.ts';
import { adminApi, diesAt } from '../support/crash-points.ts';

const ADMIN_KEY = 'herm_sk_steering_crash_test_key_1';
const api = adminApi(ADMIN_KEY);
/** The held call's command: one line per execution, counted on the host. */
const RECORD = 'echo ran >> count.log';

let model: ScriptedModelServer;
const children: HermProcess[] = [];
const databases: TestDatabase[] = [];
const dialects = await availableDialects();

beforeAll(async () => {
  model = await startScriptedModelServer();
  // Calls the held command until it sees a result, then answers.
  model.setHandler((request): ScriptedTurn =>
    request.messages.at(-1)?.role === 'tool' ? { text: 'Done.' } : { toolCalls: [{ name: 'shell', arguments: { command: RECORD } }] },
  );
});

afterAll(async () => {
  for (const child of children) await killHerm(child);
  await model?.close();
  for (const database of databases) await database.drop().catch(() => {});
});

async function scenario(dialect: 'sqlite' | 'postgres') {
  const database = await createTestDatabase(dialect);
  databases.push(database);
  const env: Record<string, string> = {
    OPENAI_COMPATIBLE_BASE_URL: model.url,
    HERM_ADMIN_KEY: ADMIN_KEY,
    HERM_DATA_DIR: database.dataDir,
    ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl, HERM_RUN_LEASE_MS: '2000' } : {}),
  };
  const spawn = (extra: Record<string, string> = {}) => {
    const server = spawnHerm({ ...env, ...extra });
    children.push(server);
    return server;
  };
  const start = async (extra: Record<string, string> = {}) => {
    const server = spawn(extra);
    return { server, url: await hermListening(server) };
  };
  return { dataDir: database.dataDir, spawn, start };
}


/** A deployment whose `shell` calls wait for approval; `position`: its event stream from the start. */
async function createDeployment(url: string) {
  const created = await api(url, 'POST', '/v1/deployments', {
    customer_id: 'c',
    name: 'n',
    system_prompt: 'p',
    model: 'openai-compatible/m',
    steering: { tools: { shell: 'always_ask' } },
    features: { memory: false },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const stream = await openSse(`${url}/v1/deployments/${created.body.deployment_id}/events`, ADMIN_KEY);
  const position = stream.headers.get('herm-stream-position')!;
  stream.close();
  return { deploymentId: created.body.deployment_id as string, position };
}

async function waitForEvent(url: string, deploymentId: string, position: string, predicate: (event: WireEvent) => boolean): Promise<WireEvent> {
  const stream = await openSse(`${url}/v1/deployments/${deploymentId}/events`, ADMIN_KEY, { 'last-event-id': position });
  try {
    return await stream.waitFor(predicate, 30_000);
  } finally {
    stream.close();
  }
}

const waiting = (event: WireEvent) => event.type === 'run_status' && event.data.status === 'waiting_on_human';


function executions(dataDir: string, deploymentId: string): number {
  const file = path.join(dataDir, 'workspaces', deploymentId, 'count.log');
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0;
}

/** The one pending request of the deployment, once its run waits (the server may still be resuming it). */
async function pendingRequest(url: string, deploymentId: string) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const pending = await api(url, 'GET', `/v1/deployments/${deploymentId}/steering_requests?status=pending`);
    expect(pending.status).toBe(200);
    if (pending.body.data.length > 0) {
      expect(pending.body.data, 'one pending request').toHaveLength(1);
      const run = await api(url, 'GET', `/v1/deployments/${deploymentId}/runs/${pending.body.data[0].run_id}`);
      expect(run.body.status).toBe('waiting_on_human');
      return pending.body.data[0] as { request_id: string; run_id: string };
    }
    if (Date.now() > deadline) throw new Error('no pending steering request');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Replays the deployment's events from the start to the run's end and checks the invariants; returns them. */
async function finished(url: string, deploymentId: string, position: string): Promise<{ runId: string; events: WireEvent[] }> {
  const runs = await api(url, 'GET', `/v1/deployments/${deploymentId}/runs`);
  expect(runs.body.data, 'one run').toHaveLength(1);
  const runId = runs.body.data[0].run_id as string;
  const replay = await openSse(`${url}/v1/deployments/${deploymentId}/events`, ADMIN_KEY, { 'last-event-id': position });
  await replay.waitFor((event) => isFinalStatus(event) && event.data.run_id === runId, 30_000);
  await new Promise((resolve) => setTimeout(resolve, 300));
  replay.close();
  const events = replay.events;
  expect(replayProblems(deploymentId, events), describeEvents(events)).toEqual([]);
  expect(runEventProblems(runId, events), describeEvents(events)).toEqual([]);
  expect(events.at(-1)!.data.status, describeEvents(events)).toBe('completed');
  return { runId, events };
}

for (const dialect of dialects) {
  describe(`a waiting run across kill -9, on ${dialect}`, () => {
    it('waits through a restart (on PostgreSQL: its node killed), and the answer on the next node runs the call once', { timeout: 90_000 }, async () => {
      const { dataDir, start } = await scenario(dialect);
      const first = await start();
      // PostgreSQL: a second node serves beside the first from the start, and takes the answer after the first died.
      const second = dialect === 'postgres' ? await start() : undefined;
      const { deploymentId, position } = await createDeployment(first.url);
      expect((await api(first.url, 'POST', `/v1/deployments/${deploymentId}/messages`, { content: 'go' })).status).toBe(202);
      await waitForEvent(first.url, deploymentId, position, waiting);
      await killHerm(first.server);
      const next = second ?? (await start());
      const request = await pendingRequest(next.url, deploymentId);
      expect(executions(dataDir, deploymentId)).toBe(0);
      const answered = await api(next.url, 'POST', `/v1/deployments/${deploymentId}/runs/${request.run_id}/steering/${request.request_id}`, { decision: 'approve' });
      expect(answered.status, JSON.stringify(answered.body)).toBe(200);
      const { events } = await finished(next.url, deploymentId, position);
      expect(events.map((event) => event.type)).toEqual([
        'run_status', 'tool_call', 'steering_request', 'run_status', 'steering_resolved', 'run_status', 'tool_result', 'token', 'run_status',
      ]);
      expect(executions(dataDir, deploymentId)).toBe(1);
    });

    for (const failpoint of ['steering.pause.before_commit', 'steering.pause.after_commit'] as const) {
      it(`kill -9 at ${failpoint}: the restarted server has the run waiting, and the approval runs the call once`, { timeout: 90_000 }, async () => {
        const { dataDir, start, spawn } = await scenario(dialect);
        const armed = spawn({ HERM_FAILPOINTS: failpoint });
        const url = await hermListening(armed);
        const { deploymentId, position } = await createDeployment(url);
        void api(url, 'POST', `/v1/deployments/${deploymentId}/messages`, { content: 'go' }).catch(() => {});
        await diesAt(armed, failpoint);
        // Before the commit nothing of the pause was written: the run resumes (at once in the embedded mode, after its
        // lease on PostgreSQL), asks the model again and pauses. After it, the request was there all along.
        const next = await start();
        const request = await pendingRequest(next.url, deploymentId);
        expect(executions(dataDir, deploymentId)).toBe(0);
        expect((await api(next.url, 'POST', `/v1/deployments/${deploymentId}/runs/${request.run_id}/steering/${request.request_id}`, { decision: 'approve' })).status).toBe(200);
        await finished(next.url, deploymentId, position);
        expect(executions(dataDir, deploymentId)).toBe(1);
        const all = await api(next.url, 'GET', `/v1/deployments/${deploymentId}/steering_requests`);
        expect(all.body.data.map((r: any) => r.status)).toEqual(['approved']);
      });
    }

    for (const failpoint of ['steering.approval.before_commit', 'steering.approval.after_commit'] as const) {
      it(`kill -9 at ${failpoint}: the approved call runs at most once, and the run ends`, { timeout: 90_000 }, async () => {
        const { dataDir, start, spawn } = await scenario(dialect);
        const armed = spawn({ HERM_FAILPOINTS: failpoint });
        const url = await hermListening(armed);
        const { deploymentId, position } = await createDeployment(url);
        expect((await api(url, 'POST', `/v1/deployments/${deploymentId}/messages`, { content: 'go' })).status).toBe(202);
        const request = await pendingRequest(url, deploymentId);
        void api(url, 'POST', `/v1/deployments/${deploymentId}/runs/${request.run_id}/steering/${request.request_id}`, { decision: 'approve' }).catch(() => {});
        await diesAt(armed, failpoint);
        const next = await start();
        const { events } = await finished(next.url, deploymentId, position);
        const result = events.find((event) => event.type === 'tool_result')!;
        if (failpoint === 'steering.approval.before_commit') {
          // The approval was not taken: the next attempt takes it and runs the call.
          expect(result.data.is_error, describeEvents(events)).toBe(false);
          expect(executions(dataDir, deploymentId)).toBe(1);
        } else {
          // Taken, then the process died: the call may have run, so it is not run again; the model is told.
          expect(result.data).toMatchObject({ is_error: true, result: { error: expect.stringContaining('outcome is unknown') } });
          expect(executions(dataDir, deploymentId)).toBe(0);
        }
        expect(events.filter((event) => event.type === 'steering_resolved')).toHaveLength(1);
      });
    }
  });
}
