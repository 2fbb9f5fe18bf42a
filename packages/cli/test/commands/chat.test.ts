import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import Herm from 'herm';
import { describeToolCall, parseSteeringAnswer, runChat, summarizeToolResult } from '../../src/commands/chat.ts';
import {
  openSse,
  sendError,
  sendJson,
  startScriptedServer,
  type ScriptedServer,
  type SseEvent,
} from '../../../sdk/test/helpers/scripted-server.ts';

let server: ScriptedServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

type Script = (runId: string, threadId: string) => Array<Omit<SseEvent, 'id'>>;

/**
 * A deployment whose default thread is thr_default. Each message content picks a script of events,
 * written to the open event streams right after the 202.
 */
async function chatServer(scripts: Record<string, Script>, options: { sameRunFor?: string[] } = {}): Promise<ScriptedServer> {
  const streams: Array<(event: SseEvent) => void> = [];
  let eventNumber = 0;
  let runNumber = 0;
  let lastRunId = '';
  return startScriptedServer((request, response) => {
    const route = `${request.method} ${request.pathname}`;
    if (route === 'GET /v1/deployments/dep_1') return sendJson(response, 200, { deployment_id: 'dep_1', thread_id: 'thr_default' });
    if (route === 'POST /v1/deployments/dep_1/threads') return sendJson(response, 201, { thread_id: 'thr_fresh' });
    if (route === 'GET /v1/deployments/dep_1/events') {
      streams.push(openSse(response, { 'herm-stream-position': 'evt_0' }));
      return;
    }
    if (route === 'POST /v1/deployments/dep_1/messages') {
      const { content, thread_id: threadId } = request.json as { content: string; thread_id: string };
      const script = scripts[content];
      if (!script) return sendError(response, 409, 'deployment_not_ready', { message: 'Deployment dep_1 is provisioning.' });
      const runId = options.sameRunFor?.includes(content) ? lastRunId : `run_${++runNumber}`;
      lastRunId = runId;
      sendJson(response, 202, { run_id: runId, deployment_id: 'dep_1', thread_id: threadId, status: 'running' });
      // Another client's run on the same thread: not part of this conversation.
      const noise = { type: 'token', data: { delta: 'NOISE', run_id: 'run_other', thread_id: threadId } };
      for (const event of [noise, ...script(runId, threadId)]) {
        const id = `evt_${++eventNumber}`;
        for (const send of streams) send({ ...event, id, data: { thread_id: threadId, created_at: 't', run_id: runId, ...event.data } });
      }
      return;
    }
    sendError(response, 404, 'not_found', { message: route });
  });
}

const scripts: Record<string, Script> = {
  'list files': () => [
    { type: 'run_status', data: { status: 'running' } },
    { type: 'token', data: { delta: 'Listing' } },
    { type: 'tool_call', data: { tool: 'shell', tool_call_id: 'call_1', arguments: { command: 'ls' } } },
    { type: 'tool_result', data: { tool: 'shell', tool_call_id: 'call_1', result: 'a.txt\nb.txt\n', is_error: false } },
    { type: 'token', data: { delta: 'Two files: ' } },
    { type: 'token', data: { delta: 'a.txt and b.txt.' } },
    { type: 'run_status', data: { status: 'completed' } },
  ],
  fail: () => [
    { type: 'token', data: { delta: 'Let me' } },
    { type: 'run_status', data: { status: 'error', error: { type: 'model_error', message: 'model unavailable' } } },
  ],
  'post the ads': () => [
    { type: 'steering_request', data: { summary: 'About to post 5 ads to Meta. Approve?' } },
    { type: 'run_status', data: { status: 'waiting_on_human' } },
  ],
  yes: () => [
    { type: 'run_status', data: { status: 'running' } },
    { type: 'token', data: { delta: 'Posted.' } },
    { type: 'run_status', data: { status: 'completed' } },
  ],
};

function collectText(output: PassThrough): () => string {
  let text = '';
  output.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
  });
  return () => text;
}

describe('runChat', () => {
  it('streams each reply and returns to the prompt on completed and on error', async () => {
    server = await chatServer(scripts);
    const input = new PassThrough();
    const output = new PassThrough();
    const text = collectText(output);
    input.write('list files\nfail\n/exit\n');

    await runChat({ deploymentId: 'dep_1', client: new Herm({ apiKey: 'k', baseURL: server.origin }), input, output });

    expect(text()).toBe(
      [
        'Chatting with dep_1 on thread thr_default. Type /exit to quit.',
        'you> list files',
        'Listing',
        '● shell  ls',
        '  ⎿ a.txt',
        '    b.txt',
        'Two files: a.txt and b.txt.',
        'you> fail',
        'Let me',
        '[error: model unavailable]',
        'you> /exit',
        '',
      ].join('\n'),
    );
    const routes = server.requests.map((request) => `${request.method} ${request.pathname}`);
    expect(routes).toEqual([
      'GET /v1/deployments/dep_1',
      'GET /v1/deployments/dep_1/events',
      'POST /v1/deployments/dep_1/messages',
      'POST /v1/deployments/dep_1/messages',
    ]);
    expect(server.requests[1]?.query.get('thread_id')).toBe('thr_default');
    expect(server.requests[2]?.json).toEqual({ content: 'list files', thread_id: 'thr_default' });
  });

  it('quits at end of input after the run in flight', async () => {
    server = await chatServer(scripts);
    const input = new PassThrough();
    const output = new PassThrough();
    const text = collectText(output);
    input.end('list files\n');

    await runChat({ deploymentId: 'dep_1', threadId: 'thr_given', client: new Herm({ apiKey: 'k', baseURL: server.origin }), input, output });

    expect(text()).toContain('Two files: a.txt and b.txt.\nyou> ');
    expect(text().endsWith('you> \n')).toBe(true);
    expect(server.requests.map((request) => request.pathname)).toEqual([
      '/v1/deployments/dep_1/events',
      '/v1/deployments/dep_1/messages',
    ]);
    expect(server.requests[0]?.query.get('thread_id')).toBe('thr_given');
  });

  it('prints an API error of a message and carries on', async () => {
    server = await chatServer(scripts);
    const input = new PassThrough();
    const output = new PassThrough();
    const text = collectText(output);
    input.end('too early\nlist files\n');

    const client = new Herm({ apiKey: 'k', baseURL: server.origin, maxRetries: 0 });
    await runChat({ deploymentId: 'dep_1', client, input, output });

    expect(text()).toContain('you> too early\n[error: 409 deployment_not_ready: Deployment dep_1 is provisioning.]\nyou> list files\n');
    expect(text()).toContain('Two files: a.txt and b.txt.');
  });

  it('returns the prompt when the agent waits for a human, and the reply resumes the run', async () => {
    server = await chatServer(scripts, { sameRunFor: ['yes'] });
    const input = new PassThrough();
    const output = new PassThrough();
    const text = collectText(output);
    input.end('post the ads\nyes\n');

    await runChat({ deploymentId: 'dep_1', client: new Herm({ apiKey: 'k', baseURL: server.origin }), input, output });

    expect(text()).toContain(
      'you> post the ads\n[steering_request About to post 5 ads to Meta. Approve?]\n[waiting for your reply]\nyou> yes\nPosted.\nyou> ',
    );
  });

  it('starts a fresh thread with --thread new', async () => {
    server = await chatServer(scripts);
    const input = new PassThrough();
    const output = new PassThrough();
    input.end('/exit\n');

    await runChat({ deploymentId: 'dep_1', threadId: 'new', client: new Herm({ apiKey: 'k', baseURL: server.origin }), input, output });

    expect(server.requests.map((request) => `${request.method} ${request.pathname}`)).toEqual([
      'POST /v1/deployments/dep_1/threads',
      'GET /v1/deployments/dep_1/events',
    ]);
    expect(server.requests[1]?.query.get('thread_id')).toBe('thr_fresh');
  });

  it('fails with the typed error when the deployment does not exist', async () => {
    server = await chatServer(scripts);
    const input = new PassThrough();
    const output = new PassThrough();
    const client = new Herm({ apiKey: 'k', baseURL: server.origin });
    await expect(runChat({ deploymentId: 'dep_missing', client, input, output })).rejects.toMatchObject({
      status: 404,
      type: 'not_found',
    });
  });
});

describe('tool lines', () => {
  it('colours the tool line only when asked (a TTY without NO_COLOR)', async () => {
    server = await chatServer(scripts);
    const input = new PassThrough();
    const output = new PassThrough();
    const text = collectText(output);
    input.end('list files\n');
    await runChat({ deploymentId: 'dep_1', client: new Herm({ apiKey: 'k', baseURL: server.origin }), input, output, color: true });
    expect(text()).toContain('\x1b[36m●\x1b[0m \x1b[1mshell\x1b[0m  ls\n');
  });

  it('summarises a command result: exit code, the first 3 lines, how many more', () => {
    const stdout = Array.from({ length: 45 }, (_, index) => `line ${index + 1}`).join('\n') + '\n';
    expect(summarizeToolResult({ exit_code: 0, stdout, stderr: '', timed_out: false }, false)).toEqual({
      status: 'exit 0',
      lines: ['line 1', 'line 2', 'line 3', '… 42 more lines'],
    });
    expect(summarizeToolResult({ exit_code: 2, stdout: '', stderr: 'ls: nope\n' }, true)).toEqual({ status: 'exit 2, error', lines: ['ls: nope'] });
    expect(summarizeToolResult('one\ntwo', false)).toEqual({ status: undefined, lines: ['one', 'two'] });
  });

  it('shows the argument that says what a call does', () => {
    expect(describeToolCall({ command: 'echo hi && uname -a' })).toBe('echo hi && uname -a');
    expect(describeToolCall({ path: 'notes.md', content: 'x' })).toBe('notes.md');
    expect(describeToolCall({ command: 'set -e\nmake\nmake test' })).toBe('set -e … (+2 lines)');
    expect(describeToolCall({ a: 1 })).toBe('{"a":1}');
  });
});

describe('parseSteeringAnswer', () => {
  const tool = { kind: 'tool' as const, options: ['approve', 'deny', 'reply'] };
  const question = { kind: 'ask' as const, options: ['blue', 'green', 'no logo'] };

  it('reads approve, deny (with a reason) and a reply; an empty line is no answer', () => {
    for (const line of ['a', 'approve', 'Y', 'yes']) expect(parseSteeringAnswer(line, tool)).toEqual({ decision: 'approve' });
    for (const line of ['d', 'deny', 'n', 'NO']) expect(parseSteeringAnswer(line, tool)).toEqual({ decision: 'deny' });
    expect(parseSteeringAnswer('d: too expensive', tool)).toEqual({ decision: 'deny', message: 'too expensive' });
    expect(parseSteeringAnswer('deny - not today', tool)).toEqual({ decision: 'deny', message: 'not today' });
    expect(parseSteeringAnswer('  Post only two of them.  ', tool)).toEqual({ decision: 'reply', message: 'Post only two of them.' });
    expect(parseSteeringAnswer('nothing like that', tool)).toEqual({ decision: 'reply', message: 'nothing like that' });
    expect(parseSteeringAnswer('   ', tool)).toBeUndefined();
  });

  it("picks a question's option by number or text", () => {
    expect(parseSteeringAnswer('2', question)).toEqual({ decision: 'approve', message: 'green' });
    expect(parseSteeringAnswer('No Logo', question)).toEqual({ decision: 'approve', message: 'no logo' });
    expect(parseSteeringAnswer('4', question)).toEqual({ decision: 'reply', message: '4' });
    expect(parseSteeringAnswer('purple', question)).toEqual({ decision: 'reply', message: 'purple' });
  });
});
