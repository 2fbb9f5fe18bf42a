// Threads (the API's sessions), their visible message history and the model-level history the runtime replays.
import type { Selectable } from 'kysely';
import type { Db, MessagesTable, ThreadsTable } from './database.ts';
import { pageNewestFirst, type Page, type PageRequest } from './pagination.ts';

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
}

/** Appends model messages to a thread's history inside the caller's transaction. */
export async function appendHistoryIn(db: Db, threadId: string, runId: string | null, messages: unknown[]): Promise<HistoryEntry[]> {
  if (messages.length === 0) return [];
  const updated = await db
    .updateTable('threads')
    .set((eb) => ({ history_seq: eb('history_seq', '+', messages.length) }))
    .where('id', '=', threadId)
    .returning('history_seq')
    .executeTakeFirstOrThrow();
  const end = Number(updated.history_seq);
  const now = Date.now();
  const entries = messages.map((message, index) => ({ seq: end - messages.length + index + 1, runId, message }));
  await db
    .insertInto('history')
    .values(
      entries.map((entry) => ({
        thread_id: threadId,
        seq: entry.seq,
        run_id: runId,
        message: JSON.stringify(entry.message),
        created_at: now,
      })),
    )
    .execute();
  return entries;
}

/** Appends a visible message (role user or agent) inside the caller's transaction. */
export async function insertMessageIn(
  db: Db,
  input: {
    id: string;
    threadId: string;
    deploymentId: string;
    role: 'user' | 'agent';
    content: string;
    runId: string | null;
    attachments?: Attachment[] | undefined;
  },
): Promise<MessageRecord> {
  const now = Date.now();
  const updated = await db
    .updateTable('threads')
    .set((eb) => ({ message_count: eb('message_count', '+', 1), last_activity_at: now, updated_at: now }))
    .where('id', '=', input.threadId)
    .returning('message_count')
    .executeTakeFirstOrThrow();
  const row = {
    id: input.id,
    thread_id: input.threadId,
    deployment_id: input.deploymentId,
    seq: Number(updated.message_count),
    role: input.role,
    content: input.content,
    run_id: input.runId,
    attachments: input.attachments && input.attachments.length > 0 ? JSON.stringify(input.attachments) : null,
    created_at: now,
  };
  await db.insertInto('messages').values(row).execute();
  return row;
}

export class ThreadRepository {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
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

  /** The model-level history after the last compaction, plus the summary that stands for what came before. */
  async loadHistory(threadId: string): Promise<{ summary: string | null; entries: HistoryEntry[] }> {
    const thread = await this.#db
      .selectFrom('threads')
      .select(['summary', 'summary_through'])
      .where('id', '=', threadId)
      .executeTakeFirstOrThrow();
    const rows = await this.#db
      .selectFrom('history')
      .select(['seq', 'run_id', 'message'])
      .where('thread_id', '=', threadId)
      .where('seq', '>', Number(thread.summary_through))
      .orderBy('seq', 'asc')
      .execute();
    return {
      summary: thread.summary,
      entries: rows.map((row) => ({ seq: Number(row.seq), runId: row.run_id, message: JSON.parse(row.message) })),
    };
  }

  /** Appends and returns the new entries with their seq. */
  async appendHistory(threadId: string, runId: string | null, messages: unknown[]): Promise<HistoryEntry[]> {
    if (messages.length === 0) return [];
    return this.#db.transaction().execute((trx) => appendHistoryIn(trx, threadId, runId, messages));
  }

  /** Records a compaction: `summary` now stands for every history entry up to and including `throughSeq`. */
  async saveSummary(threadId: string, summary: string, throughSeq: number): Promise<void> {
    await this.#db
      .updateTable('threads')
      .set({ summary, summary_through: throughSeq, updated_at: Date.now() })
      .where('id', '=', threadId)
      .execute();
  }
}
