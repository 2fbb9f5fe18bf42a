// `sandbox.persistent_filesystem: false` over real HTTP, real bubblewrap and a scripted model: each thread
// (a session) gets a workspace of its own, empty at first, kept across that thread's runs and removed
// when the thread is deleted, when the deployment is, or when the session has been idle long enough.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Herm, { APIError } from 'herm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bubblewrapUnavailable } from '../sandbox/bubblewrap-test-support.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

type Turns = Parameters<TestServer['model']['enqueue']>;

const toolResults = (request: TestServer['model']['requests'][number]) =>
  request.messages.filter((message) => message.role === 'tool').map((message) => message.text);

/** Runs the scripted turns as one run in the thread, waits for it to complete, and returns this run's tool results. */
async function runIn(herm: TestServer, deploymentId: string, threadId: string, ...turns: Turns): Promise<string[]> {
  const firstRequest = herm.model.requests.length;
  herm.model.enqueue(...turns);
  const run = await herm.sendAndWait(deploymentId, { thread_id: threadId });
  expect(run.status, JSON.stringify(run.error)).toBe('completed');
  // The thread's earlier runs are in the history too: only the results that came after this run's first request.
  return toolResults(herm.model.requests.at(-1)!).slice(toolResults(herm.model.requests[firstRequest]!).length);
}

const shell = (command: string) => ({ toolCalls: [{ name: 'shell', arguments: { command } }] });
const writeFile = (file: string, content: string) => ({ toolCalls: [{ name: 'write_file', arguments: { path: file, content } }] });
const done = { text: 'Done.' };

async function createThread(herm: TestServer, deploymentId: string): Promise<string> {
  const created = await herm.request('POST', `/v1/deployments/${deploymentId}/threads`, { title: 'session' });
  expect(created.status).toBe(201);
  return created.body.thread_id;
}

function sessionDir(herm: TestServer, deploymentId: string, threadId: string): string {
  return path.join(herm.dataDir, 'session-workspaces', deploymentId, threadId);
}

async function eventually(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

async function apiError(promise: Promise<unknown>): Promise<APIError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(APIError);
  return error as APIError;
}

describe.skipIf(bubblewrapUnavailable !== null)('a deployment without a persistent filesystem', () => {
  let herm: TestServer;
  let sdk: Herm;

  beforeAll(async () => {
    herm = await startTestServer();
    sdk = new Herm({ apiKey: herm.adminKey, baseURL: herm.url, maxRetries: 0 });
  });

  afterAll(async () => {
    await herm?.close();
  });

  it('gives each thread its own workspace: empty at first, kept across the runs of that thread only', async () => {
    const deployment = await herm.createDeployment({ sandbox: { persistent_filesystem: false } });
    const id: string = deployment.deployment_id;
    expect(deployment.sandbox).toMatchObject({ enabled: true, type: 'bubblewrap', persistent_filesystem: false });
    expect(deployment.filesystem).toEqual({ workspace_path: '/workspace', persistent: false });
    const threadA = await createThread(herm, id);
    const threadB = await createThread(herm, id);

    // Nothing exists for a session before it is used.
    expect(fs.existsSync(sessionDir(herm, id, threadA))).toBe(false);
    const [firstListing] = await runIn(herm, id, threadA, shell('ls -A /workspace | wc -l'), writeFile('notes.md', 'from A\n'), done);
    expect(firstListing).toMatch(/"stdout":"0\\n"/);
    expect(fs.readFileSync(path.join(sessionDir(herm, id, threadA), 'workspace', 'notes.md'), 'utf8')).toBe('from A\n');
    // The agent is told its workspace belongs to the conversation.
    const system = herm.model.requests.at(-1)!.messages.find((message) => message.role === 'system')!.text;
    expect(system).toContain('belongs to this conversation only');

    // The next run of the same thread finds the file…
    const [again] = await runIn(herm, id, threadA, shell('cat /workspace/notes.md'), done);
    expect(again).toContain('from A');
    // …another thread starts empty and cannot see it.
    const [other] = await runIn(herm, id, threadB, shell('ls -A /workspace | wc -l; cat /workspace/notes.md'), writeFile('b.txt', 'from B'), done);
    expect(other).toMatch(/"stdout":"0\\n"/);
    expect(other).toContain('No such file');
    expect(fs.readdirSync(path.join(sessionDir(herm, id, threadA), 'workspace'))).toEqual(['notes.md']);
    expect(fs.readdirSync(path.join(sessionDir(herm, id, threadB), 'workspace'))).toEqual(['b.txt']);
    // The persistent workspace is not used at all.
    expect(fs.readdirSync(path.join(herm.dataDir, 'workspaces', id))).toEqual([]);

    // Deleting a thread removes its workspace, and only its.
    const deleted = await herm.request('DELETE', `/v1/deployments/${id}/threads/${threadA}`);
    expect(deleted.status).toBe(200);
    expect(fs.existsSync(sessionDir(herm, id, threadA))).toBe(false);
    expect(fs.existsSync(path.join(sessionDir(herm, id, threadB), 'workspace', 'b.txt'))).toBe(true);

    // Deleting the deployment removes every session workspace.
    const gone = await herm.request('DELETE', `/v1/deployments/${id}`);
    expect(gone.status).toBe(200);
    expect(fs.existsSync(path.join(herm.dataDir, 'session-workspaces', id))).toBe(false);
  });

  it("serves the Files API on the workspace of the thread named by thread_id, and requires it", async () => {
    const { deployment_id: id } = await herm.createDeployment({ sandbox: { persistent_filesystem: false } });
    const threadA = await createThread(herm, id);
    const threadB = await createThread(herm, id);

    // Without thread_id the server cannot tell which workspace is meant.
    const missing = await herm.request('GET', `/v1/deployments/${id}/files`);
    expect(missing.status).toBe(400);
    expect(missing.body.error).toMatchObject({ type: 'validation_error', param: 'thread_id' });
    expect(missing.body.error.message).toContain('persistent_filesystem false');
    for (const call of [
      () => sdk.files.read(id, { path: 'a.md' }),
      () => sdk.files.write(id, { path: 'a.md', content: 'x' }),
      () => sdk.files.delete(id, { path: 'a.md' }),
    ]) {
      expect(await apiError(call())).toMatchObject({ status: 400, type: 'validation_error', param: 'thread_id' });
    }
    // An unknown thread is a 404 naming it; a malformed one a 400.
    expect(await apiError(sdk.files.list(id, { thread_id: 'thr_doesnotexist' }))).toMatchObject({ status: 404, type: 'not_found', param: 'thread_id' });
    expect(await apiError(sdk.files.read(id, { path: 'a.md', thread_id: 'thr_doesnotexist' }))).toMatchObject({ status: 404, param: 'thread_id' });
    expect((await herm.request('GET', `/v1/deployments/${id}/files?thread_id=nope`)).body.error).toMatchObject({ param: 'thread_id' });

    // A session that never ran lists empty; a file seeded before its first run is there for the agent.
    expect(await sdk.files.list(id, { thread_id: threadA })).toEqual({ path: '', entries: [] });
    await sdk.files.write(id, { thread_id: threadA, path: 'briefs/q3.md', content: '# Q3 brief\n' });
    const [seen] = await runIn(herm, id, threadA, shell('cat /workspace/briefs/q3.md'), writeFile('out.txt', 'output of A'), done);
    expect(seen).toContain('# Q3 brief');
    expect(await (await sdk.files.read(id, { thread_id: threadA, path: 'out.txt' })).text()).toBe('output of A');
    expect((await sdk.files.list(id, { thread_id: threadA })).entries.map((entry) => entry.name)).toEqual(['briefs', 'out.txt']);
    // Thread B's workspace is another one.
    expect(await sdk.files.list(id, { thread_id: threadB })).toEqual({ path: '', entries: [] });
    expect(await apiError(sdk.files.read(id, { thread_id: threadB, path: 'out.txt' }))).toMatchObject({ status: 404, param: 'path' });
    expect(await sdk.files.delete(id, { thread_id: threadA, path: 'briefs' })).toEqual({ path: 'briefs', deleted: true });
    expect((await sdk.files.list(id, { thread_id: threadA })).entries.map((entry) => entry.name)).toEqual(['out.txt']);
    // A deleted thread's workspace is gone with it.
    await herm.request('DELETE', `/v1/deployments/${id}/threads/${threadA}`);
    expect(await apiError(sdk.files.list(id, { thread_id: threadA }))).toMatchObject({ status: 404, param: 'thread_id' });
    expect(fs.existsSync(sessionDir(herm, id, threadA))).toBe(false);

    // The OpenAPI document describes thread_id on all four routes.
    const document = (await herm.request('GET', '/v1/openapi.json')).body;
    const files = document.paths['/v1/deployments/{deployment_id}/files'];
    const content = document.paths['/v1/deployments/{deployment_id}/files/content'];
    for (const operation of [files.get, files.put, files.delete, content.get]) {
      expect(operation.parameters.find((parameter: { name: string }) => parameter.name === 'thread_id')).toMatchObject({ in: 'query', required: false });
    }
    expect(document.components.schemas.SandboxInput.properties.persistent_filesystem.description).toContain('HERM_EPHEMERAL_WORKSPACE_IDLE_MS');
  });

  it('keeps persistent deployments as they were: one workspace shared by every thread, thread_id optional', async () => {
    const { deployment_id: id, thread_id: defaultThread } = await herm.createDeployment();
    const thread = await createThread(herm, id);
    await runIn(herm, id, defaultThread, writeFile('shared.md', 'for everyone'), done);
    const [seen] = await runIn(herm, id, thread, shell('cat /workspace/shared.md'), done);
    expect(seen).toContain('for everyone');
    expect(await (await sdk.files.read(id, { path: 'shared.md' })).text()).toBe('for everyone');
    // thread_id names the same, shared workspace; it must still be one of the deployment's threads.
    expect(await (await sdk.files.read(id, { path: 'shared.md', thread_id: thread })).text()).toBe('for everyone');
    expect(await apiError(sdk.files.list(id, { thread_id: 'thr_doesnotexist' }))).toMatchObject({ status: 404, param: 'thread_id' });
    expect(fs.existsSync(path.join(herm.dataDir, 'session-workspaces', id))).toBe(false);
    const system = herm.model.requests.at(-1)!.messages.find((message) => message.role === 'system')!.text;
    expect(system).toContain('Your persistent workspace is /workspace');
  });

  it('switches between the two on update: the persistent workspace stays put, session workspaces go', async () => {
    const { deployment_id: id, thread_id: defaultThread } = await herm.createDeployment();
    await runIn(herm, id, defaultThread, writeFile('kept.md', 'persistent'), done);

    const toSessions = await herm.request('PATCH', `/v1/deployments/${id}`, { sandbox: { persistent_filesystem: false } });
    expect(toSessions.status).toBe(200);
    expect(toSessions.body).toMatchObject({ sandbox: { persistent_filesystem: false }, filesystem: { persistent: false } });
    // New runs get a session workspace; the persistent one is left untouched on disk.
    const [fresh] = await runIn(herm, id, defaultThread, shell('ls -A /workspace | wc -l'), writeFile('session.md', 'ephemeral'), done);
    expect(fresh).toMatch(/"stdout":"0\\n"/);
    expect(fs.readFileSync(path.join(herm.dataDir, 'workspaces', id, 'kept.md'), 'utf8')).toBe('persistent');
    expect(fs.existsSync(path.join(sessionDir(herm, id, defaultThread), 'workspace', 'session.md'))).toBe(true);

    const back = await herm.request('PATCH', `/v1/deployments/${id}`, { sandbox: { persistent_filesystem: true } });
    expect(back.status).toBe(200);
    expect(await eventually(() => !fs.existsSync(sessionDir(herm, id, defaultThread)), 10_000)).toBe(true);
    const [persistent] = await runIn(herm, id, defaultThread, shell('ls -A /workspace'), done);
    expect(persistent).toContain('kept.md');
    expect(persistent).not.toContain('session.md');
  });

  it('snapshots the persistent workspace only on delete with retain_filesystem, and refuses restore_snapshot_id', async () => {
    const { deployment_id: id, thread_id: defaultThread } = await herm.createDeployment({ sandbox: { persistent_filesystem: false } });
    await runIn(herm, id, defaultThread, writeFile('session.md', 'ephemeral'), done);
    const deleted = await herm.request('DELETE', `/v1/deployments/${id}?retain_filesystem=true`);
    expect(deleted.status).toBe(200);
    expect(fs.existsSync(path.join(herm.dataDir, 'session-workspaces', id))).toBe(false);
    const snapshots = await herm.request('GET', '/v1/snapshots?limit=100');
    const snapshot = snapshots.body.data.find((entry: { deployment_id: string }) => entry.deployment_id === id);
    expect(snapshot).toBeDefined();

    const restored = await herm.request('POST', '/v1/deployments', {
      customer_id: 'cus_restore',
      name: 'n',
      system_prompt: 'p',
      sandbox: { persistent_filesystem: false },
      restore_snapshot_id: snapshot.snapshot_id,
    });
    expect(restored.status).toBe(400);
    expect(restored.body.error).toMatchObject({ type: 'validation_error', param: 'restore_snapshot_id' });
  });
});

describe.skipIf(bubblewrapUnavailable !== null)('the idle sweeper', () => {
  const IDLE_MS = 1_500;
  let herm: TestServer;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-sessions-'));
  const env = { HERM_EPHEMERAL_WORKSPACE_IDLE_MS: String(IDLE_MS) };

  beforeAll(async () => {
    herm = await startTestServer({ dataDir, env });
  });

  afterAll(async () => {
    await herm?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('leaves a workspace in use alone, removes it once idle, and the next run starts empty', async () => {
    const { deployment_id: id, thread_id: thread } = await herm.createDeployment({ sandbox: { persistent_filesystem: false } });
    // A run that outlasts the idle time keeps its workspace: the model thinks for twice the idle time between the tools.
    const slowThenCat = { text: ['thinking', '.', '.', '.', '.'], delayMs: Math.ceil(IDLE_MS / 2), ...shell('cat /workspace/notes.md') };
    const [, kept] = await runIn(herm, id, thread, writeFile('notes.md', 'draft'), slowThenCat, done);
    expect(kept).toContain('draft');
    // Idle now: swept within a few sweeps.
    expect(await eventually(() => !fs.existsSync(sessionDir(herm, id, thread)), 15_000)).toBe(true);
    const [empty] = await runIn(herm, id, thread, shell('ls -A /workspace | wc -l'), done);
    expect(empty).toMatch(/"stdout":"0\\n"/);
  });

  it('works from what is on disk: a workspace left by a stopped server is swept by the next one', async () => {
    const { deployment_id: id, thread_id: thread } = await herm.createDeployment({ sandbox: { persistent_filesystem: false } });
    await runIn(herm, id, thread, writeFile('notes.md', 'draft'), done);
    await herm.close();
    const workspace = path.join(sessionDir(herm, id, thread), 'workspace');
    expect(fs.readFileSync(path.join(workspace, 'notes.md'), 'utf8')).toBe('draft');
    herm = await startTestServer({ dataDir, env });
    expect(await eventually(() => !fs.existsSync(workspace), 15_000)).toBe(true);
  });
});
