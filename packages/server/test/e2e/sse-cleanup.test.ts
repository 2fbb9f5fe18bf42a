// A client that goes away leaves nothing behind: its subscription and timers end with the connection. A server
// that goes away tells its clients when to come back.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SSE_RETRY_MS } from '../../src/events/sse-stream.ts';
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

it('tells its streams when to reconnect, at the start and when the server shuts down, then ends them', async () => {
  const leaving = await startTestServer();
  const deployment = await leaving.createDeployment();
  const stream = await openSse(deployment.events.url, leaving.adminKey);
  const deadline = Date.now() + 5_000;
  while (stream.retries.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(stream.retries).toEqual([SSE_RETRY_MS]);
  const closing = leaving.close();
  await stream.waitForEnd(5_000);
  expect(stream.retries).toEqual([SSE_RETRY_MS, SSE_RETRY_MS]);
  expect(stream.comments).toContain('server shutting down');
  await closing;
});
