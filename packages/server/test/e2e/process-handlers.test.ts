// `herm serve`'s process-level handlers, proven with faults the process injects into itself (HERM_FAILPOINTS):
// a promise rejection nobody handles is logged and the server keeps answering; an exception nobody catches is
// logged at fatal and the process exits 1.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isKnownSafeError } from '../../src/util/process-handlers.ts';
import { startSourceServer, type SourceServer } from '../support/source-server.ts';

const dataDirs: string[] = [];
const servers: SourceServer[] = [];

afterAll(async () => {
  for (const server of servers) await server.stop();
  for (const dir of dataDirs) fs.rmSync(dir, { recursive: true, force: true });
});

async function start(failpoints: string): Promise<SourceServer> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-handlers-'));
  dataDirs.push(dataDir);
  const server = await startSourceServer({ HERM_DATA_DIR: dataDir, HERM_ADMIN_KEY: 'herm_sk_process_handlers_1', HERM_FAILPOINTS: failpoints });
  servers.push(server);
  return server;
}

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !condition(); await new Promise((resolve) => setTimeout(resolve, 25))) {
    if (Date.now() > deadline) throw new Error('timed out');
  }
}

describe('herm serve', () => {
  it('logs an unhandled rejection and keeps serving', async () => {
    const server = await start('process.unhandled_rejection');
    await waitFor(() => server.stderr.includes('unhandled promise rejection'));
    const line = server.stderr.split('\n').find((entry) => entry.includes('unhandled promise rejection'))!;
    const logged = JSON.parse(line) as { level: number; err: { message: string } };
    expect(logged.level).toBe(50);
    expect(logged.err.message).toContain('failpoint process.unhandled_rejection');
    // Still serving, a while after.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const deployments = await fetch(`${server.url}/v1/deployments`, { headers: { authorization: 'Bearer herm_sk_process_handlers_1' } });
    expect(deployments.status).toBe(200);
  }, 60_000);

  it('logs an uncaught exception at fatal and exits 1', async () => {
    const server = await start('process.uncaught_exception');
    expect(await server.exited).toBe(1);
    const line = server.stderr.split('\n').find((entry) => entry.includes('uncaught exception'));
    expect(line, server.stderr).toBeDefined();
    const logged = JSON.parse(line!) as { level: number; err: { message: string } };
    expect(logged.level).toBe(60);
    expect(logged.err.message).toContain('failpoint process.uncaught_exception');
  }, 60_000);
});

it('counts only the network errors of one connection as safe to serve on', () => {
  expect(isKnownSafeError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', syscall: 'read' }))).toBe(true);
  expect(isKnownSafeError(Object.assign(new Error('write EPIPE'), { code: 'EPIPE', syscall: 'write' }))).toBe(true);
  expect(isKnownSafeError(Object.assign(new Error('no syscall'), { code: 'ECONNRESET' }))).toBe(false);
  expect(isKnownSafeError(new TypeError("Cannot read properties of undefined (reading 'id')"))).toBe(false);
  expect(isKnownSafeError(Object.assign(new Error('open'), { code: 'ENOENT', syscall: 'open' }))).toBe(false);
  expect(isKnownSafeError(undefined)).toBe(false);
});
