// GET /metrics on a real server: runs with the scripted model (a tool call, a model error, an automation, a cancellation, a run
// waiting on a human, a queued run), a webhook delivery retried once, an SSE stream; the exposition parsed by a
// Prometheus text parser and its values checked against what happened; the scope (401/403/200); and on
// PostgreSQL the event-log lag between two nodes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ACCOUNT_ID } from '../../src/store/accounts.ts';
import { postgresBaseUrl, POSTGRES_SKIP_MESSAGE } from '../support/databases.ts';
import { startLoopbackServer } from '../support/loopback-server.ts';
import { startPostgresNodes, type PostgresNodes } from '../support/postgres-nodes.ts';
import { scrapeMetrics, type Scrape } from '../support/prometheus-scrape.ts';
import { openSse } from '../support/sse-client.ts';
import { SCRIPTED_MODEL, startTestServer, type TestServer } from '../support/test-server.ts';

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A webhook receiver that answers each message's first attempt with 500 and the next with 200. */
async function startReceiver() {
  const attempts: { id: string; answered: number }[] = [];
  const { server, port } = await startLoopbackServer((request, response) => {
    request.resume();
    request.on('end', () => {
      const id = String(request.headers['webhook-id']);
      const answered = attempts.some((attempt) => attempt.id === id) ? 200 : 500;
      attempts.push({ id, answered });
      response.writeHead(answered).end();
    });
  });
  return { url: `http://127.0.0.1:${port}/hooks`, attempts, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('GET /metrics', () => {
  let herm: TestServer;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const scrape = () => scrapeMetrics(herm.url, herm.adminKey);
  /** Scrapes until `probe` returns something (a gauge read at scrape time reaching a value). */
  const scrapeUntil = <T>(what: string, probe: (scrape: Scrape) => T | undefined) => waitFor(what, async () => probe(await scrape()));

  beforeAll(async () => {
    receiver = await startReceiver();
    herm = await startTestServer({ env: { HERM_ALLOW_PRIVATE_URLS: 'true', HERM_WEBHOOK_RETRY_SCHEDULE: '100ms,100ms', HERM_WEBHOOK_POLL_MS: '50' } });
  });

  afterAll(async () => {
    await herm?.close();
    await receiver?.close();
  });

  it('is served to keys with metrics:read or admin: 401 without a key, 403 without the scope, in the API error shape', async () => {
    const { accounts } = herm.server.services.store;
    const reader = await accounts.createKey({ accountId: DEFAULT_ACCOUNT_ID, scopes: ['metrics:read'], name: 'prometheus' });
    const deploymentsOnly = await accounts.createKey({ accountId: DEFAULT_ACCOUNT_ID, scopes: ['deployments:read', 'deployments:write'] });

    const anonymous = await herm.request('GET', '/metrics', undefined, null);
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error).toMatchObject({ type: 'unauthorized' });
    expect(anonymous.body.error.request_id).toMatch(/^req_/);
    const wrongKey = await herm.request('GET', '/metrics', undefined, 'herm_sk_not_a_key_at_all_0000');
    expect(wrongKey.status).toBe(401);
    const forbidden = await herm.request('GET', '/metrics', undefined, deploymentsOnly.secret);
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error).toMatchObject({ type: 'forbidden' });
    expect(forbidden.body.error.message).toContain('metrics:read');
    // A metrics key reaches nothing else.
    expect((await herm.request('GET', '/v1/deployments', undefined, reader.secret)).status).toBe(403);

    for (const key of [reader.secret, herm.adminKey]) {
      const scraped = await scrapeMetrics(herm.url, key);
      expect(scraped.status).toBe(200);
      expect(scraped.contentType).toContain('text/plain');
      expect(scraped.contentType).toContain('version=0.0.4');
      expect(scraped.family('herm_runs_total')?.type).toBe('COUNTER');
      expect(scraped.family('herm_model_call_duration_seconds')?.type).toBe('HISTOGRAM');
      expect(scraped.family('herm_queue_depth')?.type).toBe('GAUGE');
    }
    expect((await herm.request('POST', '/metrics')).status).toBe(405);
  });

  it('counts runs by status and trigger, steps, model calls and their tokens, tool calls and webhook deliveries', async () => {
    const endpoint = await herm.request('POST', '/v1/webhook_endpoints', { url: receiver.url, events: ['run.completed'] });
    expect(endpoint.status, JSON.stringify(endpoint.body)).toBe(201);
    const deployment = await herm.createDeployment({ features: { memory: false } });
    const before = await scrape();
    expect(before.total('herm_runs_total')).toBe(0);

    // A run with a tool call (two steps), a run of one step, a run whose model call fails.
    herm.model.enqueue(
      { toolCalls: [{ name: 'shell', arguments: { command: 'echo metrics' } }], usage: { inputTokens: 100, outputTokens: 10 } },
      { text: ['Done', '.'], usage: { inputTokens: 120, outputTokens: 5 } },
      { text: 'Hi.', usage: { inputTokens: 50, outputTokens: 2 } },
      { error: { status: 400, message: 'the scripted model refuses' } },
    );
    expect((await herm.sendAndWait(deployment.deployment_id)).status).toBe('completed');
    expect((await herm.sendAndWait(deployment.deployment_id)).status).toBe('completed');
    const failed = await herm.sendAndWait(deployment.deployment_id);
    expect(failed.error.type).toBe('model_error');
    // A run an automation started (triggered by hand): trigger "automation".
    const automations = `/v1/deployments/${deployment.deployment_id}/automations`;
    const automation = await herm.request('POST', automations, { name: 'Report', schedule: 'every weekday at 17:30', instructions: 'Write the report.', enabled: false });
    expect(automation.status, JSON.stringify(automation.body)).toBe(201);
    herm.model.enqueue({ text: 'Report written.', usage: { inputTokens: 30, outputTokens: 3 } });
    const triggered = await herm.request('POST', `${automations}/${automation.body.automation_id}/trigger`);
    expect(triggered.status).toBe(202);
    await waitFor('the automation run ended', async () => {
      const run = await herm.request('GET', `/v1/deployments/${deployment.deployment_id}/runs/${triggered.body.run_id}`);
      return run.body.status === 'completed' ? true : undefined;
    });

    const after = await scrapeUntil('the three run.completed deliveries acknowledged', (scraped) =>
      scraped.value('herm_webhook_deliveries_total', { outcome: 'succeeded' }) === 3 ? scraped : undefined,
    );
    expect(after.value('herm_runs_total', { status: 'completed', error_type: '', trigger: 'message' })).toBe(2);
    expect(after.value('herm_runs_total', { status: 'error', error_type: 'model_error', trigger: 'message' })).toBe(1);
    expect(after.value('herm_runs_total', { status: 'completed', error_type: '', trigger: 'automation' })).toBe(1);
    expect(after.total('herm_runs_total')).toBe(4);

    const model = SCRIPTED_MODEL;
    expect(after.histogram('herm_model_call_duration_seconds', { model, outcome: 'ok' })?.count).toBe(4);
    expect(after.histogram('herm_model_call_duration_seconds', { model, outcome: 'error' })?.count).toBe(1);
    expect(after.histogram('herm_model_time_to_first_token_seconds', { model })?.count).toBe(4);
    // The failed step never ended; the others did: two of the tool run's, one of each other run.
    expect(after.histogram('herm_run_step_duration_seconds', { model })?.count).toBe(4);
    const shell = after.histogram('herm_tool_call_duration_seconds', { tool: 'shell', origin: 'builtin' });
    expect(shell?.count).toBe(1);
    expect(shell!.sum).toBeGreaterThan(0);
    // The scripted model's reported usage, summed.
    expect(after.value('herm_model_tokens_total', { model, kind: 'input' })).toBe(300);
    expect(after.value('herm_model_tokens_total', { model, kind: 'output' })).toBe(20);

    // Each message's first attempt got a 500 (retried), the second a 200.
    expect(after.value('herm_webhook_deliveries_total', { outcome: 'retrying' })).toBe(3);
    expect(receiver.attempts.filter((attempt) => attempt.answered === 200)).toHaveLength(3);
    expect(after.value('herm_queue_depth', { queue: 'webhook_deliveries_pending' })).toBe(0);
    expect(after.value('herm_runs_active')).toBe(0);
  });

  it('shows runs, commands and sandboxes at work, SSE clients and queue depths while they are there', async () => {
    const deployment = await herm.createDeployment({ features: { memory: false } });
    const id = deployment.deployment_id as string;
    const idle = await scrape();
    const cancelledBefore = idle.value('herm_runs_total', { status: 'error', error_type: 'cancelled', trigger: 'message' }) ?? 0;

    const stream = await openSse(deployment.events.url, herm.adminKey);
    await scrapeUntil('the SSE client counted', (scraped) => (scraped.value('herm_sse_clients') === 1 ? true : undefined));

    // A command that runs until its run is cancelled, and a message queued behind that run on its thread.
    herm.model.enqueue({ toolCalls: [{ name: 'shell', arguments: { command: 'sleep 60' } }] });
    const sent = await herm.request('POST', `/v1/deployments/${id}/messages`, { content: 'Wait.' });
    expect(sent.status).toBe(202);
    const busy = await scrapeUntil('the command counted', (scraped) => (scraped.value('herm_sandbox_commands_active', { backend: 'bubblewrap' }) === 1 ? scraped : undefined));
    expect(busy.value('herm_sandboxes_active', { backend: 'bubblewrap' })).toBe(1);
    expect(busy.value('herm_runs_active')).toBe(1);
    const queued = await herm.request('POST', `/v1/deployments/${id}/messages`, { content: 'Then this.', thread_id: sent.body.thread_id, multitask_strategy: 'enqueue' });
    expect(queued.status, JSON.stringify(queued.body)).toBe(202);
    await scrapeUntil('the queued run counted', (scraped) => (scraped.value('herm_queue_depth', { queue: 'runs_queued' }) === 1 ? true : undefined));

    // A run that asks a human, on a thread of its own: a pending steering request.
    herm.model.enqueue({ toolCalls: [{ name: 'ask_human', arguments: { summary: 'Which colour?' } }] });
    const asking = await herm.request('POST', `/v1/deployments/${id}/messages`, { content: 'Ask me.', thread_id: 'new' });
    expect(asking.status).toBe(202);
    const waiting = await scrapeUntil('the steering request counted', (scraped) => (scraped.value('herm_queue_depth', { queue: 'steering_pending' }) === 1 ? scraped : undefined));
    expect(waiting.value('herm_queue_depth', { queue: 'runs_unclaimed' })).toBe(0);

    // Cancelling both: the command stops, the queued run runs (the default reply), the waiting run ends where it waits.
    expect((await herm.request('POST', `/v1/deployments/${id}/runs/${sent.body.run_id}/cancel`)).status).toBe(200);
    expect((await herm.request('POST', `/v1/deployments/${id}/runs/${asking.body.run_id}/cancel`)).status).toBe(200);
    const settled = await scrapeUntil('everything settled', (scraped) =>
      scraped.value('herm_sandbox_commands_active', { backend: 'bubblewrap' }) === 0 &&
      scraped.value('herm_runs_active') === 0 &&
      scraped.value('herm_queue_depth', { queue: 'steering_pending' }) === 0 &&
      scraped.value('herm_queue_depth', { queue: 'runs_queued' }) === 0
        ? scraped
        : undefined,
    );
    expect(settled.value('herm_sandboxes_active', { backend: 'bubblewrap' })).toBe(0);
    expect(settled.value('herm_runs_total', { status: 'error', error_type: 'cancelled', trigger: 'message' })).toBe(cancelledBefore + 2);
    await waitFor('the queued run ended', async () => {
      const run = await herm.request('GET', `/v1/deployments/${id}/runs/${queued.body.run_id}`);
      return run.body.status === 'completed' ? true : undefined;
    });

    stream.close();
    await scrapeUntil('the SSE client gone', (scraped) => (scraped.value('herm_sse_clients') === 0 ? true : undefined));
  });
});

const postgresAvailable = (await postgresBaseUrl()) !== undefined;
if (!postgresAvailable) console.warn(POSTGRES_SKIP_MESSAGE);

describe.skipIf(!postgresAvailable)('GET /metrics on PostgreSQL', () => {
  let cluster: PostgresNodes;
  let nodeA: TestServer;
  let nodeB: TestServer;

  beforeAll(async () => {
    cluster = await startPostgresNodes({ env: { HERM_ADMIN_KEY: 'herm_sk_metrics_two_nodes_key_1' } });
    [nodeA, nodeB] = cluster.nodes;
  });

  afterAll(async () => {
    await cluster?.close();
  });

  it("measures the event-log lag of the events another node's run committed, and each node counts only its own runs", async () => {
    const deployment = await nodeA.createDeployment({ features: { memory: false } });
    const stream = await openSse(deployment.events.url.replace(nodeA.url, nodeB.url), nodeB.adminKey);
    const run = await nodeA.sendAndWait(deployment.deployment_id);
    expect(run.status).toBe('completed');
    await stream.waitFor((event) => event.type === 'run_status' && event.data.status === 'completed');

    const onB = await scrapeMetrics(nodeB.url, nodeB.adminKey);
    const lag = onB.histogram('herm_event_relay_lag_seconds');
    expect(lag!.count).toBeGreaterThan(0);
    expect(lag!.sum).toBeGreaterThanOrEqual(0);
    expect(onB.total('herm_runs_total')).toBe(0);
    const onA = await scrapeMetrics(nodeA.url, nodeA.adminKey);
    expect(onA.value('herm_runs_total', { status: 'completed', error_type: '', trigger: 'message' })).toBe(1);
    // Nothing of A's own events is relayed back to it.
    expect(onA.histogram('herm_event_relay_lag_seconds')?.count ?? 0).toBe(0);
    // The queue depths are read from PostgreSQL too (the fleet's queues: the same on both nodes).
    for (const scraped of [onA, onB]) {
      for (const queue of ['runs_unclaimed', 'runs_queued', 'steering_pending', 'webhook_deliveries_pending']) expect(scraped.value('herm_queue_depth', { queue }), queue).toBe(0);
    }
    stream.close();
  });
});
