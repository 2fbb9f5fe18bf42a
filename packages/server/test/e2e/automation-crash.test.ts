// A scheduled firing survives kill -9 at its commit points (HERM_FAILPOINTS automation.fire.*): `herm serve` (./herm,
// a child process) dies inside the firing's transaction, or after its commit and before the run it started is
// started, and the server started again on the same data fires the due time exactly once: before the commit nothing
// of it was written and it fires at the restart; after it, the run committed with the firing is claimed like any
// running run and runs to completion, and the due time (claimed in that commit) does not fire again. On PostgreSQL
// the run is taken over once its lease (2 s here) expired.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FailpointName } from '../../src/util/failpoints.ts';
import { availableDialects, createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { hermListening, killHerm, spawnHerm, withTimeout, type HermProcess } from '../support/herm-process.ts';
import { startScriptedModelServer, type ScriptedModelServer } from '../support/scripted-model-server.ts';
import { adminApi, openDatabase } from '../support/crash-points.ts';

const ADMIN_KEY = 'herm_sk_automation_crash_test_key_1';
const api = adminApi(ADMIN_KEY);
const INSTRUCTIONS = 'Send the hourly digest.';

let model: ScriptedModelServer;
const children: HermProcess[] = [];
const databases: TestDatabase[] = [];
const dialects = await availableDialects();

beforeAll(async () => {
  model = await startScriptedModelServer();
});

afterAll(async () => {
  for (const child of children) await killHerm(child);
  await model?.close();
  for (const database of databases) await database.drop().catch(() => {});
});


async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const iso = (time: number) => new Date(time).toISOString().replace(/\.\d{3}Z$/, 'Z');


for (const dialect of dialects) {
  describe(`kill -9 at an automation firing, on ${dialect}`, () => {
    for (const failpoint of ['automation.fire.before_commit', 'automation.fire.after_commit'] as const satisfies readonly FailpointName[]) {
      it(`${failpoint}: the due time fires exactly once, and its run completes after the restart`, { timeout: 90_000 }, async () => {
        const database = await createTestDatabase(dialect);
        databases.push(database);
        const env = {
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
        model.reset();

        // An hourly automation, made by a server that is then killed.
        const first = spawn();
        const firstUrl = await hermListening(first);
        const deployment = await api(firstUrl, 'POST', '/v1/deployments', { customer_id: 'c', name: 'n', system_prompt: 'p', model: 'openai-compatible/m' });
        expect(deployment.status, JSON.stringify(deployment.body)).toBe(201);
        const deploymentId = deployment.body.deployment_id as string;
        await until('the deployment to be ready', async () =>
          (await api(firstUrl, 'GET', `/v1/deployments/${deploymentId}`)).body.status === 'ready' ? true : undefined,
        );
        const base = `/v1/deployments/${deploymentId}/automations`;
        const created = await api(firstUrl, 'POST', base, { name: 'Hourly digest', schedule: 'hourly', instructions: INSTRUCTIONS });
        expect(created.status, JSON.stringify(created.body)).toBe(201);
        const automationId = created.body.automation_id as string;
        const threadId = created.body.thread_id as string;
        await killHerm(first);

        // While it is down, its due time passes (as automations-durability.test.ts does); the armed server starts, finds
        // it due and dies at the failpoint.
        const missed = Date.now() - 10 * 60_000;
        const db = await openDatabase(database);
        await db.rows('UPDATE automations SET next_run_at = $1 WHERE id = $2', [missed, automationId]);
        const armed = spawn({ HERM_FAILPOINTS: failpoint });
        const exit = await withTimeout(armed.exited, 30_000, `the failpoint ${failpoint}`);
        expect(exit.signal, armed.stderr()).toBe('SIGKILL');
        expect(armed.stderr()).toContain(`failpoint ${failpoint}: killing the process`);
        // It died before any run of the firing asked the model.
        expect(model.requests.filter((request) => request.lastUserText === INSTRUCTIONS)).toHaveLength(0);

        // What the commit left behind, read before the next start touches it.
        const firings = await db.rows('SELECT scheduled_for, status, run_id FROM automation_firings WHERE automation_id = $1', [automationId]);
        const runsLeft = await db.rows("SELECT id, status FROM runs WHERE thread_id = $1 AND trigger = 'automation'", [threadId]);
        const [{ next_run_at: nextRunAt }] = await db.rows('SELECT next_run_at FROM automations WHERE id = $1', [automationId]);
        await db.close();
        if (failpoint === 'automation.fire.before_commit') {
          // Nothing of the firing was written: the due time is still due.
          expect(firings).toEqual([]);
          expect(runsLeft).toEqual([]);
          expect(nextRunAt).toBe(missed);
        } else {
          // The firing, its run (running, never started by the dead process) and the claim of the due time all committed.
          expect(firings).toMatchObject([{ scheduled_for: missed, status: 'started' }]);
          expect(runsLeft).toMatchObject([{ id: firings[0].run_id, status: 'running' }]);
          expect(nextRunAt).toBeGreaterThan(Date.now());
        }

        const last = spawn();
        const url = await hermListening(last);
        const fired = await until('the firing to complete', async () => {
          const automation = (await api(url, 'GET', `${base}/${automationId}`)).body;
          return automation.last_run_status === 'completed' ? automation : undefined;
        });
        // One firing of the missed due time, completed; the next due time after now.
        expect(fired.recent_runs).toHaveLength(1);
        expect(fired.recent_runs[0]).toMatchObject({ status: 'completed', trigger: 'schedule', scheduled_for: iso(missed) });
        if (failpoint === 'automation.fire.after_commit') expect(fired.recent_runs[0].run_id).toBe(firings[0].run_id);
        expect(Date.parse(fired.next_run_at)).toBeGreaterThan(Date.now());
        // And nothing more: the scheduler wakes at least every poll and finds nothing due; one run, one model call.
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        const runs = (await api(url, 'GET', `/v1/deployments/${deploymentId}/runs?thread_id=${threadId}`)).body.data;
        expect(runs.map((run: any) => [run.trigger, run.status])).toEqual([['automation', 'completed']]);
        expect(model.requests.filter((request) => request.lastUserText === INSTRUCTIONS)).toHaveLength(1);
        await killHerm(last);
      });
    }
  });
}
