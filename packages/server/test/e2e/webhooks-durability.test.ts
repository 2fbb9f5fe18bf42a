// Webhook deliveries survive a crash and are sent by one node at a time: `herm serve` killed with SIGKILL while a
// delivery waits out its backoff delivers it after the restart, once; on PostgreSQL, two nodes polling the same
// outbox send each message's attempts once between them.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBase62 } from '../../src/util/ids.ts';
import { postgresBaseUrl, POSTGRES_SKIP_MESSAGE } from '../support/databases.ts';
import { hermListening, killHerm, spawnHerm } from '../support/herm-process.ts';
import { startLoopbackServer } from '../support/loopback-server.ts';
import { startPostgresNodes, type PostgresNodes } from '../support/postgres-nodes.ts';
import { startScriptedModelServer, type ScriptedModelServer } from '../support/scripted-model-server.ts';
import { SCRIPTED_MODEL } from '../support/test-server.ts';

interface Received {
  id: string;
  body: string;
  headers: Record<string, string>;
  answered: number;
}

async function startReceiver(respond: (id: string, attempt: number) => number) {
  const received: Received[] = [];
  const { server, port } = await startLoopbackServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const id = String(request.headers['webhook-id']);
      const answered = respond(id, received.filter((delivery) => delivery.id === id).length + 1);
      received.push({
        id,
        body: Buffer.concat(chunks).toString('utf8'),
        headers: Object.fromEntries(['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((name) => [name, String(request.headers[name])])),
        answered,
      });
      response.writeHead(answered).end();
    });
  });
  return { url: `http://127.0.0.1:${port}/hooks`, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function api(url: string, key: string, method: string, urlPath: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${url}${urlPath}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

describe('a crash during backoff', () => {
  let model: ScriptedModelServer;
  let dataDir: string;
  beforeAll(async () => {
    model = await startScriptedModelServer();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-webhooks-'));
  });
  afterAll(async () => {
    await model?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('delivers each event exactly once after a kill -9 and a restart', { timeout: 60_000 }, async () => {
    // Every message's first attempt gets a 500; the retry waits 2 s, long enough to kill the server meanwhile.
    const receiver = await startReceiver((_id, attempt) => (attempt === 1 ? 500 : 200));
    const key = `herm_sk_test_${randomBase62(24)}`;
    const env = {
      HERM_DATA_DIR: dataDir,
      HERM_ADMIN_KEY: key,
      OPENAI_COMPATIBLE_BASE_URL: model.url,
      HERM_ALLOW_PRIVATE_URLS: 'true',
      HERM_WEBHOOK_RETRY_SCHEDULE: '2s,2s',
      HERM_WEBHOOK_POLL_MS: '100',
    };
    let server = spawnHerm(env);
    try {
      let url = await hermListening(server);
      const deployment = await api(url, key, 'POST', '/v1/deployments', { customer_id: 'cus_crash', name: 'crash', model: SCRIPTED_MODEL, system_prompt: 'Test.' });
      expect(deployment.status).toBe(201);
      const deploymentId = deployment.body.deployment_id;
      const endpoint = await api(url, key, 'POST', '/v1/webhook_endpoints', { url: receiver.url, events: ['run.completed'] });
      expect(endpoint.status).toBe(201);
      const runIds: string[] = [];
      for (let index = 0; index < 3; index++) {
        const sent = await waitFor('the message to be accepted', async () => {
          const response = await api(url, key, 'POST', `/v1/deployments/${deploymentId}/messages`, { content: `Go ${index}.` });
          return response.status === 202 ? response : undefined;
        });
        runIds.push(sent.body.run_id);
        await waitFor('the run to end', async () => {
          const run = await api(url, key, 'GET', `/v1/deployments/${deploymentId}/runs/${sent.body.run_id}`);
          return run.body.status === 'completed' ? true : undefined;
        });
      }
      // Every first attempt failed and is recorded: the deliveries wait out their backoff.
      await waitFor('three failed first attempts, recorded', async () => {
        const list = await api(url, key, 'GET', `/v1/webhook_endpoints/${endpoint.body.endpoint_id}/deliveries`);
        return list.body.data.length === 3 && list.body.data.every((delivery: any) => delivery.status === 'pending' && delivery.attempt_count === 1) ? true : undefined;
      });
      expect(receiver.received.map((delivery) => delivery.answered)).toEqual([500, 500, 500]);
      await killHerm(server);

      server = spawnHerm(env);
      url = await hermListening(server);
      await waitFor('every message acknowledged', () => (receiver.received.filter((delivery) => delivery.answered === 200).length === 3 ? true : undefined));
      // Nothing more comes: no message is sent again after its acknowledgement.
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      const acknowledged = receiver.received.filter((delivery) => delivery.answered === 200);
      expect(acknowledged).toHaveLength(3);
      expect(receiver.received).toHaveLength(6);
      const payloads = acknowledged.map((delivery) => new Webhook(endpoint.body.secret).verify(delivery.body, delivery.headers) as any);
      expect(payloads.map((payload) => payload.data.run_id).sort()).toEqual([...runIds].sort());
      expect(new Set(acknowledged.map((delivery) => delivery.id)).size).toBe(3);
      const list = await api(url, key, 'GET', `/v1/webhook_endpoints/${endpoint.body.endpoint_id}/deliveries`);
      for (const delivery of list.body.data) {
        expect(delivery.status).toBe('succeeded');
        expect(delivery.attempts.map((attempt: any) => attempt.status_code)).toEqual([500, 200]);
      }
    } finally {
      await killHerm(server);
      await receiver.close();
    }
  });
});

describe('two PostgreSQL nodes', () => {
  let cluster: PostgresNodes | undefined;

  beforeAll(async () => {
    if (!(await postgresBaseUrl())) return;
    const adminKey = `herm_sk_test_${randomBase62(24)}`;
    // Nodes share HERM_SECRET_KEY (the signing secrets are stored encrypted with it), as a scale-out must.
    const env = { HERM_ADMIN_KEY: adminKey, HERM_SECRET_KEY: randomBytes(32).toString('base64'), HERM_ALLOW_PRIVATE_URLS: 'true', HERM_WEBHOOK_RETRY_SCHEDULE: '100ms,100ms', HERM_WEBHOOK_POLL_MS: '50' };
    // On separate data directories, as nodes on separate machines.
    cluster = await startPostgresNodes({ env, dataDirs: 'own' });
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it('send each message once between them', { timeout: 60_000 }, async (context) => {
    if (!cluster) {
      console.warn(POSTGRES_SKIP_MESSAGE);
      context.skip();
      return;
    }
    const { nodes } = cluster;
    // The first attempt of every message fails: the retries are found by both nodes' polls, racing for them.
    const receiver = await startReceiver((_id, attempt) => (attempt === 1 ? 500 : 200));
    try {
      const deployment = await nodes[0]!.createDeployment();
      // A run on each node before the endpoint exists: both have looked up (and cached) the deployment's endpoints.
      for (const node of nodes) await node.sendAndWait(deployment.deployment_id);
      const endpoint = await nodes[0]!.request('POST', '/v1/webhook_endpoints', { url: receiver.url, events: ['run.completed'] });
      expect(endpoint.status).toBe(201);
      const runs = await Promise.all(
        Array.from({ length: 12 }, async (_, index) => {
          const node = nodes[index % 2]!;
          const thread = await node.request('POST', `/v1/deployments/${deployment.deployment_id}/threads`, {});
          return node.sendAndWait(deployment.deployment_id, { thread_id: thread.body.thread_id });
        }),
      );
      await waitFor('every message acknowledged', () => (receiver.received.filter((delivery) => delivery.answered === 200).length >= 12 ? true : undefined));
      await new Promise((resolve) => setTimeout(resolve, 500));
      const byId = new Map<string, number[]>();
      for (const delivery of receiver.received) byId.set(delivery.id, [...(byId.get(delivery.id) ?? []), delivery.answered]);
      expect(byId.size).toBe(12);
      for (const [id, answers] of byId) expect(answers, id).toEqual([500, 200]);
      const runIds = receiver.received.filter((delivery) => delivery.answered === 200).map((delivery) => JSON.parse(delivery.body).data.run_id);
      expect(runIds.sort()).toEqual(runs.map((run) => run.run_id).sort());
    } finally {
      await receiver.close();
    }
  });
});
