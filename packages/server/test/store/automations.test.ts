// The automations store on SQLite and PostgreSQL: a due automation is claimed by one caller only, however many race
// for it from separate connections (stores); a claim with a stale due time or schedule, or on a paused automation,
// takes nothing; the unique (automation, due time) index refuses a second record of the same firing; firings are
// pruned to the latest ones.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open-store.ts';
import { FIRINGS_KEPT } from '../../src/store/automations.ts';
import type { Store } from '../../src/store/store.ts';
import { newId } from '../../src/util/ids.ts';
import { createTestDatabase, postgresBaseUrl, POSTGRES_SKIP_MESSAGE, type TestDatabase } from '../support/databases.ts';
import { readyDeploymentRecord } from '../support/deployment-record.ts';

const postgresAvailable = (await postgresBaseUrl()) !== undefined;
if (!postgresAvailable) console.warn(POSTGRES_SKIP_MESSAGE);

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe.skipIf(dialect === 'postgres' && !postgresAvailable)(`automations store on ${dialect}`, () => {
    let database: TestDatabase;
    /** Separate stores (pools) on one database, as separate nodes have; SQLite has one. */
    let stores: Store[];
    let deploymentId: string;

    beforeAll(async () => {
      database = await createTestDatabase(dialect);
      stores = [];
      for (let index = 0; index < (dialect === 'postgres' ? 3 : 1); index++) {
        stores.push(await openStore({ dataDir: database.dataDir, databaseUrl: database.databaseUrl }));
      }
      const store = stores[0]!;
      await store.accounts.ensureAccount('acct_a', 'A');
      deploymentId = (await store.deployments.create(readyDeploymentRecord({ account_id: 'acct_a', customer_id: 'c' }))).id;
    });

    afterAll(async () => {
      for (const store of stores ?? []) await store.close();
      await database?.drop();
    });

    async function createAutomation(nextRunAt: number, schedule = '* * * * *') {
      return stores[0]!.automations.create(
        {
          id: newId('automation'),
          deploymentId,
          name: 'a',
          schedule,
          scheduleText: null,
          instructions: 'do it',
          threadId: newId('thread'),
          createThread: { title: 'Automation: a' },
          enabled: true,
          nextRunAt,
          now: Date.now(),
        },
        100,
      );
    }

    it('lets exactly one of many racing claims take a due time', async () => {
      const due = Date.parse('2026-06-15T09:00:00Z');
      for (let round = 0; round < 10; round++) {
        const automation = await createAutomation(due);
        const [candidate] = (await stores[0]!.automations.due(due, 100)).filter((row) => row.id === automation.id);
        expect(candidate).toBeDefined();
        const claims = await Promise.all(
          Array.from({ length: 8 }, (_, index) =>
            stores[index % stores.length]!.db.transaction().execute((trx) => stores[index % stores.length]!.automations.claimIn(trx, candidate!, due + 60_000)),
          ),
        );
        expect(claims.filter((claim) => claim !== undefined)).toHaveLength(1);
        expect((await stores[0]!.automations.get(deploymentId, automation.id))?.next_run_at).toBe(due + 60_000);
        await stores[0]!.automations.delete(deploymentId, automation.id);
      }
    });

    it('takes nothing with a stale due time or schedule, or from a paused automation', async () => {
      const due = Date.parse('2026-06-15T10:00:00Z');
      const automation = await createAutomation(due);
      const store = stores[0]!;
      const claim = (fields: Partial<{ next_run_at: number; schedule: string }>) =>
        store.db.transaction().execute((trx) => store.automations.claimIn(trx, { id: automation.id, deployment_id: deploymentId, schedule: '* * * * *', next_run_at: due, ...fields }, due + 60_000));
      expect(await claim({ next_run_at: due - 60_000 })).toBeUndefined();
      expect(await claim({ schedule: '0 * * * *' })).toBeUndefined();
      await store.automations.update(deploymentId, automation.id, { enabled: false, next_run_at: due }, Date.now());
      expect(await claim({})).toBeUndefined();
      await store.automations.update(deploymentId, automation.id, { enabled: true }, Date.now());
      expect(await claim({})).toBeDefined();
      expect(await claim({})).toBeUndefined();
    });

    it('records a scheduled firing once, and keeps the latest firings only', async () => {
      const store = stores[0]!;
      const automation = await createAutomation(Date.now() + 3_600_000);
      const firing = (scheduledFor: number | null, firedAt: number) => ({
        id: newId('automationFiring'),
        automation_id: automation.id,
        deployment_id: deploymentId,
        trigger: scheduledFor === null ? ('manual' as const) : ('schedule' as const),
        scheduled_for: scheduledFor,
        fired_at: firedAt,
        run_id: null,
        status: 'skipped' as const,
        reason: 'previous_run_active',
      });
      await store.db.transaction().execute((trx) => store.automations.recordFiringIn(trx, firing(1_000, 1_000)));
      await expect(store.db.transaction().execute((trx) => store.automations.recordFiringIn(trx, firing(1_000, 2_000)))).rejects.toThrow();
      for (let index = 0; index < FIRINGS_KEPT + 5; index++) {
        await store.db.transaction().execute((trx) => store.automations.recordFiringIn(trx, firing(null, 10_000 + index)));
      }
      const kept = await store.automations.firings(automation.id, 1_000);
      expect(kept).toHaveLength(FIRINGS_KEPT);
      expect(kept[0]!.fired_at).toBe(10_000 + FIRINGS_KEPT + 4);
    });
  });
}
