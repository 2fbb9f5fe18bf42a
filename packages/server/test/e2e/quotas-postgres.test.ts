// The per-key request rate held across nodes: two Herm servers on one PostgreSQL share each key's token bucket
// (one row, taken by one atomic statement), so a key gets the rate once across the fleet, not once per node.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PostgresTokenBuckets } from '../../src/quotas/token-buckets.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { Store } from '../../src/store/store.ts';
import { postgresBaseUrl, POSTGRES_SKIP_MESSAGE } from '../support/databases.ts';
import { startPostgresNodes, type PostgresNodes } from '../support/postgres-nodes.ts';
import type { TestServer } from '../support/test-server.ts';

const postgresAvailable = (await postgresBaseUrl()) !== undefined;
if (!postgresAvailable) console.warn(POSTGRES_SKIP_MESSAGE);

vi.setConfig({ testTimeout: 30_000 });

describe.skipIf(!postgresAvailable)('rate limits across nodes on PostgreSQL', () => {
  let cluster: PostgresNodes;
  let nodeA: TestServer;
  let nodeB: TestServer;
  const RATE = 5;

  beforeAll(async () => {
    cluster = await startPostgresNodes({ env: { HERM_ADMIN_KEY: 'herm_sk_quota_nodes_test_key_1', HERM_RATE_LIMIT_RPS: String(RATE) } });
    [nodeA, nodeB] = cluster.nodes;
  });

  afterAll(async () => {
    await cluster?.close();
  });

  it("one key's requests to both nodes at once get the rate once (burst equal to the rate), the admin key included", async () => {
    const started = Date.now();
    const responses = await Promise.all(
      Array.from({ length: 30 }, (_, index) => (index % 2 === 0 ? nodeA : nodeB).request('GET', '/v1/deployments?limit=1')),
    );
    const elapsedSeconds = (Date.now() - started) / 1000;
    const allowed = responses.filter((response) => response.status === 200);
    const limited = responses.filter((response) => response.status === 429);
    expect(allowed.length + limited.length).toBe(30);
    // A bucket per node would let through twice the burst; the shared one lets through the burst, plus what the
    // bucket refilled while the requests were served.
    expect(allowed.length).toBeGreaterThanOrEqual(RATE);
    expect(allowed.length).toBeLessThanOrEqual(RATE + Math.ceil(elapsedSeconds * RATE));
    expect(allowed.length).toBeLessThan(2 * RATE);
    // Both nodes refuse: each sees the other's takes.
    const refusedBy = new Set(responses.map((response, index) => (response.status === 429 ? index % 2 : -1)).filter((node) => node >= 0));
    expect(refusedBy.size).toBe(2);
    const refusal = limited[0]!;
    expect(refusal.body.error).toMatchObject({ type: 'rate_limited', param: 'quotas.requests_per_second' });
    expect(refusal.headers.get('retry-after')).toBe('1');
    expect(refusal.headers.get('ratelimit-limit')).toBe(String(RATE));
    expect(refusal.headers.get('ratelimit-policy')).toBe(`${RATE};w=1;burst=${RATE}`);
  });

  it('the bucket statement is atomic: concurrent takes from two connection pools at one instant grant exactly the rate', async () => {
    const { database } = cluster;
    const stores: Store[] = [];
    try {
      for (let index = 0; index < 2; index++) stores.push(await openStore({ dataDir: database.dataDir, databaseUrl: database.databaseUrl }));
      const buckets = stores.map((store) => new PostgresTokenBuckets(store.db));
      const now = Date.now();
      // The same instant for every take: no refill, so exactly `rate` of them may succeed, however they interleave.
      const takes = await Promise.all(Array.from({ length: 40 }, (_, index) => buckets[index % 2]!.take('test:atomic', 7, now)));
      expect(takes.filter((take) => take.allowed)).toHaveLength(7);
      // A second later the bucket has refilled by the rate (and no more than its burst).
      const later = await Promise.all(Array.from({ length: 20 }, (_, index) => buckets[index % 2]!.take('test:atomic', 7, now + 1_000)));
      expect(later.filter((take) => take.allowed)).toHaveLength(7);
      const muchLater = await Promise.all(Array.from({ length: 20 }, (_, index) => buckets[index % 2]!.take('test:atomic', 7, now + 60_000)));
      expect(muchLater.filter((take) => take.allowed)).toHaveLength(7);
      // A clock behind the row's (another node's skew) refills nothing and does not move the row back.
      const behind = await buckets[0]!.take('test:atomic', 7, now);
      expect(behind.allowed).toBe(false);
    } finally {
      for (const store of stores) await store.close();
    }
  });
});
