// Automations on a real server with the scripted model and an injected clock: the API (CRUD, validation, pause,
// trigger-now), a firing at its due time whose run's model receives the instructions, a due time skipped while the
// previous run is still active, the agent managing automations with its `automations` tool, and the tool offered
// only with features.automations on.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ScriptedRequest } from '../support/scripted-model-server.ts';
import { startLoopbackServer } from '../support/loopback-server.ts';
import { openSse, type WireEvent } from '../support/sse-client.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

/** A clock the test moves (or, `live`, real time shifted by `offset`); the server's scheduler reads it. */
const clock = {
  at: Date.parse('2026-06-15T08:59:00Z'),
  live: false,
  offset: 0,
  now() {
    return this.live ? Date.now() + this.offset : this.at;
  },
};

let herm: TestServer;

/** Webhook messages a loopback receiver got (the automation.fired webhook). */
const webhookBodies: any[] = [];
let receiver: { url: string; close(): Promise<void> };

beforeAll(async () => {
  herm = await startTestServer({ clock, env: { HERM_ALLOW_PRIVATE_URLS: 'true' } });
  const { server, port } = await startLoopbackServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      webhookBodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      response.writeHead(200).end('ok');
    });
  });
  receiver = { url: `http://127.0.0.1:${port}/hooks`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
});

vi.setConfig({ testTimeout: 30_000 });

afterAll(async () => {
  await herm?.close();
  await receiver?.close();
});

/** Deployments of the current test: their automations are removed after it, so that no test fires another's. */
let created: string[] = [];

async function newDeployment(overrides: Record<string, unknown> = {}): Promise<any> {
  const deployment = await herm.createDeployment(overrides);
  created.push(deployment.deployment_id);
  return deployment;
}

afterEach(async () => {
  for (const deploymentId of created) {
    const list = await herm.request('GET', `/v1/deployments/${deploymentId}/automations?limit=100`);
    for (const automation of list.body.data ?? []) await herm.request('DELETE', `/v1/deployments/${deploymentId}/automations/${automation.automation_id}`);
  }
  created = [];
});

const isEnd = (runId: string) => (event: WireEvent) => event.type === 'run_status' && event.data.run_id === runId && ['completed', 'error'].includes(event.data.status);

async function waitForRun(deploymentId: string, runId: string): Promise<any> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const run = await herm.request('GET', `/v1/deployments/${deploymentId}/runs/${runId}`);
    if (run.body.status === 'completed' || run.body.status === 'error') return run.body;
    if (Date.now() > deadline) throw new Error(`run ${runId} did not end: ${JSON.stringify(run.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Moves the clock and lets this node's scheduler fire what is due; returns how many firings it handled. */
async function advanceTo(iso: string): Promise<number> {
  // A tick in flight (a create wakes the scheduler) ends first, at the old time: the count is this move's alone.
  await herm.server.services.automationScheduler.tick();
  clock.at = Date.parse(iso);
  return herm.server.services.automationScheduler.tick();
}

describe('the Automations API', () => {
  it('creates from natural language or cron, lists, gets, updates, pauses and deletes', async () => {
    clock.at = Date.parse('2026-06-11T21:20:10Z');
    const deployment = await newDeployment();
    const base = `/v1/deployments/${deployment.deployment_id}/automations`;
    const created = await herm.request('POST', base, {
      name: 'Weekly video variations',
      schedule: 'every Monday at 9am',
      instructions: 'Look at our top-performing influencer video from last week and make five variations.',
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      deployment_id: deployment.deployment_id,
      name: 'Weekly video variations',
      schedule: '0 9 * * 1',
      schedule_text: 'every Monday at 9am',
      enabled: true,
      next_run_at: '2026-06-15T09:00:00Z',
      last_run_at: null,
      last_run_status: null,
    });
    expect(created.body.automation_id).toMatch(/^auto_/);
    // Its dedicated thread exists, named after it.
    const thread = await herm.request('GET', `/v1/deployments/${deployment.deployment_id}/threads/${created.body.thread_id}`);
    expect(thread.status).toBe(200);
    expect(thread.body.title).toBe('Automation: Weekly video variations');

    clock.at += 1_000;
    const cron = await herm.request('POST', base, { name: 'Nightly', schedule: '30 2 * * *', instructions: 'Tidy up.', thread_id: deployment.thread_id, enabled: false });
    expect(cron.status).toBe(201);
    expect(cron.body).toMatchObject({ schedule: '30 2 * * *', schedule_text: null, enabled: false, next_run_at: null, thread_id: deployment.thread_id });

    const list = await herm.request('GET', base);
    expect(list.status).toBe(200);
    expect(list.body.next_cursor).toBeNull();
    expect(list.body.data.map((automation: any) => automation.name)).toEqual(['Nightly', 'Weekly video variations']);
    expect(list.body.data[1]).toMatchObject({ last_run_at: null, last_run_status: null, next_run_at: '2026-06-15T09:00:00Z' });
    const page = await herm.request('GET', `${base}?limit=1`);
    expect(page.body.data).toHaveLength(1);
    expect((await herm.request('GET', `${base}?limit=1&cursor=${page.body.next_cursor}`)).body.data[0].name).toBe('Weekly video variations');

    const got = await herm.request('GET', `${base}/${created.body.automation_id}`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ automation_id: created.body.automation_id, recent_runs: [] });

    // Pause, then a new schedule while paused, then resume: next_run_at from now.
    const paused = await herm.request('PATCH', `${base}/${created.body.automation_id}`, { enabled: false });
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ enabled: false, next_run_at: null });
    const daily = await herm.request('PATCH', `${base}/${created.body.automation_id}`, { schedule: 'daily', enabled: true, name: 'Daily variations' });
    expect(daily.body).toMatchObject({ name: 'Daily variations', schedule: '0 0 * * *', schedule_text: 'daily', enabled: true, next_run_at: '2026-06-12T00:00:00Z' });
    const asCron = await herm.request('PATCH', `${base}/${created.body.automation_id}`, { schedule: '*/15 * * * *' });
    expect(asCron.body).toMatchObject({ schedule: '*/15 * * * *', schedule_text: null, next_run_at: '2026-06-11T21:30:00Z' });
    // Unknown fields and empty values are refused, nothing changed.
    expect((await herm.request('PATCH', `${base}/${created.body.automation_id}`, { name: '' })).body.error.param).toBe('name');
    expect((await herm.request('PATCH', `${base}/${created.body.automation_id}`, { thread_id: 'thr_nope' })).body.error).toMatchObject({ type: 'not_found', param: 'thread_id' });

    const deleted = await herm.request('DELETE', `${base}/${cron.body.automation_id}`);
    expect(deleted).toMatchObject({ status: 200, body: { automation_id: cron.body.automation_id, deleted: true } });
    expect((await herm.request('GET', `${base}/${cron.body.automation_id}`)).status).toBe(404);
    expect((await herm.request('DELETE', `${base}/${cron.body.automation_id}`)).status).toBe(404);
    expect((await herm.request('GET', base)).body.data).toHaveLength(1);

    // Deleting the deployment deletes its automations.
    expect((await herm.request('DELETE', `/v1/deployments/${deployment.deployment_id}`)).status).toBe(200);
    const store = herm.server.services.store.automations;
    const deadline = Date.now() + 10_000;
    while ((await store.list(deployment.deployment_id, { limit: 10 })).data.length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await store.list(deployment.deployment_id, { limit: 10 })).data).toEqual([]);
  });

  it('answers bad input with typed errors naming the field', async () => {
    const deployment = await newDeployment();
    const base = `/v1/deployments/${deployment.deployment_id}/automations`;
    const body = { name: 'Report', schedule: 'every weekday at 17:30', instructions: 'Write the report.' };

    const unparseable = await herm.request('POST', base, { ...body, schedule: 'whenever the moon is full' });
    expect(unparseable.status).toBe(400);
    expect(unparseable.body.error).toMatchObject({ type: 'validation_error', param: 'schedule' });
    expect(unparseable.body.error.message).toContain('moon');
    expect(unparseable.body.error.message).toContain('every Monday at 9am'); // the hint
    const inexact = await herm.request('POST', base, { ...body, schedule: 'every 45 minutes' });
    expect(inexact.body.error).toMatchObject({ type: 'validation_error', param: 'schedule' });
    expect(inexact.body.error.message).toContain('divides 60');
    const badCron = await herm.request('POST', base, { ...body, schedule: '61 * * * *' });
    expect(badCron.body.error).toMatchObject({ type: 'validation_error', param: 'schedule' });

    const missing = await herm.request('POST', base, { schedule: 'daily' });
    expect(missing.status).toBe(400);
    expect(missing.body.error.errors.map((error: any) => error.param).sort()).toEqual(['instructions', 'name']);
    expect((await herm.request('POST', base, { ...body, extra: 1 })).body.error.type).toBe('validation_error');
    expect((await herm.request('POST', base, { ...body, enabled: 'yes' })).body.error.param).toBe('enabled');

    const noThread = await herm.request('POST', base, { ...body, thread_id: 'thr_doesnotexist' });
    expect(noThread.status).toBe(404);
    expect(noThread.body.error).toMatchObject({ type: 'not_found', param: 'thread_id' });
    const other = await newDeployment();
    const foreign = await herm.request('POST', base, { ...body, thread_id: other.thread_id });
    expect(foreign.body.error).toMatchObject({ type: 'not_found', param: 'thread_id' });

    expect((await herm.request('POST', '/v1/deployments/dep_missing/automations', body)).body.error).toMatchObject({ type: 'not_found', param: 'deployment_id' });
    expect((await herm.request('GET', `${base}/auto_missing`)).body.error).toMatchObject({ type: 'not_found', param: 'automation_id' });
    expect((await herm.request('PATCH', `${base}/auto_missing`, { enabled: false })).status).toBe(404);
    expect((await herm.request('POST', `${base}/auto_missing/trigger`)).status).toBe(404);
    expect((await herm.request('GET', `${base}/not-an-id`)).body.error).toMatchObject({ type: 'validation_error', param: 'automation_id' });

    const created = await herm.request('POST', base, body);
    const badPatch = await herm.request('PATCH', `${base}/${created.body.automation_id}`, { schedule: 'every other day' });
    expect(badPatch.body.error).toMatchObject({ type: 'validation_error', param: 'schedule' });
    // Nothing changed.
    expect((await herm.request('GET', `${base}/${created.body.automation_id}`)).body.schedule).toBe('30 17 * * 1-5');
    // Scopes as on every deployment route: a read-only key lists but cannot create or trigger.
    const { secret } = await herm.server.services.store.accounts.createKey({ accountId: 'acct_default', scopes: ['deployments:read'] });
    expect((await herm.request('GET', base, undefined, secret)).status).toBe(200);
    expect((await herm.request('POST', base, body, secret)).body.error.type).toBe('forbidden');
    expect((await herm.request('POST', `${base}/${created.body.automation_id}/trigger`, undefined, secret)).status).toBe(403);
    expect((await herm.request('GET', base, undefined, null)).status).toBe(401);
    // Another deployment's automation is not found through this one.
    expect((await herm.request('GET', `/v1/deployments/${other.deployment_id}/automations/${created.body.automation_id}`)).status).toBe(404);
  });
});

describe('firing', () => {
  it('fires at its due time on the injected clock: the model receives the instructions, the events carry automation_id', async () => {
    clock.at = Date.parse('2026-06-15T08:59:00Z');
    const deployment = await newDeployment();
    const base = `/v1/deployments/${deployment.deployment_id}/automations`;
    const instructions = 'Look at our top video from last week and make five variations.';
    const created = (await herm.request('POST', base, { name: 'Weekly', schedule: 'every Monday at 9am', instructions })).body;
    expect(created.next_run_at).toBe('2026-06-15T09:00:00Z');
    const endpoint = await herm.request('POST', '/v1/webhook_endpoints', { url: receiver.url, events: ['automation.fired'], deployment_id: deployment.deployment_id });
    expect(endpoint.status).toBe(201);
    const stream = await openSse(deployment.events.url, herm.adminKey);
    try {
      // Not due yet: nothing fires.
      expect(await advanceTo('2026-06-15T08:59:59Z')).toBe(0);
      herm.model.reset();
      herm.model.enqueue({ text: 'Here are five variations.' });
      expect(await advanceTo('2026-06-15T09:00:00Z')).toBe(1);
      const fired = await stream.waitFor((event) => event.type === 'automation_fired');
      expect(fired.data).toMatchObject({ automation_id: created.automation_id, name: 'Weekly', trigger: 'schedule', scheduled_for: '2026-06-15T09:00:00Z', thread_id: created.thread_id });
      const runId = fired.data.run_id as string;
      await stream.waitFor(isEnd(runId));
      const statuses = stream.events.filter((event) => event.type === 'run_status' && event.data.run_id === runId);
      expect(statuses.map((event) => event.data.status)).toEqual(['running', 'completed']);
      for (const status of statuses) expect(status.data.automation_id).toBe(created.automation_id);

      // The model received the instructions as the run's message, on the automation's thread.
      const request = herm.model.requests.at(-1) as ScriptedRequest;
      expect(request.lastUserText).toBe(instructions);
      const run = await waitForRun(deployment.deployment_id, runId);
      expect(run).toMatchObject({ trigger: 'automation', automation_id: created.automation_id, thread_id: created.thread_id, status: 'completed' });

      const after = (await herm.request('GET', `${base}/${created.automation_id}`)).body;
      expect(after).toMatchObject({ last_run_id: runId, last_run_at: '2026-06-15T09:00:00Z', last_run_status: 'completed', next_run_at: '2026-06-22T09:00:00Z' });
      expect(after.recent_runs).toEqual([
        { run_id: runId, status: 'completed', trigger: 'schedule', scheduled_for: '2026-06-15T09:00:00Z', fired_at: '2026-06-15T09:00:00Z', skip_reason: null },
      ]);
      // The automation.fired webhook tells the product's backend, once.
      const deadline = Date.now() + 10_000;
      while (!webhookBodies.some((body) => body.data?.run_id === runId) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
      const hooks = webhookBodies.filter((body) => body.data?.automation_id === created.automation_id);
      expect(hooks).toHaveLength(1);
      expect(hooks[0]).toMatchObject({ type: 'automation.fired', data: { deployment_id: deployment.deployment_id, run_id: runId, automation_id: created.automation_id, trigger: 'schedule' } });
      // The same due time never fires twice.
      expect(await advanceTo('2026-06-15T09:30:00Z')).toBe(0);
      const runs = await herm.request('GET', `/v1/deployments/${deployment.deployment_id}/runs?thread_id=${created.thread_id}`);
      expect(runs.body.data).toHaveLength(1);
    } finally {
      stream.close();
    }
  });

  it('wakes by itself at the due time, without polling (HERM_AUTOMATIONS_POLL_MS is 30 s)', async () => {
    // Real time, shifted to 0.4 s before a full minute.
    clock.live = true;
    clock.offset = Date.parse('2026-10-01T10:00:00Z') - 400 - Date.now();
    try {
      const deployment = await newDeployment();
      const base = `/v1/deployments/${deployment.deployment_id}/automations`;
      const created = (await herm.request('POST', base, { name: 'On the minute', schedule: 'every minute', instructions: 'Tick.' })).body;
      expect(created.next_run_at).toBe('2026-10-01T10:00:00Z');
      const deadline = Date.now() + 10_000;
      let fired: any;
      while (Date.now() < deadline) {
        fired = (await herm.request('GET', `${base}/${created.automation_id}`)).body;
        if (fired.last_run_id) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(fired.recent_runs[0]).toMatchObject({ trigger: 'schedule', scheduled_for: '2026-10-01T10:00:00Z' });
      expect(fired.next_run_at).toBe('2026-10-01T10:01:00Z');
      await waitForRun(deployment.deployment_id, fired.last_run_id);
    } finally {
      clock.live = false;
    }
  });

  it('skips and records a due time whose previous run is still active', async () => {
    clock.at = Date.parse('2026-07-01T10:00:30Z');
    const deployment = await newDeployment();
    const base = `/v1/deployments/${deployment.deployment_id}/automations`;
    const created = (await herm.request('POST', base, { name: 'Every minute', schedule: 'every minute', instructions: 'Check the inbox.' })).body;
    expect(created.next_run_at).toBe('2026-07-01T10:01:00Z');
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    herm.model.setHandler(async () => {
      await gate;
      return { text: 'Inbox checked.' };
    });
    try {
      expect(await advanceTo('2026-07-01T10:01:00Z')).toBe(1);
      const first = (await herm.request('GET', `${base}/${created.automation_id}`)).body;
      expect(first.last_run_status).toBe('running');
      // The next due time comes while that run still waits on the model: skipped, recorded, and not run later.
      expect(await advanceTo('2026-07-01T10:02:05Z')).toBe(1);
      const during = (await herm.request('GET', `${base}/${created.automation_id}`)).body;
      expect(during.recent_runs[0]).toEqual({
        run_id: null,
        status: 'skipped',
        trigger: 'schedule',
        scheduled_for: '2026-07-01T10:02:00Z',
        fired_at: '2026-07-01T10:02:05Z',
        skip_reason: 'previous_run_active',
      });
      expect(during.next_run_at).toBe('2026-07-01T10:03:00Z');
      release();
      await waitForRun(deployment.deployment_id, first.last_run_id);
      herm.model.setHandler(undefined);
      herm.model.enqueue({ text: 'Inbox checked again.' });
      expect(await advanceTo('2026-07-01T10:03:00Z')).toBe(1);
      const third = (await herm.request('GET', `${base}/${created.automation_id}`)).body;
      await waitForRun(deployment.deployment_id, third.last_run_id);
      const final = (await herm.request('GET', `${base}/${created.automation_id}`)).body;
      expect(final.recent_runs.map((run: any) => [run.status, run.scheduled_for])).toEqual([
        ['completed', '2026-07-01T10:03:00Z'],
        ['skipped', '2026-07-01T10:02:00Z'],
        ['completed', '2026-07-01T10:01:00Z'],
      ]);
    } finally {
      release();
      herm.model.setHandler(undefined);
      await herm.request('PATCH', `${base}/${created.automation_id}`, { enabled: false });
    }
  });

  it('triggers a paused automation now; refuses while its thread is busy or with features.automations off', async () => {
    clock.at = Date.parse('2026-08-03T12:00:00Z');
    const deployment = await newDeployment();
    const base = `/v1/deployments/${deployment.deployment_id}/automations`;
    const created = (await herm.request('POST', base, { name: 'Report', schedule: 'every weekday at 17:30', instructions: 'Write the daily report.', enabled: false })).body;
    herm.model.reset();
    herm.model.enqueue({ text: 'Report written.' });
    const triggered = await herm.request('POST', `${base}/${created.automation_id}/trigger`);
    expect(triggered.status).toBe(202);
    expect(triggered.body).toMatchObject({ automation_id: created.automation_id, deployment_id: deployment.deployment_id, thread_id: created.thread_id, status: 'running' });
    expect(triggered.body.run_id).toMatch(/^run_/);
    const run = await waitForRun(deployment.deployment_id, triggered.body.run_id);
    expect(run).toMatchObject({ status: 'completed', trigger: 'automation' });
    expect(herm.model.requests.at(-1)?.lastUserText).toBe('Write the daily report.');
    const after = (await herm.request('GET', `${base}/${created.automation_id}`)).body;
    expect(after).toMatchObject({ enabled: false, next_run_at: null, last_run_id: triggered.body.run_id, last_run_status: 'completed' });
    expect(after.recent_runs[0]).toMatchObject({ run_id: triggered.body.run_id, trigger: 'manual', scheduled_for: null, status: 'completed' });

    // A run in flight on its thread: nothing starts.
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    herm.model.setHandler(async () => {
      await gate;
      return { text: 'ok' };
    });
    try {
      const busy = await herm.request('POST', `/v1/deployments/${deployment.deployment_id}/messages`, { content: 'Hold on.', thread_id: created.thread_id });
      expect(busy.status).toBe(202);
      const refused = await herm.request('POST', `${base}/${created.automation_id}/trigger`);
      expect(refused.status).toBe(409);
      expect(refused.body.error.type).toBe('conflict');
      release();
      await waitForRun(deployment.deployment_id, busy.body.run_id);
    } finally {
      release();
      herm.model.setHandler(undefined);
    }

    const off = await herm.request('PATCH', `/v1/deployments/${deployment.deployment_id}`, { features: { automations: false } });
    expect(off.status).toBe(200);
    const disabled = await herm.request('POST', `${base}/${created.automation_id}/trigger`);
    expect(disabled.status).toBe(409);
    expect(disabled.body.error).toMatchObject({ type: 'conflict', param: 'features.automations' });
  });

  it('does not fire while features.automations is off, and fires no catch-up once it is on again', async () => {
    clock.at = Date.parse('2026-09-01T00:00:00Z');
    const deployment = await newDeployment({ features: { automations: false } });
    const base = `/v1/deployments/${deployment.deployment_id}/automations`;
    const created = (await herm.request('POST', base, { name: 'Hourly', schedule: 'hourly', instructions: 'Ping.' })).body;
    expect(await advanceTo('2026-09-01T03:00:00Z')).toBe(1);
    const after = (await herm.request('GET', `${base}/${created.automation_id}`)).body;
    expect(after).toMatchObject({ last_run_id: null, recent_runs: [], next_run_at: '2026-09-01T04:00:00Z' });
    await herm.request('DELETE', `${base}/${created.automation_id}`);
  });
});

describe('the automations tool', () => {
  it('lets the agent create, list, update and pause automations, as ordinary tool events', async () => {
    clock.at = Date.parse('2026-06-11T21:20:10Z');
    const deployment = await newDeployment();
    const base = `/v1/deployments/${deployment.deployment_id}/automations`;
    const stream = await openSse(deployment.events.url, herm.adminKey);
    try {
      herm.model.reset();
      herm.model.enqueue(
        {
          toolCalls: [
            {
              id: 'call_create',
              name: 'automations',
              arguments: { action: 'create', name: 'Weekly report', schedule: 'every Monday at 9am', instructions: 'Write the weekly report.' },
            },
          ],
        },
        { text: 'Done: every Monday at 9:00 UTC.' },
      );
      const run = await herm.sendAndWait(deployment.deployment_id, { content: 'Every Monday at 9, write the weekly report.' });
      expect(run.status).toBe('completed');
      expect(herm.model.requests[0]?.toolNames).toContain('automations');
      const result = await stream.waitFor((event) => event.type === 'tool_result' && event.data.tool_call_id === 'call_create');
      expect(result.data).toMatchObject({ tool: 'automations', origin: 'builtin', is_error: false });
      expect(result.data.result.created).toMatchObject({ name: 'Weekly report', schedule: '0 9 * * 1', next_run_at: '2026-06-15T09:00:00Z' });
      expect(stream.events.some((event) => event.type === 'tool_call' && event.data.tool === 'automations' && event.data.arguments.action === 'create')).toBe(true);
      const automationId = result.data.result.created.automation_id as string;

      // "what's scheduled?", then "make it daily instead", then "pause the weekly report".
      herm.model.enqueue(
        { toolCalls: [{ id: 'call_list', name: 'automations', arguments: { action: 'list' } }] },
        { toolCalls: [{ id: 'call_update', name: 'automations', arguments: { action: 'update', automation_id: automationId, schedule: 'daily at 9am' } }] },
        { toolCalls: [{ id: 'call_pause', name: 'automations', arguments: { action: 'pause', automation_id: automationId } }] },
        { toolCalls: [{ id: 'call_bad', name: 'automations', arguments: { action: 'update', automation_id: automationId, schedule: 'every other day' } }] },
        { text: 'Paused.' },
      );
      await herm.sendAndWait(deployment.deployment_id, { content: "What's scheduled? Make it daily instead, then pause it." });
      const listed = await stream.waitFor((event) => event.type === 'tool_result' && event.data.tool_call_id === 'call_list');
      expect(listed.data.result.automations.map((automation: any) => automation.automation_id)).toEqual([automationId]);
      const updated = await stream.waitFor((event) => event.type === 'tool_result' && event.data.tool_call_id === 'call_update');
      expect(updated.data.result.updated).toMatchObject({ schedule: '0 9 * * *', schedule_text: 'daily at 9am' });
      const bad = await stream.waitFor((event) => event.type === 'tool_result' && event.data.tool_call_id === 'call_bad');
      expect(bad.data.is_error).toBe(true);
      expect(JSON.stringify(bad.data.result)).toContain('every other day');
      const got = (await herm.request('GET', `${base}/${automationId}`)).body;
      expect(got).toMatchObject({ name: 'Weekly report', schedule: '0 9 * * *', enabled: false, next_run_at: null });
    } finally {
      stream.close();
    }
  });

  it('is offered and listed only with features.automations on', async () => {
    const on = await newDeployment();
    const off = await newDeployment({ features: { automations: false } });
    const onTools = await herm.request('GET', `/v1/deployments/${on.deployment_id}/tools`);
    expect(onTools.body.data).toContainEqual(expect.objectContaining({ name: 'automations', origin: 'builtin', enabled: true }));
    const offTools = await herm.request('GET', `/v1/deployments/${off.deployment_id}/tools`);
    expect(offTools.body.data.map((tool: any) => tool.name)).not.toContain('automations');
    herm.model.reset();
    herm.model.enqueue({ text: 'Hi.' });
    await herm.sendAndWait(off.deployment_id);
    expect(herm.model.requests.at(-1)?.toolNames).not.toContain('automations');
    // Switched off through the Tools API like any built-in.
    expect((await herm.request('PATCH', `/v1/deployments/${on.deployment_id}/tools/automations`, { enabled: false })).status).toBe(200);
    herm.model.enqueue({ text: 'Hi.' });
    await herm.sendAndWait(on.deployment_id);
    expect(herm.model.requests.at(-1)?.toolNames).not.toContain('automations');
  });
});
