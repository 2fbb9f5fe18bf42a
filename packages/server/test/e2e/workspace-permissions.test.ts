// The workspaces directory is the server's alone: with the server as root, files the sandbox user makes
// are host root's (a setuid file among them would be setuid root), so no other host user may reach them —
// even when an operator created the data directory with looser permissions.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/test-server.ts';

let herm: TestServer | undefined;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-perm-'));

afterAll(async () => {
  await herm?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

it('makes <data dir>/workspaces private (0700) even when it existed with looser permissions', async () => {
  fs.chmodSync(dataDir, 0o755);
  fs.mkdirSync(path.join(dataDir, 'workspaces'), { mode: 0o777 });
  fs.chmodSync(path.join(dataDir, 'workspaces'), 0o777);
  herm = await startTestServer({ dataDir });
  const deployment = await herm.createDeployment();
  expect(deployment.status).toBe('ready');
  expect(fs.statSync(path.join(dataDir, 'workspaces')).mode & 0o777).toBe(0o700);
  expect(fs.existsSync(path.join(dataDir, 'workspaces', deployment.deployment_id))).toBe(true);
});
