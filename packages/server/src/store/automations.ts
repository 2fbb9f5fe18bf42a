// Automations and their firings. A due automation is claimed by moving its next_run_at on with a conditional UPDATE
// (… WHERE next_run_at = the due time it was read with), preceded on PostgreSQL by SELECT … FOR UPDATE SKIP LOCKED
// so that nodes racing for the same row do not even wait for each other: whoever moves it fires it, in the same
// transaction that records the firing and posts the run (automations/automation-service.ts).
import type { Selectable } from 'kysely';
import type { AutomationFiringsTable, AutomationsTable, Db, Dialect } from './database.ts';
import { pageNewestFirst, type Page, type PageRequest } from './pagination.ts';
import { ThreadNotFoundError, type RunStatus } from './runs.ts';
import { query } from './sql.ts';

export interface AutomationRecord {
  id: string;
  deployment_id: string;
  name: string;
  /** The cron expression (UTC). */
  schedule: string;
  /** The natural-language phrase the schedule was given as; null when it was given as cron. */
  schedule_text: string | null;
  instructions: string;
  thread_id: string;
  enabled: boolean;
  next_run_at: number | null;
  last_run_id: string | null;
  last_run_at: number | null;
  /** The status of the last run it started (running, waiting_on_human, completed, error); null before the first. */
  last_run_status: RunStatus | null;
  created_at: number;
  updated_at: number;
}

export type FiringStatus = 'started' | 'skipped';

export interface FiringRecord {
  id: string;
  automation_id: string;
  deployment_id: string;
  trigger: 'schedule' | 'manual';
  scheduled_for: number | null;
  fired_at: number;
  run_id: string | null;
  status: FiringStatus;
  reason: string | null;
  /** The started run's status now; null for a skipped firing. */
  run_status: RunStatus | null;
}

/** A deployment has as many automations as it may have. */
export class AutomationLimitError extends Error {
  readonly limit: number;

  constructor(limit: number) {
    super(`a deployment has at most ${limit} automations`);
    this.limit = limit;
  }
}

/** What a scheduler needs to try a due automation. */
export interface DueAutomation {
  id: string;
  deployment_id: string;
  schedule: string;
  next_run_at: number;
}

/** Firings kept per automation (the oldest go as new ones are recorded). */
export const FIRINGS_KEPT = 100;

type AutomationRow = Selectable<AutomationsTable> & { last_run_status: string | null };

const COLUMNS =
  'a.id, a.deployment_id, a.name, a.schedule, a.schedule_text, a.instructions, a.thread_id, a.enabled, a.next_run_at, a.last_run_id, ' +
  'a.last_run_at, a.created_at, a.updated_at, r.status AS last_run_status';

function fromRow(row: AutomationRow): AutomationRecord {
  return {
    id: row.id,
    deployment_id: row.deployment_id,
    name: row.name,
    schedule: row.schedule,
    schedule_text: row.schedule_text,
    instructions: row.instructions,
    thread_id: row.thread_id,
    enabled: Number(row.enabled) === 1,
    next_run_at: row.next_run_at === null ? null : Number(row.next_run_at),
    last_run_id: row.last_run_id,
    last_run_at: row.last_run_at === null ? null : Number(row.last_run_at),
    last_run_status: (row.last_run_status ?? null) as RunStatus | null,
    created_at: Number(row.created_at),
    updated_at: Number(row.updated_at),
  };
}

export interface NewAutomation {
  id: string;
  deploymentId: string;
  name: string;
  schedule: string;
  scheduleText: string | null;
  instructions: string;
  threadId: string;
  /** Create the thread `threadId` (titled so) in the same transaction: the automation's dedicated thread. */
  createThread?: { title: string } | undefined;
  enabled: boolean;
  nextRunAt: number | null;
  now: number;
}

export interface AutomationChanges {
  name?: string;
  schedule?: string;
  schedule_text?: string | null;
  instructions?: string;
  thread_id?: string;
  enabled?: boolean;
  next_run_at?: number | null;
}

export class AutomationRepository {
  readonly #db: Db;
  readonly #dialect: Dialect;

  constructor(db: Db, dialect: Dialect) {
    this.#db = db;
    this.#dialect = dialect;
  }

  async #threadExistsIn(trx: Db, deploymentId: string, threadId: string): Promise<boolean> {
    const [row] = await query<{ id: string }>(trx, this.#dialect, 'SELECT id FROM threads WHERE id = $1 AND deployment_id = $2 AND deleted_at IS NULL', [
      threadId,
      deploymentId,
    ]);
    return row !== undefined;
  }

  /**
   * Creates an automation (and its dedicated thread, with `createThread`) in one transaction.
   * @throws ThreadNotFoundError when `threadId` is not one of the deployment's threads.
   * @throws AutomationLimitError when the deployment has `limit` automations already.
   */
  async create(input: NewAutomation, limit: number): Promise<AutomationRecord> {
    await this.#db.transaction().execute(async (trx) => {
      const [count] = await query<{ count: number | string }>(trx, this.#dialect, 'SELECT COUNT(*) AS count FROM automations WHERE deployment_id = $1', [
        input.deploymentId,
      ]);
      if (Number(count?.count ?? 0) >= limit) throw new AutomationLimitError(limit);
      if (input.createThread) {
        await query(
          trx,
          this.#dialect,
          'INSERT INTO threads (id, deployment_id, title, active_run_id, message_count, history_seq, summary, summary_through, ' +
            'created_at, updated_at, last_activity_at, deleted_at) VALUES ($1, $2, $3, NULL, 0, 0, NULL, 0, $4, $4, NULL, NULL)',
          [input.threadId, input.deploymentId, input.createThread.title, input.now],
        );
      } else if (!(await this.#threadExistsIn(trx, input.deploymentId, input.threadId))) {
        throw new ThreadNotFoundError(input.threadId);
      }
      await trx
        .insertInto('automations')
        .values({
          id: input.id,
          deployment_id: input.deploymentId,
          name: input.name,
          schedule: input.schedule,
          schedule_text: input.scheduleText,
          instructions: input.instructions,
          thread_id: input.threadId,
          enabled: input.enabled ? 1 : 0,
          next_run_at: input.nextRunAt,
          last_run_id: null,
          last_run_at: null,
          created_at: input.now,
          updated_at: input.now,
        })
        .execute();
    });
    return (await this.get(input.deploymentId, input.id))!;
  }

  async get(deploymentId: string, id: string): Promise<AutomationRecord | undefined> {
    const [row] = await query<AutomationRow>(
      this.#db,
      this.#dialect,
      `SELECT ${COLUMNS} FROM automations a LEFT JOIN runs r ON r.id = a.last_run_id WHERE a.id = $1 AND a.deployment_id = $2`,
      [id, deploymentId],
    );
    return row ? fromRow(row) : undefined;
  }

  async list(deploymentId: string, page: PageRequest): Promise<Page<AutomationRecord>> {
    const builder = this.#db
      .selectFrom('automations')
      .leftJoin('runs', 'runs.id', 'automations.last_run_id')
      .selectAll('automations')
      .select('runs.status as last_run_status')
      .where('automations.deployment_id', '=', deploymentId);
    const result = await pageNewestFirst(builder, 'automations', page);
    return { data: result.data.map((row) => fromRow(row as AutomationRow)), next_cursor: result.next_cursor };
  }

  /**
   * Applies `changes`; a new thread_id must be one of the deployment's threads.
   * @throws ThreadNotFoundError when it is not.
   */
  async update(deploymentId: string, id: string, changes: AutomationChanges, now: number): Promise<AutomationRecord | undefined> {
    const updated = await this.#db.transaction().execute(async (trx) => {
      if (changes.thread_id !== undefined && !(await this.#threadExistsIn(trx, deploymentId, changes.thread_id))) {
        throw new ThreadNotFoundError(changes.thread_id);
      }
      const { enabled, ...rest } = changes;
      const result = await trx
        .updateTable('automations')
        .set({ ...rest, ...(enabled === undefined ? {} : { enabled: enabled ? 1 : 0 }), updated_at: now })
        .where('id', '=', id)
        .where('deployment_id', '=', deploymentId)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    });
    return updated ? this.get(deploymentId, id) : undefined;
  }

  /** Deletes the automation and its firing history; false when there was none. Its runs and thread stay. */
  async delete(deploymentId: string, id: string): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const result = await trx.deleteFrom('automations').where('id', '=', id).where('deployment_id', '=', deploymentId).executeTakeFirst();
      if (Number(result.numDeletedRows) === 0) return false;
      await trx.deleteFrom('automation_firings').where('automation_id', '=', id).execute();
      return true;
    });
  }

  /** Deletes every automation of a deleted deployment, with their firings. */
  async deleteForDeployment(deploymentId: string): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      await trx.deleteFrom('automation_firings').where('deployment_id', '=', deploymentId).execute();
      await trx.deleteFrom('automations').where('deployment_id', '=', deploymentId).execute();
    });
  }

  /** The automation's latest firings, newest first, with the status of the runs they started. */
  async firings(automationId: string, limit: number): Promise<FiringRecord[]> {
    const rows = await query<Selectable<AutomationFiringsTable> & { run_status: string | null }>(
      this.#db,
      this.#dialect,
      'SELECT f.id, f.automation_id, f.deployment_id, f.trigger, f.scheduled_for, f.fired_at, f.run_id, f.status, f.reason, r.status AS run_status ' +
        'FROM automation_firings f LEFT JOIN runs r ON r.id = f.run_id WHERE f.automation_id = $1 ORDER BY f.fired_at DESC, f.id DESC LIMIT $2',
      [automationId, limit],
    );
    return rows.map((row) => ({
      ...row,
      trigger: row.trigger as FiringRecord['trigger'],
      status: row.status as FiringStatus,
      scheduled_for: row.scheduled_for === null ? null : Number(row.scheduled_for),
      fired_at: Number(row.fired_at),
      run_status: (row.run_status ?? null) as RunStatus | null,
    }));
  }

  /** Enabled automations of live deployments due at `now`, the longest overdue first. */
  async due(now: number, limit: number): Promise<DueAutomation[]> {
    const rows = await query<DueAutomation>(
      this.#db,
      this.#dialect,
      'SELECT a.id, a.deployment_id, a.schedule, a.next_run_at FROM automations a JOIN deployments d ON d.id = a.deployment_id AND d.deleted_at IS NULL ' +
        'WHERE a.enabled = 1 AND a.next_run_at <= $1 ORDER BY a.next_run_at, a.id LIMIT $2',
      [now, limit],
    );
    return rows.map((row) => ({ ...row, next_run_at: Number(row.next_run_at) }));
  }

  /** The earliest next_run_at of an enabled automation of a live deployment; null when none is scheduled. */
  async nextDueAt(): Promise<number | null> {
    const [row] = await query<{ next: number | string | null }>(
      this.#db,
      this.#dialect,
      'SELECT MIN(a.next_run_at) AS next FROM automations a JOIN deployments d ON d.id = a.deployment_id AND d.deleted_at IS NULL WHERE a.enabled = 1',
      [],
    );
    return row?.next === null || row?.next === undefined ? null : Number(row.next);
  }

  /**
   * Claims the firing of `due` inside the caller's transaction: moves its next_run_at from the due time it was read
   * with to `nextRunAt`, only if it still is that due time (enabled, same schedule). PostgreSQL first locks the row
   * with SKIP LOCKED: a row another node is claiming right now is left to it. Undefined: not this caller's to fire.
   */
  async claimIn(trx: Db, due: DueAutomation, nextRunAt: number | null): Promise<AutomationRecord | undefined> {
    if (this.#dialect === 'postgres') {
      const [locked] = await query<{ id: string }>(
        trx,
        this.#dialect,
        'SELECT id FROM automations WHERE id = $1 AND enabled = 1 AND next_run_at = $2 FOR UPDATE SKIP LOCKED',
        [due.id, due.next_run_at],
      );
      if (!locked) return undefined;
    }
    const [row] = await query<Selectable<AutomationsTable>>(
      trx,
      this.#dialect,
      'UPDATE automations SET next_run_at = $1 WHERE id = $2 AND enabled = 1 AND next_run_at = $3 AND schedule = $4 ' +
        'RETURNING id, deployment_id, name, schedule, schedule_text, instructions, thread_id, enabled, next_run_at, last_run_id, last_run_at, created_at, updated_at',
      [nextRunAt, due.id, due.next_run_at, due.schedule],
    );
    return row ? fromRow({ ...row, last_run_status: null }) : undefined;
  }

  /** The status of a run, read in the caller's transaction; undefined when it does not exist. */
  async runStatusIn(trx: Db, runId: string): Promise<string | undefined> {
    const [row] = await query<{ status: string }>(trx, this.#dialect, 'SELECT status FROM runs WHERE id = $1', [runId]);
    return row?.status;
  }

  /** Records a firing in the caller's transaction; a started one becomes the automation's last run. */
  async recordFiringIn(trx: Db, firing: Omit<FiringRecord, 'run_status'>): Promise<void> {
    await query(
      trx,
      this.#dialect,
      'INSERT INTO automation_firings (id, automation_id, deployment_id, trigger, scheduled_for, fired_at, run_id, status, reason) ' +
        'VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
      [firing.id, firing.automation_id, firing.deployment_id, firing.trigger, firing.scheduled_for, firing.fired_at, firing.run_id, firing.status, firing.reason],
    );
    // The history keeps each automation's latest firings (an every-minute automation makes 1,440 a day); a due time's
    // repeat is prevented by next_run_at having moved past it, not by its row.
    await query(
      trx,
      this.#dialect,
      'DELETE FROM automation_firings WHERE automation_id = $1 AND fired_at < ' +
        '(SELECT fired_at FROM automation_firings WHERE automation_id = $1 ORDER BY fired_at DESC LIMIT 1 OFFSET $2)',
      [firing.automation_id, FIRINGS_KEPT - 1],
    );
    if (firing.status === 'started' && firing.run_id) {
      await query(trx, this.#dialect, 'UPDATE automations SET last_run_id = $1, last_run_at = $2 WHERE id = $3', [firing.run_id, firing.fired_at, firing.automation_id]);
    }
  }
}
