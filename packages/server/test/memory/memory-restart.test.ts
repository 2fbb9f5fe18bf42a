// The observer's work survives a restart: a thread marked for observation whose observer was cut off by the shutdown
// is observed by the next start of the server, from the marker in the database.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startScriptedModelServer, type ScriptedTurn } from '../support/scripted-model-server.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { isObserverRequest, waitFor } from './memory-test-support.ts';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-memory-restart-'));
const model = await startScriptedModelServer();
const servers: TestServer[] = [];

afterAll(async () => {
  for (const server of servers) await server.close().catch(() => {});
  await model.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('the observer across a restart', { timeout: 30_000 }, () => {
  it('observes after the restart what the shutdown cut off', async () => {
    const env = { HERM_ADMIN_KEY: 'herm_sk_test_memoryrestart0000', HERM_MEMORY_POLL_MS: '100', HERM_MEMORY_OBSERVE_IDLE_MS: '0' };
    const first = await startTestServer({ dataDir, model, env, keepData: true });
    servers.push(first);
    // The observer's call hangs until the server shuts down (which aborts it).
    let observerCalled!: () => void;
    const called = new Promise<void>((resolve) => (observerCalled = resolve));
    model.setHandler((request): ScriptedTurn | Promise<ScriptedTurn> => {
      if (!isObserverRequest(request)) return { text: 'Sure.' };
      observerCalled();
      return new Promise<ScriptedTurn>(() => {});
    });
    const { deployment_id: id } = await first.createDeployment();
    const run = await first.sendAndWait(id, { content: 'We publish every Friday at noon.' });
    expect(run.status).toBe('completed');
    await called;
    await first.close();
    servers.pop();

    model.setHandler((request) => (isObserverRequest(request) ? { text: '- [medium] The customer publishes every Friday at noon.' } : { text: 'Sure.' }));
    const second = await startTestServer({ dataDir, model, env, keepData: true });
    servers.push(second);
    const learned = await waitFor('the observation after the restart', async () => {
      const listed = await second.request('GET', `/v1/deployments/${id}/memories`);
      return listed.body.data?.length > 0 && listed.body.data;
    });
    expect(learned).toMatchObject([{ content: 'The customer publishes every Friday at noon.', source: 'agent', priority: 'medium' }]);
    expect(model.requests.filter(isObserverRequest).at(-1)?.lastUserText).toContain('customer: We publish every Friday at noon.');
  });
});
