// Bearer-key authentication and scope checks.
import { createMiddleware } from 'hono/factory';
import type { AccountRepository, ApiKeyRecord } from '../store/accounts.ts';
import { ApiError } from './api-error.ts';
import type { AppEnv } from './app-env.ts';
import { limitRequestRate } from './rate-limit.ts';

export const SCOPES = ['deployments:read', 'deployments:write', 'metrics:read', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/**
 * How long a looked-up key is trusted without asking the store again: the bound on how long a revocation can go
 * unnoticed by a node that missed its announcement (see key-revocations.ts). It costs one indexed lookup per key
 * per second per node.
 */
export const KEY_CACHE_TTL_MS = 1_000;
const MAX_CACHED_KEYS = 10_000;

/** Looks keys up by hash, caching briefly so a hot path does not hit the database on every request. */
export class KeyVerifier {
  readonly #accounts: AccountRepository;
  readonly #cache = new Map<string, { key: ApiKeyRecord | undefined; expiresAt: number }>();
  /** Lookups under way: the requests that miss the cache at once share one. */
  readonly #pending = new Map<string, Promise<ApiKeyRecord | undefined>>();
  /** Bumped by every forget: a lookup that started before one must not put its answer in the cache. */
  #generation = 0;

  constructor(accounts: AccountRepository) {
    this.#accounts = accounts;
  }

  verify(secret: string): Promise<ApiKeyRecord | undefined> {
    const cached = this.#cache.get(secret);
    if (cached && cached.expiresAt > Date.now()) return Promise.resolve(cached.key);
    let pending = this.#pending.get(secret);
    if (!pending) {
      pending = this.#lookUp(secret);
      this.#pending.set(secret, pending);
    }
    return pending;
  }

  async #lookUp(secret: string): Promise<ApiKeyRecord | undefined> {
    const generation = this.#generation;
    try {
      const key = await this.#accounts.findKeyBySecret(secret);
      if (generation === this.#generation) {
        if (this.#cache.size >= MAX_CACHED_KEYS) this.#cache.clear();
        this.#cache.set(secret, { key, expiresAt: Date.now() + KEY_CACHE_TTL_MS });
      }
      return key;
    } finally {
      if (this.#generation === generation) this.#pending.delete(secret);
    }
  }

  /** Drops what is cached of one key (it was revoked): its next use is looked up in the store. */
  forgetKey(keyId: string): void {
    this.#generation++;
    this.#pending.clear();
    for (const [secret, entry] of this.#cache) if (entry.key?.id === keyId) this.#cache.delete(secret);
  }

  /** Drops every cached key. */
  forget(): void {
    this.#generation++;
    this.#pending.clear();
    this.#cache.clear();
  }
}

export function authenticate(verifier: KeyVerifier) {
  return createMiddleware<AppEnv>(async function authenticateRequest(c, next) {
    const header = c.req.header('authorization');
    if (!header) throw new ApiError('unauthorized', 'Missing API key: send it as "Authorization: Bearer <key>".');
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new ApiError('unauthorized', 'Malformed Authorization header: expected "Bearer <key>".');
    const key = await verifier.verify(match[1]!);
    if (!key || key.revoked_at !== null) throw new ApiError('unauthorized', 'Invalid or revoked API key.');
    c.set('apiKey', key);
    // The key's request rate (requests_per_second, HERM_RATE_LIMIT_RPS), admin keys included: a 429 past it.
    await limitRequestRate(c, key);
    await next();
  });
}

export function requireScope(scope: Scope) {
  return createMiddleware<AppEnv>(async function requireKeyScope(c, next) {
    const key = c.get('apiKey');
    if (!key.scopes.includes(scope) && !key.scopes.includes('admin')) {
      throw new ApiError('forbidden', `This API key lacks the ${scope} scope.`);
    }
    await next();
  });
}
