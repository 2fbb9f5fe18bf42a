// Workspace snapshots: delete with retain_filesystem=true keeps a tar.gz of the workspace (symlinks as
// symlinks, sparse files sparse, no setuid bits), listed, fetched and downloaded through /v1/snapshots,
// restored into a new deployment in the background (within its disk quota, across a restart), swept when
// expired, and invisible to other accounts.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import Herm from 'herm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkspaceQuotas, imagePath } from '../../src/sandbox/limits/workspace-quotas.ts';
import { newId, randomBase62 } from '../../src/util/ids.ts';
import { startChildServer, type ChildServer } from '../support/child-server.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const quotasUnavailable = (await createWorkspaceQuotas().unavailableReason()) ?? null;
if (quotasUnavailable) console.warn(`snapshot disk quota tests skipped: ${quotasUnavailable}`);

const GIB = 1024 * 1024 * 1024;
const MIB = 1024 * 1024;

let herm: TestServer;
let outside: string;

beforeAll(async () => {
  herm = await startTestServer();
  outside = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-outside-'));
  fs.writeFileSync(path.join(outside, 'secret.txt'), 'not yours\n');
});

afterAll(async () => {
  await herm?.close();
  if (outside) fs.rmSync(outside, { recursive: true, force: true });
});

function workspaceOf(deploymentId: string, server: { dataDir: string } = herm): string {
  return path.join(server.dataDir, 'workspaces', deploymentId);
}

/** Polls the deployment until it is no longer provisioning; returns it as the API shows it. */
async function settled(deploymentId: string, server: TestServer = herm): Promise<any> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const response = await server.request('GET', `/v1/deployments/${deploymentId}`);
    expect(response.status).toBe(200);
    if (response.body.status !== 'provisioning') return response.body;
    if (Date.now() > deadline) throw new Error(`deployment ${deploymentId} is still provisioning`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Deletes a deployment with retain_filesystem=true and returns its snapshot. */
async function snapshotOf(deployment: { deployment_id: string; customer_id: string }, server: TestServer = herm): Promise<any> {
  const deleted = await server.request('DELETE', `/v1/deployments/${deployment.deployment_id}?retain_filesystem=true`);
  expect(deleted.status).toBe(200);
  const list = await server.request('GET', `/v1/snapshots?customer_id=${deployment.customer_id}`);
  const snapshot = list.body.data.find((entry: { deployment_id: string }) => entry.deployment_id === deployment.deployment_id);
  expect(snapshot, 'a snapshot of the deleted deployment').toBeDefined();
  return snapshot;
}

/** Bytes a file takes on disk. */
function allocated(file: string): number {
  return fs.lstatSync(file).blocks * 512;
}

interface TarEntry {
  name: string;
  type: string;
  mode: number;
  linkName: string;
  content: string;
}

/** Reads a ustar/GNU archive: enough of the format to check names, types, link targets and contents. */
function readTar(archive: Buffer): TarEntry[] {
  const entries: TarEntry[] = [];
  let offset = 0;
  let longName: string | undefined;
  while (offset + 512 <= archive.length) {
    const header = archive.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) break;
    const text = (start: number, length: number) => header.subarray(start, start + length).toString('utf8').replace(/\0.*$/s, '');
    const size = Number.parseInt(text(124, 12).trim() || '0', 8);
    const type = text(156, 1) || '0';
    const prefix = text(345, 155);
    const body = archive.subarray(offset + 512, offset + 512 + size);
    offset += 512 + Math.ceil(size / 512) * 512;
    if (type === 'L') {
      longName = body.toString('utf8').replace(/\0.*$/s, '');
      continue;
    }
    const name = longName ?? (prefix ? `${prefix}/${text(0, 100)}` : text(0, 100));
    longName = undefined;
    const mode = Number.parseInt(text(100, 8).trim() || '0', 8);
    entries.push({ name: name.replace(/^\.\//, ''), type, mode, linkName: text(157, 100), content: body.toString('utf8') });
  }
  return entries;
}

async function download(snapshotId: string, key?: string) {
  const response = await fetch(`${herm.url}/v1/snapshots/${snapshotId}/content`, {
    headers: { authorization: `Bearer ${key ?? herm.adminKey}` },
  });
  return { status: response.status, headers: response.headers, bytes: Buffer.from(await response.arrayBuffer()) };
}

async function otherAccountKey(): Promise<string> {
  const accounts = herm.server.services.store.accounts;
  const account = await accounts.createAccount(`other-${Date.now()}`);
  return (await accounts.createKey({ accountId: account.id, scopes: ['deployments:read', 'deployments:write'] })).secret;
}

describe('snapshots', () => {
  let snapshotId: string;
  let customerId: string;
  let deletedId: string;

  it('keeps a tar.gz of the workspace on delete with retain_filesystem=true', async () => {
    const deployment = await herm.createDeployment();
    deletedId = deployment.deployment_id;
    customerId = deployment.customer_id;
    const workspace = workspaceOf(deletedId);
    fs.mkdirSync(path.join(workspace, 'briefs', 'q3'), { recursive: true });
    fs.writeFileSync(path.join(workspace, 'notes.md'), '# Notes\n');
    fs.writeFileSync(path.join(workspace, 'briefs', 'q3', 'brief.md'), 'Run at dawn.\n');
    fs.symlinkSync(outside, path.join(workspace, 'escape'));
    fs.symlinkSync('briefs/q3/brief.md', path.join(workspace, 'brief-link'));

    const deleted = await herm.request('DELETE', `/v1/deployments/${deletedId}?retain_filesystem=true`);
    expect(deleted.status).toBe(200);
    expect(fs.existsSync(workspace)).toBe(false);

    const list = await herm.request('GET', `/v1/snapshots?customer_id=${customerId}`);
    expect(list.status).toBe(200);
    expect(list.body.next_cursor).toBeNull();
    expect(list.body.data).toHaveLength(1);
    const snapshot = list.body.data[0];
    expect(snapshot).toMatchObject({ deployment_id: deletedId, customer_id: customerId });
    expect(snapshot.snapshot_id).toMatch(/^snap_/);
    expect(snapshot.size_bytes).toBeGreaterThan(0);
    const retentionMs = Date.parse(snapshot.expires_at) - Date.parse(snapshot.created_at);
    expect(Math.abs(retentionMs - 30 * 24 * 60 * 60 * 1000)).toBeLessThan(2_000);
    snapshotId = snapshot.snapshot_id;

    const fetched = await herm.request('GET', `/v1/snapshots/${snapshotId}`);
    expect(fetched.status).toBe(200);
    expect(fetched.body).toEqual(snapshot);
  });

  it('downloads the archive with symlinks stored as links, never followed', async () => {
    const response = await download(snapshotId);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/gzip');
    const entries = readTar(gunzipSync(response.bytes));
    const byName = new Map(entries.map((entry) => [entry.name.replace(/\/$/, ''), entry]));
    expect(byName.get('notes.md')).toMatchObject({ type: '0', content: '# Notes\n' });
    expect(byName.get('briefs/q3')).toMatchObject({ type: '5' });
    expect(byName.get('briefs/q3/brief.md')).toMatchObject({ type: '0', content: 'Run at dawn.\n' });
    expect(byName.get('escape')).toMatchObject({ type: '2', linkName: outside });
    expect(byName.get('brief-link')).toMatchObject({ type: '2', linkName: 'briefs/q3/brief.md' });
    expect(entries.some((entry) => entry.name.includes('secret.txt') || entry.content.includes('not yours'))).toBe(false);
  });

  it('restores into a new deployment in the background: provisioning at once, then ready with the files', async () => {
    const restored = await herm.createDeployment({ restore_snapshot_id: snapshotId });
    expect(restored.status).toBe('provisioning');
    const id = restored.deployment_id;
    expect(await settled(id)).toMatchObject({ status: 'ready' });
    const file = await herm.request('GET', `/v1/deployments/${id}/files/content?path=briefs/q3/brief.md`);
    expect(file.status).toBe(200);
    expect(file.body).toBe('Run at dawn.\n');
    expect(fs.readlinkSync(path.join(workspaceOf(id), 'escape'))).toBe(outside);
    // The link outside stays unreadable through the API.
    const escaped = await herm.request('GET', `/v1/deployments/${id}/files/content?path=escape/secret.txt`);
    expect(escaped.status).not.toBe(200);
    // Restoring does not use the snapshot up.
    expect((await herm.request('GET', `/v1/snapshots/${snapshotId}`)).status).toBe(200);
  });

  it('is reachable through the SDK: list, get, download, restore', async () => {
    const client = new Herm({ apiKey: herm.adminKey, baseURL: herm.url });
    const listed = [];
    for await (const snapshot of client.snapshots.list({ customer_id: customerId })) listed.push(snapshot.snapshot_id);
    expect(listed).toEqual([snapshotId]);
    expect(await client.snapshots.get(snapshotId)).toMatchObject({ snapshot_id: snapshotId, deployment_id: deletedId });
    const archive = Buffer.from(await client.snapshots.download(snapshotId));
    expect(readTar(gunzipSync(archive)).some((entry) => entry.name === 'briefs/q3/brief.md')).toBe(true);
    const restored = await client.deployments.create({
      customer_id: customerId,
      name: 'restored via SDK',
      system_prompt: 'p',
      model: 'openai-compatible/m',
      restore_snapshot_id: snapshotId,
    });
    expect(restored.status).toBe('provisioning');
    // As the API reference says: poll until ready.
    const deadline = Date.now() + 30_000;
    while ((await client.deployments.get(restored.deployment_id)).status === 'provisioning' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const file = await client.files.read(restored.deployment_id, { path: 'briefs/q3/brief.md' });
    expect(await file.text()).toBe('Run at dawn.\n');
    await expect(client.snapshots.get('snap_unknown')).rejects.toMatchObject({ status: 404 });
  });

  it('answers 404 naming restore_snapshot_id for an unknown snapshot, and 400 for a malformed one', async () => {
    const unknown = await herm.request('POST', '/v1/deployments', {
      customer_id: 'cus_x',
      name: 'x',
      system_prompt: 'x',
      restore_snapshot_id: 'snap_doesnotexist',
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({ type: 'not_found', param: 'restore_snapshot_id' });
    const malformed = await herm.request('POST', '/v1/deployments', { customer_id: 'cus_x', name: 'x', system_prompt: 'x', restore_snapshot_id: 'dep_1' });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.param).toBe('restore_snapshot_id');
  });

  it("hides a snapshot from other accounts (404) and requires a key", async () => {
    const key = await otherAccountKey();
    expect((await herm.request('GET', `/v1/snapshots/${snapshotId}`, undefined, key)).status).toBe(404);
    expect((await download(snapshotId, key)).status).toBe(404);
    const list = await herm.request('GET', '/v1/snapshots', undefined, key);
    expect(list.status).toBe(200);
    expect(list.body.data).toEqual([]);
    const restore = await herm.request(
      'POST',
      '/v1/deployments',
      { customer_id: 'cus_x', name: 'x', system_prompt: 'x', restore_snapshot_id: snapshotId },
      key,
    );
    expect(restore.status).toBe(404);
    expect(restore.body.error.param).toBe('restore_snapshot_id');
    expect((await herm.request('GET', '/v1/snapshots', undefined, null)).status).toBe(401);
  });

  it('is in the OpenAPI document', async () => {
    const document = await herm.request('GET', '/v1/openapi.json', undefined, null);
    expect(Object.keys(document.body.paths)).toEqual(
      expect.arrayContaining(['/v1/snapshots', '/v1/snapshots/{snapshot_id}', '/v1/snapshots/{snapshot_id}/content']),
    );
    expect(document.body.paths['/v1/snapshots/{snapshot_id}/content'].get.responses['200'].content).toHaveProperty('application/gzip');
    expect(document.body.components.schemas.CreateDeploymentRequest.properties).toHaveProperty('restore_snapshot_id');
  });

  it('keeps no snapshot when deleting without retain_filesystem', async () => {
    const deployment = await herm.createDeployment();
    fs.writeFileSync(path.join(workspaceOf(deployment.deployment_id), 'gone.txt'), 'bye\n');
    expect((await herm.request('DELETE', `/v1/deployments/${deployment.deployment_id}`)).status).toBe(200);
    expect(fs.existsSync(workspaceOf(deployment.deployment_id))).toBe(false);
    const list = await herm.request('GET', `/v1/snapshots?customer_id=${deployment.customer_id}`);
    expect(list.body.data).toEqual([]);
  });

  it('pages the list with limit and cursor', async () => {
    const customer = `cus_pages_${Date.now()}`;
    for (let index = 0; index < 3; index++) {
      const deployment = await herm.createDeployment({ customer_id: customer });
      expect((await herm.request('DELETE', `/v1/deployments/${deployment.deployment_id}?retain_filesystem=true`)).status).toBe(200);
    }
    const first = await herm.request('GET', `/v1/snapshots?customer_id=${customer}&limit=2`);
    expect(first.body.data).toHaveLength(2);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await herm.request('GET', `/v1/snapshots?customer_id=${customer}&limit=2&cursor=${first.body.next_cursor}`);
    expect(second.body.data).toHaveLength(1);
    expect(second.body.next_cursor).toBeNull();
    const ids = [...first.body.data, ...second.body.data].map((snapshot: { snapshot_id: string }) => snapshot.snapshot_id);
    expect(new Set(ids).size).toBe(3);
  });

  it('sweeps expired snapshots: gone from the API, the store and the disk', async () => {
    const { snapshots, store } = herm.server.services;
    const file = snapshots.file(snapshotId);
    expect(fs.existsSync(file)).toBe(true);
    await store.snapshots.setExpiresAt(snapshotId, Date.now() - 1);
    // Expired but not yet swept: already gone from the API.
    expect((await herm.request('GET', `/v1/snapshots/${snapshotId}`)).status).toBe(404);
    expect((await download(snapshotId)).status).toBe(404);
    const restore = await herm.request('POST', '/v1/deployments', {
      customer_id: 'cus_x',
      name: 'x',
      system_prompt: 'x',
      restore_snapshot_id: snapshotId,
    });
    expect(restore.status).toBe(404);
    expect(await snapshots.sweepExpired()).toBeGreaterThanOrEqual(1);
    expect(fs.existsSync(file)).toBe(false);
    expect(await store.snapshots.listExpired(Date.now())).toEqual([]);
    expect(await store.snapshots.get('acct_default', snapshotId, 0)).toBeUndefined();
  });
});

describe('snapshot sizes and modes', () => {
  it('archives a 4 GiB sparse file in a moment as a small archive, and restores it sparse', async () => {
    const deployment = await herm.createDeployment();
    const workspace = workspaceOf(deployment.deployment_id);
    const sparse = path.join(workspace, 'sparse.bin');
    fs.closeSync(fs.openSync(sparse, 'w'));
    fs.truncateSync(sparse, 4 * GIB);
    // A little data in the middle: the holes around it stay holes.
    const handle = fs.openSync(sparse, 'r+');
    fs.writeSync(handle, Buffer.from('needle'), 0, 6, 2 * GIB);
    fs.closeSync(handle);
    expect(allocated(sparse)).toBeLessThan(MIB);

    const started = performance.now();
    const snapshot = await snapshotOf(deployment);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(snapshot.size_bytes).toBeLessThan(64 * 1024);
    // What the files take on disk, not what they claim.
    expect(snapshot.content_bytes).toBeGreaterThan(0);
    expect(snapshot.content_bytes).toBeLessThan(MIB);

    const created = performance.now();
    const restored = await herm.createDeployment({ restore_snapshot_id: snapshot.snapshot_id });
    expect(performance.now() - created).toBeLessThan(2_000);
    expect(restored.status).toBe('provisioning');
    expect(await settled(restored.deployment_id)).toMatchObject({ status: 'ready' });
    const copy = path.join(workspaceOf(restored.deployment_id), 'sparse.bin');
    expect(fs.statSync(copy).size).toBe(4 * GIB);
    expect(allocated(copy)).toBeLessThan(MIB);
    const middle = Buffer.alloc(6);
    const reader = fs.openSync(copy, 'r');
    fs.readSync(reader, middle, 0, 6, 2 * GIB);
    fs.closeSync(reader);
    expect(middle.toString()).toBe('needle');
  });

  it('never keeps setuid or setgid bits: not in the archive, not after a restore', async () => {
    const deployment = await herm.createDeployment();
    const workspace = workspaceOf(deployment.deployment_id);
    fs.writeFileSync(path.join(workspace, 'shell'), '#!/bin/sh\nid\n');
    fs.chmodSync(path.join(workspace, 'shell'), 0o4755);
    fs.mkdirSync(path.join(workspace, 'shared'));
    fs.chmodSync(path.join(workspace, 'shared'), 0o2775);
    fs.writeFileSync(path.join(workspace, 'shared', 'group-tool'), 'x');
    fs.chmodSync(path.join(workspace, 'shared', 'group-tool'), 0o2711);
    expect(fs.statSync(path.join(workspace, 'shell')).mode & 0o4000).toBe(0o4000);

    const snapshot = await snapshotOf(deployment);
    const entries = readTar(gunzipSync((await download(snapshot.snapshot_id)).bytes));
    const byName = new Map(entries.map((entry) => [entry.name.replace(/\/$/, ''), entry]));
    expect(byName.get('shell')?.mode).toBe(0o755);
    expect(byName.get('shared')?.mode).toBe(0o775);
    expect(byName.get('shared/group-tool')?.mode).toBe(0o711);

    const restored = await herm.createDeployment({ restore_snapshot_id: snapshot.snapshot_id });
    expect(await settled(restored.deployment_id)).toMatchObject({ status: 'ready' });
    const copy = workspaceOf(restored.deployment_id);
    expect(fs.statSync(path.join(copy, 'shell')).mode & 0o7777).toBe(0o755);
    expect(fs.statSync(path.join(copy, 'shared')).mode & 0o7777).toBe(0o775);
    expect(fs.statSync(path.join(copy, 'shared', 'group-tool')).mode & 0o7777).toBe(0o711);
  });

  it('clears setuid bits that an archive of an older version kept, without following symlinks', async () => {
    // An archive as older versions wrote it: plain tar, modes as they were, no content_bytes.
    const source = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-old-snapshot-'));
    const target = path.join(outside, 'target-of-link');
    try {
      fs.writeFileSync(path.join(source, 'suid'), 'x');
      fs.chmodSync(path.join(source, 'suid'), 0o4755);
      fs.writeFileSync(target, 'y');
      fs.chmodSync(target, 0o4755);
      fs.symlinkSync(target, path.join(source, 'link'));
      const { snapshots, store } = herm.server.services;
      const id = newId('snapshot');
      fs.mkdirSync(path.dirname(snapshots.file(id)), { recursive: true });
      execFileSync('tar', ['--create', '--gzip', '--file', snapshots.file(id), '--directory', source, '.']);
      const now = Date.now();
      await store.snapshots.create({
        id,
        account_id: 'acct_default',
        deployment_id: 'dep_old',
        customer_id: 'cus_old',
        size_bytes: fs.statSync(snapshots.file(id)).size,
        content_bytes: null,
        created_at: now,
        expires_at: now + 60_000,
      });
      expect((await herm.request('GET', `/v1/snapshots/${id}`)).body.content_bytes).toBeNull();

      const restored = await herm.createDeployment({ restore_snapshot_id: id });
      expect(await settled(restored.deployment_id)).toMatchObject({ status: 'ready' });
      const copy = workspaceOf(restored.deployment_id);
      expect(fs.statSync(path.join(copy, 'suid')).mode & 0o7777).toBe(0o755);
      expect(fs.readlinkSync(path.join(copy, 'link'))).toBe(target);
      // The link's target outside the workspace is left alone.
      expect(fs.statSync(target).mode & 0o7777).toBe(0o4755);
    } finally {
      fs.rmSync(source, { recursive: true, force: true });
      fs.rmSync(target, { force: true });
    }
  });

  it('moves the deployment to error, with the reason, when the restore fails', async () => {
    const deployment = await herm.createDeployment();
    fs.writeFileSync(path.join(workspaceOf(deployment.deployment_id), 'a.txt'), 'a');
    const snapshot = await snapshotOf(deployment);
    // The archive lost behind the server's back.
    fs.rmSync(herm.server.services.snapshots.file(snapshot.snapshot_id));
    const restored = await herm.createDeployment({ restore_snapshot_id: snapshot.snapshot_id });
    expect(restored.status).toBe('provisioning');
    const failed = await settled(restored.deployment_id);
    expect(failed.status).toBe('error');
    expect(failed.status_reason).toMatch(new RegExp(`snapshot ${snapshot.snapshot_id} could not be restored`));
    const send = await herm.request('POST', `/v1/deployments/${restored.deployment_id}/messages`, { content: 'hi' });
    expect(send.status).toBe(409);
  });
});

describe('snapshot bounds', () => {
  it('refuses to snapshot a workspace that takes more than the server allows; the workspace is kept in retained/', async () => {
    const server = await startTestServer({ env: { HERM_SANDBOX_MAX_DISK_MB: '16' } });
    try {
      const deployment = await server.createDeployment();
      const workspace = workspaceOf(deployment.deployment_id, server);
      fs.writeFileSync(path.join(workspace, 'big.bin'), Buffer.alloc(20 * MIB, 1));
      // Apparent sizes do not count: a huge sparse file alone would be fine.
      expect((await server.request('DELETE', `/v1/deployments/${deployment.deployment_id}?retain_filesystem=true`)).status).toBe(200);
      const list = await server.request('GET', `/v1/snapshots?customer_id=${deployment.customer_id}`);
      expect(list.body.data).toEqual([]);
      expect(fs.existsSync(workspace)).toBe(false);
      expect(fs.statSync(path.join(server.dataDir, 'retained', deployment.deployment_id, 'big.bin')).size).toBe(20 * MIB);
      expect(fs.readdirSync(path.join(server.dataDir, 'snapshots')).filter((name) => name.endsWith('.partial'))).toEqual([]);

      const sparseOnly = await server.createDeployment();
      const sparse = path.join(workspaceOf(sparseOnly.deployment_id, server), 'sparse.bin');
      fs.closeSync(fs.openSync(sparse, 'w'));
      fs.truncateSync(sparse, 4 * GIB);
      const snapshot = await snapshotOf(sparseOnly, server);
      expect(snapshot.content_bytes).toBeLessThan(MIB);
    } finally {
      await server.close();
    }
  });

  it.skipIf(quotasUnavailable)("refuses a restore beyond the new deployment's disk quota (400 naming restore_snapshot_id), and restores into the quota", async () => {
    const server = await startTestServer({ env: { HERM_SANDBOX_DISK_MB: '20' } });
    try {
      const deployment = await server.createDeployment({ sandbox: { limits: { disk_mb: 64 } } });
      fs.writeFileSync(path.join(workspaceOf(deployment.deployment_id, server), 'big.bin'), Buffer.alloc(24 * MIB, 1));
      const snapshot = await snapshotOf(deployment, server);
      expect(snapshot.content_bytes).toBeGreaterThanOrEqual(24 * MIB);

      const body = { customer_id: 'cus_q', name: 'q', system_prompt: 'p', restore_snapshot_id: snapshot.snapshot_id };
      const small = await server.request('POST', '/v1/deployments', { ...body, sandbox: { limits: { disk_mb: 20 } } });
      expect(small.status).toBe(400);
      expect(small.body.error).toMatchObject({ type: 'validation_error', param: 'restore_snapshot_id' });
      expect(small.body.error.message).toContain('25 MB unpacked');
      expect(small.body.error.message).toContain('disk quota of 20 MB (sandbox.limits.disk_mb)');
      // The server's default quota counts the same.
      const byDefault = await server.request('POST', '/v1/deployments', body);
      expect(byDefault.status).toBe(400);
      expect(byDefault.body.error.param).toBe('restore_snapshot_id');
      expect(byDefault.body.error.message).toContain('HERM_SANDBOX_DISK_MB');
      expect((await server.request('GET', `/v1/deployments?customer_id=cus_q`)).body.data).toEqual([]);

      const fits = await server.request('POST', '/v1/deployments', { ...body, sandbox: { limits: { disk_mb: 64 } } });
      expect(fits.status).toBe(201);
      expect(fits.body.status).toBe('provisioning');
      expect(await settled(fits.body.deployment_id, server)).toMatchObject({ status: 'ready' });
      const workspace = workspaceOf(fits.body.deployment_id, server);
      // Unpacked into the quota's own file system, not the host's.
      expect(fs.existsSync(imagePath(workspace))).toBe(true);
      const stats = fs.statfsSync(workspace);
      expect(stats.blocks * stats.bsize).toBeLessThanOrEqual(64 * MIB);
      expect(fs.statSync(path.join(workspace, 'big.bin')).size).toBe(24 * MIB);

      // A snapshot of an older version has no recorded size: its restore runs into the quota and stops there.
      const { snapshots, store } = server.server.services;
      const unsized = newId('snapshot');
      fs.copyFileSync(snapshots.file(snapshot.snapshot_id), snapshots.file(unsized));
      const now = Date.now();
      await store.snapshots.create({ ...(await store.snapshots.get('acct_default', snapshot.snapshot_id, now))!, id: unsized, content_bytes: null });
      const overflow = await server.request('POST', '/v1/deployments', { ...body, restore_snapshot_id: unsized });
      expect(overflow.status).toBe(201);
      const failed = await settled(overflow.body.deployment_id, server);
      expect(failed.status).toBe('error');
      expect(failed.status_reason).toContain(`The snapshot ${unsized} could not be restored: its files do not fit in the workspace's disk quota of 20 MB`);
    } finally {
      await server.close();
    }
  });
});

describe('restore across a restart', () => {
  const children: ChildServer[] = [];
  afterAll(async () => {
    for (const child of children) await child.kill();
  });

  it('leaves a restore that a shutdown interrupted to the next start', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-restore-stop-'));
    try {
      const first = await startTestServer({ dataDir });
      const deployment = await first.createDeployment();
      fs.writeFileSync(path.join(workspaceOf(deployment.deployment_id, first), 'kept.txt'), 'kept\n');
      const snapshot = await snapshotOf(deployment, first);
      await first.close();

      const second = await startTestServer({ dataDir, env: { HERM_PROVISION_DELAY_MS: '600000' } });
      const restored = await second.createDeployment({ restore_snapshot_id: snapshot.snapshot_id });
      expect(restored.status).toBe('provisioning');
      const stopping = performance.now();
      await second.close();
      expect(performance.now() - stopping).toBeLessThan(5_000);

      const third = await startTestServer({ dataDir });
      try {
        expect(await settled(restored.deployment_id, third)).toMatchObject({ status: 'ready' });
        expect(fs.readFileSync(path.join(workspaceOf(restored.deployment_id, third), 'kept.txt'), 'utf8')).toBe('kept\n');
      } finally {
        await third.close();
      }
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('finishes a restore that a crash interrupted, from an empty workspace', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-restore-restart-'));
    const adminKey = `herm_sk_test_${randomBase62(24)}`;
    try {
      const first = await startTestServer({ dataDir, env: { HERM_ADMIN_KEY: adminKey } });
      const deployment = await first.createDeployment();
      const workspace = workspaceOf(deployment.deployment_id, first);
      fs.mkdirSync(path.join(workspace, 'notes'));
      fs.writeFileSync(path.join(workspace, 'notes', 'plan.md'), 'Ship it.\n');
      const snapshot = await snapshotOf(deployment, first);
      await first.close();

      const api = async (child: ChildServer, method: string, urlPath: string, body?: unknown) => {
        const response = await fetch(`${child.url}${urlPath}`, {
          method,
          headers: { authorization: `Bearer ${adminKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
          body: body ? JSON.stringify(body) : undefined,
        });
        return { status: response.status, body: (await response.json()) as any };
      };
      const env = { HERM_DATA_DIR: dataDir, HERM_ADMIN_KEY: adminKey };
      // Provisioning held back long enough to kill the server in the middle of it.
      const second = await startChildServer({ ...env, HERM_PROVISION_DELAY_MS: '600000' });
      children.push(second);
      const created = await api(second, 'POST', '/v1/deployments', {
        customer_id: 'cus_restart',
        name: 'restored',
        system_prompt: 'p',
        restore_snapshot_id: snapshot.snapshot_id,
      });
      expect(created.status).toBe(201);
      expect(created.body.status).toBe('provisioning');
      const id = created.body.deployment_id;
      await second.kill();
      // What an interrupted extraction leaves behind.
      const restoredWorkspace = path.join(dataDir, 'workspaces', id);
      fs.mkdirSync(path.join(restoredWorkspace, 'notes'), { recursive: true });
      fs.writeFileSync(path.join(restoredWorkspace, 'notes', 'plan.md'), 'Sh');
      fs.writeFileSync(path.join(restoredWorkspace, 'half-written.tmp'), 'partial');

      const third = await startChildServer(env);
      children.push(third);
      const deadline = Date.now() + 30_000;
      let current = (await api(third, 'GET', `/v1/deployments/${id}`)).body;
      while (current.status === 'provisioning' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        current = (await api(third, 'GET', `/v1/deployments/${id}`)).body;
      }
      expect(current.status, current.status_reason).toBe('ready');
      expect(fs.readFileSync(path.join(restoredWorkspace, 'notes', 'plan.md'), 'utf8')).toBe('Ship it.\n');
      expect(fs.existsSync(path.join(restoredWorkspace, 'half-written.tmp'))).toBe(false);
      await third.stop();
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('HERM_SNAPSHOT_RETENTION_DAYS', () => {
  it('sets how long snapshots are kept, and the start-up sweep removes expired ones', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-retention-'));
    try {
      const first = await startTestServer({ dataDir, env: { HERM_SNAPSHOT_RETENTION_DAYS: '0.5' } });
      const deployment = await first.createDeployment();
      await first.request('DELETE', `/v1/deployments/${deployment.deployment_id}?retain_filesystem=true`);
      const [snapshot] = (await first.request('GET', '/v1/snapshots')).body.data;
      expect(Date.parse(snapshot.expires_at) - Date.parse(snapshot.created_at)).toBe(12 * 60 * 60 * 1000);
      await first.server.services.store.snapshots.setExpiresAt(snapshot.snapshot_id, Date.now() - 1);
      const file = first.server.services.snapshots.file(snapshot.snapshot_id);
      await first.close();
      expect(fs.existsSync(file)).toBe(true);

      const second = await startTestServer({ dataDir });
      try {
        const deadline = Date.now() + 5_000;
        while (fs.existsSync(file) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
        expect(fs.existsSync(file)).toBe(false);
      } finally {
        await second.close();
      }
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
