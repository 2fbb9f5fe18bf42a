// A scripted model on loopback: the one fake the suite allows, because no real model runs here. It
// speaks the providers' own wire formats (OpenAI Chat Completions, OpenAI Responses, Anthropic
// Messages and Google's Gemini API, streaming and not), so tests and benchmarks drive the real AI SDK
// providers over real HTTP. With no delay scripted it answers at once: the "instant model" of the benchmarks.
//
// Run it on its own (`node packages/server/test/support/scripted-model-server.ts [port] [handler module]`) to
// serve from another process the default reply, or the turns of the module's default export (a ScriptedHandler);
// it prints `{"url":"http://127.0.0.1:…/v1"}` on stdout.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** A tool call the scripted model makes. */
export interface ScriptedToolCall {
  name: string;
  /** An object is sent as JSON; a string is sent verbatim, e.g. to script malformed arguments. */
  arguments: Record<string, unknown> | string;
  /** Defaults to a fresh id in the provider's style (`call_…`, `toolu_…`; Gemini's `functionCall.id`). */
  id?: string;
}

/** A failure the scripted model reports instead of (or, `midStream`, after) its reply. */
export interface ScriptedError {
  /** The HTTP status; also picks the provider's error type (429 rate limit, 529 overloaded…). */
  status: number;
  message: string;
  /**
   * Stream the turn's text and tool calls first, then an error event on the open stream (HTTP 200),
   * as providers do when they fail part-way. Non-streaming requests get the plain HTTP error.
   */
  midStream?: boolean;
  /**
   * Sent as `retry-after-ms`. Defaults to 0 so that the AI SDK's own retries of 429/5xx do not sleep
   * for seconds in tests; note that those retries take the next turns from the queue.
   */
  retryAfterMs?: number;
}

/** One reply of the scripted model. An empty turn is a reply with no text and no tool calls. */
export interface ScriptedTurn {
  /** The reply's text; an array is streamed as those chunks, a string as one chunk. */
  text?: string | string[];
  /**
   * Tool calls after the text, each with its arguments streamed in two deltas (Gemini, which has no
   * argument deltas, sends each call whole in a chunk of its own).
   */
  toolCalls?: ScriptedToolCall[];
  /** Pause before each streamed chunk after the first (0 by default: an instant model). */
  delayMs?: number;
  error?: ScriptedError;
  /**
   * Token counts to report; by default estimated at four characters per token. `cachedInputTokens` (default 0) is
   * the part of the input read from the prompt cache: inside `inputTokens` for OpenAI and Gemini, beside it
   * (`cache_read_input_tokens`) for Anthropic, as each provider reports it.
   */
  usage?: { inputTokens?: number; outputTokens?: number; cachedInputTokens?: number };
}

/** The wire format a request arrived in. */
export type ScriptedApi = 'chat-completions' | 'openai-responses' | 'anthropic-messages' | 'gemini';

/** A message of a request's prompt, the same shape whichever format it arrived in. */
export interface ScriptedMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  /** The text parts joined; empty for a message without text. */
  text: string;
  /** Tool calls of an assistant message. */
  toolCalls: Array<{ id: string; name: string; arguments: string }>;
  /** For a `tool` message: the call it answers (for Gemini, the call's `id`, or its name when it has none). */
  toolCallId?: string;
}

/** A request the scripted model received. */
export interface ScriptedRequest {
  api: ScriptedApi;
  path: string;
  /** Lower-cased header names, e.g. `authorization`, `x-api-key`, `anthropic-version`, `x-goog-api-key`. */
  headers: Record<string, string>;
  /** The JSON body as sent. */
  body: Record<string, unknown>;
  /** The `model` field as sent, e.g. `claude-sonnet-4-5`; for Gemini, the id in the path, e.g. `gemini-2.5-pro`. */
  model: string;
  stream: boolean;
  /**
   * The prompt, system message included; Anthropic tool results and Gemini function responses become
   * `tool` messages, Gemini's `systemInstruction` a `system` message and its `model` turns `assistant`.
   */
  messages: ScriptedMessage[];
  /** The names of the tools offered. */
  toolNames: string[];
  /** The text of the last `user` message, if any. */
  lastUserText: string | undefined;
}

/** Decides a turn from the request, e.g. call a tool first and answer once its result is in. */
export type ScriptedHandler = (request: ScriptedRequest) => ScriptedTurn | Promise<ScriptedTurn>;

/** A running scripted model server. */
export interface ScriptedModelServer {
  /** Base URL ending in `/v1`, for `OPENAI_COMPATIBLE_BASE_URL`, `OPENAI_BASE_URL` and `ANTHROPIC_BASE_URL`. */
  readonly url: string;
  /**
   * Base URL ending in `/v1beta`, for `GOOGLE_GENERATIVE_AI_BASE_URL`: the Google provider appends only
   * `/models/{id}:…`, so the base URL carries the API version, as the default
   * `https://generativelanguage.googleapis.com/v1beta` does. (`/v1/models/…` is served too, as Google does.)
   */
  readonly googleUrl: string;
  /** Every request received, oldest first (empty when `recordRequests` is false). */
  readonly requests: ScriptedRequest[];
  /** Turns enqueued and not served yet. */
  readonly pendingTurns: number;
  /** Queues turns; each request of a run takes the oldest before the handler is consulted (background requests never do: isBackgroundRequest). */
  enqueue(...turns: ScriptedTurn[]): void;
  /** Answers requests when the queue is empty; `undefined` restores the default reply. */
  setHandler(handler: ScriptedHandler | undefined): void;
  /** Forgets queued turns, recorded requests and the handler. */
  reset(): void;
  /** Ends open streams and stops listening. */
  close(): Promise<void>;
}

export interface StartScriptedModelServerOptions {
  /** Defaults to 0: any free port. */
  port?: number;
  /** Defaults to true; turn off in benchmarks so that memory does not grow with every request. */
  recordRequests?: boolean;
}

/** What the model says when no turn is queued and no handler is set. */
export const DEFAULT_SCRIPTED_TEXT = ['Hello', '! How can', ' I help?'] as const;

/**
 * The server's own background model calls (memory/memory-observer.ts: the observer and the reflector), recognised by
 * the first words of their system prompt. They never take a queued turn, which belongs to a run, and by default
 * learn nothing; a test that scripts them does so in its handler.
 */
export function isBackgroundRequest(request: Pick<ScriptedRequest, 'messages'>): boolean {
  const first = request.messages[0];
  return first?.role === 'system' && /^You are the memory (observer|reflector) of an AI agent/.test(first.text);
}

const defaultHandler: ScriptedHandler = (request) => (isBackgroundRequest(request) ? { text: 'NONE' } : { text: [...DEFAULT_SCRIPTED_TEXT] });

/**
 * Starts a scripted model on 127.0.0.1.
 *
 * @example
 * const model = await startScriptedModelServer();
 * model.enqueue({ toolCalls: [{ name: 'shell', arguments: { command: 'ls' } }] }, { text: ['Done', '.'] });
 * const environment = { OPENAI_COMPATIBLE_BASE_URL: model.url }; // or GOOGLE_GENERATIVE_AI_BASE_URL: model.googleUrl
 * // … run the agent with `openai-compatible/scripted` …
 * expect(model.requests[1]?.messages.at(-1)?.role).toBe('tool');
 * await model.close();
 */
export async function startScriptedModelServer(options: StartScriptedModelServerOptions = {}): Promise<ScriptedModelServer> {
  const recordRequests = options.recordRequests ?? true;
  const queue: ScriptedTurn[] = [];
  const requests: ScriptedRequest[] = [];
  let handler = defaultHandler;
  const ids = createIdGenerator();

  const server = createServer((incoming, response) => {
    handleRequest(incoming, response).catch((error: unknown) => {
      // A bug in a handler or here: answer with a 500 so the test sees a failure, not a hang.
      if (!response.headersSent) {
        sendJson(response, 500, { error: { message: `scripted model server: ${String(error)}`, type: 'server_error' } });
      } else {
        response.destroy();
      }
    });
  });

  async function handleRequest(incoming: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(incoming.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname;
    const route = routeForPath(path);
    if (incoming.method !== 'POST' || route === undefined) {
      sendJson(response, 404, { error: { message: `No route for ${incoming.method} ${path}`, type: 'invalid_request_error' } });
      return;
    }
    const rawBody = await readBody(incoming);
    let body: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(rawBody);
      if (!isRecord(parsed)) throw new Error('body is not a JSON object');
      body = parsed;
    } catch (error) {
      sendError(response, route.api, { status: 400, message: `Invalid JSON body: ${String(error)}` });
      return;
    }

    const { api } = route;
    const messages = normalizeMessages(api, body);
    const request: ScriptedRequest = {
      api,
      path,
      headers: flattenHeaders(incoming),
      body,
      model: route.model ?? (typeof body['model'] === 'string' ? body['model'] : ''),
      stream: route.stream ?? body['stream'] === true,
      messages,
      toolNames: toolNamesOf(api, body),
      lastUserText: messages.findLast((message) => message.role === 'user')?.text,
    };
    if (recordRequests) requests.push(request);

    const turn = (isBackgroundRequest(request) ? undefined : queue.shift()) ?? (await handler(request));
    const plan = planReply(turn, api, request, rawBody.length, ids);

    if (turn.error && !(turn.error.midStream && request.stream)) {
      sendError(response, api, turn.error);
      return;
    }
    if (!request.stream) {
      sendJson(response, 200, renderComplete(api, plan));
      return;
    }
    const closed = new AbortController();
    response.on('close', () => closed.abort());
    // Without `alt=sse`, Gemini streams one JSON array of the same chunks instead of server-sent events.
    const jsonArray = api === 'gemini' && url.searchParams.get('alt') !== 'sse';
    const batches = jsonArray ? renderGeminiJsonArray(plan) : renderStream(api, plan, request);
    const contentType = jsonArray ? 'application/json; charset=utf-8' : 'text/event-stream; charset=utf-8';
    await sendStream(response, batches, turn.delayMs ?? 0, closed.signal, contentType);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    googleUrl: `http://127.0.0.1:${port}/v1beta`,
    requests,
    get pendingTurns() {
      return queue.length;
    },
    enqueue(...turns) {
      queue.push(...turns);
    },
    setHandler(nextHandler) {
      handler = nextHandler ?? defaultHandler;
    },
    reset() {
      queue.length = 0;
      requests.length = 0;
      handler = defaultHandler;
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Requests

interface Route {
  api: ScriptedApi;
  /** Set when the path names the model (Gemini) rather than the body. */
  model?: string;
  /** Set when the path decides streaming (Gemini) rather than the body's `stream`. */
  stream?: boolean;
}

/** Gemini's `POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent` (also under `/v1`). */
const GEMINI_PATH = /^\/v1(?:beta)?\/models\/([^/:]+):(generateContent|streamGenerateContent)$/;

function routeForPath(path: string): Route | undefined {
  const trimmed = path.replace(/\/+$/, '');
  switch (trimmed) {
    case '/v1/chat/completions':
      return { api: 'chat-completions' };
    case '/v1/responses':
      return { api: 'openai-responses' };
    case '/v1/messages':
      return { api: 'anthropic-messages' };
  }
  const gemini = GEMINI_PATH.exec(trimmed);
  if (gemini === null) return undefined;
  return { api: 'gemini', model: decodeURIComponent(gemini[1] ?? ''), stream: gemini[2] === 'streamGenerateContent' };
}

async function readBody(incoming: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of incoming) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function flattenHeaders(incoming: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(incoming.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function recordsOf(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter(isRecord) : [];
}

function stringOf(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** The text of a content field in any of the three formats: a string, or parts with a `text`. */
function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  return recordsOf(content)
    .filter((part) => ['text', 'input_text', 'output_text'].includes(stringOf(part['type'])))
    .map((part) => stringOf(part['text']))
    .join('');
}

function toolNamesOf(api: ScriptedApi, body: Record<string, unknown>): string[] {
  const tools = recordsOf(body['tools']);
  if (api === 'gemini') {
    // Gemini groups functions in `{ functionDeclarations: [...] }`, beside built-in tools (`{ googleSearch: {} }`…).
    return tools.flatMap((tool) => recordsOf(tool['functionDeclarations']).map((declaration) => stringOf(declaration['name'])));
  }
  return tools.map((tool) => {
    const chatFunction = tool['function'];
    return isRecord(chatFunction) ? stringOf(chatFunction['name']) : stringOf(tool['name']);
  });
}

function message(role: ScriptedMessage['role'], text: string): ScriptedMessage {
  return { role, text, toolCalls: [] };
}

function chatRole(role: unknown): ScriptedMessage['role'] {
  if (role === 'developer' || role === 'system') return 'system';
  if (role === 'assistant' || role === 'tool') return role;
  return 'user';
}

function normalizeMessages(api: ScriptedApi, body: Record<string, unknown>): ScriptedMessage[] {
  switch (api) {
    case 'chat-completions':
      return normalizeChatCompletionsMessages(body);
    case 'openai-responses':
      return normalizeResponsesInput(body);
    case 'anthropic-messages':
      return normalizeAnthropicMessages(body);
    case 'gemini':
      return normalizeGeminiContents(body);
  }
}

function normalizeChatCompletionsMessages(body: Record<string, unknown>): ScriptedMessage[] {
  return recordsOf(body['messages']).map((entry) => {
    const normalized = message(chatRole(entry['role']), textOf(entry['content']));
    for (const call of recordsOf(entry['tool_calls'])) {
      const callFunction = isRecord(call['function']) ? call['function'] : {};
      normalized.toolCalls.push({
        id: stringOf(call['id']),
        name: stringOf(callFunction['name']),
        arguments: stringOf(callFunction['arguments']),
      });
    }
    if (normalized.role === 'tool') normalized.toolCallId = stringOf(entry['tool_call_id']);
    return normalized;
  });
}

function normalizeResponsesInput(body: Record<string, unknown>): ScriptedMessage[] {
  const messages: ScriptedMessage[] = [];
  if (typeof body['instructions'] === 'string') messages.push(message('system', body['instructions']));
  const input = body['input'];
  if (typeof input === 'string') return [...messages, message('user', input)];
  for (const item of recordsOf(input)) {
    const type = stringOf(item['type']);
    if (type === 'function_call') {
      const call = { id: stringOf(item['call_id']), name: stringOf(item['name']), arguments: stringOf(item['arguments']) };
      // The Responses API lists calls as items of their own; fold them into the assistant turn.
      const previous = messages.at(-1);
      if (previous?.role === 'assistant') previous.toolCalls.push(call);
      else messages.push({ ...message('assistant', ''), toolCalls: [call] });
    } else if (type === 'function_call_output') {
      const output = item['output'];
      messages.push({ ...message('tool', typeof output === 'string' ? output : textOf(output)), toolCallId: stringOf(item['call_id']) });
    } else if (type === '' || type === 'message') {
      messages.push(message(chatRole(item['role']), textOf(item['content'])));
    }
  }
  return messages;
}

function normalizeAnthropicMessages(body: Record<string, unknown>): ScriptedMessage[] {
  const messages: ScriptedMessage[] = [];
  const system = textOf(body['system']);
  if (system.length > 0) messages.push(message('system', system));
  for (const entry of recordsOf(body['messages'])) {
    const role = entry['role'] === 'assistant' ? 'assistant' : 'user';
    const content = entry['content'];
    if (typeof content === 'string') {
      messages.push(message(role, content));
      continue;
    }
    const blocks = recordsOf(content);
    // Anthropic carries tool results inside user turns; split them out so every format reads alike.
    for (const block of blocks.filter((candidate) => candidate['type'] === 'tool_result')) {
      messages.push({ ...message('tool', textOf(block['content'])), toolCallId: stringOf(block['tool_use_id']) });
    }
    const text = textOf(blocks);
    const toolCalls = blocks
      .filter((block) => block['type'] === 'tool_use')
      .map((block) => ({ id: stringOf(block['id']), name: stringOf(block['name']), arguments: JSON.stringify(block['input'] ?? {}) }));
    if (text.length > 0 || toolCalls.length > 0 || blocks.every((block) => block['type'] !== 'tool_result')) {
      messages.push({ ...message(role, text), toolCalls });
    }
  }
  return messages;
}

/** The text of Gemini parts, leaving out thoughts (the model's reasoning, replayed). */
function geminiTextOf(parts: Record<string, unknown>[]): string {
  return parts
    .filter((part) => typeof part['text'] === 'string' && part['thought'] !== true)
    .map((part) => stringOf(part['text']))
    .join('');
}

/** A function response's `response` as the tool message's text: its `content` (or `error`), else the whole object. */
function geminiFunctionResponseText(response: unknown): string {
  if (!isRecord(response)) return typeof response === 'string' ? response : JSON.stringify(response ?? null);
  const value = 'content' in response ? response['content'] : 'error' in response ? response['error'] : response;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function normalizeGeminiContents(body: Record<string, unknown>): ScriptedMessage[] {
  const messages: ScriptedMessage[] = [];
  const systemInstruction = body['systemInstruction'];
  const system = typeof systemInstruction === 'string' ? systemInstruction : isRecord(systemInstruction) ? geminiTextOf(recordsOf(systemInstruction['parts'])) : '';
  if (system.length > 0) messages.push(message('system', system));
  for (const entry of recordsOf(body['contents'])) {
    const role = entry['role'] === 'model' ? 'assistant' : 'user';
    const parts = recordsOf(entry['parts']);
    // Gemini carries function responses inside user turns; split them out so every format reads alike.
    const responses = parts.flatMap((part) => (isRecord(part['functionResponse']) ? [part['functionResponse']] : []));
    for (const functionResponse of responses) {
      const toolCallId = stringOf(functionResponse['id']) || stringOf(functionResponse['name']);
      messages.push({ ...message('tool', geminiFunctionResponseText(functionResponse['response'])), toolCallId });
    }
    const text = geminiTextOf(parts);
    const toolCalls = parts.flatMap((part) => {
      const call = part['functionCall'];
      if (!isRecord(call)) return [];
      const name = stringOf(call['name']);
      const args = call['args'] ?? {};
      return [{ id: stringOf(call['id']) || name, name, arguments: typeof args === 'string' ? args : JSON.stringify(args) }];
    });
    if (text.length > 0 || toolCalls.length > 0 || responses.length === 0) messages.push({ ...message(role, text), toolCalls });
  }
  return messages;
}

// ---------------------------------------------------------------------------------------------------
// Replies

interface IdGenerator {
  next(prefix: string): string;
}

function createIdGenerator(): IdGenerator {
  let counter = 0;
  return { next: (prefix) => `${prefix}_scripted${(++counter).toString(36).padStart(6, '0')}` };
}

interface PlannedToolCall {
  id: string;
  /** The Responses API gives a call an item id besides its call id. */
  itemId: string;
  name: string;
  arguments: string;
  /** The argument string cut in two, so clients must put deltas back together. */
  argumentChunks: string[];
}

interface ReplyPlan {
  messageId: string;
  model: string;
  created: number;
  textChunks: string[];
  toolCalls: PlannedToolCall[];
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  error: ScriptedError | undefined;
}

function planReply(turn: ScriptedTurn, api: ScriptedApi, request: ScriptedRequest, bodyLength: number, ids: IdGenerator): ReplyPlan {
  const textChunks = (typeof turn.text === 'string' ? [turn.text] : (turn.text ?? [])).filter((chunk) => chunk.length > 0);
  const toolCalls = (turn.toolCalls ?? []).map((call): PlannedToolCall => {
    const argumentsJson = typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments);
    const middle = Math.ceil(argumentsJson.length / 2);
    return {
      id: call.id ?? ids.next(api === 'anthropic-messages' ? 'toolu' : 'call'),
      itemId: ids.next('fc'),
      name: call.name,
      arguments: argumentsJson,
      argumentChunks: [argumentsJson.slice(0, middle), argumentsJson.slice(middle)].filter((chunk) => chunk.length > 0),
    };
  });
  const outputCharacters = textChunks.join('').length + toolCalls.reduce((sum, call) => sum + call.name.length + call.arguments.length, 0);
  const messageIdPrefix = { 'chat-completions': 'chatcmpl', 'openai-responses': 'msg', 'anthropic-messages': 'msg', gemini: 'resp' }[api];
  return {
    messageId: ids.next(messageIdPrefix),
    model: request.model,
    created: Math.floor(Date.now() / 1000),
    textChunks,
    toolCalls,
    inputTokens: turn.usage?.inputTokens ?? Math.max(1, Math.ceil(bodyLength / 4)),
    outputTokens: turn.usage?.outputTokens ?? Math.max(1, Math.ceil(outputCharacters / 4)),
    cachedInputTokens: turn.usage?.cachedInputTokens ?? 0,
    error: turn.error,
  };
}

function sendJson(response: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(value);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...headers });
  response.end(payload);
}

const anthropicErrorTypes: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  529: 'overloaded_error',
};

const openAIErrorTypes: Record<number, { type: string; code: string | null }> = {
  400: { type: 'invalid_request_error', code: null },
  401: { type: 'invalid_request_error', code: 'invalid_api_key' },
  403: { type: 'invalid_request_error', code: 'unsupported_country_region_territory' },
  404: { type: 'invalid_request_error', code: 'model_not_found' },
  429: { type: 'requests', code: 'rate_limit_exceeded' },
};

function anthropicErrorBody(error: ScriptedError): { type: 'error'; error: { type: string; message: string } } {
  return { type: 'error', error: { type: anthropicErrorTypes[error.status] ?? 'api_error', message: error.message } };
}

function openAIError(error: ScriptedError): { message: string; type: string; param: null; code: string | null } {
  const known = openAIErrorTypes[error.status] ?? { type: 'server_error', code: 'server_error' };
  return { message: error.message, type: known.type, param: null, code: known.code };
}

/** Google's canonical status names (google.rpc.Code) by HTTP status. */
const geminiErrorStatuses: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  501: 'UNIMPLEMENTED',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

function geminiError(error: ScriptedError): { code: number; message: string; status: string } {
  const status = geminiErrorStatuses[error.status] ?? (error.status >= 500 ? 'UNAVAILABLE' : 'FAILED_PRECONDITION');
  return { code: error.status, message: error.message, status };
}

function errorBody(api: ScriptedApi, error: ScriptedError): unknown {
  switch (api) {
    case 'anthropic-messages':
      return anthropicErrorBody(error);
    case 'gemini':
      return { error: geminiError(error) };
    default:
      return { error: openAIError(error) };
  }
}

function sendError(response: ServerResponse, api: ScriptedApi, error: ScriptedError): void {
  const body = errorBody(api, error);
  sendJson(response, error.status, body, { 'retry-after-ms': String(error.retryAfterMs ?? 0) });
}

/** Collects SSE frames into the chunks a delayed turn sends apart. */
class FrameBatches {
  private readonly batches: string[] = [];
  private current = '';

  /** Appends an unnamed event, as Chat Completions sends them. */
  data(value: unknown): void {
    this.current += `data: ${typeof value === 'string' ? value : JSON.stringify(value)}\n\n`;
  }

  /** Appends a named event, as the Messages and Responses APIs send them (the name repeats `type`). */
  event(value: { type: string } & Record<string, unknown>): void {
    this.current += `event: ${value.type}\ndata: ${JSON.stringify(value)}\n\n`;
  }

  /** Ends a chunk: with `delayMs`, what follows is sent after a pause. */
  cut(): void {
    if (this.current.length > 0) this.batches.push(this.current);
    this.current = '';
  }

  finish(): string[] {
    this.cut();
    return this.batches;
  }
}

function renderStream(api: ScriptedApi, plan: ReplyPlan, request: ScriptedRequest): string[] {
  switch (api) {
    case 'chat-completions':
      return renderChatCompletionsStream(plan, request);
    case 'openai-responses':
      return renderResponsesStream(plan);
    case 'anthropic-messages':
      return renderAnthropicStream(plan);
    case 'gemini':
      return renderGeminiStream(plan);
  }
}

function renderComplete(api: ScriptedApi, plan: ReplyPlan): Record<string, unknown> {
  switch (api) {
    case 'chat-completions':
      return renderChatCompletion(plan);
    case 'openai-responses':
      return { ...responseObject(plan, 'completed'), output: responsesOutputItems(plan) };
    case 'anthropic-messages':
      return renderAnthropicMessage(plan);
    case 'gemini':
      return renderGeminiResponse(plan);
  }
}

// Chat Completions --------------------------------------------------------------------------------

function chatUsage(plan: ReplyPlan): Record<string, unknown> {
  return {
    prompt_tokens: plan.inputTokens,
    completion_tokens: plan.outputTokens,
    total_tokens: plan.inputTokens + plan.outputTokens,
    prompt_tokens_details: { cached_tokens: plan.cachedInputTokens, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

function chatFinishReason(plan: ReplyPlan): string {
  return plan.toolCalls.length > 0 ? 'tool_calls' : 'stop';
}

function renderChatCompletionsStream(plan: ReplyPlan, request: ScriptedRequest): string[] {
  const streamOptions = request.body['stream_options'];
  const includeUsage = isRecord(streamOptions) && streamOptions['include_usage'] === true;
  const frames = new FrameBatches();
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}): void => {
    frames.data({
      id: plan.messageId,
      object: 'chat.completion.chunk',
      created: plan.created,
      model: plan.model,
      system_fingerprint: 'fp_scripted',
      choices,
      // OpenAI puts `usage: null` on every chunk once usage is requested.
      ...(includeUsage ? { usage: null } : {}),
      ...extra,
    });
  };
  const delta = (value: Record<string, unknown>, finishReason: string | null = null): void => {
    chunk([{ index: 0, delta: value, logprobs: null, finish_reason: finishReason }]);
  };

  delta({ role: 'assistant', content: '', refusal: null });
  for (const text of plan.textChunks) {
    delta({ content: text });
    frames.cut();
  }
  for (const [index, call] of plan.toolCalls.entries()) {
    delta({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }] });
    for (const piece of call.argumentChunks) {
      delta({ tool_calls: [{ index, function: { arguments: piece } }] });
      frames.cut();
    }
  }
  if (plan.error) {
    frames.data({ error: openAIError(plan.error) });
    return frames.finish();
  }
  delta({}, chatFinishReason(plan));
  if (includeUsage) chunk([], { usage: chatUsage(plan) });
  frames.data('[DONE]');
  return frames.finish();
}

function renderChatCompletion(plan: ReplyPlan): Record<string, unknown> {
  const text = plan.textChunks.join('');
  return {
    id: plan.messageId,
    object: 'chat.completion',
    created: plan.created,
    model: plan.model,
    system_fingerprint: 'fp_scripted',
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: text.length > 0 || plan.toolCalls.length === 0 ? text : null,
          refusal: null,
          ...(plan.toolCalls.length > 0
            ? { tool_calls: plan.toolCalls.map((call) => ({ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } })) }
            : {}),
        },
        logprobs: null,
        finish_reason: chatFinishReason(plan),
      },
    ],
    usage: chatUsage(plan),
  };
}

// OpenAI Responses --------------------------------------------------------------------------------

function responsesUsage(plan: ReplyPlan): Record<string, unknown> {
  return {
    input_tokens: plan.inputTokens,
    input_tokens_details: { cached_tokens: plan.cachedInputTokens },
    output_tokens: plan.outputTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: plan.inputTokens + plan.outputTokens,
  };
}

function responseObject(plan: ReplyPlan, status: 'in_progress' | 'completed'): Record<string, unknown> {
  return {
    id: `resp_${plan.messageId}`,
    object: 'response',
    created_at: plan.created,
    status,
    error: null,
    incomplete_details: null,
    model: plan.model,
    output: [],
    usage: status === 'completed' ? responsesUsage(plan) : null,
  };
}

function responsesMessageItem(plan: ReplyPlan, status: 'in_progress' | 'completed'): Record<string, unknown> {
  const content = status === 'completed' ? [{ type: 'output_text', text: plan.textChunks.join(''), annotations: [] }] : [];
  return { id: plan.messageId, type: 'message', status, role: 'assistant', content };
}

function responsesFunctionCallItem(call: PlannedToolCall, status: 'in_progress' | 'completed'): Record<string, unknown> {
  const argumentsSoFar = status === 'completed' ? call.arguments : '';
  return { id: call.itemId, type: 'function_call', status, call_id: call.id, name: call.name, arguments: argumentsSoFar };
}

function responsesOutputItems(plan: ReplyPlan): Record<string, unknown>[] {
  return [
    ...(plan.textChunks.length > 0 ? [responsesMessageItem(plan, 'completed')] : []),
    ...plan.toolCalls.map((call) => responsesFunctionCallItem(call, 'completed')),
  ];
}

function renderResponsesStream(plan: ReplyPlan): string[] {
  const frames = new FrameBatches();
  let sequenceNumber = 0;
  const event = (type: string, fields: Record<string, unknown>): void => {
    frames.event({ type, sequence_number: sequenceNumber++, ...fields });
  };

  event('response.created', { response: responseObject(plan, 'in_progress') });
  event('response.in_progress', { response: responseObject(plan, 'in_progress') });
  let outputIndex = 0;
  if (plan.textChunks.length > 0) {
    const itemId = plan.messageId;
    const part = { type: 'output_text', text: '', annotations: [] };
    event('response.output_item.added', { output_index: outputIndex, item: responsesMessageItem(plan, 'in_progress') });
    event('response.content_part.added', { item_id: itemId, output_index: outputIndex, content_index: 0, part });
    for (const text of plan.textChunks) {
      event('response.output_text.delta', { item_id: itemId, output_index: outputIndex, content_index: 0, delta: text, logprobs: [] });
      frames.cut();
    }
    const fullText = plan.textChunks.join('');
    event('response.output_text.done', { item_id: itemId, output_index: outputIndex, content_index: 0, text: fullText, logprobs: [] });
    event('response.content_part.done', { item_id: itemId, output_index: outputIndex, content_index: 0, part: { ...part, text: fullText } });
    event('response.output_item.done', { output_index: outputIndex, item: responsesMessageItem(plan, 'completed') });
    outputIndex++;
  }
  for (const call of plan.toolCalls) {
    event('response.output_item.added', { output_index: outputIndex, item: responsesFunctionCallItem(call, 'in_progress') });
    for (const piece of call.argumentChunks) {
      event('response.function_call_arguments.delta', { item_id: call.itemId, output_index: outputIndex, delta: piece });
      frames.cut();
    }
    event('response.function_call_arguments.done', { item_id: call.itemId, output_index: outputIndex, arguments: call.arguments });
    event('response.output_item.done', { output_index: outputIndex, item: responsesFunctionCallItem(call, 'completed') });
    outputIndex++;
  }
  if (plan.error) {
    const error = openAIError(plan.error);
    event('error', { code: error.code ?? error.type, message: error.message, param: null });
    return frames.finish();
  }
  event('response.completed', { response: { ...responseObject(plan, 'completed'), output: responsesOutputItems(plan) } });
  return frames.finish();
}

// Anthropic Messages ------------------------------------------------------------------------------

function anthropicStopReason(plan: ReplyPlan): string {
  return plan.toolCalls.length > 0 ? 'tool_use' : 'end_turn';
}

function renderAnthropicStream(plan: ReplyPlan): string[] {
  const frames = new FrameBatches();
  frames.event({
    type: 'message_start',
    message: {
      id: plan.messageId,
      type: 'message',
      role: 'assistant',
      model: plan.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: plan.inputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: plan.cachedInputTokens, output_tokens: 1 },
    },
  });
  frames.event({ type: 'ping' });
  let index = 0;
  if (plan.textChunks.length > 0) {
    frames.event({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
    for (const text of plan.textChunks) {
      frames.event({ type: 'content_block_delta', index, delta: { type: 'text_delta', text } });
      frames.cut();
    }
    frames.event({ type: 'content_block_stop', index });
    index++;
  }
  for (const call of plan.toolCalls) {
    frames.event({ type: 'content_block_start', index, content_block: { type: 'tool_use', id: call.id, name: call.name, input: {} } });
    // Anthropic opens every tool input with an empty delta.
    frames.event({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: '' } });
    for (const piece of call.argumentChunks) {
      frames.event({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: piece } });
      frames.cut();
    }
    frames.event({ type: 'content_block_stop', index });
    index++;
  }
  if (plan.error) {
    frames.event(anthropicErrorBody(plan.error));
    return frames.finish();
  }
  frames.event({
    type: 'message_delta',
    delta: { stop_reason: anthropicStopReason(plan), stop_sequence: null },
    usage: { output_tokens: plan.outputTokens },
  });
  frames.event({ type: 'message_stop' });
  return frames.finish();
}

function parseToolInput(argumentsJson: string): unknown {
  try {
    return JSON.parse(argumentsJson);
  } catch {
    return {};
  }
}

function renderAnthropicMessage(plan: ReplyPlan): Record<string, unknown> {
  const text = plan.textChunks.join('');
  return {
    id: plan.messageId,
    type: 'message',
    role: 'assistant',
    model: plan.model,
    content: [
      ...(text.length > 0 ? [{ type: 'text', text }] : []),
      ...plan.toolCalls.map((call) => ({ type: 'tool_use', id: call.id, name: call.name, input: parseToolInput(call.arguments) })),
    ],
    stop_reason: anthropicStopReason(plan),
    stop_sequence: null,
    usage: { input_tokens: plan.inputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: plan.cachedInputTokens, output_tokens: plan.outputTokens },
  };
}

// Gemini --------------------------------------------------------------------------------------------

function geminiUsage(plan: ReplyPlan): Record<string, unknown> {
  return {
    promptTokenCount: plan.inputTokens,
    candidatesTokenCount: plan.outputTokens,
    totalTokenCount: plan.inputTokens + plan.outputTokens,
    ...(plan.cachedInputTokens > 0 ? { cachedContentTokenCount: plan.cachedInputTokens } : {}),
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: plan.inputTokens }],
  };
}

function geminiFunctionCallPart(call: PlannedToolCall): Record<string, unknown> {
  // Arguments scripted as a string that is not JSON go out verbatim (the provider passes a string on as is).
  let args: unknown;
  try {
    args = JSON.parse(call.arguments);
  } catch {
    args = call.arguments;
  }
  return { functionCall: { id: call.id, name: call.name, args } };
}

/** One `GenerateContentResponse`: a candidate with these parts, and usage once the reply is finished. */
function geminiResponse(plan: ReplyPlan, parts: Record<string, unknown>[], finished: boolean): Record<string, unknown> {
  return {
    candidates: [{ content: { parts, role: 'model' }, ...(finished ? { finishReason: 'STOP' } : {}), index: 0 }],
    // Gemini reports usage on every chunk; the prompt count is known from the start.
    usageMetadata: finished ? geminiUsage(plan) : { promptTokenCount: plan.inputTokens, totalTokenCount: plan.inputTokens },
    modelVersion: plan.model,
    responseId: plan.messageId,
  };
}

/**
 * The chunks of `streamGenerateContent`: one per text chunk, one per tool call (Gemini sends each call
 * whole, its `args` an object), then one with `finishReason` (`STOP`, for tool calls too) and the
 * usage, or an error object when the stream fails part-way.
 */
function geminiChunks(plan: ReplyPlan): Record<string, unknown>[] {
  const chunks = [
    ...plan.textChunks.map((text) => geminiResponse(plan, [{ text }], false)),
    ...plan.toolCalls.map((call) => geminiResponse(plan, [geminiFunctionCallPart(call)], false)),
  ];
  if (plan.error) return [...chunks, { error: geminiError(plan.error) }];
  // An empty text part, as Gemini's last chunk often carries; the provider skips it.
  return [...chunks, geminiResponse(plan, [{ text: '' }], true)];
}

function renderGeminiStream(plan: ReplyPlan): string[] {
  const frames = new FrameBatches();
  for (const chunk of geminiChunks(plan)) {
    frames.data(chunk);
    frames.cut();
  }
  return frames.finish();
}

/** `streamGenerateContent` without `alt=sse`: the same chunks as one JSON array, streamed element by element. */
function renderGeminiJsonArray(plan: ReplyPlan): string[] {
  const batches = geminiChunks(plan).map((chunk, index) => `${index === 0 ? '[' : ',\r\n'}${JSON.stringify(chunk)}`);
  batches[batches.length - 1] += ']';
  return batches;
}

function renderGeminiResponse(plan: ReplyPlan): Record<string, unknown> {
  const text = plan.textChunks.join('');
  const parts = [...(text.length > 0 ? [{ text }] : []), ...plan.toolCalls.map(geminiFunctionCallPart)];
  return geminiResponse(plan, parts, true);
}

// ---------------------------------------------------------------------------------------------------
// Sending

function sleep(milliseconds: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, milliseconds);
    signal.addEventListener('abort', done, { once: true });
  });
}

async function sendStream(response: ServerResponse, batches: string[], delayMs: number, closed: AbortSignal, contentType: string): Promise<void> {
  response.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-cache' });
  if (delayMs <= 0) {
    // One write for the whole reply: the instant model should cost the benchmarks next to nothing.
    response.end(batches.join(''));
    return;
  }
  for (const [index, batch] of batches.entries()) {
    if (index > 0) await sleep(delayMs, closed);
    if (closed.aborted) return;
    response.write(batch);
  }
  response.end();
}

if (import.meta.main) {
  const port = Number(process.argv[2] ?? 0);
  const server = await startScriptedModelServer({ port, recordRequests: false });
  const handlerModule = process.argv[3];
  if (handlerModule) server.setHandler((await import(pathToFileURL(resolve(handlerModule)).href)).default);
  process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
  const stop = (): void => {
    server.close().finally(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
