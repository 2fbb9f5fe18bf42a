// Send Message with an Idempotency-Key (the SDK sends one per call and keeps it across retries) when the server
// dies around the commit that posts the message: killed just after it (the message is posted, the answer never
// left), a retry with the same key gets that answer — the same run — and nothing is posted twice; killed just
// before it (nothing posted), a retry posts the message once the dead claim is a second old. And at the store:
// a claim taken over by a retry can no longer post anything.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdempotencyClaimLostError } from '../../src/store/idempotency.ts';
import { openStore } from '../../src/store/open-store.ts';
import { availableDialects, createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { hermListening, killHerm, spawnHerm, withTimeout, type HermProcess } from '../support/herm-process.ts';
import { startScriptedModelServer, type ScriptedModelServer } from '../support/scripted-model-server.ts';

const ADMIN_KEY = 'herm_sk_idempotent_send_test_1';
const dialects = await availableDialects();
let model: ScriptedModelServer;
const children: HermProcess[] = [];
const databases: TestDatabase[] = [];

beforeAll(async () => {
  model = await startScriptedModelServer();
  model.setHandler(() => ({ text: 'Noted.' }));
});

afterAll(async () => {
  for (const child of children) await killHerm(child);
  await model?.close();
  for (const database of databases) await database.drop().catch(() => {});
});

async function start(database: TestDatabase, failpoints?: string): Promise<{ server: HermProcess; url: string }> {
  const server = spawnHerm({
    OPENAI_COMPATIBLE_BASE_URL: model.url,
    HERM_ADMIN_KEY: ADMIN_KEY,
    HERM_DATA_DIR: database.dataDir,
    // On PostgreSQL a run of the killed node is taken over once its lease expires.
    HERM_RUN_LEASE_MS: '2000',
    ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}),
    ...(failpoints ? { HERM_FAILPOINTS: failpoints } : {}),
  });
  children.push(server);
  return { server, url: await hermListening(server) };
}

async function api(url: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

async function userMessages(url: string, deploymentId: string, threadId: string): Promise<string[]> {
  const thread = await api(url, 'GET', `/v1/deployments/${deploymentId}/threads/${threadId}`);
  return thread.body.messages.filter((message: { role: string }) => message.role === 'user').map((message: { content: string }) => message.content);
}

async function waitForRun(url: string, deploymentId: string, runId: string): Promise<any> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const run = await api(url, 'GET', `/v1/deployments/${deploymentId}/runs/${runId}`);
    if (run.body.status === 'completed' || run.body.status === 'error') return run.body;
    if (Date.now() > deadline) throw new Error(`run ${runId} did not end`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

for (const dialect of dialects) {
  describe(`Send Message with an Idempotency-Key across a crash (${dialect})`, () => {
    it('answers a retry after a crash that cut the answer off with the run the message started: posted once', async () => {
      const database = await createTestDatabase(dialect);
      databases.push(database);
      let { server, url } = await start(database);
      const deployment = await api(url, 'POST', '/v1/deployments', { customer_id: 'cus_idem', name: 'n', system_prompt: 'p', model: 'openai-compatible/scripted-model' });
      expect(deployment.status).toBe(201);
      const deploymentId = deployment.body.deployment_id;
      await killHerm(server);

      ({ server, url } = await start(database, 'submit.after_commit'));
      const key = 'send-after-commit-1';
      const cut = await fetch(`${url}/v1/deployments/${deploymentId}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ content: 'Remember the logo sting.' }),
      }).then(
        () => 'answered',
        () => 'cut off',
      );
      expect(cut).toBe('cut off');
      expect((await withTimeout(server.exited, 10_000, 'the failpoint')).signal).toBe('SIGKILL');

      ({ server, url } = await start(database));
      const retry = await api(url, 'POST', `/v1/deployments/${deploymentId}/messages`, { content: 'Remember the logo sting.' }, { 'idempotency-key': key });
      expect(retry.status).toBe(202);
      expect(retry.body).toMatchObject({ deployment_id: deploymentId, thread_id: deployment.body.thread_id, run_id: expect.stringMatching(/^run_/) });
      const runs = await api(url, 'GET', `/v1/deployments/${deploymentId}/runs`);
      expect(runs.body.data.map((run: { run_id: string }) => run.run_id)).toEqual([retry.body.run_id]);
      expect((await waitForRun(url, deploymentId, retry.body.run_id)).status).toBe('completed');
      expect(await userMessages(url, deploymentId, deployment.body.thread_id)).toEqual(['Remember the logo sting.']);
      // Once more, later: the same answer, still one message.
      const again = await api(url, 'POST', `/v1/deployments/${deploymentId}/messages`, { content: 'Remember the logo sting.' }, { 'idempotency-key': key });
      expect(again).toEqual(retry);
      await killHerm(server);
    });

    it('posts the message on a retry after a crash before the commit, once the dead claim is a second old', async () => {
      const database = await createTestDatabase(dialect);
      databases.push(database);
      let { server, url } = await start(database);
      const deployment = await api(url, 'POST', '/v1/deployments', { customer_id: 'cus_idem', name: 'n', system_prompt: 'p', model: 'openai-compatible/scripted-model' });
      const deploymentId = deployment.body.deployment_id;
      await killHerm(server);

      ({ server, url } = await start(database, 'submit.before_commit'));
      const key = 'send-before-commit-1';
      const send = () => api(url, 'POST', `/v1/deployments/${deploymentId}/messages`, { content: 'Hello once.' }, { 'idempotency-key': key });
      await send().catch(() => undefined);
      expect((await withTimeout(server.exited, 10_000, 'the failpoint')).signal).toBe('SIGKILL');

      ({ server, url } = await start(database));
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const retry = await send();
      expect(retry.status, JSON.stringify(retry.body)).toBe(202);
      expect((await waitForRun(url, deploymentId, retry.body.run_id)).status).toBe('completed');
      expect(await userMessages(url, deploymentId, deployment.body.thread_id)).toEqual(['Hello once.']);
      // A different body with the key is still refused.
      const other = await api(url, 'POST', `/v1/deployments/${deploymentId}/messages`, { content: 'Something else.' }, { 'idempotency-key': key });
      expect(other.status).toBe(400);
      expect(other.body.error.param).toBe('Idempotency-Key');
      await killHerm(server);
    });

    it('refuses the commit of a claim a retry took over, and keeps the claim of a different request', async () => {
      const database = await createTestDatabase(dialect);
      databases.push(database);
      const store = await openStore({ dataDir: database.dataDir, databaseUrl: database.databaseUrl });
      try {
        const first = await store.idempotency.claim('acct_x', 'k1', 'hash-a');
        expect(first).toMatchObject({ claimed: true });
        // Fresh: a concurrent duplicate is told it is in progress.
        expect(await store.idempotency.claim('acct_x', 'k1', 'hash-a', { staleAfterMs: 60_000 })).toMatchObject({ claimed: false });
        await new Promise((resolve) => setTimeout(resolve, 20));
        // Stale, but another request's hash: never taken over.
        expect(await store.idempotency.claim('acct_x', 'k1', 'hash-b', { staleAfterMs: 1 })).toMatchObject({ claimed: false });
        const second = await store.idempotency.claim('acct_x', 'k1', 'hash-a', { staleAfterMs: 1 });
        expect(second).toMatchObject({ claimed: true });
        const firstToken = (first as { token: string }).token;
        const secondToken = (second as { token: string }).token;
        expect(secondToken).not.toBe(firstToken);
        // The first claim's completion (and release) no longer counts; the second's does.
        await store.idempotency.complete('acct_x', 'k1', firstToken, 202, '{"from":"first"}');
        await store.idempotency.release('acct_x', 'k1', firstToken);
        await store.idempotency.complete('acct_x', 'k1', secondToken, 202, '{"from":"second"}');
        expect(await store.idempotency.claim('acct_x', 'k1', 'hash-a')).toMatchObject({ claimed: false, existing: { response_body: '{"from":"second"}' } });
        // A transaction completing with a lost claim is told so (the submit then rolls back).
        const third = await store.idempotency.claim('acct_x', 'k2', 'hash-a');
        await new Promise((resolve) => setTimeout(resolve, 20));
        await store.idempotency.claim('acct_x', 'k2', 'hash-a', { staleAfterMs: 1 });
        const { completeIn } = await import('../../src/store/idempotency.ts');
        expect(
          await completeIn(store.db, { accountId: 'acct_x', key: 'k2', token: (third as { token: string }).token, statusCode: 202, responseBody: '{}' }),
        ).toBe(false);
        expect(IdempotencyClaimLostError.name).toBe('IdempotencyClaimLostError');
      } finally {
        await store.close();
      }
    });
  });
}
