// The webhook outbox on both dialects: claims are exclusive (PostgreSQL: FOR UPDATE SKIP LOCKED under concurrent
// claimers), a lease fences the attempt's record, disabled and deleted endpoints get nothing, persistent failure
// disables, and finished deliveries are swept after their retention.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open-store.ts';
import type { Store } from '../../src/store/store.ts';
import type { AttemptOutcome, ClaimedDelivery } from '../../src/store/webhooks.ts';
import { createTestDatabase, postgresBaseUrl, POSTGRES_SKIP_MESSAGE, type TestDatabase } from '../support/databases.ts';

const postgresAvailable = (await postgresBaseUrl()) !== undefined;
if (!postgresAvailable) console.warn(POSTGRES_SKIP_MESSAGE);

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe.skipIf(dialect === 'postgres' && !postgresAvailable)(`the webhook outbox on ${dialect}`, () => {
    let database: TestDatabase;
    let store: Store;

    beforeAll(async () => {
      database = await createTestDatabase(dialect);
      store = await openStore({ dataDir: database.dataDir, databaseUrl: database.databaseUrl });
      await store.accounts.ensureAccount('acct_w', 'W');
    });

    afterAll(async () => {
      await store?.close();
      await database?.drop();
    });

    async function endpointWith(deliveries: number): Promise<string> {
      const endpoint = await store.webhooks.createEndpoint({
        accountId: 'acct_w',
        deploymentId: null,
        url: 'https://example.com/hook',
        description: null,
        events: ['run.completed'],
        secretCiphertext: 'x',
      });
      await store.webhooks.enqueueIn(
        store.db,
        Array.from({ length: deliveries }, (_, index) => ({
          endpointId: endpoint.id,
          accountId: 'acct_w',
          eventType: 'run.completed',
          payload: JSON.stringify({ index }),
          deploymentId: null,
          runId: null,
        })),
      );
      return endpoint.id;
    }

    function outcome(delivery: ClaimedDelivery, changes: Partial<AttemptOutcome> = {}): AttemptOutcome {
      return {
        deliveryId: delivery.id,
        endpointId: delivery.endpointId,
        leaseToken: delivery.leaseToken,
        attempt: delivery.attemptCount + 1,
        startedAt: Date.now(),
        durationMs: 5,
        statusCode: 200,
        error: null,
        succeeded: true,
        nodeId: 'node_test',
        scheduleIndex: delivery.scheduleIndex,
        ...changes,
      };
    }

    /** Claims everything due (and lets it go again with a success), so each test starts from an empty queue. */
    async function drain(): Promise<void> {
      for (;;) {
        const claimed = await store.webhooks.claimDue('node_drain', 60_000, 100);
        if (claimed.length === 0) return;
        for (const delivery of claimed) await store.webhooks.recordAttempt(outcome(delivery), 0);
      }
    }

    it('gives each due delivery to one claimer, however many claim at once', async () => {
      await drain();
      await endpointWith(60);
      const claims = await Promise.all(Array.from({ length: 6 }, (_, index) => store.webhooks.claimDue(`node_${index}`, 60_000, 15)));
      const ids = claims.flat().map((delivery) => delivery.id);
      expect(ids).toHaveLength(60);
      expect(new Set(ids).size).toBe(60);
      // Held: nobody else gets them while the lease lasts.
      expect(await store.webhooks.claimDue('node_late', 60_000, 100)).toEqual([]);
      for (const delivery of claims.flat()) expect((await store.webhooks.recordAttempt(outcome(delivery), 0)).recorded).toBe(true);
    });

    it('fences the record of an attempt with the lease: a taken-over lease records nothing', async () => {
      await drain();
      const endpointId = await endpointWith(1);
      const [first] = await store.webhooks.claimDue('node_a', 1_000, 10);
      expect(first).toBeDefined();
      // The lease runs out; another node takes the delivery over.
      const [second] = await store.webhooks.claimDue('node_b', 60_000, 10, Date.now() + 5_000);
      expect(second?.id).toBe(first!.id);
      expect(await store.webhooks.recordAttempt(outcome(first!, { succeeded: false, statusCode: 500, error: 'HTTP 500', retryAt: Date.now() }), 0)).toEqual({
        recorded: false,
        disabled: false,
      });
      expect((await store.webhooks.recordAttempt(outcome(second!), 0)).recorded).toBe(true);
      const attempts = await store.webhooks.attemptsOf([first!.id]);
      expect(attempts.get(first!.id)!.map((attempt) => Number(attempt.status_code))).toEqual([200]);
      const delivery = await store.webhooks.getDelivery(endpointId, first!.id);
      expect(delivery).toMatchObject({ status: 'succeeded', lease_token: null });
    });

    it('claims nothing for disabled or deleted endpoints, and re-enabling makes their deliveries due', async () => {
      await drain();
      const disabledId = await endpointWith(2);
      await store.webhooks.updateEndpoint('acct_w', disabledId, { status: 'disabled' });
      const deletedId = await endpointWith(2);
      await store.webhooks.deleteEndpoint('acct_w', deletedId);
      expect(await store.webhooks.claimDue('node_a', 60_000, 100)).toEqual([]);
      // A deleted endpoint's pending deliveries end as failed (swept later); a disabled one's wait.
      expect((await store.webhooks.listDeliveries(deletedId, { limit: 10 })).data.map((delivery) => delivery.status)).toEqual(['failed', 'failed']);
      expect((await store.webhooks.listDeliveries(disabledId, { limit: 10 })).data.map((delivery) => delivery.status)).toEqual(['pending', 'pending']);
      await store.webhooks.updateEndpoint('acct_w', disabledId, { status: 'enabled' });
      const claimed = await store.webhooks.claimDue('node_a', 60_000, 100);
      expect(claimed.map((delivery) => delivery.endpointId)).toEqual([disabledId, disabledId]);
      for (const delivery of claimed) await store.webhooks.recordAttempt(outcome(delivery), 0);
    });

    it('disables an endpoint only when a message fails for good and it has failed for long enough', async () => {
      await drain();
      const endpointId = await endpointWith(2);
      const [one, two] = await store.webhooks.claimDue('node_a', 60_000, 10);
      const failing = { succeeded: false, statusCode: 503, error: 'HTTP 503' };
      // A retry still scheduled: not disabled, whatever the streak.
      expect((await store.webhooks.recordAttempt(outcome(one!, { ...failing, retryAt: Date.now() + 60_000 }), Date.now() + 1)).disabled).toBe(false);
      // A final failure, but the endpoint has been failing for less than the threshold: not disabled.
      expect((await store.webhooks.recordAttempt(outcome(two!, failing), Date.now() - 60_000)).disabled).toBe(false);
      expect((await store.webhooks.getEndpoint('acct_w', endpointId))!.status).toBe('enabled');
      expect((await store.webhooks.getDelivery(endpointId, two!.id))!.status).toBe('failed');
      // The manual retry of the failed one fails for good again, and now the streak is old enough.
      await store.webhooks.retryDelivery(endpointId, two!.id);
      const [again] = await store.webhooks.claimDue('node_a', 60_000, 10);
      expect(again?.id).toBe(two!.id);
      expect((await store.webhooks.recordAttempt(outcome(again!, failing), Date.now() + 1)).disabled).toBe(true);
      const endpoint = await store.webhooks.getEndpoint('acct_w', endpointId);
      expect(endpoint!.status).toBe('disabled');
      expect(endpoint!.disabled_reason).toContain('HTTP 503');
      await store.webhooks.deleteEndpoint('acct_w', endpointId);
    });

    it('sweeps finished deliveries past their retention, with their attempts, and keeps pending ones', async () => {
      await drain();
      const endpointId = await endpointWith(3);
      const claimed = await store.webhooks.claimDue('node_a', 60_000, 10);
      await store.webhooks.recordAttempt(outcome(claimed[0]!), 0);
      await store.webhooks.recordAttempt(outcome(claimed[1]!, { succeeded: false, statusCode: 500, error: 'HTTP 500' }), 0);
      await store.webhooks.recordAttempt(outcome(claimed[2]!, { succeeded: false, statusCode: 500, error: 'HTTP 500', retryAt: Date.now() + 60_000 }), 0);
      expect(await store.webhooks.deleteFinishedBefore(Date.now() - 60_000)).toBe(0);
      const deleted = await store.webhooks.deleteFinishedBefore(Date.now() + 1_000, 1);
      expect(deleted).toBeGreaterThanOrEqual(2);
      const left = await store.webhooks.listDeliveries(endpointId, { limit: 10 });
      expect(left.data.map((delivery) => delivery.id)).toEqual([claimed[2]!.id]);
      const attempts = await store.webhooks.attemptsOf(claimed.map((delivery) => delivery.id));
      expect(attempts.get(claimed[0]!.id)).toEqual([]);
      expect(attempts.get(claimed[2]!.id)).toHaveLength(1);
    });
  });
}
