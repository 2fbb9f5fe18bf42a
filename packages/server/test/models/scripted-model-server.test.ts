// The scripted model's wire formats, checked byte-level with plain fetch (the provider tests prove
// the AI SDK accepts them; these pin the details a provider might tolerate being wrong).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SCRIPTED_TEXT, startScriptedModelServer, type ScriptedModelServer } from '../support/scripted-model-server.ts';

let server: ScriptedModelServer;

beforeAll(async () => {
  server = await startScriptedModelServer();
});

afterEach(() => {
  server.reset();
});

afterAll(async () => {
  await server.close();
});

function post(path: string, body: unknown): Promise<Response> {
  return fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

interface ServerSentEvent {
  event: string | undefined;
  data: string;
}

function parseEvents(payload: string): ServerSentEvent[] {
  expect(payload.endsWith('\n\n')).toBe(true);
  return payload
    .slice(0, -2)
    .split('\n\n')
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((line) => line.startsWith('event: '))?.slice('event: '.length);
      const data = lines.filter((line) => line.startsWith('data: ')).map((line) => line.slice('data: '.length)).join('\n');
      return { event, data };
    });
}

describe('Chat Completions', () => {
  const chatBody = { model: 'scripted', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] };

  it('streams chunks, tool call deltas, finish_reason, a usage chunk and [DONE]', async () => {
    server.enqueue({ text: ['A', 'B'], toolCalls: [{ name: 'first', arguments: { x: 1 } }, { name: 'second', arguments: '{"y":2}', id: 'call_fixed' }] });
    const response = await post('/chat/completions', chatBody);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);

    const events = parseEvents(await response.text());
    expect(events.every((event) => event.event === undefined)).toBe(true);
    expect(events.at(-1)?.data).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((event) => JSON.parse(event.data));
    for (const chunk of chunks) {
      expect(chunk).toMatchObject({ object: 'chat.completion.chunk', model: 'scripted' });
      // Once usage is requested OpenAI puts `usage: null` on every chunk before the last.
      expect('usage' in chunk).toBe(true);
      expect(chunk.id).toBe(chunks[0].id);
    }
    expect(chunks[0].choices[0]).toEqual({ index: 0, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null });
    const deltas = chunks.flatMap((chunk) => chunk.choices.map((choice: { delta: unknown }) => choice.delta));
    expect(deltas.filter((delta) => 'content' in delta && delta.content !== '').map((delta) => delta.content)).toEqual(['A', 'B']);

    const toolDeltas = deltas.flatMap((delta) => delta.tool_calls ?? []);
    const opening = toolDeltas.filter((delta) => 'id' in delta);
    expect(opening).toEqual([
      { index: 0, id: expect.stringMatching(/^call_/), type: 'function', function: { name: 'first', arguments: '' } },
      { index: 1, id: 'call_fixed', type: 'function', function: { name: 'second', arguments: '' } },
    ]);
    for (const index of [0, 1]) {
      const pieces = toolDeltas.filter((delta) => delta.index === index && !('id' in delta)).map((delta) => delta.function.arguments);
      expect(pieces.length).toBeGreaterThan(1);
      expect(pieces.join('')).toBe(index === 0 ? '{"x":1}' : '{"y":2}');
    }

    const finishing = chunks.at(-2);
    expect(finishing.choices).toEqual([{ index: 0, delta: {}, logprobs: null, finish_reason: 'tool_calls' }]);
    const usageChunk = chunks.at(-1);
    expect(usageChunk.choices).toEqual([]);
    expect(usageChunk.usage).toMatchObject({ prompt_tokens: expect.any(Number), completion_tokens: expect.any(Number) });
    expect(usageChunk.usage.total_tokens).toBe(usageChunk.usage.prompt_tokens + usageChunk.usage.completion_tokens);
  });

  it('sends no usage without stream_options.include_usage', async () => {
    const response = await post('/chat/completions', { ...chatBody, stream_options: undefined });
    const chunks = parseEvents(await response.text()).slice(0, -1).map((event) => JSON.parse(event.data));
    expect(chunks.every((chunk) => !('usage' in chunk))).toBe(true);
    expect(chunks.at(-1).choices[0].finish_reason).toBe('stop');
  });

  it('answers stream: false with one chat.completion', async () => {
    server.enqueue({ text: 'Hi', toolCalls: [{ name: 'look', arguments: {}, id: 'call_1' }] });
    const completion = await (await post('/chat/completions', { ...chatBody, stream: false })).json();
    expect(completion).toMatchObject({
      object: 'chat.completion',
      model: 'scripted',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Hi', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'look', arguments: '{}' } }] },
          finish_reason: 'tool_calls',
        },
      ],
      usage: { prompt_tokens: expect.any(Number) },
    });
  });

  it('replies with an OpenAI error body and retry-after-ms', async () => {
    server.enqueue({ error: { status: 429, message: 'Rate limited', retryAfterMs: 250 } });
    const response = await post('/chat/completions', chatBody);
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after-ms')).toBe('250');
    expect(await response.json()).toEqual({ error: { message: 'Rate limited', type: 'requests', param: null, code: 'rate_limit_exceeded' } });
  });
});

describe('Anthropic Messages', () => {
  const messagesBody = { model: 'claude-sonnet-4-5', max_tokens: 100, stream: true, system: 'sys', messages: [{ role: 'user', content: 'hi' }] };

  it('streams the documented event sequence, each event named after its type', async () => {
    server.enqueue({ text: ['x', 'y'], toolCalls: [{ name: 'shell', arguments: { command: 'ls' } }] });
    const events = parseEvents(await (await post('/messages', messagesBody)).text());
    const payloads = events.map((event) => JSON.parse(event.data));
    events.forEach((event, index) => expect(event.event).toBe(payloads[index].type));

    expect(events.map((event) => event.event)).toEqual([
      'message_start',
      'ping',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(payloads[0].message).toMatchObject({ type: 'message', role: 'assistant', model: 'claude-sonnet-4-5', content: [], stop_reason: null });
    expect(payloads[2]).toEqual({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
    expect(payloads[3]).toEqual({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'x' } });
    expect(payloads[6].content_block).toMatchObject({ type: 'tool_use', id: expect.stringMatching(/^toolu_/), name: 'shell', input: {} });
    const json = payloads.slice(7, 10).map((payload) => payload.delta.partial_json).join('');
    expect(JSON.parse(json)).toEqual({ command: 'ls' });
    expect(payloads[11]).toMatchObject({ delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: expect.any(Number) } });
  });

  it('records tool results as tool messages and the system prompt as a system message', async () => {
    await post('/messages', {
      ...messagesBody,
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'list files' }] },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'shell', input: { command: 'ls' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'a.txt' }] }] },
      ],
    });
    expect(server.requests[0]?.messages).toEqual([
      { role: 'system', text: 'sys', toolCalls: [] },
      { role: 'user', text: 'list files', toolCalls: [] },
      { role: 'assistant', text: '', toolCalls: [{ id: 'toolu_1', name: 'shell', arguments: '{"command":"ls"}' }] },
      { role: 'tool', text: 'a.txt', toolCalls: [], toolCallId: 'toolu_1' },
    ]);
    expect(server.requests[0]?.lastUserText).toBe('list files');
  });

  it('replies with an Anthropic error body', async () => {
    server.enqueue({ error: { status: 529, message: 'Overloaded' } });
    const response = await post('/messages', messagesBody);
    expect(response.status).toBe(529);
    expect(await response.json()).toEqual({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
  });
});

describe('Gemini', () => {
  const geminiBody = { systemInstruction: { parts: [{ text: 'sys' }] }, contents: [{ role: 'user', parts: [{ text: 'hi' }] }] };

  function postGemini(method: string, body: unknown): Promise<Response> {
    return fetch(`${server.googleUrl}/models/gemini-2.5-pro:${method}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-goog-api-key': 'g-key' },
      body: JSON.stringify(body),
    });
  }

  it('streams candidates with text parts, whole function calls and a STOP chunk with usage', async () => {
    server.enqueue({ text: ['A', 'B'], toolCalls: [{ name: 'shell', arguments: { command: 'ls' } }, { name: 'raw', arguments: 'not json', id: 'fixed' }], usage: { inputTokens: 9, outputTokens: 4 } });
    const response = await postGemini('streamGenerateContent?alt=sse', geminiBody);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = parseEvents(await response.text());
    expect(events.every((event) => event.event === undefined)).toBe(true);
    const chunks = events.map((event) => JSON.parse(event.data));
    for (const chunk of chunks) expect(chunk).toMatchObject({ modelVersion: 'gemini-2.5-pro', responseId: chunks[0].responseId });
    const parts = chunks.map((chunk) => chunk.candidates[0].content.parts);
    expect(parts).toEqual([
      [{ text: 'A' }],
      [{ text: 'B' }],
      [{ functionCall: { id: expect.any(String), name: 'shell', args: { command: 'ls' } } }],
      [{ functionCall: { id: 'fixed', name: 'raw', args: 'not json' } }],
      [{ text: '' }],
    ]);
    expect(chunks.slice(0, -1).every((chunk) => chunk.candidates[0].finishReason === undefined)).toBe(true);
    expect(chunks.at(-1).candidates[0]).toMatchObject({ finishReason: 'STOP', content: { role: 'model' } });
    expect(chunks.at(-1).usageMetadata).toMatchObject({ promptTokenCount: 9, candidatesTokenCount: 4, totalTokenCount: 13 });

    expect(server.requests[0]).toMatchObject({
      api: 'gemini',
      path: '/v1beta/models/gemini-2.5-pro:streamGenerateContent',
      model: 'gemini-2.5-pro',
      stream: true,
      headers: { 'x-goog-api-key': 'g-key' },
      lastUserText: 'hi',
    });
  });

  it('streams a JSON array without alt=sse, and answers generateContent with one response', async () => {
    server.enqueue({ text: ['x', 'y'] }, { text: ['x', 'y'], toolCalls: [{ name: 'look', arguments: {}, id: 'c1' }] });
    const streamed = await postGemini('streamGenerateContent', geminiBody);
    expect(streamed.headers.get('content-type')).toMatch(/^application\/json/);
    const array = await streamed.json();
    expect(array.map((chunk: any) => chunk.candidates[0].content.parts[0].text)).toEqual(['x', 'y', '']);

    const complete = await (await postGemini('generateContent', geminiBody)).json();
    expect(complete.candidates).toEqual([
      { content: { parts: [{ text: 'xy' }, { functionCall: { id: 'c1', name: 'look', args: {} } }], role: 'model' }, finishReason: 'STOP', index: 0 },
    ]);
    expect(complete.usageMetadata.totalTokenCount).toBe(complete.usageMetadata.promptTokenCount + complete.usageMetadata.candidatesTokenCount);
    expect(server.requests[1]).toMatchObject({ path: '/v1beta/models/gemini-2.5-pro:generateContent', stream: false });
  });

  it('normalizes systemInstruction, model turns, function calls and function responses', async () => {
    await postGemini('generateContent', {
      ...geminiBody,
      contents: [
        { role: 'user', parts: [{ text: 'list files' }] },
        { role: 'model', parts: [{ text: 'thinking', thought: true }, { text: 'Listing.' }, { functionCall: { id: 'c1', name: 'shell', args: { command: 'ls' } } }] },
        { role: 'user', parts: [{ functionResponse: { id: 'c1', name: 'shell', response: { name: 'shell', content: 'a.txt' } } }] },
        { role: 'model', parts: [{ functionCall: { name: 'read', args: { path: 'a.txt' } } }] },
        { role: 'user', parts: [{ functionResponse: { name: 'read', response: { name: 'read', error: 'denied' } } }] },
      ],
      tools: [{ functionDeclarations: [{ name: 'shell' }, { name: 'read' }] }, { googleSearch: {} }],
    });
    expect(server.requests[0]?.messages).toEqual([
      { role: 'system', text: 'sys', toolCalls: [] },
      { role: 'user', text: 'list files', toolCalls: [] },
      { role: 'assistant', text: 'Listing.', toolCalls: [{ id: 'c1', name: 'shell', arguments: '{"command":"ls"}' }] },
      { role: 'tool', text: 'a.txt', toolCalls: [], toolCallId: 'c1' },
      // Without an id, a call and its response are matched by the function name.
      { role: 'assistant', text: '', toolCalls: [{ id: 'read', name: 'read', arguments: '{"path":"a.txt"}' }] },
      { role: 'tool', text: 'denied', toolCalls: [], toolCallId: 'read' },
    ]);
    expect(server.requests[0]?.toolNames).toEqual(['shell', 'read']);
    expect(server.requests[0]?.lastUserText).toBe('list files');
  });

  it('replies with a Google error body, and with an error chunk when the stream fails part-way', async () => {
    server.enqueue({ error: { status: 429, message: 'Quota exceeded' } }, { text: 'partial', error: { status: 503, message: 'Overloaded', midStream: true } });
    const failed = await postGemini('streamGenerateContent?alt=sse', geminiBody);
    expect(failed.status).toBe(429);
    expect(await failed.json()).toEqual({ error: { code: 429, message: 'Quota exceeded', status: 'RESOURCE_EXHAUSTED' } });

    const broken = await postGemini('streamGenerateContent?alt=sse', geminiBody);
    expect(broken.status).toBe(200);
    const chunks = parseEvents(await broken.text()).map((event) => JSON.parse(event.data));
    expect(chunks.at(-1)).toEqual({ error: { code: 503, message: 'Overloaded', status: 'UNAVAILABLE' } });
    expect(chunks[0].candidates[0].content.parts).toEqual([{ text: 'partial' }]);
  });

  it('serves /v1/models/… too, and no other model method', async () => {
    expect((await fetch(`${server.url}/models/gemini-2.5-flash:generateContent`, { method: 'POST', body: JSON.stringify(geminiBody) })).status).toBe(200);
    expect(server.requests[0]).toMatchObject({ api: 'gemini', model: 'gemini-2.5-flash' });
    expect((await postGemini('countTokens', geminiBody)).status).toBe(404);
  });
});

describe('scripting', () => {
  const body = { model: 'm', messages: [{ role: 'user', content: 'ping' }] };

  it('replies with the default text when nothing is scripted', async () => {
    const completion = await (await post('/chat/completions', body)).json();
    expect(completion.choices[0].message.content).toBe(DEFAULT_SCRIPTED_TEXT.join(''));
  });

  it('serves queued turns before asking the handler, which sees the request', async () => {
    server.setHandler((request) => ({ text: `echo: ${request.lastUserText}` }));
    server.enqueue({ text: 'queued' });
    const contents: string[] = [];
    for (let index = 0; index < 2; index++) {
      contents.push((await (await post('/chat/completions', body)).json()).choices[0].message.content);
    }
    expect(contents).toEqual(['queued', 'echo: ping']);
    server.setHandler(undefined);
    expect((await (await post('/chat/completions', body)).json()).choices[0].message.content).toBe(DEFAULT_SCRIPTED_TEXT.join(''));
  });

  it('answers a throwing handler with a 500 instead of hanging', async () => {
    server.setHandler(() => {
      throw new Error('handler bug');
    });
    const response = await post('/chat/completions', body);
    expect(response.status).toBe(500);
    expect((await response.json()).error.message).toContain('handler bug');
  });

  it('spaces chunks by delayMs', async () => {
    server.enqueue({ text: ['a', 'b', 'c'], delayMs: 40 });
    const started = performance.now();
    const response = await post('/chat/completions', { ...body, stream: true });
    const reader = response.body!.getReader();
    const arrivals: number[] = [];
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) arrivals.push(performance.now() - started);
    expect(arrivals.length).toBeGreaterThanOrEqual(3);
    expect(arrivals.at(-1)! - arrivals[0]!).toBeGreaterThanOrEqual(75);
  });

  it('stops a delayed stream when the client goes away', async () => {
    server.enqueue({ text: ['first', 'never'], delayMs: 60_000 });
    const controller = new AbortController();
    const response = await fetch(`${server.url}/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ ...body, stream: true }),
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toContain('"first"');
    controller.abort();
    // The server is still responsive (and close() in afterAll does not wait a minute).
    expect((await post('/chat/completions', body)).status).toBe(200);
  });

  it('rejects unknown routes and malformed JSON with 4xx', async () => {
    expect((await post('/embeddings', body)).status).toBe(404);
    const malformed = await fetch(`${server.url}/chat/completions`, { method: 'POST', body: '{"model":' });
    expect(malformed.status).toBe(400);
    expect(server.requests).toHaveLength(0);
  });

  it('keeps no requests when recording is off', async () => {
    const quiet = await startScriptedModelServer({ recordRequests: false });
    try {
      await fetch(`${quiet.url}/chat/completions`, { method: 'POST', body: JSON.stringify(body) });
      expect(quiet.requests).toHaveLength(0);
    } finally {
      await quiet.close();
    }
  });

  it('runs as its own process and prints its URL', async () => {
    const script = fileURLToPath(new URL('../support/scripted-model-server.ts', import.meta.url));
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const [line] = await createInterface({ input: child.stdout })[Symbol.asyncIterator]().next().then((result) => [result.value as string]);
      const { url } = JSON.parse(line ?? '{}') as { url: string };
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
      const completion = await (await fetch(`${url}/chat/completions`, { method: 'POST', body: JSON.stringify(body) })).json();
      expect(completion.choices[0].message.content).toBe(DEFAULT_SCRIPTED_TEXT.join(''));
    } finally {
      child.kill('SIGTERM');
    }
  });
});
