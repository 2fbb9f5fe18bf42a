// `herm accounts`, `herm keys … --api` and `herm audit-log` against a real server with its admin key; the local
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

it('has help for every new command', async () => {
  const topics = [['accounts'], ['accounts', 'create'], ['accounts', 'list'], ['accounts', 'get'], ['accounts', 'rename'], ['audit-log']];
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
