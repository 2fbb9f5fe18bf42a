// The tables of dreaming. `dream_state` is one row per deployment with dreaming on: when it was last active (a run
// of the customer's ended) and how far the last dream covered. A deployment is due to
// dream once it has been idle for HERM_DREAM_IDLE_MS after activity no dream covered yet; claiming that moves
// `dreamed_through` in the commit that starts the dream run, so each idle period dreams once, on one node.
// `dreams` keeps each dream: its run, the memory and learned skills it started from, and (once its run ended) what it
// changed, which the API lists and can roll back. `learned_skills` is the index of the deployment's learned skills:
// the files live in the workspace's learned-skills area; a dream's end brings the index up to date, and runs read it.
import type { Db, Dialect } from '../store/database.ts';
import { decodeCursor, encodeCursor, type Page, type PageRequest } from '../store/pagination.ts';
import { query } from '../store/sql.ts';
import type { MemoryRecord } from '../memory/memory-file.ts';

export type DreamStatus = 'running' | 'completed' | 'failed' | 'rolled_back';
/** `idle`: the deployment was idle long enough; `manual`: POST …/dreams. */
export type DreamReason = 'idle' | 'manual';

/** A learned skill as the index holds it. */
export interface LearnedSkillRecord {
  skill_id: string;
  name: string;
  description: string;
  content: string;
  /** The dream that last wrote it. */
  dream_id: string | null;
  created_at: number;
  updated_at: number;
}

/** What a dream started from: the memory as it was, and the learned skills' index. */
export interface DreamBeforeState {
  memories: MemoryRecord[];
  skills: LearnedSkillRecord[];
  /** When it was read (the server's time, as memory versions are stamped): changes by others after it are theirs. */
  read_at?: number;
}

/** One change a dream made, as the API lists it; `before`/`after` are texts (null: did not exist). */
export type DreamChange =
  | { kind: 'memory'; memory_id: string; action: 'created' | 'updated' | 'deleted'; before: string | null; after: string | null; priority: MemoryRecord['priority'] }
  | { kind: 'skill'; name: string; skill_id: string; action: 'created' | 'updated' | 'deleted'; before: string | null; after: string | null }
  | { kind: 'skill'; name: string; action: 'skipped'; reason: string; after: string | null };

export interface DreamRecord {
  id: string;
  deployment_id: string;
  run_id: string;
  thread_id: string;
  status: DreamStatus;
  reason: DreamReason;
  /** The last activity (epoch ms) this dream covered. */
  activity_through: number;
  before: DreamBeforeState;
  /** Null while its run is at work. */
  changes: DreamChange[] | null;
  error: string | null;
  created_at: number;
  completed_at: number | null;
  rolled_back_at: number | null;
}

interface DreamRow {
  id: string;
  deployment_id: string;
  run_id: string;
  thread_id: string;
  status: string;
  reason: string;
  activity_through: number | string;
  before_state: string;
  changes: string | null;
  error: string | null;
  created_at: number | string;
  completed_at: number | string | null;
  rolled_back_at: number | string | null;
}

interface LearnedSkillRow {
  skill_id: string;
  name: string;
  description: string;
  content: string;
  dream_id: string | null;
  created_at: number | string;
  updated_at: number | string;
}

const DREAM_COLUMNS = 'id, deployment_id, run_id, thread_id, status, reason, activity_through, before_state, changes, error, created_at, completed_at, rolled_back_at';
/** A dream without what it started from (the memory and skills before it may be large): lists and lookups. */
const DREAM_SUMMARY_COLUMNS = DREAM_COLUMNS.replace('before_state', `'{"memories":[],"skills":[]}' AS before_state`);
const SKILL_COLUMNS = 'skill_id, name, description, content, dream_id, created_at, updated_at';

const optionalNumber = (value: number | string | null): number | null => (value === null ? null : Number(value));

function dreamFromRow(row: DreamRow): DreamRecord {
  return {
    id: row.id,
    deployment_id: row.deployment_id,
    run_id: row.run_id,
    thread_id: row.thread_id,
    status: row.status as DreamStatus,
    reason: row.reason as DreamReason,
    activity_through: Number(row.activity_through),
    before: JSON.parse(row.before_state) as DreamBeforeState,
    changes: row.changes === null ? null : (JSON.parse(row.changes) as DreamChange[]),
    error: row.error,
    created_at: Number(row.created_at),
    completed_at: optionalNumber(row.completed_at),
    rolled_back_at: optionalNumber(row.rolled_back_at),
  };
}

function skillFromRow(row: LearnedSkillRow): LearnedSkillRecord {
  return { ...row, created_at: Number(row.created_at), updated_at: Number(row.updated_at) };
}

export class DreamRepository {
  readonly #db: Db;
  readonly #dialect: Dialect;

  constructor(db: Db, dialect: Dialect) {
    this.#db = db;
    this.#dialect = dialect;
  }

  /** Records the deployment's activity at `at` (a run of the customer's ended): a new idle period starts. */
  async markActivity(deploymentId: string, at: number): Promise<void> {
    await query(
      this.#db,
      this.#dialect,
      `INSERT INTO dream_state (deployment_id, last_activity_at, dreamed_through) VALUES ($1, $2, 0)
       ON CONFLICT (deployment_id) DO UPDATE SET last_activity_at = CASE WHEN dream_state.last_activity_at > $2 THEN dream_state.last_activity_at ELSE $2 END`,
      [deploymentId, at],
    );
  }

  /** Deployments idle since at most `idleSince` with activity no dream covered, oldest activity first. */
  async due(idleSince: number, limit: number): Promise<{ deployment_id: string; last_activity_at: number }[]> {
    const rows = await query<{ deployment_id: string; last_activity_at: number | string }>(
      this.#db,
      this.#dialect,
      'SELECT deployment_id, last_activity_at FROM dream_state WHERE last_activity_at <= $1 AND last_activity_at > dreamed_through ORDER BY last_activity_at LIMIT $2',
      [idleSince, limit],
    );
    return rows.map((row) => ({ deployment_id: row.deployment_id, last_activity_at: Number(row.last_activity_at) }));
  }

  /** The deployment's dream state, locked for the caller's transaction on PostgreSQL. */
  async stateIn(trx: Db, deploymentId: string): Promise<{ last_activity_at: number; dreamed_through: number } | undefined> {
    const lock = this.#dialect === 'postgres' ? ' FOR UPDATE' : '';
    const [row] = await query<{ last_activity_at: number | string; dreamed_through: number | string }>(
      trx,
      this.#dialect,
      `SELECT last_activity_at, dreamed_through FROM dream_state WHERE deployment_id = $1${lock}`,
      [deploymentId],
    );
    return row ? { last_activity_at: Number(row.last_activity_at), dreamed_through: Number(row.dreamed_through) } : undefined;
  }

  /**
   * Makes sure the deployment has a dream state row, inside the dream's commit, so that the lock stateIn takes
   * exists to be taken: two nodes starting the first dream of a deployment then wait for each other.
   */
  async ensureStateIn(trx: Db, deploymentId: string): Promise<void> {
    await query(
      trx,
      this.#dialect,
      'INSERT INTO dream_state (deployment_id, last_activity_at, dreamed_through) VALUES ($1, 0, 0) ON CONFLICT (deployment_id) DO NOTHING',
      [deploymentId],
    );
  }

  /** Forgets the idle state of a deployment that no longer exists. */
  async deleteState(deploymentId: string): Promise<void> {
    await query(this.#db, this.#dialect, 'DELETE FROM dream_state WHERE deployment_id = $1', [deploymentId]);
  }

  /** Marks activity through `through` as dreamed, inside the commit that starts (or lets go of) a dream. */
  async claimIn(trx: Db, deploymentId: string, through: number): Promise<void> {
    await query(
      trx,
      this.#dialect,
      `INSERT INTO dream_state (deployment_id, last_activity_at, dreamed_through) VALUES ($1, $2, $2)
       ON CONFLICT (deployment_id) DO UPDATE SET dreamed_through = $2`,
      [deploymentId, through],
    );
  }

  /** Whether a run other than `exceptRunId` is active on the deployment (running or waiting on a human), in `trx`. */
  async activeRunIn(trx: Db, deploymentId: string, exceptRunId = ''): Promise<boolean> {
    const rows = await query<{ id: string }>(
      trx,
      this.#dialect,
      "SELECT id FROM runs WHERE deployment_id = $1 AND status IN ('running', 'waiting_on_human') AND id <> $2 LIMIT 1",
      [deploymentId, exceptRunId],
    );
    return rows.length > 0;
  }

  async insertIn(trx: Db, dream: DreamRecord): Promise<void> {
    await query(trx, this.#dialect, `INSERT INTO dreams (${DREAM_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`, [
      dream.id,
      dream.deployment_id,
      dream.run_id,
      dream.thread_id,
      dream.status,
      dream.reason,
      dream.activity_through,
      JSON.stringify(dream.before),
      dream.changes === null ? null : JSON.stringify(dream.changes),
      dream.error,
      dream.created_at,
      dream.completed_at,
      dream.rolled_back_at,
    ]);
  }

  async get(deploymentId: string, dreamId: string): Promise<DreamRecord | undefined> {
    const [row] = await query<DreamRow>(this.#db, this.#dialect, `SELECT ${DREAM_COLUMNS} FROM dreams WHERE id = $1 AND deployment_id = $2`, [dreamId, deploymentId]);
    return row ? dreamFromRow(row) : undefined;
  }

  async byRun(runId: string): Promise<DreamRecord | undefined> {
    const [row] = await query<DreamRow>(this.#db, this.#dialect, `SELECT ${DREAM_COLUMNS} FROM dreams WHERE run_id = $1`, [runId]);
    return row ? dreamFromRow(row) : undefined;
  }

  /** The deployment's dream still at work, if any. */
  async running(deploymentId: string): Promise<DreamRecord | undefined> {
    const [row] = await query<DreamRow>(
      this.#db,
      this.#dialect,
      `SELECT ${DREAM_SUMMARY_COLUMNS} FROM dreams WHERE deployment_id = $1 AND status = 'running' ORDER BY created_at DESC LIMIT 1`,
      [deploymentId],
    );
    return row ? dreamFromRow(row) : undefined;
  }

  /** Dreams still marked running whose run has ended (the node that ran it stopped before it recorded the end). */
  async unfinished(limit: number): Promise<{ id: string; deployment_id: string; run_id: string }[]> {
    return query<{ id: string; deployment_id: string; run_id: string }>(
      this.#db,
      this.#dialect,
      `SELECT d.id, d.deployment_id, d.run_id FROM dreams d JOIN runs r ON r.id = d.run_id
       WHERE d.status = 'running' AND r.status IN ('completed', 'error') ORDER BY d.created_at LIMIT $1`,
      [limit],
    );
  }

  /**
   * The start of the latest dream that completed (not one cancelled or rolled back: its conversations are reviewed
   * again), for the review window of the next one.
   */
  async latestCompletedStart(deploymentId: string): Promise<number | undefined> {
    const [row] = await query<{ created_at: number | string }>(
      this.#db,
      this.#dialect,
      "SELECT created_at FROM dreams WHERE deployment_id = $1 AND status = 'completed' ORDER BY created_at DESC LIMIT 1",
      [deploymentId],
    );
    return row ? Number(row.created_at) : undefined;
  }

  /** The deployment's dreams, newest first. */
  async list(deploymentId: string, page: PageRequest): Promise<Page<DreamRecord>> {
    const parameters: unknown[] = [deploymentId];
    let condition = '';
    if (page.cursor) {
      const position = decodeCursor(page.cursor);
      parameters.push(position.createdAt, position.id);
      condition = ' AND (created_at < $2 OR (created_at = $2 AND id < $3))';
    }
    parameters.push(page.limit + 1);
    const rows = await query<DreamRow>(
      this.#db,
      this.#dialect,
      `SELECT ${DREAM_SUMMARY_COLUMNS} FROM dreams WHERE deployment_id = $1${condition} ORDER BY created_at DESC, id DESC LIMIT $${parameters.length}`,
      parameters,
    );
    const hasMore = rows.length > page.limit;
    const data = (hasMore ? rows.slice(0, page.limit) : rows).map(dreamFromRow);
    const last = data.at(-1);
    return { data, next_cursor: hasMore && last ? encodeCursor({ createdAt: last.created_at, id: last.id }) : null };
  }

  /**
   * Ends a running dream inside the caller's transaction: its changes and status recorded. False when it was not
   * running any more (another node ended it first): the caller then changes nothing.
   */
  async finishIn(trx: Db, dreamId: string, outcome: { status: 'completed' | 'failed'; changes: DreamChange[]; error: string | null; now: number }): Promise<boolean> {
    const rows = await query<{ id: string }>(
      trx,
      this.#dialect,
      "UPDATE dreams SET status = $2, changes = $3, error = $4, completed_at = $5 WHERE id = $1 AND status = 'running' RETURNING id",
      [dreamId, outcome.status, JSON.stringify(outcome.changes), outcome.error, outcome.now],
    );
    return rows.length > 0;
  }

  /** Marks a finished dream rolled back, inside the caller's transaction; false when it was not finished any more. */
  async markRolledBackIn(trx: Db, dreamId: string, now: number): Promise<boolean> {
    const rows = await query<{ id: string }>(
      trx,
      this.#dialect,
      "UPDATE dreams SET status = 'rolled_back', rolled_back_at = $2 WHERE id = $1 AND status IN ('completed', 'failed') RETURNING id",
      [dreamId, now],
    );
    return rows.length > 0;
  }

  /** The deployment's learned skills, by name. */
  async learnedSkills(deploymentId: string, db: Db = this.#db): Promise<LearnedSkillRecord[]> {
    const rows = await query<LearnedSkillRow>(db, this.#dialect, `SELECT ${SKILL_COLUMNS} FROM learned_skills WHERE deployment_id = $1 ORDER BY name`, [deploymentId]);
    return rows.map(skillFromRow);
  }

  async putLearnedSkillIn(trx: Db, deploymentId: string, skill: LearnedSkillRecord): Promise<void> {
    await query(
      trx,
      this.#dialect,
      `INSERT INTO learned_skills (deployment_id, ${SKILL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (deployment_id, name) DO UPDATE SET skill_id = $2, description = $4, content = $5, dream_id = $6, updated_at = $8`,
      [deploymentId, skill.skill_id, skill.name, skill.description, skill.content, skill.dream_id, skill.created_at, skill.updated_at],
    );
  }

  async deleteLearnedSkillIn(trx: Db, deploymentId: string, name: string): Promise<boolean> {
    const rows = await query<{ name: string }>(trx, this.#dialect, 'DELETE FROM learned_skills WHERE deployment_id = $1 AND name = $2 RETURNING name', [deploymentId, name]);
    return rows.length > 0;
  }

  /** Memories changed since `since` by someone other than a dream (the product, the observer or reflector). */
  async changedByOthers(deploymentId: string, since: number): Promise<Set<string>> {
    const rows = await query<{ memory_id: string }>(
      this.#db,
      this.#dialect,
      "SELECT DISTINCT memory_id FROM memory_versions WHERE deployment_id = $1 AND created_at >= $2 AND actor IN ('api', 'observer', 'reflector')",
      [deploymentId, since],
    );
    return new Set(rows.map((row) => row.memory_id));
  }

  /** Forgets a deleted deployment's dreams, idle state and learned skills' index (the files go with its workspace). */
  async deleteDeployment(deploymentId: string): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      for (const table of ['dream_state', 'dreams', 'learned_skills']) {
        await query(trx, this.#dialect, `DELETE FROM ${table} WHERE deployment_id = $1`, [deploymentId]);
      }
    });
  }

  /** Messages of the deployment's threads (not its dreams') since `since`, newest first. */
  async recentMessages(deploymentId: string, since: number, limit: number): Promise<{ thread_id: string; role: string; content: string; created_at: number }[]> {
    const rows = await query<{ thread_id: string; role: string; content: string; created_at: number | string }>(
      this.#db,
      this.#dialect,
      // Through the threads active since (messages are indexed by thread, not by deployment).
      `SELECT m.thread_id, m.role, m.content, m.created_at FROM threads t JOIN messages m ON m.thread_id = t.id
       WHERE t.deployment_id = $1 AND t.last_activity_at > $2 AND t.deleted_at IS NULL AND m.created_at > $2
       AND t.id NOT IN (SELECT thread_id FROM dreams WHERE deployment_id = $1)
       ORDER BY m.created_at DESC, m.seq DESC LIMIT $3`,
      [deploymentId, since, limit],
    );
    return rows.map((row) => ({ ...row, created_at: Number(row.created_at) }));
  }
}
