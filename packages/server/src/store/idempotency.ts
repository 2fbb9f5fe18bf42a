// Idempotency keys: the first request with a key is executed and its response kept for 24 hours; a retry with
// the same key gets that response again instead of a second execution. Expired keys are deleted by a sweeper on a
// timer (every SDK call brings a new key, so waiting for a key to come back would keep them all).
import { sql, type Selectable } from 'kysely';
import type { Logger } from 'pino';
import type { Db, IdempotencyKeysTable } from './database.ts';

export type IdempotencyRecord = Selectable<IdempotencyKeysTable>;

export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

/** How often the sweeper deletes expired keys. */
export const IDEMPOTENCY_SWEEP_INTERVAL_MS = 10 * 60 * 1000;
/** Rows one sweep statement deletes at most: a short transaction, whatever the backlog. */
export const IDEMPOTENCY_SWEEP_BATCH = 1_000;
/** Statements one sweep runs at most (the rest waits for the next sweep). */
const IDEMPOTENCY_SWEEP_MAX_BATCHES = 100;

export class IdempotencyRepository {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  /** Claims the key for this request; returns the existing record instead when someone already holds it. */
  async claim(accountId: string, key: string, requestHash: string): Promise<{ claimed: true } | { claimed: false; existing: IdempotencyRecord }> {
    const now = Date.now();
    await this.#db
      .deleteFrom('idempotency_keys')
      .where('account_id', '=', accountId)
      .where('key', '=', key)
      .where('created_at', '<', now - IDEMPOTENCY_TTL_MS)
      .execute();
    const inserted = await this.#db
      .insertInto('idempotency_keys')
      .values({ account_id: accountId, key, request_hash: requestHash, status_code: null, response_body: null, created_at: now })
      .onConflict((conflict) => conflict.columns(['account_id', 'key']).doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0) return { claimed: true };
    const existing = await this.#db
      .selectFrom('idempotency_keys')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('key', '=', key)
      .executeTakeFirst();
    if (!existing) return this.claim(accountId, key, requestHash);
    return { claimed: false, existing };
  }

  async complete(accountId: string, key: string, statusCode: number, responseBody: string): Promise<void> {
    await this.#db
      .updateTable('idempotency_keys')
      .set({ status_code: statusCode, response_body: responseBody })
      .where('account_id', '=', accountId)
      .where('key', '=', key)
      .execute();
  }

  /**
   * Deletes keys created before `now - ttlMs`, `batchSize` rows a statement, until none is left or `maxBatches`
   * statements ran; returns how many went. Several nodes may sweep at once: a row is deleted once.
   */
  async deleteExpired(options: { now?: number; ttlMs?: number; batchSize?: number; maxBatches?: number } = {}): Promise<number> {
    const cutoff = (options.now ?? Date.now()) - (options.ttlMs ?? IDEMPOTENCY_TTL_MS);
    const batchSize = options.batchSize ?? IDEMPOTENCY_SWEEP_BATCH;
    const maxBatches = options.maxBatches ?? IDEMPOTENCY_SWEEP_MAX_BATCHES;
    let deleted = 0;
    for (let batch = 0; batch < maxBatches; batch++) {
      const result = await sql`DELETE FROM idempotency_keys WHERE (account_id, key) IN (
        SELECT account_id, key FROM idempotency_keys WHERE created_at < ${cutoff} LIMIT ${batchSize})`.execute(this.#db);
      const count = Number(result.numAffectedRows ?? 0);
      deleted += count;
      if (count < batchSize) break;
    }
    return deleted;
  }

  /** Frees the key after a server error, so that a retry runs the request again. */
  async release(accountId: string, key: string): Promise<void> {
    await this.#db.deleteFrom('idempotency_keys').where('account_id', '=', accountId).where('key', '=', key).execute();
  }
}

export interface IdempotencySweeper {
  /** Runs a sweep now (the timer's sweeps wait for it); resolves with how many keys it deleted. */
  sweep(): Promise<number>;
  /** Stops the timer and waits for a sweep in progress. */
  stop(): Promise<void>;
}

/**
 * Deletes expired idempotency keys at once and then every `intervalMs` (unref'd: it never keeps the process alive).
 * A failed sweep is logged and tried again at the next tick.
 */
export function startIdempotencySweeper(options: {
  repository: Pick<IdempotencyRepository, 'deleteExpired'>;
  logger: Pick<Logger, 'info' | 'warn'>;
  intervalMs?: number;
  ttlMs?: number;
  batchSize?: number;
  /** The clock; Date.now by default. */
  now?: () => number;
}): IdempotencySweeper {
  const now = options.now ?? Date.now;
  let running: Promise<number> | undefined;
  const sweep = (): Promise<number> => {
    running ??= options.repository
      .deleteExpired({
        now: now(),
        ...(options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs }),
        ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
      })
      .then((deleted) => {
        if (deleted > 0) options.logger.info({ deleted }, 'expired idempotency keys deleted');
        return deleted;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };
  const tick = () => {
    sweep().catch((error: unknown) => options.logger.warn({ err: error }, 'idempotency key sweep failed'));
  };
  // Once at start (a node down for a while comes back to a backlog), then on the timer.
  tick();
  const timer = setInterval(tick, options.intervalMs ?? IDEMPOTENCY_SWEEP_INTERVAL_MS);
  timer.unref();
  return {
    sweep,
    async stop() {
      clearInterval(timer);
      await running?.catch(() => {});
    },
  };
}
