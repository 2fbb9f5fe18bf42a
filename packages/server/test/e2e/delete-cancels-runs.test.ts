// Deleting a deployment cancels its runs and waits (bounded) until their commands have stopped before the
// workspace goes: no command of the deleted deployment still runs, or writes into a removed workspace, afterwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOOL_CALL_INTERRUPTED } from '../../src/runs/run-journal.ts';
import { postgresBaseUrl } from '../support/databases.ts';
import { hostProcessesMatching, uniqueSleepSeconds } from '../support/host-processes.ts';
import { startPostgresNodes, type PostgresNodes } from '../support/postgres-nodes.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

describe('deleting a deployment with a run at work', () => {
  let herm: TestServer;

  beforeAll(async () => {
    herm = await startTestServer();
  });

  afterAll(async () => {
    await herm?.close();
  });

  it('answers only after the run has stopped: its command killed, its end recorded, the call answered', async () => {
    const deployment = await herm.createDeployment();
    const sleep = uniqueSleepSeconds();
    herm.model.enqueue({ toolCalls: [{ name: 'shell', arguments: { command: `sleep ${sleep}` } }] });
    const sent = await herm.request('POST', `/v1/deployments/${deployment.deployment_id}/messages`, { content: 'go' });
    expect(sent.status).toBe(202);
    await expect.poll(() => hostProcessesMatching(`sleep ${sleep}`), { timeout: 10_000 }).not.toEqual([]);

    const deleted = await herm.request('DELETE', `/v1/deployments/${deployment.deployment_id}`);
    expect(deleted.status).toBe(200);
    // Right when the delete answers: nothing of the run is at work any more.
    expect(herm.server.services.runs.activeCount).toBe(0);
    expect(await hostProcessesMatching(`sleep ${sleep}`)).toEqual([]);
    const { store } = herm.server.services;
    const run = await store.runs.getById(sent.body.run_id);
    expect(run).toMatchObject({ status: 'error', error: { type: 'cancelled' } });
    const history = await store.threads.loadHistory(run!.thread_id);
    expect(JSON.stringify(history.entries.at(-1)!.message)).toContain(TOOL_CALL_INTERRUPTED.cancel);
  });
});

const postgresAvailable = (await postgresBaseUrl()) !== undefined;

describe.skipIf(!postgresAvailable)('deleting, through another node, a deployment whose run works on the first (PostgreSQL)', () => {
  let cluster: PostgresNodes;
  let nodeA: TestServer;
  let nodeB: TestServer;

  beforeAll(async () => {
    cluster = await startPostgresNodes({ env: { HERM_ADMIN_KEY: 'herm_sk_delete_two_nodes_key_1', HERM_RUN_LEASE_MS: '1500' } });
    [nodeA, nodeB] = cluster.nodes;
  });

  afterAll(async () => {
    await cluster?.close();
  });

  it('waits until the run on the other node has stopped', async () => {
    const deployment = await nodeA.createDeployment();
    const sleep = uniqueSleepSeconds();
    cluster.model.enqueue({ toolCalls: [{ name: 'shell', arguments: { command: `sleep ${sleep}` } }] });
    const sent = await nodeA.request('POST', `/v1/deployments/${deployment.deployment_id}/messages`, { content: 'go' });
    await expect.poll(() => hostProcessesMatching(`sleep ${sleep}`), { timeout: 10_000 }).not.toEqual([]);

    expect((await nodeB.request('DELETE', `/v1/deployments/${deployment.deployment_id}`)).status).toBe(200);
    expect(await hostProcessesMatching(`sleep ${sleep}`)).toEqual([]);
    expect(await nodeB.server.services.store.runs.getById(sent.body.run_id)).toMatchObject({ status: 'error', error: { type: 'cancelled' } });
  });
});
