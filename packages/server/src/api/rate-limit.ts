// The HTTP face of quotas (quotas/): a QuotaExceededError as the API's error, with Retry-After and the IETF draft's
// RateLimit-* headers (draft-ietf-httpapi-ratelimit-headers: RateLimit-Limit, -Remaining, -Reset, -Policy), and
// the per-key request rate taken at authentication.
import type { Context } from 'hono';
import { QuotaExceededError, type RequestRate } from '../quotas/quota-service.ts';
import { ApiError } from './api-error.ts';
import type { AppEnv } from './app-env.ts';

/**
 * A rate (requests_per_second, runs_per_minute, concurrent_runs, sse_streams): 429 rate_limited, param naming the
 * quota (quotas.<name>). Hard quotas: deployments is a 409 conflict naming quotas.deployments; workspace_bytes a
 * 400 validation_error naming the field that asked for too much (sandbox.limits.disk_mb), its message the quota.
 */
export function quotaApiError(error: QuotaExceededError): ApiError {
  if (error.kind === 'hard') {
    const apiError = error.field
      ? new ApiError('validation_error', error.message, error.field)
      : new ApiError('conflict', error.message, `quotas.${error.quota}`);
    apiError.headers = {}; // nothing to wait for: no retry-after
    return apiError;
  }
  const apiError = new ApiError('rate_limited', error.message, `quotas.${error.quota}`);
  const retryAfter = String(error.retryAfterSeconds ?? 1);
  apiError.headers = {
    'retry-after': retryAfter,
    'ratelimit-limit': String(error.limit),
    'ratelimit-remaining': '0',
    'ratelimit-reset': retryAfter,
    ...(error.windowSeconds === undefined ? {} : { 'ratelimit-policy': policy(error.limit, error.windowSeconds) }),
  };
  return apiError;
}

function policy(limit: number, windowSeconds: number): string {
  return windowSeconds === 1 ? `${limit};w=1;burst=${limit}` : `${limit};w=${windowSeconds}`;
}

/** The RateLimit-* headers of a request the key's bucket let through. */
export function setRateLimitHeaders(c: Context<AppEnv>, rate: RequestRate): void {
  c.header('ratelimit-limit', String(rate.limit));
  c.header('ratelimit-remaining', String(rate.remaining));
  c.header('ratelimit-reset', String(rate.resetSeconds));
  c.header('ratelimit-policy', policy(rate.limit, 1));
}

/** Takes a token of the authenticated key's request rate (no-op while the account has none). @throws ApiError 429. */
export async function limitRequestRate(c: Context<AppEnv>, key: { id: string; account_id: string }): Promise<void> {
  const quotas = c.get('services')?.quotas;
  if (!quotas) return;
  const rate = await quotas.takeRequest(key);
  if (rate) setRateLimitHeaders(c, rate);
}

/** `body` as a stream that calls `release` once it ends, whether it closes, fails, or the client goes away. */
export function releaseOnEnd(body: ReadableStream<Uint8Array>, release: () => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          release();
          controller.close();
        } else controller.enqueue(value);
      } catch (error) {
        release();
        controller.error(error);
      }
    },
    cancel(reason) {
      release();
      return reader.cancel(reason);
    },
  });
}
