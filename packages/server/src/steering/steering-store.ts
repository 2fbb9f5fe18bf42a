// The steering_requests table: one row per time a run paused for a human. A row is pending until one fenced update
// (status = 'pending' in its WHERE) resolves it: an answer, its expiry, or the run's cancellation; whichever comes
// first wins on every node, and the others find it resolved.
import type { Db, Dialect } from '../store/database.ts';
import { decodeCursor, encodeCursor, type Page, type PageRequest } from '../store/pagination.ts';
import { query } from '../store/sql.ts';

export type SteeringStatus = 'pending' | 'approved' | 'denied' | 'replied' | 'expired' | 'cancelled';
export type SteeringDecision = 'approve' | 'deny' | 'reply';
/** `tool`: a call the deployment's policy holds for approval; `ask`: the agent's own ask_human call. */
export type SteeringKind = 'tool' | 'ask';

export const STEERING_STATUSES: SteeringStatus[] = ['pending', 'approved', 'denied', 'replied', 'expired', 'cancelled'];

/** The status a decision resolves a request with. */
export const DECISION_STATUS: Record<SteeringDecision, SteeringStatus> = { approve: 'approved', deny: 'denied', reply: 'replied' };

export interface SteeringToolCall {
  tool: string;
  origin: string;
  tool_call_id: string;
  arguments: unknown;
}

export interface SteeringRequestRecord {
  id: string;
  deployment_id: string;
  run_id: string;
  thread_id: string;
  kind: SteeringKind;
  summary: string;
  tool_call: SteeringToolCall;
  options: string[];
  status: SteeringStatus;
  /** The answer's decision; `deny` for an expired request; null while pending and for a cancelled one. */
  decision: SteeringDecision | null;
  message: string | null;
  created_at: number;
  expires_at: number;
  resolved_at: number | null;
  /** When the resumed run took an approval (before running the call): a crash after it does not run the call again. */
  applied_at: number | null;
}

interface Row {
  id: string;
  deployment_id: string;
  run_id: string;
  thread_id: string;
  kind: string;
  summary: string;
  tool_call: string;
  options: string;
  status: string;
  decision: string | null;
  message: string | null;
  created_at: number | string;
  expires_at: number | string;
  resolved_at: number | string | null;
  applied_at: number | string | null;
}

const COLUMNS = 'id, deployment_id, run_id, thread_id, kind, summary, tool_call, options, status, decision, message, created_at, expires_at, resolved_at, applied_at';

function fromRow(row: Row): SteeringRequestRecord {
  return {
    id: row.id,
    deployment_id: row.deployment_id,
    run_id: row.run_id,
    thread_id: row.thread_id,
    kind: row.kind as SteeringKind,
    summary: row.summary,
    tool_call: JSON.parse(row.tool_call) as SteeringToolCall,
    options: JSON.parse(row.options) as string[],
    status: row.status as SteeringStatus,
    decision: row.decision as SteeringDecision | null,
    message: row.message,
    created_at: Number(row.created_at),
    expires_at: Number(row.expires_at),
    resolved_at: row.resolved_at === null ? null : Number(row.resolved_at),
    applied_at: row.applied_at === null ? null : Number(row.applied_at),
  };
}

export class SteeringRepository {
  readonly #db: Db;
  readonly #dialect: Dialect;

  constructor(db: Db, dialect: Dialect) {
    this.#db = db;
    this.#dialect = dialect;
  }

  async insertIn(trx: Db, record: SteeringRequestRecord): Promise<void> {
    await query(
      trx,
      this.#dialect,
      `INSERT INTO steering_requests (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
      [
        record.id,
        record.deployment_id,
        record.run_id,
        record.thread_id,
        record.kind,
        record.summary,
        JSON.stringify(record.tool_call),
        JSON.stringify(record.options),
        record.status,
        record.decision,
        record.message,
        record.created_at,
        record.expires_at,
        record.resolved_at,
        record.applied_at,
      ],
    );
  }

  /** Resolves the request if it is still pending (the one write that decides it); undefined when it is not. */
  async resolveIn(
    trx: Db,
    id: string,
    resolution: { status: Exclude<SteeringStatus, 'pending'>; decision: SteeringDecision | null; message: string | null; now: number },
  ): Promise<SteeringRequestRecord | undefined> {
    const [row] = await query<Row>(
      trx,
      this.#dialect,
      `UPDATE steering_requests SET status = $2, decision = $3, message = $4, resolved_at = $5 WHERE id = $1 AND status = 'pending' RETURNING ${COLUMNS}`,
      [id, resolution.status, resolution.decision, resolution.message, resolution.now],
    );
    return row ? fromRow(row) : undefined;
  }

  /** Resolves the run's pending requests as cancelled (a waiting run cancelled or interrupted). */
  async cancelPendingIn(trx: Db, runId: string, now: number): Promise<SteeringRequestRecord[]> {
    const rows = await query<Row>(
      trx,
      this.#dialect,
      `UPDATE steering_requests SET status = 'cancelled', resolved_at = $2 WHERE run_id = $1 AND status = 'pending' RETURNING ${COLUMNS}`,
      [runId, now],
    );
    return rows.map(fromRow);
  }

  /** Marks an approval taken by the resumed run, once: false when an earlier attempt took it (its call may have run). */
  async markAppliedIn(trx: Db, id: string, now: number): Promise<boolean> {
    const rows = await query<{ id: string }>(trx, this.#dialect, 'UPDATE steering_requests SET applied_at = $2 WHERE id = $1 AND applied_at IS NULL RETURNING id', [id, now]);
    return rows.length > 0;
  }

  async get(deploymentId: string, id: string): Promise<SteeringRequestRecord | undefined> {
    const [row] = await query<Row>(this.#db, this.#dialect, `SELECT ${COLUMNS} FROM steering_requests WHERE id = $1 AND deployment_id = $2`, [id, deploymentId]);
    return row ? fromRow(row) : undefined;
  }

  /** The run's newest request. */
  async latestForRun(runId: string): Promise<SteeringRequestRecord | undefined> {
    const [row] = await query<Row>(
      this.#db,
      this.#dialect,
      `SELECT ${COLUMNS} FROM steering_requests WHERE run_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1`,
      [runId],
    );
    return row ? fromRow(row) : undefined;
  }

  /** Pending requests past their expiry, oldest first. */
  async due(now: number, limit: number): Promise<SteeringRequestRecord[]> {
    const rows = await query<Row>(
      this.#db,
      this.#dialect,
      `SELECT ${COLUMNS} FROM steering_requests WHERE status = 'pending' AND expires_at <= $1 ORDER BY expires_at LIMIT $2`,
      [now, limit],
    );
    return rows.map(fromRow);
  }

  /** The deployment's requests, newest first. */
  async list(
    deploymentId: string,
    filters: { status?: SteeringStatus | undefined; run_id?: string | undefined },
    page: PageRequest,
  ): Promise<Page<SteeringRequestRecord>> {
    const conditions = ['deployment_id = $1'];
    const parameters: unknown[] = [deploymentId];
    if (filters.status !== undefined) {
      parameters.push(filters.status);
      conditions.push(`status = $${parameters.length}`);
    }
    if (filters.run_id !== undefined) {
      parameters.push(filters.run_id);
      conditions.push(`run_id = $${parameters.length}`);
    }
    if (page.cursor) {
      const position = decodeCursor(page.cursor);
      parameters.push(position.createdAt, position.id);
      const at = `$${parameters.length - 1}`;
      conditions.push(`(created_at < ${at} OR (created_at = ${at} AND id < $${parameters.length}))`);
    }
    parameters.push(page.limit + 1);
    const rows = await query<Row>(
      this.#db,
      this.#dialect,
      `SELECT ${COLUMNS} FROM steering_requests WHERE ${conditions.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT $${parameters.length}`,
      parameters,
    );
    const data = rows.slice(0, page.limit).map(fromRow);
    const last = data.at(-1);
    return { data, next_cursor: rows.length > page.limit && last ? encodeCursor({ createdAt: last.created_at, id: last.id }) : null };
  }
}
