// A replay far larger than any in-memory queue goes at the reader's pace and arrives whole and in order.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openSse } from '../support/sse-client.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

let herm: TestServer;

beforeAll(async () => {
  herm = await startTestServer();
});

afterAll(async () => {
  await herm?.close();
});

it('replays 50,000 events after Last-Event-ID without dropping the connection', async () => {
  const deployment = await herm.createDeployment();
  const total = 50_000;
  for (let start = 0; start < total; start += 5_000) {
    await herm.server.services.store.events.append(
      Array.from({ length: 5_000 }, (_, index) => ({
        deploymentId: deployment.deployment_id,
        type: 'token',
        threadId: deployment.thread_id,
        runId: 'run_replay',
        data: { delta: String(start + index) },
      })),
    );
  }
  const stream = await openSse(deployment.events.url, herm.adminKey, {
    'last-event-id': `evt_0000000000${deployment.deployment_id.slice(4, 10)}`,
  });
  await stream.waitFor((event) => event.data.delta === String(total - 1), 30_000);
  expect(stream.events).toHaveLength(total);
  expect(stream.events.every((event, index) => event.data.delta === String(index))).toBe(true);
  stream.close();
});
