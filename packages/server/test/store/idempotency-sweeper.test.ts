// Expired idempotency keys are deleted by a sweeper on a timer, in bounded batches, on both dialects; keys still
// within their 24 hours stay and still replay.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IDEMPOTENCY_TTL_MS, startIdempotencySweeper } from '../../src/store/idempotency.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { Store } from '../../src/store/store.ts';
import { createTestDatabase, postgresBaseUrl, POSTGRES_SKIP_MESSAGE, type TestDatabase } from '../support/databases.ts';

const postgresAvailable = (await postgresBaseUrl()) !== undefined;
if (!postgresAvailable) console.warn(POSTGRES_SKIP_MESSAGE);

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe.skipIf(dialect === 'postgres' && !postgresAvailable)(`idempotency keys on ${dialect}`, () => {
    let database: TestDatabase;
    let store: Store;

    beforeAll(async () => {
      database = await createTestDatabase(dialect);
      store = await openStore({ dataDir: database.dataDir, databaseUrl: database.databaseUrl });
      await store.accounts.ensureAccount('acct_a', 'A');
    });

    afterAll(async () => {
      await store?.close();
      await database?.drop();
    });

    async function claimKeys(prefix: string, count: number): Promise<string[]> {
      const keys = Array.from({ length: count }, (_, index) => `${prefix}-${index}`);
      for (const key of keys) {
        const claim = await store.idempotency.claim('acct_a', key, 'hash');
        expect(claim).toMatchObject({ claimed: true, token: expect.any(String) });
        await store.idempotency.complete('acct_a', key, (claim as { token: string }).token, 201, '{}');
      }
      return keys;
    }

    async function remaining(prefix: string): Promise<number> {
      const rows = await store.db.selectFrom('idempotency_keys').select('key').where('key', 'like', `${prefix}-%`).execute();
      return rows.length;
    }

    it('deletes only expired keys, in batches of the size asked for', async () => {
      await claimKeys('old', 7);
      // Seven keys a day and a second old; two fresh ones.
      await store.db
        .updateTable('idempotency_keys')
        .set({ created_at: Date.now() - IDEMPOTENCY_TTL_MS - 1_000 })
        .where('key', 'like', 'old-%')
        .execute();
      await claimKeys('fresh', 2);
      expect(await store.idempotency.deleteExpired({ batchSize: 3, maxBatches: 2 })).toBe(6);
      expect(await remaining('old')).toBe(1);
      expect(await store.idempotency.deleteExpired({ batchSize: 3 })).toBe(1);
      expect(await remaining('old')).toBe(0);
      expect(await remaining('fresh')).toBe(2);
      // A fresh key still replays.
      const again = await store.idempotency.claim('acct_a', 'fresh-0', 'hash');
      expect(again).toMatchObject({ claimed: false, existing: { status_code: 201 } });
    });

    it('sweeps on a timer with the clock it is given, and stops', async () => {
      const keys = await claimKeys('timer', 5);
      let clock = Date.now();
      const deletedCounts: number[] = [];
      const sweeper = startIdempotencySweeper({
        repository: store.idempotency,
        logger: { info: (fields: { deleted?: number }) => deletedCounts.push(fields.deleted ?? 0), warn: () => {} } as never,
        intervalMs: 20,
        batchSize: 2,
        now: () => clock,
      });
      try {
        await new Promise((resolve) => setTimeout(resolve, 100));
        expect(await remaining('timer')).toBe(keys.length);
        clock += IDEMPOTENCY_TTL_MS + 60_000;
        for (const deadline = Date.now() + 5_000; (await remaining('timer')) > 0 && Date.now() < deadline; ) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        expect(await remaining('timer')).toBe(0);
        expect(deletedCounts.reduce((sum, count) => sum + count, 0)).toBeGreaterThanOrEqual(keys.length);
      } finally {
        await sweeper.stop();
      }
      await claimKeys('after-stop', 1);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await remaining('after-stop')).toBe(1);
    });
  });
}

it('logs a failed sweep and keeps its timer', async () => {
  const warnings: unknown[] = [];
  let calls = 0;
  const sweeper = startIdempotencySweeper({
    repository: {
      deleteExpired: async () => {
        calls++;
        throw new Error('database unavailable');
      },
    },
    logger: { info: () => {}, warn: (fields: unknown) => warnings.push(fields) } as never,
    intervalMs: 10,
  });
  await new Promise((resolve) => setTimeout(resolve, 100));
  await sweeper.stop();
  expect(calls).toBeGreaterThan(2);
  expect(warnings.length).toBe(calls);
});
