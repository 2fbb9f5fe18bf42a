// Observation work is owned by one node: two nodes on one PostgreSQL database both look for due work, and each
// thread's new messages are observed exactly once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkspaceFileError } from '../../src/files/workspace-file-error.ts';
import { MemoryService } from '../../src/memory/memory-service.ts';
import type { DeploymentRecord } from '../../src/store/deployments.ts';
import { openStore } from '../../src/store/open-store.ts';
import { createTestDatabase, postgresBaseUrl, type TestDatabase } from '../support/databases.ts';
import { startScriptedModelServer, type ScriptedModelServer, type ScriptedRequest } from '../support/scripted-model-server.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { isObserverRequest, waitFor } from './memory-test-support.ts';

const available = Boolean(await postgresBaseUrl());
const FACTS = [
  'Our brand color is violet.',
  'We ship every Friday at noon.',
  'Invoices go to billing at acme.example.',
  'The CEO is called Dana Whitfield.',
  'Videos must stay under thirty seconds.',
  'Captions are written in British English.',
];
/** The new messages of an observer request (after what memory holds already). */
const newMessages = (request: ScriptedRequest) => (request.lastUserText ?? '').split('## New messages')[1] ?? '';
describe.skipIf(!available)('the observer on two nodes (PostgreSQL)', { timeout: 30_000 }, () => {
  let database: TestDatabase;
  let model: ScriptedModelServer;
  const nodes: TestServer[] = [];

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    model = await startScriptedModelServer();
    // Neither node observes when its own run ends (the idle delay): both find the work by polling, and race for it.
    const env = { HERM_ADMIN_KEY: 'herm_sk_test_memorytwonodes000', HERM_MEMORY_POLL_MS: '50', HERM_MEMORY_OBSERVE_IDLE_MS: '200' };
    for (let index = 0; index < 2; index++) {
      nodes.push(await startTestServer({ databaseUrl: database.databaseUrl, dataDir: database.dataDir, model, env }));
    }
  });

  afterAll(async () => {
    for (const node of nodes) await node.close().catch(() => {});
    await model?.close();
    await database?.drop();
  });

  it('observes each thread once', async () => {
    model.setHandler((request) => {
      if (!isObserverRequest(request)) return { text: 'Ok.' };
      const said = /customer: (.*)/.exec(newMessages(request))?.[1] ?? '';
      return { text: `- [medium] ${said}` };
    });
    const [first, second] = nodes as [TestServer, TestServer];
    const { deployment_id: id } = await first.createDeployment();
    const threads: string[] = [];
    for (const [index, fact] of FACTS.entries()) {
      const node = index % 2 === 0 ? first : second;
      const run = await node.sendAndWait(id, { content: fact, thread_id: 'new' });
      expect(run.status).toBe('completed');
      threads.push(run.thread_id);
    }
    for (const threadId of threads) {
      await waitFor(`thread ${threadId} observed`, async () => {
        const state = await first.server.services.store.memories.observation(threadId);
        return state && !state.pending;
      }, 20_000);
    }
    const observed = model.requests.filter(isObserverRequest).map((request) => /customer: (.*)/.exec(newMessages(request))?.[1]);
    expect(observed.sort()).toEqual([...FACTS].sort());
    const listed = await second.request('GET', `/v1/deployments/${id}/memories?limit=100`);
    expect(listed.body.data.map((memory: any) => memory.content).sort()).toEqual([...FACTS].sort());
    const [newest] = listed.body.data;
    const versions = await first.request('GET', `/v1/deployments/${id}/memories/${newest.memory_id}/versions`);
    expect(versions.body.data).toMatchObject([{ action: 'created', actor: 'observer', after: newest.content }]);
    expect((await first.request('DELETE', `/v1/deployments/${id}/memories/${newest.memory_id}`)).status).toBe(200);
    const after = await second.request('GET', `/v1/deployments/${id}/memories/${newest.memory_id}/versions?limit=1`);
    expect(after.body.data).toMatchObject([{ action: 'deleted', actor: 'api' }]);
    const older = await second.request('GET', `/v1/deployments/${id}/memories/${newest.memory_id}/versions?limit=1&cursor=${after.body.next_cursor}`);
    expect(older.body).toMatchObject({ data: [{ action: 'created' }], next_cursor: null });
  });
});

describe.skipIf(!available)('two nodes writing and reading one memory (PostgreSQL)', () => {
  it("never takes another node's write, seen between its file and its index row, for the agent's", async () => {
    const database = await createTestDatabase('postgres');
    const stores = [await openStore(database), await openStore(database)];
    try {
      // One workspace both nodes see (what the sandbox's file access gives each node), in memory; writes on
      // node A stop after the file is written until `release`, so node B reads while A is between file and index.
      const files = new Map<string, { bytes: Buffer; modifiedAt: number }>();
      let written!: () => void;
      const fileWritten = new Promise<void>((resolve) => (written = resolve));
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const workspace = (gate: boolean) => ({
        list: async (_workspace: unknown, directory: string) => {
          const entries = [...files.keys()].filter((name) => name.startsWith(`${directory}/`));
          if (entries.length === 0) throw new WorkspaceFileError('not_found', `no ${directory}`);
          return { path: `${directory}/`, entries: entries.map((name) => ({ name: name.slice(directory.length + 1), type: 'file' as const, size: files.get(name)!.bytes.length, modified_at: '' })) };
        },
        read: async (_workspace: unknown, name: string) => ({ path: name, ...files.get(name)! }),
        write: async (_workspace: unknown, name: string, bytes: Uint8Array) => {
          files.set(name, { bytes: Buffer.from(bytes), modifiedAt: Date.now() });
          if (gate) {
            written();
            await released;
          }
          return { path: name };
        },
        delete: async (_workspace: unknown, name: string) => {
          files.delete(name);
          return { path: name };
        },
      });
      const logger = { warn: () => {} };
      const nodeA = new MemoryService({ repository: stores[0]!.memories, files: workspace(true) as never, logger });
      const nodeB = new MemoryService({ repository: stores[1]!.memories, files: workspace(false) as never, logger });
      const deployment = { id: 'dep_memoryrace0001', sandbox: { persistent_filesystem: true } } as DeploymentRecord;
      const creating = nodeA.create(deployment, { content: 'Our brand color is violet.', source: 'api', actor: 'api' });
      await fileWritten;
      const reading = nodeB.all(deployment);
      // Node B found a file the index does not know: it waits for node A's write to be indexed, not records it.
      await new Promise((resolve) => setTimeout(resolve, 200));
      release();
      const created = await creating;
      expect((await reading).map((memory) => memory.memory_id)).toEqual([created.memory_id]);
      const versions = await nodeB.versions(deployment, created.memory_id, { limit: 10 });
      expect(versions.data.map((version) => [version.action, version.actor])).toEqual([['created', 'api']]);
    } finally {
      for (const store of stores) await store.close();
      await database.drop();
    }
  });
});
