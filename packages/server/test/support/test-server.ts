// Starts a real Herm server on a loopback port (real store, real bubblewrap sandbox unless env picks docker)
// with a scripted model.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { loadConfig } from '../../src/config.ts';
import { startServer, type RunningServer } from '../../src/server.ts';
import { randomBase62 } from '../../src/util/ids.ts';
import type { Clock } from '../../src/util/time.ts';
import { startScriptedModelServer, type ScriptedModelServer } from './scripted-model-server.ts';

export interface TestServer {
  url: string;
  adminKey: string;
  dataDir: string;
  model: ScriptedModelServer;
  server: RunningServer;
  /** A JSON request with the admin key (or `key`); never throws on HTTP errors. */
  request(method: string, urlPath: string, body?: unknown, key?: string | null): Promise<{ status: number; body: any; headers: Headers }>;
  /** Creates a deployment on the scripted model and returns its JSON. */
  createDeployment(overrides?: Record<string, unknown>): Promise<any>;
  /** Sends a message (default content "Go.") and polls the run until it ends; returns the run as the API shows it. */
  sendAndWait(deploymentId: string, message?: Record<string, unknown>): Promise<any>;
  close(): Promise<void>;
}

export interface TestServerOptions {
  env?: Record<string, string>;
  dataDir?: string;
  databaseUrl?: string;
  model?: ScriptedModelServer;
  /** Keep the data directory on close (for restart tests). */
  keepData?: boolean;
  /** The server's logger (e.g. support/log-capture.ts); default silent, or HERM_TEST_LOG_LEVEL. */
  logger?: Logger;
  /** The clock automations are scheduled by (move it, then `server.services.automationScheduler.tick()`). */
  clock?: Clock;
}

export const SCRIPTED_MODEL = 'openai-compatible/scripted-model';

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const model = options.model ?? (await startScriptedModelServer());
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'herm-e2e-'));
  const adminKey = options.env?.HERM_ADMIN_KEY ?? `herm_sk_test_${randomBase62(24)}`;
  const config = loadConfig({
    PORT: '0',
    HERM_DATA_DIR: dataDir,
    HERM_ADMIN_KEY: adminKey,
    LOG_LEVEL: 'silent',
    // Not `auto`: a Docker API on the test machine must not change what every other test runs on.
    HERM_SANDBOX: 'bubblewrap',
    ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}),
    ...options.env,
  });
  const server = await startServer(config, {
    logger: options.logger ?? pino({ level: process.env.HERM_TEST_LOG_LEVEL ?? 'silent' }),
    modelEnvironment: {
      OPENAI_COMPATIBLE_BASE_URL: model.url,
      ANTHROPIC_API_KEY: 'sk-ant-test',
      ANTHROPIC_BASE_URL: model.url,
      OPENAI_API_KEY: 'sk-openai-test',
      OPENAI_BASE_URL: model.url,
      ...options.env,
    },
    // Hermetic: settings outside Config (HERM_MAX_FILE_BYTES) come from the test's env only.
    environment: { ...options.env },
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const request: TestServer['request'] = async (method, urlPath, body, key) => {
    const headers: Record<string, string> = {};
    if (key !== null) headers.authorization = `Bearer ${key ?? adminKey}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${server.url}${urlPath}`, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON; keep the text
    }
    return { status: response.status, body: parsed, headers: response.headers };
  };
  return {
    url: server.url,
    adminKey,
    dataDir,
    model,
    server,
    request,
    async createDeployment(overrides = {}) {
      const response = await request('POST', '/v1/deployments', {
        customer_id: `cus_${randomBase62(8)}`,
        name: 'Test agent',
        model: SCRIPTED_MODEL,
        system_prompt: 'You are a test agent.',
        ...overrides,
      });
      if (response.status !== 201) throw new Error(`create failed: ${response.status} ${JSON.stringify(response.body)}`);
      return response.body;
    },
    async sendAndWait(deploymentId, message = {}) {
      const sent = await request('POST', `/v1/deployments/${deploymentId}/messages`, { content: 'Go.', ...message });
      if (sent.status !== 202) throw new Error(`send failed: ${sent.status} ${JSON.stringify(sent.body)}`);
      const deadline = Date.now() + 30_000;
      for (;;) {
        const run = await request('GET', `/v1/deployments/${deploymentId}/runs/${sent.body.run_id}`);
        if (run.body.status === 'completed' || run.body.status === 'error') return run.body;
        if (Date.now() > deadline) throw new Error(`run ${sent.body.run_id} did not finish`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    async close() {
      await server.close();
      if (!options.model) await model.close();
      if (!options.keepData && !options.dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
