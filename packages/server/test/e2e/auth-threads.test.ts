// Keys, scopes, accounts; threads; provisioning; OpenAPI — over real HTTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/test-server.ts';

let herm: TestServer;

beforeAll(async () => {
  herm = await startTestServer();
});

afterAll(async () => {
  await herm?.close();
});

async function createKey(scopes: string[], accountName?: string) {
  const accounts = herm.server.services.store.accounts;
  const accountId = accountName ? (await accounts.createAccount(accountName)).id : 'acct_default';
  return (await accounts.createKey({ accountId, scopes })).secret;
}

describe('authentication and scopes', () => {
  it('answers 401 without a key, with a malformed header, with an unknown or a revoked key', async () => {
    const missing = await herm.request('GET', '/v1/deployments', undefined, null);
    expect(missing.status).toBe(401);
    expect(missing.body.error).toMatchObject({ type: 'unauthorized' });
    const malformed = await fetch(`${herm.url}/v1/deployments`, { headers: { authorization: 'Token abc' } });
    expect(malformed.status).toBe(401);
    expect((await herm.request('GET', '/v1/deployments', undefined, 'herm_sk_unknown')).status).toBe(401);
    const accounts = herm.server.services.store.accounts;
    const { key, secret } = await accounts.createKey({ accountId: 'acct_default', scopes: ['deployments:read'] });
    expect((await herm.request('GET', '/v1/deployments', undefined, secret)).status).toBe(200);
    await accounts.revokeKey(key.id);
    herm.server.services.keys.forget();
    expect((await herm.request('GET', '/v1/deployments', undefined, secret)).status).toBe(401);
  });

  it('enforces deployments:read and deployments:write', async () => {
    const reader = await createKey(['deployments:read']);
    const writer = await createKey(['deployments:write']);
    const deployment = await herm.createDeployment();
    expect((await herm.request('GET', `/v1/deployments/${deployment.deployment_id}`, undefined, reader)).status).toBe(200);
    const forbidden = await herm.request('POST', `/v1/deployments/${deployment.deployment_id}/messages`, { content: 'hi' }, reader);
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error).toMatchObject({ type: 'forbidden' });
    expect(forbidden.body.error.message).toContain('deployments:write');
    expect((await herm.request('PATCH', `/v1/deployments/${deployment.deployment_id}`, { name: 'x' }, reader)).status).toBe(403);
    expect((await herm.request('GET', `/v1/deployments/${deployment.deployment_id}/events`, undefined, writer)).status).toBe(403);
    expect((await herm.request('GET', '/v1/deployments', undefined, writer)).status).toBe(403);
    const created = await herm.request('POST', '/v1/deployments', { customer_id: 'c', name: 'n', system_prompt: 'p', model: 'openai-compatible/x' }, writer);
    expect(created.status).toBe(201);
  });

  it("hides another account's deployments behind 404", async () => {
    const stranger = await createKey(['deployments:read', 'deployments:write'], 'Other team');
    const deployment = await herm.createDeployment();
    for (const [method, path, body] of [
      ['GET', `/v1/deployments/${deployment.deployment_id}`, undefined],
      ['PATCH', `/v1/deployments/${deployment.deployment_id}`, { name: 'stolen' }],
      ['DELETE', `/v1/deployments/${deployment.deployment_id}`, undefined],
      ['POST', `/v1/deployments/${deployment.deployment_id}/messages`, { content: 'hi' }],
      ['GET', `/v1/deployments/${deployment.deployment_id}/events`, undefined],
      ['GET', `/v1/deployments/${deployment.deployment_id}/threads/${deployment.thread_id}`, undefined],
    ] as const) {
      const response = await herm.request(method, path, body, stranger);
      expect(response.status, `${method} ${path}`).toBe(404);
    }
    const list = await herm.request('GET', '/v1/deployments?limit=100', undefined, stranger);
    expect(list.body.data).toEqual([]);
    const secret = await herm.request('POST', '/v1/secrets', { name: 'mine', value: 'mine-value' });
    const borrowed = await herm.request(
      'POST',
      '/v1/deployments',
      { customer_id: 'c', name: 'n', system_prompt: 'p', secrets: { X: secret.body.secret_id } },
      stranger,
    );
    expect(borrowed.status).toBe(422);
    expect(borrowed.body.error.type).toBe('invalid_secret_ref');
  });
});

describe('threads', () => {
  it('creates, lists, gets, renames and deletes threads; the default thread stays', async () => {
    const deployment = await herm.createDeployment();
    const base = `/v1/deployments/${deployment.deployment_id}/threads`;
    const created = await herm.request('POST', base, { title: 'Holiday campaign' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ deployment_id: deployment.deployment_id, title: 'Holiday campaign', status: 'idle', message_count: 0 });
    expect(created.body.created_at).toMatch(/Z$/);
    const untitled = await herm.request('POST', base);
    expect(untitled.status).toBe(201);
    expect(untitled.body.title).toBeNull();
    const list = await herm.request('GET', `${base}?limit=2`);
    expect(list.body.data.map((t: any) => t.thread_id)).toEqual([untitled.body.thread_id, created.body.thread_id]);
    const rest = await herm.request('GET', `${base}?limit=2&cursor=${list.body.next_cursor}`);
    expect(rest.body.data.map((t: any) => t.thread_id)).toEqual([deployment.thread_id]);
    expect(rest.body.data[0]).toMatchObject({ title: 'Default', status: 'idle' });
    const renamed = await herm.request('PATCH', `${base}/${created.body.thread_id}`, { title: 'Spring campaign' });
    expect(renamed.body.title).toBe('Spring campaign');
    const fetched = await herm.request('GET', `${base}/${created.body.thread_id}`);
    expect(fetched.body).toMatchObject({ title: 'Spring campaign', messages: [] });
    expect((await herm.request('PATCH', `${base}/${created.body.thread_id}`, { name: 'x' })).body.error.param).toBe('name');
    expect((await herm.request('DELETE', `${base}/${created.body.thread_id}`)).body).toEqual({ thread_id: created.body.thread_id, deleted: true });
    expect((await herm.request('GET', `${base}/${created.body.thread_id}`)).status).toBe(404);
    const keepDefault = await herm.request('DELETE', `${base}/${deployment.thread_id}`);
    expect(keepDefault.status).toBe(400);
    expect(keepDefault.body.error.param).toBe('thread_id');
  });
});

describe('provisioning', () => {
  it('answers 409 deployment_not_ready while a deployment provisions, then accepts messages', async () => {
    const slow = await startTestServer({ env: { HERM_PROVISION_DELAY_MS: '1500', HERM_PROVISION_WAIT_MS: '0' } });
    try {
      const deployment = await slow.createDeployment();
      expect(deployment.status).toBe('provisioning');
      const early = await slow.request('POST', `/v1/deployments/${deployment.deployment_id}/messages`, { content: 'hi' });
      expect(early.status).toBe(409);
      expect(early.body.error.type).toBe('deployment_not_ready');
      const listed = await slow.request('GET', '/v1/deployments?status=provisioning');
      expect(listed.body.data.map((d: any) => d.deployment_id)).toContain(deployment.deployment_id);
      let status = deployment.status;
      const deadline = Date.now() + 10_000;
      while (status !== 'ready' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        status = (await slow.request('GET', `/v1/deployments/${deployment.deployment_id}`)).body.status;
      }
      expect(status).toBe('ready');
      expect((await slow.request('POST', `/v1/deployments/${deployment.deployment_id}/messages`, { content: 'hi' })).status).toBe(202);
    } finally {
      await slow.close();
    }
  });
});

describe('OpenAPI', () => {
  it('serves an OpenAPI 3.1 document and a browsable reference page without a key', async () => {
    const document = await herm.request('GET', '/v1/openapi.json', undefined, null);
    expect(document.status).toBe(200);
    expect(document.body.openapi).toBe('3.1.0');
    for (const path of [
      '/v1/deployments',
      '/v1/deployments/{deployment_id}',
      '/v1/deployments/{deployment_id}/messages',
      '/v1/deployments/{deployment_id}/events',
      '/v1/deployments/{deployment_id}/threads/{thread_id}',
      '/v1/deployments/{deployment_id}/runs/{run_id}/cancel',
    ]) {
      expect(document.body.paths, path).toHaveProperty([path]);
    }
    expect(document.body.components.schemas.CreateDeploymentRequest.required).toEqual(
      expect.arrayContaining(['customer_id', 'name', 'system_prompt']),
    );
    const page = await fetch(`${herm.url}/v1/docs`);
    expect(page.headers.get('content-type')).toContain('text/html');
    const html = await page.text();
    expect(html).toContain('/v1/deployments/{deployment_id}/messages');
    expect(html).toContain('CreateDeploymentRequest');
  });
});

describe('idempotency', () => {
  it('replays the first response for a retried POST with the same Idempotency-Key, and starts one run', async () => {
    const deployment = await herm.createDeployment();
    const post = (key: string, body: unknown) =>
      fetch(`${herm.url}/v1/deployments/${deployment.deployment_id}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${herm.adminKey}`, 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify(body),
      });
    const first = await post('send-1', { content: 'hello once' });
    const retry = await post('send-1', { content: 'hello once' });
    expect(first.status).toBe(202);
    expect(retry.status).toBe(202);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await retry.json()).toEqual(await first.json());
    const misuse = await post('send-1', { content: 'something else' });
    expect(misuse.status).toBe(400);
    expect(((await misuse.json()) as any).error.param).toBe('Idempotency-Key');
    const runs = await herm.request('GET', `/v1/deployments/${deployment.deployment_id}/runs`);
    expect(runs.body.data).toHaveLength(1);
    const thread = await herm.request('GET', `/v1/deployments/${deployment.deployment_id}/threads/${deployment.thread_id}`);
    expect(thread.body.messages.filter((message: any) => message.role === 'user')).toHaveLength(1);
  });

  it('applies to creating deployments too, so a retried create makes one deployment', async () => {
    const body = JSON.stringify({ customer_id: `cus_idem_${Date.now()}`, name: 'n', system_prompt: 'p', model: 'openai-compatible/m' });
    const key = `create-${Date.now()}`;
    const send = () =>
      fetch(`${herm.url}/v1/deployments`, {
        method: 'POST',
        headers: { authorization: `Bearer ${herm.adminKey}`, 'content-type': 'application/json', 'idempotency-key': key },
        body,
      });
    const first = (await (await send()).json()) as any;
    const second = (await (await send()).json()) as any;
    expect(first.deployment_id).toMatch(/^dep_/);
    expect(second.deployment_id).toBe(first.deployment_id);
    const list = await herm.request('GET', `/v1/deployments?customer_id=${JSON.parse(body).customer_id}`);
    expect(list.body.data).toHaveLength(1);
    for (const path of ['/v1/deployments', '/v1/secrets']) expect((await herm.request('GET', path, undefined, null)).status, path).toBe(401);
  });

  it('tells clients when to retry a deployment that is not ready', async () => {
    const slow = await startTestServer({ env: { HERM_PROVISION_DELAY_MS: '1000', HERM_PROVISION_WAIT_MS: '0' } });
    try {
      const deployment = await slow.createDeployment();
      const early = await slow.request('POST', `/v1/deployments/${deployment.deployment_id}/messages`, { content: 'hi' });
      expect(early.status).toBe(409);
      expect(early.headers.get('retry-after')).toBe('1');
    } finally {
      await slow.close();
    }
  });
});
