// Messages, runs, the hermes loop with real sandboxed tools, and the SSE stream, over real HTTP — on the
// embedded SQLite store and on PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, postgresBaseUrl, POSTGRES_SKIP_MESSAGE, type TestDatabase } from '../support/databases.ts';
import { openSse, type WireEvent } from '../support/sse-client.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const postgresAvailable = (await postgresBaseUrl()) !== undefined;
if (!postgresAvailable) console.warn(POSTGRES_SKIP_MESSAGE);

const isEnd = (runId: string) => (event: WireEvent) =>
  event.type === 'run_status' && event.data.run_id === runId && (event.data.status === 'completed' || event.data.status === 'error');

let herm: TestServer;

async function send(deploymentId: string, body: Record<string, unknown>) {
  const response = await herm.request('POST', `/v1/deployments/${deploymentId}/messages`, body);
  expect(response.status, JSON.stringify(response.body)).toBe(202);
  return response.body as { run_id: string; thread_id: string; status: string; deployment_id: string };
}

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe.skipIf(dialect === 'postgres' && !postgresAvailable)(`on ${dialect}`, () => {
    let database: TestDatabase;

    beforeAll(async () => {
      database = await createTestDatabase(dialect);
      herm = await startTestServer({
        dataDir: database.dataDir,
        databaseUrl: database.databaseUrl,
        env: { HERM_SSE_HEARTBEAT_MS: '200', HERM_MAX_STEPS: '6' },
      });
    });

    afterAll(async () => {
      await herm?.close();
      await database?.drop();
    });

    describe('a text-only run', () => {
      it('streams tokens and status over SSE, records the thread history, and continues the conversation', async () => {
        const deployment = await herm.createDeployment();
        const stream = await openSse(deployment.events.url, herm.adminKey);
        expect(stream.status).toBe(200);
        expect(stream.headers.get('content-type')).toContain('text/event-stream');
        herm.model.enqueue({ text: ['Here are ', 'five ', 'directions'] });
        const run = await send(deployment.deployment_id, { content: 'Give me ideas' });
        expect(run).toMatchObject({ deployment_id: deployment.deployment_id, thread_id: deployment.thread_id, status: 'running' });
        expect(run.run_id).toMatch(/^run_/);
        await stream.waitFor(isEnd(run.run_id));
        const events = stream.events.filter((event) => event.data.run_id === run.run_id);
        expect(events.map((event) => event.type)).toEqual(['run_status', 'token', 'token', 'token', 'run_status']);
        expect(events[0]!.data).toMatchObject({ status: 'running', thread_id: deployment.thread_id });
        expect(events.filter((e) => e.type === 'token').map((e) => e.data.delta).join('')).toBe('Here are five directions');
        expect(events[4]!.data).toMatchObject({ status: 'completed', run_id: run.run_id, thread_id: deployment.thread_id });
        for (const event of events) expect(event.id).toMatch(/^evt_\d{10}[A-Za-z0-9]{6}$/);
        const ids = events.map((event) => event.id);
        expect([...ids].sort()).toEqual(ids);

        const thread = await herm.request('GET', `/v1/deployments/${deployment.deployment_id}/threads/${deployment.thread_id}`);
        expect(thread.body.messages.map((m: any) => [m.role, m.content, m.run_id])).toEqual([
          ['user', 'Give me ideas', run.run_id],
          ['agent', 'Here are five directions', run.run_id],
        ]);
        const got = await herm.request('GET', `/v1/deployments/${deployment.deployment_id}/runs/${run.run_id}`);
        expect(got.body).toMatchObject({ run_id: run.run_id, status: 'completed', error: null, steps: 1 });

        herm.model.enqueue({ text: 'Sure, the second one.' });
        const next = await send(deployment.deployment_id, { content: 'Pick one' });
        await stream.waitFor(isEnd(next.run_id));
        const request = herm.model.requests.at(-1)!;
        expect(request.messages.map((m) => [m.role, m.text])).toEqual([
          ['system', expect.stringContaining('You are a test agent.')],
          ['user', 'Give me ideas'],
          ['assistant', 'Here are five directions'],
          ['user', 'Pick one'],
        ]);
        stream.close();
      });

      it('starts a fresh conversation on thread_id "new" and 404s an unknown thread', async () => {
        const deployment = await herm.createDeployment();
        const first = await send(deployment.deployment_id, { content: 'remember: blue' });
        const stream = await openSse(`${deployment.events.url}?run_id=${first.run_id}`, herm.adminKey, { 'last-event-id': `evt_${'0'.repeat(10)}${deployment.deployment_id.slice(4, 10)}` });
        await stream.waitFor(isEnd(first.run_id));
        const fresh = await send(deployment.deployment_id, { content: 'what colour?', thread_id: 'new' });
        expect(fresh.thread_id).not.toBe(deployment.thread_id);
        const freshStream = await openSse(`${deployment.events.url}?thread_id=${fresh.thread_id}`, herm.adminKey, {
          'last-event-id': `evt_${'0'.repeat(10)}${deployment.deployment_id.slice(4, 10)}`,
        });
        await freshStream.waitFor(isEnd(fresh.run_id));
        expect(freshStream.events.every((event) => event.data.thread_id === fresh.thread_id)).toBe(true);
        expect(herm.model.requests.at(-1)!.messages.filter((m) => m.role === 'user').map((m) => m.text)).toEqual(['what colour?']);
        const missing = await herm.request('POST', `/v1/deployments/${deployment.deployment_id}/messages`, { content: 'x', thread_id: 'thr_nope' });
        expect(missing.status).toBe(404);
        expect(missing.body.error).toMatchObject({ type: 'not_found', param: 'thread_id' });
        for (const body of [{}, { content: '' }, { content: 5 }, { content: 'x', thread_id: 'dep_1' }, { content: 'x', extra: 1 }, { content: 'x', attachments: [{ type: 'pdf', url: 'https://a.test/x' }] }]) {
          const response = await herm.request('POST', `/v1/deployments/${deployment.deployment_id}/messages`, body);
          expect(response.status, JSON.stringify(body)).toBe(400);
        }
        stream.close();
        freshStream.close();
      });
    });

    describe('a tool-using run', () => {
      it('calls built-in tools in the sandbox, feeds results back, and the workspace persists across runs', async () => {
        const deployment = await herm.createDeployment();
        const stream = await openSse(deployment.events.url, herm.adminKey);
        herm.model.enqueue(
          { text: "I'll draft the storyboard", toolCalls: [{ name: 'write_file', arguments: { path: 'storyboard.md', content: '# Shot 1\nA cat.\n' } }] },
          { toolCalls: [{ name: 'shell', arguments: { command: 'wc -l storyboard.md && pwd' } }] },
          { text: 'Saved storyboard.md.' },
        );
        const run = await send(deployment.deployment_id, { content: 'Write a storyboard to storyboard.md' });
        await stream.waitFor(isEnd(run.run_id));
        const types = stream.events.filter((e) => e.data.run_id === run.run_id).map((e) => e.type);
        expect(types).toEqual(['run_status', 'token', 'tool_call', 'tool_result', 'tool_call', 'tool_result', 'token', 'run_status']);
        const call = stream.events.find((e) => e.type === 'tool_call')!;
        expect(call.data).toMatchObject({ tool: 'write_file', arguments: { path: 'storyboard.md' } });
        const shellResult = stream.events.filter((e) => e.type === 'tool_result')[1]!;
        expect(shellResult.data).toMatchObject({ tool: 'shell', is_error: false });
        expect(JSON.stringify(shellResult.data.result)).toContain('2 storyboard.md');
        expect(JSON.stringify(shellResult.data.result)).toContain('/workspace');
        const finalStatus = stream.events.at(-1)!;
        expect(finalStatus.data.status).toBe('completed');
        // The model saw the tool result in its next request.
        const toolMessages = herm.model.requests.at(-1)!.messages.filter((m) => m.role === 'tool');
        expect(toolMessages).toHaveLength(2);

        herm.model.enqueue({ toolCalls: [{ name: 'read_file', arguments: { path: '/workspace/storyboard.md' } }] }, { text: 'It has one shot.' });
        const second = await send(deployment.deployment_id, { content: 'What is in the storyboard?' });
        await stream.waitFor(isEnd(second.run_id));
        const read = stream.events.filter((e) => e.type === 'tool_result' && e.data.run_id === second.run_id)[0]!;
        expect(JSON.stringify(read.data.result)).toContain('A cat.');
        stream.close();
      });

      it('refuses paths outside the workspace and keeps going', async () => {
        const deployment = await herm.createDeployment();
        const stream = await openSse(deployment.events.url, herm.adminKey);
        herm.model.enqueue({ toolCalls: [{ name: 'read_file', arguments: { path: '/etc/passwd' } }] }, { text: 'Not allowed.' });
        const run = await send(deployment.deployment_id, { content: 'read /etc/passwd' });
        await stream.waitFor(isEnd(run.run_id));
        const result = stream.events.find((e) => e.type === 'tool_result')!;
        expect(result.data.is_error).toBe(true);
        expect(JSON.stringify(result.data.result)).toContain('/etc/passwd');
        expect(stream.events.at(-1)!.data.status).toBe('completed');
        stream.close();
      });

      it('ends in error at the step limit', async () => {
        const deployment = await herm.createDeployment();
        const stream = await openSse(deployment.events.url, herm.adminKey);
        herm.model.setHandler(() => ({ toolCalls: [{ name: 'shell', arguments: { command: 'true' } }] }));
        try {
          const run = await send(deployment.deployment_id, { content: 'loop forever' });
          const end = await stream.waitFor(isEnd(run.run_id));
          expect(end.data).toMatchObject({ status: 'error', error: { type: 'step_limit' } });
          expect(end.data.error.message).toContain('HERM_MAX_STEPS');
        } finally {
          herm.model.setHandler(undefined);
          stream.close();
        }
      });
    });

    describe('runs', () => {
      it('folds a message sent mid-run into the run in flight, losing nothing', async () => {
        const deployment = await herm.createDeployment();
        const stream = await openSse(deployment.events.url, herm.adminKey);
        herm.model.enqueue({ text: ['thinking', ' slowly', ' about it'], delayMs: 300 }, { text: 'Got your follow-up too.' });
        const run = await send(deployment.deployment_id, { content: 'first question' });
        await stream.waitFor((e) => e.type === 'token' && e.data.run_id === run.run_id);
        const folded = await send(deployment.deployment_id, { content: 'and a follow-up' });
        expect(folded).toMatchObject({ run_id: run.run_id, status: 'running' });
        await stream.waitFor(isEnd(run.run_id));
        expect(stream.events.at(-1)!.data.status).toBe('completed');
        const lastRequest = herm.model.requests.at(-1)!;
        expect(lastRequest.messages.filter((m) => m.role === 'user').map((m) => m.text)).toEqual(['first question', 'and a follow-up']);
        const thread = await herm.request('GET', `/v1/deployments/${deployment.deployment_id}/threads/${deployment.thread_id}`);
        expect(thread.body.messages.map((m: any) => m.role)).toEqual(['user', 'user', 'agent']);
        const runs = await herm.request('GET', `/v1/deployments/${deployment.deployment_id}/runs`);
        expect(runs.body.data).toHaveLength(1);
        stream.close();
      });

      it('cancels a run in flight', async () => {
        const deployment = await herm.createDeployment();
        const stream = await openSse(deployment.events.url, herm.adminKey);
        herm.model.enqueue({ toolCalls: [{ name: 'shell', arguments: { command: 'sleep 20' } }] });
        const run = await send(deployment.deployment_id, { content: 'wait a while' });
        await stream.waitFor((e) => e.type === 'tool_call' && e.data.run_id === run.run_id);
        const started = Date.now();
        const cancelled = await herm.request('POST', `/v1/deployments/${deployment.deployment_id}/runs/${run.run_id}/cancel`);
        expect(cancelled.status).toBe(200);
        const end = await stream.waitFor(isEnd(run.run_id));
        expect(Date.now() - started).toBeLessThan(10_000);
        expect(end.data).toMatchObject({ status: 'error', error: { type: 'cancelled' } });
        const got = await herm.request('GET', `/v1/deployments/${deployment.deployment_id}/runs/${run.run_id}`);
        expect(got.body).toMatchObject({ status: 'error', error: { type: 'cancelled' } });
        const list = await herm.request('GET', `/v1/deployments/${deployment.deployment_id}/runs?status=error&thread_id=${deployment.thread_id}`);
        expect(list.body.data.map((r: any) => r.run_id)).toEqual([run.run_id]);
        stream.close();
      });

      it('ends in error naming the variable when the provider key is missing', async () => {
        const deployment = await herm.createDeployment({ model: 'google/gemini-2.5-pro' });
        const stream = await openSse(deployment.events.url, herm.adminKey);
        const run = await send(deployment.deployment_id, { content: 'hello' });
        const end = await stream.waitFor(isEnd(run.run_id));
        expect(end.data).toMatchObject({ status: 'error', error: { type: 'configuration_error' } });
        expect(end.data.error.message).toContain('GOOGLE_GENERATIVE_AI_API_KEY');
        stream.close();
      });

      it('reaches Anthropic under the id its API accepts', async () => {
        const deployment = await herm.createDeployment({ model: 'anthropic/claude-sonnet-4.5' });
        const stream = await openSse(deployment.events.url, herm.adminKey);
        herm.model.enqueue({ text: 'hi from claude' });
        const run = await send(deployment.deployment_id, { content: 'hello' });
        await stream.waitFor(isEnd(run.run_id));
        const request = herm.model.requests.at(-1)!;
        expect(request.api).toBe('anthropic-messages');
        expect(request.model).toBe('claude-sonnet-4-5');
        stream.close();
      });
    });

    describe('the event stream', () => {
      it('replays everything after Last-Event-ID with no gap and no duplicate, and filters by run and thread', async () => {
        const deployment = await herm.createDeployment();
        const live = await openSse(deployment.events.url, herm.adminKey);
        const position = live.headers.get('herm-stream-position');
        expect(position).toMatch(/^evt_/);
        herm.model.enqueue({ text: ['a', 'b', 'c', 'd'] }, { text: ['e', 'f'] });
        const one = await send(deployment.deployment_id, { content: 'one' });
        await live.waitFor(isEnd(one.run_id));
        const two = await send(deployment.deployment_id, { content: 'two' });
        await live.waitFor(isEnd(two.run_id));
        const all = live.events;
        expect(all.length).toBe(10); // 1 + 4 + 1 and 1 + 2 + 1

        const fromStart = await openSse(deployment.events.url, herm.adminKey, { 'last-event-id': position! });
        await fromStart.waitFor(isEnd(two.run_id));
        expect(fromStart.events.map((e) => e.id)).toEqual(all.map((e) => e.id));

        const middle = all[3]!.id;
        const resumed = await openSse(deployment.events.url, herm.adminKey, { 'last-event-id': middle });
        await resumed.waitFor(isEnd(two.run_id));
        expect(resumed.events.map((e) => e.id)).toEqual(all.slice(4).map((e) => e.id));

        const byRun = await openSse(`${deployment.events.url}?run_id=${two.run_id}&last_event_id=${position}`, herm.adminKey);
        await byRun.waitFor(isEnd(two.run_id));
        expect(byRun.events.map((e) => e.id)).toEqual(all.filter((e) => e.data.run_id === two.run_id).map((e) => e.id));

        for (const bad of ['evt_garbage', 'evt_9999999999AAAAAA', `evt_9999999999${deployment.deployment_id.slice(4, 10)}`]) {
          const response = await fetch(deployment.events.url, { headers: { authorization: `Bearer ${herm.adminKey}`, 'last-event-id': bad } });
          expect(response.status, bad).toBe(400);
          expect(((await response.json()) as any).error).toMatchObject({ type: 'validation_error', param: 'Last-Event-ID' });
        }
        const badFilter = await herm.request('GET', `/v1/deployments/${deployment.deployment_id}/events?run_id=thr_1`);
        expect(badFilter.status).toBe(400);
        const unknownRun = await herm.request('GET', `/v1/deployments/${deployment.deployment_id}/events?run_id=run_unknown`);
        expect(unknownRun.status).toBe(404);
        for (const stream of [live, fromStart, resumed, byRun]) stream.close();
      });

      it('keeps idle connections open with a heartbeat comment', async () => {
        const deployment = await herm.createDeployment();
        const stream = await openSse(deployment.events.url, herm.adminKey);
        await new Promise((resolve) => setTimeout(resolve, 700));
        expect(stream.comments.filter((comment) => comment === 'ping').length).toBeGreaterThanOrEqual(2);
        stream.close();
      });
    });
  });
}
