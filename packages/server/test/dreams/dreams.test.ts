// Dreaming on a real server (bubblewrap sandbox, SQLite) with the scripted model and an injected clock: a deployment
// idle for HERM_DREAM_IDLE_MS after a customer's run dreams once (a run with trigger "dream", its own events on the
// stream); the dream's model sees the conversation and the memory; what it writes with its file tools becomes a
// learned skill in the Skills API (source learned) and a consolidated memory; the dream's changes are listed and a
// rollback undoes them. Also: no dream beside an active run, once per idle period, a customer's run stops a dream,
// a learned skill named like a product skill is not taken, and a learned skill reaches the next run's prompt.
import fs from 'node:fs';
import path from 'node:path';
import Herm, { ConflictError } from 'herm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DREAM_HEADER, LEARNED_SKILLS_PATH } from '../../src/dreams/dream-prompt.ts';
import { MEMORY_PATH } from '../../src/memory/memory-file.ts';
import type { ScriptedRequest, ScriptedTurn } from '../support/scripted-model-server.ts';
import { openSse, type WireEvent } from '../support/sse-client.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { waitFor } from '../memory/memory-test-support.ts';

const IDLE_MS = 3_600_000;
const clock = {
  at: Date.parse('2026-06-15T08:00:00Z'),
  now() {
    return this.at;
  },
};

let herm: TestServer;

beforeAll(async () => {
  herm = await startTestServer({ clock, env: { HERM_DREAM_IDLE_MS: String(IDLE_MS), HERM_DREAM_POLL_MS: '3600000', HERM_MEMORY_OBSERVE_IDLE_MS: '3600000' } });
});

afterAll(async () => {
  await herm?.close();
});

vi.setConfig({ testTimeout: 30_000 });

const isDream = (request: ScriptedRequest) => request.messages.some((message) => message.role === 'user' && message.text.startsWith(DREAM_HEADER));
const toolResults = (request: ScriptedRequest) => request.messages.filter((message) => message.role === 'tool').length;

const SKILL = [
  '---',
  'name: acme-video-brief',
  'description: How Acme wants video briefs written (learned from their corrections)',
  '---',
  '1. Keep every video under thirty seconds.',
  '2. End with the logo sting.',
  '',
].join('\n');

/** The dream's script: write a learned skill, rewrite one memory file, then summarise. */
function dreamScript(memoryId: string) {
  return (request: ScriptedRequest): ScriptedTurn => {
    if (!isDream(request)) return { text: 'Sure.' };
    const done = toolResults(request);
    if (done === 0) return { toolCalls: [{ name: 'write_file', arguments: { path: `${LEARNED_SKILLS_PATH}/acme-video-brief/SKILL.md`, content: SKILL } }] };
    if (done === 1) {
      return {
        toolCalls: [{ name: 'write_file', arguments: { path: `${MEMORY_PATH}/${memoryId}.md`, content: 'Videos stay under thirty seconds and end with the logo sting.\n' } }],
      };
    }
    return { text: 'Learned the brief format; merged the video notes.' };
  };
}

/** Moves the clock and runs this node's dream pass; returns how many dreams it started. */
async function advance(ms: number): Promise<number> {
  clock.at += ms;
  return herm.server.services.dreamScheduler.tick();
}

async function waitForDreamEnd(deploymentId: string, dreamId: string): Promise<any> {
  return waitFor(`dream ${dreamId} ended`, async () => {
    const dream = await herm.request('GET', `/v1/deployments/${deploymentId}/dreams/${dreamId}`);
    return dream.body.status !== 'running' && dream.body;
  }, 20_000);
}

describe('dreaming', () => {
  it('dreams once after an idle period: a learned skill and consolidated memory, listed as changes, and a rollback undoes them', async () => {
    const deployment = await herm.createDeployment({
      features: { dreaming: true },
      skills: [{ name: 'brief', source: 'inline', content: '---\nname: brief\ndescription: Write a brief\n---\nWrite it.' }],
    });
    const id = deployment.deployment_id;
    const seeded = await herm.request('POST', `/v1/deployments/${id}/memories`, { content: 'Videos must stay under thirty seconds.' });
    expect(seeded.status).toBe(201);
    const memoryId = seeded.body.memory_id;
    herm.model.setHandler(dreamScript(memoryId));
    const stream = await openSse(`${herm.url}/v1/deployments/${id}/events`, herm.adminKey);
    try {
      const run = await herm.sendAndWait(id, { content: 'Remember: always end our videos with the logo sting.' });
      expect(run.status).toBe('completed');
      // Not idle long enough yet: no dream.
      expect(await advance(IDLE_MS - 60_000)).toBe(0);
      expect(herm.model.requests.some(isDream)).toBe(false);
      // Idle long enough: one dream, and only one for this idle period.
      expect(await advance(120_000)).toBe(1);
      expect(await advance(IDLE_MS * 2)).toBe(0);
      const listed = await herm.request('GET', `/v1/deployments/${id}/dreams`);
      expect(listed.body.data).toHaveLength(1);
      const [started] = listed.body.data;
      expect(started).toMatchObject({ reason: 'idle', deployment_id: id });
      const dream = await waitForDreamEnd(id, started.dream_id);
      expect(dream, JSON.stringify(dream.changes)).toMatchObject({ status: 'completed', memories_changed: 1, skills_changed: 1, error: null });

      // The dream's model saw the conversation since the last dream and the memory in its system prompt.
      const dreamRequest = herm.model.requests.find(isDream)!;
      const prompt = dreamRequest.messages.find((message) => message.role === 'user' && message.text.startsWith(DREAM_HEADER))!.text;
      expect(prompt).toContain('customer: Remember: always end our videos with the logo sting.');
      expect(prompt).toContain('brief');
      expect(dreamRequest.messages[0]!.text).toContain('Videos must stay under thirty seconds.');

      // A run with its own trigger, on the deployment's stream, between dream_started and dream_completed.
      const dreamRun = await herm.request('GET', `/v1/deployments/${id}/runs/${dream.run_id}`);
      expect(dreamRun.body).toMatchObject({ trigger: 'dream', status: 'completed', thread_id: dream.thread_id });
      const completed = await stream.waitFor((event: WireEvent) => event.type === 'dream_completed');
      expect(completed.data).toMatchObject({ dream_id: dream.dream_id, status: 'completed', memories_changed: 1, skills_changed: 1 });
      const types = stream.events.filter((event) => event.data.run_id === dream.run_id).map((event) => event.type);
      expect(types[0]).toBe('dream_started');
      expect(types).toContain('tool_call');
      expect(types.at(-1)).toBe('dream_completed');

      // What it changed, before and after.
      expect(dream.changes).toEqual([
        {
          kind: 'memory',
          memory_id: memoryId,
          action: 'updated',
          before: 'Videos must stay under thirty seconds.',
          after: 'Videos stay under thirty seconds and end with the logo sting.',
          priority: 'medium',
        },
        { kind: 'skill', name: 'acme-video-brief', skill_id: expect.stringMatching(/^skl_/), action: 'created', before: null, after: SKILL },
      ]);
      const memory = await herm.request('GET', `/v1/deployments/${id}/memories/${memoryId}/versions`);
      expect(memory.body.data[0]).toMatchObject({ action: 'updated', actor: 'dream' });
      // The dream's thread is never observed for memory (it holds copies of the conversations).
      expect(await herm.server.services.store.memories.observation(dream.thread_id)).toBeUndefined();
      expect(dreamRun.body.trigger).toBe('dream');
      const runStatus = stream.events.find((event) => event.type === 'run_status' && event.data.run_id === dream.run_id);
      expect(runStatus?.data).toMatchObject({ trigger: 'dream' });

      // The learned skill in the Skills API, after the product's, with its source; its content on get.
      const skills = await herm.request('GET', `/v1/deployments/${id}/skills`);
      expect(skills.body.data.map((skill: any) => [skill.name, skill.source])).toEqual([
        ['brief', 'inline'],
        ['acme-video-brief', 'learned'],
      ]);
      const learned = skills.body.data[1];
      expect(learned).toMatchObject({ dream_id: dream.dream_id, description: 'How Acme wants video briefs written (learned from their corrections)', location: '/skills/acme-video-brief/SKILL.md' });
      expect((await herm.request('GET', `/v1/deployments/${id}/skills/${learned.skill_id}`)).body.content).toBe(SKILL);
      const put = await herm.request('PUT', `/v1/deployments/${id}/skills/${learned.skill_id}`, { source: 'inline', content: SKILL });
      expect(put.status).toBe(409);
      expect(put.body.error).toMatchObject({ type: 'conflict', param: 'skill_id' });

      // The next run lists it (name and description) and can read it at /skills.
      herm.model.setHandler((request) => {
        if (toolResults(request) === 0) return { toolCalls: [{ name: 'read_file', arguments: { path: '/skills/acme-video-brief/SKILL.md' } }] };
        return { text: 'Read it.' };
      });
      const next = await herm.sendAndWait(id, { content: 'Write a brief.' });
      expect(next.status).toBe('completed');
      const nextRequests = herm.model.requests.filter((request) => request.messages.some((message) => message.text === 'Write a brief.'));
      expect(nextRequests[0]!.messages[0]!.text).toContain('acme-video-brief [learned for this customer]: How Acme wants video briefs written');
      expect(nextRequests.at(-1)!.messages.find((message) => message.role === 'tool')!.text).toContain('End with the logo sting.');

      // Rollback: the memory as it was, the learned skill gone (from the API and the workspace).
      const rolled = await herm.request('POST', `/v1/deployments/${id}/dreams/${dream.dream_id}/rollback`);
      expect(rolled.status).toBe(200);
      expect(rolled.body).toMatchObject({ status: 'rolled_back', rolled_back_at: expect.any(String) });
      expect((await herm.request('GET', `/v1/deployments/${id}/memories/${memoryId}`)).body.content).toBe('Videos must stay under thirty seconds.');
      const after = await herm.request('GET', `/v1/deployments/${id}/skills`);
      expect(after.body.data.map((skill: any) => skill.name)).toEqual(['brief']);
      const file = await herm.request('GET', `/v1/deployments/${id}/files/content?path=${encodeURIComponent('.herm/learned-skills/acme-video-brief/SKILL.md')}`);
      expect(file.status).toBe(404);
      const again = await herm.request('POST', `/v1/deployments/${id}/dreams/${dream.dream_id}/rollback`);
      expect(again.status).toBe(409);
      await stream.waitFor((event: WireEvent) => event.type === 'dream_rolled_back' && event.data.dream_id === dream.dream_id);
      // Its later activity does not dream during the other tests.
      expect((await herm.request('PATCH', `/v1/deployments/${id}`, { features: { dreaming: false } })).status).toBe(200);
    } finally {
      stream.close();
    }
  });

  it('never dreams beside an active run, and a run of the customer stops a dream', async () => {
    const deployment = await herm.createDeployment({ features: { dreaming: true } });
    const id = deployment.deployment_id;
    // A dream that keeps working (a long command) until the customer's run stops it.
    herm.model.setHandler((request) => {
      if (isDream(request)) return toolResults(request) === 0 ? { toolCalls: [{ name: 'shell', arguments: { command: 'sleep 20' } }] } : { text: 'Done.' };
      return { text: 'Hi.' };
    });
    await herm.sendAndWait(id, { content: 'Hello.' });
    // Dream now while a run of the customer is active: 409, nothing started.
    herm.model.setHandler((request) => {
      if (isDream(request)) return toolResults(request) === 0 ? { toolCalls: [{ name: 'shell', arguments: { command: 'sleep 20' } }] } : { text: 'Done.' };
      return { text: 'Slow hi.', delayMs: 0, toolCalls: toolResults(request) === 0 ? [{ name: 'shell', arguments: { command: 'sleep 1' } }] : undefined };
    });
    const sent = await herm.request('POST', `/v1/deployments/${id}/messages`, { content: 'Busy now.' });
    expect(sent.status).toBe(202);
    const refused = await herm.request('POST', `/v1/deployments/${id}/dreams`);
    expect(refused.status).toBe(409);
    expect(refused.body.error.type).toBe('run_in_progress');
    // Idle time passing while the run is active starts no dream either.
    await advance(IDLE_MS * 2);
    expect((await herm.request('GET', `/v1/deployments/${id}/dreams`)).body.data).toEqual([]);
    await waitFor('run ended', async () => ['completed', 'error'].includes((await herm.request('GET', `/v1/deployments/${id}/runs/${sent.body.run_id}`)).body.status));
    // Now it may dream; a message of the customer during the dream stops it.
    const started = await herm.request('POST', `/v1/deployments/${id}/dreams`);
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ status: 'running', reason: 'manual' });
    await waitFor('the dream at work', async () => herm.model.requests.some((request) => isDream(request) && request.messages.some((message) => message.text.includes('Busy now.'))));
    herm.model.setHandler((request) => (isDream(request) ? { text: 'Done.' } : { text: 'Back.' }));
    const customer = await herm.sendAndWait(id, { content: 'Back again.' });
    expect(customer.status).toBe('completed');
    const dream = await waitForDreamEnd(id, started.body.dream_id);
    expect(dream).toMatchObject({ status: 'failed', changes: [] });
    expect(dream.error).toMatch(/cancelled/i);
    // The cancelled dream reviewed nothing for good: the next one reviews its conversations again, on a thread of
    // its own (not carrying the earlier dream as history).
    herm.model.setHandler((request) => (isDream(request) ? { text: 'Done.' } : { text: 'Hi.' }));
    const next = await herm.request('POST', `/v1/deployments/${id}/dreams`);
    const ended = await waitForDreamEnd(id, next.body.dream_id);
    expect(ended.thread_id).not.toBe(dream.thread_id);
    const prompt = herm.model.requests.filter(isDream).at(-1)!;
    expect(prompt.lastUserText).toContain('customer: Busy now.');
    expect(prompt.lastUserText).toContain('customer: Back again.');
    expect(prompt.messages.filter((message) => message.role === 'user')).toHaveLength(1);
  });

  it("a message posted to a dream's thread stops the dream and starts a run of its own", async () => {
    const deployment = await herm.createDeployment({ features: { dreaming: true } });
    const id = deployment.deployment_id;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    // The customer's run on the dream's thread has the dream's message in its history: told apart by its last message.
    herm.model.setHandler(async (request) => {
      if (!request.lastUserText?.startsWith(DREAM_HEADER)) return { text: `Answered: ${request.lastUserText}` };
      if (toolResults(request) === 0) return { toolCalls: [{ name: 'shell', arguments: { command: 'sleep 20' } }] };
      await released;
      return { text: 'Done.' };
    });
    await herm.sendAndWait(id, { content: 'Hello.' });
    const started = await herm.request('POST', `/v1/deployments/${id}/dreams`);
    await waitFor('the dream at work', async () => (await herm.request('GET', `/v1/deployments/${id}/runs/${started.body.run_id}`)).body.steps >= 1);
    const posted = await herm.request('POST', `/v1/deployments/${id}/messages`, { content: 'Is anyone there?', thread_id: started.body.thread_id });
    expect(posted.status).toBe(202);
    expect(posted.body.run_id).not.toBe(started.body.run_id);
    const dream = await waitForDreamEnd(id, started.body.dream_id);
    expect(dream).toMatchObject({ status: 'failed' });
    const run = await waitFor('the customer run ended', async () => {
      const got = await herm.request('GET', `/v1/deployments/${id}/runs/${posted.body.run_id}`);
      return ['completed', 'error'].includes(got.body.status) && got.body;
    });
    expect(run).toMatchObject({ status: 'completed', trigger: 'message' });
    expect(herm.model.requests.at(-1)!.lastUserText).toBe('Is anyone there?');
    release();
  });

  it('does not take a learned skill named like a product skill, and dreams only with features.dreaming on', async () => {
    const product = '---\nname: brief\ndescription: The product brief\n---\nProduct steps.';
    const deployment = await herm.createDeployment({ features: { dreaming: true }, skills: [{ name: 'brief', source: 'inline', content: product }] });
    const id = deployment.deployment_id;
    herm.model.setHandler((request) => {
      if (!isDream(request)) return { text: 'Ok.' };
      if (toolResults(request) === 0) return { toolCalls: [{ name: 'write_file', arguments: { path: `${LEARNED_SKILLS_PATH}/brief/SKILL.md`, content: '---\nname: brief\ndescription: Mine\n---\nMine.' } }] };
      return { text: 'Done.' };
    });
    await herm.sendAndWait(id, { content: 'Hi.' });
    const started = await herm.request('POST', `/v1/deployments/${id}/dreams`);
    const dream = await waitForDreamEnd(id, started.body.dream_id);
    expect(dream.changes).toEqual([expect.objectContaining({ kind: 'skill', name: 'brief', action: 'skipped', reason: expect.stringContaining('never overwritten') })]);
    const skills = await herm.request('GET', `/v1/deployments/${id}/skills`);
    expect(skills.body.data).toMatchObject([{ name: 'brief', source: 'inline', description: 'The product brief' }]);

    const off = await herm.createDeployment();
    await herm.sendAndWait(off.deployment_id, { content: 'Hi.' });
    expect(await advance(IDLE_MS * 2)).toBe(0);
    const refused = await herm.request('POST', `/v1/deployments/${off.deployment_id}/dreams`);
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({ type: 'conflict', param: 'features.dreaming' });
    expect((await herm.request('GET', `/v1/deployments/${off.deployment_id}/dreams`)).body.data).toEqual([]);
    // A customer whose credit budget is used up gets no dream, as it gets no run: 402, and none when idle either.
    const broke = await herm.createDeployment({ features: { dreaming: true } });
    await herm.sendAndWait(broke.deployment_id, { content: 'Hi.' });
    expect((await herm.request('PUT', '/v1/budgets', { customer_id: broke.customer_id, credits: 0 })).status).toBe(200);
    const unpaid = await herm.request('POST', `/v1/deployments/${broke.deployment_id}/dreams`);
    expect(unpaid.status).toBe(402);
    expect(unpaid.body.error.type).toBe('insufficient_credits');
    await advance(IDLE_MS * 2);
    expect((await herm.request('GET', `/v1/deployments/${broke.deployment_id}/dreams`)).body.data).toEqual([]);
    expect((await herm.request('DELETE', `/v1/budgets?customer_id=${broke.customer_id}`)).status).toBe(200);
    // Without a persistent workspace a dream would keep nothing: refused too.
    const ephemeral = await herm.createDeployment({ features: { dreaming: true }, sandbox: { persistent_filesystem: false } });
    const noWorkspace = await herm.request('POST', `/v1/deployments/${ephemeral.deployment_id}/dreams`);
    expect(noWorkspace.status).toBe(409);
    expect(noWorkspace.body.error).toMatchObject({ type: 'conflict', param: 'sandbox.persistent_filesystem' });
  });

  it("keeps the learned skills when the area cannot be read, leaves the product's changes during a dream out of it, and rolls back once", async () => {
    const deployment = await herm.createDeployment({ features: { dreaming: true } });
    const id = deployment.deployment_id;
    const seeded = await herm.request('POST', `/v1/deployments/${id}/memories`, { content: 'Videos must stay under thirty seconds.' });
    herm.model.setHandler(dreamScript(seeded.body.memory_id));
    await herm.sendAndWait(id, { content: 'Hi.' });
    const first = await herm.request('POST', `/v1/deployments/${id}/dreams`);
    expect((await waitForDreamEnd(id, first.body.dream_id)).skills_changed).toBe(1);

    // A dream that makes the area unreadable (and waits a moment), while the product adds a memory.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    herm.model.setHandler(async (request) => {
      if (!isDream(request)) return { text: 'Ok.' };
      if (toolResults(request) === 0) {
        await released;
        return { toolCalls: [{ name: 'shell', arguments: { command: `chmod 000 ${LEARNED_SKILLS_PATH}` } }] };
      }
      return { text: 'Done.' };
    });
    await herm.sendAndWait(id, { content: 'Hello again.' });
    const second = await herm.request('POST', `/v1/deployments/${id}/dreams`);
    const added = await herm.request('POST', `/v1/deployments/${id}/memories`, { content: 'Invoices go to billing.' });
    expect(added.status).toBe(201);
    // A learned skill cannot be deleted while a dream is at work (it would be taken for the dream's deletion).
    const [learned] = (await herm.request('GET', `/v1/deployments/${id}/skills`)).body.data;
    expect((await herm.request('DELETE', `/v1/deployments/${id}/skills/${learned.skill_id}`)).status).toBe(409);
    release();
    const dream = await waitForDreamEnd(id, second.body.dream_id);
    expect(dream.status).toBe('completed');
    expect(dream.changes).toEqual([expect.objectContaining({ kind: 'skill', action: 'skipped', reason: expect.stringContaining('could not be read') })]);
    expect((await herm.request('GET', `/v1/deployments/${id}/skills`)).body.data.map((skill: any) => skill.name)).toEqual(['acme-video-brief']);
    fs.chmodSync(path.join(herm.server.services.deployments.workspaceDir(id), '.herm', 'learned-skills'), 0o755);

    // Rolling the first dream back three times at once: one does it, the others are told it was done.
    const rollbacks = await Promise.all([0, 1, 2].map(() => herm.request('POST', `/v1/deployments/${id}/dreams/${first.body.dream_id}/rollback`)));
    expect(rollbacks.map((response) => response.status).sort()).toEqual([200, 409, 409]);
    expect((await herm.request('GET', `/v1/deployments/${id}/memories/${seeded.body.memory_id}`)).body.content).toBe('Videos must stay under thirty seconds.');
    expect((await herm.request('GET', `/v1/deployments/${id}/memories/${added.body.memory_id}`)).body.content).toBe('Invoices go to billing.');
  });

  it('herm.dreams: create, list, get with changes, rollback (and a conflict after a later change)', async () => {
    const sdk = new Herm({ apiKey: herm.adminKey, baseURL: herm.url });
    const deployment = await herm.createDeployment({ features: { dreaming: true } });
    const id = deployment.deployment_id;
    const seeded = await sdk.memories.create(id, { content: 'Prefers short captions.' });
    herm.model.setHandler(dreamScript(seeded.memory_id));
    await herm.sendAndWait(id, { content: 'Hi.' });
    const started = await sdk.dreams.create(id);
    expect(started).toMatchObject({ status: 'running', reason: 'manual', memories_changed: null });
    expect('changes' in started).toBe(false);
    await waitForDreamEnd(id, started.dream_id);
    const [listed] = (await sdk.dreams.list(id)).data;
    expect(listed).toMatchObject({ dream_id: started.dream_id, status: 'completed', memories_changed: 1, skills_changed: 1 });
    const dream = await sdk.dreams.get(id, started.dream_id);
    expect(dream.changes?.map((change) => [change.kind, change.action])).toEqual([
      ['memory', 'updated'],
      ['skill', 'created'],
    ]);
    // Changed since the dream: nothing is rolled back, and the conflict names the memory.
    await sdk.memories.update(id, seeded.memory_id, { content: 'Prefers very short captions.' });
    const conflict = await sdk.dreams.rollback(id, started.dream_id).catch((error: unknown) => error);
    expect(conflict).toBeInstanceOf(ConflictError);
    expect((conflict as ConflictError).message).toContain(seeded.memory_id);
    expect((await sdk.skills.list(id)).data.map((skill) => skill.source)).toEqual(['learned']);
    // Put back as the dream left it: the rollback goes through.
    await sdk.memories.update(id, seeded.memory_id, { content: 'Videos stay under thirty seconds and end with the logo sting.' });
    const rolled = await sdk.dreams.rollback(id, started.dream_id);
    expect(rolled.status).toBe('rolled_back');
    expect((await sdk.memories.get(id, seeded.memory_id)).content).toBe('Prefers short captions.');
    expect((await sdk.skills.list(id)).data).toEqual([]);
  });
});
