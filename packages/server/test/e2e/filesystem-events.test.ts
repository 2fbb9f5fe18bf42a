// Filesystem events (features.filesystem_webhooks) end to end: a real server, real bubblewrap and the unsandboxed
// backend (and docker when a Docker API answers), a scripted model calling the built-in tools, the Files API over
// HTTP, and the events read off the SSE stream as a client reads them.
import Herm from 'herm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bubblewrapUnavailable } from '../sandbox/bubblewrap-test-support.ts';
import { dockerHost, dockerImage, dockerUnavailable } from '../sandbox/docker-test-support.ts';
import { openSse, type OpenSse, type WireEvent } from '../support/sse-client.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

type Turn = Parameters<TestServer['model']['enqueue']>[number];

const shell = (command: string): Turn => ({ toolCalls: [{ name: 'shell', arguments: { command } }] });
const writeFile = (path: string, content: string): Turn => ({ toolCalls: [{ name: 'write_file', arguments: { path, content } }] });
const editFile = (path: string, oldString: string, newString: string): Turn => ({
  toolCalls: [{ name: 'edit_file', arguments: { path, old_string: oldString, new_string: newString } }],
});
const readFile = (path: string): Turn => ({ toolCalls: [{ name: 'read_file', arguments: { path } }] });
const done: Turn = { text: 'Done.' };
// Memory off: its observer would call the (scripted) model after each run and take turns queued for the next.
const FILESYSTEM_EVENTS_ON = { filesystem_webhooks: true, memory: false };

/** The deployment's live stream, opened before anything happens in it. */
function streamOf(herm: TestServer, deploymentId: string): Promise<OpenSse> {
  return openSse(`${herm.url}/v1/deployments/${deploymentId}/events`, herm.adminKey);
}

/** Runs the turns as one run and returns its events from the stream, once its final status arrived. */
async function run(herm: TestServer, stream: OpenSse, deploymentId: string, turns: Turn[], message: Record<string, unknown> = {}): Promise<WireEvent[]> {
  herm.model.enqueue(...turns);
  const finished = await herm.sendAndWait(deploymentId, message);
  expect(finished.status, JSON.stringify(finished.error)).toBe('completed');
  await stream.waitFor((event) => event.type === 'run_status' && event.data.run_id === finished.run_id && event.data.status === 'completed');
  return stream.events.filter((event) => event.data.run_id === finished.run_id);
}

/** The filesystem events among `events`, as change, path and size. */
const changesIn = (events: WireEvent[]) =>
  events.filter((event) => event.type === 'filesystem').map(({ data }) => ({ change: data.change, path: data.path, size: data.size }));

/** The filesystem events of each tool call, in call order (checking they sit between the call and its result). */
function changesPerCall(events: WireEvent[]): Array<Array<{ change: string; path: string; size: number | null }>> {
  const calls: Array<Array<{ change: string; path: string; size: number | null }>> = [];
  let open: string | undefined;
  for (const event of events) {
    if (event.type === 'tool_call') {
      open = event.data.tool_call_id;
      calls.push([]);
    } else if (event.type === 'tool_result') {
      expect(event.data.tool_call_id).toBe(open);
      open = undefined;
    } else if (event.type === 'filesystem') {
      // Made by the call whose tool_call came before it, and sent before that call's tool_result.
      expect(open, `filesystem event outside a tool call: ${JSON.stringify(event.data)}`).toBeDefined();
      expect(event.data.tool_call_id).toBe(open);
      calls.at(-1)!.push({ change: event.data.change, path: event.data.path, size: event.data.size });
    }
  }
  return calls;
}

/** The filesystem events that arrive on the stream while `operation` runs (it waits for the last one it expects). */
async function fileEventsDuring(stream: OpenSse, operation: () => Promise<unknown>): Promise<WireEvent[]> {
  const before = stream.events.length;
  await operation();
  return stream.events.slice(before).filter((event) => event.type === 'filesystem');
}

describe.skipIf(bubblewrapUnavailable !== null)('filesystem events on bubblewrap', () => {
  let herm: TestServer;
  let sdk: Herm;

  beforeAll(async () => {
    // Unsandboxed allowed too: only the deployment that asks for it runs without a sandbox.
    herm = await startTestServer({ env: { HERM_FILESYSTEM_EVENTS_MAX_PER_COMMAND: '20', HERM_ALLOW_UNSANDBOXED: 'true' } });
    sdk = new Herm({ apiKey: herm.adminKey, baseURL: herm.url, maxRetries: 0 });
  });

  afterAll(async () => {
    await herm?.close();
  });

  it("reports what write_file, edit_file and shell calls change, with the run, before each call's tool_result", async () => {
    const deployment = await herm.createDeployment({ features: FILESYSTEM_EVENTS_ON });
    const id: string = deployment.deployment_id;
    expect(deployment.features.filesystem_webhooks).toBe(true);
    const stream = await streamOf(herm, id);
    try {
      const events = await run(herm, stream, id, [
        writeFile('notes/plan.md', 'step one\n'),
        // Appended twice, a scratch file made and removed, a new file: one event per file that is different after.
        shell('printf "two\\n" >> notes/plan.md; printf "three\\n" >> notes/plan.md; echo x > scratch.tmp; rm scratch.tmp; echo out > out.txt'),
        shell('mv out.txt renamed.txt'),
        editFile('notes/plan.md', 'step one', 'step 1'),
        readFile('notes/plan.md'),
        shell('true'),
        shell('rm notes/plan.md'),
        done,
      ]);
      expect(changesPerCall(events)).toEqual([
        [{ change: 'created', path: 'notes/plan.md', size: 9 }],
        [
          { change: 'modified', path: 'notes/plan.md', size: 19 },
          { change: 'created', path: 'out.txt', size: 4 },
        ],
        [
          { change: 'deleted', path: 'out.txt', size: null },
          { change: 'created', path: 'renamed.txt', size: 4 },
        ],
        [{ change: 'modified', path: 'notes/plan.md', size: 17 }],
        [],
        [],
        [{ change: 'deleted', path: 'notes/plan.md', size: null }],
      ]);
      const first = events.find((event) => event.type === 'filesystem')!;
      expect(first.data).toMatchObject({ run_id: expect.stringMatching(/^run_/), thread_id: deployment.thread_id, change: 'created', path: 'notes/plan.md', size: 9 });
      expect(first.id).toMatch(/^evt_/);
      // The shell tool's large output goes to .herm/tool-output: Herm's own files are never reported.
      const large = await run(herm, stream, id, [shell('head -c 40000 /dev/zero | tr "\\0" a'), done]);
      expect(large.find((event) => event.type === 'tool_result')!.data.result.stdout_file).toMatch(/^\/workspace\/\.herm\/tool-output\//);
      expect(changesIn(large)).toEqual([]);
    } finally {
      stream.close();
    }
  });

  it('finds the changes of the unsandboxed backend (sandbox.enabled false), which works in the workspace directory itself', async () => {
    const deployment = await herm.createDeployment({ sandbox: { enabled: false }, features: FILESYSTEM_EVENTS_ON });
    expect(deployment.sandbox).toMatchObject({ enabled: false, type: 'none' });
    const stream = await streamOf(herm, deployment.deployment_id);
    try {
      const events = await run(herm, stream, deployment.deployment_id, [writeFile('a.txt', 'abc'), shell('mv a.txt b.txt'), done]);
      expect(changesPerCall(events)).toEqual([
        [{ change: 'created', path: 'a.txt', size: 3 }],
        [
          { change: 'deleted', path: 'a.txt', size: null },
          { change: 'created', path: 'b.txt', size: 3 },
        ],
      ]);
    } finally {
      stream.close();
    }
  });

  it('sums up a command that changes more files than HERM_FILESYSTEM_EVENTS_MAX_PER_COMMAND in one truncated event', async () => {
    const { deployment_id: id } = await herm.createDeployment({ features: FILESYSTEM_EVENTS_ON });
    const stream = await streamOf(herm, id);
    try {
      const events = await run(herm, stream, id, [shell('mkdir -p build && for i in $(seq 100 149); do echo $i > build/$i.o; done'), done]);
      const changes = events.filter((event) => event.type === 'filesystem').map((event) => event.data);
      expect(changes).toHaveLength(20);
      expect(changes.slice(0, 19).every((change) => change.change === 'created' && /^build\/1\d\d\.o$/.test(change.path) && change.size === 4)).toBe(true);
      expect(changes[19]).toMatchObject({ change: 'modified', path: 'build/', size: null, truncated: true, omitted: 31 });
    } finally {
      stream.close();
    }
  });

  it('reports Files API uploads and deletes without a run, committed before the call answers', async () => {
    const { deployment_id: id } = await herm.createDeployment({ features: FILESYSTEM_EVENTS_ON });
    const stream = await streamOf(herm, id);
    try {
      const created = await fileEventsDuring(stream, async () => {
        await sdk.files.write(id, { path: 'briefs/q3-brief.md', content: '# Q3 brief\n' });
        // Already in the event log when the call answers: a client that reconnects now replays it.
        const stored = await herm.server.services.store.events.listAfter(id, 0, {}, 100);
        expect(stored.filter((event) => event.type === 'filesystem').map((event) => JSON.parse(event.json).path)).toEqual(['briefs/q3-brief.md']);
        await stream.waitFor((event) => event.type === 'filesystem' && event.data.path === 'briefs/q3-brief.md');
      });
      expect(created.map((event) => event.data)).toEqual([
        { run_id: null, thread_id: null, change: 'created', path: 'briefs/q3-brief.md', size: 11, created_at: expect.any(String) },
      ]);

      const overwritten = await fileEventsDuring(stream, async () => {
        await sdk.files.write(id, { path: '/workspace/briefs/q3-brief.md', content: '# Q3 brief, v2\n' });
        await stream.waitFor((event) => event.type === 'filesystem' && event.data.change === 'modified');
      });
      expect(overwritten.map((event) => event.data)).toMatchObject([{ change: 'modified', path: 'briefs/q3-brief.md', size: 15, run_id: null }]);
      // On a persistent workspace a thread named by the call changes nothing: the workspace is every thread's.
      const { thread_id: thread } = (await herm.request('GET', `/v1/deployments/${id}`)).body;
      const viaThread = await fileEventsDuring(stream, async () => {
        await sdk.files.write(id, { thread_id: thread, path: 'briefs/q3-brief.md', content: '# Q3 brief, v3\n' });
        await stream.waitFor((event) => event.type === 'filesystem' && event.data.size === 15 && event.data.path === 'briefs/q3-brief.md' && event !== overwritten[0]);
      });
      expect(viaThread.map((event) => event.data)).toMatchObject([{ change: 'modified', thread_id: null, run_id: null }]);

      await sdk.files.write(id, { path: 'briefs/q4-brief.md', content: 'later' });
      await stream.waitFor((event) => event.type === 'filesystem' && event.data.path === 'briefs/q4-brief.md');
      // A directory deleted with its files: one event per file.
      const deleted = await fileEventsDuring(stream, async () => {
        expect(await sdk.files.delete(id, { path: 'briefs' })).toEqual({ path: 'briefs', deleted: true });
        await stream.waitFor((event) => event.type === 'filesystem' && event.data.path === 'briefs/q4-brief.md' && event.data.change === 'deleted');
      });
      expect(deleted.map((event) => [event.data.change, event.data.path, event.data.size])).toEqual([
        ['deleted', 'briefs/q3-brief.md', null],
        ['deleted', 'briefs/q4-brief.md', null],
      ]);
      // Reading and listing change nothing; nor does a failed delete.
      const quiet = await fileEventsDuring(stream, async () => {
        await sdk.files.list(id);
        await sdk.files.delete(id, { path: 'missing.txt' }).catch(() => undefined);
        // Proof that nothing else is on its way: a later call's events arrive after everything before it.
        await sdk.files.write(id, { path: 'marker.txt', content: 'marker' });
        await stream.waitFor((event) => event.type === 'filesystem' && event.data.path === 'marker.txt');
      });
      expect(quiet.map((event) => event.data.path)).toEqual(['marker.txt']);
    } finally {
      stream.close();
    }
  });

  it('sends no filesystem event and walks no workspace without the feature; turning it on takes effect at the next run', async () => {
    const { deployment_id: id, features } = await herm.createDeployment({ features: { memory: false } });
    expect(features.filesystem_webhooks).toBe(false);
    const stream = await streamOf(herm, id);
    const tracker = herm.server.services.workspaceChanges;
    try {
      const walksBefore = tracker.snapshotsTaken;
      const events = await run(herm, stream, id, [writeFile('a.txt', 'a'), shell('echo b > b.txt; rm a.txt'), done]);
      await sdk.files.write(id, { path: 'c.txt', content: 'c' });
      await sdk.files.delete(id, { path: 'c.txt' });
      expect(events.filter((event) => event.type === 'tool_result')).toHaveLength(2);
      expect(tracker.snapshotsTaken).toBe(walksBefore);
      expect(stream.events.filter((event) => event.type === 'filesystem')).toEqual([]);

      const patched = await herm.request('PATCH', `/v1/deployments/${id}`, { features: FILESYSTEM_EVENTS_ON });
      expect(patched.status, JSON.stringify(patched.body)).toBe(200);
      expect(patched.body.features.filesystem_webhooks).toBe(true);
      const after = await run(herm, stream, id, [shell('rm b.txt'), done]);
      expect(changesIn(after)).toEqual([{ change: 'deleted', path: 'b.txt', size: null }]);
      expect(tracker.snapshotsTaken).toBeGreaterThan(walksBefore);
      // Nothing is held for a workspace once its commands are done.
      expect(tracker.activeWorkspaces).toBe(0);
    } finally {
      stream.close();
    }
  });

  it("names the thread of a per-thread workspace (sandbox.persistent_filesystem false), for runs and Files API calls", async () => {
    const deployment = await herm.createDeployment({ sandbox: { persistent_filesystem: false }, features: FILESYSTEM_EVENTS_ON });
    const id: string = deployment.deployment_id;
    const threadOf = async () => (await herm.request('POST', `/v1/deployments/${id}/threads`, { title: 'session' })).body.thread_id as string;
    const threadA = await threadOf();
    const threadB = await threadOf();
    const stream = await streamOf(herm, id);
    try {
      // The same path in two sessions: two workspaces, each reported with its thread.
      const inA = await run(herm, stream, id, [writeFile('notes.md', 'from A'), done], { thread_id: threadA });
      const inB = await run(herm, stream, id, [shell('echo "from B" > notes.md'), done], { thread_id: threadB });
      const fileEvent = (events: WireEvent[]) => events.find((event) => event.type === 'filesystem')!.data;
      expect(fileEvent(inA)).toMatchObject({ thread_id: threadA, change: 'created', path: 'notes.md', size: 6 });
      expect(fileEvent(inB)).toMatchObject({ thread_id: threadB, change: 'created', path: 'notes.md', size: 7 });

      await sdk.files.write(id, { thread_id: threadB, path: 'notes.md', content: 'seeded by the app' });
      const upload = await stream.waitFor((event) => event.type === 'filesystem' && event.data.run_id === null);
      expect(upload.data).toMatchObject({ run_id: null, thread_id: threadB, change: 'modified', path: 'notes.md', size: 17 });
    } finally {
      stream.close();
    }
  });
});

describe.skipIf(dockerUnavailable !== null)('filesystem events on docker', () => {
  let herm: TestServer;

  beforeAll(async () => {
    herm = await startTestServer({
      env: { HERM_SANDBOX: 'docker', ...(dockerHost ? { DOCKER_HOST: dockerHost } : {}), HERM_DOCKER_IMAGE: dockerImage, HERM_DOCKER_IDLE_MS: '2000' },
    });
  });

  afterAll(async () => {
    await herm?.close();
  });

  it("finds the changes of commands run in the deployment's container on its bind-mounted workspace", async () => {
    const deployment = await herm.createDeployment({ features: FILESYSTEM_EVENTS_ON });
    const id: string = deployment.deployment_id;
    expect(deployment.sandbox.type).toBe('docker');
    const stream = await streamOf(herm, id);
    try {
      const events = await run(herm, stream, id, [
        writeFile('report.md', 'draft'),
        shell('echo more >> report.md; mkdir -p out && echo 1 > out/a.txt; mv out/a.txt out/b.txt'),
        shell('rm report.md'),
        done,
      ]);
      expect(changesPerCall(events)).toEqual([
        [{ change: 'created', path: 'report.md', size: 5 }],
        [
          { change: 'created', path: 'out/b.txt', size: 2 },
          { change: 'modified', path: 'report.md', size: 10 },
        ],
        [{ change: 'deleted', path: 'report.md', size: null }],
      ]);
    } finally {
      stream.close();
    }
  });
});
