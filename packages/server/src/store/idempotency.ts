// Idempotency keys: the first request with a key is executed and its response kept for 24 hours; a retry with
// the same key gets that response again instead of a second execution. Expired keys are deleted by a sweeper on a
// timer (every SDK call brings a new key, so waiting for a key to come back would keep them all).
import { sql, type Selectable } from 'kysely';
import type { Logger } from 'pino';
import type { Db, IdempotencyKeysTable } from './database.ts';
import { randomBase62 } from '../util/ids.ts';

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

  /**
   * Claims the key for this request, with a token of its own, or returns the record that holds it. A claim still
   * in progress (no response recorded) after `staleAfterMs` is taken to be dead — its server crashed before it
   * answered — and is taken over by this request (same request hash only) with a new token: the dead claim can
   * then complete nothing (complete/completeIn check the token).
   */
  async claim(
    accountId: string,
    key: string,
    requestHash: string,
    options: { staleAfterMs?: number } = {},
  ): Promise<{ claimed: true; token: string } | { claimed: false; existing: IdempotencyRecord }> {
    const now = Date.now();
    await this.#db
      .deleteFrom('idempotency_keys')
      .where('account_id', '=', accountId)
      .where('key', '=', key)
      .where('created_at', '<', now - IDEMPOTENCY_TTL_MS)
      .execute();
    const token = randomBase62(20);
    const inserted = await this.#db
      .insertInto('idempotency_keys')
      .values({ account_id: accountId, key, request_hash: requestHash, status_code: null, response_body: null, created_at: now, claim_token: token })
      .onConflict((conflict) => conflict.columns(['account_id', 'key']).doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0) return { claimed: true, token };
    const existing = await this.#db
      .selectFrom('idempotency_keys')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('key', '=', key)
      .executeTakeFirst();
    if (!existing) return this.claim(accountId, key, requestHash, options);
    const stale = options.staleAfterMs !== undefined && existing.status_code === null && existing.created_at < now - options.staleAfterMs;
    if (stale && existing.request_hash === requestHash) {
      // Compare-and-set on the claim as it was read: of several retries taking it over at once, one wins.
      const taken = await this.#db
        .updateTable('idempotency_keys')
        .set({ claim_token: token, created_at: now })
        .where('account_id', '=', accountId)
        .where('key', '=', key)
        .where('status_code', 'is', null)
        .where('created_at', '=', existing.created_at)
        .where((where) => (existing.claim_token === null ? where('claim_token', 'is', null) : where('claim_token', '=', existing.claim_token)))
        .executeTakeFirst();
      if (Number(taken.numUpdatedRows) > 0) return { claimed: true, token };
      return this.claim(accountId, key, requestHash, options);
    }
    return { claimed: false, existing };
  }

  /** Records the response of the claim `token` (a claim taken over meanwhile records nothing). */
  async complete(accountId: string, key: string, token: string, statusCode: number, responseBody: string): Promise<void> {
    await completeIn(this.#db, { accountId, key, token, statusCode, responseBody });
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

  /** Frees the key after a server error, so that a retry runs the request again (unless another claim holds it now). */
  async release(accountId: string, key: string, token: string): Promise<void> {
    await this.#db
      .deleteFrom('idempotency_keys')
      .where('account_id', '=', accountId)
      .where('key', '=', key)
      .where('claim_token', '=', token)
      .where('status_code', 'is', null)
      .execute();
  }
}

/** An idempotency key's claim as a handler holds it: completed in the commit of the request's effect (completeIn). */
export interface IdempotencyClaim {
  accountId: string;
  key: string;
  token: string;
}

/** The claim was taken over by a retry (its holder was thought dead): this request must not take effect. */
export class IdempotencyClaimLostError extends Error {
  constructor(key: string) {
    super(`the Idempotency-Key ${key} was taken over by a retry of this request`);
    this.name = 'IdempotencyClaimLostError';
  }
}

/**
 * Records a claim's response inside `trx`, the transaction of the request's effect: the effect and its recorded
 * response commit together, so a crash after the commit leaves a retry the response, and a crash before it leaves
 * no effect. Returns false when the claim is no longer this token's (completeIn's caller then rolls back).
 */
export async function completeIn(
  trx: Db,
  claim: IdempotencyClaim & { statusCode: number; responseBody: string },
): Promise<boolean> {
  const updated = await trx
    .updateTable('idempotency_keys')
    .set({ status_code: claim.statusCode, response_body: claim.responseBody })
    .where('account_id', '=', claim.accountId)
    .where('key', '=', claim.key)
    .where('claim_token', '=', claim.token)
    .where('status_code', 'is', null)
    .executeTakeFirst();
  return Number(updated.numUpdatedRows) > 0;
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
