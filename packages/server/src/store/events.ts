// The event log: append-only, numbered per deployment (seq 1, 2, 3, …) in commit order.
import { sql, type Selectable } from 'kysely';
import type { Db, Dialect, EventsTable } from './database.ts';

export interface NewEvent {
  deploymentId: string;
  type: string;
  threadId: string | null;
  runId: string | null;
  /** The JSON payload without the envelope. */
  data: Record<string, unknown>;
}

export interface StoredEvent {
  deploymentId: string;
  seq: number;
  type: string;
  threadId: string | null;
  runId: string | null;
  /** The serialized payload, envelope included, exactly as it goes on the wire. */
  json: string;
  createdAt: number;
}

export interface EventFilter {
  threadId?: string | undefined;
  runId?: string | undefined;
}

/** SQLite and PostgreSQL both accept this many bound parameters in one statement (7 per row). */
const MAX_ROWS_PER_INSERT = 500;

function fromRow(row: Selectable<EventsTable>): StoredEvent {
  return {
    deploymentId: row.deployment_id,
    seq: Number(row.seq),
    type: row.type,
    threadId: row.thread_id,
    runId: row.run_id,
    json: row.data,
    createdAt: Number(row.created_at),
  };
}

function envelope(event: NewEvent, createdAt: number): string {
  return JSON.stringify({
    run_id: event.runId,
    thread_id: event.threadId,
    ...event.data,
    created_at: new Date(createdAt).toISOString(),
  });
}

/** The PostgreSQL channel on which committed appends are announced to the other nodes. */
export const EVENTS_CHANNEL = 'herm_events';

/** What a node announces after an append: which deployment, which seq range, and who wrote it. */
export interface EventNotice {
  node: string;
  deploymentId: string;
  from: number;
  to: number;
}

export class EventRepository {
  readonly #db: Db;
  readonly #dialect: Dialect;

  constructor(db: Db, dialect: Dialect) {
    this.#db = db;
    this.#dialect = dialect;
  }

  /**
   * Appends events in one transaction. Each deployment's counter row is bumped with UPDATE … RETURNING, which
   * on PostgreSQL also locks it until commit, so numbers commit in order and a reader never sees seq n+1 before n.
   */
  async append(events: NewEvent[], origin = ''): Promise<StoredEvent[]> {
    if (events.length === 0) return [];
    const byDeployment = new Map<string, NewEvent[]>();
    for (const event of events) {
      const group = byDeployment.get(event.deploymentId);
      if (group) group.push(event);
      else byDeployment.set(event.deploymentId, [event]);
    }
    const createdAt = Date.now();
    return this.#db.transaction().execute(async (trx) => {
      const stored: StoredEvent[] = [];
      for (const [deploymentId, group] of byDeployment) {
        const counter = await trx
          .updateTable('deployments')
          .set((eb) => ({ event_seq: eb('event_seq', '+', group.length) }))
          .where('id', '=', deploymentId)
          .returning('event_seq')
          .executeTakeFirst();
        if (!counter) continue; // the deployment is gone; its events have nowhere to go
        const first = Number(counter.event_seq) - group.length + 1;
        const rows = group.map((event, index) => ({
          deploymentId,
          seq: first + index,
          type: event.type,
          threadId: event.threadId,
          runId: event.runId,
          json: envelope(event, createdAt),
          createdAt,
        }));
        for (let start = 0; start < rows.length; start += MAX_ROWS_PER_INSERT) {
          await trx
            .insertInto('events')
            .values(
              rows.slice(start, start + MAX_ROWS_PER_INSERT).map((row) => ({
                deployment_id: row.deploymentId,
                seq: row.seq,
                type: row.type,
                thread_id: row.threadId,
                run_id: row.runId,
                data: row.json,
                created_at: row.createdAt,
              })),
            )
            .execute();
        }
        stored.push(...rows);
        if (this.#dialect === 'postgres') {
          // Delivered at commit, in commit order: other nodes learn of the range only once it is readable.
          const notice: EventNotice = { node: origin, deploymentId, from: first, to: first + group.length - 1 };
          await sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${JSON.stringify(notice)})`.execute(trx);
        }
      }
      return stored;
    });
  }

  /** Events with seq in [from, to], oldest first. */
  async listRange(deploymentId: string, from: number, to: number): Promise<StoredEvent[]> {
    const rows = await this.#db
      .selectFrom('events')
      .selectAll()
      .where('deployment_id', '=', deploymentId)
      .where('seq', '>=', from)
      .where('seq', '<=', to)
      .orderBy('seq', 'asc')
      .execute();
    return rows.map(fromRow);
  }

  /** Events after `afterSeq`, oldest first. */
  async listAfter(deploymentId: string, afterSeq: number, filter: EventFilter, limit: number): Promise<StoredEvent[]> {
    let query = this.#db
      .selectFrom('events')
      .selectAll()
      .where('deployment_id', '=', deploymentId)
      .where('seq', '>', afterSeq);
    if (filter.threadId !== undefined) query = query.where('thread_id', '=', filter.threadId);
    if (filter.runId !== undefined) query = query.where('run_id', '=', filter.runId);
    const rows = await query.orderBy('seq', 'asc').limit(limit).execute();
    return rows.map(fromRow);
  }

  /** The seq of the deployment's newest committed event (0 before the first). */
  async currentSeq(deploymentId: string): Promise<number | undefined> {
    const row = await this.#db
      .selectFrom('deployments')
      .select('event_seq')
      .where('id', '=', deploymentId)
      .executeTakeFirst();
    return row ? Number(row.event_seq) : undefined;
  }
}
