// Workspace snapshots: delete with retain_filesystem=true keeps a tar.gz of the workspace (symlinks as
// symlinks), listed, fetched and downloaded through /v1/snapshots, restored into a new deployment, swept
// when expired, and invisible to other accounts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import Herm from 'herm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/test-server.ts';

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

function workspaceOf(deploymentId: string): string {
  return path.join(herm.dataDir, 'workspaces', deploymentId);
}

interface TarEntry {
  name: string;
  type: string;
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
    entries.push({ name: name.replace(/^\.\//, ''), type, linkName: text(157, 100), content: body.toString('utf8') });
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

  it('restores into a new deployment whose files read back through the Files API', async () => {
    const restored = await herm.createDeployment({ restore_snapshot_id: snapshotId });
    expect(restored.status).toBe('ready');
    const id = restored.deployment_id;
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
