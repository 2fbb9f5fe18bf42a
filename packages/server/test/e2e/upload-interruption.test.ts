// `herm serve` killed with -9 in the middle of a Files API upload — while the body arrives, and while the
// sandbox writes it — leaves nothing in the workspace after a restart: no temporary file listed, none on disk,
// no half file under the target's name.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { startChildServer, type ChildServer } from '../support/child-server.ts';

// Large enough that writing it through the sandbox takes a moment to catch.
const FILE_BYTES = 256 * 1024 * 1024;
const KEY = 'herm_sk_upload_interruption_test_1';
const TEMPORARY = /^\.herm-upload\./;

const servers: ChildServer[] = [];
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-upload-kill-'));
const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-upload-outside-'));

afterAll(async () => {
  for (const server of servers) await server.kill();
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.rmSync(outside, { recursive: true, force: true });
});

async function start(): Promise<ChildServer> {
  const server = await startChildServer({
    HERM_DATA_DIR: dataDir,
    HERM_ADMIN_KEY: KEY,
    HERM_MAX_FILE_BYTES: String(FILE_BYTES),
    OPENAI_COMPATIBLE_BASE_URL: 'http://127.0.0.1:9/v1',
  });
  servers.push(server);
  return server;
}

async function api(server: ChildServer, method: string, urlPath: string, body?: unknown) {
  const response = await fetch(`${server.url}${urlPath}`, {
    method,
    headers: { authorization: `Bearer ${KEY}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, body: (await response.json()) as any };
}

async function createReadyDeployment(server: ChildServer, fields: Record<string, unknown> = {}): Promise<string> {
  const created = await api(server, 'POST', '/v1/deployments', { customer_id: 'c', name: 'n', system_prompt: 'p', model: 'openai-compatible/m', ...fields });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  for (let attempt = 0; attempt < 200; attempt++) {
    const deployment = await api(server, 'GET', `/v1/deployments/${created.body.deployment_id}`);
    if (deployment.body.status === 'ready') return deployment.body.deployment_id;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the deployment did not become ready');
}

/** Every path under `root` (symlinks not followed), relative to it. */
function walk(root: string, prefix = ''): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync(path.join(root, prefix), { withFileTypes: true })) {
    const relative = path.join(prefix, entry.name);
    found.push(relative);
    if (entry.isDirectory()) found.push(...walk(root, relative));
  }
  return found;
}

const temporaries = (root: string) => walk(root).filter((relative) => TEMPORARY.test(path.basename(relative)));

it('leaves no temporary file behind a kill -9 during an upload, listed or on disk, once restarted', async () => {
  let server = await start();
  const deploymentId = await createReadyDeployment(server);
  const sessionDeploymentId = await createReadyDeployment(server, { sandbox: { persistent_filesystem: false } });
  const workspace = path.join(dataDir, 'workspaces', deploymentId);
  const uploads = path.join(workspace, '.herm', 'uploads');
  const content = Buffer.alloc(FILE_BYTES, 0x61);

  // 1. Killed while the body arrives: the server holds the bytes in memory, nothing is written yet.
  const { port } = new URL(server.url);
  const socket = net.connect({ host: '127.0.0.1', port: Number(port) });
  socket.on('error', () => {});
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(
    `PUT /v1/deployments/${deploymentId}/files?path=mid-body.bin HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${KEY}\r\n` +
      `Content-Type: application/octet-stream\r\nContent-Length: ${FILE_BYTES}\r\n\r\n`,
  );
  socket.write(content.subarray(0, 8 * 1024 * 1024));
  await new Promise((resolve) => setTimeout(resolve, 300));
  await server.kill();
  socket.destroy();

  // 2. Killed while the sandbox writes the received file: the temporary file exists, half written.
  server = await start();
  const upload = fetch(`${server.url}/v1/deployments/${deploymentId}/files?path=mid-write.bin`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/octet-stream' },
    body: content,
  }).catch((error: unknown) => error);
  let caught: string[] = [];
  const deadline = Date.now() + 60_000;
  while (caught.length === 0 && Date.now() < deadline) {
    caught = fs.existsSync(uploads) ? fs.readdirSync(uploads).filter((name) => TEMPORARY.test(name)) : [];
    if (caught.length === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  expect(caught, 'the upload finished before its temporary file was seen').toHaveLength(1);
  await server.kill();
  expect(await upload).toBeInstanceOf(Error);
  // Where the temporary file was: out of the tree the Files API shows, and still on disk after the crash.
  expect(temporaries(workspace)).toEqual([path.join('.herm', 'uploads', caught[0]!)]);

  // Leftovers in a thread's session workspace are found too; one behind a symlink the agent planted
  // (pointing out of the workspace) is not the sweep's to touch.
  const sessionWorkspace = path.join(dataDir, 'session-workspaces', sessionDeploymentId, 'thr_planted', 'workspace');
  fs.mkdirSync(path.join(sessionWorkspace, '.herm', 'uploads'), { recursive: true });
  fs.writeFileSync(path.join(sessionWorkspace, '.herm', 'uploads', '.herm-upload.Zz9Yy8'), 'half');
  const linked = path.join(dataDir, 'session-workspaces', sessionDeploymentId, 'thr_linked', 'workspace');
  fs.mkdirSync(linked, { recursive: true });
  fs.mkdirSync(path.join(outside, 'uploads'));
  fs.writeFileSync(path.join(outside, 'uploads', '.herm-upload.Keep12'), 'not a workspace file');
  fs.symlinkSync(outside, path.join(linked, '.herm'));

  // 3. Restarted: swept before the first request.
  server = await start();
  expect(temporaries(workspace)).toEqual([]);
  expect(walk(workspace).filter((relative) => relative.startsWith('mid-'))).toEqual([]);
  expect(fs.readdirSync(path.join(outside, 'uploads'))).toEqual(['.herm-upload.Keep12']);
  const root = await api(server, 'GET', `/v1/deployments/${deploymentId}/files`);
  expect(root.status).toBe(200);
  // The emptied upload directory went too, and `.herm` with it: the workspace is as before the uploads.
  expect(root.body.entries).toEqual([]);
  expect(fs.readdirSync(workspace)).toEqual([]);
  expect(fs.existsSync(path.join(sessionWorkspace, '.herm'))).toBe(false);

  // And uploads work as before, leaving only the file.
  const small = await fetch(`${server.url}/v1/deployments/${deploymentId}/files?path=after.txt`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/octet-stream' },
    body: 'after the crash',
  });
  expect(small.status).toBe(200);
  expect(temporaries(workspace)).toEqual([]);
  expect(fs.readFileSync(path.join(workspace, 'after.txt'), 'utf8')).toBe('after the crash');
  await server.stop();
}, 180_000);
