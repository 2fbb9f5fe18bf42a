// /v1/accounts, /v1/keys and /v1/audit_log — the operator's administration through the API. Every route takes a key
// with the `admin` scope (mounted behind requireScope('admin') in app.ts): such a key acts across accounts, and a
// key without it gets 403 forbidden naming the scope, so a tenant's key never sees another account. Each action
// lands in the audit log in its own transaction (accounts/account-administration.ts).
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { AccountAdministration, type Actor } from '../accounts/account-administration.ts';
import type { AccountRecord, ApiKeyRecord } from '../store/accounts.ts';
import { AUDIT_ACTIONS, type AuditLogRecord } from '../store/audit-log.ts';
import { toIso } from '../util/time.ts';
import { QUOTA_DESCRIPTIONS, QUOTA_ENV, QUOTA_NAMES, QuotaOverridesPatch, type QuotaName, type Quotas } from '../quotas/quota-settings.ts';
import { notFound } from './api-error.ts';
import type { AppEnv } from './app-env.ts';
import { SCOPES } from './auth.ts';
import { bearerSecurity, errorResponses, json, jsonBody } from './route-helpers.ts';
import { cursorQuery, idParam, limitQuery } from './schemas.ts';

const Name = z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters');

/** The account's quotas in force: its overrides, else the server's defaults. */
const AccountQuotas = z
  .object(
    Object.fromEntries(QUOTA_NAMES.map((name) => [name, z.number().int().describe(`${QUOTA_DESCRIPTIONS[name]} (default ${QUOTA_ENV[name]}); 0: no limit`)])) as Record<
      QuotaName,
      z.ZodNumber
    >,
  )
  .openapi('AccountQuotas');

const Account = z
  .object({
    account_id: z.string().openapi({ example: 'acct_5Wq2Nc' }),
    name: z.string(),
    created_at: z.string(),
    quotas: AccountQuotas,
  })
  .openapi('Account');

const AccountList = z.object({ data: z.array(Account), next_cursor: z.string().nullable() }).openapi('AccountList');

const CreateAccountBody = z.strictObject({ name: Name.describe('What the account is called, e.g. the product or team it serves') }).openapi('CreateAccountBody');

// Quotas and budgets are set here too: their fields join this object (issue 15, items 1 and 2).
const UpdateAccountBody = z
  .strictObject({
    name: Name.optional().describe('A new name'),
    quotas: QuotaOverridesPatch.optional().describe(
      "The account's own limits, each replacing the server's default (0: no limit for this account; null: the default again). Quotas not sent are left as they are",
    ),
  })
  .openapi('UpdateAccountBody');

const ApiKey = z
  .object({
    key_id: z.string().openapi({ example: 'key_8Hn3Vz' }),
    account_id: z.string(),
    name: z.string().nullable(),
    scopes: z.array(z.string()),
    key_hint: z.string().describe('The first 8 and last 4 characters of the secret, to recognise it by'),
    status: z.enum(['active', 'revoked']),
    created_at: z.string(),
    last_used_at: z.string().nullable(),
    revoked_at: z.string().nullable(),
  })
  .openapi('ApiKey');

const CreatedApiKey = ApiKey.extend({
  secret: z.string().describe('The key itself (Authorization: Bearer <secret>). Returned this once, kept nowhere: store it now'),
}).openapi('CreatedApiKey');

const ApiKeyList = z.object({ data: z.array(ApiKey), next_cursor: z.string().nullable() }).openapi('ApiKeyList');

const CreateKeyBody = z
  .strictObject({
    account_id: z
      .string()
      .regex(/^acct_[A-Za-z0-9_]{1,64}$/, 'must be an id starting with acct_')
      .optional()
      .describe("The account the key acts for. Defaults to the calling key's account"),
    name: Name.optional().describe('A label for the key'),
    scopes: z
      .array(z.enum(SCOPES, { error: `must be one of ${SCOPES.join(', ')}` }))
      .min(1, 'must name at least one scope')
      .describe(`What the key may do: ${SCOPES.join(', ')}. admin acts across every account`),
  })
  .openapi('CreateKeyBody');

const AuditEntry = z
  .object({
    entry_id: z.string().openapi({ example: 'aud_3Rt6Yh' }),
    action: z.enum(AUDIT_ACTIONS),
    actor: z.object({
      type: z.enum(['api_key', 'cli']).describe('api_key: a request made with key_id; cli: `herm keys` at the server'),
      key_id: z.string().nullable(),
      account_id: z.string().nullable(),
    }),
    target: z.object({ type: z.enum(['account', 'api_key']), id: z.string(), account_id: z.string() }),
    request_id: z.string().nullable(),
    summary: z.record(z.string(), z.unknown()).describe('What changed, redacted: names, scopes, key hints; never a secret'),
    created_at: z.string(),
  })
  .openapi('AuditEntry');

const AuditLogPage = z.object({ data: z.array(AuditEntry), next_cursor: z.string().nullable() }).openapi('AuditLogPage');

const accountIdParam = { params: z.strictObject({ account_id: idParam('account_id', 'acct') }) };
const keyIdParam = { params: z.strictObject({ key_id: idParam('key_id', 'key') }) };
const accountFilter = z
  .string()
  .regex(/^acct_[A-Za-z0-9_]{1,64}$/, 'must be an id starting with acct_')
  .optional()
  .openapi({ description: "Only this account's" });

export function renderAccount(account: AccountRecord, quotas: Quotas) {
  return { account_id: account.id, name: account.name, created_at: toIso(account.created_at)!, quotas };
}

/** A key as the API shows it: never its hash or secret. */
export function renderApiKey(key: ApiKeyRecord) {
  return {
    key_id: key.id,
    account_id: key.account_id,
    name: key.name,
    scopes: key.scopes,
    key_hint: key.key_hint,
    status: key.revoked_at === null ? ('active' as const) : ('revoked' as const),
    created_at: toIso(key.created_at)!,
    last_used_at: toIso(key.last_used_at),
    revoked_at: toIso(key.revoked_at),
  };
}

export function renderAuditEntry(entry: AuditLogRecord) {
  return {
    entry_id: entry.id,
    action: entry.action as (typeof AUDIT_ACTIONS)[number],
    actor: { type: entry.actor_key_id === null ? ('cli' as const) : ('api_key' as const), key_id: entry.actor_key_id, account_id: entry.actor_account_id },
    target: { type: entry.target_type as 'account' | 'api_key', id: entry.target_id, account_id: entry.target_account_id },
    request_id: entry.request_id,
    summary: entry.summary,
    created_at: toIso(entry.created_at)!,
  };
}

function actorOf(c: Context<AppEnv>): Actor {
  const key = c.get('apiKey');
  return { keyId: key.id, accountId: key.account_id, requestId: c.get('requestId') };
}

export function accountRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();
  const administration = (c: Context<AppEnv>) => new AccountAdministration(c.get('services').store);

  app.openapi(
    createRoute({
      method: 'post',
      path: '/accounts',
      summary: 'Create an account (admin)',
      description: 'A tenant: its deployments, secrets and keys are its own. Issue it keys with POST /v1/keys. Requires the `admin` scope.',
      tags: ['Accounts'],
      security: bearerSecurity,
      request: jsonBody(CreateAccountBody),
      responses: { 201: json(Account, 'The account'), ...errorResponses },
    }),
    async (c) => {
      const account = await administration(c).createAccount(actorOf(c), c.req.valid('json').name);
      return c.json(renderAccount(account, await c.get('services').quotas.quotasOf(account.id)), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/accounts',
      summary: 'List accounts (admin)',
      tags: ['Accounts'],
      security: bearerSecurity,
      request: { query: z.strictObject({ limit: limitQuery, cursor: cursorQuery }) },
      responses: { 200: json(AccountList, 'A page of accounts, newest first'), ...errorResponses },
    }),
    async (c) => {
      const page = await c.get('services').store.accounts.listAccounts(c.req.valid('query'));
      const quotas = c.get('services').quotas;
      const data = await Promise.all(page.data.map(async (account) => renderAccount(account, await quotas.quotasOf(account.id))));
      return c.json({ data, next_cursor: page.next_cursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/accounts/{account_id}',
      summary: 'Get an account (admin)',
      tags: ['Accounts'],
      security: bearerSecurity,
      request: accountIdParam,
      responses: { 200: json(Account, 'The account'), ...errorResponses },
    }),
    async (c) => {
      const { account_id } = c.req.valid('param');
      const account = await c.get('services').store.accounts.getAccount(account_id);
      if (!account) throw notFound('account', account_id, 'account_id');
      return c.json(renderAccount(account, await c.get('services').quotas.quotasOf(account.id)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/accounts/{account_id}',
      summary: 'Update an account (admin)',
      description:
        'Renames the account, or sets its quotas (each overrides the server\'s default; see Quotas and rate limits). Fields not sent are left as they are. Requires the `admin` scope.',
      tags: ['Accounts'],
      security: bearerSecurity,
      request: { ...accountIdParam, ...jsonBody(UpdateAccountBody) },
      responses: { 200: json(Account, 'The account as it is now'), ...errorResponses },
    }),
    async (c) => {
      const { account_id } = c.req.valid('param');
      const body = c.req.valid('json');
      const services = c.get('services');
      if (body.quotas !== undefined && !(await administration(c).setQuotas(actorOf(c), account_id, body.quotas, services.quotas))) {
        throw notFound('account', account_id, 'account_id');
      }
      const account =
        body.name === undefined
          ? await services.store.accounts.getAccount(account_id)
          : await administration(c).renameAccount(actorOf(c), account_id, body.name);
      if (!account) throw notFound('account', account_id, 'account_id');
      return c.json(renderAccount(account, await services.quotas.quotasOf(account.id)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/keys',
      summary: 'Create an API key (admin)',
      description:
        "Issues a key for an account (the calling key's own by default) with the given scopes. The response's `secret` is the " +
        'key itself, shown this once and stored only as a hash: keep it in your secret manager. A key with `admin` acts across ' +
        'every account; other keys see only their own. Requires the `admin` scope.',
      tags: ['API keys'],
      security: bearerSecurity,
      request: jsonBody(CreateKeyBody),
      responses: { 201: json(CreatedApiKey, 'The key, with its secret (shown once)'), ...errorResponses },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const accountId = body.account_id ?? c.get('apiKey').account_id;
      const created = await administration(c).createKey(actorOf(c), { accountId, scopes: [...new Set(body.scopes)], name: body.name });
      if (!created) throw notFound('account', accountId, 'account_id');
      return c.json({ ...renderApiKey(created.key), secret: created.secret }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/keys',
      summary: 'List API keys (admin)',
      description: 'Every account\'s keys, or one account\'s with `account_id`; never a secret or hash (`key_hint` identifies one).',
      tags: ['API keys'],
      security: bearerSecurity,
      request: { query: z.strictObject({ account_id: accountFilter, limit: limitQuery, cursor: cursorQuery }) },
      responses: { 200: json(ApiKeyList, 'A page of keys, newest first'), ...errorResponses },
    }),
    async (c) => {
      const { account_id, ...page } = c.req.valid('query');
      const result = await c.get('services').store.accounts.listKeysPage(account_id, page);
      return c.json({ data: result.data.map(renderApiKey), next_cursor: result.next_cursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/keys/{key_id}',
      summary: 'Get an API key (admin)',
      tags: ['API keys'],
      security: bearerSecurity,
      request: keyIdParam,
      responses: { 200: json(ApiKey, 'The key (never its secret)'), ...errorResponses },
    }),
    async (c) => {
      const { key_id } = c.req.valid('param');
      const key = await c.get('services').store.accounts.getKey(key_id);
      if (!key) throw notFound('API key', key_id, 'key_id');
      return c.json(renderApiKey(key), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/keys/{key_id}/revoke',
      summary: 'Revoke an API key (admin)',
      description:
        'The key stops working at once on every node: its next request is a 401 `unauthorized`, and the event streams opened ' +
        'with it end. Revoking a revoked key changes nothing and returns it as it is. Requires the `admin` scope.',
      tags: ['API keys'],
      security: bearerSecurity,
      request: keyIdParam,
      responses: { 200: json(ApiKey, 'The key, revoked'), ...errorResponses },
    }),
    async (c) => {
      const { key_id } = c.req.valid('param');
      const services = c.get('services');
      const result = await administration(c).revokeKey(actorOf(c), key_id);
      if (!result) throw notFound('API key', key_id, 'key_id');
      // This node forgets it now; the others hear the announcement (PostgreSQL) or see it when polling (SQLite).
      services.keys.forgetKey(key_id);
      services.hub.endKey(key_id);
      return c.json(renderApiKey(result.key), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/audit_log',
      summary: 'List the audit log (admin)',
      description:
        'Administrative actions (accounts created, renamed and given quotas, keys created and revoked, credit budgets set and ' +
        'removed), newest first: who acted (the key), ' +
        'what (the action and its target), when, under which request, and a redacted summary. Requires the `admin` scope.',
      tags: ['Audit log'],
      security: bearerSecurity,
      request: {
        query: z.strictObject({
          action: z.enum(AUDIT_ACTIONS, { error: `must be one of ${AUDIT_ACTIONS.join(', ')}` }).optional().openapi({ description: 'Only this action' }),
          target_id: z.string().min(1).max(100).optional().openapi({ description: 'Only entries about this account or key' }),
          account_id: accountFilter,
          limit: limitQuery,
          cursor: cursorQuery,
        }),
      },
      responses: { 200: json(AuditLogPage, 'A page of entries, newest first'), ...errorResponses },
    }),
    async (c) => {
      const { action, target_id, account_id, ...page } = c.req.valid('query');
      const result = await c.get('services').store.auditLog.list({ action, targetId: target_id, accountId: account_id }, page);
      return c.json({ data: result.data.map(renderAuditEntry), next_cursor: result.next_cursor }, 200);
    },
  );

  return app;
}
