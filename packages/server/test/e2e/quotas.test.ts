// Per-account quotas and rate limits (issue 15, item 1) on a real server: each quota refused with its code and the
// quota named (param), 429s with Retry-After and the RateLimit-* headers, per-account overrides through
// PATCH /v1/accounts/:id, a scheduled automation firing past a quota skipped and recorded, the SDK waiting out a
// 429's Retry-After, and a fresh server (no quota configured) refusing none of it.
import Herm from 'herm';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createWorkspaceQuotas } from '../../src/sandbox/limits/workspace-quotas.ts';
import { DEFAULT_ACCOUNT_ID } from '../../src/store/accounts.ts';
import { openSse, type OpenSse } from '../support/sse-client.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

vi.setConfig({ testTimeout: 30_000 });

const diskQuotasUnavailable = (await createWorkspaceQuotas().unavailableReason()) ?? null;
if (diskQuotasUnavailable) console.warn(`quota tests: workspace_bytes within the quota skipped: ${diskQuotasUnavailable}`);

/** What a rate's 429 carries: the quota named, when to retry, and the draft's headers. */
function expectRateLimited(response: { status: number; body: any; headers: Headers }, quota: string, limit: number): void {
  expect(response.status).toBe(429);
  expect(response.body.error).toMatchObject({ type: 'rate_limited', param: `quotas.${quota}` });
  expect(response.body.error.message).toContain(quota);
  const retryAfter = Number(response.headers.get('retry-after'));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(response.headers.get('ratelimit-limit')).toBe(String(limit));
  expect(response.headers.get('ratelimit-remaining')).toBe('0');
  expect(response.headers.get('ratelimit-reset')).toBe(String(retryAfter));
}

async function waitForRun(herm: TestServer, deploymentId: string, runId: string, key?: string): Promise<any> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const run = await herm.request('GET', `/v1/deployments/${deploymentId}/runs/${runId}`, undefined, key);
    if (run.body.status === 'completed' || run.body.status === 'error') return run.body;
    if (Date.now() > deadline) throw new Error(`run ${runId} did not end: ${JSON.stringify(run.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('a fresh server (no quota configured)', () => {
  let herm: TestServer;
  beforeAll(async () => {
    herm = await startTestServer();
  });
  afterAll(async () => {
    await herm?.close();
  });

  it('limits nothing: no 429, no RateLimit headers, every quota of an account 0', async () => {
    const responses = await Promise.all(Array.from({ length: 40 }, () => herm.request('GET', '/v1/deployments?limit=1')));
    expect(responses.map((response) => response.status)).toEqual(Array(40).fill(200));
    expect(responses.some((response) => response.headers.has('ratelimit-limit'))).toBe(false);
    const deployments = await Promise.all([herm.createDeployment(), herm.createDeployment(), herm.createDeployment()]);
    expect(deployments).toHaveLength(3);
    const streams: OpenSse[] = [];
    try {
      for (let index = 0; index < 3; index++) streams.push(await openSse(`${herm.url}/v1/deployments/${deployments[0].deployment_id}/events`, herm.adminKey));
      expect(streams.map((stream) => stream.status)).toEqual([200, 200, 200]);
    } finally {
      for (const stream of streams) stream.close();
    }
    const account = await herm.request('GET', `/v1/accounts/${DEFAULT_ACCOUNT_ID}`);
    expect(account.status).toBe(200);
    expect(account.body.quotas).toEqual({ deployments: 0, concurrent_runs: 0, runs_per_minute: 0, requests_per_second: 0, sse_streams: 0, workspace_bytes: 0 });
  });
});

describe('server defaults', () => {
  let herm: TestServer;
  beforeAll(async () => {
    herm = await startTestServer({
      env: { HERM_QUOTA_DEPLOYMENTS: '2', HERM_QUOTA_SSE_STREAMS: '1', HERM_QUOTA_RUNS_PER_MINUTE: '2' },
    });
  });
  afterAll(async () => {
    await herm?.close();
  });

  it('deployments: a 409 conflict naming quotas.deployments past the limit; deleting one makes room', async () => {
    const first = await herm.createDeployment();
    const second = await herm.createDeployment();
    const third = await herm.request('POST', '/v1/deployments', { customer_id: 'cus_3', name: 'Third', model: 'openai-compatible/scripted-model', system_prompt: 'x' });
    expect(third.status).toBe(409);
    expect(third.body.error).toMatchObject({ type: 'conflict', param: 'quotas.deployments' });
    expect(third.body.error.message).toContain('quota deployments');
    expect(third.headers.get('retry-after')).toBeNull(); // nothing to wait for
    expect((await herm.request('DELETE', `/v1/deployments/${second.deployment_id}`)).status).toBe(200);
    const again = await herm.createDeployment();
    expect(again.deployment_id).toMatch(/^dep_/);
    await herm.request('DELETE', `/v1/deployments/${again.deployment_id}`);
    await herm.request('DELETE', `/v1/deployments/${first.deployment_id}`);
  });

  it('sse_streams: a second stream of the account is a 429; closing the first frees its place', async () => {
    const deployment = await herm.createDeployment();
    const url = `${herm.url}/v1/deployments/${deployment.deployment_id}/events`;
    const first = await openSse(url, herm.adminKey);
    try {
      expect(first.status).toBe(200);
      const second = await fetch(url, { headers: { authorization: `Bearer ${herm.adminKey}` } });
      expectRateLimited({ status: second.status, body: await second.json(), headers: second.headers }, 'sse_streams', 1);
    } finally {
      first.close();
    }
    const deadline = Date.now() + 5_000;
    let third: OpenSse | undefined;
    while (!third) {
      const attempt = await openSse(url, herm.adminKey);
      if (attempt.status === 200) third = attempt;
      else {
        attempt.close();
        if (Date.now() > deadline) throw new Error('the closed stream was never released');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    third.close();
    await herm.request('DELETE', `/v1/deployments/${deployment.deployment_id}`);
  });

  it('runs_per_minute: the third run in a minute is a 429 with Retry-After; a message folded into an active run is not a run', async () => {
    const deployment = await herm.createDeployment();
    const base = `/v1/deployments/${deployment.deployment_id}`;
    await herm.sendAndWait(deployment.deployment_id);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    herm.model.setHandler(async () => {
      await gate;
      return { text: 'done' };
    });
    try {
      const second = await herm.request('POST', `${base}/messages`, { content: 'Two.' });
      expect(second.status).toBe(202);
      // Folded into the active run (the default strategy): no run starts, so no quota applies.
      const folded = await herm.request('POST', `${base}/messages`, { content: 'And this.' });
      expect(folded.status).toBe(202);
      expect(folded.body.run_id).toBe(second.body.run_id);
      const third = await herm.request('POST', `${base}/messages`, { content: 'Three.', thread_id: 'new' });
      expectRateLimited(third, 'runs_per_minute', 2);
      expect(Number(third.headers.get('retry-after'))).toBeLessThanOrEqual(60);
      expect(third.headers.get('ratelimit-policy')).toBe('2;w=60');
    } finally {
      release();
      herm.model.setHandler(undefined);
    }
    await herm.request('DELETE', `/v1/deployments/${deployment.deployment_id}`);
  });
});

describe('per-account overrides', () => {
  let herm: TestServer;
  /** Real time, shifted by `offset`: the automations scheduler reads it. */
  const clock = {
    offset: 0,
    now() {
      return Date.now() + this.offset;
    },
  };
  beforeAll(async () => {
    herm = await startTestServer({ clock });
  });
  afterAll(async () => {
    await herm?.close();
  });
  afterEach(() => herm.model.setHandler(undefined));

  async function newAccount(quotas: Record<string, number | null>): Promise<{ accountId: string; key: string }> {
    const account = await herm.request('POST', '/v1/accounts', { name: 'Tenant' });
    expect(account.status).toBe(201);
    const patched = await herm.request('PATCH', `/v1/accounts/${account.body.account_id}`, { quotas });
    expect(patched.status).toBe(200);
    const key = await herm.request('POST', '/v1/keys', { account_id: account.body.account_id, scopes: ['deployments:read', 'deployments:write'] });
    expect(key.status).toBe(201);
    return { accountId: account.body.account_id, key: key.body.secret };
  }

  it('PATCH /v1/accounts/:id sets quotas over the defaults, null restores one; bad values name the field', async () => {
    const { accountId } = await newAccount({ deployments: 3, sse_streams: 2 });
    const got = await herm.request('GET', `/v1/accounts/${accountId}`);
    expect(got.body.quotas).toEqual({ deployments: 3, concurrent_runs: 0, runs_per_minute: 0, requests_per_second: 0, sse_streams: 2, workspace_bytes: 0 });
    const cleared = await herm.request('PATCH', `/v1/accounts/${accountId}`, { quotas: { deployments: null } });
    expect(cleared.body.quotas).toMatchObject({ deployments: 0, sse_streams: 2 });
    const negative = await herm.request('PATCH', `/v1/accounts/${accountId}`, { quotas: { deployments: -1 } });
    expect(negative.status).toBe(400);
    expect(negative.body.error).toMatchObject({ type: 'validation_error', param: 'quotas.deployments' });
    const unknown = await herm.request('PATCH', `/v1/accounts/${accountId}`, { quotas: { gpus: 1 } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.param).toBe('quotas.gpus');
    const missing = await herm.request('PATCH', '/v1/accounts/acct_missing', { quotas: { deployments: 1 } });
    expect(missing.status).toBe(404);
    const audit = await herm.request('GET', '/v1/audit_log?limit=100');
    expect(audit.body.data.some((entry: any) => entry.target.id === accountId && entry.summary.quotas?.to?.sse_streams === 2)).toBe(true);
  });

  it("workspace_bytes: a 400 naming sandbox.limits.disk_mb when the account's workspaces would reserve more", async () => {
    const { key } = await newAccount({ workspace_bytes: 64 * 1_048_576 });
    const body = { customer_id: 'cus_ws', name: 'Disk', model: 'openai-compatible/scripted-model', system_prompt: 'x' };
    // Refused by the quota before the sandbox is asked whether it can enforce a disk quota at all.
    const tooBig = await herm.request('POST', '/v1/deployments', { ...body, sandbox: { limits: { disk_mb: 65 } } }, key);
    expect(tooBig.status).toBe(400);
    expect(tooBig.body.error).toMatchObject({ type: 'validation_error', param: 'sandbox.limits.disk_mb' });
    expect(tooBig.body.error.message).toContain('quota workspace_bytes');
    // No disk_mb and no HERM_SANDBOX_DISK_MB: the workspace would be unbounded, which the quota cannot allow.
    const unbounded = await herm.request('POST', '/v1/deployments', body, key);
    expect(unbounded.status).toBe(400);
    expect(unbounded.body.error).toMatchObject({ type: 'validation_error', param: 'sandbox.limits.disk_mb' });
    expect(unbounded.body.error.message).toContain('workspace_bytes');
    if (diskQuotasUnavailable) return;
    // Together: 48 MiB reserved leaves 16.
    const held = await herm.request('POST', '/v1/deployments', { ...body, sandbox: { limits: { disk_mb: 48 } } }, key);
    expect(held.status).toBe(201);
    const over = await herm.request('POST', '/v1/deployments', { ...body, sandbox: { limits: { disk_mb: 17 } } }, key);
    expect(over.status).toBe(400);
    expect(over.body.error.message).toContain('at most 16 MiB is left');
    const raise = await herm.request('PATCH', `/v1/deployments/${held.body.deployment_id}`, { sandbox: { limits: { disk_mb: 80 } } }, key);
    expect(raise.status).toBe(400);
    expect(raise.body.error).toMatchObject({ type: 'validation_error', param: 'sandbox.limits.disk_mb' });
    await herm.request('DELETE', `/v1/deployments/${held.body.deployment_id}`, undefined, key);
  });

  it("requests_per_second: a key's token bucket; 429 past it with the draft's headers, other keys unaffected", async () => {
    const { accountId, key } = await newAccount({ requests_per_second: 2 });
    const ok = await herm.request('GET', '/v1/deployments', undefined, key);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('ratelimit-limit')).toBe('2');
    expect(ok.headers.get('ratelimit-policy')).toBe('2;w=1;burst=2');
    const burst = await Promise.all(Array.from({ length: 12 }, () => herm.request('GET', '/v1/deployments', undefined, key)));
    const limited = burst.filter((response) => response.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expectRateLimited(limited[0]!, 'requests_per_second', 2);
    expect(limited[0]!.headers.get('ratelimit-policy')).toBe('2;w=1;burst=2');
    // The admin key (another account, no rate) is not held back by the tenant's bucket.
    const admin = await Promise.all(Array.from({ length: 12 }, () => herm.request('GET', '/v1/deployments')));
    expect(admin.every((response) => response.status === 200)).toBe(true);
    // Lifted: the key is free again once the cached overrides expire (at most 2 s).
    await herm.request('PATCH', `/v1/accounts/${accountId}`, { quotas: { requests_per_second: null } });
    const after = await Promise.all(Array.from({ length: 12 }, () => herm.request('GET', '/v1/deployments', undefined, key)));
    expect(after.every((response) => response.status === 200)).toBe(true);
  });

  it('concurrent_runs: a second active run of the account is a 429; a scheduled automation past it is skipped, a manual trigger refused', async () => {
    const { key } = await newAccount({ concurrent_runs: 1 });
    const create = (name: string) =>
      herm.request('POST', '/v1/deployments', { customer_id: 'cus_c', name, model: 'openai-compatible/scripted-model', system_prompt: 'x' }, key);
    const one = (await create('One')).body;
    const two = (await create('Two')).body;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    herm.model.setHandler(async () => {
      await gate;
      return { text: 'done' };
    });
    const held = await herm.request('POST', `/v1/deployments/${one.deployment_id}/messages`, { content: 'Hold.' }, key);
    expect(held.status).toBe(202);
    try {
      const refused = await herm.request('POST', `/v1/deployments/${two.deployment_id}/messages`, { content: 'Also.' }, key);
      expectRateLimited(refused, 'concurrent_runs', 1);
      // Automations: a manual trigger is refused with the same 429; the agent's schedule is skipped and recorded.
      const automation = await herm.request('POST', `/v1/deployments/${two.deployment_id}/automations`, { name: 'Tick', schedule: '* * * * *', instructions: 'Tick.' }, key);
      expect(automation.status).toBe(201);
      const trigger = await herm.request('POST', `/v1/deployments/${two.deployment_id}/automations/${automation.body.automation_id}/trigger`, undefined, key);
      expectRateLimited(trigger, 'concurrent_runs', 1);
      // A minute on, the automation is due: it fires into the quota.
      await herm.server.services.automationScheduler.tick();
      clock.offset = 61_000;
      await herm.server.services.automationScheduler.tick();
      const after = await herm.request('GET', `/v1/deployments/${two.deployment_id}/automations/${automation.body.automation_id}`, undefined, key);
      expect(after.body.recent_runs[0]).toMatchObject({ status: 'skipped', trigger: 'schedule', skip_reason: 'quota_exceeded', run_id: null });
    } finally {
      release();
    }
    await waitForRun(herm, one.deployment_id, held.body.run_id, key);
    const freed = await herm.request('POST', `/v1/deployments/${two.deployment_id}/messages`, { content: 'Now.' }, key);
    expect(freed.status).toBe(202);
    await waitForRun(herm, two.deployment_id, freed.body.run_id, key);
  });

  it('the SDK retries a message refused by concurrent_runs after its Retry-After, with the same Idempotency-Key, and it goes through', async () => {
    const { key } = await newAccount({ concurrent_runs: 1 });
    const client = new Herm({ apiKey: key, baseURL: herm.url, maxRetries: 3 });
    const one = await client.deployments.create({ customer_id: 'cus_sdk', name: 'One', model: 'openai-compatible/scripted-model', system_prompt: 'x' });
    const two = await client.deployments.create({ customer_id: 'cus_sdk', name: 'Two', model: 'openai-compatible/scripted-model', system_prompt: 'x' });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    herm.model.setHandler(async () => {
      await gate;
      return { text: 'done' };
    });
    const held = await client.deployments.messages.send(one.deployment_id, { content: 'Hold.' });
    // Refused at first (the held run is the account's one); the run ends within the Retry-After (2 s), so the
    // SDK's retry (the same Idempotency-Key: a 429 is not kept as its answer) starts the run.
    setTimeout(release, 500);
    const sent = await client.deployments.messages.send(two.deployment_id, { content: 'Then me.' });
    expect(sent.run_id).toMatch(/^run_/);
    expect(sent.run_id).not.toBe(held.run_id);
    await waitForRun(herm, two.deployment_id, sent.run_id, key);
  });

  it("the SDK waits out a 429's Retry-After and succeeds", async () => {
    const { key } = await newAccount({ requests_per_second: 1 });
    const client = new Herm({ apiKey: key, baseURL: herm.url, maxRetries: 3 });
    const results = await Promise.all([client.deployments.list(), client.deployments.list(), client.deployments.list()]);
    expect(results).toHaveLength(3);
    for (const page of results) expect(page.data).toEqual([]);
  });
});
