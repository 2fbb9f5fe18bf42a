// A first turn whose tool output overflows the context window (12 parallel shell calls, each printing 29,000
// characters to stdout and to stderr) completes: the oldest results are shortened to previews in what the model is
// sent, and when even that cannot fit, the turn is summarised, with the request kept verbatim.
import { afterAll, describe, expect, it } from 'vitest';
import type { ScriptedRequest, ScriptedTurn } from '../support/scripted-model-server.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const CALLS = 12;
const PRINT = "head -c 29000 /dev/zero | tr '\\0' a; head -c 29000 /dev/zero | tr '\\0' b >&2";
const REQUEST = 'Run the twelve commands and tell me what they printed.';

const servers: TestServer[] = [];
afterAll(async () => {
  for (const server of servers) await server.close();
});

const isSummaryRequest = (request: ScriptedRequest) => request.messages[0]?.text.includes('You compact conversation history') ?? false;

/** Twelve shell calls first; an answer once results (or a summary of them) are in. */
function agent(request: ScriptedRequest): ScriptedTurn {
  if (isSummaryRequest(request)) return { text: 'SUMMARY: twelve commands ran; each printed 29,000 a on stdout and 29,000 b on stderr.' };
  const system = request.messages.find((message) => message.role === 'system')?.text ?? '';
  if (request.messages.some((message) => message.role === 'tool') || system.includes('Earlier in this conversation')) return { text: 'All twelve printed a and b.' };
  return { toolCalls: Array.from({ length: CALLS }, () => ({ name: 'shell', arguments: { command: PRINT } })) };
}

async function runFirstTurn(contextTokens: number) {
  const herm = await startTestServer({ env: { HERM_MODEL_CONTEXT_TOKENS: String(contextTokens) } });
  servers.push(herm);
  herm.model.setHandler(agent);
  const deployment = await herm.createDeployment();
  const run = await herm.sendAndWait(deployment.deployment_id, { content: REQUEST });
  const requests = herm.model.requests;
  return { herm, run, requests, answer: requests.filter((request) => !isSummaryRequest(request)).at(-1)! };
}

describe('a first turn of huge tool outputs', () => {
  it('completes with the oldest results previewed when previews are enough', async () => {
    const { run, requests, answer } = await runFirstTurn(200_000);
    expect(run.status, JSON.stringify(run.error)).toBe('completed');
    expect(requests.filter(isSummaryRequest)).toHaveLength(0);
    const results = answer.messages.filter((message) => message.role === 'tool');
    expect(results).toHaveLength(CALLS);
    // Oldest first: the first results are previews, the newest are whole.
    expect(results[0]!.text).toContain('characters cut from this earlier output to save context');
    expect(results[0]!.text.length).toBeLessThan(10_000);
    expect(results.at(-1)!.text).toContain('a'.repeat(29_000));
    expect(results.at(-1)!.text).toContain('b'.repeat(29_000));
    const prompt = answer.messages.reduce((sum, message) => sum + message.text.length, 0);
    expect(prompt / 4).toBeLessThan(200_000 * 0.7);
  }, 120_000);

  it('completes in a window too small even for stubs: the turn is summarised and the request kept', async () => {
    const { herm, run, requests, answer } = await runFirstTurn(1_000);
    expect(run.status, JSON.stringify(run.error)).toBe('completed');
    expect(requests.filter(isSummaryRequest).length).toBeGreaterThan(0);
    expect(answer.messages.length).toBeGreaterThan(1);
    expect(answer.messages[0]!.text).toContain('SUMMARY: twelve commands ran');
    expect(answer.messages[0]!.text).toContain(REQUEST);
    expect(answer.messages[1]!.role).toBe('user');
    expect(answer.messages.filter((message) => message.role === 'tool')).toHaveLength(0);
    const thread = await herm.request('GET', `/v1/deployments/${run.deployment_id}/threads/${run.thread_id}`);
    expect(thread.body.messages.map((message: { role: string }) => message.role)).toEqual(['user', 'agent']);
  }, 120_000);
});
