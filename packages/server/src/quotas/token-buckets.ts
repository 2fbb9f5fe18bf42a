// Token buckets of the per-key request rate: `rate` tokens a second, at most `rate` held (burst equals the rate),
// one taken per request. On PostgreSQL the bucket is a row that every node updates with one atomic statement
// (the row lock of the upsert serializes concurrent takers, no advisory lock); on SQLite (one node) it is memory.
import type { Db, Dialect } from '../store/database.ts';
import { query } from '../store/sql.ts';

export interface TakeResult {
  allowed: boolean;
  /** Tokens left after this take (fractional). */
  tokens: number;
}

export interface TokenBuckets {
  /** Takes one token from `bucket`, refilled at `rate` a second up to `rate`, as of `now` (epoch ms). */
  take(bucket: string, rate: number, now: number): Promise<TakeResult>;
}

/** The refill, the take, and whether it was allowed, in one statement: what the row held is read and written under its lock. */
const REFILLED = 'LEAST($2::float8, b.tokens + GREATEST(0, $3::bigint - b.updated_at) * $2::float8 / 1000.0)';
const POSTGRES_TAKE =
  'INSERT INTO rate_limit_buckets AS b (bucket, tokens, allowed, updated_at) VALUES ($1, $2::float8 - 1, 1, $3::bigint) ' +
  `ON CONFLICT (bucket) DO UPDATE SET tokens = CASE WHEN ${REFILLED} >= 1 THEN ${REFILLED} - 1 ELSE ${REFILLED} END, ` +
  `allowed = CASE WHEN ${REFILLED} >= 1 THEN 1 ELSE 0 END, updated_at = GREATEST(b.updated_at, $3::bigint) ` +
  'RETURNING tokens, allowed';

export class PostgresTokenBuckets implements TokenBuckets {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async take(bucket: string, rate: number, now: number): Promise<TakeResult> {
    const [row] = await query<{ tokens: number | string; allowed: number | string }>(this.#db, 'postgres', POSTGRES_TAKE, [bucket, rate, now]);
    return { allowed: Number(row!.allowed) === 1, tokens: Number(row!.tokens) };
  }
}

const MAX_BUCKETS = 100_000;

export class MemoryTokenBuckets implements TokenBuckets {
  readonly #buckets = new Map<string, { tokens: number; updatedAt: number }>();

  take(bucket: string, rate: number, now: number): Promise<TakeResult> {
    let state = this.#buckets.get(bucket);
    if (!state) {
      // Full buckets carry no state: dropping every one at the bound forgets nothing but some debt.
      if (this.#buckets.size >= MAX_BUCKETS) this.#buckets.clear();
      state = { tokens: rate, updatedAt: now };
      this.#buckets.set(bucket, state);
    }
    const refilled = Math.min(rate, state.tokens + (Math.max(0, now - state.updatedAt) * rate) / 1000);
    state.updatedAt = Math.max(state.updatedAt, now);
    const allowed = refilled >= 1;
    state.tokens = allowed ? refilled - 1 : refilled;
    return Promise.resolve({ allowed, tokens: state.tokens });
  }
}

export function tokenBuckets(db: Db, dialect: Dialect): TokenBuckets {
  return dialect === 'postgres' ? new PostgresTokenBuckets(db) : new MemoryTokenBuckets();
}
