// Threads (the API's sessions), their visible message history and the model-level history the runtime replays.
import type { Selectable } from 'kysely';
import type { Db, Dialect, MessagesTable, ThreadsTable } from './database.ts';
import { pageNewestFirst, type Page, type PageRequest } from './pagination.ts';
import { query } from './sql.ts';

export type ThreadRecord = Selectable<ThreadsTable>;
export type MessageRecord = Selectable<MessagesTable>;

/** Media a user message refers to by URL (Send Message's `attachments`). */
export interface Attachment {
  type: 'image' | 'video' | 'audio';
  url: string;
}

/** A user turn in the model history; attachments are turned into provider-specific parts when a step runs. */
export interface UserHistoryMessage {
  role: 'user';
  content: string;
  attachments?: Attachment[];
}

export interface HistoryEntry {
  seq: number;
  runId: string | null;
  message: unknown;
  /** Length of the message's JSON, when known (it sizes the context without serializing again). */
  chars?: number;
}

const historyInserts = new Map<number, string>();

/**
 * Inserts history rows numbered `firstSeq`, `firstSeq + 1`… (the caller has reserved them by bumping the
 * thread's history_seq) and returns them as entries.
 */
export async function insertHistoryIn(
  db: Db,
  dialect: Dialect,
  threadId: string,
  runId: string | null,
  firstSeq: number,
  messages: unknown[],
): Promise<HistoryEntry[]> {
  if (messages.length === 0) return [];
  let text = historyInserts.get(messages.length);
  if (!text) {
    const rows: string[] = [];
    for (let index = 0; index < messages.length; index++) rows.push(`($1, $${index * 2 + 4}, $2, $${index * 2 + 5}, $3)`);
    text = `INSERT INTO history (thread_id, seq, run_id, message, created_at) VALUES ${rows.join(', ')}`;
    if (historyInserts.size < 100) historyInserts.set(messages.length, text);
  }
  const parameters: unknown[] = [threadId, runId, Date.now()];
  const entries = messages.map((message, index) => {
    const json = JSON.stringify(message);
    parameters.push(firstSeq + index, json);
    return { seq: firstSeq + index, runId, message, chars: json.length };
  });
  await query(db, dialect, text, parameters);
  return entries;
}

/**
 * PostgreSQL reserves the seqs and inserts the rows in one round trip ($2 messages, as an array); the rows come
 * back so that a missing thread (no row) is told apart from an empty append.
 */
const POSTGRES_APPEND_HISTORY =
  'WITH thread AS (UPDATE threads SET history_seq = history_seq + $2 WHERE id = $1 RETURNING history_seq) ' +
  'INSERT INTO history (thread_id, seq, run_id, message, created_at) ' +
  'SELECT $1, thread.history_seq - $2 + h.ord, $3, h.message, $4 FROM thread, unnest($5::text[]) WITH ORDINALITY AS h(message, ord) ' +
  'RETURNING seq';

/** Appends model messages to a thread's history inside the caller's transaction. */
export async function appendHistoryIn(db: Db, dialect: Dialect, threadId: string, runId: string | null, messages: unknown[]): Promise<HistoryEntry[]> {
  if (messages.length === 0) return [];
  if (dialect === 'postgres') {
    const json = messages.map((message) => JSON.stringify(message));
    const rows = await query<{ seq: number | string }>(db, dialect, POSTGRES_APPEND_HISTORY, [threadId, messages.length, runId, Date.now(), json]);
    if (rows.length === 0) throw new Error(`thread ${threadId} does not exist`);
    const first = Math.min(...rows.map((row) => Number(row.seq)));
    return messages.map((message, index) => ({ seq: first + index, runId, message, chars: json[index]!.length }));
  }
  const [updated] = await query<{ history_seq: number | string }>(
    db,
    dialect,
    'UPDATE threads SET history_seq = history_seq + $1 WHERE id = $2 RETURNING history_seq',
    [messages.length, threadId],
  );
  if (!updated) throw new Error(`thread ${threadId} does not exist`);
  return insertHistoryIn(db, dialect, threadId, runId, Number(updated.history_seq) - messages.length + 1, messages);
}

/** `ThreadRepository.saveSummary` inside the caller's transaction (a run's journal saves it behind the run's fence). */
export async function saveSummaryIn(db: Db, threadId: string, summary: string, throughSeq: number): Promise<void> {
  await db.updateTable('threads').set({ summary, summary_through: throughSeq, updated_at: Date.now() }).where('id', '=', threadId).execute();
}

/** A visible message (role user or agent) to insert; `seq` comes from the thread's message_count. */
export interface NewMessage {
  id: string;
  threadId: string;
  deploymentId: string;
  role: 'user' | 'agent';
  content: string;
  runId: string | null;
  attachments?: Attachment[] | undefined;
}

/**
 * Inserts a visible message numbered `seq` inside the caller's transaction (the caller has bumped the thread's
 * message_count and its activity times).
 */
export async function insertMessageRowIn(db: Db, dialect: Dialect, input: NewMessage, seq: number, now: number): Promise<MessageRecord> {
  const row: MessageRecord = {
    id: input.id,
    thread_id: input.threadId,
    deployment_id: input.deploymentId,
    seq,
    role: input.role,
    content: input.content,
    run_id: input.runId,
    attachments: input.attachments && input.attachments.length > 0 ? JSON.stringify(input.attachments) : null,
    created_at: now,
  };
  await query(
    db,
    dialect,
    'INSERT INTO messages (id, thread_id, deployment_id, seq, role, content, run_id, attachments, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
    [row.id, row.thread_id, row.deployment_id, row.seq, row.role, row.content, row.run_id, row.attachments, row.created_at],
  );
  return row;
}

/** Threads whose parsed history loadHistory keeps, and the most entries it keeps in all. */
const HISTORY_CACHE_MAX_THREADS = 256;
const HISTORY_CACHE_MAX_ENTRIES = 20_000;

export class ThreadRepository {
  readonly #db: Db;
  readonly #dialect: Dialect;
  /** Parsed history of recently loaded threads, least recently loaded first. */
  readonly #historyCache = new Map<string, { summaryThrough: number; throughSeq: number; entries: HistoryEntry[] }>();
  #cachedEntries = 0;

  constructor(db: Db, dialect: Dialect) {
    this.#db = db;
    this.#dialect = dialect;
  }

  async create(input: { id: string; deploymentId: string; title: string | null }): Promise<ThreadRecord> {
    const now = Date.now();
    const row = {
      id: input.id,
      deployment_id: input.deploymentId,
      title: input.title,
      active_run_id: null,
      message_count: 0,
      history_seq: 0,
      summary: null,
      summary_through: 0,
      created_at: now,
      updated_at: now,
      last_activity_at: null,
      deleted_at: null,
    };
    await this.#db.insertInto('threads').values(row).execute();
    return row;
  }

  async get(deploymentId: string, id: string): Promise<ThreadRecord | undefined> {
    return this.#db
      .selectFrom('threads')
      .selectAll()
      .where('id', '=', id)
      .where('deployment_id', '=', deploymentId)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
  }

  async list(deploymentId: string, page: PageRequest): Promise<Page<ThreadRecord>> {
    const query = this.#db
      .selectFrom('threads')
      .selectAll()
      .where('deployment_id', '=', deploymentId)
      .where('deleted_at', 'is', null);
    return pageNewestFirst(query, 'threads', page);
  }

  async messages(threadId: string): Promise<MessageRecord[]> {
    return this.#db.selectFrom('messages').selectAll().where('thread_id', '=', threadId).orderBy('seq', 'asc').execute();
  }

  async rename(id: string, title: string | null): Promise<void> {
    await this.#db.updateTable('threads').set({ title, updated_at: Date.now() }).where('id', '=', id).execute();
  }

  async markDeleted(id: string): Promise<void> {
    await this.#db.updateTable('threads').set({ deleted_at: Date.now() }).where('id', '=', id).execute();
  }

  /**
   * The model-level history after the last compaction, plus the summary that stands for what came before.
   * History rows never change once written, so the entries of recently run threads are kept parsed and only
   * the rows appended since (by any node) are read; a compaction (a new summary_through) reloads the thread.
   */
  async loadHistory(threadId: string): Promise<{ summary: string | null; entries: HistoryEntry[] }> {
    let cached = this.#historyCache.get(threadId);
    if (cached) {
      this.#historyCache.delete(threadId);
      this.#cachedEntries -= cached.entries.length;
    }
    // One statement: the thread's summary and counters, and the entries after what the cache holds (when the
    // cache is still good for them: same summary, not ahead of the thread) or else after the summary.
    const rows = await query<{
      summary: string | null;
      summary_through: number | string;
      history_seq: number | string;
      seq: number | string | null;
      run_id: string | null;
      message: string | null;
    }>(
      this.#db,
      this.#dialect,
      'SELECT t.summary, t.summary_through, t.history_seq, h.seq, h.run_id, h.message FROM threads t ' +
        'LEFT JOIN history h ON h.thread_id = t.id AND h.seq > CASE WHEN t.summary_through = $2 AND t.history_seq >= $3 THEN $3 ELSE t.summary_through END ' +
        'WHERE t.id = $1 ORDER BY h.seq',
      [threadId, cached?.summaryThrough ?? -1, cached?.throughSeq ?? -1],
    );
    const thread = rows[0];
    if (!thread) throw new Error(`thread ${threadId} does not exist`);
    const summaryThrough = Number(thread.summary_through);
    const historySeq = Number(thread.history_seq);
    if (cached && (cached.summaryThrough !== summaryThrough || cached.throughSeq > historySeq)) cached = undefined;
    const entries = cached?.entries ?? [];
    const after = cached?.throughSeq ?? summaryThrough;
    for (const row of rows) {
      if (row.seq === null || row.message === null) continue;
      entries.push({ seq: Number(row.seq), runId: row.run_id, message: JSON.parse(row.message), chars: row.message.length });
    }
    const throughSeq = entries.length > 0 ? entries[entries.length - 1]!.seq : after;
    if (entries.length <= HISTORY_CACHE_MAX_ENTRIES / 4) {
      this.#historyCache.set(threadId, { summaryThrough, throughSeq, entries });
      this.#cachedEntries += entries.length;
      for (const [oldest, value] of this.#historyCache) {
        if (this.#cachedEntries <= HISTORY_CACHE_MAX_ENTRIES && this.#historyCache.size <= HISTORY_CACHE_MAX_THREADS) break;
        this.#historyCache.delete(oldest);
        this.#cachedEntries -= value.entries.length;
      }
    }
    // The caller may push and splice: it gets its own array (the entries themselves are never changed).
    return { summary: thread.summary, entries: [...entries] };
  }

  /** Appends and returns the new entries with their seq. */
  async appendHistory(threadId: string, runId: string | null, messages: unknown[]): Promise<HistoryEntry[]> {
    if (messages.length === 0) return [];
    return this.#db.transaction().execute((trx) => appendHistoryIn(trx, this.#dialect, threadId, runId, messages));
  }

  /** Records a compaction: `summary` now stands for every history entry up to and including `throughSeq`. */
  async saveSummary(threadId: string, summary: string, throughSeq: number): Promise<void> {
    await saveSummaryIn(this.#db, threadId, summary, throughSeq);
  }
}
