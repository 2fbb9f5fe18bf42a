// The reference examples of /v1/accounts, /v1/keys and /v1/audit_log (merged into examples.ts's OPERATION_EXAMPLES).
export const ACCOUNT_ID_EXAMPLE = 'acct_5Wq2Nc';
export const KEY_ID_EXAMPLE = 'key_8Hn3Vz';

const AT = '2026-06-20T23:28:02.773Z';
const quotas = { deployments: 0, concurrent_runs: 0, runs_per_minute: 0, requests_per_second: 0, sse_streams: 0, workspace_bytes: 0 };
const account = { account_id: ACCOUNT_ID_EXAMPLE, name: 'Acme', created_at: AT, quotas };
const key = {
  key_id: KEY_ID_EXAMPLE,
  account_id: ACCOUNT_ID_EXAMPLE,
  name: 'acme-backend',
  scopes: ['deployments:read', 'deployments:write'],
  key_hint: 'herm_sk_…9fQ2',
  status: 'active',
  created_at: AT,
  last_used_at: null,
  revoked_at: null,
};
const entry = {
  entry_id: 'aud_3Rt6Yh',
  action: 'key.created',
  actor: { type: 'api_key', key_id: 'key_first_start', account_id: 'acct_default' },
  target: { type: 'api_key', id: KEY_ID_EXAMPLE, account_id: ACCOUNT_ID_EXAMPLE },
  request_id: 'req_8fK2mQ4xT9bL1vN6sP0a',
  summary: { name: 'acme-backend', scopes: ['deployments:read', 'deployments:write'], key_hint: 'herm_sk_…9fQ2' },
  created_at: AT,
};

export const ACCOUNT_EXAMPLES = {
  'POST /v1/accounts': {
    body: { name: 'Acme' },
    sdk: `const account = await herm.accounts.create({ name: 'Acme' });`,
    response: account,
  },
  'GET /v1/accounts': {
    query: 'limit=20',
    sdk: `for await (const account of herm.accounts.list()) console.log(account.account_id, account.name);`,
    response: { data: [account], next_cursor: null },
  },
  'GET /v1/accounts/{account_id}': {
    sdk: `const account = await herm.accounts.get('${ACCOUNT_ID_EXAMPLE}');`,
    response: account,
  },
  'PATCH /v1/accounts/{account_id}': {
    body: { name: 'Acme Inc.', quotas: { deployments: 25, requests_per_second: 20 } },
    sdk: `const account = await herm.accounts.update('${ACCOUNT_ID_EXAMPLE}', { name: 'Acme Inc.', quotas: { deployments: 25, requests_per_second: 20 } });`,
    response: { ...account, name: 'Acme Inc.', quotas: { ...quotas, deployments: 25, requests_per_second: 20 } },
  },
  'POST /v1/keys': {
    body: { account_id: ACCOUNT_ID_EXAMPLE, name: 'acme-backend', scopes: ['deployments:read', 'deployments:write'] },
    sdk: `const { key_id, secret } = await herm.keys.create({
  account_id: '${ACCOUNT_ID_EXAMPLE}',
  name: 'acme-backend',
  scopes: ['deployments:read', 'deployments:write'],
}); // secret is shown this once`,
    response: { ...key, secret: 'herm_sk_4kTn…9fQ2' },
  },
  'GET /v1/keys': {
    query: `account_id=${ACCOUNT_ID_EXAMPLE}`,
    sdk: `for await (const key of herm.keys.list({ account_id: '${ACCOUNT_ID_EXAMPLE}' })) console.log(key.key_id, key.status);`,
    response: { data: [key], next_cursor: null },
  },
  'GET /v1/keys/{key_id}': {
    sdk: `const key = await herm.keys.get('${KEY_ID_EXAMPLE}');`,
    response: key,
  },
  'POST /v1/keys/{key_id}/revoke': {
    sdk: `await herm.keys.revoke('${KEY_ID_EXAMPLE}');`,
    response: { ...key, status: 'revoked', revoked_at: '2026-06-21T08:02:11.400Z' },
  },
  'GET /v1/audit_log': {
    query: 'action=key.created&limit=20',
    sdk: `for await (const entry of herm.auditLog.list({ action: 'key.created' })) console.log(entry.created_at, entry.action, entry.target.id);`,
    response: { data: [entry], next_cursor: null },
  },
};
