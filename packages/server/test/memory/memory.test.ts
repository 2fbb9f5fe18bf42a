// Observational memory end to end, on a real server with a real sandbox and the scripted model: the Memory API over
// the workspace files, the memory section of runs' prompts, the observer after runs (its request checked), deleted
// memories not re-learned, the agent's own file writes showing in the API, versions.
import Herm from 'herm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fileMemoryId } from '../../src/memory/memory-file.ts';
import type { ScriptedRequest, ScriptedTurn } from '../support/scripted-model-server.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { isObserverRequest, waitFor } from './memory-test-support.ts';

let herm: TestServer;

beforeAll(async () => {
  herm = await startTestServer({ env: { HERM_MEMORY_POLL_MS: '100', HERM_MEMORY_OBSERVE_IDLE_MS: '0' } });
});

afterAll(async () => {
  await herm?.close();
});

beforeEach(() => {
  herm.model.reset();
});

const systemOf = (request: ScriptedRequest | undefined) => (request?.messages[0]?.role === 'system' ? request.messages[0].text : '');
const runRequests = () => herm.model.requests.filter((request) => !isObserverRequest(request));
const observerRequests = () => herm.model.requests.filter(isObserverRequest);

/** Answers the observer's calls with `observer` (a reply or an error), and runs with `run` (default: a short text). */
function script(observer: () => ScriptedTurn, run: (request: ScriptedRequest) => ScriptedTurn = () => ({ text: 'Noted.' })): void {
  herm.model.setHandler((request) => (isObserverRequest(request) ? observer() : run(request)));
}

/** Waits until the observer is done with the thread: observed, nothing pending (or, `failed`, a failure recorded). */
async function observed(threadId: string, options: { failed?: boolean } = {}) {
  const memories = herm.server.services.store.memories;
  return waitFor(`the observer to finish thread ${threadId}`, async () => {
    const state = await memories.observation(threadId);
    if (!state) return undefined;
    return (options.failed ? state.attempts > 0 : !state.pending) && state;
  });
}

async function send(deploymentId: string, content: string, threadId = 'new') {
  const sent = await herm.request('POST', `/v1/deployments/${deploymentId}/messages`, { content, thread_id: threadId });
  expect(sent.status, JSON.stringify(sent.body)).toBe(202);
  const run = await waitFor('the run to end', async () => {
    const current = await herm.request('GET', `/v1/deployments/${deploymentId}/runs/${sent.body.run_id}`);
    return (current.body.status === 'completed' || current.body.status === 'error') && current.body;
  });
  return { run, threadId: sent.body.thread_id as string };
}

async function memories(deploymentId: string, query = ''): Promise<any[]> {
  const listed = await herm.request('GET', `/v1/deployments/${deploymentId}/memories${query}`);
  expect(listed.status, JSON.stringify(listed.body)).toBe(200);
  return listed.body.data;
}

describe('the Memory API', { timeout: 30_000 }, () => {
  it('creates, lists with q, limit and cursor, gets, updates and deletes memories as files the agent reads', async () => {
    const deployment = await herm.createDeployment();
    const id = deployment.deployment_id;
    const created = await herm.request('POST', `/v1/deployments/${id}/memories`, {
      content: "Acme's brand voice is playful but never sarcastic. Primary color #7C3AED.",
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      memory_id: expect.stringMatching(/^mem_/),
      content: "Acme's brand voice is playful but never sarcastic. Primary color #7C3AED.",
      source: 'api',
      priority: 'medium',
      path: `.herm/memory/${created.body.memory_id}.md`,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
    });
    const second = await herm.request('POST', `/v1/deployments/${id}/memories`, { content: 'Invoices go to billing@acme.example.', priority: 'low' });
    expect(second.status).toBe(201);

    // The file is in the workspace, where the agent finds it.
    const file = await herm.request('GET', `/v1/deployments/${id}/files/content?path=${encodeURIComponent(created.body.path)}`);
    expect(file.status).toBe(200);
    expect(file.body).toContain(`id: ${created.body.memory_id}`);
    expect(file.body).toContain('source: api');
    expect(file.body).toContain("Acme's brand voice is playful");

    expect((await memories(id)).map((memory) => memory.memory_id)).toEqual([second.body.memory_id, created.body.memory_id]);
    expect((await memories(id, '?q=BRAND%20voice')).map((memory) => memory.memory_id)).toEqual([created.body.memory_id]);
    const first = await herm.request('GET', `/v1/deployments/${id}/memories?limit=1`);
    expect(first.body.data).toHaveLength(1);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const rest = await herm.request('GET', `/v1/deployments/${id}/memories?limit=1&cursor=${first.body.next_cursor}`);
    expect(rest.body.data.map((memory: any) => memory.memory_id)).toEqual([created.body.memory_id]);
    expect(rest.body.next_cursor).toBeNull();

    const got = await herm.request('GET', `/v1/deployments/${id}/memories/${created.body.memory_id}`);
    expect(got.body).toEqual(created.body);
    const updated = await herm.request('PATCH', `/v1/deployments/${id}/memories/${created.body.memory_id}`, { content: 'Primary color #7C3AED, voice playful.' });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ memory_id: created.body.memory_id, content: 'Primary color #7C3AED, voice playful.', source: 'api' });
    const deleted = await herm.request('DELETE', `/v1/deployments/${id}/memories/${second.body.memory_id}`);
    expect(deleted).toMatchObject({ status: 200, body: { memory_id: second.body.memory_id, deleted: true } });
    expect((await herm.request('GET', `/v1/deployments/${id}/memories/${second.body.memory_id}`)).status).toBe(404);
    expect((await herm.request('GET', `/v1/deployments/${id}/files/content?path=${encodeURIComponent(second.body.path)}`)).status).toBe(404);

    // Every change is a version, the deleted memory's included.
    const versions = await herm.request('GET', `/v1/deployments/${id}/memories/${created.body.memory_id}/versions`);
    expect(versions.body.data).toMatchObject([
      { action: 'updated', actor: 'api', before: "Acme's brand voice is playful but never sarcastic. Primary color #7C3AED.", after: 'Primary color #7C3AED, voice playful.' },
      { action: 'created', actor: 'api', before: null, after: "Acme's brand voice is playful but never sarcastic. Primary color #7C3AED." },
    ]);
    const deletedVersions = await herm.request('GET', `/v1/deployments/${id}/memories/${second.body.memory_id}/versions`);
    expect(deletedVersions.body.data.map((version: any) => [version.action, version.actor])).toEqual([
      ['deleted', 'api'],
      ['created', 'api'],
    ]);
  });

  it("forgets a deleted deployment's memory and its versions", async () => {
    const { deployment_id: id } = await herm.createDeployment();
    const created = await herm.request('POST', `/v1/deployments/${id}/memories`, { content: 'Delete me with the deployment.' });
    const repository = herm.server.services.store.memories;
    expect(await repository.index(id)).toHaveLength(1);
    expect((await herm.request('DELETE', `/v1/deployments/${id}`)).status).toBe(200);
    expect(await repository.index(id)).toEqual([]);
    expect((await repository.versions(id, created.body.memory_id, { limit: 10 })).data).toEqual([]);
  });

  it('refuses bad input with a typed error naming the field, and unknown memories with a 404', async () => {
    const { deployment_id: id } = await herm.createDeployment();
    const empty = await herm.request('POST', `/v1/deployments/${id}/memories`, { content: '   ' });
    expect(empty).toMatchObject({ status: 400, body: { error: { type: 'validation_error', param: 'content' } } });
    const priority = await herm.request('POST', `/v1/deployments/${id}/memories`, { content: 'x', priority: 'urgent' });
    expect(priority).toMatchObject({ status: 400, body: { error: { type: 'validation_error', param: 'priority' } } });
    const long = await herm.request('POST', `/v1/deployments/${id}/memories`, { content: 'x'.repeat(8_001) });
    expect(long).toMatchObject({ status: 400, body: { error: { param: 'content' } } });
    const unknown = await herm.request('POST', `/v1/deployments/${id}/memories`, { content: 'x', source: 'agent' });
    expect(unknown).toMatchObject({ status: 400, body: { error: { type: 'validation_error', param: 'source' } } });
    const nothing = await herm.request('PATCH', `/v1/deployments/${id}/memories/mem_nope`, {});
    expect(nothing).toMatchObject({ status: 400, body: { error: { type: 'validation_error' } } });
    expect(await herm.request('GET', `/v1/deployments/${id}/memories/mem_nope`)).toMatchObject({ status: 404, body: { error: { type: 'not_found', param: 'memory_id' } } });
    expect((await herm.request('DELETE', `/v1/deployments/${id}/memories/mem_nope`)).status).toBe(404);
    expect((await herm.request('GET', `/v1/deployments/${id}/memories/mem_nope/versions`)).status).toBe(404);
    expect((await herm.request('GET', `/v1/deployments/${id}/memories/not_an_id`)).body.error).toMatchObject({ type: 'validation_error', param: 'memory_id' });
    expect((await herm.request('GET', `/v1/deployments/${id}/memories?limit=0`)).body.error).toMatchObject({ type: 'validation_error', param: 'limit' });
    expect((await herm.request('GET', `/v1/deployments/${id}/memories?cursor=garbage`)).body.error).toMatchObject({ type: 'validation_error', param: 'cursor' });
    expect((await herm.request('GET', `/v1/deployments/dep_nope/memories`)).status).toBe(404);
  });
});

describe('herm.memories', { timeout: 30_000 }, () => {
  it('lists, creates, gets, updates, lists versions of and deletes memories', async () => {
    const sdk = new Herm({ apiKey: herm.adminKey, baseURL: herm.url });
    const { deployment_id: id } = await herm.createDeployment();
    const memory = await sdk.memories.create(id, { content: "Acme's brand voice is playful but never sarcastic." });
    expect(memory).toMatchObject({ memory_id: expect.stringMatching(/^mem_/), source: 'api' });
    for (const content of ['Ships on Fridays.', 'Prefers short captions.']) await sdk.memories.create(id, { content, priority: 'low' });
    const { data } = await sdk.memories.list(id, { q: 'brand' });
    expect(data.map((entry) => entry.memory_id)).toEqual([memory.memory_id]);
    const all: string[] = [];
    for await (const entry of sdk.memories.list(id, { limit: 1 })) all.push(entry.content);
    expect(all).toEqual(['Prefers short captions.', 'Ships on Fridays.', "Acme's brand voice is playful but never sarcastic."]);
    expect(await sdk.memories.get(id, memory.memory_id)).toEqual(memory);
    const updated = await sdk.memories.update(id, memory.memory_id, { content: 'Playful voice, never sarcastic.' });
    expect(updated.content).toBe('Playful voice, never sarcastic.');
    const versions = await sdk.memories.versions(id, memory.memory_id);
    expect(versions.data.map((version) => [version.action, version.actor])).toEqual([
      ['updated', 'api'],
      ['created', 'api'],
    ]);
    expect(await sdk.memories.delete(id, memory.memory_id)).toEqual({ memory_id: memory.memory_id, deleted: true });
    await expect(sdk.memories.get(id, memory.memory_id)).rejects.toMatchObject({ status: 404 });
  });
});

describe('memory in the prompt', { timeout: 30_000 }, () => {
  it('puts memory seeded by the API in the system prompt of a new thread, and an API edit in the next run', async () => {
    script(() => ({ text: 'NONE' }));
    const { deployment_id: id } = await herm.createDeployment();
    const seeded = await herm.request('POST', `/v1/deployments/${id}/memories`, { content: 'Always end videos with the Acme logo sting.', priority: 'high' });
    const { run, threadId } = await send(id, 'Make me a video.');
    expect(run.status).toBe('completed');
    const system = systemOf(runRequests().at(-1));
    expect(system).toContain('# Memory');
    expect(system).toContain(`high] Always end videos with the Acme logo sting. (${seeded.body.memory_id})`);
    expect(system).toContain('/workspace/.herm/memory/');
    await observed(threadId);

    await herm.request('PATCH', `/v1/deployments/${id}/memories/${seeded.body.memory_id}`, { content: 'End videos with the new Acme logo sting (v2).' });
    const next = await send(id, 'Another one.');
    const nextSystem = systemOf(runRequests().at(-1));
    expect(nextSystem).toContain('End videos with the new Acme logo sting (v2).');
    expect(nextSystem).not.toContain('Always end videos with the Acme logo sting.');
    await observed(next.threadId);
  });

  it('has no memory section and no observer with features.memory false', async () => {
    script(() => ({ text: '- [high] Should never be recorded.' }));
    const { deployment_id: id } = await herm.createDeployment({ features: { memory: false } });
    await herm.request('POST', `/v1/deployments/${id}/memories`, { content: 'A seeded fact.' });
    const { run, threadId } = await send(id, 'I like blue.');
    expect(run.status).toBe('completed');
    expect(systemOf(runRequests().at(-1))).not.toContain('# Memory');
    // The next run's end would mark the thread; give a marker the time to appear, then check none did.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await herm.server.services.store.memories.observation(threadId)).toBeUndefined();
    expect(observerRequests()).toHaveLength(0);
  });

  it('keeps memory of a deployment without a persistent workspace, read-only to the agent', async () => {
    script(() => ({ text: 'NONE' }));
    const { deployment_id: id } = await herm.createDeployment({ sandbox: { persistent_filesystem: false } });
    const seeded = await herm.request('POST', `/v1/deployments/${id}/memories`, { content: 'The customer is called Dana.' });
    expect(seeded.status).toBe(201);
    const { threadId } = await send(id, 'Hi');
    const system = systemOf(runRequests().at(-1));
    expect(system).toContain('The customer is called Dana.');
    expect(system).toContain('you cannot edit it with your file tools');
    await observed(threadId);
  });
});

describe('the observer', { timeout: 30_000 }, () => {
  const FACT = 'Always end videos with the Acme logo sting.';

  it('observes a fact stated once, and a new thread knows it', async () => {
    script(() => ({ text: `Observations:\n- [high] ${FACT}\n- [low] The customer greets with "hey".` }));
    const { deployment_id: id } = await herm.createDeployment();
    const { run, threadId } = await send(id, 'hey! always end our videos with our logo sting, ok?');
    expect(run.status).toBe('completed');
    await observed(threadId);

    const request = observerRequests().at(-1)!;
    expect(request.lastUserText).toContain('## New messages');
    expect(request.lastUserText).toContain('customer: hey! always end our videos with our logo sting, ok?');
    expect(request.lastUserText).toContain('agent: Noted.');

    const learned = await memories(id);
    expect(learned.map((memory) => [memory.content, memory.source, memory.priority]).sort()).toEqual(
      [
        [FACT, 'agent', 'high'],
        ['The customer greets with "hey".', 'agent', 'low'],
      ].sort(),
    );
    const fact = learned.find((memory) => memory.content === FACT);
    const versions = await herm.request('GET', `/v1/deployments/${id}/memories/${fact.memory_id}/versions`);
    expect(versions.body.data).toMatchObject([{ action: 'created', actor: 'observer', after: FACT, thread_id: threadId }]);

    const next = await send(id, 'Make a new video.');
    expect(next.threadId).not.toBe(threadId);
    expect(systemOf(runRequests().at(-1))).toContain(`high] ${FACT}`);
    await observed(next.threadId);
    // The second observation was told what memory holds already.
    expect(observerRequests().at(-1)!.lastUserText).toContain(`## Memory now (do not record these again)\n- [high] ${FACT}`);
  });

  it('leaves the run completed when the observer fails, and retries later', async () => {
    script(() => ({ error: { status: 500, message: 'observer model down' } }));
    const { deployment_id: id } = await herm.createDeployment();
    const { run, threadId } = await send(id, 'Always use British spelling.');
    expect(run.status).toBe('completed');
    const state = await observed(threadId, { failed: true });
    expect(state.pending).toBe(true);
    expect(state.due_at).toBeGreaterThan(Date.now());
    expect(observerRequests().length).toBeGreaterThan(0);
    expect((await herm.request('GET', `/v1/deployments/${id}/runs/${run.run_id}`)).body.status).toBe('completed');
    expect(await memories(id)).toEqual([]);
  });

  it('does not re-learn a deleted memory from the old thread, unless the customer repeats it', async () => {
    script(() => ({ text: `- [high] ${FACT}` }));
    const { deployment_id: id } = await herm.createDeployment();
    const { threadId } = await send(id, 'Always end videos with the Acme logo sting.');
    await observed(threadId);
    const [learned] = await memories(id);
    expect(learned.content).toBe(FACT);
    expect((await herm.request('DELETE', `/v1/deployments/${id}/memories/${learned.memory_id}`)).status).toBe(200);

    // The old thread goes on; the observer (scripted) proposes the deleted fact again.
    await send(id, 'Thanks, that is all for today.', threadId);
    await observed(threadId);
    const request = observerRequests().at(-1)!;
    expect(request.lastUserText).toContain(`## Deleted memories (deleted on purpose: do not record these again unless the customer states them again in the new messages)\n- ${FACT}`);
    expect(request.lastUserText).not.toContain('customer: Always end videos');
    expect(await memories(id)).toEqual([]);

    // The customer says it again: it is learned again.
    await send(id, 'Please remember: always end videos with the Acme logo sting.', threadId);
    await observed(threadId);
    expect((await memories(id)).map((memory) => memory.content)).toEqual([FACT]);
  });
});

describe("the agent's own memory files", { timeout: 30_000 }, () => {
  it("shows the agent's write_file to the memory directory in the API, with versions, and an API edit in its file", async () => {
    script(
      () => ({ text: 'NONE' }),
      (request) => {
        const last = request.messages.at(-1);
        if (last?.role === 'tool') return { text: 'Saved.' };
        if (request.lastUserText?.startsWith('Remember')) {
          return { toolCalls: [{ name: 'write_file', arguments: { path: '/workspace/.herm/memory/brand.md', content: 'Primary color is #7C3AED.\n' } }] };
        }
        if (request.lastUserText?.startsWith('Change')) {
          return { toolCalls: [{ name: 'write_file', arguments: { path: '.herm/memory/brand.md', content: 'Primary color is #5B21B6.\n' } }] };
        }
        return { text: 'Ok.' };
      },
    );
    const { deployment_id: id } = await herm.createDeployment();
    const first = await send(id, 'Remember our primary color is #7C3AED.');
    expect(first.run.status).toBe('completed');
    await observed(first.threadId);

    // An ordinary tool call, answered by the ordinary tool.
    const answered = runRequests().find((request) => request.messages.some((message) => message.toolCalls.some((call) => call.name === 'write_file')));
    expect(answered?.messages.at(-1)).toMatchObject({ role: 'tool' });
    expect(answered?.messages.at(-1)?.text).not.toMatch(/error/i);
    const memoryId = fileMemoryId('brand.md');
    expect(await memories(id)).toEqual([
      expect.objectContaining({ memory_id: memoryId, content: 'Primary color is #7C3AED.', source: 'agent', path: '.herm/memory/brand.md' }),
    ]);

    await send(id, 'Change the color to #5B21B6.', first.threadId);
    await observed(first.threadId);
    const got = await herm.request('GET', `/v1/deployments/${id}/memories/${memoryId}`);
    expect(got.body).toMatchObject({ memory_id: memoryId, content: 'Primary color is #5B21B6.' });
    const versions = await herm.request('GET', `/v1/deployments/${id}/memories/${memoryId}/versions`);
    expect(versions.body.data).toMatchObject([
      { action: 'updated', actor: 'agent', before: 'Primary color is #7C3AED.', after: 'Primary color is #5B21B6.' },
      { action: 'created', actor: 'agent', before: null, after: 'Primary color is #7C3AED.' },
    ]);

    // An API edit of the hand-written file keeps its id, and is what the agent reads next.
    const patched = await herm.request('PATCH', `/v1/deployments/${id}/memories/${memoryId}`, { content: 'Primary color is #4C1D95.', priority: 'high' });
    expect(patched.body).toMatchObject({ memory_id: memoryId, content: 'Primary color is #4C1D95.', priority: 'high', path: '.herm/memory/brand.md' });
    const file = await herm.request('GET', `/v1/deployments/${id}/files/content?path=.herm/memory/brand.md`);
    expect(file.body).toContain(`id: ${memoryId}`);
    expect(file.body).toContain('Primary color is #4C1D95.');
    const next = await send(id, 'What is our color?');
    expect(systemOf(runRequests().at(-1))).toContain(`high] Primary color is #4C1D95. (${memoryId})`);
    await observed(next.threadId);
    expect((await herm.request('GET', `/v1/deployments/${id}/memories/${memoryId}/versions`)).body.data[0]).toMatchObject({ actor: 'api', action: 'updated' });
  });

  it('never follows a symlink in the memory directory out of the workspace', async () => {
    script(
      () => ({ text: 'NONE' }),
      (request) =>
        request.messages.at(-1)?.role === 'tool'
          ? { text: 'Done.' }
          : {
              toolCalls: [
                {
                  name: 'shell',
                  arguments: {
                    command:
                      'mkdir -p /workspace/.herm/memory && printf "Kept inside.\\n" > /workspace/notes.md && ' +
                      'ln -s /etc/passwd /workspace/.herm/memory/leak.md && ln -s ../../notes.md /workspace/.herm/memory/inside.md',
                  },
                },
              ],
            },
    );
    const { deployment_id: id } = await herm.createDeployment();
    const { run, threadId } = await send(id, 'Go.');
    expect(run.status).toBe('completed');
    await observed(threadId);
    const listed = await memories(id);
    expect(listed.map((memory) => memory.content)).toEqual(['Kept inside.']);
    expect(JSON.stringify(listed)).not.toContain('root:');
  });
});
