// A client that goes away leaves nothing behind: its subscription and timers end with the connection.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openSse } from '../support/sse-client.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

let herm: TestServer;

beforeAll(async () => {
  herm = await startTestServer({ env: { HERM_SSE_HEARTBEAT_MS: '50' } });
});

afterAll(async () => {
  await herm?.close();
});

it('unsubscribes a stream when its client disconnects', async () => {
  const deployment = await herm.createDeployment();
  const streams = await Promise.all(Array.from({ length: 20 }, () => openSse(deployment.events.url, herm.adminKey)));
  expect(herm.server.services.hub.subscriberCount(deployment.deployment_id)).toBe(20);
  for (const stream of streams) stream.close();
  const deadline = Date.now() + 5_000;
  while (herm.server.services.hub.subscriberCount(deployment.deployment_id) > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  expect(herm.server.services.hub.subscriberCount(deployment.deployment_id)).toBe(0);
});
