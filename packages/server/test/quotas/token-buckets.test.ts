// The in-memory token bucket of a single node (SQLite): the rate is the burst, refill is continuous, a clock that
// goes back refills nothing. (The PostgreSQL bucket is tested against a real database in quotas-postgres.test.ts.)
import { describe, expect, it } from 'vitest';
import { MemoryTokenBuckets } from '../../src/quotas/token-buckets.ts';

async function allowedOf(buckets: MemoryTokenBuckets, bucket: string, rate: number, now: number, takes: number): Promise<number> {
  let allowed = 0;
  for (let index = 0; index < takes; index++) if ((await buckets.take(bucket, rate, now)).allowed) allowed++;
  return allowed;
}

describe('MemoryTokenBuckets', () => {
  it('grants the burst (the rate) at one instant, then the rate per second, never more than the burst', async () => {
    const buckets = new MemoryTokenBuckets();
    const t0 = 1_000_000;
    expect(await allowedOf(buckets, 'key:a', 4, t0, 10)).toBe(4);
    expect(await allowedOf(buckets, 'key:a', 4, t0 + 250, 10)).toBe(1); // a quarter second: one token
    expect(await allowedOf(buckets, 'key:a', 4, t0 + 1_250, 10)).toBe(4);
    expect(await allowedOf(buckets, 'key:a', 4, t0 + 3_600_000, 10)).toBe(4); // an hour idle: still the burst
    // Another bucket is untouched by this one.
    expect(await allowedOf(buckets, 'key:b', 4, t0, 10)).toBe(4);
  });

  it('reports what is left, and refills nothing for a clock behind the last take', async () => {
    const buckets = new MemoryTokenBuckets();
    const t0 = 5_000_000;
    expect(await buckets.take('key:c', 3, t0)).toEqual({ allowed: true, tokens: 2 });
    await buckets.take('key:c', 3, t0);
    await buckets.take('key:c', 3, t0);
    const refused = await buckets.take('key:c', 3, t0);
    expect(refused.allowed).toBe(false);
    expect(refused.tokens).toBe(0);
    expect((await buckets.take('key:c', 3, t0 - 10_000)).allowed).toBe(false);
    expect((await buckets.take('key:c', 3, t0 + 334)).allowed).toBe(true);
  });
});
