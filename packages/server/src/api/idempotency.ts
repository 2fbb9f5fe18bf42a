// The Idempotency-Key header on POST requests (the herm SDK sends one per logical request and keeps it across
// retries): a retried message send after a dropped connection must not start a second run.
import { createHash } from 'node:crypto';
import { createMiddleware } from 'hono/factory';
import { ApiError, validationError } from './api-error.ts';
import type { AppEnv } from './app-env.ts';

const MAX_KEY_LENGTH = 255;

/**
 * Routes whose handler records its response in the commit of its effect (store/idempotency.ts completeIn): a
 * claim of theirs still unanswered after a second most likely belongs to a server that died before it committed (the
 * handler's work takes milliseconds), and a retry takes it over at no risk of doubling the effect — the dead
 * claim's commit would be refused. Other routes' claims are taken over only after STALE_CLAIM_MS.
 */
const ATOMIC_ROUTES = [/^\/v1\/deployments\/[^/]+\/messages$/];
const ATOMIC_STALE_CLAIM_MS = 1_000;
/** A claim of any other route unanswered this long is taken over by a retry (its server is gone). */
const STALE_CLAIM_MS = 10 * 60 * 1000;

/**
 * Routes whose response carries a secret shown once (a webhook endpoint's signing secret, a new API key): the response kept for
 * replays is stored encrypted with the server's secret key, like connector secrets, never in plain text.
 */
const SECRET_RESPONSE_ROUTES = [/^\/v1\/webhook_endpoints$/, /^\/v1\/webhook_endpoints\/[^/]+\/rotate_secret$/, /^\/v1\/keys$/];
const ENCRYPTED_PREFIX = 'enc:';

export const idempotency = createMiddleware<AppEnv>(async function applyIdempotencyKey(c, next) {
  const key = c.req.header('idempotency-key');
  if (c.req.method !== 'POST' || key === undefined) return next();
  if (key.length === 0 || key.length > MAX_KEY_LENGTH) {
    throw validationError('Idempotency-Key', `Idempotency-Key must be 1 to ${MAX_KEY_LENGTH} characters.`);
  }
  const repository = c.get('services').store.idempotency;
  const accountId = c.get('apiKey').account_id;
  const body = await c.req.text();
  const pathname = new URL(c.req.url).pathname;
  const requestHash = createHash('sha256').update(`${c.req.method} ${pathname}\n${body}`).digest('hex');
  const staleAfterMs = ATOMIC_ROUTES.some((route) => route.test(pathname)) ? ATOMIC_STALE_CLAIM_MS : STALE_CLAIM_MS;
  const claim = await repository.claim(accountId, key, requestHash, { staleAfterMs });
  if (!claim.claimed) {
    const { existing } = claim;
    if (existing.request_hash !== requestHash) {
      throw validationError('Idempotency-Key', 'This Idempotency-Key was already used with a different request.');
    }
    if (existing.status_code === null) {
      throw new ApiError('conflict', 'A request with this Idempotency-Key is still being processed; retry shortly.');
    }
    c.header('idempotent-replayed', 'true');
    const stored = existing.response_body ?? '';
    const replayed = stored.startsWith(ENCRYPTED_PREFIX) ? c.get('services').secretCipher.decrypt(stored.slice(ENCRYPTED_PREFIX.length)) : stored;
    return c.body(replayed, existing.status_code as 200, { 'content-type': 'application/json' });
  }
  const { token } = claim;
  c.set('idempotencyClaim', { accountId, key, token });
  try {
    await next();
  } catch (error) {
    await repository.release(accountId, key, token);
    throw error;
  }
  // Hono's error handler turns thrown errors into responses before this point; keep those too (4xx), but never
  // a 5xx or a 429 (a quota: quotas/), which a retry is meant to get past. (A handler that recorded its response
  // in its own commit left nothing to do here.)
  if (c.res.status >= 500 || c.res.status === 429) await repository.release(accountId, key, token);
  else {
    const text = await c.res.clone().text();
    const secret = SECRET_RESPONSE_ROUTES.some((route) => route.test(pathname));
    await repository.complete(accountId, key, token, c.res.status, secret ? ENCRYPTED_PREFIX + c.get('services').secretCipher.encrypt(text) : text);
  }
});
