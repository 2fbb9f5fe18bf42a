// Delays between attempts at something that keeps failing (a lost database connection, a store read): they
// double from `minMs` up to `maxMs`, and each is drawn from its upper half so that many waiters spread out.

export interface Backoff {
  minMs: number;
  maxMs: number;
}

/** The wait before attempt `failures + 1`, after `failures` failures in a row. */
export function backoffDelay(failures: number, backoff: Backoff): number {
  const ceiling = Math.min(backoff.maxMs, backoff.minMs * 2 ** Math.min(failures, 30));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}
