// Signed webhooks end to end: a receiver on loopback verifies every delivery with the `standardwebhooks` library
// (the reference implementation of the spec), real runs on the scripted model produce run.completed and run.failed,
// failed attempts are retried (fast schedule), persistent failure disables the endpoint, rotation signs with both
// secrets, and the API refuses private URLs unless the operator allows them.
import fs from 'node:fs';
import type { IncomingHttpHeaders, Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoopbackServer } from '../support/loopback-server.ts';
import { startScriptedModelServer } from '../support/scripted-model-server.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

interface Received {
  id: string;
  timestamp: string;
  signature: string;
  userAgent: string | undefined;
  contentType: string | undefined;
  body: string;
  /** The status the receiver answered. */
  answered: number;
}

/** A webhook receiver: records each request; `respond` picks the status (default 200). */
async function startReceiver() {
  const received: Received[] = [];
  let respond: (request: { id: string; body: string }) => number = () => 200;
  const { server, port } = await startLoopbackServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const headers: IncomingHttpHeaders = request.headers;
      const body = Buffer.concat(chunks).toString('utf8');
      const id = String(headers['webhook-id']);
      const answered = respond({ id, body });
      received.push({
        id,
        timestamp: String(headers['webhook-timestamp']),
        signature: String(headers['webhook-signature']),
        userAgent: headers['user-agent'],
        contentType: headers['content-type'],
        body,
        answered,
      });
      response.writeHead(answered, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    received,
    server: server as Server,
    respondWith(handler: (request: { id: string; body: string }) => number) {
      respond = handler;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type Receiver = Awaited<ReturnType<typeof startReceiver>>;

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** What the standardwebhooks library makes of a delivery with this secret (throws when the signature is wrong). */
function verify(secret: string, delivery: Received): any {
  return new Webhook(secret).verify(delivery.body, {
    'webhook-id': delivery.id,
    'webhook-timestamp': delivery.timestamp,
    'webhook-signature': delivery.signature,
  });
}

describe('webhook endpoints API without HERM_ALLOW_PRIVATE_URLS', () => {
  let herm: TestServer;
  beforeAll(async () => {
    herm = await startTestServer();
  });
  afterAll(async () => herm.close());

  it('refuses private, loopback and link-local URLs with a 400 naming url', async () => {
    for (const url of ['http://127.0.0.1:9/hook', 'http://localhost:8080/hook', 'https://10.1.2.3/hook', 'http://169.254.169.254/latest', 'http://[::1]/x', 'http://192.168.1.20/hook']) {
      const response = await herm.request('POST', '/v1/webhook_endpoints', { url, events: ['run.completed'] });
      expect(response.status, url).toBe(400);
      expect(response.body.error.type, url).toBe('validation_error');
      expect(response.body.error.param, url).toBe('url');
      expect(response.body.error.message, url).toContain('HERM_ALLOW_PRIVATE_URLS');
    }
  });

  it('validates events, url and deployment_id, naming the field', async () => {
    const cases: [unknown, number, string][] = [
      [{ url: 'https://93.184.215.14/hook', events: ['run.completed', 'run.exploded'] }, 400, 'events.1'],
      [{ url: 'https://93.184.215.14/hook', events: ['*'] }, 400, 'events.0'],
      [{ url: 'https://93.184.215.14/hook', events: [] }, 400, 'events'],
      [{ url: 'https://93.184.215.14/hook' }, 400, 'events'],
      [{ url: 'ftp://93.184.215.14/hook', events: ['run.completed'] }, 400, 'url'],
      [{ url: 'not a url', events: ['run.completed'] }, 400, 'url'],
      [{ url: 'https://93.184.215.14/hook', events: ['run.completed'], deployment_id: 'dep_doesnotexist' }, 404, 'deployment_id'],
      [{ url: 'https://93.184.215.14/hook', events: ['run.completed'], colour: 'blue' }, 400, 'colour'],
    ];
    for (const [body, status, param] of cases) {
      const response = await herm.request('POST', '/v1/webhook_endpoints', body);
      expect(response.status, JSON.stringify(body)).toBe(status);
      expect(response.body.error.param, JSON.stringify(body)).toBe(param);
    }
    const unknown = await herm.request('GET', '/v1/webhook_endpoints/we_nothere');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.param).toBe('endpoint_id');
  });

  it('creates, lists, updates and deletes a public endpoint; the secret is shown only on create', async () => {
    const created = await herm.request('POST', '/v1/webhook_endpoints', { url: 'https://93.184.215.14/hook', events: ['run.completed'], description: 'public' });
    expect(created.status).toBe(201);
    expect(created.body.endpoint_id).toMatch(/^we_/);
    expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expect(created.body.status).toBe('enabled');
    const got = await herm.request('GET', `/v1/webhook_endpoints/${created.body.endpoint_id}`);
    expect(got.body).not.toHaveProperty('secret');
    expect(got.body.events).toEqual(['run.completed']);
    const listed = await herm.request('GET', '/v1/webhook_endpoints?limit=1');
    expect(listed.body.data.map((endpoint: any) => endpoint.endpoint_id)).toContain(created.body.endpoint_id);
    const privateUpdate = await herm.request('PATCH', `/v1/webhook_endpoints/${created.body.endpoint_id}`, { url: 'http://127.0.0.1/x' });
    expect(privateUpdate.status).toBe(400);
    expect(privateUpdate.body.error.param).toBe('url');
    const updated = await herm.request('PATCH', `/v1/webhook_endpoints/${created.body.endpoint_id}`, { events: ['run.failed', 'steering.requested'], description: null });
    expect(updated.status).toBe(200);
    expect(updated.body.events).toEqual(['run.failed', 'steering.requested']);
    expect(updated.body.description).toBeNull();
    const deleted = await herm.request('DELETE', `/v1/webhook_endpoints/${created.body.endpoint_id}`);
    expect(deleted.body).toEqual({ endpoint_id: created.body.endpoint_id, deleted: true });
    expect((await herm.request('GET', `/v1/webhook_endpoints/${created.body.endpoint_id}`)).status).toBe(404);
  });

  it('keeps the response of a create or rotation sent with an Idempotency-Key encrypted, and replays it whole', async () => {
    const send = (path: string, body: unknown, key: string) =>
      fetch(`${herm.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${herm.adminKey}`, 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify(body),
      }).then(async (response) => ({ status: response.status, replayed: response.headers.get('idempotent-replayed'), body: (await response.json()) as any }));
    const body = { url: 'https://93.184.215.14/hook', events: ['run.completed'] };
    const first = await send('/v1/webhook_endpoints', body, 'create-we-1');
    expect(first.status).toBe(201);
    const again = await send('/v1/webhook_endpoints', body, 'create-we-1');
    expect(again).toMatchObject({ status: 201, replayed: 'true' });
    expect(again.body).toEqual(first.body);
    const rotated = await send(`/v1/webhook_endpoints/${first.body.endpoint_id}/rotate_secret`, {}, 'rotate-we-1');
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect((await send(`/v1/webhook_endpoints/${first.body.endpoint_id}/rotate_secret`, {}, 'rotate-we-1')).body.secret).toBe(rotated.body.secret);
    const stored = await herm.server.services.store.db.selectFrom('idempotency_keys').select(['key', 'response_body']).where('key', 'in', ['create-we-1', 'rotate-we-1']).execute();
    expect(stored).toHaveLength(2);
    for (const row of stored) {
      expect(row.response_body).toMatch(/^enc:/);
      for (const secret of [first.body.secret, rotated.body.secret]) expect(row.response_body).not.toContain(secret.slice('whsec_'.length));
    }
    await herm.request('DELETE', `/v1/webhook_endpoints/${first.body.endpoint_id}`);
  });

  it('describes the payloads in the OpenAPI webhooks section', async () => {
    const document = (await herm.request('GET', '/v1/openapi.json')).body;
    expect(Object.keys(document.webhooks)).toEqual(['run.completed', 'run.failed', 'steering.requested', 'filesystem.changed', 'automation.fired', 'endpoint.disabled']);
    const completed = document.webhooks['run.completed'].post;
    expect(completed.parameters.map((parameter: any) => parameter.name)).toEqual(['webhook-id', 'webhook-timestamp', 'webhook-signature']);
    const reference = completed.requestBody.content['application/json'].schema.$ref.split('/').pop();
    expect(document.components.schemas[reference].properties).toHaveProperty('data');
    expect(completed.requestBody.content['application/json'].example.type).toBe('run.completed');
    const page = await fetch(`${herm.url}/v1/docs`);
    const html = await page.text();
    expect(html).toContain('<a href="#webhooks">Webhooks</a>');
    for (const type of Object.keys(document.webhooks)) expect(html).toContain(`<section class="event" id="webhook-${type}">`);
  });
});

describe('webhook deliveries', { timeout: 20_000 }, () => {
  let herm: TestServer;
  let receiver: Receiver;
  beforeAll(async () => {
    receiver = await startReceiver();
    herm = await startTestServer({
      env: {
        HERM_ALLOW_PRIVATE_URLS: 'true',
        HERM_WEBHOOK_RETRY_SCHEDULE: '150ms,150ms',
        HERM_WEBHOOK_DISABLE_AFTER_MS: '0',
        HERM_WEBHOOK_POLL_MS: '5000',
      },
    });
  });
  afterAll(async () => {
    await herm?.close();
    await receiver?.close();
  });

  async function createEndpoint(body: Record<string, unknown>) {
    const response = await herm.request('POST', '/v1/webhook_endpoints', { url: receiver.url, ...body });
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    return response.body as { endpoint_id: string; secret: string };
  }

  it('delivers run.completed and run.failed of real runs, signed, within a second or two; scoped endpoints get only their deployment', async () => {
    const deployment = await herm.createDeployment();
    const other = await herm.createDeployment();
    const endpoint = await createEndpoint({ events: ['run.completed', 'run.failed'] });
    const scoped = await createEndpoint({ events: ['run.completed'], deployment_id: other.deployment_id, url: `${receiver.url}?scoped=1` });
    const run = await herm.sendAndWait(deployment.deployment_id);
    expect(run.status).toBe('completed');
    const ended = Date.now();
    const first = await waitFor('run.completed', () => receiver.received.find((delivery) => delivery.body.includes(run.run_id)), 2_000);
    expect(Date.now() - ended).toBeLessThan(2_000);
    const payload = verify(endpoint.secret, first);
    expect(payload).toMatchObject({
      type: 'run.completed',
      data: { deployment_id: deployment.deployment_id, customer_id: deployment.customer_id, run_id: run.run_id, thread_id: run.thread_id, status: 'completed' },
    });
    expect(new Date(payload.timestamp).getTime()).toBeGreaterThan(0);
    expect(first.contentType).toBe('application/json');
    expect(first.userAgent).toMatch(/^Herm-Webhooks\//);
    expect(() => verify(scoped.secret, first)).toThrow();

    herm.model.enqueue({ error: { status: 400, message: 'bad request from the scripted model' } });
    const failed = await herm.sendAndWait(deployment.deployment_id);
    expect(failed.status).toBe('error');
    const failure = await waitFor('run.failed', () => receiver.received.find((delivery) => delivery.body.includes(failed.run_id)), 2_000);
    expect(verify(endpoint.secret, failure)).toMatchObject({ type: 'run.failed', data: { run_id: failed.run_id, status: 'error', error: { type: expect.any(String) } } });

    const otherRun = await herm.sendAndWait(other.deployment_id);
    await waitFor('both deliveries', () => (receiver.received.filter((delivery) => delivery.body.includes(otherRun.run_id)).length === 2 ? true : undefined), 2_000);
    const ofOtherRun = receiver.received.filter((delivery) => delivery.body.includes(otherRun.run_id));
    const verifies = (secret: string, delivery: Received) => {
      try {
        verify(secret, delivery);
        return true;
      } catch {
        return false;
      }
    };
    // One delivery per endpoint, each signed with its own endpoint's secret only.
    const secrets = ofOtherRun.map((delivery) => [endpoint.secret, scoped.secret].filter((secret) => verifies(secret, delivery)));
    expect(secrets.flat().sort()).toEqual([endpoint.secret, scoped.secret].sort());
    // The scoped endpoint never heard of the first deployment's runs.
    const scopedDeliveries = await herm.request('GET', `/v1/webhook_endpoints/${scoped.endpoint_id}/deliveries`);
    expect(scopedDeliveries.body.data.map((delivery: any) => delivery.run_id)).toEqual([otherRun.run_id]);
    for (const id of [endpoint.endpoint_id, scoped.endpoint_id]) await herm.request('DELETE', `/v1/webhook_endpoints/${id}`);
  });

  it('retries after 500s with the same webhook-id, lists the attempts, and redelivers on demand', async () => {
    const deployment = await herm.createDeployment();
    const endpoint = await createEndpoint({ events: ['run.completed'], deployment_id: deployment.deployment_id });
    const failures = new Map<string, number>();
    receiver.respondWith(({ id, body }) => {
      if (!body.includes(deployment.deployment_id)) return 200;
      const count = failures.get(id) ?? 0;
      failures.set(id, count + 1);
      return count < 2 ? 500 : 200;
    });
    const run = await herm.sendAndWait(deployment.deployment_id);
    const ofRun = () => receiver.received.filter((delivery) => delivery.body.includes(run.run_id));
    await waitFor('three attempts', () => (ofRun().length >= 3 ? true : undefined), 5_000);
    const attempts = ofRun();
    expect(attempts.map((delivery) => delivery.answered)).toEqual([500, 500, 200]);
    expect(new Set(attempts.map((delivery) => delivery.id)).size).toBe(1);
    for (const delivery of attempts) expect(verify(endpoint.secret, delivery)).toMatchObject({ type: 'run.completed' });
    const listed = await waitFor('the delivery to be recorded as succeeded', async () => {
      const response = await herm.request('GET', `/v1/webhook_endpoints/${endpoint.endpoint_id}/deliveries`);
      return response.body.data[0]?.status === 'succeeded' ? response.body : undefined;
    });
    const [delivery] = listed.data;
    expect(delivery.delivery_id).toBe(attempts[0]!.id);
    expect(delivery.attempt_count).toBe(3);
    expect(delivery.attempts.map((attempt: any) => [attempt.attempt, attempt.status_code, attempt.succeeded])).toEqual([
      [1, 500, false],
      [2, 500, false],
      [3, 200, true],
    ]);
    expect(delivery.attempts[0].error).toBe('HTTP 500');
    expect(delivery.attempts[2].duration_ms).toBeGreaterThanOrEqual(0);
    expect(delivery.payload.data.run_id).toBe(run.run_id);

    const retried = await herm.request('POST', `/v1/webhook_endpoints/${endpoint.endpoint_id}/deliveries/${delivery.delivery_id}/retry`);
    expect(retried.status).toBe(202);
    expect(retried.body.status).toBe('pending');
    await waitFor('the redelivery', () => (ofRun().length === 4 ? true : undefined), 3_000);
    expect(ofRun()[3]!.id).toBe(delivery.delivery_id);
    const missing = await herm.request('POST', `/v1/webhook_endpoints/${endpoint.endpoint_id}/deliveries/whmsg_nothere/retry`);
    expect(missing.status).toBe(404);
    expect(missing.body.error.param).toBe('delivery_id');
    receiver.respondWith(() => 200);
    await herm.request('DELETE', `/v1/webhook_endpoints/${endpoint.endpoint_id}`);
  });

  it('disables an endpoint after persistent failure, tells the endpoints that subscribe to it, and re-enabling plus a manual retry delivers', async () => {
    const deployment = await herm.createDeployment();
    const endpoint = await createEndpoint({ events: ['run.completed'], deployment_id: deployment.deployment_id });
    // Another endpoint of the account hears of the disabling (the operational message).
    const watcher = await createEndpoint({ events: ['endpoint.disabled'] });
    receiver.respondWith(({ body }) => (body.includes(deployment.deployment_id) && !body.includes('"endpoint.disabled"') ? 503 : 200));
    const run = await herm.sendAndWait(deployment.deployment_id);
    const disabled = await waitFor('the endpoint to be disabled', async () => {
      const response = await herm.request('GET', `/v1/webhook_endpoints/${endpoint.endpoint_id}`);
      return response.body.status === 'disabled' ? response.body : undefined;
    });
    expect(disabled.disabled_reason).toMatch(/all 3 attempts .* failed \(the last: HTTP 503\)/);
    expect(disabled.disabled_at).not.toBeNull();
    const notice = await waitFor('the endpoint.disabled message', () => receiver.received.find((delivery) => delivery.body.includes('"endpoint.disabled"')), 5_000);
    expect(verify(watcher.secret, notice)).toMatchObject({
      type: 'endpoint.disabled',
      data: { endpoint_id: endpoint.endpoint_id, deployment_id: deployment.deployment_id, disabled_reason: disabled.disabled_reason },
    });
    expect(receiver.received.filter((delivery) => delivery.body.includes('"endpoint.disabled"'))).toHaveLength(1);
    const deliveries = await herm.request('GET', `/v1/webhook_endpoints/${endpoint.endpoint_id}/deliveries?status=failed`);
    expect(deliveries.body.data).toHaveLength(1);
    const [failed] = deliveries.body.data;
    expect(failed.attempts.map((attempt: any) => attempt.status_code)).toEqual([503, 503, 503]);
    // A disabled endpoint gets nothing: no new deliveries, and no manual retry.
    const conflict = await herm.request('POST', `/v1/webhook_endpoints/${endpoint.endpoint_id}/deliveries/${failed.delivery_id}/retry`);
    expect(conflict.status).toBe(409);
    await herm.sendAndWait(deployment.deployment_id);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await herm.request('GET', `/v1/webhook_endpoints/${endpoint.endpoint_id}/deliveries`)).body.data).toHaveLength(1);

    receiver.respondWith(() => 200);
    const enabled = await herm.request('PATCH', `/v1/webhook_endpoints/${endpoint.endpoint_id}`, { status: 'enabled' });
    expect(enabled.body).toMatchObject({ status: 'enabled', disabled_reason: null, disabled_at: null });
    const retried = await herm.request('POST', `/v1/webhook_endpoints/${endpoint.endpoint_id}/deliveries/${failed.delivery_id}/retry`);
    expect(retried.status).toBe(202);
    const redelivered = await waitFor('the redelivery', () => receiver.received.find((delivery) => delivery.id === failed.delivery_id && delivery.answered === 200), 3_000);
    expect(verify(endpoint.secret, redelivered).data.run_id).toBe(run.run_id);
    await herm.request('DELETE', `/v1/webhook_endpoints/${endpoint.endpoint_id}`);
    await herm.request('DELETE', `/v1/webhook_endpoints/${watcher.endpoint_id}`);
  });

  it('signs with the old and the new secret during the grace period after a rotation', async () => {
    const deployment = await herm.createDeployment();
    const endpoint = await createEndpoint({ events: ['run.completed'], deployment_id: deployment.deployment_id });
    const rotated = await herm.request('POST', `/v1/webhook_endpoints/${endpoint.endpoint_id}/rotate_secret`);
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(endpoint.secret);
    expect(Date.parse(rotated.body.previous_secret_expires_at) - Date.now()).toBeGreaterThan(23 * 3_600_000);
    const run = await herm.sendAndWait(deployment.deployment_id);
    const delivery = await waitFor('the delivery', () => receiver.received.find((received) => received.body.includes(run.run_id)), 2_000);
    expect(delivery.signature.split(' ')).toHaveLength(2);
    expect(verify(endpoint.secret, delivery).data.run_id).toBe(run.run_id);
    expect(verify(rotated.body.secret, delivery).data.run_id).toBe(run.run_id);

    // A rotation with no grace period: only the newest secret signs.
    const again = await herm.request('POST', `/v1/webhook_endpoints/${endpoint.endpoint_id}/rotate_secret`, { grace_period_seconds: 0 });
    expect(again.body.previous_secret_expires_at).toBeNull();
    const next = await herm.sendAndWait(deployment.deployment_id);
    const latest = await waitFor('the delivery', () => receiver.received.find((received) => received.body.includes(next.run_id)), 2_000);
    expect(latest.signature.split(' ')).toHaveLength(1);
    expect(verify(again.body.secret, latest).data.run_id).toBe(next.run_id);
    expect(() => verify(rotated.body.secret, latest)).toThrow();
    const invalid = await herm.request('POST', `/v1/webhook_endpoints/${endpoint.endpoint_id}/rotate_secret`, { grace_period_seconds: -1 });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.param).toBe('grace_period_seconds');
    await herm.request('DELETE', `/v1/webhook_endpoints/${endpoint.endpoint_id}`);
  });

  it('sends to an endpoint created after its deployment already had runs, and follows changes of its event types', async () => {
    const deployment = await herm.createDeployment();
    const before = await herm.sendAndWait(deployment.deployment_id);
    const endpoint = await createEndpoint({ events: ['run.completed'], deployment_id: deployment.deployment_id });
    const after = await herm.sendAndWait(deployment.deployment_id);
    await waitFor('the delivery', () => receiver.received.find((delivery) => delivery.body.includes(after.run_id)), 2_000);
    expect(receiver.received.some((delivery) => delivery.body.includes(before.run_id))).toBe(false);
    await herm.request('PATCH', `/v1/webhook_endpoints/${endpoint.endpoint_id}`, { events: ['run.failed'] });
    const unsubscribed = await herm.sendAndWait(deployment.deployment_id);
    herm.model.enqueue({ error: { status: 400, message: 'bad request from the scripted model' } });
    const failed = await herm.sendAndWait(deployment.deployment_id);
    await waitFor('the run.failed delivery', () => receiver.received.find((delivery) => delivery.body.includes(failed.run_id)), 2_000);
    expect(receiver.received.some((delivery) => delivery.body.includes(unsubscribed.run_id))).toBe(false);
    await herm.request('DELETE', `/v1/webhook_endpoints/${endpoint.endpoint_id}`);
  });

  it('tells of steering requests and file changes: steering.requested and filesystem.changed from a real run', async () => {
    const deployment = await herm.createDeployment({ steering: { tools: { shell: 'always_ask' } }, features: { filesystem_webhooks: true, memory: false } });
    const endpoint = await createEndpoint({ events: ['steering.requested', 'filesystem.changed'], deployment_id: deployment.deployment_id });
    herm.model.enqueue({ text: 'Posting.', toolCalls: [{ id: 'call_post', name: 'shell', arguments: { command: 'echo posted > ads.txt' } }] }, { text: 'Posted the ads.' });
    const sent = await herm.request('POST', `/v1/deployments/${deployment.deployment_id}/messages`, { content: 'Post the ads' });
    expect(sent.status).toBe(202);
    const ofRun = (type: string) => receiver.received.filter((delivery) => delivery.body.includes(sent.body.run_id) && JSON.parse(delivery.body).type === type);
    const steering = await waitFor('steering.requested', () => ofRun('steering.requested')[0], 5_000);
    const request = verify(endpoint.secret, steering);
    expect(request.data).toMatchObject({ deployment_id: deployment.deployment_id, customer_id: deployment.customer_id, run_id: sent.body.run_id, summary: expect.any(String) });
    expect(request.data.request_id).toEqual(expect.any(String));
    const answered = await herm.request('POST', `/v1/deployments/${deployment.deployment_id}/runs/${sent.body.run_id}/steering/${request.data.request_id}`, { decision: 'approve' });
    expect(answered.status).toBe(200);
    const changed = await waitFor('filesystem.changed', () => ofRun('filesystem.changed').find((delivery) => delivery.body.includes('ads.txt')), 10_000);
    expect(verify(endpoint.secret, changed).data).toMatchObject({ deployment_id: deployment.deployment_id, run_id: sent.body.run_id, path: expect.stringContaining('ads.txt') });
    await herm.request('DELETE', `/v1/webhook_endpoints/${endpoint.endpoint_id}`);
  });

  it('treats a redirect as a failure and does not follow it', async () => {
    const deployment = await herm.createDeployment();
    const endpoint = await createEndpoint({ events: ['run.completed'], deployment_id: deployment.deployment_id });
    receiver.respondWith(({ body }) => (body.includes(deployment.deployment_id) ? 302 : 200));
    await herm.sendAndWait(deployment.deployment_id);
    const failed = await waitFor('the delivery to fail', async () => {
      const response = await herm.request('GET', `/v1/webhook_endpoints/${endpoint.endpoint_id}/deliveries`);
      return response.body.data[0]?.status === 'failed' ? response.body.data[0] : undefined;
    });
    expect(failed.attempts[0]).toMatchObject({ status_code: 302, succeeded: false });
    expect(failed.attempts[0].error).toContain('redirect');
    receiver.respondWith(() => 200);
    await herm.request('DELETE', `/v1/webhook_endpoints/${endpoint.endpoint_id}`);
  });
});

describe('the address check at delivery time', () => {
  it('refuses to deliver to a private address once private URLs are no longer allowed', { timeout: 30_000 }, async () => {
    const receiver = await startReceiver();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-webhook-policy-'));
    const env = { HERM_WEBHOOK_RETRY_SCHEDULE: 'none', HERM_WEBHOOK_POLL_MS: '100' };
    const model = await startScriptedModelServer();
    let herm = await startTestServer({ dataDir, model, env: { ...env, HERM_ALLOW_PRIVATE_URLS: 'true' } });
    try {
      const deployment = await herm.createDeployment();
      const endpoint = await herm.request('POST', '/v1/webhook_endpoints', { url: receiver.url, events: ['run.completed'] });
      expect(endpoint.status).toBe(201);
      await herm.close();
      // The operator takes the permission back: the endpoint's URL (loopback) is refused at each attempt.
      herm = await startTestServer({ dataDir, model, env });
      const run = await herm.sendAndWait(deployment.deployment_id);
      const failed = await waitFor('the delivery to fail', async () => {
        const response = await herm.request('GET', `/v1/webhook_endpoints/${endpoint.body.endpoint_id}/deliveries`);
        return response.body.data[0]?.status === 'failed' ? response.body.data[0] : undefined;
      });
      expect(failed.run_id).toBe(run.run_id);
      expect(failed.attempts).toHaveLength(1);
      expect(failed.attempts[0]).toMatchObject({ status_code: null, succeeded: false });
      expect(failed.attempts[0].error).toContain('did not answer');
      expect(receiver.received).toEqual([]);
    } finally {
      await herm.close();
      await model.close();
      await receiver.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
