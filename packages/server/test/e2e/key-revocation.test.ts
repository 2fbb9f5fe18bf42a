// On the embedded SQLite store a key revoked by `herm keys revoke` (another process) stops working within a
// second, and the event streams opened with it end. (PostgreSQL, across nodes: scale-out.test.ts.)
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../support/child-server.ts';
import { openSse } from '../support/sse-client.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

let herm: TestServer;

beforeAll(async () => {
  herm = await startTestServer();
});

afterAll(async () => {
  await herm?.close();
});

async function eventually(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

it('refuses a key revoked by the CLI within a second and ends its streams', async () => {
  const deployment = await herm.createDeployment();
  const path = `/v1/deployments/${deployment.deployment_id}`;
  const { key, secret } = await herm.server.services.store.accounts.createKey({ accountId: 'acct_default', scopes: ['deployments:read'] });
  // Cached before the revocation.
  expect((await herm.request('GET', path, undefined, secret)).status).toBe(200);
  const stream = await openSse(deployment.events.url, secret);
  const adminStream = await openSse(deployment.events.url, herm.adminKey);
  expect(stream.status).toBe(200);

  const revoked = await runCli(['keys', 'revoke', key.id], { HERM_DATA_DIR: herm.dataDir, LOG_LEVEL: 'silent' });
  expect(revoked.code, revoked.stderr).toBe(0);
  const revokedAt = Date.now();
  await stream.waitForEnd(1_000);
  await eventually(async () => (await herm.request('GET', path, undefined, secret)).status === 401, 1_000, 'the key to be refused');
  expect(Date.now() - revokedAt).toBeLessThan(1_000);
  expect(stream.comments).toContain('key revoked');
  expect((await openSse(deployment.events.url, secret)).status).toBe(401);
  expect(adminStream.ended).toBe(false);
  adminStream.close();
});
