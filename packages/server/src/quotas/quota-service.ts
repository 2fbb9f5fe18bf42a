// Per-account quotas and rate limits: the server's defaults with each account's overrides, and the checks made
// where a quota can be exceeded (a request, a deployment's create, a run's start, an event stream's open). Every
// check costs nothing beyond a cached lookup while its quota is off (0), the default.
import type { Logger } from 'pino';
import type { Db, Dialect } from '../store/database.ts';
import { query } from '../store/sql.ts';
import { applyPatch, parseOverrides, QUOTA_NAMES, resolveQuotas, type QuotaName, type QuotaOverrides, type QuotaOverridesPatch, type Quotas } from './quota-settings.ts';
import { tokenBuckets, type TokenBuckets } from './token-buckets.ts';

/** How long an account's overrides are trusted without reading them again: how long a change takes to reach every node. */
export const OVERRIDES_CACHE_TTL_MS = 2_000;
const MAX_CACHED_ACCOUNTS = 10_000;
/** Retry-After of a refused run while the account's concurrent runs are all in use: runs end at unknown times. */
const CONCURRENT_RUNS_RETRY_SECONDS = 2;

/**
 * A quota exceeded. `kind` rate: retry later (429 rate_limited, Retry-After and RateLimit-* headers); hard: the
 * request cannot succeed until something changes (the account frees resources, or the operator raises the quota).
 */
export class QuotaExceededError extends Error {
  readonly quota: QuotaName;
  readonly limit: number;
  readonly kind: 'rate' | 'hard';
  /** For a rate: seconds until a retry can succeed; the window (RateLimit-Policy). */
  readonly retryAfterSeconds: number | undefined;
  readonly windowSeconds: number | undefined;
  /** For a hard quota: the request field that asked for too much, when one did (else the quota is named). */
  readonly field: string | undefined;

  constructor(options: { quota: QuotaName; limit: number; kind: 'rate' | 'hard'; message: string; retryAfterSeconds?: number; windowSeconds?: number; field?: string }) {
    super(options.message);
    this.name = 'QuotaExceededError';
    this.quota = options.quota;
    this.limit = options.limit;
    this.kind = options.kind;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.windowSeconds = options.windowSeconds;
    this.field = options.field;
  }
}

/** What a request's rate check found: the RateLimit-* headers of an allowed request. */
export interface RequestRate {
  limit: number;
  remaining: number;
  /** Seconds until the bucket is full again. */
  resetSeconds: number;
}

export interface QuotaServiceOptions {
  db: Db;
  dialect: Dialect;
  defaults: Quotas;
  /** HERM_SANDBOX_DISK_MB: what a deployment without sandbox.limits.disk_mb reserves (0: nothing, unbounded). */
  defaultDiskMb: number;
  logger: Logger;
  buckets?: TokenBuckets;
  now?: () => number;
}

const GET_OVERRIDES = 'SELECT quotas FROM account_quotas WHERE account_id = $1';
const COUNT_DEPLOYMENTS = 'SELECT COUNT(*) AS count FROM deployments WHERE account_id = $1 AND deleted_at IS NULL';
const DEPLOYMENT_SANDBOXES = 'SELECT id, sandbox FROM deployments WHERE account_id = $1 AND deleted_at IS NULL';
const COUNT_ACTIVE_RUNS =
  "SELECT COUNT(*) AS count FROM runs r JOIN deployments d ON d.id = r.deployment_id WHERE d.account_id = $1 AND r.status IN ('running', 'waiting_on_human')";
const RUNS_SINCE =
  'SELECT COUNT(*) AS count, MIN(r.created_at) AS oldest FROM runs r JOIN deployments d ON d.id = r.deployment_id WHERE d.account_id = $1 AND r.created_at > $2';

export class QuotaService {
  readonly #options: QuotaServiceOptions;
  readonly #buckets: TokenBuckets;
  readonly #now: () => number;
  readonly #cache = new Map<string, { overrides: QuotaOverrides | undefined; expiresAt: number }>();
  readonly #pending = new Map<string, Promise<QuotaOverrides | undefined>>();
  #generation = 0;
  /** Event streams open on this node, by account. */
  readonly #streams = new Map<string, number>();

  constructor(options: QuotaServiceOptions) {
    this.#options = options;
    this.#buckets = options.buckets ?? tokenBuckets(options.db, options.dialect);
    this.#now = options.now ?? Date.now;
  }

  get defaults(): Quotas {
    return this.#options.defaults;
  }

  /**
   * The account's quotas in force: the defaults with its overrides. `db`: the transaction the caller is in. A
   * lookup inside one reads through it rather than through the store's pool (or another caller's pending read):
   * SQLite has one connection, which the transaction holds, so a read outside it would wait for it forever.
   */
  async quotasOf(accountId: string, db?: Db): Promise<Quotas> {
    if (db !== undefined) {
      const cached = this.#cache.get(accountId);
      const overrides = cached && cached.expiresAt > this.#now() ? cached.overrides : await this.overrides(accountId, db);
      return resolveQuotas(this.#options.defaults, overrides);
    }
    return resolveQuotas(this.#options.defaults, await this.#cachedOverrides(accountId));
  }

  /** The account's overrides, read from the store. */
  async overrides(accountId: string, db: Db = this.#options.db): Promise<QuotaOverrides> {
    const [row] = await query<{ quotas: string }>(db, this.#options.dialect, GET_OVERRIDES, [accountId]);
    return row ? parseOverrides(row.quotas) : {};
  }

  /** Applies a patch to the account's overrides (null: back to the default); returns them as they are now. */
  async setOverrides(accountId: string, patch: QuotaOverridesPatch, db: Db = this.#options.db): Promise<QuotaOverrides> {
    const next = applyPatch(await this.overrides(accountId, db), patch);
    const now = this.#now();
    if (Object.keys(next).length === 0) {
      await query(db, this.#options.dialect, 'DELETE FROM account_quotas WHERE account_id = $1', [accountId]);
    } else {
      await query(
        db,
        this.#options.dialect,
        'INSERT INTO account_quotas (account_id, quotas, updated_at) VALUES ($1, $2, $3) ON CONFLICT (account_id) DO UPDATE SET quotas = excluded.quotas, updated_at = excluded.updated_at',
        [accountId, JSON.stringify(next), now],
      );
    }
    this.forget(accountId);
    return next;
  }

  /** Drops the cached overrides of one account (or all). */
  forget(accountId?: string): void {
    this.#generation++;
    this.#pending.clear();
    if (accountId === undefined) this.#cache.clear();
    else this.#cache.delete(accountId);
  }

  #cachedOverrides(accountId: string): Promise<QuotaOverrides | undefined> {
    const cached = this.#cache.get(accountId);
    if (cached && cached.expiresAt > this.#now()) return Promise.resolve(cached.overrides);
    let pending = this.#pending.get(accountId);
    if (!pending) {
      pending = this.#lookUp(accountId);
      this.#pending.set(accountId, pending);
    }
    return pending;
  }

  async #lookUp(accountId: string): Promise<QuotaOverrides | undefined> {
    const generation = this.#generation;
    try {
      const overrides = await this.overrides(accountId);
      const value = Object.keys(overrides).length > 0 ? overrides : undefined;
      if (generation === this.#generation) {
        if (this.#cache.size >= MAX_CACHED_ACCOUNTS) this.#cache.clear();
        this.#cache.set(accountId, { overrides: value, expiresAt: this.#now() + OVERRIDES_CACHE_TTL_MS });
      }
      return value;
    } finally {
      if (generation === this.#generation) this.#pending.delete(accountId);
    }
  }

  /**
   * One request of a key: a token from its bucket (requests_per_second; admin keys too). Undefined when the
   * account has no request rate. @throws QuotaExceededError (rate) when the bucket is empty.
   */
  async takeRequest(key: { id: string; account_id: string }): Promise<RequestRate | undefined> {
    const rate = (await this.quotasOf(key.account_id)).requests_per_second;
    if (rate <= 0) return undefined;
    const { allowed, tokens } = await this.#buckets.take(`key:${key.id}`, rate, this.#now());
    if (!allowed) {
      const retryAfterSeconds = Math.max(1, Math.ceil((1 - tokens) / rate));
      throw new QuotaExceededError({
        quota: 'requests_per_second',
        limit: rate,
        kind: 'rate',
        retryAfterSeconds,
        windowSeconds: 1,
        message: `Rate limit exceeded: this API key may make ${rate} requests per second (quota requests_per_second). Retry after ${retryAfterSeconds} s.`,
      });
    }
    return { limit: rate, remaining: Math.floor(tokens), resetSeconds: Math.ceil((rate - tokens) / rate) };
  }

  /** Whether the account has a quota on runs (concurrent_runs or runs_per_minute): checkRunStart does anything. */
  async limitsRuns(accountId: string, db?: Db): Promise<boolean> {
    const quotas = await this.quotasOf(accountId, db);
    return quotas.concurrent_runs > 0 || quotas.runs_per_minute > 0;
  }

  /**
   * Before a run starts on the account (a message, an automation firing): concurrent_runs and runs_per_minute.
   * `joinsActiveRun`: the message folds into, or replaces, a run already active, so the active count does not grow.
   * `db`: the transaction the run is started in, when there is one. @throws QuotaExceededError (rate).
   */
  async checkRunStart(accountId: string, options: { db?: Db; replacesActiveRun?: boolean } = {}): Promise<void> {
    const quotas = await this.quotasOf(accountId, options.db);
    if (quotas.concurrent_runs <= 0 && quotas.runs_per_minute <= 0) return;
    const db = options.db ?? this.#options.db;
    if (quotas.concurrent_runs > 0 && !options.replacesActiveRun) {
      const [row] = await query<{ count: number | string }>(db, this.#options.dialect, COUNT_ACTIVE_RUNS, [accountId]);
      if (Number(row?.count ?? 0) >= quotas.concurrent_runs) {
        throw new QuotaExceededError({
          quota: 'concurrent_runs',
          limit: quotas.concurrent_runs,
          kind: 'rate',
          retryAfterSeconds: CONCURRENT_RUNS_RETRY_SECONDS,
          message: `This account already has ${quotas.concurrent_runs} active runs, its limit (quota concurrent_runs): retry once one has ended.`,
        });
      }
    }
    if (quotas.runs_per_minute > 0) {
      const now = this.#now();
      const [row] = await query<{ count: number | string; oldest: number | string | null }>(db, this.#options.dialect, RUNS_SINCE, [accountId, now - 60_000]);
      if (Number(row?.count ?? 0) >= quotas.runs_per_minute) {
        const oldest = Number(row?.oldest ?? now);
        const retryAfterSeconds = Math.max(1, Math.ceil((oldest + 60_000 - now) / 1000));
        throw new QuotaExceededError({
          quota: 'runs_per_minute',
          limit: quotas.runs_per_minute,
          kind: 'rate',
          retryAfterSeconds,
          windowSeconds: 60,
          message: `This account has started ${quotas.runs_per_minute} runs in the last minute, its limit (quota runs_per_minute). Retry after ${retryAfterSeconds} s.`,
        });
      }
    }
  }

  /**
   * Before a deployment is created, or its disk request changed: deployments (on create) and workspace_bytes, the
   * disk its workspace reserves (sandbox.limits.disk_mb, else HERM_SANDBOX_DISK_MB) with the account's others.
   * @throws QuotaExceededError (hard).
   */
  async checkDeployment(accountId: string, request: { diskMb: number | undefined; creating: boolean; deploymentId?: string }): Promise<void> {
    const quotas = await this.quotasOf(accountId);
    const { dialect } = this.#options;
    if (request.creating && quotas.deployments > 0) {
      const [row] = await query<{ count: number | string }>(this.#options.db, dialect, COUNT_DEPLOYMENTS, [accountId]);
      if (Number(row?.count ?? 0) >= quotas.deployments) {
        throw new QuotaExceededError({
          quota: 'deployments',
          limit: quotas.deployments,
          kind: 'hard',
          message: `This account already has ${quotas.deployments} deployments, its limit (quota deployments): delete one first, or ask the operator to raise it.`,
        });
      }
    }
    if (quotas.workspace_bytes <= 0) return;
    const requested = this.#diskBytes(request.diskMb);
    if (requested === undefined) {
      throw new QuotaExceededError({
        quota: 'workspace_bytes',
        limit: quotas.workspace_bytes,
        kind: 'hard',
        field: 'sandbox.limits.disk_mb',
        message: `This account's workspaces may reserve ${quotas.workspace_bytes} bytes (quota workspace_bytes): set sandbox.limits.disk_mb (this server sets no default disk quota).`,
      });
    }
    const rows = await query<{ id: string; sandbox: string }>(this.#options.db, dialect, DEPLOYMENT_SANDBOXES, [accountId]);
    let others = 0;
    for (const row of rows) {
      if (row.id === request.deploymentId) continue;
      const diskMb = (JSON.parse(row.sandbox) as { limits?: { disk_mb?: number } }).limits?.disk_mb;
      others += this.#diskBytes(diskMb) ?? 0;
    }
    if (others + requested > quotas.workspace_bytes) {
      const free = Math.max(0, quotas.workspace_bytes - others);
      throw new QuotaExceededError({
        quota: 'workspace_bytes',
        limit: quotas.workspace_bytes,
        kind: 'hard',
        field: 'sandbox.limits.disk_mb',
        message:
          `This deployment's workspace would reserve ${requested} bytes, but the account's workspaces may reserve ${quotas.workspace_bytes} bytes ` +
          `(quota workspace_bytes) and its other deployments reserve ${others}: at most ${Math.floor(free / 1_048_576)} MiB is left for sandbox.limits.disk_mb.`,
      });
    }
  }

  #diskBytes(diskMb: number | undefined): number | undefined {
    const megabytes = diskMb ?? this.#options.defaultDiskMb;
    return megabytes > 0 ? megabytes * 1_048_576 : undefined;
  }

  /**
   * An event stream opening for the account: counted while open on this node. Returns the release to call once
   * it has closed, undefined when the account has no sse_streams quota. @throws QuotaExceededError (rate).
   */
  async openStream(accountId: string): Promise<(() => void) | undefined> {
    const limit = (await this.quotasOf(accountId)).sse_streams;
    if (limit <= 0) return undefined;
    const open = this.#streams.get(accountId) ?? 0;
    if (open >= limit) {
      throw new QuotaExceededError({
        quota: 'sse_streams',
        limit,
        kind: 'rate',
        retryAfterSeconds: 1,
        message: `This account already has ${limit} event streams open, its limit (quota sse_streams): close one first.`,
      });
    }
    this.#streams.set(accountId, open + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#streams.get(accountId) ?? 1) - 1;
      if (left <= 0) this.#streams.delete(accountId);
      else this.#streams.set(accountId, left);
    };
  }
}

/** The server's defaults from the configuration. */
export function quotaDefaults(config: {
  HERM_QUOTA_DEPLOYMENTS: number;
  HERM_QUOTA_CONCURRENT_RUNS: number;
  HERM_QUOTA_RUNS_PER_MINUTE: number;
  HERM_RATE_LIMIT_RPS: number;
  HERM_QUOTA_SSE_STREAMS: number;
  HERM_QUOTA_WORKSPACE_BYTES: number;
}): Quotas {
  return {
    deployments: config.HERM_QUOTA_DEPLOYMENTS,
    concurrent_runs: config.HERM_QUOTA_CONCURRENT_RUNS,
    runs_per_minute: config.HERM_QUOTA_RUNS_PER_MINUTE,
    requests_per_second: config.HERM_RATE_LIMIT_RPS,
    sse_streams: config.HERM_QUOTA_SSE_STREAMS,
    workspace_bytes: config.HERM_QUOTA_WORKSPACE_BYTES,
  };
}

export { QUOTA_NAMES };
