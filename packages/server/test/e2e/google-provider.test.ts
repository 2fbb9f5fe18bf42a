// A deployment on a Google model, end to end: the real server drives the AI SDK's Google provider over
// HTTP against the scripted model speaking the Gemini API, through a tool call in the real sandbox.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScriptedModelServer, type ScriptedModelServer } from '../support/scripted-model-server.ts';
import { openSse, type WireEvent } from '../support/sse-client.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const isEnd = (runId: string) => (event: WireEvent) =>
  event.type === 'run_status' && event.data.run_id === runId && (event.data.status === 'completed' || event.data.status === 'error');

let model: ScriptedModelServer;
let herm: TestServer;

beforeAll(async () => {
  model = await startScriptedModelServer();
  herm = await startTestServer({
    model,
    // The Google provider appends `/models/{id}:streamGenerateContent` to the base URL, which therefore
    // carries the API version, as the default `https://generativelanguage.googleapis.com/v1beta` does.
    env: { GOOGLE_GENERATIVE_AI_API_KEY: 'test-key', GOOGLE_GENERATIVE_AI_BASE_URL: model.googleUrl },
  });
});

afterAll(async () => {
  await herm?.close();
  await model?.close();
});

describe('a deployment on google/gemini-2.5-pro', () => {
  it('runs a tool call and answers, reaching Gemini under the id its API accepts', async () => {
    const deployment = await herm.createDeployment({ model: 'google/gemini-2.5-pro' });
    const stream = await openSse(deployment.events.url, herm.adminKey);
    model.enqueue(
      { toolCalls: [{ name: 'write_file', arguments: { path: 'notes.md', content: '# Notes\nFrom Gemini.\n' } }] },
      { text: ['Saved ', 'notes.md.'] },
    );
    const sent = await herm.request('POST', `/v1/deployments/${deployment.deployment_id}/messages`, { content: 'Write notes.md' });
    expect(sent.status, JSON.stringify(sent.body)).toBe(202);
    const runId: string = sent.body.run_id;
    const end = await stream.waitFor(isEnd(runId));
    expect(end.data, JSON.stringify(end.data)).toMatchObject({ status: 'completed', run_id: runId });

    const events = stream.events.filter((event) => event.data.run_id === runId);
    expect(events.map((event) => event.type)).toEqual(['run_status', 'tool_call', 'tool_result', 'token', 'token', 'run_status']);
    expect(events[1]!.data).toMatchObject({ tool: 'write_file', arguments: { path: 'notes.md' } });
    expect(events[2]!.data).toMatchObject({ tool: 'write_file', is_error: false });
    expect(events.filter((event) => event.type === 'token').map((event) => event.data.delta).join('')).toBe('Saved notes.md.');
    expect(model.pendingTurns).toBe(0);

    expect(model.requests).toHaveLength(2);
    for (const request of model.requests) {
      expect(request).toMatchObject({ api: 'gemini', model: 'gemini-2.5-pro', path: '/v1beta/models/gemini-2.5-pro:streamGenerateContent', stream: true });
      expect(request.headers['x-goog-api-key']).toBe('test-key');
      expect(request.toolNames).toContain('write_file');
    }
    // The second request carried the call and its result back, as a functionCall and a functionResponse.
    const followUp = model.requests[1]!.messages;
    expect(followUp.map((message) => message.role)).toEqual(['system', 'user', 'assistant', 'tool']);
    expect(followUp[0]!.text).toContain('You are a test agent.');
    const call = followUp[2]!.toolCalls[0]!;
    expect(call).toMatchObject({ name: 'write_file' });
    expect(JSON.parse(call.arguments)).toEqual({ path: 'notes.md', content: '# Notes\nFrom Gemini.\n' });
    expect(followUp[3]!.toolCallId).toBe(call.id);
    expect(followUp[3]!.text.length).toBeGreaterThan(0);

    const thread = await herm.request('GET', `/v1/deployments/${deployment.deployment_id}/threads/${deployment.thread_id}`);
    expect(thread.body.messages.map((message: any) => [message.role, message.content])).toEqual([
      ['user', 'Write notes.md'],
      ['agent', 'Saved notes.md.'],
    ]);
    stream.close();
  });
});
