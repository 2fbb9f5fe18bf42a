// Runs: one unit of agent work on a thread. A thread has at most one active run; messages that arrive
// while it is active are queued as its inputs (steering) in the same transaction that checks for it,
// so a message is never lost between "the run looked finished" and "the run finished".
import type { Selectable } from 'kysely';
import { completeIn, IdempotencyClaimLostError, type IdempotencyClaim } from './idempotency.ts';
import { failpoint } from '../util/failpoints.ts';
import { newId } from '../util/ids.ts';
import type { Db, Dialect, RunsTable } from './database.ts';
import { pageNewestFirst, type Page, type PageRequest } from './pagination.ts';
import { query } from './sql.ts';
import { appendHistoryIn, insertHistoryIn, insertMessageRowIn, type Attachment, type HistoryEntry, type UserHistoryMessage } from './threads.ts';

export type RunStatus = 'running' | 'waiting_on_human' | 'completed' | 'error';

export interface RunError {
  type: string;
  message: string;
}

export interface RunRecord extends Omit<Selectable<RunsTable>, 'error' | 'status' | 'queued'> {
  status: RunStatus;
  error: RunError | null;
  /** 1 while queued behind the thread's active run; read only where asked for (not among RUN_COLUMNS). */
  queued?: number | undefined;
}

const ACTIVE_STATUSES: RunStatus[] = ['running', 'waiting_on_human'];

/**
 * Who may write a run: the node holding its lease, in the attempt it holds it for. Every write of a run's journal
 * (runs/run-journal.ts) checks both in the statement that also locks the run row for the rest of its transaction.
 */
export interface RunFence {
  runId: string;
  nodeId: string;
  /** The run's `attempt` when this node took it; any later claim changes it. */
  attempt: number;
}

/** A fenced write found the run taken over by another node or attempt (or ended): nothing of its transaction commits. */
export class LeaseLostError extends Error {
  readonly runId: string;

  constructor(runId: string, detail = 'another node or attempt holds its lease now, or it has ended') {
    super(`lost the lease of run ${runId}: ${detail}`);
    this.name = 'LeaseLostError';
    this.runId = runId;
  }
}

/** The WHERE of a fenced statement: $1 the run, $2 the node, $3 the attempt. */
const FENCE = "id = $1 AND lease_owner = $2 AND attempt = $3 AND status IN ('running', 'waiting_on_human')";

/**
 * PostgreSQL's fenced history append in one round trip: the fence (which extends the lease to $4), then the thread's
 * history seqs ($5 messages) and rows ($8, as an array) only when the fence held. No row back: the fence failed.
 */
const POSTGRES_FENCED_APPEND =
  `WITH fence AS (UPDATE runs SET lease_expires_at = $4 WHERE ${FENCE} RETURNING cancel_requested), ` +
  'thread AS (UPDATE threads SET history_seq = history_seq + $5 WHERE id = $6 AND EXISTS (SELECT 1 FROM fence) RETURNING history_seq), ' +
  'entries AS (INSERT INTO history (thread_id, seq, run_id, message, created_at) ' +
  'SELECT $6, thread.history_seq - $5 + h.ord, $1, h.message, $7 FROM thread, unnest($8::text[]) WITH ORDINALITY AS h(message, ord) RETURNING seq) ' +
  'SELECT fence.cancel_requested, (SELECT min(seq) FROM entries) AS first_seq FROM fence';

/**
 * PostgreSQL's fenced start of a step in one round trip: the step counted (and the lease extended to $5) when the
 * fence holds, and then the run's pending inputs taken. No row back: the fence failed; a row with a null id: no input.
 */
const POSTGRES_BEGIN_STEP =
  `WITH step AS (UPDATE runs SET steps = steps + 1, lease_expires_at = $5 WHERE ${FENCE} RETURNING cancel_requested), ` +
  'taken AS (UPDATE run_inputs SET consumed_at = $4 WHERE run_id = $1 AND consumed_at IS NULL AND EXISTS (SELECT 1 FROM step) ' +
  'RETURNING id, content, attachments, created_at) ' +
  'SELECT step.cancel_requested, taken.id, taken.content, taken.attachments, taken.created_at FROM step LEFT JOIN taken ON true';

/** Named rather than *: a prepared statement must keep its result shape when a later migration adds a column. */
const RUN_COLUMNS =
  'id, deployment_id, thread_id, status, trigger, error, steps, cancel_requested, lease_owner, lease_expires_at, created_at, started_at, completed_at, ' +
  'attempt, handoffs, automation_id';

function fromRow(row: Omit<Selectable<RunsTable>, 'queued'> & { queued?: number }): RunRecord {
  return {
    ...row,
    status: row.status as RunStatus,
    error: row.error ? (JSON.parse(row.error) as RunError) : null,
    steps: Number(row.steps),
    cancel_requested: Number(row.cancel_requested),
    attempt: Number(row.attempt),
    handoffs: Number(row.handoffs),
    created_at: Number(row.created_at),
    started_at: row.started_at === null ? null : Number(row.started_at),
    completed_at: row.completed_at === null ? null : Number(row.completed_at),
    lease_expires_at: row.lease_expires_at === null ? null : Number(row.lease_expires_at),
  };
}

interface InputRow {
  id: string;
  content: string;
  attachments: string | null;
  created_at: number | string;
}

/** Consumed inputs as user messages of the model history, in the order they were posted. */
function toUserMessages(rows: InputRow[]): UserHistoryMessage[] {
  if (rows.length > 1) rows.sort((a, b) => Number(a.created_at) - Number(b.created_at) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return rows.map((input): UserHistoryMessage =>
    input.attachments
      ? { role: 'user', content: input.content, attachments: JSON.parse(input.attachments) as Attachment[] }
      : { role: 'user', content: input.content },
  );
}

export interface SubmitResult {
  run: RunRecord;
  /** True when the message joined a run already in flight instead of starting one. */
  folded: boolean;
  /** True when the message's run waits behind the thread's active run (multitask_strategy enqueue or interrupt). */
  queued?: boolean;
  /** multitask_strategy interrupt: the active run it asked to stop (its cancellation is requested in the same commit). */
  interrupted?: RunRecord;
}

/**
 * What a message does while a run is active on its thread (LangGraph Platform's double-texting names): `fold` (the
 * default) joins the active run as its input; `enqueue` starts a run of its own once the active one ends;
 * `interrupt` stops the active run (cancelled; its history kept) and starts its own; `reject` posts nothing
 * (RunInProgressError). A run waiting on a human is active.
 */
export type MultitaskStrategy = 'fold' | 'enqueue' | 'interrupt' | 'reject';

/** multitask_strategy "reject" found a run active on the thread: nothing was posted. */
export class RunInProgressError extends Error {
  readonly run: RunRecord;

  constructor(run: RunRecord) {
    super(`run ${run.id} is ${run.status === 'waiting_on_human' ? 'waiting on a human' : 'running'} on the thread`);
    this.run = run;
  }
}

export interface FinishOutcome {
  status: 'completed' | 'error';
  error?: RunError | undefined;
  agentText: string;
  /** Model messages of the last step, appended to the history whether or not the run may end. */
  history?: unknown[] | undefined;
}

export interface FinishResult {
  /** False when inputs arrived that the run has not seen: it goes on. */
  finished: boolean;
  /** A run that waited behind this one (queued) and is the thread's active run now: whoever can, starts it. */
  promoted?: string | undefined;
  /** The history entries appended (the outcome's `history`, or an ended run's unseen inputs). */
  entries: HistoryEntry[];
}

/** A message was posted to a thread that does not exist (or not in that deployment, or deleted). */
export class ThreadNotFoundError extends Error {
  readonly threadId: string;

  constructor(threadId: string) {
    super(`thread ${threadId} not found`);
    this.threadId = threadId;
  }
}

/**
 * PostgreSQL posts a message in one round trip: the run when one starts ($12), the thread's active run and
 * message count, the input, and the visible message numbered by that count.
 */
const POSTGRES_SUBMIT =
  'WITH run AS (INSERT INTO runs (id, deployment_id, thread_id, status, trigger, error, steps, cancel_requested, lease_owner, ' +
  "lease_expires_at, created_at, started_at, completed_at) SELECT $1, $2, $3, 'running', $4, NULL, 0, 0, $5, $6, $7, $7, NULL WHERE $12::boolean), " +
  'thread AS (UPDATE threads SET active_run_id = $1, message_count = message_count + 1, last_activity_at = $7, updated_at = $7 ' +
  'WHERE id = $3 RETURNING message_count), ' +
  'input AS (INSERT INTO run_inputs (id, run_id, thread_id, content, attachments, created_at, consumed_at) VALUES ($8, $1, $3, $9, $10, $7, NULL)) ' +
  'INSERT INTO messages (id, thread_id, deployment_id, seq, role, content, run_id, attachments, created_at) ' +
  "SELECT $11, $3, $2, message_count, 'user', $9, $1, $10, $7 FROM thread";

/** The thread ($1)'s first queued run leaves the queue (it becomes the active run of the thread as the one before ends). */
const PROMOTE_QUEUED = 'UPDATE runs SET queued = 0 WHERE id = (SELECT id FROM runs WHERE thread_id = $1 AND queued = 1 ORDER BY created_at, id LIMIT 1) RETURNING id';

/**
 * PostgreSQL ends a run in one round trip: the run's status, the thread (released, $5 history entries
 * reserved, $6 messages counted), the history entries ($8) and the agent's message when there is one.
 */
const POSTGRES_FINISH =
  'WITH run AS (UPDATE runs SET status = $1, error = $2, completed_at = $3, lease_owner = NULL, lease_expires_at = NULL WHERE id = $4), ' +
  `promoted AS (${PROMOTE_QUEUED.replace('$1', '$7')}), ` +
  'thread AS (UPDATE threads SET active_run_id = CASE WHEN active_run_id = $4 THEN (SELECT id FROM promoted) ELSE active_run_id END, ' +
  'history_seq = history_seq + $5, message_count = message_count + $6, ' +
  'last_activity_at = CASE WHEN $6 > 0 THEN $3 ELSE last_activity_at END, updated_at = CASE WHEN $6 > 0 THEN $3 ELSE updated_at END ' +
  'WHERE id = $7 RETURNING history_seq, message_count), ' +
  'entries AS (INSERT INTO history (thread_id, seq, run_id, message, created_at) ' +
  'SELECT $7, thread.history_seq - $5 + h.ord, $4, h.message, $3 FROM thread, unnest($8::text[]) WITH ORDINALITY AS h(message, ord)), ' +
  'message AS (INSERT INTO messages (id, thread_id, deployment_id, seq, role, content, run_id, attachments, created_at) ' +
  "SELECT $9, $7, $10, thread.message_count, 'agent', $11, $4, NULL, $3 FROM thread WHERE $6 > 0) " +
  'SELECT history_seq, (SELECT id FROM promoted) AS promoted FROM thread';

export class RunRepository {
  readonly #db: Db;
  readonly #dialect: Dialect;

  constructor(db: Db, dialect: Dialect) {
    this.#db = db;
    this.#dialect = dialect;
  }

  /**
   * Locks the thread row for the rest of the transaction (PostgreSQL; SQLite has one writer anyway) and reads the
   * status of its active run in the same statement. A run leaves the active statuses only in the transaction that
   * also clears the thread's active_run_id (finishIn), so the status read here is never staler than the lock.
   */
  async #lockThreadForSubmit(trx: Db, threadId: string, deploymentId: string) {
    const lock = this.#dialect === 'postgres' ? ' FOR UPDATE OF t' : '';
    const [row] = await query<{ active_run_id: string | null; run_status: string | null }>(
      trx,
      this.#dialect,
      'SELECT t.active_run_id, r.status AS run_status FROM threads t LEFT JOIN runs r ON r.id = t.active_run_id ' +
        `WHERE t.id = $1 AND t.deployment_id = $2 AND t.deleted_at IS NULL${lock}`,
      [threadId, deploymentId],
    );
    return row;
  }

  /**
   * Locks the thread and the run (PostgreSQL) and reads the run's status: locked, it is the newest committed one
   * even when this statement had to wait for another transaction ending the same run.
   */
  async #lockRun(trx: Db, threadId: string, runId: string, fence?: RunFence) {
    const lock = this.#dialect === 'postgres' ? ' FOR UPDATE OF t, r' : '';
    if (fence) {
      // Fenced: the owner and attempt are checked in the statement that locks the row (PostgreSQL checks them
      // again on the newest version when it had to wait for another transaction, such as a claim).
      const [row] = await query<{ run_status: string }>(
        trx,
        this.#dialect,
        'SELECT r.status AS run_status FROM threads t JOIN runs r ON r.id = $2 WHERE t.id = $1 AND r.lease_owner = $3 AND r.attempt = $4 ' +
          `AND r.status IN ('running', 'waiting_on_human')${lock}`,
        [threadId, runId, fence.nodeId, fence.attempt],
      );
      if (!row) throw new LeaseLostError(runId);
      return row;
    }
    const [row] = await query<{ run_status: string }>(
      trx,
      this.#dialect,
      `SELECT r.status AS run_status FROM threads t JOIN runs r ON r.id = $2 WHERE t.id = $1${lock}`,
      [threadId, runId],
    );
    return row;
  }

  /**
   * Posts a user message: starts a run on the thread, or folds the message into the active one. With
   * `createThread`, the thread `threadId` is created in the same transaction (Send Message's thread_id "new"), so a
   * submit that fails leaves no thread behind.
   * @throws ThreadNotFoundError when the thread is not one of the deployment's (or was deleted).
   */
  async submitMessage(input: {
    deploymentId: string;
    threadId: string;
    content: string;
    attachments?: Attachment[] | undefined;
    trigger: string;
    nodeId: string;
    leaseMs: number;
    createThread?: boolean | undefined;
    /** What the message does while a run is active on the thread; default `fold`. */
    strategy?: MultitaskStrategy | undefined;
    /** The request's Idempotency-Key claim: its response is recorded in this transaction (completeIn). */
    idempotency?: (IdempotencyClaim & { response: (result: SubmitResult) => { statusCode: number; body: string } }) | undefined;
  }): Promise<SubmitResult> {
    return this.#db.transaction().execute(async (trx) => {
      if (input.createThread) {
        const created = Date.now();
        await query(
          trx,
          this.#dialect,
          'INSERT INTO threads (id, deployment_id, title, active_run_id, message_count, history_seq, summary, summary_through, ' +
            'created_at, updated_at, last_activity_at, deleted_at) VALUES ($1, $2, NULL, NULL, 0, 0, NULL, 0, $3, $3, NULL, NULL)',
          [input.threadId, input.deploymentId, created],
        );
      }
      const result = await this.#submitIn(trx, input);
      if (input.idempotency) {
        const { response, ...claim } = input.idempotency;
        const { statusCode, body } = response(result);
        // A retry took the key over: this message must not be posted twice.
        if (!(await completeIn(trx, { ...claim, statusCode, responseBody: body }))) throw new IdempotencyClaimLostError(claim.key);
      }
      failpoint('submit.before_commit');
      return result;
    });
  }

  /**
   * An automation's message, posted inside the caller's transaction (its firing, the move of its next due time and
   * its run commit together: automations/automation-service.ts), starting a run that carries `automationId`. It never
   * folds into a run active on the thread: that is a RunInProgressError, and nothing is posted.
   * @throws ThreadNotFoundError when the thread is not one of the deployment's (or was deleted).
   */
  async submitAutomationIn(
    trx: Db,
    input: { deploymentId: string; threadId: string; content: string; automationId: string; nodeId: string; leaseMs: number },
  ): Promise<SubmitResult> {
    const { automationId, ...message } = input;
    const result = await this.#submitIn(trx, { ...message, trigger: 'automation', strategy: 'reject' });
    await query(trx, this.#dialect, 'UPDATE runs SET automation_id = $1 WHERE id = $2', [automationId, result.run.id]);
    return { ...result, run: { ...result.run, automation_id: automationId } };
  }

  /**
   * A dream's message, posted inside the caller's transaction (dreams/dream-service.ts: the claim of the idle period,
   * the dream's record and its run commit together), starting a run with trigger "dream" on the deployment's dream
   * thread, created here (titled `threadTitle`) when `createThread`. Never folds: a run active there is a
   * RunInProgressError.
   */
  async submitDreamIn(
    trx: Db,
    input: { deploymentId: string; threadId: string; createThread?: { title: string } | undefined; content: string; nodeId: string; leaseMs: number },
  ): Promise<SubmitResult> {
    const { createThread, ...message } = input;
    if (createThread) {
      const created = Date.now();
      await query(
        trx,
        this.#dialect,
        'INSERT INTO threads (id, deployment_id, title, active_run_id, message_count, history_seq, summary, summary_through, ' +
          'created_at, updated_at, last_activity_at, deleted_at) VALUES ($1, $2, $3, NULL, 0, 0, NULL, 0, $4, $4, NULL, NULL)',
        [input.threadId, input.deploymentId, createThread.title, created],
      );
    }
    return this.#submitIn(trx, { ...message, trigger: 'dream', strategy: 'reject' });
  }

  async #submitIn(
    trx: Db,
    input: {
      deploymentId: string;
      threadId: string;
      content: string;
      attachments?: Attachment[] | undefined;
      trigger: string;
      nodeId: string;
      leaseMs: number;
      strategy?: MultitaskStrategy | undefined;
    },
  ): Promise<SubmitResult> {
    const thread = await this.#lockThreadForSubmit(trx, input.threadId, input.deploymentId);
    if (!thread) throw new ThreadNotFoundError(input.threadId);
    const now = Date.now();
    let run: RunRecord | undefined;
    let folded = false;
    if (thread.active_run_id && thread.run_status && ACTIVE_STATUSES.includes(thread.run_status as RunStatus)) {
      const [active] = await query<Selectable<RunsTable>>(trx, this.#dialect, `SELECT ${RUN_COLUMNS} FROM runs WHERE id = $1`, [thread.active_run_id]);
      if (active) {
        run = fromRow(active);
        folded = true;
        // A message to a thread a dream is at work on is a customer's, not the dream's: the dream stops and the
        // message starts a run of its own as it ends (interrupt), whatever the strategy asked for (reject aside).
        const strategy = run.trigger === 'dream' && input.trigger !== 'dream' && input.strategy !== 'reject' ? 'interrupt' : (input.strategy ?? 'fold');
        if (strategy === 'reject') throw new RunInProgressError(run);
        if (strategy !== 'fold') return this.#queueIn(trx, input, run, strategy === 'interrupt', now);
      }
    }
    const startsRun = !run;
    if (!run) {
      run = fromRow({
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
        attempt: 1,
        handoffs: 0,
        automation_id: null,
      });
    }
    const attachments = input.attachments && input.attachments.length > 0 ? JSON.stringify(input.attachments) : null;
    if (this.#dialect === 'postgres') {
      // One round trip: the run (when one starts), the thread's active run and message count, the input and
      // the visible message numbered by that count.
      await query(trx, this.#dialect, POSTGRES_SUBMIT, [
        run.id,
        input.deploymentId,
        input.threadId,
        input.trigger,
        input.nodeId,
        now + input.leaseMs,
        now,
        newId('message'),
        input.content,
        attachments,
        newId('message'),
        startsRun,
      ]);
      return { run, folded };
    }
    if (startsRun) {
      await query(
        trx,
        this.#dialect,
        'INSERT INTO runs (id, deployment_id, thread_id, status, trigger, error, steps, cancel_requested, lease_owner, ' +
          "lease_expires_at, created_at, started_at, completed_at) VALUES ($1, $2, $3, 'running', $4, NULL, 0, 0, $5, $6, $7, $7, NULL)",
        [run.id, input.deploymentId, input.threadId, input.trigger, input.nodeId, now + input.leaseMs, now],
      );
    }
    // One update makes the run the thread's active one (a no-op when folded) and numbers the visible message.
    const [counted] = await query<{ message_count: number | string }>(
      trx,
      this.#dialect,
      'UPDATE threads SET active_run_id = $1, message_count = message_count + 1, last_activity_at = $2, updated_at = $2 ' +
        'WHERE id = $3 RETURNING message_count',
      [run.id, now, input.threadId],
    );
    await query(
      trx,
      this.#dialect,
      'INSERT INTO run_inputs (id, run_id, thread_id, content, attachments, created_at, consumed_at) VALUES ($1, $2, $3, $4, $5, $6, NULL)',
      [newId('message'), run.id, input.threadId, input.content, attachments, now],
    );
    await insertMessageRowIn(
      trx,
      this.#dialect,
      {
        id: newId('message'),
        threadId: input.threadId,
        deploymentId: input.deploymentId,
        role: 'user',
        content: input.content,
        runId: run.id,
        attachments: input.attachments,
      },
      Number(counted!.message_count),
      now,
    );
    return { run, folded };
  }

  /**
   * A message that starts a run of its own behind the thread's active run (`active`): the run is recorded queued
   * (no lease; claimExpired leaves it alone) with the message as its input, and becomes the thread's active run when
   * `active` ends (finishIn). With `interrupt`, the active run's cancellation is requested in the same commit.
   */
  async #queueIn(
    trx: Db,
    input: { deploymentId: string; threadId: string; content: string; attachments?: Attachment[] | undefined; trigger: string },
    active: RunRecord,
    interrupt: boolean,
    now: number,
  ): Promise<SubmitResult> {
    const id = newId('run');
    const [row] = await query<Selectable<RunsTable>>(
      trx,
      this.#dialect,
      'INSERT INTO runs (id, deployment_id, thread_id, status, trigger, error, steps, cancel_requested, lease_owner, lease_expires_at, ' +
        `created_at, started_at, completed_at, queued) VALUES ($1, $2, $3, 'running', $4, NULL, 0, 0, NULL, NULL, $5, NULL, NULL, 1) RETURNING ${RUN_COLUMNS}`,
      [id, input.deploymentId, input.threadId, input.trigger, now],
    );
    if (interrupt) await query(trx, this.#dialect, 'UPDATE runs SET cancel_requested = 1 WHERE id = $1', [active.id]);
    const [counted] = await query<{ message_count: number | string }>(
      trx,
      this.#dialect,
      'UPDATE threads SET message_count = message_count + 1, last_activity_at = $1, updated_at = $1 WHERE id = $2 RETURNING message_count',
      [now, input.threadId],
    );
    const attachments = input.attachments && input.attachments.length > 0 ? JSON.stringify(input.attachments) : null;
    await query(
      trx,
      this.#dialect,
      'INSERT INTO run_inputs (id, run_id, thread_id, content, attachments, created_at, consumed_at) VALUES ($1, $2, $3, $4, $5, $6, NULL)',
      [newId('message'), id, input.threadId, input.content, attachments, now],
    );
    await insertMessageRowIn(
      trx,
      this.#dialect,
      { id: newId('message'), threadId: input.threadId, deploymentId: input.deploymentId, role: 'user', content: input.content, runId: id, attachments: input.attachments },
      Number(counted!.message_count),
      now,
    );
    return { run: fromRow(row!), folded: false, queued: true, ...(interrupt ? { interrupted: { ...active, cancel_requested: 1 } } : {}) };
  }

  /**
   * Pauses the run for a human, behind its fence: `waiting_on_human`, its lease released (it holds nothing while it
   * waits), and the pause counted as a handoff (it is no crash: HERM_RUN_MAX_ATTEMPTS does not count it).
   * Returns whether a cancellation was requested meanwhile (the caller then ends the waiting run).
   * @throws LeaseLostError when the fence does not hold.
   */
  async pauseIn(trx: Db, fence: RunFence): Promise<{ cancelRequested: boolean }> {
    const [row] = await query<{ cancel_requested: number | string }>(
      trx,
      this.#dialect,
      `UPDATE runs SET status = 'waiting_on_human', lease_owner = NULL, lease_expires_at = NULL, handoffs = handoffs + 1 WHERE ${FENCE} RETURNING cancel_requested`,
      [fence.runId, fence.nodeId, fence.attempt],
    );
    if (!row) throw new LeaseLostError(fence.runId);
    return { cancelRequested: Number(row.cancel_requested) === 1 };
  }

  /**
   * Takes a waiting run back for `nodeId` (its request was answered or expired): running again, leased to it for a
   * new attempt (fencing out anything older). Undefined when the run is not waiting (any more).
   */
  async wakeIn(trx: Db, runId: string, nodeId: string, leaseUntil: number): Promise<RunRecord | undefined> {
    const [row] = await query<Selectable<RunsTable>>(
      trx,
      this.#dialect,
      "UPDATE runs SET status = 'running', lease_owner = $2, lease_expires_at = $3, attempt = attempt + 1 " +
        `WHERE id = $1 AND status = 'waiting_on_human' RETURNING ${RUN_COLUMNS}`,
      [runId, nodeId, leaseUntil],
    );
    return row ? fromRow(row) : undefined;
  }

  /**
   * Ends a run that holds nothing — waiting on a human, or queued — in error (a cancellation), when it is still in
   * that state: its unseen inputs are consumed (a queued run's do not enter the history, which belongs to the run
   * active meanwhile), `history` (answers for its pending calls) is appended, and a queued run behind it promoted.
   */
  async endIdleIn(trx: Db, run: RunRecord, error: RunError, history: unknown[]): Promise<FinishResult | undefined> {
    const [queued] = await query<{ id: string }>(
      trx,
      this.#dialect,
      "UPDATE runs SET status = 'error', error = $2, completed_at = $3, queued = 0 WHERE id = $1 AND queued = 1 AND status = 'running' RETURNING id",
      [run.id, JSON.stringify(error), Date.now()],
    );
    if (queued) {
      await query(trx, this.#dialect, 'UPDATE run_inputs SET consumed_at = $2 WHERE run_id = $1 AND consumed_at IS NULL', [run.id, Date.now()]);
      return { finished: true, entries: [] };
    }
    const [waiting] = await query<{ id: string }>(
      trx,
      this.#dialect,
      "UPDATE runs SET status = 'running', cancel_requested = 1 WHERE id = $1 AND status = 'waiting_on_human' RETURNING id",
      [run.id],
    );
    if (!waiting) return undefined;
    return this.finishIn(trx, run.id, run.thread_id, run.deployment_id, { status: 'error', error, agentText: '', history });
  }

  /** The runs queued on a thread behind its active run (multitask_strategy enqueue/interrupt), oldest first. */
  async listQueued(threadId: string): Promise<RunRecord[]> {
    const rows = await query<Selectable<RunsTable>>(
      this.#db,
      this.#dialect,
      `SELECT ${RUN_COLUMNS}, queued FROM runs WHERE thread_id = $1 AND queued = 1 ORDER BY created_at, id`,
      [threadId],
    );
    return rows.map(fromRow);
  }

  /** Takes one run nobody holds (a promoted queued run, a woken one whose node died) for this node; undefined if another has it. */
  async claimRun(id: string, nodeId: string, now: number, until: number): Promise<RunRecord | undefined> {
    const [row] = await query<Selectable<RunsTable>>(
      this.#db,
      this.#dialect,
      'UPDATE runs SET lease_owner = $2, lease_expires_at = $4, attempt = attempt + 1, started_at = COALESCE(started_at, $3) ' +
        `WHERE id = $1 AND status = 'running' AND queued = 0 AND (lease_expires_at IS NULL OR lease_expires_at < $3) RETURNING ${RUN_COLUMNS}`,
      [id, nodeId, now, until],
    );
    return row ? fromRow(row) : undefined;
  }

  /** Moves the run's pending inputs into the thread's model history and returns the new history entries. */
  async takeInputs(runId: string, threadId: string): Promise<HistoryEntry[]> {
    return this.#db.transaction().execute(async (trx) => this.#takeInputsIn(trx, runId, threadId));
  }

  /**
   * The fence of a run's write, inside the caller's transaction: checks that `fence` still holds the run (owner and
   * attempt, in the statement that locks its row until the commit) and extends its lease to `leaseUntil`.
   * @throws LeaseLostError when it does not: the caller's transaction must roll back.
   */
  async fenceIn(trx: Db, fence: RunFence, leaseUntil: number): Promise<{ cancelRequested: boolean }> {
    const [row] = await query<{ cancel_requested: number | string }>(
      trx,
      this.#dialect,
      `UPDATE runs SET lease_expires_at = $4 WHERE ${FENCE} RETURNING cancel_requested`,
      [fence.runId, fence.nodeId, fence.attempt, leaseUntil],
    );
    if (!row) throw new LeaseLostError(fence.runId);
    return { cancelRequested: Number(row.cancel_requested) === 1 };
  }

  /** Appends the run's messages to the thread's history behind its fence (fenceIn), in one round trip on PostgreSQL. */
  async appendHistoryFencedIn(
    trx: Db,
    fence: RunFence,
    threadId: string,
    messages: unknown[],
    leaseUntil: number,
  ): Promise<{ entries: HistoryEntry[]; cancelRequested: boolean }> {
    if (this.#dialect === 'postgres' && messages.length > 0) {
      const json = messages.map((message) => JSON.stringify(message));
      const [row] = await query<{ cancel_requested: number | string; first_seq: number | string | null }>(trx, this.#dialect, POSTGRES_FENCED_APPEND, [
        fence.runId,
        fence.nodeId,
        fence.attempt,
        leaseUntil,
        messages.length,
        threadId,
        Date.now(),
        json,
      ]);
      if (!row) throw new LeaseLostError(fence.runId);
      if (row.first_seq === null) throw new Error(`thread ${threadId} does not exist`);
      const first = Number(row.first_seq);
      const entries = messages.map((message, index) => ({ seq: first + index, runId: fence.runId, message, chars: json[index]!.length }));
      return { entries, cancelRequested: Number(row.cancel_requested) === 1 };
    }
    const { cancelRequested } = await this.fenceIn(trx, fence, leaseUntil);
    return { entries: await appendHistoryIn(trx, this.#dialect, threadId, fence.runId, messages), cancelRequested };
  }

  /**
   * The database side of starting a model step, inside the caller's transaction and behind the run's fence: the
   * step is counted (the lease extended to `leaseUntil`) and the run's pending inputs move into the history
   * (returned as entries).
   * @throws LeaseLostError when the fence does not hold.
   */
  async beginStepIn(trx: Db, fence: RunFence, threadId: string, leaseUntil: number): Promise<{ entries: HistoryEntry[]; cancelRequested: boolean }> {
    if (this.#dialect === 'postgres') {
      // The step is counted in the statement that takes the inputs.
      const rows = await query<InputRow & { cancel_requested: number | string; id: string | null }>(trx, this.#dialect, POSTGRES_BEGIN_STEP, [
        fence.runId,
        fence.nodeId,
        fence.attempt,
        Date.now(),
        leaseUntil,
      ]);
      if (rows.length === 0) throw new LeaseLostError(fence.runId);
      const inputs = toUserMessages(rows.filter((row): row is InputRow & { cancel_requested: number | string } => row.id !== null));
      return {
        entries: await appendHistoryIn(trx, this.#dialect, threadId, fence.runId, inputs),
        cancelRequested: Number(rows[0]!.cancel_requested) === 1,
      };
    }
    const [row] = await query<{ cancel_requested: number | string }>(
      trx,
      this.#dialect,
      `UPDATE runs SET steps = steps + 1, lease_expires_at = $4 WHERE ${FENCE} RETURNING cancel_requested`,
      [fence.runId, fence.nodeId, fence.attempt, leaseUntil],
    );
    if (!row) throw new LeaseLostError(fence.runId);
    return { entries: await this.#takeInputsIn(trx, fence.runId, threadId), cancelRequested: Number(row.cancel_requested) === 1 };
  }

  /**
   * Hands the run back on a graceful shutdown, behind its fence: the lease is released (any node may take the run
   * at once) and the handoff counted, so that this attempt does not count against HERM_RUN_MAX_ATTEMPTS.
   * @throws LeaseLostError when the fence does not hold (the run ended, or was taken over, meanwhile).
   */
  async releaseIn(trx: Db, fence: RunFence): Promise<void> {
    const [row] = await query<{ id: string }>(
      trx,
      this.#dialect,
      `UPDATE runs SET lease_owner = NULL, lease_expires_at = NULL, handoffs = handoffs + 1 WHERE ${FENCE} RETURNING id`,
      [fence.runId, fence.nodeId, fence.attempt],
    );
    if (!row) throw new LeaseLostError(fence.runId);
  }

  /** Marks the pending inputs consumed and returns them, in one statement; most steps find none. */
  async #consumeInputs(trx: Db, runId: string): Promise<UserHistoryMessage[]> {
    const rows = await query<InputRow>(
      trx,
      this.#dialect,
      'UPDATE run_inputs SET consumed_at = $1 WHERE run_id = $2 AND consumed_at IS NULL RETURNING id, content, attachments, created_at',
      [Date.now(), runId],
    );
    return toUserMessages(rows);
  }

  async #takeInputsIn(trx: Db, runId: string, threadId: string): Promise<HistoryEntry[]> {
    const inputs = await this.#consumeInputs(trx, runId);
    if (inputs.length === 0) return [];
    return appendHistoryIn(trx, this.#dialect, threadId, runId, inputs);
  }

  /**
   * Ends the run unless inputs arrived that it has not seen yet (then returns false and the loop goes on).
   * An error ends the run regardless; its unseen inputs still enter the history for the next run.
   */
  async finish(runId: string, threadId: string, deploymentId: string, outcome: FinishOutcome): Promise<boolean> {
    const result = await this.#db.transaction().execute((trx) => this.finishIn(trx, runId, threadId, deploymentId, outcome));
    return result.finished;
  }

  /**
   * `finish` inside the caller's transaction, which also appends `outcome.history` (the last step's messages):
   * the check for unseen inputs and the end of the run are one transaction with the thread locked, so a message
   * posted meanwhile is either seen by this check or starts a run of its own. With `fence`, the run is locked only
   * while that fence holds it.
   * @throws LeaseLostError when `fence` is given and does not hold.
   */
  async finishIn(trx: Db, runId: string, threadId: string, deploymentId: string, outcome: FinishOutcome, fence?: RunFence): Promise<FinishResult> {
    const locked = await this.#lockRun(trx, threadId, runId, fence);
    if (!locked) return { finished: true, entries: [] }; // the run (or its thread) is gone
    const history = [...(outcome.history ?? [])];
    if (!ACTIVE_STATUSES.includes(locked.run_status as RunStatus)) {
      // already ended
      return { finished: true, entries: await appendHistoryIn(trx, this.#dialect, threadId, runId, history) };
    }
    if (outcome.status === 'completed') {
      const [pending] = await query(trx, this.#dialect, 'SELECT id FROM run_inputs WHERE run_id = $1 AND consumed_at IS NULL LIMIT 1', [runId]);
      if (pending) return { finished: false, entries: await appendHistoryIn(trx, this.#dialect, threadId, runId, history) };
    } else {
      history.push(...(await this.#consumeInputs(trx, runId)));
    }
    const now = Date.now();
    const messages = outcome.agentText ? 1 : 0;
    if (this.#dialect === 'postgres') {
      // One round trip for the run, the thread, the history entries and the agent's message.
      const json = history.map((message) => JSON.stringify(message));
      const [updated] = await query<{ history_seq: number | string; promoted: string | null }>(trx, this.#dialect, POSTGRES_FINISH, [
        outcome.status,
        outcome.error ? JSON.stringify(outcome.error) : null,
        now,
        runId,
        history.length,
        messages,
        threadId,
        json,
        newId('message'),
        deploymentId,
        outcome.agentText,
      ]);
      const first = Number(updated!.history_seq) - history.length + 1;
      return {
        finished: true,
        entries: json.map((text, index) => ({ seq: first + index, runId, message: history[index], chars: text.length })),
        promoted: updated!.promoted ?? undefined,
      };
    }
    await query(
      trx,
      this.#dialect,
      'UPDATE runs SET status = $1, error = $2, completed_at = $3, lease_owner = NULL, lease_expires_at = NULL WHERE id = $4',
      [outcome.status, outcome.error ? JSON.stringify(outcome.error) : null, now, runId],
    );
    // One update releases the thread, reserves the history entries and numbers the agent's message.
    const [updated] = await query<{ history_seq: number | string; message_count: number | string }>(
      trx,
      this.#dialect,
      'UPDATE threads SET active_run_id = CASE WHEN active_run_id = $1 THEN NULL ELSE active_run_id END, ' +
        'history_seq = history_seq + $2, message_count = message_count + $3, ' +
        'last_activity_at = CASE WHEN $3 > 0 THEN $4 ELSE last_activity_at END, updated_at = CASE WHEN $3 > 0 THEN $4 ELSE updated_at END ' +
        'WHERE id = $5 RETURNING history_seq, message_count',
      [runId, history.length, messages, now, threadId],
    );
    const entries = await insertHistoryIn(trx, this.#dialect, threadId, runId, Number(updated!.history_seq) - history.length + 1, history);
    // A run queued behind this one becomes the thread's active run (multitask_strategy enqueue/interrupt).
    const [promoted] = await query<{ id: string }>(trx, this.#dialect, PROMOTE_QUEUED, [threadId]);
    if (promoted) await query(trx, this.#dialect, 'UPDATE threads SET active_run_id = $1 WHERE id = $2 AND active_run_id IS NULL', [promoted.id, threadId]);
    if (outcome.agentText) {
      await insertMessageRowIn(
        trx,
        this.#dialect,
        { id: newId('message'), threadId, deploymentId, role: 'agent', content: outcome.agentText, runId },
        Number(updated!.message_count),
        now,
      );
    }
    return { finished: true, entries, promoted: promoted?.id };
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
    await query(this.#db, this.#dialect, 'UPDATE runs SET steps = steps + 1 WHERE id = $1', [id]);
  }

  async requestCancel(id: string): Promise<void> {
    await this.#db.updateTable('runs').set({ cancel_requested: 1 }).where('id', '=', id).execute();
  }

  /**
   * Extends this node's lease; tells the worker whether it still owns the run and whether to stop. With `attempt`
   * (the fencing token), a lease this node holds for a later attempt of the run is not this worker's.
   */
  async renewLease(id: string, nodeId: string, until: number, attempt?: number): Promise<{ owned: boolean; cancelRequested: boolean }> {
    const [row] = await query<{ cancel_requested: number | string }>(
      this.#db,
      this.#dialect,
      attempt === undefined
        ? "UPDATE runs SET lease_expires_at = $1 WHERE id = $2 AND lease_owner = $3 AND status = 'running' RETURNING cancel_requested"
        : "UPDATE runs SET lease_expires_at = $1 WHERE id = $2 AND lease_owner = $3 AND attempt = $4 AND status = 'running' RETURNING cancel_requested",
      attempt === undefined ? [until, id, nodeId] : [until, id, nodeId, attempt],
    );
    return { owned: row !== undefined, cancelRequested: row ? Number(row.cancel_requested) === 1 : false };
  }

  /**
   * Takes over running runs whose worker stopped renewing its lease (crash, kill -9, deploy) or handed them back:
   * each claimed run's `attempt` goes up, which fences out every write of the attempt before.
   */
  async claimExpired(nodeId: string, now: number, until: number, limit = 10): Promise<RunRecord[]> {
    return this.#db.transaction().execute(async (trx) => {
      let candidates = trx
        .selectFrom('runs')
        .select('id')
        .where('status', '=', 'running')
        .where('queued', '=', 0)
        .where((eb) => eb.or([eb('lease_expires_at', '<', now), eb('lease_expires_at', 'is', null)]))
        .limit(limit);
      if (this.#dialect === 'postgres') candidates = candidates.forUpdate().skipLocked();
      const ids = (await candidates.execute()).map((row) => row.id);
      if (ids.length === 0) return [];
      const rows = await trx
        .updateTable('runs')
        .set((eb) => ({ lease_owner: nodeId, lease_expires_at: until, attempt: eb('attempt', '+', 1), started_at: eb.fn.coalesce('started_at', eb.val(Date.now())) }))
        .where('id', 'in', ids)
        .returningAll()
        .execute();
      failpoint('run.claim.before_commit');
      return rows.map(fromRow);
    });
  }
}
