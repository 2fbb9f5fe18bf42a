// Runs: one unit of agent work on a thread. A thread has at most one active run; messages that arrive
// while it is active are queued as its inputs (steering) in the same transaction that checks for it,
// so a message is never lost between "the run looked finished" and "the run finished".
import type { Selectable, Transaction } from 'kysely';
import { newId } from '../util/ids.ts';
import type { Database, Db, Dialect, RunsTable } from './database.ts';
import { pageNewestFirst, type Page, type PageRequest } from './pagination.ts';
import { appendHistoryIn, insertMessageIn, type Attachment, type HistoryEntry, type UserHistoryMessage } from './threads.ts';

export type RunStatus = 'running' | 'waiting_on_human' | 'completed' | 'error';

export interface RunError {
  type: string;
  message: string;
}

export interface RunRecord extends Omit<Selectable<RunsTable>, 'error' | 'status'> {
  status: RunStatus;
  error: RunError | null;
}

const ACTIVE_STATUSES: RunStatus[] = ['running', 'waiting_on_human'];

function fromRow(row: Selectable<RunsTable>): RunRecord {
  return {
    ...row,
    status: row.status as RunStatus,
    error: row.error ? (JSON.parse(row.error) as RunError) : null,
    steps: Number(row.steps),
    cancel_requested: Number(row.cancel_requested),
    created_at: Number(row.created_at),
    started_at: row.started_at === null ? null : Number(row.started_at),
    completed_at: row.completed_at === null ? null : Number(row.completed_at),
    lease_expires_at: row.lease_expires_at === null ? null : Number(row.lease_expires_at),
  };
}

export interface SubmitResult {
  run: RunRecord;
  /** True when the message joined a run already in flight instead of starting one. */
  folded: boolean;
}

export interface FinishOutcome {
  status: 'completed' | 'error';
  error?: RunError | undefined;
  agentText: string;
}

export class RunRepository {
  readonly #db: Db;
  readonly #dialect: Dialect;

  constructor(db: Db, dialect: Dialect) {
    this.#db = db;
    this.#dialect = dialect;
  }

  /** Locks the thread row for the rest of the transaction (PostgreSQL; SQLite has one writer anyway). */
  async #lockThread(trx: Transaction<Database>, threadId: string) {
    let query = trx.selectFrom('threads').select(['id', 'active_run_id']).where('id', '=', threadId);
    if (this.#dialect === 'postgres') query = query.forUpdate();
    return query.executeTakeFirstOrThrow();
  }

  /** Posts a user message: starts a run on the thread, or folds the message into the active one. */
  async submitMessage(input: {
    deploymentId: string;
    threadId: string;
    content: string;
    attachments?: Attachment[] | undefined;
    trigger: string;
    nodeId: string;
    leaseMs: number;
  }): Promise<SubmitResult> {
    return this.#db.transaction().execute(async (trx) => {
      const thread = await this.#lockThread(trx, input.threadId);
      const now = Date.now();
      let run: RunRecord | undefined;
      let folded = false;
      if (thread.active_run_id) {
        const active = await trx.selectFrom('runs').selectAll().where('id', '=', thread.active_run_id).executeTakeFirst();
        if (active && ACTIVE_STATUSES.includes(active.status as RunStatus)) {
          run = fromRow(active);
          folded = true;
        }
      }
      if (!run) {
        const row = {
          id: newId('run'),
          deployment_id: input.deploymentId,
          thread_id: input.threadId,
          status: 'running',
          trigger: input.trigger,
          error: null,
          steps: 0,
          cancel_requested: 0,
          lease_owner: input.nodeId,
          lease_expires_at: now + input.leaseMs,
          created_at: now,
          started_at: now,
          completed_at: null,
        };
        await trx.insertInto('runs').values(row).execute();
        await trx.updateTable('threads').set({ active_run_id: row.id }).where('id', '=', input.threadId).execute();
        run = fromRow(row);
      }
      await trx
        .insertInto('run_inputs')
        .values({
          id: newId('message'),
          run_id: run.id,
          thread_id: input.threadId,
          content: input.content,
          attachments: input.attachments && input.attachments.length > 0 ? JSON.stringify(input.attachments) : null,
          created_at: now,
          consumed_at: null,
        })
        .execute();
      await insertMessageIn(trx, {
        id: newId('message'),
        threadId: input.threadId,
        deploymentId: input.deploymentId,
        role: 'user',
        content: input.content,
        runId: run.id,
        attachments: input.attachments,
      });
      return { run, folded };
    });
  }

  /** Moves the run's pending inputs into the thread's model history and returns the new history entries. */
  async takeInputs(runId: string, threadId: string): Promise<HistoryEntry[]> {
    return this.#db.transaction().execute(async (trx) => this.#takeInputsIn(trx, runId, threadId));
  }

  async #takeInputsIn(trx: Transaction<Database>, runId: string, threadId: string): Promise<HistoryEntry[]> {
    const pending = await trx
      .selectFrom('run_inputs')
      .select(['id', 'content', 'attachments'])
      .where('run_id', '=', runId)
      .where('consumed_at', 'is', null)
      .orderBy('created_at', 'asc')
      .orderBy('id', 'asc')
      .execute();
    if (pending.length === 0) return [];
    await trx
      .updateTable('run_inputs')
      .set({ consumed_at: Date.now() })
      .where('id', 'in', pending.map((input) => input.id))
      .execute();
    return appendHistoryIn(
      trx,
      threadId,
      runId,
      pending.map((input): UserHistoryMessage =>
        input.attachments
          ? { role: 'user', content: input.content, attachments: JSON.parse(input.attachments) as Attachment[] }
          : { role: 'user', content: input.content },
      ),
    );
  }

  /**
   * Ends the run unless inputs arrived that it has not seen yet (then returns false and the loop goes on).
   * An error ends the run regardless; its unseen inputs still enter the history for the next run.
   */
  async finish(runId: string, threadId: string, deploymentId: string, outcome: FinishOutcome): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      await this.#lockThread(trx, threadId);
      const current = await trx.selectFrom('runs').select('status').where('id', '=', runId).executeTakeFirst();
      if (!current || !ACTIVE_STATUSES.includes(current.status as RunStatus)) return true; // already ended
      if (outcome.status === 'completed') {
        const pending = await trx
          .selectFrom('run_inputs')
          .select('id')
          .where('run_id', '=', runId)
          .where('consumed_at', 'is', null)
          .limit(1)
          .executeTakeFirst();
        if (pending) return false;
      } else {
        await this.#takeInputsIn(trx, runId, threadId);
      }
      const now = Date.now();
      await trx
        .updateTable('runs')
        .set({
          status: outcome.status,
          error: outcome.error ? JSON.stringify(outcome.error) : null,
          completed_at: now,
          lease_owner: null,
          lease_expires_at: null,
        })
        .where('id', '=', runId)
        .execute();
      await trx
        .updateTable('threads')
        .set({ active_run_id: null })
        .where('id', '=', threadId)
        .where('active_run_id', '=', runId)
        .execute();
      if (outcome.agentText) {
        await insertMessageIn(trx, {
          id: newId('message'),
          threadId,
          deploymentId,
          role: 'agent',
          content: outcome.agentText,
          runId,
        });
      }
      return true;
    });
  }

  async get(deploymentId: string, id: string): Promise<RunRecord | undefined> {
    const row = await this.#db
      .selectFrom('runs')
      .selectAll()
      .where('id', '=', id)
      .where('deployment_id', '=', deploymentId)
      .executeTakeFirst();
    return row ? fromRow(row) : undefined;
  }

  async getById(id: string): Promise<RunRecord | undefined> {
    const row = await this.#db.selectFrom('runs').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? fromRow(row) : undefined;
  }

  async list(
    deploymentId: string,
    filters: { thread_id?: string | undefined; status?: string | undefined },
    page: PageRequest,
  ): Promise<Page<RunRecord>> {
    let query = this.#db.selectFrom('runs').selectAll().where('deployment_id', '=', deploymentId);
    if (filters.thread_id !== undefined) query = query.where('thread_id', '=', filters.thread_id);
    if (filters.status !== undefined) query = query.where('status', '=', filters.status);
    const result = await pageNewestFirst(query, 'runs', page);
    return { data: result.data.map(fromRow), next_cursor: result.next_cursor };
  }

  async listActive(deploymentId: string): Promise<RunRecord[]> {
    const rows = await this.#db
      .selectFrom('runs')
      .selectAll()
      .where('deployment_id', '=', deploymentId)
      .where('status', 'in', ACTIVE_STATUSES)
      .execute();
    return rows.map(fromRow);
  }

  async incrementSteps(id: string): Promise<void> {
    await this.#db.updateTable('runs').set((eb) => ({ steps: eb('steps', '+', 1) })).where('id', '=', id).execute();
  }

  async requestCancel(id: string): Promise<void> {
    await this.#db.updateTable('runs').set({ cancel_requested: 1 }).where('id', '=', id).execute();
  }

  /** Extends this node's lease; tells the worker whether it still owns the run and whether to stop. */
  async renewLease(id: string, nodeId: string, until: number): Promise<{ owned: boolean; cancelRequested: boolean }> {
    const row = await this.#db
      .updateTable('runs')
      .set({ lease_expires_at: until })
      .where('id', '=', id)
      .where('lease_owner', '=', nodeId)
      .where('status', '=', 'running')
      .returning(['cancel_requested'])
      .executeTakeFirst();
    return { owned: row !== undefined, cancelRequested: row ? Number(row.cancel_requested) === 1 : false };
  }

  /** Takes over running runs whose worker stopped renewing its lease (crash, kill -9, deploy). */
  async claimExpired(nodeId: string, now: number, until: number, limit = 10): Promise<RunRecord[]> {
    return this.#db.transaction().execute(async (trx) => {
      let candidates = trx
        .selectFrom('runs')
        .select('id')
        .where('status', '=', 'running')
        .where((eb) => eb.or([eb('lease_expires_at', '<', now), eb('lease_expires_at', 'is', null)]))
        .limit(limit);
      if (this.#dialect === 'postgres') candidates = candidates.forUpdate().skipLocked();
      const ids = (await candidates.execute()).map((row) => row.id);
      if (ids.length === 0) return [];
      const rows = await trx
        .updateTable('runs')
        .set({ lease_owner: nodeId, lease_expires_at: until })
        .where('id', 'in', ids)
        .returningAll()
        .execute();
      return rows.map(fromRow);
    });
  }
}
