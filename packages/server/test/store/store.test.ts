// One store suite, run against SQLite and against PostgreSQL (real databases, no mocks).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open-store.ts';
import type { Store } from '../../src/store/store.ts';
import { createTestDatabase, postgresBaseUrl, POSTGRES_SKIP_MESSAGE, type TestDatabase } from '../support/databases.ts';
import { readyDeploymentRecord } from '../support/deployment-record.ts';

const postgresAvailable = (await postgresBaseUrl()) !== undefined;
if (!postgresAvailable) console.warn(POSTGRES_SKIP_MESSAGE);

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe.skipIf(dialect === 'postgres' && !postgresAvailable)(`store on ${dialect}`, () => {
    let database: TestDatabase;
    let store: Store;

    beforeAll(async () => {
      database = await createTestDatabase(dialect);
      store = await openStore({ dataDir: database.dataDir, databaseUrl: database.databaseUrl });
      await store.accounts.ensureAccount('acct_a', 'A');
      await store.accounts.ensureAccount('acct_b', 'B');
    });

    afterAll(async () => {
      await store?.close();
      await database?.drop();
    });

    async function createDeployment(accountId: string, customerId: string, createdAt = Date.now()) {
      return store.deployments.create(
        readyDeploymentRecord({
          account_id: accountId,
          customer_id: customerId,
          model: 'anthropic/claude-sonnet-4.5',
          skills: [{ skill_id: 'skl_notes', created_at: 0, name: 'notes', source: 'inline', content: '---\nname: notes\ndescription: d\n---\n' }],
          created_at: createdAt,
        }),
      );
    }

    it('migrates idempotently when opened twice', async () => {
      const again = await openStore({ dataDir: database.dataDir, databaseUrl: database.databaseUrl });
      expect(await again.accounts.getAccount('acct_a')).toMatchObject({ name: 'A' });
      await again.close();
    });

    it('stores API keys as hashes and finds them by secret', async () => {
      const { key, secret } = await store.accounts.createKey({ accountId: 'acct_a', scopes: ['deployments:read'] });
      expect(secret).toMatch(/^herm_sk_/);
      expect(key.key_hash).not.toContain(secret);
      expect((await store.accounts.findKeyBySecret(secret))?.id).toBe(key.id);
      expect(await store.accounts.findKeyBySecret(`${secret}x`)).toBeUndefined();
      expect(await store.accounts.revokeKey(key.id)).toBe(true);
      expect((await store.accounts.findKeyBySecret(secret))?.revoked_at).toBeTypeOf('number');
    });

    it('creates a deployment with its default thread and keeps it private to its account', async () => {
      const deployment = await createDeployment('acct_a', 'cus_private');
      expect((await store.deployments.get('acct_a', deployment.id))?.skills[0]).toMatchObject({ source: 'inline' });
      expect(await store.deployments.get('acct_b', deployment.id)).toBeUndefined();
      expect(await store.threads.get(deployment.id, deployment.default_thread_id)).toMatchObject({ title: 'Default' });
    });

    it('lists newest first with filters and cursors that never repeat or skip', async () => {
      const base = Date.now() + 10_000;
      const created = [];
      // Two share a timestamp, so the id breaks the tie.
      for (const offset of [0, 1, 1, 2, 3]) created.push(await createDeployment('acct_b', 'cus_page', base + offset));
      await createDeployment('acct_b', 'cus_other', base + 5);
      const seen: string[] = [];
      let cursor: string | undefined;
      for (;;) {
        const page = await store.deployments.list('acct_b', { customer_id: 'cus_page' }, { limit: 2, cursor });
        seen.push(...page.data.map((deployment) => deployment.id));
        if (!page.next_cursor) break;
        cursor = page.next_cursor;
      }
      expect(seen).toHaveLength(5);
      expect(new Set(seen).size).toBe(5);
      const expected = [...created].sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? 1 : -1)).map((d) => d.id);
      expect(seen).toEqual(expected);
      await expect(store.deployments.list('acct_b', {}, { limit: 2, cursor: 'garbage' })).rejects.toMatchObject({
        type: 'validation_error',
        param: 'cursor',
      });
    });

    it('folds a message sent during a run into that run and finishes only when every input was seen', async () => {
      const deployment = await createDeployment('acct_a', 'cus_runs');
      const threadId = deployment.default_thread_id;
      const submit = (content: string) =>
        store.runs.submitMessage({ deploymentId: deployment.id, threadId, content, trigger: 'message', nodeId: 'node_1', leaseMs: 30_000 });
      const first = await submit('first');
      expect(first.folded).toBe(false);
      expect((await store.runs.takeInputs(first.run.id, threadId)).map((entry) => entry.message)).toEqual([{ role: 'user', content: 'first' }]);
      const second = await submit('second');
      expect(second).toMatchObject({ folded: true, run: { id: first.run.id } });
      expect(await store.runs.finish(first.run.id, threadId, deployment.id, { status: 'completed', agentText: 'x' })).toBe(false);
      expect((await store.runs.takeInputs(first.run.id, threadId)).map((entry) => entry.message)).toEqual([{ role: 'user', content: 'second' }]);
      expect(await store.runs.finish(first.run.id, threadId, deployment.id, { status: 'completed', agentText: 'done' })).toBe(true);
      const history = await store.threads.loadHistory(threadId);
      expect(history.entries.map((entry) => entry.message)).toEqual([
        { role: 'user', content: 'first' },
        { role: 'user', content: 'second' },
      ]);
      const messages = await store.threads.messages(threadId);
      expect(messages.map((message) => [message.role, message.content])).toEqual([
        ['user', 'first'],
        ['user', 'second'],
        ['agent', 'done'],
      ]);
      const third = await submit('third');
      expect(third.folded).toBe(false);
      expect(third.run.id).not.toBe(first.run.id);
    });

    it('loads history once, then what any node appended since, and only what follows a new summary', async () => {
      const deployment = await createDeployment('acct_a', 'cus_history');
      const threadId = deployment.default_thread_id;
      const contents = (history: { entries: { message: unknown }[] }) => history.entries.map((entry) => (entry.message as { content: string }).content);
      expect(await store.threads.loadHistory(threadId)).toEqual({ summary: null, entries: [] });
      await store.threads.appendHistory(threadId, null, [{ role: 'user', content: 'one' }, { role: 'user', content: 'two' }]);
      expect(contents(await store.threads.loadHistory(threadId))).toEqual(['one', 'two']);
      // Another node (its own store, so its own cache) appends; this one reads the new rows on top of its cache.
      const otherNode = await openStore({ dataDir: database.dataDir, databaseUrl: database.databaseUrl });
      try {
        await otherNode.threads.appendHistory(threadId, null, [{ role: 'user', content: 'three' }]);
      } finally {
        await otherNode.close();
      }
      const loaded = await store.threads.loadHistory(threadId);
      expect(contents(loaded)).toEqual(['one', 'two', 'three']);
      expect(loaded.entries.map((entry) => entry.seq)).toEqual([1, 2, 3]);
      // A compaction: the summary stands for entries 1 and 2.
      await store.threads.saveSummary(threadId, 'one and two', 2);
      expect(await store.threads.loadHistory(threadId)).toMatchObject({ summary: 'one and two', entries: [{ seq: 3 }] });
      await store.threads.appendHistory(threadId, null, [{ role: 'user', content: 'four' }]);
      expect(contents(await store.threads.loadHistory(threadId))).toEqual(['three', 'four']);
      await expect(store.threads.loadHistory('thr_missing')).rejects.toThrow(/does not exist/);
    });

    it('never loses a message racing the end of a run', async () => {
      const deployment = await createDeployment('acct_a', 'cus_race');
      const threadId = deployment.default_thread_id;
      const contents = Array.from({ length: 20 }, (_, index) => `m${index}`);
      const submitted = await Promise.all(
        contents.map(async (content) => {
          const result = await store.runs.submitMessage({ deploymentId: deployment.id, threadId, content, trigger: 'message', nodeId: 'n', leaseMs: 30_000 });
          // Try to end the run right after each message; it must refuse while inputs are unseen.
          await store.runs.finish(result.run.id, threadId, deployment.id, { status: 'completed', agentText: '' });
          return result;
        }),
      );
      const runIds = new Set(submitted.map((result) => result.run.id));
      const seen: string[] = [];
      for (const runId of runIds) {
        seen.push(...(await store.runs.takeInputs(runId, threadId)).map((entry) => (entry.message as { content: string }).content));
        await store.runs.finish(runId, threadId, deployment.id, { status: 'completed', agentText: '' });
      }
      const history = await store.threads.loadHistory(threadId);
      expect(history.entries.map((entry) => (entry.message as { content: string }).content).sort()).toEqual([...contents].sort());
    });

    it('numbers events per deployment in order, without gaps, under concurrent appends', async () => {
      const one = await createDeployment('acct_a', 'cus_events_1');
      const two = await createDeployment('acct_a', 'cus_events_2');
      const batches = Array.from({ length: 10 }, (_, batch) =>
        store.events.append(
          Array.from({ length: 30 }, (_, index) => ({
            deploymentId: index % 2 === 0 ? one.id : two.id,
            type: 'token',
            threadId: one.default_thread_id,
            runId: 'run_x',
            data: { delta: `${batch}:${index}` },
          })),
        ),
      );
      await Promise.all(batches);
      for (const deployment of [one, two]) {
        const events = await store.events.listAfter(deployment.id, 0, {}, 10_000);
        expect(events.map((event) => event.seq)).toEqual(Array.from({ length: 150 }, (_, index) => index + 1));
        expect(await store.events.currentSeq(deployment.id)).toBe(150);
        expect(JSON.parse(events[0]!.json)).toMatchObject({ run_id: 'run_x', thread_id: one.default_thread_id });
      }
      const after = await store.events.listAfter(one.id, 140, {}, 100);
      expect(after.map((event) => event.seq)).toEqual([141, 142, 143, 144, 145, 146, 147, 148, 149, 150]);
      expect(await store.events.listAfter(one.id, 0, { runId: 'run_other' }, 100)).toEqual([]);
    });

    it('hands an expired run lease to another node exactly once', async () => {
      const deployment = await createDeployment('acct_a', 'cus_lease');
      const { run } = await store.runs.submitMessage({
        deploymentId: deployment.id,
        threadId: deployment.default_thread_id,
        content: 'hi',
        trigger: 'message',
        nodeId: 'node_dead',
        leaseMs: 1,
      });
      await new Promise((resolve) => setTimeout(resolve, 5));
      const now = Date.now();
      const [a, b] = await Promise.all([
        store.runs.claimExpired('node_a', now, now + 60_000),
        store.runs.claimExpired('node_b', now, now + 60_000),
      ]);
      const claimedBy = [...a, ...b].filter((claimed) => claimed.id === run.id);
      expect(claimedBy).toHaveLength(1);
      const owner = a.some((claimed) => claimed.id === run.id) ? 'node_a' : 'node_b';
      expect(await store.runs.renewLease(run.id, owner, now + 60_000)).toEqual({ owned: true, cancelRequested: false });
      expect((await store.runs.renewLease(run.id, 'node_dead', now + 60_000)).owned).toBe(false);
      await store.runs.requestCancel(run.id);
      expect((await store.runs.renewLease(run.id, owner, now + 60_000)).cancelRequested).toBe(true);
    });
  });
}
