// kill -9 at every commit point of a run (HERM_FAILPOINTS), then a restart (or, on PostgreSQL, a takeover once
// the lease expired), and the invariants after: the Last-Event-ID replay from the start has every id once, in
// order, without gaps; the run has exactly one final run_status; every tool_call has exactly one tool_result;
// the command ran at most once; the run ended. Also: a run whose process is killed past HERM_RUN_MAX_ATTEMPTS
// ends in error as abandoned. Each scenario starts `herm serve` (./herm) as a child process, several times.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAILPOINTS, type FailpointName } from '../../src/util/failpoints.ts';
import { availableDialects, createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { hermListening, killHerm, spawnHerm, type HermProcess } from '../support/herm-process.ts';
import { describeEvents, isFinalStatus, replayProblems, runEventProblems } from '../support/run-invariants.ts';
import { startScriptedModelServer, type ScriptedModelServer, type ScriptedTurn } from '../support/scripted-model-server.ts';
import { openSse, type WireEvent } from '../support/sse-client.ts';
import { adminApi, diesAt } from '../support/crash-points.ts';

const ADMIN_KEY = 'herm_sk_crash_points_test_key_1';
const api = adminApi(ADMIN_KEY);
/** The tool call's command: one line per execution, counted on the host. */
const RECORD = 'echo ran >> count.log';
/** Kept running long enough to be cut off by a kill. */
const RECORD_AND_SLEEP = `${RECORD}; sleep 30`;

let model: ScriptedModelServer;
/** What the model does: call `shell` with this command until it sees a result, then answer (or keep calling). */
let script: { command: string; loop: boolean } = { command: RECORD, loop: false };
const children: HermProcess[] = [];
const databases: TestDatabase[] = [];
const dialects = await availableDialects();

beforeAll(async () => {
  model = await startScriptedModelServer();
  model.setHandler((request): ScriptedTurn => {
    if (!script.loop && request.messages.at(-1)?.role === 'tool') return { text: 'Done.' };
    return { toolCalls: [{ name: 'shell', arguments: { command: script.command } }] };
  });
});

afterAll(async () => {
  for (const child of children) await killHerm(child);
  await model?.close();
  for (const database of databases) await database.drop().catch(() => {});
});

type Server = HermProcess;

/** `./herm serve` as a child process (test/support/herm-process.ts), one that may die before it listens. */
function spawnServer(env: Record<string, string>): Server {
  const server = spawnHerm({ OPENAI_COMPATIBLE_BASE_URL: model.url, HERM_ADMIN_KEY: ADMIN_KEY, ...env });
  children.push(server);
  return server;
}

async function startServer(env: Record<string, string>): Promise<{ server: Server; url: string }> {
  const server = spawnServer(env);
  return { server, url: await hermListening(server) };
}


const kill = killHerm;


/** POST a message; the process may die before it answers. */
function send(url: string, deploymentId: string, body: Record<string, unknown>): void {
  void api(url, 'POST', `/v1/deployments/${deploymentId}/messages`, body).catch(() => {});
}

const isFinal = isFinalStatus;

interface Scenario {
  dataDir: string;
  env: Record<string, string>;
}

async function newScenario(dialect: 'sqlite' | 'postgres', extra: Record<string, string> = {}): Promise<Scenario> {
  const database = await createTestDatabase(dialect);
  databases.push(database);
  return {
    dataDir: database.dataDir,
    env: {
      HERM_DATA_DIR: database.dataDir,
      ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl, HERM_RUN_LEASE_MS: '3000' } : {}),
      ...extra,
    },
  };
}

/** A deployment, and the id its event stream starts after (nothing yet: the replay from the start). */
async function createDeployment(url: string, body: Record<string, unknown> = {}) {
  const created = await api(url, 'POST', '/v1/deployments', { customer_id: 'c', name: 'n', system_prompt: 'p', model: 'openai-compatible/m', ...body });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const stream = await openSse(`${url}/v1/deployments/${created.body.deployment_id}/events`, ADMIN_KEY);
  const position = stream.headers.get('herm-stream-position')!;
  stream.close();
  return { deploymentId: created.body.deployment_id as string, position };
}

/** Waits for the event stream to show a tool call of the run (its command is running), then a moment more. */
async function waitForToolCall(url: string, deploymentId: string, position: string): Promise<void> {
  const stream = await openSse(`${url}/v1/deployments/${deploymentId}/events`, ADMIN_KEY, { 'last-event-id': position });
  await stream.waitFor((event) => event.type === 'tool_call', 20_000);
  stream.close();
  await new Promise((resolve) => setTimeout(resolve, 300));
}

function executions(scenario: Scenario, deploymentId: string): number {
  const file = path.join(scenario.dataDir, 'workspaces', deploymentId, 'count.log');
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0;
}

/**
 * The invariants, on a server that took over: replays everything from the start until the run's final status and
 * checks the events, the run and the executions of its command. Returns the final status event.
 */
async function checkRun(url: string, scenario: Scenario, deploymentId: string, position: string, seen: WireEvent[] = []) {
  const runs = await api(url, 'GET', `/v1/deployments/${deploymentId}/runs`);
  expect(runs.body.data, 'one run').toHaveLength(1);
  const runId = runs.body.data[0].run_id as string;
  const replay = await openSse(`${url}/v1/deployments/${deploymentId}/events`, ADMIN_KEY, { 'last-event-id': position });
  const end = await replay.waitFor((event) => isFinal(event) && event.data.run_id === runId, 30_000);
  // Anything after the final status would show up here.
  await new Promise((resolve) => setTimeout(resolve, 300));
  replay.close();
  const events = replay.events;
  const summary = describeEvents(events);

  // Every id once, in order, from the first: nothing lost, doubled or reordered (the deployment is fresh).
  expect(Number(position.slice(4, 14)), summary).toBe(0);
  expect(replayProblems(deploymentId, events), summary).toEqual([]);
  // All of the run; exactly one final status, the last event; every tool call answered exactly once, after it,
  // and no result without its call.
  expect(runEventProblems(runId, events), summary).toEqual([]);
  expect(events.at(-1), summary).toBe(end);
  const calls = events.filter((event) => event.type === 'tool_call');
  // At most once per call, and exactly once for each call answered with the command's own result.
  const ran = executions(scenario, deploymentId);
  const ranToCompletion = events.filter((event) => event.type === 'tool_result' && !event.data.is_error).length;
  expect(ran, summary).toBeLessThanOrEqual(calls.length);
  expect(ran, summary).toBeGreaterThanOrEqual(ranToCompletion);
  // What a client saw live from the process that died is exactly the start of the replay: no event was sent
  // that its commit then lost.
  expect(events.slice(0, seen.length).map((event) => [event.id, event.data]), summary).toEqual(seen.map((event) => [event.id, event.data]));
  // Internal abort reasons reach no client.
  expect(JSON.stringify(events)).not.toContain('herm:');
  // The run's row agrees.
  const run = await api(url, 'GET', `/v1/deployments/${deploymentId}/runs/${runId}`);
  expect(run.body.status).toBe(end.data.status);
  return { end, events, ran };
}

/** How a scenario drives the run up to its failpoint. */
type Drive = 'message' | 'new_thread' | 'kill_then' | 'secret_deleted' | 'sigterm';

/** The failpoints at commit points (the `process.*` ones are faults of the process handlers, tested with them). */
// The steering commit points (a run pausing for a human, taking an approval) have their scenarios in steering-crash.test.ts,
// the automation firing's in automation-crash.test.ts and the memory observer's in test/memory/memory-crash.test.ts.
const ELSEWHERE = ['process.', 'steering.', 'automation.', 'memory.'];
const COMMIT_POINTS = FAILPOINTS.filter((name) => !ELSEWHERE.some((prefix) => name.startsWith(prefix)));

const DRIVES: Partial<Record<FailpointName, Drive>> = {
  'submit.before_commit': 'new_thread',
  'submit.after_commit': 'new_thread',
  'run.claim.before_commit': 'kill_then',
  'run.claim.after_commit': 'kill_then',
  'run.close_interrupted.before_commit': 'kill_then',
  'run.close_interrupted.after_commit': 'kill_then',
  'run.step.before_commit': 'message',
  'run.step.after_commit': 'message',
  'run.tool_calls.before_commit': 'message',
  'run.tool_calls.after_commit': 'message',
  'run.tool_result.before_commit': 'message',
  'run.tool_result.after_commit': 'message',
  'run.finish.before_commit': 'message',
  'run.finish.after_commit': 'message',
  'run.fail_before_start.before_commit': 'secret_deleted',
  'run.fail_before_start.after_commit': 'secret_deleted',
  'run.abandon.before_commit': 'kill_then',
  'run.abandon.after_commit': 'kill_then',
  'run.handoff.before_commit': 'sigterm',
  'run.handoff.after_commit': 'sigterm',
};

for (const dialect of dialects) {
  describe(`kill -9 at each commit point, on ${dialect}`, () => {
    it('lists every failpoint in a scenario', () => {
      expect(Object.keys(DRIVES).sort()).toEqual([...COMMIT_POINTS].sort());
    });

    for (const failpoint of COMMIT_POINTS) {
      it(failpoint, { timeout: 120_000 }, async () => {
        const drive = DRIVES[failpoint]!;
        const abandon = failpoint.startsWith('run.abandon');
        // The abandon scenario: one attempt allowed, so the takeover after the kill abandons the run.
        const scenario = await newScenario(dialect, abandon ? { HERM_RUN_MAX_ATTEMPTS: '1' } : {});
        const armed = { ...scenario.env, HERM_FAILPOINTS: failpoint };

        let deploymentId: string;
        let position: string;
        /** What a client streaming from the first process received before it died. */
        let seen: WireEvent[] = [];
        const watch = async (url: string) => {
          const live = await openSse(`${url}/v1/deployments/${deploymentId}/events`, ADMIN_KEY, { 'last-event-id': position });
          seen = live.events;
          return live;
        };
        if (drive === 'message' || drive === 'new_thread') {
          script = { command: RECORD, loop: false };
          const first = await startServer(armed);
          ({ deploymentId, position } = await createDeployment(first.url));
          const live = await watch(first.url);
          send(first.url, deploymentId, drive === 'new_thread' ? { content: 'go', thread_id: 'new' } : { content: 'go' });
          await diesAt(first.server, failpoint);
          live.close();
        } else if (drive === 'secret_deleted') {
          const first = await startServer(armed);
          const secret = await api(first.url, 'POST', '/v1/secrets', { name: 'token', value: 'token-value' });
          ({ deploymentId, position } = await createDeployment(first.url, { secrets: { TOKEN: secret.body.secret_id } }));
          expect((await api(first.url, 'DELETE', `/v1/secrets/${secret.body.secret_id}?force=true`)).status).toBe(200);
          const live = await watch(first.url);
          send(first.url, deploymentId, { content: 'go' });
          await diesAt(first.server, failpoint);
          live.close();
        } else if (drive === 'sigterm') {
          script = { command: RECORD_AND_SLEEP, loop: false };
          const first = await startServer({ ...armed, HERM_SHUTDOWN_GRACE_MS: '0' });
          ({ deploymentId, position } = await createDeployment(first.url));
          const live = await watch(first.url);
          send(first.url, deploymentId, { content: 'go' });
          await waitForToolCall(first.url, deploymentId, position);
          first.server.process.kill('SIGTERM');
          await diesAt(first.server, failpoint);
          live.close();
        } else {
          // Killed while its command runs, then a server armed with the failpoint takes the run over and dies.
          script = { command: RECORD_AND_SLEEP, loop: false };
          const first = await startServer(scenario.env);
          ({ deploymentId, position } = await createDeployment(first.url));
          const live = await watch(first.url);
          send(first.url, deploymentId, { content: 'go' });
          await waitForToolCall(first.url, deploymentId, position);
          await kill(first.server);
          live.close();
          const second = spawnServer(armed);
          await diesAt(second, failpoint);
        }

        const last = await startServer(scenario.env);
        if (failpoint === 'submit.before_commit') {
          // Nothing of the message was committed: no run, no thread, no event.
          expect((await api(last.url, 'GET', `/v1/deployments/${deploymentId}/runs`)).body.data).toEqual([]);
          expect((await api(last.url, 'GET', `/v1/deployments/${deploymentId}/threads`)).body.data).toHaveLength(1);
          const sent = await api(last.url, 'POST', `/v1/deployments/${deploymentId}/messages`, { content: 'again', thread_id: 'new' });
          expect(sent.status).toBe(202);
        }
        const { end, events, ran } = await checkRun(last.url, scenario, deploymentId, position, seen);
        if (drive === 'secret_deleted') {
          expect(end.data.error).toMatchObject({ type: 'configuration_error' });
          expect(events.map((event) => event.type)).toEqual(['run_status']);
        } else if (abandon) {
          expect(end.data.status).toBe('error');
          expect(end.data.error.type).toBe('server_error');
          // One attempt ran; the takeover that died abandoning it counts as a second one when it died before the commit.
          expect(end.data.error.message).toMatch(failpoint === 'run.abandon.before_commit' ? /abandoned after 2 attempts/ : /abandoned after 1 attempt:/);
          expect(ran).toBe(1);
        } else {
          expect(end.data.status, JSON.stringify(end.data)).toBe('completed');
          expect(ran).toBeLessThanOrEqual(1);
          if (drive === 'kill_then' || drive === 'sigterm') {
            // The command cut off is answered with the readable message, never run again.
            const result = events.find((event) => event.type === 'tool_result')!;
            expect(result.data.result.error).toBe('The server restarted while this command ran; its outcome is unknown. Check before repeating it.');
            expect(ran).toBe(1);
          }
        }
        if (drive !== 'secret_deleted' && !abandon) {
          // The model saw every call answered once, and never an internal string.
          const request = model.requests.at(-1)!;
          const toolMessages = request.messages.filter((message) => message.role === 'tool');
          expect(toolMessages.map((message) => message.toolCallId)).toEqual(request.messages.flatMap((message) => message.toolCalls.map((call) => call.id)));
          expect(JSON.stringify(request.messages)).not.toContain('herm:');
        }
        await kill(last.server);
      });
    }

    it('ends a run killed more often than HERM_RUN_MAX_ATTEMPTS in error, as abandoned', { timeout: 180_000 }, async () => {
      const scenario = await newScenario(dialect, { HERM_RUN_MAX_ATTEMPTS: '2' });
      // Each attempt runs the command again (a new call after each answer) and is killed while it runs.
      script = { command: RECORD_AND_SLEEP, loop: true };
      const first = await startServer(scenario.env);
      const { deploymentId, position } = await createDeployment(first.url);
      send(first.url, deploymentId, { content: 'go' });
      await waitForToolCall(first.url, deploymentId, position);
      await kill(first.server);
      expect(executions(scenario, deploymentId)).toBe(1);

      const second = await startServer(scenario.env);
      await expect.poll(() => executions(scenario, deploymentId), { timeout: 20_000 }).toBe(2);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await kill(second.server);

      const third = await startServer(scenario.env);
      const { end, events, ran } = await checkRun(third.url, scenario, deploymentId, position);
      expect(end.data.status).toBe('error');
      expect(end.data.error.type).toBe('server_error');
      expect(end.data.error.message).toBe(
        'The run was abandoned after 2 attempts: the server crashed or lost the run while it ran each time (HERM_RUN_MAX_ATTEMPTS is 2).',
      );
      expect(ran).toBe(2);
      const results = events.filter((event) => event.type === 'tool_result').map((event) => event.data.result.error);
      expect(results).toEqual([
        'The server restarted while this command ran; its outcome is unknown. Check before repeating it.',
        'The server restarted while this command ran; its outcome is unknown. Check before repeating it.',
      ]);
      // Not taken again after another restart.
      await kill(third.server);
      const fourth = await startServer(scenario.env);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(executions(scenario, deploymentId)).toBe(2);
      await kill(fourth.server);
    });
  });
}
