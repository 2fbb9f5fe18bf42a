// Two nodes on one PostgreSQL database race for the same idle periods: each deployment dreams exactly once per idle
// period, whichever node claims it (the claim of the period commits with the dream's run).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DREAM_HEADER } from '../../src/dreams/dream-prompt.ts';
import { postgresBaseUrl, POSTGRES_SKIP_MESSAGE } from '../support/databases.ts';
import { startPostgresNodes, type PostgresNodes } from '../support/postgres-nodes.ts';
import type { ScriptedRequest } from '../support/scripted-model-server.ts';
import { waitFor } from '../memory/memory-test-support.ts';

const available = (await postgresBaseUrl()) !== undefined;
if (!available) console.warn(POSTGRES_SKIP_MESSAGE);

const IDLE_MS = 600_000;
const clock = {
  at: Date.parse('2026-06-15T08:00:00Z'),
  now() {
    return this.at;
  },
};
const isDream = (request: ScriptedRequest) => request.messages.some((message) => message.role === 'user' && message.text.startsWith(DREAM_HEADER));

describe.skipIf(!available)('dreams on two nodes (PostgreSQL)', { timeout: 60_000 }, () => {
  let cluster: PostgresNodes;

  beforeAll(async () => {
    cluster = await startPostgresNodes({ env: { HERM_ADMIN_KEY: 'herm_sk_test_dreamstwonodes00', HERM_DREAM_IDLE_MS: String(IDLE_MS), HERM_DREAM_POLL_MS: '3600000' }, clock });
  });

  afterAll(async () => {
    await cluster?.close();
  });

  it('dreams each idle period once, whichever node claims it', async () => {
    const [first, second] = cluster.nodes;
    cluster.model.setHandler((request) => (isDream(request) ? { text: 'Nothing to change.' } : { text: 'Sure.' }));
    const ids: string[] = [];
    for (let index = 0; index < 5; index++) {
      const { deployment_id: id } = await (index % 2 === 0 ? first : second).createDeployment({ features: { dreaming: true } });
      await (index % 2 === 0 ? second : first).sendAndWait(id, { content: `Fact number ${index}.` });
      ids.push(id);
    }
    for (let period = 0; period < 2; period++) {
      clock.at += IDLE_MS + 1_000;
      // Both nodes look at once, twice each.
      const started = await Promise.all([first, second, first, second].map((node) => node.server.services.dreamScheduler.tick()));
      expect(started.reduce((total, count) => total + count, 0)).toBe(period === 0 ? 5 : 0);
    }
    for (const id of ids) {
      const dreams = await waitFor(`the dream of ${id} ended`, async () => {
        const listed = await first.request('GET', `/v1/deployments/${id}/dreams`);
        return listed.body.data.every((dream: any) => dream.status !== 'running') && listed.body.data;
      });
      expect(dreams).toHaveLength(1);
      expect(dreams[0]).toMatchObject({ status: 'completed', reason: 'idle', memories_changed: 0, skills_changed: 0 });
    }
    expect(cluster.model.requests.filter((request) => isDream(request))).toHaveLength(5);
    // New activity is a new idle period: one more dream for that deployment.
    await second.sendAndWait(ids[0]!, { content: 'One more thing.' });
    clock.at += IDLE_MS + 1_000;
    const again = await Promise.all([first, second].map((node) => node.server.services.dreamScheduler.tick()));
    expect(again[0]! + again[1]!).toBe(1);
    await waitFor('the second dream ended', async () => {
      const listed = await first.request('GET', `/v1/deployments/${ids[0]}/dreams`);
      return listed.body.data.length === 2 && listed.body.data.every((dream: any) => dream.status !== 'running');
    });
  });

  it("starts one of two dreams asked for at once on two nodes, for a deployment's first dream too", async () => {
    const [first, second] = cluster.nodes;
    cluster.model.setHandler((request) => (isDream(request) ? { text: 'Nothing to change.', delayMs: 0 } : { text: 'Sure.' }));
    for (let attempt = 0; attempt < 3; attempt++) {
      // No customer run yet: the deployment has no dream state row, which both nodes' commits create.
      const { deployment_id: id } = await first.createDeployment({ features: { dreaming: true } });
      const answers = await Promise.all([first, second].map((node) => node.request('POST', `/v1/deployments/${id}/dreams`)));
      expect(answers.map((answer) => answer.status).sort()).toEqual([202, 409]);
      expect(answers.find((answer) => answer.status === 409)!.body.error.type).toBe('run_in_progress');
    }
  });
});
