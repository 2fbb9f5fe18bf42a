// The SDK's webhook surface against a real server: herm.webhookEndpoints (create, list, get, update, rotateSecret,
// deliveries.list/retry, delete) and verifyWebhook, which must accept what the server signs and agree with the
// `standardwebhooks` library on what it refuses.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Herm, { BadRequestError, NotFoundError, verifyWebhook, WebhookVerificationError, type WebhookEndpointWithSecret } from 'herm';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/test-server.ts';

interface Delivery {
  body: string;
  headers: Record<string, string>;
}

let herm: TestServer;
let client: Herm;
let receiver: Server;
let receiverUrl: string;
const deliveries: Delivery[] = [];

beforeAll(async () => {
  herm = await startTestServer({ env: { HERM_ALLOW_PRIVATE_URLS: 'true' } });
  client = new Herm({ apiKey: herm.adminKey, baseURL: herm.url });
  receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const headers = Object.fromEntries(['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((name) => [name, String(request.headers[name])]));
      deliveries.push({ body: Buffer.concat(chunks).toString('utf8'), headers });
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/herm`;
});

afterAll(async () => {
  await herm?.close();
  await new Promise((resolve) => receiver?.close(resolve));
});

async function waitForDelivery(runId: string): Promise<Delivery> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const found = deliveries.find((delivery) => delivery.body.includes(runId));
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no delivery for ${runId}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

it('manages endpoints and verifies deliveries with verifyWebhook', async () => {
  const deployment = await herm.createDeployment();
  const endpoint: WebhookEndpointWithSecret = await client.webhookEndpoints.create({
    url: receiverUrl,
    events: ['run.completed'],
    deployment_id: deployment.deployment_id,
    description: 'sdk test',
  });
  expect(endpoint.secret).toMatch(/^whsec_/);
  const listed = [];
  for await (const item of client.webhookEndpoints.list({ deployment_id: deployment.deployment_id })) listed.push(item.endpoint_id);
  expect(listed).toEqual([endpoint.endpoint_id]);
  expect((await client.webhookEndpoints.get(endpoint.endpoint_id)).description).toBe('sdk test');

  const run = await herm.sendAndWait(deployment.deployment_id);
  const delivery = await waitForDelivery(run.run_id);
  const payload = await verifyWebhook(delivery.body, delivery.headers, endpoint.secret);
  expect(payload).toMatchObject({ type: 'run.completed', data: { run_id: run.run_id, deployment_id: deployment.deployment_id, status: 'completed' } });
  // A Fetch Headers object and bytes work too.
  const headers = new Headers(delivery.headers);
  expect((await verifyWebhook(new TextEncoder().encode(delivery.body), headers, endpoint.secret)).data.run_id).toBe(run.run_id);

  // Refused like the standardwebhooks library refuses: a changed body, another secret, an old timestamp.
  const other = (await client.webhookEndpoints.rotateSecret(endpoint.endpoint_id, { grace_period_seconds: 0 })).secret;
  const refusals: [string, Record<string, string>, string, Date | undefined][] = [
    [delivery.body.replace('completed', 'c0mpleted'), delivery.headers, endpoint.secret, undefined],
    [delivery.body, delivery.headers, other, undefined],
    [delivery.body, delivery.headers, endpoint.secret, new Date(Date.now() + 10 * 60_000)],
    [delivery.body, { ...delivery.headers, 'webhook-signature': 'v1,AAAA' }, endpoint.secret, undefined],
    [delivery.body, { ...delivery.headers, 'webhook-id': 'whmsg_other' }, endpoint.secret, undefined],
  ];
  for (const [body, requestHeaders, secret, now] of refusals) {
    await expect(verifyWebhook(body, requestHeaders, secret, now ? { now } : {})).rejects.toBeInstanceOf(WebhookVerificationError);
    if (!now) expect(() => new Webhook(secret).verify(body, requestHeaders)).toThrow();
  }

  const [recorded] = (await client.webhookEndpoints.deliveries.list(endpoint.endpoint_id)).data;
  expect(recorded).toMatchObject({ status: 'succeeded', attempt_count: 1, run_id: run.run_id });
  expect(recorded!.attempts[0]!.status_code).toBe(204);
  const retried = await client.webhookEndpoints.deliveries.retry(endpoint.endpoint_id, recorded!.delivery_id);
  expect(retried.status).toBe('pending');
  const deadline = Date.now() + 3_000;
  while (deliveries.filter((item) => item.headers['webhook-id'] === recorded!.delivery_id).length < 2) {
    if (Date.now() > deadline) throw new Error('not redelivered');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const again = deliveries.filter((item) => item.headers['webhook-id'] === recorded!.delivery_id)[1]!;
  // Redelivered after the rotation: signed with the new secret only.
  expect((await verifyWebhook(again.body, again.headers, other)).data.run_id).toBe(run.run_id);

  const updated = await client.webhookEndpoints.update(endpoint.endpoint_id, { status: 'disabled' });
  expect(updated).toMatchObject({ status: 'disabled', disabled_reason: 'disabled through the API' });
  await expect(client.webhookEndpoints.create({ url: receiverUrl, events: ['run.done' as never] })).rejects.toBeInstanceOf(BadRequestError);
  expect(await client.webhookEndpoints.delete(endpoint.endpoint_id)).toEqual({ endpoint_id: endpoint.endpoint_id, deleted: true });
  await expect(client.webhookEndpoints.get(endpoint.endpoint_id)).rejects.toBeInstanceOf(NotFoundError);
});
