// The run journal on both dialects: every write of a run is fenced by its lease owner and attempt, so a node (or
// an earlier attempt of the same node) whose run was taken over writes nothing more of it, events included; and a
// message on thread_id "new" creates its thread in the transaction that posts it.
import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventHub } from '../../src/events/event-hub.ts';
import { EventLog } from '../../src/events/event-log.ts';
import { LeaseLostError, RunJournal, TOOL_CALL_INTERRUPTED } from '../../src/runs/run-journal.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { RunRecord } from '../../src/store/runs.ts';
import type { Store } from '../../src/store/store.ts';
import { newId } from '../../src/util/ids.ts';
import { createTestDatabase, postgresBaseUrl, POSTGRES_SKIP_MESSAGE, type TestDatabase } from '../support/databases.ts';
import { readyDeploymentRecord } from '../support/deployment-record.ts';

const postgresAvailable = (await postgresBaseUrl()) !== undefined;
if (!postgresAvailable) console.warn(POSTGRES_SKIP_MESSAGE);

const logger = pino({ level: 'silent' });

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe.skipIf(dialect === 'postgres' && !postgresAvailable)(`run journal on ${dialect}`, () => {
    let database: TestDatabase;
    let store: Store;
    let events: EventLog;

    beforeAll(async () => {
      database = await createTestDatabase(dialect);
      store = await openStore({ dataDir: database.dataDir, databaseUrl: database.databaseUrl });
      await store.accounts.ensureAccount('acct_a', 'A');
      events = new EventLog(store.events, new EventHub(), 'node_test');
    });

    afterAll(async () => {
      await events?.drain();
      await store?.close();
      await database?.drop();
    });

    async function createDeployment() {
      return store.deployments.create(
        readyDeploymentRecord({ account_id: 'acct_a', customer_id: 'cus_journal', name: 'journal', model: 'openai-compatible/m' }),
      );
    }

    /** A journal whose writes extend the lease by 1 ms only, so that another node may claim the run right after. */
    function journal(run: RunRecord, nodeId: string, onLeaseLost?: (error: LeaseLostError) => void) {
      return new RunJournal({ store, events, run, nodeId, leaseMs: 1, logger, onLeaseLost });
    }

    /** What the run left in the database: its events, its thread's history and its row. */
    async function snapshot(deploymentId: string, run: RunRecord) {
      const stored = await store.events.listAfter(deploymentId, 0, {}, 1_000);
      const history = await store.threads.loadHistory(run.thread_id);
      const row = (await store.runs.getById(run.id))!;
      return {
        events: stored.map((event) => `${event.seq}:${event.type}`),
        history: history.entries.map((entry) => entry.seq),
        summary: history.summary,
        row: { status: row.status, steps: row.steps, lease_owner: row.lease_owner, attempt: row.attempt, handoffs: row.handoffs },
      };
    }

    async function startRun(nodeId: string, leaseMs = 1) {
      const deployment = await createDeployment();
      const { run } = await store.runs.submitMessage({
        deploymentId: deployment.id,
        threadId: deployment.default_thread_id,
        content: 'do it',
        trigger: 'message',
        nodeId,
        leaseMs,
      });
      expect(run.attempt).toBe(1);
      return { deployment, run };
    }

    /** Claims the run for `nodeId` once its lease (1 ms) has expired. */
    async function takeOver(run: RunRecord, nodeId: string): Promise<RunRecord> {
      await new Promise((resolve) => setTimeout(resolve, 5));
      const now = Date.now();
      const claimed = (await store.runs.claimExpired(nodeId, now, now + 60_000, 1_000)).find((candidate) => candidate.id === run.id);
      expect(claimed).toBeDefined();
      return claimed!;
    }

    const call = { toolCallId: 'call_1', toolName: 'shell', input: { command: 'echo hi >> count.log' } };
    const assistant = { role: 'assistant', content: [{ type: 'tool-call', toolCallId: call.toolCallId, toolName: call.toolName, input: call.input }] };

    it('refuses every write of a node whose run was taken over, leaving no event, and lets the new owner finish it', async () => {
      const { deployment, run } = await startRun('node_old');
      const lost: LeaseLostError[] = [];
      const old = journal(run, 'node_old', (error) => lost.push(error));
      expect((await old.beginStep()).map((entry) => entry.message)).toEqual([{ role: 'user', content: 'do it' }]);
      await old.recordToolCalls(assistant, call);
      await events.drain();

      const claimed = await takeOver(run, 'node_new');
      expect(claimed).toMatchObject({ lease_owner: 'node_new', attempt: 2 });
      const before = await snapshot(deployment.id, run);
      expect(before.events).toEqual(['1:run_status', '2:tool_call']);

      // Each write as the old owner (a fresh journal each time, so each one reaches the database) is refused.
      const writes: Record<string, (stale: RunJournal) => Promise<unknown>> = {
        beginStep: (stale) => stale.beginStep(),
        recordToolCalls: (stale) => stale.recordToolCalls(assistant, call),
        recordToolResult: (stale) => stale.recordToolResult({ call, result: { exit_code: 0 }, isError: false }),
        closeInterruptedToolCalls: (stale) => stale.closeInterruptedToolCalls([{ seq: 2, runId: run.id, message: assistant }]),
        finish: (stale) => stale.finish({ status: 'completed', agentText: 'done', history: [{ role: 'assistant', content: 'done' }] }),
        failBeforeStart: (stale) => stale.failBeforeStart({ type: 'configuration_error', message: 'no' }),
        abandon: (stale) => stale.abandon({ type: 'server_error', message: 'abandoned' }),
        saveSummary: (stale) => stale.saveSummary('a summary', 1),
      };
      for (const [name, write] of Object.entries(writes)) {
        await expect(write(journal(run, 'node_old')), name).rejects.toBeInstanceOf(LeaseLostError);
      }
      const tokens = journal(run, 'node_old', (error) => lost.push(error));
      tokens.token('stray ');
      tokens.token('tokens');
      await events.drain();
      await expect.poll(() => lost.length).toBe(1);
      expect(await journal(run, 'node_old').release()).toBe(false);
      expect(await store.runs.renewLease(run.id, 'node_old', Date.now() + 60_000, 1)).toMatchObject({ owned: false });
      expect(await store.runs.renewLease(run.id, 'node_new', Date.now() + 60_000, 1)).toMatchObject({ owned: false });
      expect(await snapshot(deployment.id, run)).toEqual(before);

      // The original journal has not noticed yet; its next write is refused and reports the loss.
      await expect(old.recordToolResult({ call, result: { exit_code: 0 }, isError: false })).rejects.toBeInstanceOf(LeaseLostError);
      expect(lost).toHaveLength(2);
      expect(old.lost).toBe(true);

      // The new owner resumes: the call the old attempt left unanswered gets the restart message, then the run ends.
      const current = journal(claimed, 'node_new');
      const history = await current.loadHistory();
      const closed = await current.closeInterruptedToolCalls(history.entries);
      expect(JSON.stringify(closed[0]!.message)).toContain(TOOL_CALL_INTERRUPTED.restart);
      await current.beginStep();
      const end = await current.finish({ status: 'completed', agentText: 'Done.', history: [{ role: 'assistant', content: 'Done.' }] });
      expect(end.finished).toBe(true);
      await events.drain();
      const after = await snapshot(deployment.id, run);
      expect(after.events).toEqual(['1:run_status', '2:tool_call', '3:run_status', '4:tool_result', '5:run_status']);
      expect(after.row).toMatchObject({ status: 'completed', lease_owner: null, attempt: 2, steps: 2 });
      // Ended: no journal of any attempt writes it again.
      await expect(journal(claimed, 'node_new').beginStep()).rejects.toBeInstanceOf(LeaseLostError);
    });

    it("fences the same node's earlier attempt after it took the run again", async () => {
      const { deployment, run } = await startRun('node_same');
      const first = journal(run, 'node_same');
      await first.beginStep();
      const again = await takeOver(run, 'node_same');
      expect(again.attempt).toBe(2);
      await expect(first.recordToolCalls(assistant, call)).rejects.toBeInstanceOf(LeaseLostError);
      await journal(again, 'node_same').recordToolCalls(assistant, call);
      await events.drain();
      expect((await snapshot(deployment.id, run)).events).toEqual(['1:run_status', '2:run_status', '3:tool_call']);
    });

    it('hands a run back on release without counting the attempt, for any node to take at once', async () => {
      const { run } = await startRun('node_leaving', 60_000);
      const leaving = journal(run, 'node_leaving');
      await leaving.beginStep();
      expect(await leaving.release()).toBe(true);
      expect(await store.runs.getById(run.id)).toMatchObject({ status: 'running', lease_owner: null, lease_expires_at: null, attempt: 1, handoffs: 1 });
      const now = Date.now();
      const claimed = (await store.runs.claimExpired('node_next', now, now + 60_000, 1_000)).find((candidate) => candidate.id === run.id);
      expect(claimed).toMatchObject({ attempt: 2, handoffs: 1 });
      await expect(leaving.beginStep()).rejects.toBeInstanceOf(LeaseLostError);
    });

    it('counts the lease lost when no renewal gets through for a lease period (cut off from the database)', async () => {
      const { run } = await startRun('node_cut_off', 60_000);
      // A store of its own for this journal, closed below: from then on every renewal fails.
      const own = await openStore({ dataDir: database.dataDir, databaseUrl: database.databaseUrl });
      const lost: LeaseLostError[] = [];
      const cutOff = new RunJournal({ store: own, events, run: { ...run, lease_expires_at: Date.now() + 400 }, nodeId: 'node_cut_off', leaseMs: 400, logger, onLeaseLost: (error) => lost.push(error) });
      cutOff.keepLease();
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(lost).toHaveLength(0); // renewed all along
      const closedAt = Date.now();
      await own.close();
      await expect.poll(() => lost.length, { timeout: 2_000, interval: 20 }).toBe(1);
      expect(Date.now() - closedAt).toBeLessThan(400 + 300);
      expect(lost[0]!.message).toContain('could not be renewed for a lease period');
      cutOff.stopLease();
    });

    it('commits a write racing a takeover entirely or not at all', async () => {
      for (let round = 0; round < 8; round++) {
        const { deployment, run } = await startRun(`node_race_${round}`);
        const racing = journal(run, `node_race_${round}`);
        await racing.beginStep();
        await racing.recordToolCalls(assistant, call);
        await events.drain();
        await new Promise((resolve) => setTimeout(resolve, 5));
        const now = Date.now();
        // Even rounds start the claim at once (it tends to win), odd ones a moment later (the write tends to).
        const [write] = await Promise.allSettled([
          racing.recordToolResult({ call, result: { exit_code: 0 }, isError: false }),
          (round % 2 === 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, 1))).then(() =>
            store.runs.claimExpired('node_racer', now, now + 60_000, 1_000),
          ),
        ]);
        await events.drain();
        const after = await snapshot(deployment.id, run);
        // The write renews the lease it checks: committed first, the claim finds the run held; claimed first, the
        // write is refused.
        if (write.status === 'fulfilled') {
          expect(after.events).toEqual(['1:run_status', '2:tool_call', '3:tool_result']);
          expect(after.history).toHaveLength(3);
          expect(after.row).toMatchObject({ attempt: 1, lease_owner: `node_race_${round}` });
        } else {
          expect(write.reason).toBeInstanceOf(LeaseLostError);
          expect(after.events).toEqual(['1:run_status', '2:tool_call']);
          expect(after.history).toHaveLength(2);
          expect(after.row).toMatchObject({ attempt: 2, lease_owner: 'node_racer' });
        }
      }
    });

    it('creates the thread of thread_id "new" in the submit transaction: a submit that fails leaves none', async () => {
      const deployment = await createDeployment();
      // A trigger makes the submit fail after the thread, the run and the thread update are written.
      if (dialect === 'sqlite') {
        await sql`CREATE TRIGGER refuse_input BEFORE INSERT ON run_inputs WHEN NEW.content = 'explode'
          BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`.execute(store.db);
      } else {
        await sql`CREATE FUNCTION refuse_input() RETURNS trigger AS $$ BEGIN
          IF NEW.content = 'explode' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`.execute(store.db);
        await sql`CREATE TRIGGER refuse_input BEFORE INSERT ON run_inputs FOR EACH ROW EXECUTE FUNCTION refuse_input()`.execute(store.db);
      }
      try {
        const submit = (threadId: string, content: string) =>
          store.runs.submitMessage({ deploymentId: deployment.id, threadId, content, trigger: 'message', nodeId: 'n', leaseMs: 30_000, createThread: true });
        const failedId = newId('thread');
        await expect(submit(failedId, 'explode')).rejects.toThrow(/refused by the test/);
        expect(await store.threads.get(deployment.id, failedId)).toBeUndefined();
        const threads = await store.threads.list(deployment.id, { limit: 100 });
        expect(threads.data.map((thread) => thread.id)).toEqual([deployment.default_thread_id]);
        expect(await store.runs.listActive(deployment.id)).toEqual([]);

        const createdId = newId('thread');
        const { run } = await submit(createdId, 'hello');
        expect(await store.threads.get(deployment.id, createdId)).toMatchObject({ active_run_id: run.id, message_count: 1 });
        expect((await store.threads.messages(createdId)).map((message) => message.content)).toEqual(['hello']);
      } finally {
        await sql`DROP TRIGGER refuse_input${sql.raw(dialect === 'postgres' ? ' ON run_inputs' : '')}`.execute(store.db);
      }
    });
  });
}
