// History compaction: before the thread outgrows the model's context, older turns are summarized by the model.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openSse, type WireEvent } from '../support/sse-client.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

let herm: TestServer;

beforeAll(async () => {
  herm = await startTestServer({ env: { HERM_MODEL_CONTEXT_TOKENS: '1000' } });
});

afterAll(async () => {
  await herm?.close();
});

it('summarizes older turns once the estimate passes the threshold, and keeps the newest turn verbatim', async () => {
  const deployment = await herm.createDeployment();
  const stream = await openSse(deployment.events.url, herm.adminKey);
  herm.model.setHandler((request) => {
    const system = request.messages.find((message) => message.role === 'system')?.text ?? '';
    if (system.includes('You compact conversation history')) return { text: 'SUMMARY: the user likes blue and owns a cat.' };
    return { text: 'Noted.' };
  });
  try {
    const turn = (index: number) => `Message ${index}: ${'the user likes blue and owns a cat. '.repeat(22)}`;
    for (const index of [1, 2, 3]) {
      const response = await herm.request('POST', `/v1/deployments/${deployment.deployment_id}/messages`, { content: turn(index) });
      await stream.waitFor((event: WireEvent) => event.type === 'run_status' && event.data.run_id === response.body.run_id && event.data.status === 'completed');
    }
    const requests = herm.model.requests;
    const summaryRequests = requests.filter((request) => request.messages[0]?.text.includes('You compact conversation history'));
    expect(summaryRequests).toHaveLength(1);
    expect(summaryRequests[0]!.lastUserText).toContain('Message 1');
    expect(summaryRequests[0]!.lastUserText).toContain('Message 2');
    const last = requests.at(-1)!;
    expect(last.messages[0]!.text).toContain('SUMMARY: the user likes blue and owns a cat.');
    expect(last.messages.filter((message) => message.role === 'user').map((message) => message.text.slice(0, 10))).toEqual(['Message 3:']);
    // The visible history is untouched by compaction.
    const thread = await herm.request('GET', `/v1/deployments/${deployment.deployment_id}/threads/${deployment.thread_id}`);
    expect(thread.body.messages).toHaveLength(6);
  } finally {
    herm.model.setHandler(undefined);
    stream.close();
  }
});
