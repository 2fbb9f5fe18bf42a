// Two Herm nodes on one PostgreSQL: a run started through one node streams to an SSE client on the other.
import { afterAll, beforeAll, expect, it, describe } from 'vitest';
import { createTestDatabase, postgresBaseUrl, POSTGRES_SKIP_MESSAGE, type TestDatabase } from '../support/databases.ts';
import { openSse } from '../support/sse-client.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { startScriptedModelServer, type ScriptedModelServer } from '../support/scripted-model-server.ts';

const postgresAvailable = (await postgresBaseUrl()) !== undefined;
if (!postgresAvailable) console.warn(POSTGRES_SKIP_MESSAGE);

describe.skipIf(!postgresAvailable)('scale-out on PostgreSQL', () => {
  let database: TestDatabase;
  let model: ScriptedModelServer;
  let nodeA: TestServer;
  let nodeB: TestServer;

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    model = await startScriptedModelServer();
    const env = { HERM_ADMIN_KEY: 'herm_sk_two_nodes_test_key_1' };
    nodeA = await startTestServer({ databaseUrl: database.databaseUrl, dataDir: database.dataDir, model, env });
    nodeB = await startTestServer({ databaseUrl: database.databaseUrl, dataDir: database.dataDir, model, env });
  });

  afterAll(async () => {
    await nodeA?.close();
    await nodeB?.close();
    await model?.close();
    await database?.drop();
  });

  it('delivers every event of a run on node A to a stream on node B, in order', async () => {
    const deployment = await nodeA.createDeployment();
    const onB = await openSse(`${nodeB.url}/v1/deployments/${deployment.deployment_id}/events`, nodeB.adminKey);
    model.enqueue({ text: ['from ', 'node ', 'A'] });
    const run = await nodeA.request('POST', `/v1/deployments/${deployment.deployment_id}/messages`, { content: 'hi' });
    expect(run.status).toBe(202);
    await onB.waitFor((event) => event.type === 'run_status' && event.data.status === 'completed');
    expect(onB.events.map((event) => event.type)).toEqual(['run_status', 'token', 'token', 'token', 'run_status']);
    expect(onB.events.filter((event) => event.type === 'token').map((event) => event.data.delta).join('')).toBe('from node A');
    onB.close();
  });
});
