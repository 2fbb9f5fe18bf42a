// Idempotency keys: the first request with a key is executed and its response kept for 24 hours; a retry with
// the same key gets that response again instead of a second execution.
import type { Selectable } from 'kysely';
import type { Db, IdempotencyKeysTable } from './database.ts';

export type IdempotencyRecord = Selectable<IdempotencyKeysTable>;

export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

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

  /** Frees the key after a server error, so that a retry runs the request again. */
  async release(accountId: string, key: string): Promise<void> {
    await this.#db.deleteFrom('idempotency_keys').where('account_id', '=', accountId).where('key', '=', key).execute();
  }
}
