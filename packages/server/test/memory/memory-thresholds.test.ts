// The observer's thresholds, and the reflector: once the agent's observations pass HERM_MEMORY_REFLECT_TOKENS, they are condensed by a model call,
// and its consolidation is not a deletion the observer is told about.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OBSERVER_SYSTEM, REFLECTOR_SYSTEM } from '../../src/memory/memory-observer.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { systemStarts, waitFor } from './memory-test-support.ts';

let herm: TestServer;

beforeAll(async () => {
  // Observed at once past 10 tokens (40 characters); a shorter conversation waits for 10 minutes of quiet.
  herm = await startTestServer({ env: { HERM_MEMORY_POLL_MS: '100', HERM_MEMORY_REFLECT_TOKENS: '20', HERM_MEMORY_OBSERVE_TOKENS: '10', HERM_MEMORY_OBSERVE_IDLE_MS: '600000' } });
});

afterAll(async () => {
  await herm?.close();
});

describe('the reflector', { timeout: 30_000 }, () => {
  it("condenses the agent's observations past its threshold, keeping the product's memories", async () => {
    herm.model.setHandler((request) => {
      if (systemStarts(request, OBSERVER_SYSTEM)) {
        return { text: '- [high] The customer wants every video to end with the Acme logo sting.\n- [medium] The customer publishes videos every Friday at noon.' };
      }
      if (systemStarts(request, REFLECTOR_SYSTEM)) return { text: '- [high] Videos end with the Acme logo sting and go out Fridays at noon.' };
      return { text: 'Ok.' };
    });
    const { deployment_id: id } = await herm.createDeployment();
    const seeded = await herm.request('POST', `/v1/deployments/${id}/memories`, { content: 'Acme sells running shoes.' });
    const run = await herm.sendAndWait(id, { content: 'End every video with our logo sting; we publish Fridays at noon.' });
    expect(run.status).toBe('completed');

    const memories = await waitFor('the reflection', async () => {
      const listed = await herm.request('GET', `/v1/deployments/${id}/memories`);
      return listed.body.data.length === 2 && listed.body.data.some((memory: any) => memory.content.startsWith('Videos end')) && listed.body.data;
    });
    expect(memories.map((memory: any) => [memory.content, memory.source]).sort()).toEqual(
      [
        ['Acme sells running shoes.', 'api'],
        ['Videos end with the Acme logo sting and go out Fridays at noon.', 'agent'],
      ].sort(),
    );
    const reflector = herm.model.requests.find((request) => systemStarts(request, REFLECTOR_SYSTEM))!;
    expect(reflector.lastUserText).toContain('The customer wants every video to end with the Acme logo sting.');
    expect(reflector.lastUserText).not.toContain('Acme sells running shoes.');
    expect(seeded.status).toBe(201);

    // The consolidated observations are deleted by the reflector, which the observer is not told to avoid.
    const again = await herm.sendAndWait(id, { content: "Thanks, that was all I needed for this week's videos!", thread_id: run.thread_id });
    expect(again.status).toBe('completed');
    const observer = await waitFor('the second observation', async () => herm.model.requests.filter((request) => systemStarts(request, OBSERVER_SYSTEM))[1]);
    expect(observer.lastUserText).not.toContain('Deleted memories');
  });

  it('waits for a pause before observing a short conversation, and observes a long one at once', async () => {
    herm.model.reset();
    herm.model.setHandler((request) => (systemStarts(request, OBSERVER_SYSTEM) ? { text: 'NONE' } : { text: 'Ok.' }));
    const { deployment_id: id } = await herm.createDeployment();
    const short = await herm.sendAndWait(id, { content: 'Hi', thread_id: 'new' });
    const pending = await waitFor('the marker', async () => herm.server.services.store.memories.observation(short.thread_id));
    expect(pending.pending).toBe(true);
    expect(pending.due_at).toBeGreaterThan(Date.now() + 500_000);
    const long = await herm.sendAndWait(id, { content: 'We are launching the autumn collection in three markets next month.', thread_id: 'new' });
    const observed = await waitFor('the long thread observed', async () => {
      const state = await herm.server.services.store.memories.observation(long.thread_id);
      return state && !state.pending && state;
    });
    expect(observed.observed_through).toBeGreaterThan(0);
    const observerCalls = herm.model.requests.filter((request) => systemStarts(request, OBSERVER_SYSTEM));
    expect(observerCalls.filter((request) => request.lastUserText?.includes('customer: We are launching the autumn collection'))).toHaveLength(1);
    expect(observerCalls.filter((request) => request.lastUserText?.includes('customer: Hi\n'))).toHaveLength(0);
    expect((await herm.server.services.store.memories.observation(short.thread_id))?.pending).toBe(true);
  });
});
