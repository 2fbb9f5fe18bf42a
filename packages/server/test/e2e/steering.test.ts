// Steering end to end with the scripted model, on SQLite and PostgreSQL: a policy holds a call, the run pauses
// (waiting_on_human, no model call meanwhile), and an answer over the API resumes it — approval, denial, reply,
// expiry, cancellation — plus the ask_human tool, steering off, and each multitask_strategy.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, postgresBaseUrl, POSTGRES_SKIP_MESSAGE, type TestDatabase } from '../support/databases.ts';
import { openSse, type OpenSse, type WireEvent } from '../support/sse-client.ts';
import { startMcpTestServer, type McpTestServer } from '../support/mcp-test-server.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const postgresAvailable = (await postgresBaseUrl()) !== undefined;
if (!postgresAvailable) console.warn(POSTGRES_SKIP_MESSAGE);

let herm: TestServer;
vi.setConfig({ testTimeout: 30_000 });

const isEnd = (runId: string) => (event: WireEvent) =>
  event.type === 'run_status' && event.data.run_id === runId && (event.data.status === 'completed' || event.data.status === 'error');
const isType = (type: string, runId: string) => (event: WireEvent) => event.type === type && event.data.run_id === runId;

async function send(deploymentId: string, body: Record<string, unknown>) {
  const response = await herm.request('POST', `/v1/deployments/${deploymentId}/messages`, body);
  expect(response.status, JSON.stringify(response.body)).toBe(202);
  return response.body as { run_id: string; thread_id: string; status: string };
}

async function answer(deploymentId: string, runId: string, requestId: string, body: Record<string, unknown>) {
  return herm.request('POST', `/v1/deployments/${deploymentId}/runs/${runId}/steering/${requestId}`, body);
}

/** A deployment whose `shell` calls wait for approval, with its event stream open. */
async function steeredDeployment(steering: Record<string, unknown> = { tools: { shell: 'always_ask' } }, extra: Record<string, unknown> = {}) {
  const deployment = await herm.createDeployment({ steering, ...extra, features: { memory: false, ...(extra.features as object | undefined) } });
  const stream = await openSse(deployment.events.url, herm.adminKey);
  return { deployment, stream, id: deployment.deployment_id as string };
}

/** The tool message the model got last for `toolCallId`. */
function toolResultSeen(toolCallId: string): string {
  const request = herm.model.requests.at(-1)!;
  const message = request.messages.find((m) => m.role === 'tool' && m.toolCallId === toolCallId);
  expect(message, 'the model got the call answered').toBeDefined();
  return message!.text;
}

async function waitingRequest(stream: OpenSse, runId: string) {
  const request = await stream.waitFor(isType('steering_request', runId));
  await stream.waitFor((event) => event.type === 'run_status' && event.data.run_id === runId && event.data.status === 'waiting_on_human');
  return request;
}

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe.skipIf(dialect === 'postgres' && !postgresAvailable)(`steering on ${dialect}`, () => {
    let database: TestDatabase;
    let mcp: McpTestServer;

    beforeAll(async () => {
      database = await createTestDatabase(dialect);
      mcp = await startMcpTestServer();
      herm = await startTestServer({
        dataDir: database.dataDir,
        databaseUrl: database.databaseUrl,
        env: { HERM_SSE_HEARTBEAT_MS: '200', HERM_ALLOW_PRIVATE_URLS: 'true' },
      });
    });

    afterAll(async () => {
      await herm?.close();
      await mcp?.close();
      await database?.drop();
    });

    it("holds every tool of an MCP server named in mcp_servers, and calls it once approved", async () => {
      const { stream, id } = await steeredDeployment({ mcp_servers: { prism: 'always_ask' } }, { mcp_servers: [{ name: 'prism', url: mcp.url }] });
      herm.model.enqueue({ toolCalls: [{ id: 'call_mcp', name: 'prism__echo', arguments: { text: 'post it' } }] }, { text: 'Echoed.' });
      const calls = mcp.calls.length;
      const run = await send(id, { content: 'Echo' });
      const request = await waitingRequest(stream, run.run_id);
      expect(request.data).toMatchObject({
        kind: 'tool',
        summary: 'Call the tool prism__echo (MCP server prism) with {"text":"post it"}',
        tool_call: { tool: 'prism__echo', origin: 'prism', tool_call_id: 'call_mcp', arguments: { text: 'post it' } },
      });
      expect(mcp.calls.length).toBe(calls);
      expect((await answer(id, run.run_id, request.data.request_id, { decision: 'approve' })).status).toBe(200);
      expect((await stream.waitFor(isEnd(run.run_id))).data.status).toBe('completed');
      expect(mcp.calls.slice(calls).map((call) => [call.tool, call.arguments])).toEqual([['echo', { text: 'post it' }]]);
      stream.close();
    });

    it('pauses a held call without a model call or lease, lists it pending, and runs it once approved', async () => {
      const { deployment, stream, id } = await steeredDeployment();
      expect(deployment.steering).toEqual({ tools: { shell: 'always_ask' }, mcp_servers: {}, shell_commands: [], default: 'always_allow', expires_after_seconds: null });
      herm.model.enqueue({ text: 'Posting.', toolCalls: [{ id: 'call_post', name: 'shell', arguments: { command: 'echo posted > ads.txt' } }] }, { text: 'Posted the ads.' });
      const run = await send(id, { content: 'Post the ads' });
      const request = await waitingRequest(stream, run.run_id);
      expect(request.data).toMatchObject({
        run_id: run.run_id,
        thread_id: run.thread_id,
        kind: 'tool',
        summary: 'Run the shell command: echo posted > ads.txt',
        tool_call: { tool: 'shell', origin: 'builtin', tool_call_id: 'call_post', arguments: { command: 'echo posted > ads.txt' } },
        options: ['approve', 'deny', 'reply'],
      });
      expect(request.data.request_id).toMatch(/^str_/);
      const expiresIn = Date.parse(request.data.expires_at) - Date.now();
      expect(expiresIn).toBeGreaterThan(86_000_000); // the server default, a day
      expect(expiresIn).toBeLessThanOrEqual(86_400_000);
      const types = stream.events.filter((e) => e.data.run_id === run.run_id).map((e) => e.type);
      expect(types).toEqual(['run_status', 'token', 'tool_call', 'steering_request', 'run_status']);

      // Waiting: the run holds no lease, the model was called once, and the request is listed.
      const waiting = await herm.request('GET', `/v1/deployments/${id}/runs/${run.run_id}`);
      expect(waiting.body.status).toBe('waiting_on_human');
      const requestsBefore = herm.model.requests.length;
      const pending = await herm.request('GET', `/v1/deployments/${id}/steering_requests?status=pending`);
      expect(pending.status).toBe(200);
      expect(pending.body.data.map((r: any) => r.request_id)).toEqual([request.data.request_id]);
      expect(pending.body.data[0]).toMatchObject({ object: 'steering_request', status: 'pending', run_id: run.run_id, decision: null, resolved_at: null });
      const thread = await herm.request('GET', `/v1/deployments/${id}/threads/${run.thread_id}`);
      expect(thread.body.status).toBe('waiting_on_human');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(herm.model.requests.length).toBe(requestsBefore);
      const files = await herm.request('GET', `/v1/deployments/${id}/files?path=ads.txt`);
      expect(files.status).toBe(404);

      const approved = await answer(id, run.run_id, request.data.request_id, { decision: 'approve' });
      expect(approved.status, JSON.stringify(approved.body)).toBe(200);
      expect(approved.body).toMatchObject({ status: 'approved', decision: 'approve', message: null });
      await stream.waitFor(isEnd(run.run_id));
      const after = stream.events.filter((e) => e.data.run_id === run.run_id).map((e) => e.type);
      expect(after).toEqual([
        'run_status', 'token', 'tool_call', 'steering_request', 'run_status',
        'steering_resolved', 'run_status', 'tool_result', 'token', 'run_status',
      ]);
      const events = stream.events.filter((e) => e.data.run_id === run.run_id);
      expect(events[5]!.data).toMatchObject({ request_id: request.data.request_id, status: 'approved', decision: 'approve' });
      expect(events[6]!.data.status).toBe('running');
      expect(events[7]!.data).toMatchObject({ tool_call_id: 'call_post', is_error: false, result: { exit_code: 0 } });
      expect(events[9]!.data.status).toBe('completed');
      const content = await herm.request('GET', `/v1/deployments/${id}/files/content?path=ads.txt`);
      expect(content.body).toBe('posted\n');
      expect(toolResultSeen('call_post')).toContain('"exit_code":0');

      // Answered once: a second answer is a conflict, and nothing is pending any more.
      const again = await answer(id, run.run_id, request.data.request_id, { decision: 'deny' });
      expect(again.status).toBe(409);
      expect(again.body.error).toMatchObject({ type: 'conflict', param: 'request_id' });
      expect((await herm.request('GET', `/v1/deployments/${id}/steering_requests?status=pending`)).body.data).toEqual([]);
      const got = await herm.request('GET', `/v1/deployments/${id}/steering_requests/${request.data.request_id}`);
      expect(got.body).toMatchObject({ status: 'approved', resolved_at: expect.any(String) });
      stream.close();
    });

    it('tells the model of a denial, with the message, as the call\'s result', async () => {
      const { stream, id } = await steeredDeployment({ shell_commands: [{ pattern: 'rm *', policy: 'always_ask' }] });
      herm.model.enqueue(
        { toolCalls: [{ id: 'call_ls', name: 'shell', arguments: { command: 'echo keep > keep.txt' } }] },
        { toolCalls: [{ id: 'call_rm', name: 'shell', arguments: { command: 'rm -rf keep.txt' } }] },
        { text: 'Understood, I kept the files.' },
      );
      const run = await send(id, { content: 'Clean up' });
      const request = await waitingRequest(stream, run.run_id);
      expect(request.data.tool_call.tool_call_id).toBe('call_rm');
      const denied = await answer(id, run.run_id, request.data.request_id, { decision: 'deny', message: 'Keep the files.' });
      expect(denied.status).toBe(200);
      const end = await stream.waitFor(isEnd(run.run_id));
      expect(end.data.status).toBe('completed');
      const result = stream.events.find((e) => e.type === 'tool_result' && e.data.tool_call_id === 'call_rm')!;
      expect(result.data).toMatchObject({ is_error: true, result: { decision: 'deny', message: 'Keep the files.' } });
      const seen = toolResultSeen('call_rm');
      expect(seen).toContain('denied');
      expect(seen).toContain('Keep the files.');
      expect((await herm.request('GET', `/v1/deployments/${id}/files/content?path=keep.txt`)).body).toBe('keep\n');
      stream.close();
    });

    it('pauses on ask_human and gives the model the reply (and an approval with an option) as the answer', async () => {
      const { stream, id } = await steeredDeployment({});
      herm.model.enqueue(
        { toolCalls: [{ id: 'call_ask', name: 'ask_human', arguments: { summary: 'Which colour for the ads?', options: ['blue', 'green'] } }] },
        { toolCalls: [{ id: 'call_ask2', name: 'ask_human', arguments: { summary: 'Post now?' } }] },
        { text: 'Blue it is, posting now.' },
      );
      const run = await send(id, { content: 'Make ads' });
      expect(herm.model.requests.at(-1)?.toolNames ?? []).toBeDefined();
      const first = await waitingRequest(stream, run.run_id);
      expect(herm.model.requests.at(-1)!.toolNames).toContain('ask_human');
      expect(first.data).toMatchObject({ kind: 'ask', summary: 'Which colour for the ads?', tool_call: null, options: ['blue', 'green'] });
      const missing = await answer(id, run.run_id, first.data.request_id, { decision: 'reply' });
      expect(missing.status).toBe(400);
      expect(missing.body.error).toMatchObject({ type: 'validation_error', param: 'message' });
      const bad = await answer(id, run.run_id, first.data.request_id, { decision: 'maybe' });
      expect(bad.body.error).toMatchObject({ type: 'validation_error', param: 'decision' });
      const unknown = await answer(id, run.run_id, 'str_nope', { decision: 'approve' });
      expect(unknown.status).toBe(404);
      expect(unknown.body.error).toMatchObject({ type: 'not_found', param: 'request_id' });
      const wrongRun = await answer(id, 'run_nope', first.data.request_id, { decision: 'approve' });
      expect(wrongRun.status).toBe(404);
      expect(wrongRun.body.error.param).toBe('run_id');

      expect((await answer(id, run.run_id, first.data.request_id, { decision: 'reply', message: 'Blue, please.' })).status).toBe(200);
      const second = await stream.waitFor((e) => e.type === 'steering_request' && e.data.run_id === run.run_id && e.data.request_id !== first.data.request_id);
      expect(toolResultSeen('call_ask')).toContain('Blue, please.');
      expect(second.data.options).toEqual(['approve', 'deny', 'reply']);
      expect((await answer(id, run.run_id, second.data.request_id, { decision: 'approve', message: 'Yes, post now' })).status).toBe(200);
      expect((await stream.waitFor(isEnd(run.run_id))).data.status).toBe('completed');
      expect(toolResultSeen('call_ask2')).toContain('Yes, post now');
      stream.close();
    });

    it('resolves an expired request as denied, with an event, and the run goes on', async () => {
      const { stream, id } = await steeredDeployment({ tools: { shell: 'always_ask' }, expires_after_seconds: 1 });
      herm.model.enqueue({ toolCalls: [{ id: 'call_late', name: 'shell', arguments: { command: 'echo late' } }] }, { text: 'Nobody answered; skipped.' });
      const run = await send(id, { content: 'Go' });
      const request = await waitingRequest(stream, run.run_id);
      expect(Date.parse(request.data.expires_at) - Date.parse(request.data.created_at)).toBeLessThanOrEqual(1_000);
      const resolved = await stream.waitFor(isType('steering_resolved', run.run_id), 10_000);
      expect(resolved.data).toMatchObject({ request_id: request.data.request_id, status: 'expired', decision: 'deny' });
      expect((await stream.waitFor(isEnd(run.run_id))).data.status).toBe('completed');
      expect(toolResultSeen('call_late')).toContain('expired');
      const late = await answer(id, run.run_id, request.data.request_id, { decision: 'approve' });
      expect(late.status).toBe(409);
      expect(late.body.error.message).toContain('expired');
      stream.close();
    });

    it('takes exactly one of concurrent answers and a cancel', async () => {
      const { stream, id } = await steeredDeployment();
      // One turn only: whether the run resumes depends on who wins, and a turn left queued would go to the next test.
      herm.model.enqueue({ toolCalls: [{ id: 'call_race', name: 'shell', arguments: { command: 'echo race >> race.log' } }] });
      const run = await send(id, { content: 'Go' });
      const request = await waitingRequest(stream, run.run_id);
      const [cancel, ...answers] = await Promise.all([
        herm.request('POST', `/v1/deployments/${id}/runs/${run.run_id}/cancel`),
        ...['approve', 'deny', 'approve', 'reply'].map((decision) => answer(id, run.run_id, request.data.request_id, { decision, message: 'm' })),
      ]);
      expect(cancel!.status).toBe(200);
      const won = answers.filter((response) => response.status === 200);
      expect(answers.filter((response) => response.status === 409)).toHaveLength(answers.length - won.length);
      expect(won.length).toBeLessThanOrEqual(1);
      const end = await stream.waitFor(isEnd(run.run_id));
      const resolved = stream.events.filter((e) => e.type === 'steering_resolved' && e.data.run_id === run.run_id);
      expect(resolved).toHaveLength(1);
      if (won.length === 0) expect(resolved[0]!.data.status).toBe('cancelled');
      else expect(resolved[0]!.data.status).toBe(won[0]!.body.status);
      // Cancelled while waiting, it ended there; resumed by the answer that got there first, the cancel stops it at its
      // next write (unless it finished first).
      if (won.length === 0) expect(end.data).toMatchObject({ status: 'error', error: { type: 'cancelled' } });
      expect(stream.events.filter((e) => e.type === 'tool_result' && e.data.run_id === run.run_id)).toHaveLength(1);
      stream.close();
    });

    it('cancels a waiting run: its request resolves as cancelled and the run ends in error', async () => {
      const { stream, id } = await steeredDeployment();
      herm.model.enqueue({ toolCalls: [{ id: 'call_c', name: 'shell', arguments: { command: 'echo never' } }] });
      const run = await send(id, { content: 'Go' });
      const request = await waitingRequest(stream, run.run_id);
      const cancelled = await herm.request('POST', `/v1/deployments/${id}/runs/${run.run_id}/cancel`);
      expect(cancelled.status).toBe(200);
      expect(cancelled.body).toMatchObject({ status: 'error', error: { type: 'cancelled' } });
      const end = await stream.waitFor(isEnd(run.run_id));
      expect(end.data).toMatchObject({ status: 'error', error: { type: 'cancelled' } });
      const events = stream.events.filter((e) => e.data.run_id === run.run_id).map((e) => e.type);
      expect(events.slice(-3)).toEqual(['steering_resolved', 'tool_result', 'run_status']);
      expect(stream.events.find((e) => e.type === 'steering_resolved' && e.data.run_id === run.run_id)!.data.status).toBe('cancelled');
      expect((await answer(id, run.run_id, request.data.request_id, { decision: 'approve' })).status).toBe(409);
      // The thread is free again and its history valid: the next message starts a run that sees the cancelled call.
      herm.model.enqueue({ text: 'Fine.' });
      const next = await send(id, { content: 'Never mind' });
      expect((await stream.waitFor(isEnd(next.run_id))).data.status).toBe('completed');
      expect(toolResultSeen('call_c')).toContain('cancelled');
      stream.close();
    });

    it('with features.steering off raises no request and offers no ask tool', async () => {
      const { stream, id } = await steeredDeployment({ tools: { shell: 'always_ask' } }, { features: { steering: false } });
      const tools = await herm.request('GET', `/v1/deployments/${id}/tools`);
      expect(tools.body.data.find((tool: any) => tool.name === 'ask_human')).toMatchObject({ origin: 'builtin', enabled: false });
      herm.model.enqueue({ toolCalls: [{ id: 'call_free', name: 'shell', arguments: { command: 'echo free' } }] }, { text: 'Done.' });
      const run = await send(id, { content: 'Go' });
      expect((await stream.waitFor(isEnd(run.run_id))).data.status).toBe('completed');
      expect(stream.events.some((e) => e.type === 'steering_request')).toBe(false);
      expect(herm.model.requests.at(-1)!.toolNames).not.toContain('ask_human');
      expect(herm.model.requests.at(-1)!.toolNames).toContain('shell');
      stream.close();
    });

    it('validates the policy, naming the field', async () => {
      const deployment = await herm.createDeployment({ features: { memory: false } });
      expect(deployment.steering.default).toBe('always_allow');
      const cases: [unknown, string][] = [
        [{ tools: { shell: 'sometimes' } }, 'steering.tools.shell'],
        [{ shell_commands: [{ pattern: '', policy: 'always_ask' }] }, 'steering.shell_commands.0.pattern'],
        [{ shell_commands: [{ pattern: 'ls', policy: 'ask' }] }, 'steering.shell_commands.0.policy'],
        [{ expires_after_seconds: 0 }, 'steering.expires_after_seconds'],
        [{ expires_after_seconds: 1.5 }, 'steering.expires_after_seconds'],
        [{ unknown: true }, 'steering.unknown'],
      ];
      for (const [steering, param] of cases) {
        const response = await herm.request('PATCH', `/v1/deployments/${deployment.deployment_id}`, { steering });
        expect(response.status, JSON.stringify(steering)).toBe(400);
        expect(response.body.error.type).toBe('validation_error');
        expect(response.body.error.param, JSON.stringify(steering)).toBe(param);
      }
      const updated = await herm.request('PATCH', `/v1/deployments/${deployment.deployment_id}`, {
        steering: { mcp_servers: { meta: 'always_ask' }, shell_commands: [{ pattern: 'git push*', policy: 'always_ask' }], expires_after_seconds: 3600 },
      });
      expect(updated.status).toBe(200);
      expect(updated.body.steering).toEqual({ tools: {}, mcp_servers: { meta: 'always_ask' }, shell_commands: [{ pattern: 'git push*', policy: 'always_ask' }], default: 'always_allow', expires_after_seconds: 3600 });
      const got = await herm.request('GET', `/v1/deployments/${deployment.deployment_id}`);
      expect(got.body.steering).toEqual(updated.body.steering);
      const reset = await herm.request('PATCH', `/v1/deployments/${deployment.deployment_id}`, { steering: null });
      expect(reset.body.steering.shell_commands).toEqual([]);
    });

    describe('multitask_strategy', () => {
      it('reject answers 409 run_in_progress while a run waits, and posts nothing', async () => {
        const { stream, id } = await steeredDeployment();
        herm.model.enqueue({ toolCalls: [{ id: 'call_r', name: 'shell', arguments: { command: 'echo r' } }] }, { text: 'ok' });
        const run = await send(id, { content: 'Go' });
        const request = await waitingRequest(stream, run.run_id);
        const rejected = await herm.request('POST', `/v1/deployments/${id}/messages`, { content: 'again', multitask_strategy: 'reject' });
        expect(rejected.status).toBe(409);
        expect(rejected.body.error).toMatchObject({ type: 'run_in_progress', param: 'multitask_strategy' });
        const bad = await herm.request('POST', `/v1/deployments/${id}/messages`, { content: 'again', multitask_strategy: 'rollback' });
        expect(bad.body.error).toMatchObject({ type: 'validation_error', param: 'multitask_strategy' });
        // fold (the default) into a waiting run: the message waits with it and is seen once it resumes.
        const folded = await send(id, { content: 'Also add a caption.' });
        expect(folded.run_id).toBe(run.run_id);
        expect((await answer(id, run.run_id, request.data.request_id, { decision: 'approve' })).status).toBe(200);
        await stream.waitFor(isEnd(run.run_id));
        const thread = await herm.request('GET', `/v1/deployments/${id}/threads/${run.thread_id}`);
        expect(thread.body.messages.map((m: any) => m.content)).toEqual(['Go', 'Also add a caption.', 'ok']);
        expect(herm.model.requests.at(-1)!.messages.filter((m) => m.role === 'user').map((m) => m.text)).toEqual(['Go', 'Also add a caption.']);
        // With no run active, reject starts one as usual.
        herm.model.enqueue({ text: 'fresh' });
        const fresh = await send(id, { content: 'New task', multitask_strategy: 'reject' });
        expect(fresh.run_id).not.toBe(run.run_id);
        await stream.waitFor(isEnd(fresh.run_id));
        stream.close();
      });

      it('enqueue runs the message after the active run, as a run of its own', async () => {
        const { stream, id } = await steeredDeployment({});
        herm.model.enqueue(
          { toolCalls: [{ id: 'call_slow', name: 'shell', arguments: { command: 'sleep 1; echo first' } }] },
          { text: 'First done.' },
          { text: 'Second done.' },
        );
        const first = await send(id, { content: 'First task' });
        await stream.waitFor(isType('tool_call', first.run_id));
        const second = await send(id, { content: 'Second task', multitask_strategy: 'enqueue' });
        expect(second.run_id).not.toBe(first.run_id);
        expect(second.status).toBe('running');
        const queued = await herm.request('GET', `/v1/deployments/${id}/runs/${second.run_id}`);
        expect(queued.body.started_at).toBeNull();
        expect((await stream.waitFor(isEnd(first.run_id))).data.status).toBe('completed');
        expect((await stream.waitFor(isEnd(second.run_id))).data.status).toBe('completed');
        const firstEnd = stream.events.findIndex(isEnd(first.run_id));
        const secondStart = stream.events.findIndex((e) => e.data.run_id === second.run_id);
        expect(secondStart).toBeGreaterThan(firstEnd);
        expect(herm.model.requests.at(-1)!.messages.filter((m) => m.role === 'user').map((m) => m.text)).toEqual(['First task', 'Second task']);
        stream.close();
      });

      it('enqueue behind a waiting run starts once the answered run ends; deleting the thread cancels queued runs', async () => {
        const { stream, id } = await steeredDeployment();
        herm.model.enqueue({ toolCalls: [{ id: 'call_q', name: 'shell', arguments: { command: 'echo q' } }] }, { text: 'A done.' }, { text: 'B done.' });
        const thread = await herm.request('POST', `/v1/deployments/${id}/threads`, {});
        const a = await send(id, { content: 'A', thread_id: thread.body.thread_id });
        const request = await waitingRequest(stream, a.run_id);
        const b = await send(id, { content: 'B', thread_id: thread.body.thread_id, multitask_strategy: 'enqueue' });
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(stream.events.some((e) => e.data.run_id === b.run_id)).toBe(false);
        expect((await answer(id, a.run_id, request.data.request_id, { decision: 'approve' })).status).toBe(200);
        expect((await stream.waitFor(isEnd(a.run_id))).data.status).toBe('completed');
        expect((await stream.waitFor(isEnd(b.run_id))).data.status).toBe('completed');

        // A queued run on a deleted thread never starts.
        herm.model.enqueue({ toolCalls: [{ id: 'call_q2', name: 'shell', arguments: { command: 'echo q2' } }] });
        const c = await send(id, { content: 'C', thread_id: thread.body.thread_id });
        await waitingRequest(stream, c.run_id);
        const d = await send(id, { content: 'D', thread_id: thread.body.thread_id, multitask_strategy: 'enqueue' });
        expect((await herm.request('DELETE', `/v1/deployments/${id}/threads/${thread.body.thread_id}`)).status).toBe(200);
        expect((await stream.waitFor(isEnd(c.run_id))).data.error.type).toBe('cancelled');
        expect((await stream.waitFor(isEnd(d.run_id))).data.error.type).toBe('cancelled');
        expect(stream.events.filter((e) => e.data.run_id === d.run_id).map((e) => e.type)).toEqual(['run_status']);
        stream.close();
      });

      it('interrupt stops the active run (its progress kept) and starts fresh with the message', async () => {
        const { stream, id } = await steeredDeployment({});
        herm.model.enqueue(
          { text: 'Working on it.', toolCalls: [{ id: 'call_long', name: 'shell', arguments: { command: 'sleep 30' } }] },
          { text: 'Switched to the new task.' },
        );
        const first = await send(id, { content: 'Long task' });
        await stream.waitFor(isType('tool_call', first.run_id));
        const started = Date.now();
        const second = await send(id, { content: 'Do this instead', multitask_strategy: 'interrupt' });
        expect(second.run_id).not.toBe(first.run_id);
        const firstEnd = await stream.waitFor(isEnd(first.run_id));
        expect(firstEnd.data).toMatchObject({ status: 'error', error: { type: 'cancelled' } });
        expect(Date.now() - started).toBeLessThan(20_000); // the sleep was killed, not waited for
        expect((await stream.waitFor(isEnd(second.run_id))).data.status).toBe('completed');
        const request = herm.model.requests.at(-1)!;
        expect(request.messages.filter((m) => m.role === 'user').map((m) => m.text)).toEqual(['Long task', 'Do this instead']);
        expect(request.messages.some((m) => m.role === 'assistant' && m.text === 'Working on it.')).toBe(true);
        expect(toolResultSeen('call_long')).toContain('cancelled');
        stream.close();
      });

      it('interrupt on a waiting run cancels its request and starts the new run', async () => {
        const { stream, id } = await steeredDeployment();
        herm.model.enqueue({ toolCalls: [{ id: 'call_w', name: 'shell', arguments: { command: 'echo w' } }] }, { text: 'New plan.' });
        const first = await send(id, { content: 'Old plan' });
        await waitingRequest(stream, first.run_id);
        const second = await send(id, { content: 'New plan', multitask_strategy: 'interrupt' });
        expect((await stream.waitFor(isEnd(first.run_id))).data.error.type).toBe('cancelled');
        expect(stream.events.find((e) => e.type === 'steering_resolved' && e.data.run_id === first.run_id)!.data.status).toBe('cancelled');
        expect((await stream.waitFor(isEnd(second.run_id))).data.status).toBe('completed');
        stream.close();
      });
    });
  });
}
