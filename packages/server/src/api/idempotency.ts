// The Idempotency-Key header on POST requests (the herm SDK sends one per logical request and keeps it across
// retries): a retried message send after a dropped connection must not start a second run.
import { createHash } from 'node:crypto';
import { createMiddleware } from 'hono/factory';
import { ApiError, validationError } from './api-error.ts';
import type { AppEnv } from './app-env.ts';

const MAX_KEY_LENGTH = 255;

export const idempotency = createMiddleware<AppEnv>(async function applyIdempotencyKey(c, next) {
  const key = c.req.header('idempotency-key');
  if (c.req.method !== 'POST' || key === undefined) return next();
  if (key.length === 0 || key.length > MAX_KEY_LENGTH) {
    throw validationError('Idempotency-Key', `Idempotency-Key must be 1 to ${MAX_KEY_LENGTH} characters.`);
  }
  const repository = c.get('services').store.idempotency;
  const accountId = c.get('apiKey').account_id;
  const body = await c.req.text();
  const requestHash = createHash('sha256').update(`${c.req.method} ${new URL(c.req.url).pathname}\n${body}`).digest('hex');
  const claim = await repository.claim(accountId, key, requestHash);
  if (!claim.claimed) {
    const { existing } = claim;
    if (existing.request_hash !== requestHash) {
      throw validationError('Idempotency-Key', 'This Idempotency-Key was already used with a different request.');
    }
    if (existing.status_code === null) {
      throw new ApiError('conflict', 'A request with this Idempotency-Key is still being processed; retry shortly.');
    }
    c.header('idempotent-replayed', 'true');
    return c.body(existing.response_body ?? '', existing.status_code as 200, { 'content-type': 'application/json' });
  }
  try {
    await next();
  } catch (error) {
    await repository.release(accountId, key);
    throw error;
  }
  // Hono's error handler turns thrown errors into responses before this point; keep those too (4xx), but never
  // a 5xx, which a retry is meant to get past.
  if (c.res.status >= 500) await repository.release(accountId, key);
  else await repository.complete(accountId, key, c.res.status, await c.res.clone().text());
});
