// Two Herm nodes on one PostgreSQL database, as a scale-out runs them: for the suites that test what one node sees
// of another's writes. The database is the fixture's own (dropped on close), and both nodes call one scripted model.
import type { Clock } from '../../src/util/time.ts';
import { createTestDatabase, type TestDatabase } from './databases.ts';
import { startScriptedModelServer, type ScriptedModelServer } from './scripted-model-server.ts';
import { startTestServer, type TestServer, type TestServerOptions } from './test-server.ts';

export interface PostgresNodesOptions {
  /** Every node's environment; give one HERM_ADMIN_KEY so that the same key works on each node. */
  env: Record<string, string>;
  /** The clock the nodes schedule automations by. */
  clock?: Clock;
  /**
   * 'shared' (the default): the nodes use the database's data directory; 'own': each node a fresh one (removed when
   * it closes), as nodes on separate machines do.
   */
  dataDirs?: 'shared' | 'own';
}

export interface PostgresNodes {
  database: TestDatabase;
  model: ScriptedModelServer;
  nodes: [TestServer, TestServer];
  /** Starts one more node on the database, with `overrides` over the fixture's options; close() closes it too. */
  startNode(overrides?: TestServerOptions): Promise<TestServer>;
  /** Closes every node, in the order they started, then the model, and drops the database. */
  close(): Promise<void>;
}

/** Creates a PostgreSQL database and starts two nodes on it, one after the other (the first runs the migrations). */
export async function startPostgresNodes(options: PostgresNodesOptions): Promise<PostgresNodes> {
  const database = await createTestDatabase('postgres');
  let model: ScriptedModelServer | undefined;
  const started: TestServer[] = [];
  const close = async () => {
    for (const node of started) await node.close();
    await model?.close();
    await database.drop();
  };
  try {
    model = await startScriptedModelServer();
    const base: TestServerOptions = {
      databaseUrl: database.databaseUrl,
      ...(options.dataDirs === 'own' ? {} : { dataDir: database.dataDir }),
      model,
      env: options.env,
      ...(options.clock ? { clock: options.clock } : {}),
    };
    const startNode = async (overrides: TestServerOptions = {}) => {
      const node = await startTestServer({ ...base, ...overrides });
      started.push(node);
      return node;
    };
    const nodes: [TestServer, TestServer] = [await startNode(), await startNode()];
    return { database, model, nodes, startNode, close };
  } catch (error) {
    // A suite whose fixture failed gets nothing to close: leave no node, model or database behind.
    await close();
    throw error;
  }
}
