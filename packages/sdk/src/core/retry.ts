// When to retry a failed request and how long to wait first.
import { APIConnectionError, APIError, APIUserAbortError } from './error.ts';

const INITIAL_RETRY_DELAY_MS = 500;
const MAX_RETRY_DELAY_MS = 8_000;
/** A server-sent retry-after beyond this is ignored in favour of our own backoff. */
const MAX_HONOURED_RETRY_AFTER_MS = 60_000;

/**
 * Whether a request that failed with `error` is worth sending again.
 *
 * Retried: connection errors and timeouts, 408, 429, 5xx, and 409 `deployment_not_ready`, which only
 * means the deployment is still provisioning (seconds) and clears by itself. Other 409s are real
 * conflicts and are not retried. A server `x-should-retry: true|false` header overrides all of this.
 */
export function isRetryable(error: unknown): boolean {
  if (error instanceof APIUserAbortError) return false;
  if (error instanceof APIConnectionError) return true;
  if (!(error instanceof APIError) || error.status === undefined) return false;
  const override = error.headers?.get('x-should-retry');
  if (override === 'true') return true;
  if (override === 'false') return false;
  const status = error.status;
  if (status === 409) return error.type === 'deployment_not_ready';
  return status === 408 || status === 429 || status >= 500;
}

/**
 * Milliseconds to wait before retry number `retriesDone + 1`: the server's `retry-after-ms` or
 * `retry-after` when it gives a sane one, else exponential backoff from 0.5 s up to 8 s with up to
 * 25 % jitter so that many clients do not retry in lockstep.
 */
export function retryDelay(headers: Headers | undefined, retriesDone: number): number {
  const fromServer = headers ? retryAfterMs(headers) : undefined;
  if (fromServer !== undefined && fromServer > 0 && fromServer < MAX_HONOURED_RETRY_AFTER_MS) return fromServer;
  return backoffDelay(retriesDone, INITIAL_RETRY_DELAY_MS, MAX_RETRY_DELAY_MS);
}

/** `initialMs * 2^attempt`, capped at `maxMs`, minus up to 25 % jitter. */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number): number {
  const delay = Math.min(initialMs * 2 ** attempt, maxMs);
  return delay * (1 - Math.random() * 0.25);
}

function retryAfterMs(headers: Headers): number | undefined {
  const milliseconds = Number.parseFloat(headers.get('retry-after-ms') ?? '');
  if (!Number.isNaN(milliseconds)) return milliseconds;
  const retryAfter = headers.get('retry-after');
  if (retryAfter === null) return undefined;
  const seconds = Number.parseFloat(retryAfter);
  if (!Number.isNaN(seconds)) return seconds * 1000;
  const date = Date.parse(retryAfter);
  return Number.isNaN(date) ? undefined : date - Date.now();
}
