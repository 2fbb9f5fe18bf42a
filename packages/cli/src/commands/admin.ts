// Administration through the API with an admin-scoped key: `herm accounts`, `herm keys … --api`, `herm budgets`,
// `herm audit-log`.
// Same output shapes as the local `herm keys` (tab-separated for people, one JSON object a line with --json), so a
// script can move from the database to the API by adding --api.
import type Herm from 'herm';
import { UsageError } from '../cli-errors.ts';

export interface AdminFlags {
  json?: boolean | undefined;
  name?: string | undefined;
  scopes?: string | undefined;
  account?: string | undefined;
  'new-account'?: string | undefined;
  action?: string | undefined;
  target?: string | undefined;
  customer?: string | undefined;
  credits?: string | undefined;
  'reset-spent'?: boolean | undefined;
  /** Quota flags (`--concurrent-runs N`, …): a whole number, or `default`. */
  [quota: string]: string | boolean | undefined;
}

export interface AdminArgs {
  action: string;
  positionals: string[];
  values: AdminFlags;
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

function requireId(positionals: string[], command: string, what: string): string {
  const id = positionals[0];
  if (!id) throw new UsageError(`missing <${what}>`, command);
  return id;
}

/** `herm accounts create|list|get|rename|quotas`. */
export async function accountsCommand(client: Herm, { action, positionals, values }: AdminArgs): Promise<void> {
  if (action === 'create') {
    if (!values.name) throw new UsageError('--name is required', 'herm accounts create');
    const account = await client.accounts.create({ name: values.name });
    out(values.json ? JSON.stringify(account) : account.account_id);
  } else if (action === 'list') {
    for await (const account of client.accounts.list({ limit: 100 })) {
      out(values.json ? JSON.stringify(account) : `${account.account_id}\t${account.name}\t${account.created_at}`);
    }
  } else if (action === 'get') {
    const account = await client.accounts.get(requireId(positionals, 'herm accounts get', 'account_id'));
    out(values.json ? JSON.stringify(account) : `${account.account_id}\t${account.name}\t${account.created_at}`);
  } else if (action === 'rename') {
    const id = requireId(positionals, 'herm accounts rename', 'account_id');
    if (!values.name) throw new UsageError('--name is required', 'herm accounts rename');
    const account = await client.accounts.update(id, { name: values.name });
    out(values.json ? JSON.stringify(account) : `${account.account_id}\t${account.name}`);
  } else if (action === 'quotas') {
    await quotasCommand(client, positionals, values);
  }
}

/** The quotas `herm accounts quotas` sets, as flags: --deployments, --concurrent-runs, … (the API's names, dashed). */
export const QUOTA_FLAGS = ['deployments', 'concurrent_runs', 'runs_per_minute', 'requests_per_second', 'sse_streams', 'workspace_bytes'] as const;

const quotaFlag = (name: string) => name.replaceAll('_', '-');

/** The quota flags given: a whole number sets one (0: no limit), `default` goes back to the server's default (null). */
function quotaPatch(values: AdminFlags): Record<string, number | null> {
  const patch: Record<string, number | null> = {};
  for (const name of QUOTA_FLAGS) {
    const value = values[quotaFlag(name)];
    if (typeof value !== 'string') continue;
    if (value === 'default') patch[name] = null;
    else if (/^\d+$/.test(value) && Number.isSafeInteger(Number(value))) patch[name] = Number(value);
    else throw new UsageError(`--${quotaFlag(name)} must be a whole number (0: no limit) or "default", not "${value}"`, 'herm accounts quotas');
  }
  return patch;
}

/** `herm accounts quotas <account_id> [--deployments N] …`: sets the quotas given, then prints those in force. */
async function quotasCommand(client: Herm, positionals: string[], values: AdminFlags): Promise<void> {
  const id = requireId(positionals, 'herm accounts quotas', 'account_id');
  const patch = quotaPatch(values);
  const account = Object.keys(patch).length > 0 ? await client.accounts.update(id, { quotas: patch }) : await client.accounts.get(id);
  if (values.json) out(JSON.stringify(account));
  else for (const [name, value] of Object.entries(account.quotas)) out(`${name}\t${value}`);
}

/** `herm budgets list|set|delete`: credit budgets through /v1/budgets. */
export async function budgetsCommand(client: Herm, { action, values }: AdminArgs): Promise<void> {
  const row = (budget: { account_id: string; customer_id: string | null; credits: number; spent: number; remaining: number; exhausted: boolean }) =>
    `${budget.account_id}\t${budget.customer_id ?? '-'}\t${budget.credits}\t${budget.spent}\t${budget.remaining}\t${budget.exhausted ? 'exhausted' : 'ok'}`;
  const account = values.account ? { account_id: values.account } : {};
  const customer = values.customer ? { customer_id: values.customer } : {};
  if (action === 'list') {
    for (const budget of (await client.usage.budgets.list(account)).data) out(values.json ? JSON.stringify(budget) : row(budget));
  } else if (action === 'set') {
    const credits = values.credits === undefined ? Number.NaN : Number(values.credits);
    if (values.credits === undefined || values.credits.trim() === '' || !Number.isFinite(credits) || credits < 0) {
      throw new UsageError('--credits is required, a number of 0 or more', 'herm budgets set');
    }
    const budget = await client.usage.budgets.set({ ...account, ...customer, credits, ...(values['reset-spent'] ? { reset_spent: true } : {}) });
    out(values.json ? JSON.stringify(budget) : row(budget));
  } else if (action === 'delete') {
    const deleted = await client.usage.budgets.delete({ ...account, ...customer });
    if (values.json) out(JSON.stringify(deleted));
    else process.stderr.write(`Removed the budget of ${deleted.customer_id === null ? deleted.account_id : `${deleted.customer_id} (${deleted.account_id})`}\n`);
  }
}

/** `herm keys create|list|revoke --api`: as the local commands, through /v1/keys. */
export async function keysApiCommand(client: Herm, { action, positionals, values }: AdminArgs): Promise<void> {
  if (action === 'create') {
    const scopes = (values.scopes ?? '').split(',').map((scope) => scope.trim()).filter(Boolean);
    if (scopes.length === 0) throw new UsageError('--scopes is required, a comma-separated list', 'herm keys create');
    if (values.account && values['new-account']) throw new UsageError('pass --account or --new-account, not both', 'herm keys create');
    const accountId = values['new-account'] ? (await client.accounts.create({ name: values['new-account'] })).account_id : values.account;
    const key = await client.keys.create({ scopes, ...(accountId ? { account_id: accountId } : {}), ...(values.name ? { name: values.name } : {}) });
    process.stderr.write(`Created ${key.key_id} on ${key.account_id} with scopes ${key.scopes.join(', ')}. It is shown once:\n`);
    out(values.json ? JSON.stringify(key) : key.secret);
  } else if (action === 'list') {
    for await (const key of client.keys.list({ limit: 100, ...(values.account ? { account_id: values.account } : {}) })) {
      out(values.json ? JSON.stringify(key) : `${key.key_id}\t${key.account_id}\t${key.key_hint}\t${key.scopes.join(',')}\t${key.status}\t${key.name ?? ''}`);
    }
  } else if (action === 'revoke') {
    const key = await client.keys.revoke(requireId(positionals, 'herm keys revoke', 'key_id'));
    if (values.json) out(JSON.stringify(key));
    else process.stderr.write(`Revoked ${key.key_id}\n`);
  }
}

/** `herm audit-log [--action A] [--target ID] [--account acct_…]`: newest first. */
export async function auditLogCommand(client: Herm, { values }: AdminArgs): Promise<void> {
  const params = {
    limit: 100,
    ...(values.action ? { action: values.action as 'key.created' } : {}),
    ...(values.target ? { target_id: values.target } : {}),
    ...(values.account ? { account_id: values.account } : {}),
  };
  for await (const entry of client.auditLog.list(params)) {
    const actor = entry.actor.type === 'cli' ? 'cli' : entry.actor.key_id;
    out(values.json ? JSON.stringify(entry) : `${entry.created_at}\t${entry.action}\t${entry.target.id}\t${actor}\t${JSON.stringify(entry.summary)}`);
  }
}
