// A node whose run is taken over by another (here: the run row handed to another node and attempt behind its
// back, as a takeover after a missed renewal does) notices within a lease period, kills the run's command and
// stops its model stream, and writes nothing more of the run.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { availableDialects, createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { hostProcessesMatching, uniqueSleepSeconds } from '../support/host-processes.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const LEASE_MS = 1_500;

for (const dialect of await availableDialects()) {
  describe(`a run taken over by another node, on ${dialect}`, () => {
    let database: TestDatabase;
    let herm: TestServer;

    beforeAll(async () => {
      database = await createTestDatabase(dialect);
      herm = await startTestServer({
        dataDir: database.dataDir,
        ...(database.databaseUrl ? { databaseUrl: database.databaseUrl } : {}),
        env: { HERM_RUN_LEASE_MS: String(LEASE_MS) },
      });
    });

    afterAll(async () => {
      await herm?.close();
      await database?.drop();
    });

    it('stops here within a lease period: the command killed, nothing more written', async () => {
      const deployment = await herm.createDeployment();
      const sleep = uniqueSleepSeconds();
      herm.model.enqueue({ toolCalls: [{ name: 'shell', arguments: { command: `sleep ${sleep}` } }] });
      const sent = await herm.request('POST', `/v1/deployments/${deployment.deployment_id}/messages`, { content: 'go' });
      await expect.poll(() => hostProcessesMatching(`sleep ${sleep}`), { timeout: 10_000 }).not.toEqual([]);
      const { store } = herm.server.services;
      await herm.server.services.events.drain();
      const before = await store.events.listAfter(deployment.deployment_id, 0, {}, 1_000);

      // Another node takes the run (a new attempt), as a claim after an expired lease does.
      const takenAt = Date.now();
      await sql`UPDATE runs SET lease_owner = 'node_elsewhere', attempt = attempt + 1, lease_expires_at = ${takenAt + 600_000}
        WHERE id = ${sent.body.run_id}`.execute(store.db);

      await expect.poll(() => hostProcessesMatching(`sleep ${sleep}`), { timeout: LEASE_MS + 2_000, interval: 50 }).toEqual([]);
      expect(Date.now() - takenAt).toBeLessThan(LEASE_MS + 1_000);
      await expect.poll(() => herm.server.services.runs.activeCount, { timeout: 2_000 }).toBe(0);

      // The run is the other node's, untouched: still running, no result, no end written from here.
      await herm.server.services.events.drain();
      expect(await store.runs.getById(sent.body.run_id)).toMatchObject({ status: 'running', lease_owner: 'node_elsewhere', attempt: 2 });
      const after = await store.events.listAfter(deployment.deployment_id, 0, {}, 1_000);
      expect(after.map((event) => event.type)).toEqual(before.map((event) => event.type));
      expect(before.map((event) => event.type)).toEqual(['run_status', 'tool_call']);
    });
  });
}
