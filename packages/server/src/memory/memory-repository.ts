// The memory tables. `memories` is the index of the deployment's memory as last seen in its files (the workspace
// holds the memory itself; for a deployment without a persistent workspace the index is the memory). Comparing the
// files with it is how changes the agent made with its own file tools are found and kept as versions.
// `memory_versions` keeps every change (who, when, before and after), deletions included: the observer is told
// what was deleted. `memory_observations` is the observer's per-thread marker (how far the thread is observed,
// whether work is pending) and its lease; `memory_reflections` the reflector's per-deployment lease.
import type { Db, Dialect } from '../store/database.ts';
import { decodeCursor, encodeCursor, type Page, type PageRequest } from '../store/pagination.ts';
import { query } from '../store/sql.ts';
import type { MemoryPriority, MemoryRecord, MemorySource } from './memory-file.ts';

/** Who made a change: the product (api), the agent with its file tools, the observer, the reflector, a dream run (dreaming). */
export type MemoryActor = 'api' | 'agent' | 'observer' | 'reflector' | 'dream';
export type MemoryAction = 'created' | 'updated' | 'deleted';

export interface MemoryVersionRecord {
  id: string;
  deployment_id: string;
  memory_id: string;
  action: MemoryAction;
  actor: MemoryActor;
  /** The memory's text before the change; null for a creation. */
  before: string | null;
  /** The memory's text after the change; null for a deletion. */
  after: string | null;
  thread_id: string | null;
  created_at: number;
}

export interface ObservationState {
  thread_id: string;
  deployment_id: string;
  /** The last message seq the observer has seen. */
  observed_through: number;
  pending: boolean;
  due_at: number;
  attempts: number;
}

interface MemoryRow {
  deployment_id: string;
  memory_id: string;
  path: string;
  content: string;
  source: string;
  priority: string;
  created_at: number | string;
  updated_at: number | string;
}

interface VersionRow {
  id: string;
  deployment_id: string;
  memory_id: string;
  action: string;
  actor: string;
  before_content: string | null;
  after_content: string | null;
  thread_id: string | null;
  created_at: number | string;
}

export interface ObservationRow {
  thread_id: string;
  deployment_id: string;
  observed_through: number | string;
  pending: number | string;
  due_at: number | string;
  attempts: number | string;
}

const MEMORY_COLUMNS = 'deployment_id, memory_id, path, content, source, priority, created_at, updated_at';
const VERSION_COLUMNS = 'id, deployment_id, memory_id, action, actor, before_content, after_content, thread_id, created_at';
export const OBSERVATION_COLUMNS = 'thread_id, deployment_id, observed_through, pending, due_at, attempts';

function memoryFromRow(row: MemoryRow): MemoryRecord {
  return {
    memory_id: row.memory_id,
    path: row.path,
    content: row.content,
    source: row.source as MemorySource,
    priority: row.priority as MemoryPriority,
    created_at: Number(row.created_at),
    updated_at: Number(row.updated_at),
  };
}

function versionFromRow(row: VersionRow): MemoryVersionRecord {
  return {
    id: row.id,
    deployment_id: row.deployment_id,
    memory_id: row.memory_id,
    action: row.action as MemoryAction,
    actor: row.actor as MemoryActor,
    before: row.before_content,
    after: row.after_content,
    thread_id: row.thread_id,
    created_at: Number(row.created_at),
  };
}

export function observationFromRow(row: ObservationRow): ObservationState {
  return {
    thread_id: row.thread_id,
    deployment_id: row.deployment_id,
    observed_through: Number(row.observed_through),
    pending: Number(row.pending) === 1,
    due_at: Number(row.due_at),
    attempts: Number(row.attempts),
  };
}

export class MemoryRepository {
  readonly #db: Db;
  readonly #dialect: Dialect;
  /** This repository works inside exclusive()'s transaction: its writes need no transaction of their own. */
  readonly #inTransaction: boolean;

  constructor(db: Db, dialect: Dialect, inTransaction = false) {
    this.#db = db;
    this.#dialect = dialect;
    this.#inTransaction = inTransaction;
  }

  /**
   * Runs `work` as the only memory writer of the deployment across nodes, with a repository whose queries go through
   * the lock's transaction (one connection: no pool deadlock however many deployments do this at once). PostgreSQL:
   * a transaction-scoped advisory lock on the deployment, so one node's "write the file, then index it" is never
   * seen half done by another node comparing files with the index (it would take the new file for the agent's).
   * SQLite serves one node, whose MemoryService already runs a deployment's memory operations one at a time: `work`
   * runs on this repository, outside any transaction (one would hold the only connection through sandbox I/O).
   */
  async exclusive<T>(deploymentId: string, work: (repository: MemoryRepository) => Promise<T>): Promise<T> {
    if (this.#dialect !== 'postgres' || this.#inTransaction) return work(this);
    return this.#db.transaction().execute(async (trx) => {
      await query(trx, this.#dialect, 'SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`herm.memory:${deploymentId}`]);
      return work(new MemoryRepository(trx, this.#dialect, true));
    });
  }

  async index(deploymentId: string): Promise<MemoryRecord[]> {
    const rows = await query<MemoryRow>(
      this.#db,
      this.#dialect,
      `SELECT ${MEMORY_COLUMNS} FROM memories WHERE deployment_id = $1 ORDER BY created_at, memory_id`,
      [deploymentId],
    );
    return rows.map(memoryFromRow);
  }

  /** Records a change: the index row and its version, in one transaction. */
  async record(
    deploymentId: string,
    change: { action: MemoryAction; actor: MemoryActor; memory: MemoryRecord; before: string | null; versionId: string; threadId?: string | null | undefined; now: number },
  ): Promise<void> {
    const { memory } = change;
    const write = async (trx: Db) => {
      if (change.action === 'deleted') {
        await query(trx, this.#dialect, 'DELETE FROM memories WHERE deployment_id = $1 AND memory_id = $2', [deploymentId, memory.memory_id]);
      } else {
        await query(trx, this.#dialect, 'DELETE FROM memories WHERE deployment_id = $1 AND memory_id = $2', [deploymentId, memory.memory_id]);
        await query(trx, this.#dialect, `INSERT INTO memories (${MEMORY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, [
          deploymentId,
          memory.memory_id,
          memory.path,
          memory.content,
          memory.source,
          memory.priority,
          memory.created_at,
          memory.updated_at,
        ]);
      }
      await query(trx, this.#dialect, `INSERT INTO memory_versions (${VERSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, [
        change.versionId,
        deploymentId,
        memory.memory_id,
        change.action,
        change.actor,
        change.before,
        change.action === 'deleted' ? null : memory.content,
        change.threadId ?? null,
        change.now,
      ]);
    };
    if (this.#inTransaction) await write(this.#db);
    else await this.#db.transaction().execute(write);
  }

  /** Updates an index row without a version (a file's metadata changed, its text did not). */
  async touch(deploymentId: string, memory: MemoryRecord): Promise<void> {
    await query(this.#db, this.#dialect, 'UPDATE memories SET path = $3, source = $4, priority = $5, created_at = $6, updated_at = $7 WHERE deployment_id = $1 AND memory_id = $2', [
      deploymentId,
      memory.memory_id,
      memory.path,
      memory.source,
      memory.priority,
      memory.created_at,
      memory.updated_at,
    ]);
  }

  /** A memory's versions, newest first. */
  async versions(deploymentId: string, memoryId: string, page: PageRequest): Promise<Page<MemoryVersionRecord>> {
    const parameters: unknown[] = [deploymentId, memoryId];
    let condition = '';
    if (page.cursor) {
      const position = decodeCursor(page.cursor);
      parameters.push(position.createdAt, position.id);
      condition = ' AND (created_at < $3 OR (created_at = $3 AND id < $4))';
    }
    parameters.push(page.limit + 1);
    const rows = await query<VersionRow>(
      this.#db,
      this.#dialect,
      `SELECT ${VERSION_COLUMNS} FROM memory_versions WHERE deployment_id = $1 AND memory_id = $2${condition} ORDER BY created_at DESC, id DESC LIMIT $${parameters.length}`,
      parameters,
    );
    const hasMore = rows.length > page.limit;
    const data = (hasMore ? rows.slice(0, page.limit) : rows).map(versionFromRow);
    const last = data.at(-1);
    return { data, next_cursor: hasMore && last ? encodeCursor({ createdAt: last.created_at, id: last.id }) : null };
  }

  /** The texts deleted by the product or the agent (not the reflector's consolidations), newest first. */
  async deletedContents(deploymentId: string, limit: number): Promise<string[]> {
    const rows = await query<{ before_content: string | null }>(
      this.#db,
      this.#dialect,
      `SELECT before_content FROM memory_versions WHERE deployment_id = $1 AND action = 'deleted' AND actor IN ('api', 'agent') ORDER BY created_at DESC, id DESC LIMIT $2`,
      [deploymentId, limit],
    );
    return rows.map((row) => row.before_content).filter((content): content is string => content !== null);
  }

  /** Marks the thread's new messages for observation (from `dueAt`). */
  async markPending(deploymentId: string, threadId: string, dueAt: number): Promise<void> {
    const updated = await query<{ thread_id: string }>(
      this.#db,
      this.#dialect,
      'UPDATE memory_observations SET pending = 1, due_at = $2, attempts = 0 WHERE thread_id = $1 RETURNING thread_id',
      [threadId, dueAt],
    );
    if (updated.length > 0) return;
    await query(
      this.#db,
      this.#dialect,
      `INSERT INTO memory_observations (${OBSERVATION_COLUMNS}, lease_owner, lease_expires_at) VALUES ($1, $2, 0, 1, $3, 0, NULL, NULL)
       ON CONFLICT (thread_id) DO UPDATE SET pending = 1, due_at = $3, attempts = 0`,
      [threadId, deploymentId, dueAt],
    );
  }

  /** Forgets a deleted deployment's memory: index, versions, observer and reflector state. */
  async deleteDeployment(deploymentId: string): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      for (const table of ['memories', 'memory_versions', 'memory_observations', 'memory_reflections']) {
        await query(trx, this.#dialect, `DELETE FROM ${table} WHERE deployment_id = $1`, [deploymentId]);
      }
    });
  }

  /** The thread's observation marker, if it has one. */
  async observation(threadId: string): Promise<ObservationState | undefined> {
    const [row] = await query<ObservationRow>(this.#db, this.#dialect, `SELECT ${OBSERVATION_COLUMNS} FROM memory_observations WHERE thread_id = $1`, [threadId]);
    return row ? observationFromRow(row) : undefined;
  }

  /** Characters of the thread's messages not observed yet. */
  async unobservedCharacters(threadId: string): Promise<number> {
    const [row] = await query<{ characters: number | string | null }>(
      this.#db,
      this.#dialect,
      `SELECT SUM(LENGTH(content)) AS characters FROM messages WHERE thread_id = $1
       AND seq > COALESCE((SELECT observed_through FROM memory_observations WHERE thread_id = $1), 0)`,
      [threadId],
    );
    return Number(row?.characters ?? 0);
  }

  /** Threads with observation work due and no live lease. */
  async dueObservations(now: number, limit: number): Promise<string[]> {
    const rows = await query<{ thread_id: string }>(
      this.#db,
      this.#dialect,
      'SELECT thread_id FROM memory_observations WHERE pending = 1 AND due_at <= $1 AND (lease_expires_at IS NULL OR lease_expires_at < $1) ORDER BY due_at LIMIT $2',
      [now, limit],
    );
    return rows.map((row) => row.thread_id);
  }

  /**
   * Ends a claim: observed through `observedThrough` (what the holder was writing is forgotten: it is written).
   * `retryAt` keeps the work pending (a failure) with one more attempt counted, and keeps the record of what it was
   * writing, for the next claim to check (observation-claims.ts). Only the claim's owner can end it. A run that ended meanwhile marked it pending again
   * (markPending cleared `attempts`): that mark stays.
   */
  async finishObservation(threadId: string, owner: string, outcome: { observedThrough: number; retryAt?: number | undefined; claimedDueAt: number }): Promise<void> {
    if (outcome.retryAt !== undefined) {
      await query(
        this.#db,
        this.#dialect,
        'UPDATE memory_observations SET observed_through = $3, due_at = $4, attempts = attempts + 1, lease_owner = NULL, lease_expires_at = NULL WHERE thread_id = $1 AND lease_owner = $2',
        [threadId, owner, outcome.observedThrough, outcome.retryAt],
      );
      return;
    }
    await query(
      this.#db,
      this.#dialect,
      `UPDATE memory_observations SET observed_through = $3, pending = CASE WHEN due_at = $4 THEN 0 ELSE pending END, attempts = 0,
       lease_owner = NULL, lease_expires_at = NULL, writing = NULL WHERE thread_id = $1 AND lease_owner = $2`,
      [threadId, owner, outcome.observedThrough, outcome.claimedDueAt],
    );
  }

  /** Hands the thread's work back, still pending (a shutdown): the next node or start takes it at once. */
  async releaseObservation(threadId: string, owner: string): Promise<void> {
    await query(this.#db, this.#dialect, 'UPDATE memory_observations SET lease_owner = NULL, lease_expires_at = NULL WHERE thread_id = $1 AND lease_owner = $2', [threadId, owner]);
  }

  /** Gives up on the thread's pending work (too many failures); its next run marks it again. */
  async abandonObservation(threadId: string, owner: string): Promise<void> {
    await query(this.#db, this.#dialect, 'UPDATE memory_observations SET pending = 0, lease_owner = NULL, lease_expires_at = NULL, writing = NULL WHERE thread_id = $1 AND lease_owner = $2', [
      threadId,
      owner,
    ]);
  }

  /** The thread's visible messages after `afterSeq`, oldest first. */
  async messagesAfter(threadId: string, afterSeq: number, limit: number): Promise<{ seq: number; role: string; content: string; created_at: number }[]> {
    const rows = await query<{ seq: number | string; role: string; content: string; created_at: number | string }>(
      this.#db,
      this.#dialect,
      'SELECT seq, role, content, created_at FROM messages WHERE thread_id = $1 AND seq > $2 ORDER BY seq LIMIT $3',
      [threadId, afterSeq, limit],
    );
    return rows.map((row) => ({ seq: Number(row.seq), role: row.role, content: row.content, created_at: Number(row.created_at) }));
  }

  /** Takes the deployment's reflection for `owner` until `expiresAt`, unless another node holds it. */
  async claimReflection(deploymentId: string, owner: string, now: number, expiresAt: number): Promise<boolean> {
    await query(this.#db, this.#dialect, 'INSERT INTO memory_reflections (deployment_id, lease_owner, lease_expires_at, reflected_at) VALUES ($1, NULL, NULL, NULL) ON CONFLICT (deployment_id) DO NOTHING', [
      deploymentId,
    ]);
    const rows = await query<{ deployment_id: string }>(
      this.#db,
      this.#dialect,
      'UPDATE memory_reflections SET lease_owner = $2, lease_expires_at = $4 WHERE deployment_id = $1 AND (lease_expires_at IS NULL OR lease_expires_at < $3) RETURNING deployment_id',
      [deploymentId, owner, now, expiresAt],
    );
    return rows.length > 0;
  }

  async finishReflection(deploymentId: string, owner: string, now: number): Promise<void> {
    await query(this.#db, this.#dialect, 'UPDATE memory_reflections SET lease_owner = NULL, lease_expires_at = NULL, reflected_at = $3 WHERE deployment_id = $1 AND lease_owner = $2', [
      deploymentId,
      owner,
      now,
    ]);
  }
}
