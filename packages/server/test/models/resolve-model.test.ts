// Drives the real AI SDK providers over loopback against the scripted model server.
import { APICallError, generateText, isStepCount, streamText, tool, type TextStreamPart, type ToolSet } from 'ai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MissingProviderConfigError, resolveModel, type ModelEnvironment } from '../../src/models/index.ts';
import { startScriptedModelServer, type ScriptedModelServer } from '../support/scripted-model-server.ts';

let server: ScriptedModelServer;
let environment: ModelEnvironment;

beforeAll(async () => {
  server = await startScriptedModelServer();
  environment = {
    OPENAI_COMPATIBLE_BASE_URL: server.url,
    ANTHROPIC_BASE_URL: server.url,
    ANTHROPIC_API_KEY: 'sk-ant-test',
    OPENAI_BASE_URL: server.url,
    OPENAI_API_KEY: 'sk-openai-test',
    // The Google provider appends only `/models/{id}:…`, so its base URL carries the `/v1beta` version.
    GOOGLE_GENERATIVE_AI_BASE_URL: server.googleUrl,
    GOOGLE_GENERATIVE_AI_API_KEY: 'google-test-key',
  };
});

afterEach(() => {
  expect(server.pendingTurns, 'every scripted turn was used').toBe(0);
  server.reset();
});

afterAll(async () => {
  await server.close();
});

async function collect<TOOLS extends ToolSet>(stream: AsyncIterable<TextStreamPart<TOOLS>>): Promise<TextStreamPart<TOOLS>[]> {
  const parts: TextStreamPart<TOOLS>[] = [];
  for await (const part of stream) parts.push(part);
  return parts;
}

function textDeltas(parts: TextStreamPart<ToolSet>[]): string[] {
  return parts.flatMap((part) => (part.type === 'text-delta' ? [part.text] : []));
}

/** A tool the model may call but the caller runs (no `execute`), as the runtime's sandboxed tools are. */
const shellTool = tool({
  description: 'Runs a shell command in the sandbox.',
  inputSchema: z.object({ command: z.string() }),
});

// One model per wire format the scripted server speaks.
const models = [
  { modelName: 'openai-compatible/meta-llama/Llama-3.1-8B', api: 'chat-completions', path: '/v1/chat/completions', sentModelId: 'meta-llama/Llama-3.1-8B' },
  { modelName: 'anthropic/claude-sonnet-4.5', api: 'anthropic-messages', path: '/v1/messages', sentModelId: 'claude-sonnet-4-5' },
  { modelName: 'openai/gpt-4.1', api: 'openai-responses', path: '/v1/responses', sentModelId: 'gpt-4.1' },
  { modelName: 'google/gemini-2.5-pro', api: 'gemini', path: '/v1beta/models/gemini-2.5-pro:streamGenerateContent', sentModelId: 'gemini-2.5-pro' },
] as const;

describe.each(models)('$modelName over $api', ({ modelName, api, path, sentModelId }) => {
  it('streams the scripted text deltas and sends the provider model id', async () => {
    server.enqueue({ text: ['Hel', 'lo', ', world'] });
    const result = streamText({ model: resolveModel(modelName, environment), instructions: 'Be brief.', prompt: 'Say hello' });
    const parts = await collect(result.stream);

    expect(textDeltas(parts)).toEqual(['Hel', 'lo', ', world']);
    expect(parts.at(-1)).toMatchObject({ type: 'finish', finishReason: 'stop' });
    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(request).toMatchObject({ api, path, model: sentModelId, stream: true, lastUserText: 'Say hello' });
    expect(request?.messages.map((message) => message.role)).toEqual(['system', 'user']);
    expect(request?.messages[0]?.text).toBe('Be brief.');
  });

  it('streams tool calls for tools without execute and reads the tool result back', async () => {
    server.enqueue({ text: 'Listing.', toolCalls: [{ name: 'shell', arguments: { command: 'ls -la /workspace' } }] }, { text: 'Two files.' });
    const model = resolveModel(modelName, environment);
    const first = streamText({ model, prompt: 'What is in the workspace?', tools: { shell: shellTool } });
    const parts = await collect(first.stream);

    const toolCalls = parts.flatMap((part) => (part.type === 'tool-call' ? [part] : []));
    expect(toolCalls).toHaveLength(1);
    expect(toolCalls[0]).toMatchObject({ toolName: 'shell', input: { command: 'ls -la /workspace' } });
    expect(parts.filter((part) => part.type === 'tool-input-delta').map((part) => (part.type === 'tool-input-delta' ? part.delta : '')).join('')).toBe(
      JSON.stringify({ command: 'ls -la /workspace' }),
    );
    expect(parts.at(-1)).toMatchObject({ type: 'finish', finishReason: 'tool-calls' });
    expect(server.requests[0]?.toolNames).toEqual(['shell']);

    // The caller runs the tool and continues the conversation with the response messages.
    const responseMessages = await first.responseMessages;
    const toolCallId = toolCalls[0]?.toolCallId ?? '';
    const second = streamText({
      model,
      tools: { shell: shellTool },
      messages: [
        { role: 'user', content: 'What is in the workspace?' },
        ...responseMessages,
        { role: 'tool', content: [{ type: 'tool-result', toolCallId, toolName: 'shell', output: { type: 'text', value: 'a.txt\nb.txt' } }] },
      ],
    });
    expect(await second.text).toBe('Two files.');

    const followUp = server.requests[1]?.messages ?? [];
    expect(followUp.map((message) => message.role)).toEqual(['user', 'assistant', 'tool']);
    expect(followUp[1]?.toolCalls).toEqual([{ id: toolCallId, name: 'shell', arguments: JSON.stringify({ command: 'ls -la /workspace' }) }]);
    expect(followUp[2]).toMatchObject({ toolCallId, text: 'a.txt\nb.txt' });
    expect(server.requests[1]?.lastUserText).toBe('What is in the workspace?');
  });

  it('runs a multi-step tool loop decided by a handler', async () => {
    server.setHandler((request) =>
      request.messages.at(-1)?.role === 'tool'
        ? { text: `The shell said: ${request.messages.at(-1)?.text}` }
        : { toolCalls: [{ name: 'shell', arguments: { command: 'echo hi' } }] },
    );
    const result = streamText({
      model: resolveModel(modelName, environment),
      prompt: 'Run echo',
      tools: { shell: tool({ ...shellTool, execute: async ({ command }) => `ran ${command}` }) },
      stopWhen: isStepCount(3),
    });
    expect(await result.text).toBe('The shell said: ran echo hi');
    expect(server.requests).toHaveLength(2);
  });

  it('answers non-streaming calls with text and tool calls', async () => {
    server.enqueue({ text: ['Calling', ' the tool.'], toolCalls: [{ name: 'shell', arguments: { command: 'pwd' } }], usage: { inputTokens: 42, outputTokens: 7 } });
    const result = await generateText({ model: resolveModel(modelName, environment), prompt: 'Where am I?', tools: { shell: shellTool } });

    expect(result.text).toBe('Calling the tool.');
    expect(result.toolCalls).toMatchObject([{ toolName: 'shell', input: { command: 'pwd' } }]);
    expect(result.finishReason).toBe('tool-calls');
    expect(result.usage).toMatchObject({ inputTokens: 42, outputTokens: 7 });
    expect(server.requests[0]).toMatchObject({ model: sentModelId, stream: false });
  });

  it('reports token usage for compaction decisions', async () => {
    server.enqueue({ text: 'ok', usage: { inputTokens: 1234, outputTokens: 5 } });
    const result = streamText({ model: resolveModel(modelName, environment), prompt: 'hi' });
    expect(await result.totalUsage).toMatchObject({ inputTokens: 1234, outputTokens: 5 });
  });

  it('surfaces an HTTP error as an error part with the status', async () => {
    server.enqueue({ error: { status: 429, message: 'Slow down' } });
    const result = streamText({ model: resolveModel(modelName, environment), prompt: 'hi', maxRetries: 0, onError: () => {} });
    const parts = await collect(result.stream);

    const error = parts.find((part) => part.type === 'error')?.error;
    expect(APICallError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ statusCode: 429, isRetryable: true });
    expect((error as Error).message).toContain('Slow down');
  });

  it('surfaces an error part after text when the stream fails part-way', async () => {
    server.enqueue({ text: ['partial ', 'answer'], error: { status: 500, message: 'Stream broke', midStream: true } });
    const result = streamText({ model: resolveModel(modelName, environment), prompt: 'hi', maxRetries: 0, onError: () => {} });
    const parts = await collect(result.stream);

    expect(textDeltas(parts)).toEqual(['partial ', 'answer']);
    const error = parts.find((part) => part.type === 'error')?.error;
    expect((error as Error).message).toContain('Stream broke');
    expect(parts.at(-1)).toMatchObject({ type: 'finish', finishReason: 'error' });
  });
});

describe('provider specifics', () => {
  it('authenticates each provider the way its API expects', async () => {
    const prompt = 'hi';
    await generateText({ model: resolveModel('anthropic/claude-sonnet-4.5', environment), prompt });
    await generateText({ model: resolveModel('openai/gpt-4o', environment), prompt });
    await generateText({ model: resolveModel('openai-compatible/llama3.1', environment), prompt });
    await generateText({ model: resolveModel('openai-compatible/llama3.1', { ...environment, OPENAI_COMPATIBLE_API_KEY: 'sk-local' }), prompt });
    await generateText({ model: resolveModel('google/gemini-2.5-pro', environment), prompt });

    const [anthropic, openai, keyless, keyed, google] = server.requests.map((request) => request.headers);
    expect(anthropic).toMatchObject({ 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01' });
    expect(anthropic?.['authorization']).toBeUndefined();
    expect(openai).toMatchObject({ authorization: 'Bearer sk-openai-test' });
    expect(keyless?.['authorization']).toBeUndefined();
    expect(keyed).toMatchObject({ authorization: 'Bearer sk-local' });
    expect(google).toMatchObject({ 'x-goog-api-key': 'google-test-key' });
    expect(google?.['authorization']).toBeUndefined();
  });

  it('reaches Gemini at {base}/models/{id}:generateContent with the key header and the prompt as contents', async () => {
    await generateText({ model: resolveModel('google/gemini-2.5-pro', environment), instructions: 'Be brief.', prompt: 'hi', tools: { shell: shellTool } });
    const [request] = server.requests;
    expect(request).toMatchObject({ api: 'gemini', path: '/v1beta/models/gemini-2.5-pro:generateContent', model: 'gemini-2.5-pro', stream: false, toolNames: ['shell'] });
    expect(request?.headers['x-goog-api-key']).toBe('google-test-key');
    expect(request?.body).toMatchObject({
      systemInstruction: { parts: [{ text: 'Be brief.' }] },
      contents: [{ role: 'user', parts: [{ text: 'hi' }] }],
      tools: [{ functionDeclarations: [{ name: 'shell' }] }],
    });
  });

  it('reaches /v1/messages when ANTHROPIC_BASE_URL omits /v1, as the Anthropic SDKs take it', async () => {
    const withoutVersion = server.url.replace(/\/v1$/, '');
    const result = streamText({ model: resolveModel('anthropic/claude-opus-4-8', { ...environment, ANTHROPIC_BASE_URL: withoutVersion }), prompt: 'hi' });
    expect(await result.text).toBe('Hello! How can I help?');
    expect(server.requests[0]).toMatchObject({ path: '/v1/messages', model: 'claude-opus-4-8' });
  });

  it('sends nothing when the key is missing', () => {
    expect(() => resolveModel('anthropic/claude-sonnet-4.5', { ANTHROPIC_BASE_URL: server.url })).toThrow(MissingProviderConfigError);
    expect(server.requests).toHaveLength(0);
  });

  it('builds a Google model without a request', () => {
    const model = resolveModel('google/gemini-2.5-flash', { GOOGLE_GENERATIVE_AI_API_KEY: 'g' });
    expect(model.modelId).toBe('gemini-2.5-flash');
    expect(model.provider).toContain('google');
  });

  it('routes every request through an injected fetch', async () => {
    const seen: string[] = [];
    const model = resolveModel('openai-compatible/llama3.1', environment, {
      fetch: async (input, init) => {
        seen.push(String(input instanceof Request ? input.url : input));
        return fetch(input, init);
      },
    });
    await generateText({ model, prompt: 'hi' });
    expect(seen).toEqual([`${server.url}/chat/completions`]);
  });
});
