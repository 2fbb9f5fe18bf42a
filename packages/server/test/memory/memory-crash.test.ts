// The observer's writes are exactly once across kill -9: `herm serve` (./herm, a child process) dies at
// memory.observe.before_finish (HERM_FAILPOINTS), its observations written as memories and the thread's marker not
// yet past the messages they came from. The server started again on the same data takes the work (SQLite: at once,
// an embedded start lets the dead process's lease go; PostgreSQL: once the lease ran out, which the test makes
// happen), finds those observations written and only moves the marker: the model is not asked about the same
// messages again (asked, it words the facts differently, and they would be in memory twice), and the thread's next
// messages are observed as usual.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { availableDialects, createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { hermListening, killHerm, spawnHerm, withTimeout, type HermProcess } from '../support/herm-process.ts';
import { startScriptedModelServer, type ScriptedModelServer, type ScriptedTurn } from '../support/scripted-model-server.ts';
import { isObserverRequest, waitFor } from './memory-test-support.ts';
import { adminApi, openDatabase } from '../support/crash-points.ts';

const ADMIN_KEY = 'herm_sk_memory_crash_test_key_01';
const api = adminApi(ADMIN_KEY);
const FIRST = 'Please write my reports in French. We publish every Friday at noon.';
const SECOND = 'By the way, my name is Ada.';

let model: ScriptedModelServer;
const children: HermProcess[] = [];
const databases: TestDatabase[] = [];
const dialects = await availableDialects();

beforeAll(async () => {
  model = await startScriptedModelServer();
});

afterAll(async () => {
  for (const child of children) await killHerm(child);
  await model?.close();
  for (const database of databases) await database.drop().catch(() => {});
});


async function send(url: string, deploymentId: string, content: string, threadId?: string): Promise<{ run_id: string; thread_id: string }> {
  const sent = await api(url, 'POST', `/v1/deployments/${deploymentId}/messages`, { content, ...(threadId ? { thread_id: threadId } : {}) });
  expect(sent.status, JSON.stringify(sent.body)).toBe(202);
  return sent.body;
}

/** Posts a message and waits for its run to complete. */
async function converse(url: string, deploymentId: string, content: string, threadId?: string): Promise<void> {
  const sent = await send(url, deploymentId, content, threadId);
  await waitFor(
    'the run to complete',
    async () => (await api(url, 'GET', `/v1/deployments/${deploymentId}/runs/${sent.run_id}`)).body.status === 'completed',
    30_000,
  );
}

/** The new messages of an observer's request (its prompt's last section). */
const newMessages = (text: string | undefined) => text?.split('## New messages\n')[1] ?? '';


for (const dialect of dialects) {
  describe(`the memory observer across kill -9, on ${dialect}`, () => {
    it('memory.observe.before_finish: the thread\'s facts are in memory exactly once after the restart', { timeout: 90_000 }, async () => {
      const database = await createTestDatabase(dialect);
      databases.push(database);
      const env = {
        OPENAI_COMPATIBLE_BASE_URL: model.url,
        HERM_ADMIN_KEY: ADMIN_KEY,
        HERM_DATA_DIR: database.dataDir,
        HERM_MEMORY_OBSERVE_IDLE_MS: '0',
        HERM_MEMORY_POLL_MS: '100',
        ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}),
      };
      const spawn = (extra: Record<string, string> = {}) => {
        const server = spawnHerm({ ...env, ...extra });
        children.push(server);
        return server;
      };
      // The observer's first reply, and a rewording of it for any later call on the same messages (a real model's
      // second answer is seldom the first word for word): a second observation of them would show as a second copy.
      let observerCalls = 0;
      model.reset();
      model.setHandler((request): ScriptedTurn => {
        if (!isObserverRequest(request)) return { text: 'Sure.' };
        const messages = newMessages(request.lastUserText);
        if (!messages.includes('French')) return { text: messages.includes('Ada') ? '- [medium] The customer is called Ada.' : 'NONE' };
        observerCalls++;
        return observerCalls === 1
          ? { text: '- [high] The customer wants reports written in French.\n- [medium] The customer publishes every Friday at noon.' }
          : { text: '- [high] French is the language for all reports of this client.\n- [medium] Publication day: Fridays, 12:00.' };
      });

      const armed = spawn({ HERM_FAILPOINTS: 'memory.observe.before_finish' });
      const armedUrl = await hermListening(armed);
      const created = await api(armedUrl, 'POST', '/v1/deployments', { customer_id: 'c', name: 'n', system_prompt: 'p', model: 'openai-compatible/m' });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const deploymentId = created.body.deployment_id as string;
      // The run completes, the observer takes the thread at once (HERM_MEMORY_OBSERVE_IDLE_MS 0) and the process dies.
      const { thread_id: threadId, run_id: runId } = await send(armedUrl, deploymentId, FIRST);
      const exit = await withTimeout(armed.exited, 30_000, 'the failpoint memory.observe.before_finish');
      expect(exit.signal, armed.stderr()).toBe('SIGKILL');
      expect(armed.stderr()).toContain('failpoint memory.observe.before_finish: killing the process');
      expect(observerCalls).toBe(1);
      expect(model.requests.filter(isObserverRequest).map((request) => newMessages(request.lastUserText))).toEqual([expect.stringContaining(FIRST)]);

      // The memories are written; the marker is where it was, under the dead process's lease.
      const db = await openDatabase(database);
      const marker = async () => {
        const [row] = await db.rows('SELECT observed_through, pending, lease_owner, lease_expires_at FROM memory_observations WHERE thread_id = $1', [threadId]);
        return { observed_through: Number(row.observed_through), pending: Number(row.pending), lease_owner: row.lease_owner, lease_expires_at: Number(row.lease_expires_at) };
      };
      expect(await marker()).toMatchObject({ observed_through: 0, pending: 1 });
      expect((await marker()).lease_expires_at).toBeGreaterThan(Date.now());
      expect((await db.rows('SELECT content FROM memories WHERE deployment_id = $1 ORDER BY content', [deploymentId])).map((row) => row.content)).toEqual([
        'The customer publishes every Friday at noon.',
        'The customer wants reports written in French.',
      ]);
      expect((await db.rows('SELECT status FROM runs WHERE id = $1', [runId]))[0].status).toBe('completed');
      const observed = Number((await db.rows('SELECT MAX(seq) AS seq FROM messages WHERE thread_id = $1', [threadId]))[0].seq);
      // PostgreSQL: no start lets go of another node's lease; its 5 minutes are made to have run out.
      if (dialect === 'postgres') await db.rows('UPDATE memory_observations SET lease_expires_at = 1 WHERE thread_id = $1', [threadId]);

      const next = spawn();
      const url = await hermListening(next);
      await waitFor('the marker to move', async () => {
        const now = await marker();
        return now.observed_through === observed && now.pending === 0 && now.lease_owner === null;
      }, 30_000);
      // Moved without asking the model again, and each fact once.
      expect(observerCalls).toBe(1);
      const listed = await api(url, 'GET', `/v1/deployments/${deploymentId}/memories`);
      expect(listed.body.data.map((memory: any) => memory.content).sort()).toEqual([
        'The customer publishes every Friday at noon.',
        'The customer wants reports written in French.',
      ]);

      // The thread goes on: only its new messages are observed next.
      const observerRequests = model.requests.filter(isObserverRequest).length;
      await converse(url, deploymentId, SECOND, threadId);
      await waitFor('the next observation', async () => {
        const memories = (await api(url, 'GET', `/v1/deployments/${deploymentId}/memories`)).body.data;
        return memories.length === 3 && memories;
      }, 30_000);
      const later = model.requests.filter(isObserverRequest).slice(observerRequests);
      expect(later).toHaveLength(1);
      expect(newMessages(later[0]!.lastUserText)).toContain(SECOND);
      expect(newMessages(later[0]!.lastUserText)).not.toContain('French');
      const memories = (await api(url, 'GET', `/v1/deployments/${deploymentId}/memories`)).body.data.map((memory: any) => memory.content).sort();
      expect(memories).toEqual(['The customer is called Ada.', 'The customer publishes every Friday at noon.', 'The customer wants reports written in French.']);
      await db.close();
      await killHerm(next);
    });
  });
}
