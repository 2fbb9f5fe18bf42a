// Nodes started together on a fresh PostgreSQL database and one shared data directory, with no HERM_SECRET_KEY
// and no HERM_ADMIN_KEY: every `herm serve` process comes up, the schema is made once, one admin key is created
// (and shown by one process), one secret key file is written, and a secret created through one node is decrypted
// by the others: each node's egress proxy puts its real value into a request to the host it is bound to (the
// sandbox itself only ever holds a placeholder, the same on every node).
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, postgresBaseUrl, POSTGRES_SKIP_MESSAGE, type TestDatabase } from '../support/databases.ts';
import { startScriptedModelServer, type ScriptedModelServer } from '../support/scripted-model-server.ts';
import { startSourceServer, type SourceServer } from '../support/source-server.ts';

const postgresAvailable = (await postgresBaseUrl()) !== undefined;
if (!postgresAvailable) console.warn(POSTGRES_SKIP_MESSAGE);

const NODES = 3;

describe.skipIf(!postgresAvailable)('herm serve nodes starting together', () => {
  let database: TestDatabase;
  let model: ScriptedModelServer;
  let dataDir: string;
  const nodes: SourceServer[] = [];
  /** The host the secret is bound to: records the Authorization header of each request. */
  let receiver: http.Server;
  let receiverPort: number;
  const received: string[] = [];

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    model = await startScriptedModelServer();
    dataDir = path.join(database.dataDir, 'shared');
    receiver = http.createServer((request, response) => {
      received.push(request.headers.authorization ?? '');
      response.end('ok');
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverPort = (receiver.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise((resolve) => receiver?.close(resolve));
    for (const node of nodes) await node.stop();
    await model?.close();
    await database?.drop();
  });

  it('all start, with one schema, one admin key and one key file; a secret made on one node decrypts on every node', async () => {
    const env = {
      DATABASE_URL: database.databaseUrl!,
      HERM_DATA_DIR: dataDir,
      HERM_SECRET_KEY: '',
      HERM_ADMIN_KEY: '',
      OPENAI_COMPATIBLE_BASE_URL: model.url,
      HERM_SANDBOX_INTERNAL_DESTINATIONS: `127.0.0.1:${receiverPort}`,
    };
    const started = await Promise.allSettled(Array.from({ length: NODES }, () => startSourceServer(env)));
    for (const result of started) if (result.status === 'fulfilled') nodes.push(result.value);
    expect(started.filter((result) => result.status === 'rejected').map((result) => String((result as PromiseRejectedResult).reason))).toEqual([]);

    for (const node of nodes) expect((await fetch(`${node.url}/healthz`)).status).toBe(200);
    // The announcement goes to stdout, before "listening" on stderr: give the pipes a moment.
    const announcements = () => nodes.flatMap((node) => /admin API key.*: (herm_sk_\S+)/.exec(node.stdout)?.[1] ?? []);
    for (const deadline = Date.now() + 5_000; announcements().length === 0 && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 50));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const announced = announcements();
    expect(announced).toHaveLength(1);
    const key = announced[0]!;

    const client = new pg.Client({ connectionString: database.databaseUrl });
    await client.connect();
    try {
      const migrations = await client.query('SELECT version FROM herm_migrations ORDER BY version');
      expect(migrations.rows.map((row) => row.version)).toEqual(migrations.rows.map((_, index) => index + 1));
      expect((await client.query('SELECT count(*)::int AS count FROM api_keys')).rows[0].count).toBe(1);
    } finally {
      await client.end();
    }
    expect(fs.readdirSync(dataDir).filter((name) => name.startsWith('secret.key'))).toEqual(['secret.key']);

    const api = async (node: SourceServer, method: string, urlPath: string, body?: unknown) => {
      const response = await fetch(`${node.url}${urlPath}`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      return { status: response.status, body: (await response.json()) as any };
    };
    const secret = await api(nodes[0]!, 'POST', '/v1/secrets', { name: 'token', value: 'made-on-node-one', allowed_hosts: [`127.0.0.1:${receiverPort}`] });
    expect(secret.status).toBe(201);
    const placeholders = new Set<string>();
    for (const node of nodes) {
      const deployment = await api(node, 'POST', '/v1/deployments', {
        customer_id: 'c',
        name: 'n',
        system_prompt: 'p',
        model: 'openai-compatible/m',
        sandbox: { network: { allow: [`127.0.0.1:${receiverPort}`] } },
        secrets: { TOKEN: secret.body.secret_id },
      });
      expect(deployment.status, JSON.stringify(deployment.body)).toBe(201);
      model.enqueue(
        { toolCalls: [{ name: 'shell', arguments: { command: `printf "token=%s" "$TOKEN"; curl -s -H "Authorization: Bearer $TOKEN" http://127.0.0.1:${receiverPort}/` } }] },
        { text: 'Done.' },
      );
      const sent = await api(node, 'POST', `/v1/deployments/${deployment.body.deployment_id}/messages`, { content: 'Use the token.' });
      expect(sent.status).toBe(202);
      let run: any;
      for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 50))) {
        run = (await api(node, 'GET', `/v1/deployments/${deployment.body.deployment_id}/runs/${sent.body.run_id}`)).body;
        if (run.status === 'completed' || run.status === 'error') break;
      }
      expect(run.status, JSON.stringify(run)).toBe('completed');
      const toolMessage = model.requests.at(-1)!.messages.findLast((message) => message.role === 'tool');
      // The sandbox holds a placeholder; the request that left it carried the real value, put in by this node.
      const placeholder = /token=(herm_secret_[A-Za-z0-9_-]+)/.exec(toolMessage?.text ?? '')?.[1];
      expect(placeholder, toolMessage?.text).toBeDefined();
      expect(toolMessage?.text).not.toContain('made-on-node-one');
      placeholders.add(placeholder!);
      expect(received.at(-1)).toBe('Bearer made-on-node-one');
    }
    expect(received).toHaveLength(NODES);
    // Placeholders are per deployment: three deployments, three placeholders.
    expect(placeholders.size).toBe(NODES);
  }, 120_000);
});
