// Accounts and keys through the API (/v1/accounts, /v1/keys) with the admin scope, and the audit log that records
// each action: a key issued for a new account works only in that account, a revoked key is refused at its next
// request (on another node too, on PostgreSQL), a key without admin gets 403 naming the scope, no secret ever
// reaches a list, the log or the idempotency store, and bad input is a 400 naming the field. Real servers, real
// databases, the herm SDK.
import Herm, { AuthenticationError, PermissionDeniedError } from 'herm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresBaseUrl, POSTGRES_SKIP_MESSAGE } from '../support/databases.ts';
import { startPostgresNodes, type PostgresNodes } from '../support/postgres-nodes.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

let herm: TestServer;

beforeAll(async () => {
  herm = await startTestServer();
});

afterAll(async () => {
  await herm?.close();
});

/** The admin key's id (HERM_ADMIN_KEY). */
async function adminKeyId(): Promise<string> {
  const key = await herm.server.services.store.accounts.findKeyBySecret(herm.adminKey);
  return key!.id;
}

describe('accounts and keys through the API', () => {
  it('creates an account and a key that works only in its account; revoking it refuses its next request', async () => {
    const adminDeployment = await herm.createDeployment();

    const account = await herm.request('POST', '/v1/accounts', { name: 'Acme' });
    expect(account.status).toBe(201);
    expect(account.body).toMatchObject({ account_id: expect.stringMatching(/^acct_/), name: 'Acme', created_at: expect.any(String) });
    const accountId: string = account.body.account_id;

    const created = await herm.request('POST', '/v1/keys', { account_id: accountId, name: 'acme-backend', scopes: ['deployments:read', 'deployments:write'] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ account_id: accountId, name: 'acme-backend', scopes: ['deployments:read', 'deployments:write'], status: 'active', revoked_at: null });
    const { key_id: keyId, secret } = created.body;
    expect(keyId).toMatch(/^key_/);
    expect(secret).toMatch(/^herm_sk_/);
    expect(created.body.key_hint).toBe(`${secret.slice(0, 8)}…${secret.slice(-4)}`);

    // The key works in its own account …
    const own = await herm.request('POST', '/v1/deployments', { customer_id: 'cus_acme', name: 'Acme agent', system_prompt: 'Hi.', model: 'openai-compatible/scripted-model' }, secret);
    expect(own.status).toBe(201);
    const listed = await herm.request('GET', '/v1/deployments', undefined, secret);
    expect(listed.body.data.map((deployment: any) => deployment.deployment_id)).toEqual([own.body.deployment_id]);
    // … and never sees another account's deployment, nor the administration.
    expect((await herm.request('GET', `/v1/deployments/${adminDeployment.deployment_id}`, undefined, secret)).status).toBe(404);
    for (const [method, path] of [['GET', '/v1/accounts'], ['GET', `/v1/accounts/${accountId}`], ['GET', '/v1/keys'], ['GET', '/v1/audit_log'], ['POST', '/v1/keys/' + keyId + '/revoke']] as const) {
      const refused = await herm.request(method, path, undefined, secret);
      expect(refused.status, `${method} ${path}`).toBe(403);
      expect(refused.body.error.type).toBe('forbidden');
      expect(refused.body.error.message).toContain('admin');
    }
    const escalation = await herm.request('POST', '/v1/keys', { account_id: accountId, scopes: ['admin'] }, secret);
    expect(escalation.status).toBe(403);

    // The admin key acts across accounts.
    const keys = await herm.request('GET', `/v1/keys?account_id=${accountId}`);
    expect(keys.status).toBe(200);
    expect(keys.body.data.map((key: any) => key.key_id)).toEqual([keyId]);
    expect((await herm.request('GET', `/v1/keys/${keyId}`)).body).toMatchObject({ key_id: keyId, account_id: accountId, status: 'active' });

    const revoked = await herm.request('POST', `/v1/keys/${keyId}/revoke`);
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ key_id: keyId, status: 'revoked', revoked_at: expect.any(String) });
    const refused = await herm.request('GET', '/v1/deployments', undefined, secret);
    expect(refused.status).toBe(401);
    expect(refused.body.error.type).toBe('unauthorized');
    // Revoking it again changes nothing and logs nothing.
    expect((await herm.request('POST', `/v1/keys/${keyId}/revoke`)).body.revoked_at).toBe(revoked.body.revoked_at);
    expect((await herm.request('GET', `/v1/audit_log?target_id=${keyId}&action=key.revoked`)).body.data).toHaveLength(1);
  });

  it('never shows a secret or hash outside the creation response, and keeps idempotent replays encrypted', async () => {
    const idempotencyKey = `idem-${Date.now()}`;
    const send = () =>
      fetch(`${herm.url}/v1/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${herm.adminKey}`, 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
        body: JSON.stringify({ name: 'replayed', scopes: ['deployments:read'] }),
      });
    const first = await send();
    const created: any = await first.json();
    expect(first.status).toBe(201);
    const replay = await send();
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(((await replay.json()) as any).secret).toBe(created.secret);
    const stored = await herm.server.services.store.db.selectFrom('idempotency_keys').select('response_body').where('key', '=', idempotencyKey).executeTakeFirstOrThrow();
    expect(stored.response_body).toMatch(/^enc:/);
    expect(stored.response_body).not.toContain(created.secret);

    const hash = (await herm.server.services.store.accounts.getKey(created.key_id))!.key_hash;
    for (const path of ['/v1/keys?limit=100', `/v1/keys/${created.key_id}`, '/v1/audit_log?limit=100']) {
      const text = JSON.stringify((await herm.request('GET', path)).body);
      expect(text, path).not.toContain(created.secret);
      expect(text, path).not.toContain(hash);
      expect(text, path).not.toContain(herm.adminKey);
    }
  });

  it('records every action in the audit log: who, what, when, which request, a redacted summary', async () => {
    const actor = await adminKeyId();
    const account = await herm.request('POST', '/v1/accounts', { name: 'Globex' });
    const renamed = await herm.request('PATCH', `/v1/accounts/${account.body.account_id}`, { name: 'Globex Corp' });
    expect(renamed.status).toBe(200);
    expect(renamed.body.name).toBe('Globex Corp');
    expect((await herm.request('GET', `/v1/accounts/${account.body.account_id}`)).body.name).toBe('Globex Corp');
    const key = await herm.request('POST', '/v1/keys', { account_id: account.body.account_id, name: 'globex', scopes: ['deployments:read'] });
    const revoked = await herm.request('POST', `/v1/keys/${key.body.key_id}/revoke`);

    const log = await herm.request('GET', `/v1/audit_log?account_id=${account.body.account_id}`);
    expect(log.status).toBe(200);
    const expectedActor = { type: 'api_key', key_id: actor, account_id: 'acct_default' };
    expect(log.body.data).toEqual([
      {
        entry_id: expect.stringMatching(/^aud_/),
        action: 'key.revoked',
        actor: expectedActor,
        target: { type: 'api_key', id: key.body.key_id, account_id: account.body.account_id },
        request_id: revoked.headers.get('x-request-id'),
        summary: { name: 'globex', scopes: ['deployments:read'], key_hint: key.body.key_hint },
        created_at: expect.any(String),
      },
      {
        entry_id: expect.stringMatching(/^aud_/),
        action: 'key.created',
        actor: expectedActor,
        target: { type: 'api_key', id: key.body.key_id, account_id: account.body.account_id },
        request_id: key.headers.get('x-request-id'),
        summary: { name: 'globex', scopes: ['deployments:read'], key_hint: key.body.key_hint },
        created_at: expect.any(String),
      },
      {
        entry_id: expect.stringMatching(/^aud_/),
        action: 'account.updated',
        actor: expectedActor,
        target: { type: 'account', id: account.body.account_id, account_id: account.body.account_id },
        request_id: renamed.headers.get('x-request-id'),
        summary: { name: { from: 'Globex', to: 'Globex Corp' } },
        created_at: expect.any(String),
      },
      {
        entry_id: expect.stringMatching(/^aud_/),
        action: 'account.created',
        actor: expectedActor,
        target: { type: 'account', id: account.body.account_id, account_id: account.body.account_id },
        request_id: account.headers.get('x-request-id'),
        summary: { name: 'Globex' },
        created_at: expect.any(String),
      },
    ]);
    expect(JSON.stringify(log.body)).not.toContain(key.body.secret);

    // Filters and pages.
    const created = await herm.request('GET', `/v1/audit_log?action=account.created&target_id=${account.body.account_id}`);
    expect(created.body.data.map((entry: any) => entry.action)).toEqual(['account.created']);
    const first = await herm.request('GET', `/v1/audit_log?account_id=${account.body.account_id}&limit=3`);
    expect(first.body.data).toHaveLength(3);
    const second = await herm.request('GET', `/v1/audit_log?account_id=${account.body.account_id}&limit=3&cursor=${first.body.next_cursor}`);
    expect(second.body.data.map((entry: any) => entry.action)).toEqual(['account.created']);
    expect(second.body.next_cursor).toBeNull();
  });

  it('answers bad input with a 400 naming the field, and unknown ids with a 404 naming the parameter', async () => {
    const cases: [string, string, unknown, string][] = [
      ['POST', '/v1/accounts', {}, 'name'],
      ['POST', '/v1/accounts', { name: '   ' }, 'name'],
      ['POST', '/v1/accounts', { name: 'x', colour: 'red' }, 'colour'],
      ['PATCH', '/v1/accounts/acct_default', { name: 7 }, 'name'],
      ['POST', '/v1/keys', { name: 'k' }, 'scopes'],
      ['POST', '/v1/keys', { scopes: [] }, 'scopes'],
      ['POST', '/v1/keys', { scopes: ['deployments:read', 'root'] }, 'scopes.1'],
      ['POST', '/v1/keys', { scopes: ['admin'], account_id: 'dep_123' }, 'account_id'],
      ['GET', '/v1/keys?account_id=nope', undefined, 'account_id'],
      ['GET', '/v1/keys/not-a-key', undefined, 'key_id'],
      ['GET', '/v1/audit_log?action=key.deleted', undefined, 'action'],
      ['GET', '/v1/audit_log?limit=0', undefined, 'limit'],
      ['GET', '/v1/audit_log?cursor=garbage', undefined, 'cursor'],
    ];
    for (const [method, path, body, param] of cases) {
      const response = await herm.request(method, path, body);
      expect(response.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(400);
      expect(response.body.error.type).toBe('validation_error');
      expect(response.body.error.param, `${method} ${path} ${JSON.stringify(body)}`).toBe(param);
    }
    const missing = await herm.request('POST', '/v1/keys', { account_id: 'acct_missing', scopes: ['deployments:read'] });
    expect(missing.status).toBe(404);
    expect(missing.body.error.param).toBe('account_id');
    expect((await herm.request('GET', '/v1/accounts/acct_missing')).body.error).toMatchObject({ type: 'not_found', param: 'account_id' });
    expect((await herm.request('PATCH', '/v1/accounts/acct_missing', { name: 'x' })).status).toBe(404);
    expect((await herm.request('POST', '/v1/keys/key_missing/revoke')).body.error).toMatchObject({ type: 'not_found', param: 'key_id' });
    expect((await herm.request('GET', '/v1/accounts', undefined, null)).status).toBe(401);
  });

  it('serves the SDK: herm.accounts, herm.keys, herm.auditLog', async () => {
    const admin = new Herm({ apiKey: herm.adminKey, baseURL: herm.url });
    const account = await admin.accounts.create({ name: 'Initech' });
    expect((await admin.accounts.get(account.account_id)).name).toBe('Initech');
    expect((await admin.accounts.update(account.account_id, { name: 'Initech LLC' })).name).toBe('Initech LLC');
    const ids: string[] = [];
    for await (const listed of admin.accounts.list({ limit: 2 })) ids.push(listed.account_id);
    expect(ids).toContain(account.account_id);
    expect(ids).toContain('acct_default');

    const key = await admin.keys.create({ account_id: account.account_id, name: 'initech', scopes: ['deployments:read'] });
    expect(key.secret).toMatch(/^herm_sk_/);
    const tenant = new Herm({ apiKey: key.secret, baseURL: herm.url, maxRetries: 0 });
    expect((await tenant.deployments.list()).data).toEqual([]);
    await expect(tenant.accounts.list()).rejects.toBeInstanceOf(PermissionDeniedError);
    await expect(tenant.keys.create({ scopes: ['admin'] })).rejects.toBeInstanceOf(PermissionDeniedError);

    const keys = await admin.keys.list({ account_id: account.account_id });
    expect(keys.data.map((listed) => listed.key_id)).toEqual([key.key_id]);
    expect(keys.data[0]).not.toHaveProperty('secret');
    expect((await admin.keys.get(key.key_id)).status).toBe('active');
    expect((await admin.keys.revoke(key.key_id)).status).toBe('revoked');
    await expect(tenant.deployments.list()).rejects.toBeInstanceOf(AuthenticationError);

    const actions: string[] = [];
    for await (const entry of admin.auditLog.list({ account_id: account.account_id })) actions.push(entry.action);
    expect(actions).toEqual(['key.revoked', 'key.created', 'account.updated', 'account.created']);
    expect((await admin.auditLog.list({ action: 'key.revoked', target_id: key.key_id })).data).toHaveLength(1);
  });
});

const postgresAvailable = (await postgresBaseUrl()) !== undefined;
if (!postgresAvailable) console.warn(POSTGRES_SKIP_MESSAGE);

describe.skipIf(!postgresAvailable)('revocation through the API on two PostgreSQL nodes', () => {
  let cluster: PostgresNodes;
  let nodeA: TestServer;
  let nodeB: TestServer;

  beforeAll(async () => {
    cluster = await startPostgresNodes({ env: { HERM_ADMIN_KEY: 'herm_sk_accounts_two_nodes_key_1' } });
    [nodeA, nodeB] = cluster.nodes;
  });

  afterAll(async () => {
    await cluster?.close();
  });

  it('a key created on one node works on the other, and revoked on one is refused on the other', async () => {
    const account = await nodeA.request('POST', '/v1/accounts', { name: 'Two nodes' });
    const key = await nodeA.request('POST', '/v1/keys', { account_id: account.body.account_id, scopes: ['deployments:read'] });
    // Node B looks it up (and caches it) before the revocation.
    expect((await nodeB.request('GET', '/v1/deployments', undefined, key.body.secret)).status).toBe(200);
    expect((await nodeA.request('POST', `/v1/keys/${key.body.key_id}/revoke`)).status).toBe(200);
    const deadline = Date.now() + 2_000;
    let status = 200;
    while (status !== 401 && Date.now() < deadline) {
      status = (await nodeB.request('GET', '/v1/deployments', undefined, key.body.secret)).status;
      if (status !== 401) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(status).toBe(401);
    const log = await nodeB.request('GET', `/v1/audit_log?target_id=${key.body.key_id}`);
    expect(log.body.data.map((entry: any) => entry.action)).toEqual(['key.revoked', 'key.created']);
  });
});
