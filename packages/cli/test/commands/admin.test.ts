// `herm accounts` (quotas included), `herm budgets`, `herm keys … --api` and `herm audit-log` against a real server with its admin key; the local
// `herm keys` (on the database) is audited too, with the command line as the actor.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../server/test/support/test-server.ts';

const CLI_MAIN = path.resolve(import.meta.dirname, '../../src/main.ts');

let herm: TestServer;

beforeAll(async () => {
  herm = await startTestServer();
});

afterAll(async () => {
  await herm?.close();
});

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_MAIN, ...args], {
      env: { ...process.env, HERM_BASE_URL: herm.url, PRISM_API_KEY: herm.adminKey, LOG_LEVEL: 'silent', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const lines = (text: string) => text.trimEnd().split('\n').map((line) => JSON.parse(line));

it('manages accounts and keys through the API and lists the audit log', async () => {
  const created = await cli(['accounts', 'create', '--name', 'Umbrella', '--json']);
  expect(created.code, created.stderr).toBe(0);
  const account = JSON.parse(created.stdout);
  expect(account.account_id).toMatch(/^acct_/);
  const renamed = await cli(['accounts', 'rename', account.account_id, '--name', 'Umbrella Corp', '--json']);
  expect(JSON.parse(renamed.stdout).name).toBe('Umbrella Corp');
  expect((await cli(['accounts', 'list'])).stdout).toContain(`${account.account_id}\tUmbrella Corp\t`);

  const key = await cli(['keys', 'create', '--api', '--account', account.account_id, '--scopes', 'deployments:read', '--name', 'umbrella', '--json']);
  expect(key.code, key.stderr).toBe(0);
  const { key_id: keyId, secret } = JSON.parse(key.stdout);
  expect((await herm.request('GET', '/v1/deployments', undefined, secret)).status).toBe(200);
  const listed = lines((await cli(['keys', 'list', '--api', '--account', account.account_id, '--json'])).stdout);
  expect(listed.map((entry) => [entry.key_id, entry.status])).toEqual([[keyId, 'active']]);
  expect(JSON.stringify(listed)).not.toContain(secret);

  const revoked = await cli(['keys', 'revoke', keyId, '--api']);
  expect(revoked.code, revoked.stderr).toBe(0);
  expect((await herm.request('GET', '/v1/deployments', undefined, secret)).status).toBe(401);

  const log = lines((await cli(['audit-log', '--account', account.account_id, '--json'])).stdout);
  expect(log.map((entry) => entry.action)).toEqual(['key.revoked', 'key.created', 'account.updated', 'account.created']);
  expect(JSON.stringify(log)).not.toContain(secret);

  // A key without the admin scope: exit 3 (auth), the 403 naming the scope.
  const refused = await cli(['accounts', 'list'], { PRISM_API_KEY: (await herm.request('POST', '/v1/keys', { scopes: ['deployments:read'] })).body.secret });
  expect(refused.code).toBe(3);
  expect(refused.stderr).toContain('admin');
});

it('sets quotas and credit budgets through the API, each change in the audit log', async () => {
  const account = JSON.parse((await cli(['accounts', 'create', '--name', 'Budgeted', '--json'])).stdout);
  const quotas = await cli(['accounts', 'quotas', account.account_id, '--deployments', '3', '--concurrent-runs', '0']);
  expect(quotas.code, quotas.stderr).toBe(0);
  expect(quotas.stdout).toContain('deployments\t3\n');
  expect(quotas.stdout).toContain('concurrent_runs\t0\n');
  expect((await herm.request('GET', `/v1/accounts/${account.account_id}`)).body.quotas).toMatchObject({ deployments: 3, concurrent_runs: 0 });
  const reset = await cli(['accounts', 'quotas', account.account_id, '--deployments', 'default', '--json']);
  expect(reset.code, reset.stderr).toBe(0);
  expect(JSON.parse(reset.stdout).quotas.deployments).toBe((await herm.request('GET', '/v1/accounts/acct_default')).body.quotas.deployments);
  const badQuota = await cli(['accounts', 'quotas', account.account_id, '--deployments', 'many']);
  expect(badQuota.code).toBe(2);
  expect(badQuota.stderr).toContain('--deployments');

  const set = await cli(['budgets', 'set', '--account', account.account_id, '--credits', '50', '--json']);
  expect(set.code, set.stderr).toBe(0);
  expect(JSON.parse(set.stdout)).toMatchObject({ account_id: account.account_id, customer_id: null, credits: 50, exhausted: false });
  expect((await cli(['budgets', 'set', '--account', account.account_id, '--customer', 'cus_cli', '--credits', '5'])).stdout).toBe(
    `${account.account_id}\tcus_cli\t5\t0\t5\tok\n`,
  );
  const listed = lines((await cli(['budgets', 'list', '--account', account.account_id, '--json'])).stdout);
  expect(listed.map((budget) => [budget.customer_id, budget.credits])).toEqual([[null, 50], ['cus_cli', 5]]);
  const deleted = await cli(['budgets', 'delete', '--account', account.account_id, '--customer', 'cus_cli']);
  expect(deleted.code, deleted.stderr).toBe(0);
  expect((await herm.request('GET', `/v1/budgets?account_id=${account.account_id}`)).body.data.map((budget: any) => budget.customer_id)).toEqual([null]);
  const missing = await cli(['budgets', 'delete', '--account', account.account_id, '--customer', 'cus_cli']);
  expect(missing.code).toBe(4);
  expect((await cli(['budgets', 'set', '--credits', '-1'])).code).toBe(2);

  const log = lines((await cli(['audit-log', '--account', account.account_id, '--json'])).stdout);
  expect(log.map((entry) => [entry.action, entry.summary.customer_id ?? null])).toEqual([
    ['budget.deleted', 'cus_cli'],
    ['budget.set', 'cus_cli'],
    ['budget.set', null],
    ['account.updated', null],
    ['account.updated', null],
    ['account.created', null],
  ]);
  expect(log[3].summary.quotas.to).toEqual({ concurrent_runs: 0 });
  expect(log[4].summary.quotas.to).toEqual({ deployments: 3, concurrent_runs: 0 });
  expect((await cli(['audit-log', '--action', 'budget.set', '--account', account.account_id])).stdout.trimEnd().split('\n')).toHaveLength(2);
});

it('has help for every new command', async () => {
  const topics = [
    ['accounts'], ['accounts', 'create'], ['accounts', 'list'], ['accounts', 'get'], ['accounts', 'rename'], ['accounts', 'quotas'],
    ['budgets'], ['budgets', 'list'], ['budgets', 'set'], ['budgets', 'delete'], ['audit-log'],
  ];
  const helps = await Promise.all(topics.map((words) => cli([...words, '--help'])));
  helps.forEach((help, index) => {
    expect(help.code, topics[index]!.join(' ')).toBe(0);
    expect(help.stdout, topics[index]!.join(' ')).toMatch(/^Usage: herm /);
  });
  expect((await cli(['keys', 'create', '--help'])).stdout).toContain('--api');
});

it('audits the local keys commands with the command line as the actor', async () => {
  const local = { HERM_DATA_DIR: herm.dataDir };
  const created = await cli(['keys', 'create', '--scopes', 'deployments:read', '--new-account', 'Local', '--json'], local);
  expect(created.code, created.stderr).toBe(0);
  const key = JSON.parse(created.stdout);
  expect((await cli(['keys', 'revoke', key.key_id], local)).code).toBe(0);
  const entries = (await herm.request('GET', `/v1/audit_log?account_id=${key.account_id}`)).body.data;
  expect(entries.map((entry: any) => [entry.action, entry.actor])).toEqual([
    ['key.revoked', { type: 'cli', key_id: null, account_id: null }],
    ['key.created', { type: 'cli', key_id: null, account_id: null }],
    ['account.created', { type: 'cli', key_id: null, account_id: null }],
  ]);
  expect(JSON.stringify(entries)).not.toContain(key.secret);
});
