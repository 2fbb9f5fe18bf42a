// Automation firings are durable and exact: a `herm serve` process killed while an automation came due fires it
// once at its next start, not once per time it missed (and its schedule survives the restart); two nodes on one
// PostgreSQL database racing for the same due times fire each exactly once.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { startChildServer, type ChildServer } from '../support/child-server.ts';
import { postgresBaseUrl, POSTGRES_SKIP_MESSAGE } from '../support/databases.ts';
import { startPostgresNodes } from '../support/postgres-nodes.ts';
import { startScriptedModelServer, type ScriptedModelServer } from '../support/scripted-model-server.ts';

const postgresAvailable = (await postgresBaseUrl()) !== undefined;
if (!postgresAvailable) console.warn(POSTGRES_SKIP_MESSAGE);

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function api(url: string, key: string, method: string, urlPath: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${url}${urlPath}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, body: await response.json() };
}

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('a restart', () => {
  it('fires a due time missed while the server was down once at the next start, and keeps the schedule', { timeout: 60_000 }, async () => {
    const model: ScriptedModelServer = await startScriptedModelServer();
    cleanups.push(() => model.close());
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-automations-'));
    cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    const key = 'herm_sk_automations_restart_1234';
    const env = { HERM_DATA_DIR: dataDir, HERM_ADMIN_KEY: key, OPENAI_COMPATIBLE_BASE_URL: model.url };
    const servers: ChildServer[] = [];
    cleanups.push(async () => {
      for (const server of servers) await server.kill();
    });

    const first = await startChildServer(env);
    servers.push(first);
    const deployment = (await api(first.url, key, 'POST', '/v1/deployments', { customer_id: 'c', name: 'n', system_prompt: 'p', model: 'openai-compatible/m' })).body;
    await until('the deployment to be ready', async () =>
      (await api(first.url, key, 'GET', `/v1/deployments/${deployment.deployment_id}`)).body.status === 'ready' ? true : undefined,
    );
    const base = `/v1/deployments/${deployment.deployment_id}/automations`;
    const created = (await api(first.url, key, 'POST', base, { name: 'Hourly digest', schedule: 'hourly', instructions: 'Send the hourly digest.' })).body;
    expect(created.next_run_at).toMatch(/:00:00Z$/);
    await first.kill();

    // The schedule survives a restart unchanged, and nothing fires before it is due.
    const second = await startChildServer(env);
    servers.push(second);
    const kept = (await api(second.url, key, 'GET', `${base}/${created.automation_id}`)).body;
    expect(kept).toMatchObject({ schedule: '0 * * * *', next_run_at: created.next_run_at, recent_runs: [] });
    await second.kill();

    // While the server is down, the due time passes (3.5 hours ago: it and three later hourly times are missed).
    const missed = Date.now() - 3.5 * 3_600_000;
    const database = new DatabaseSync(path.join(dataDir, 'herm.sqlite'));
    database.prepare('UPDATE automations SET next_run_at = ? WHERE id = ?').run(missed, created.automation_id);
    database.close();

    model.reset();
    const third = await startChildServer(env);
    servers.push(third);
    const fired = await until('the missed firing', async () => {
      const automation = (await api(third.url, key, 'GET', `${base}/${created.automation_id}`)).body;
      return automation.last_run_status === 'completed' ? automation : undefined;
    });
    // Once: one firing for the missed due time, the next one after now (no catch-up storm).
    expect(fired.recent_runs).toHaveLength(1);
    expect(fired.recent_runs[0]).toMatchObject({ status: 'completed', trigger: 'schedule', scheduled_for: new Date(missed).toISOString().replace(/\.\d{3}Z$/, 'Z') });
    expect(Date.parse(fired.next_run_at)).toBeGreaterThan(Date.now());
    expect(Date.parse(fired.next_run_at) - Date.now()).toBeLessThanOrEqual(3_600_000);
    // And nothing more: the scheduler looked again (it wakes at least every poll) and found nothing due.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const runs = (await api(third.url, key, 'GET', `/v1/deployments/${deployment.deployment_id}/runs?thread_id=${created.thread_id}`)).body;
    expect(runs.data.map((run: any) => run.trigger)).toEqual(['automation']);
    expect(model.requests.filter((request) => request.lastUserText === 'Send the hourly digest.')).toHaveLength(1);
  });
});

describe.skipIf(!postgresAvailable)('two nodes on PostgreSQL', () => {
  it('fire each due time exactly once, racing for the same automations', { timeout: 60_000 }, async () => {
    // One clock for both nodes: the test moves it, and both nodes see every due time at once.
    const clock = { at: Date.parse('2026-06-15T08:59:30Z'), now() { return this.at; } };
    const cluster = await startPostgresNodes({ env: { HERM_ADMIN_KEY: 'herm_sk_automations_two_nodes_1' }, clock });
    cleanups.push(() => cluster.close());
    const { model, nodes: [nodeA, nodeB] } = cluster;
    const deployment = await nodeA.createDeployment();
    const base = `/v1/deployments/${deployment.deployment_id}/automations`;
    const automations: any[] = [];
    for (let index = 0; index < 6; index++) {
      automations.push((await nodeA.request('POST', base, { name: `Every minute ${index}`, schedule: 'every minute', instructions: `Task ${index}.` })).body);
    }

    const dueTimes = ['2026-06-15T09:00:00Z', '2026-06-15T09:01:00Z', '2026-06-15T09:02:00Z'];
    for (const due of dueTimes) {
      clock.at = Date.parse(due) + 10_000;
      // Both nodes, twice each, at the same moment.
      await Promise.all([nodeA, nodeB, nodeA, nodeB].map((node) => node.server.services.automationScheduler.tick()));
      // The runs end before the next due time (so that each due time starts one, rather than skipping).
      await until('the runs to end', async () => {
        const runs = (await nodeA.request('GET', `/v1/deployments/${deployment.deployment_id}/runs?status=running`)).body.data;
        return runs.length === 0 ? true : undefined;
      });
    }
    const byNode = new Set<string>();
    let started = 0;
    for (const automation of automations) {
      const got = (await nodeB.request('GET', `${base}/${automation.automation_id}`)).body;
      // Exactly one firing per due time: the times are the three due times, each once.
      expect(got.recent_runs.map((run: any) => run.scheduled_for).sort()).toEqual(dueTimes);
      expect(got.recent_runs.every((run: any) => run.status === 'completed')).toBe(true);
      started += got.recent_runs.length;
      expect(got.next_run_at).toBe('2026-06-15T09:03:00Z');
      for (const run of got.recent_runs) byNode.add(run.run_id);
    }
    // As many runs as firings, none twice: every automation run's message is one firing's.
    const runs = (await nodeA.request('GET', `/v1/deployments/${deployment.deployment_id}/runs?limit=100`)).body.data.filter((run: any) => run.trigger === 'automation');
    expect(runs).toHaveLength(started);
    expect(new Set(runs.map((run: any) => run.run_id))).toEqual(byNode);
    const prompts = model.requests.map((request) => request.lastUserText).filter((text) => text?.startsWith('Task '));
    expect(prompts).toHaveLength(automations.length * dueTimes.length);
  });
});
