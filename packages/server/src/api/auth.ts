// Bearer-key authentication and scope checks.
import { createMiddleware } from 'hono/factory';
import type { AccountRepository, ApiKeyRecord } from '../store/accounts.ts';
import { ApiError } from './api-error.ts';
import type { AppEnv } from './app-env.ts';

export const SCOPES = ['deployments:read', 'deployments:write', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

const CACHE_TTL_MS = 5_000;

/** Looks keys up by hash, caching briefly so a hot path does not hit the database on every request. */
export class KeyVerifier {
  readonly #accounts: AccountRepository;
  readonly #cache = new Map<string, { key: ApiKeyRecord | undefined; expiresAt: number }>();

  constructor(accounts: AccountRepository) {
    this.#accounts = accounts;
  }

  async verify(secret: string): Promise<ApiKeyRecord | undefined> {
    const now = Date.now();
    const cached = this.#cache.get(secret);
    if (cached && cached.expiresAt > now) return cached.key;
    const key = await this.#accounts.findKeyBySecret(secret);
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(secret, { key, expiresAt: now + CACHE_TTL_MS });
    return key;
  }

  forget(): void {
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
