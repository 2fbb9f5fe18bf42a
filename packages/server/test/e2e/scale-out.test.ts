// Two Herm nodes on one PostgreSQL: a run started through one node streams to an SSE client on the other, and
// keeps doing so when the relay's connection is killed; a third node reaches the database through a proxy that
// the tests cut. A key revoked anywhere (a node, the CLI) stops working on every node within a second.
import pg from 'pg';
import { afterAll, beforeAll, expect, it, describe } from 'vitest';
import { runCli } from '../support/child-server.ts';
import { postgresBaseUrl, POSTGRES_SKIP_MESSAGE } from '../support/databases.ts';
import { startPostgresNodes, type PostgresNodes } from '../support/postgres-nodes.ts';
import { openSse, type OpenSse } from '../support/sse-client.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import type { TestServer } from '../support/test-server.ts';

const postgresAvailable = (await postgresBaseUrl()) !== undefined;
if (!postgresAvailable) console.warn(POSTGRES_SKIP_MESSAGE);

describe.skipIf(!postgresAvailable)('scale-out on PostgreSQL', () => {
  let cluster: PostgresNodes;
  let nodeA: TestServer;
  let nodeB: TestServer;
  /** Reaches the database through `proxy`. */
  let nodeC: TestServer;
  let proxy: TcpProxy;

  beforeAll(async () => {
    cluster = await startPostgresNodes({ env: { HERM_ADMIN_KEY: 'herm_sk_two_nodes_test_key_1' } });
    [nodeA, nodeB] = cluster.nodes;
    const databaseUrl = cluster.database.databaseUrl!;
    const target = new URL(databaseUrl);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    nodeC = await cluster.startNode({ databaseUrl: proxy.rewrite(databaseUrl) });
  });

  afterAll(async () => {
    proxy?.restore();
    await cluster?.close();
    await proxy?.close();
  });

  async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: cluster.database.databaseUrl });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  }

  /** The backends of the nodes' LISTEN connections. */
  async function listenerPids(): Promise<number[]> {
    return admin(async (client) => {
      const { rows } = await client.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
      );
      return rows.map((row) => row.pid);
    });
  }

  /** Kills every node's LISTEN connection, as an administrator or a failover would; returns their pids. */
  async function killListeners(): Promise<number[]> {
    return admin(async (client) => {
      const { rows } = await client.query<{ pid: number }>(
        "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
      );
      return rows.map((row) => row.pid);
    });
  }

  async function eventually(condition: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  function expectWholeRun(stream: OpenSse, runId: string, deltas: string[]): void {
    const events = stream.events.filter((event) => event.data.run_id === runId);
    expect(events.map((event) => event.type)).toEqual(['run_status', ...deltas.map(() => 'token'), 'run_status']);
    expect(events.filter((event) => event.type === 'token').map((event) => event.data.delta)).toEqual(deltas);
    const ids = stream.events.map((event) => event.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  }

  it('delivers every event of a run on node A to a stream on node B, in order', async () => {
    const deployment = await nodeA.createDeployment();
    const onB = await openSse(`${nodeB.url}/v1/deployments/${deployment.deployment_id}/events`, nodeB.adminKey);
    cluster.model.enqueue({ text: ['from ', 'node ', 'A'] });
    const run = await nodeA.request('POST', `/v1/deployments/${deployment.deployment_id}/messages`, { content: 'hi' });
    expect(run.status).toBe(202);
    await onB.waitFor((event) => event.type === 'run_status' && event.data.status === 'completed');
    expect(onB.events.map((event) => event.type)).toEqual(['run_status', 'token', 'token', 'token', 'run_status']);
    expect(onB.events.filter((event) => event.type === 'token').map((event) => event.data.delta).join('')).toBe('from node A');
    onB.close();
  });

  it('heals the relay after its connection is killed twice in a row: every event, in order, once', async () => {
    const deployment = await nodeA.createDeployment();
    const onB = await openSse(`${nodeB.url}/v1/deployments/${deployment.deployment_id}/events`, nodeB.adminKey);
    const first = await killListeners();
    expect(first.length).toBe(3);
    const deltas = ['one ', 'two ', 'three ', 'four'];
    cluster.model.enqueue({ text: deltas });
    const run = await nodeA.request('POST', `/v1/deployments/${deployment.deployment_id}/messages`, { content: 'hi' });
    expect(run.status).toBe(202);
    // Killed again as soon as the nodes are back, while the run goes on.
    await eventually(async () => (await listenerPids()).filter((pid) => !first.includes(pid)).length === 3, 10_000, 'the listeners to reconnect');
    const second = await killListeners();
    expect(second.some((pid) => first.includes(pid))).toBe(false);
    await onB.waitFor((event) => event.data.run_id === run.body.run_id && event.type === 'run_status' && event.data.status === 'completed');
    expectWholeRun(onB, run.body.run_id, deltas);

    // And the relay still works afterwards.
    await eventually(async () => (await listenerPids()).filter((pid) => !second.includes(pid)).length === 3, 10_000, 'the listeners to reconnect');
    cluster.model.enqueue({ text: ['after'] });
    const next = await nodeA.request('POST', `/v1/deployments/${deployment.deployment_id}/messages`, { content: 'again' });
    await onB.waitFor((event) => event.data.run_id === next.body.run_id && event.type === 'run_status' && event.data.status === 'completed');
    expectWholeRun(onB, next.body.run_id, ['after']);
    expect(onB.ended).toBe(false);
    onB.close();
  });

  it("keeps a stream open through its node's database outage and delivers what it missed once the database is back", async () => {
    const deployment = await nodeA.createDeployment();
    const onC = await openSse(`${nodeC.url}/v1/deployments/${deployment.deployment_id}/events`, nodeC.adminKey);
    proxy.cut();
    try {
      const deltas = ['while ', 'C ', 'was ', 'cut off'];
      cluster.model.enqueue({ text: deltas });
      const run = await nodeA.request('POST', `/v1/deployments/${deployment.deployment_id}/messages`, { content: 'hi' });
      expect(run.status).toBe(202);
      const runPath = `/v1/deployments/${deployment.deployment_id}/runs/${run.body.run_id}`;
      await eventually(async () => (await nodeA.request('GET', runPath)).body.status === 'completed', 15_000, 'the run to end on node A');
      // Node C's database stays out of reach a while longer: its stream holds on.
      await new Promise((resolve) => setTimeout(resolve, 5_000));
      expect(onC.ended).toBe(false);
      proxy.restore();
      await onC.waitFor((event) => event.data.run_id === run.body.run_id && event.type === 'run_status' && event.data.status === 'completed', 20_000);
      expectWholeRun(onC, run.body.run_id, deltas);
      expect(onC.ended).toBe(false);
    } finally {
      proxy.restore();
      onC.close();
    }
  });

  it('refuses a key revoked on one node on every node within a second, and ends its streams there', async () => {
    const accounts = nodeA.server.services.store.accounts;
    const deployment = await nodeA.createDeployment();
    const url = (node: TestServer) => `${node.url}/v1/deployments/${deployment.deployment_id}`;
    const { key, secret } = await accounts.createKey({ accountId: 'acct_default', scopes: ['deployments:read'] });
    // Cached on both nodes.
    expect((await nodeA.request('GET', `/v1/deployments/${deployment.deployment_id}`, undefined, secret)).status).toBe(200);
    expect((await nodeB.request('GET', `/v1/deployments/${deployment.deployment_id}`, undefined, secret)).status).toBe(200);
    const streamOnB = await openSse(`${url(nodeB)}/events`, secret);
    const adminStreamOnB = await openSse(`${url(nodeB)}/events`, nodeB.adminKey);
    expect(streamOnB.status).toBe(200);

    const revokedAt = Date.now();
    expect(await accounts.revokeKey(key.id)).toBe(true);
    await streamOnB.waitForEnd(1_000);
    await eventually(async () => (await nodeB.request('GET', `/v1/deployments/${deployment.deployment_id}`, undefined, secret)).status === 401, 1_000, 'node B to refuse the key');
    expect(Date.now() - revokedAt).toBeLessThan(1_000);
    expect(streamOnB.comments).toContain('key revoked');
    expect((await nodeA.request('GET', `/v1/deployments/${deployment.deployment_id}`, undefined, secret)).status).toBe(401);
    expect((await openSse(`${url(nodeB)}/events`, secret)).status).toBe(401);
    // Streams of other keys are left alone.
    expect(adminStreamOnB.ended).toBe(false);
    adminStreamOnB.close();
  });

  it('refuses a key revoked by `herm keys revoke` (another process) on every node within a second', async () => {
    const deployment = await nodeA.createDeployment();
    const { key, secret } = await nodeA.server.services.store.accounts.createKey({ accountId: 'acct_default', scopes: ['deployments:read'] });
    const path = `/v1/deployments/${deployment.deployment_id}`;
    for (const node of [nodeA, nodeB]) expect((await node.request('GET', path, undefined, secret)).status).toBe(200);
    const streams = await Promise.all([nodeA, nodeB].map((node) => openSse(`${node.url}${path}/events`, secret)));

    const { database } = cluster;
    const revoked = await runCli(['keys', 'revoke', key.id], { DATABASE_URL: database.databaseUrl!, HERM_DATA_DIR: database.dataDir, LOG_LEVEL: 'silent' });
    expect(revoked.code, revoked.stderr).toBe(0);
    const revokedAt = Date.now();
    await Promise.all(streams.map((stream) => stream.waitForEnd(1_000)));
    for (const node of [nodeA, nodeB]) {
      await eventually(async () => (await node.request('GET', path, undefined, secret)).status === 401, 1_000, 'the node to refuse the key');
    }
    expect(Date.now() - revokedAt).toBeLessThan(1_000);
  });
});
