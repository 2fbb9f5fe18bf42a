// What `herm serve` says as a real process: a port in use, the model providers it has, its log format (JSON when
// not a terminal or LOG_FORMAT=json, pretty lines on a terminal), and the one line of each failed run.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, startChildServer, type ChildServer } from '../support/child-server.ts';

const dataDirs: string[] = [];
const servers: ChildServer[] = [];
/** No provider is configured, whatever the test machine's environment has. */
const NO_PROVIDERS = { ANTHROPIC_API_KEY: '', OPENAI_API_KEY: '', GOOGLE_GENERATIVE_AI_API_KEY: '', OPENAI_COMPATIBLE_BASE_URL: '' };

afterAll(async () => {
  for (const server of servers) await server.kill();
  for (const dir of dataDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function newDataDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-startup-'));
  dataDirs.push(dir);
  return dir;
}

async function start(env: Record<string, string>): Promise<ChildServer> {
  const server = await startChildServer({ HERM_DATA_DIR: newDataDir(), ...env });
  servers.push(server);
  return server;
}

function runHerm(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(REPO_ROOT, 'herm'), args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The JSON log lines of a process's stderr (the CLI's own plain lines left out). */
function jsonLines(stderr: string): Record<string, any>[] {
  return stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, any>);
}

async function until<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('herm serve start-up output', () => {
  it('a port in use is one line naming PORT, exit code 1, no stack, and nothing created', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const dataDir = newDataDir();
      const result = await runHerm(['serve'], { HERM_DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', HERM_SANDBOX: 'bubblewrap' });
      expect(result.code).toBe(1);
      const lines = result.stderr.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('herm: compiling'));
      expect(lines).toEqual([`herm: port ${port} on 127.0.0.1 is already in use (PORT=${port}, HOST=127.0.0.1): stop what listens there or set PORT to a free port`]);
      expect(result.stderr).not.toMatch(/\n\s+at /);
      // Refused before anything was made: no admin key shown, no database.
      expect(result.stdout).toBe('');
      expect(fs.readdirSync(dataDir)).toEqual([]);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('names the provider keys it has (never their values) and the default model; JSON lines when not a terminal', async () => {
    const server = await start({ ...NO_PROVIDERS, OPENAI_API_KEY: 'sk-test-secret-value', LOG_LEVEL: 'info' });
    await server.stop();
    const entries = jsonLines(server.stderr);
    expect(entries.length).toBeGreaterThan(0);
    const summary = entries.find((entry) => String(entry.msg).startsWith('model provider keys set'));
    expect(summary, server.stderr).toMatchObject({ level: 30, providerKeys: ['OPENAI_API_KEY'], defaultModel: 'anthropic/claude-sonnet-4.5' });
    // The default model's provider is not among them: said too.
    expect(entries.some((entry) => entry.level === 40 && String(entry.msg).startsWith('ANTHROPIC_API_KEY is not set'))).toBe(true);
    expect(server.stderr).not.toContain('sk-test-secret-value');
    expect(entries.some((entry) => entry.msg === 'herm listening')).toBe(true);
  });

  it('warns when no provider key is set', async () => {
    const server = await start({ ...NO_PROVIDERS, LOG_FORMAT: 'json' });
    await server.stop();
    const warning = jsonLines(server.stderr).find((entry) => String(entry.msg).startsWith('no model provider key is set'));
    expect(warning, server.stderr).toMatchObject({ level: 40, providerKeys: [], defaultModel: 'anthropic/claude-sonnet-4.5' });
    expect(warning!.msg).toContain('ANTHROPIC_API_KEY');
  });

  it('logs a failed run once, with its deployment, run and reason', async () => {
    const adminKey = 'herm_sk_failed_run_log_key_1';
    const server = await start({ ...NO_PROVIDERS, HERM_ADMIN_KEY: adminKey, LOG_FORMAT: 'json' });
    const call = async (method: string, urlPath: string, body?: unknown) => {
      const response = await fetch(`${server.url}${urlPath}`, {
        method,
        headers: { authorization: `Bearer ${adminKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      return (await response.json()) as any;
    };
    const deployment = await call('POST', '/v1/deployments', { customer_id: 'c', name: 'n', system_prompt: 'p' });
    const run = await call('POST', `/v1/deployments/${deployment.deployment_id}/messages`, { content: 'hello' });
    const ended = await until(async () => {
      const state = await call('GET', `/v1/deployments/${deployment.deployment_id}/runs/${run.run_id}`);
      return state.status === 'error' ? state : undefined;
    });
    expect(ended.error.type).toBe('configuration_error');
    const failed = await until(() => {
      const lines = jsonLines(server.stderr).filter((entry) => String(entry.msg).startsWith('run failed'));
      return lines.length > 0 ? lines : undefined;
    });
    await server.stop();
    expect(jsonLines(server.stderr).filter((entry) => String(entry.msg).startsWith('run failed'))).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      level: 40,
      deploymentId: deployment.deployment_id,
      runId: run.run_id,
      errorType: 'configuration_error',
      reason: expect.stringContaining('ANTHROPIC_API_KEY is not set'),
    });
  });

  it('writes pretty single lines on a terminal', async () => {
    // script(1) gives the server a pseudo-terminal, as a person running ./herm serve has.
    const dataDir = newDataDir();
    const command = `${path.join(REPO_ROOT, 'herm')} serve`;
    const child = spawn('script', ['-qfec', command, '/dev/null'], {
      env: { ...process.env, ...NO_PROVIDERS, HERM_DATA_DIR: dataDir, PORT: '0', HERM_SANDBOX: 'bubblewrap', LOG_LEVEL: 'info', NO_COLOR: '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    try {
      await until(() => (/listening on http/.test(output) ? true : undefined), 20_000);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('close', resolve));
    }
    const plain = output.replace(/\u001b\[[0-9;]*m/g, '').replace(/\r/g, '');
    expect(plain).not.toMatch(/^\{"level"/m);
    expect(plain).toMatch(/^\d\d:\d\d:\d\d\.\d{3} WARN  no model provider key is set .* defaultModel=anthropic\/claude-sonnet-4\.5$/m);
    expect(plain).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO  herm listening url=http:\/\/127\.0\.0\.1:\d+ store=sqlite sandbox=bubblewrap$/m);
    // Colours on a terminal, and the first start's admin key in a frame.
    expect(output).toContain('\u001b[33m');
    expect(plain).toMatch(/┃ Created an admin API key \(shown once, store it now\): herm_sk_\S+ +┃/);
    expect(plain).toContain('keeps only a hash of it');
  });
});
