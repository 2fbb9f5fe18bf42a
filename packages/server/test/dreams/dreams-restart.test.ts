// A dream survives the server: a dream run cut off by a shutdown is resumed by the next start (its lease and journal
// are a run's like any other) and its end is recorded there, with what it changed; a dream whose end was never
// recorded (its node stopped after the run ended) is finished by the next scheduler pass.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { DREAM_HEADER, LEARNED_SKILLS_PATH } from '../../src/dreams/dream-prompt.ts';
import { startScriptedModelServer, type ScriptedRequest, type ScriptedTurn } from '../support/scripted-model-server.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { waitFor } from '../memory/memory-test-support.ts';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-dreams-restart-'));
const model = await startScriptedModelServer();
const servers: TestServer[] = [];

afterAll(async () => {
  for (const server of servers) await server.close().catch(() => {});
  await model.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const isDream = (request: ScriptedRequest) => request.messages.some((message) => message.role === 'user' && message.text.startsWith(DREAM_HEADER));
const SKILL = '---\nname: weekly-report\ndescription: How this customer wants the weekly report\n---\nBullets, no tables.\n';

describe('dreams across a restart', { timeout: 60_000 }, () => {
  it('resumes a dream cut off by a shutdown, records its end, and finishes a dream whose end was not recorded', async () => {
    const env = { HERM_ADMIN_KEY: 'herm_sk_test_dreamsrestart000', HERM_DREAM_POLL_MS: '3600000' };
    const first = await startTestServer({ dataDir, model, env, keepData: true });
    servers.push(first);
    // The dream's first model call hangs until the server shuts down.
    let dreaming!: () => void;
    const called = new Promise<void>((resolve) => (dreaming = resolve));
    model.setHandler((request): ScriptedTurn | Promise<ScriptedTurn> => {
      if (!isDream(request)) return { text: 'Sure.' };
      dreaming();
      return new Promise<ScriptedTurn>(() => {});
    });
    const { deployment_id: id } = await first.createDeployment({ features: { dreaming: true } });
    await first.sendAndWait(id, { content: 'Weekly reports as bullets, please, never tables.' });
    const started = await first.request('POST', `/v1/deployments/${id}/dreams`);
    expect(started.status).toBe(202);
    await called;
    await first.close();
    servers.pop();

    model.setHandler((request): ScriptedTurn => {
      if (!isDream(request)) return { text: 'Sure.' };
      if (!request.messages.some((message) => message.role === 'tool')) {
        return { toolCalls: [{ name: 'write_file', arguments: { path: `${LEARNED_SKILLS_PATH}/weekly-report/SKILL.md`, content: SKILL } }] };
      }
      return { text: 'Learned the report format.' };
    });
    const second = await startTestServer({ dataDir, model, env, keepData: true });
    servers.push(second);
    const dreamId = started.body.dream_id;
    const ended = await waitFor('the dream resumed and ended', async () => {
      const dream = await second.request('GET', `/v1/deployments/${id}/dreams/${dreamId}`);
      return dream.body.status !== 'running' && dream.body;
    });
    expect(ended).toMatchObject({ status: 'completed', skills_changed: 1, changes: [{ kind: 'skill', name: 'weekly-report', action: 'created', after: SKILL }] });
    const run = await second.request('GET', `/v1/deployments/${id}/runs/${ended.run_id}`);
    expect(run.body).toMatchObject({ trigger: 'dream', status: 'completed' });

    // As if the node had stopped between the run's end and the dream's: the next pass records it.
    const { store } = second.server.services;
    await sql`UPDATE dreams SET status = 'running', changes = NULL, completed_at = NULL WHERE id = ${dreamId}`.execute(store.db);
    await sql`DELETE FROM learned_skills WHERE deployment_id = ${id}`.execute(store.db);
    await second.server.services.dreamScheduler.tick();
    const finished = await second.request('GET', `/v1/deployments/${id}/dreams/${dreamId}`);
    expect(finished.body).toMatchObject({ status: 'completed', changes: [{ kind: 'skill', name: 'weekly-report', action: 'created' }] });
    const skills = await second.request('GET', `/v1/deployments/${id}/skills`);
    expect(skills.body.data).toMatchObject([{ name: 'weekly-report', source: 'learned', dream_id: dreamId }]);
  });
});
