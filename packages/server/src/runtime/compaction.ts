// Keeps what a model step sends inside the model's context window, whatever the thread's history holds. Cheapest
// first:
// 1. Nothing, while the system prompt and the history fit COMPACT_AT of the window.
// 2. Old tool traffic is shortened in what is sent (the stored history is untouched): the oldest tool results and
//    tool-call arguments become previews (head and tail around a note that points at the file the full output was
//    saved in, when there is one), then, if that is not enough, stubs of a few words; oldest first.
// 3. The oldest turns are summarised by the model and replaced by the summary (persisted: summary_through), in
//    chunks its window can take. The cut is never between a tool call and its result. It falls before a user
//    message when the history from there fits KEEP_RECENT of the window; otherwise inside the current turn, or
//    after all of it when even its last step is too large (a first turn of huge tool outputs): the summary then
//    carries the user's request verbatim, and the messages open with a note standing for it.
// As a last resort (one message larger than the window) texts are cut to fit. The messages are never empty, start
// with a user message, keep every tool call with its result, and fit whenever the system prompt leaves room.
import type { LanguageModel } from 'ai';
import type { HistoryEntry } from '../store/threads.ts';
import { sliceAtCodePoint } from '../util/text.ts';

/** Share of the context window the prompt (system prompt and messages) may fill. */
const COMPACT_AT = 0.7;
/** Share of the window the history kept after a summary may take, when the cut can fall before a user message. */
const KEEP_RECENT = 0.3;
/** Share of the window the summary may take (with the verbatim request it may carry). */
const SUMMARY_SHARE = 0.15;
/** Share of the window one summarization request may fill: its instructions, the summary so far, a chunk. */
const SUMMARIZE_INPUT_SHARE = 0.6;
/** Characters of a summarization request besides the summary so far and the chunk. */
const SUMMARIZE_INSTRUCTION_CHARS = 600;
/** Strings of a stubbed (second level) tool result or argument keep at most this many characters. */
const STUB_STRING_CHARS = 80;
/** A stubbed tool result larger than this becomes one sentence. */
const STUB_RESULT_CHARS = 600;
/** Items an array in a previewed / stubbed tool result keeps. */
const PREVIEW_ITEMS = 100;
const STUB_ITEMS = 5;

const SUMMARIZER_SYSTEM =
  'You compact conversation history for an AI agent. Write a concise summary that keeps every fact, decision, ' +
  'file path, open task and user preference the agent needs to continue. Output only the summary.';

/** Heads the user's request in a summary that stands for the turn being worked on. */
export const REQUEST_HEADING = "The request being worked on (the user's last message, verbatim):";

/** Opens the messages when the history kept after a summary does not start with a user message. */
export const OPENING_MESSAGE = {
  role: 'user',
  content: '(The conversation so far, including the request being worked on, is summarized in the system prompt. Continue from there.)',
} as const;

/** A cheap, conservative estimate: about four characters per token for English text and JSON. */
export function estimateTokens(value: unknown): number {
  return Math.ceil((typeof value === 'string' ? value.length : JSON.stringify(value).length) / 4);
}

/** estimateTokens of an entry's message, from the length of its stored JSON when the store gave it. */
function entryTokens(entry: HistoryEntry): number {
  return entry.chars === undefined ? estimateTokens(entry.message) : Math.ceil(entry.chars / 4);
}

const OPENING_TOKENS = estimateTokens(OPENING_MESSAGE);

/** Summarises one chunk of transcript into (and with) the summary so far. */
export type Summarizer = (request: { previousSummary: string | null; transcript: string; maxWords: number }) => Promise<string>;

/** The summarizer of a run: the deployment's own model. */
export function modelSummarizer(model: LanguageModel, signal: AbortSignal): Summarizer {
  return async ({ previousSummary, transcript, maxWords }) => {
    const { generateText } = await import('ai');
    const result = await generateText({
      model,
      system: `${SUMMARIZER_SYSTEM} Use at most ${maxWords} words.`,
      messages: [
        {
          role: 'user',
          content: previousSummary
            ? `Summary so far:\n${previousSummary}\n\nSummarize this conversation history into one summary with the summary so far:\n\n${transcript}`
            : `Summarize this conversation history:\n\n${transcript}`,
        },
      ],
      abortSignal: signal,
    });
    return result.text.trim();
  };
}

export interface CompactionInput {
  /** The thread's summary and its history after it; both are updated in place when older turns are summarised. */
  history: { summary: string | null; entries: HistoryEntry[] };
  contextTokens: number;
  /** The system prompt with a given summary (buildSystemPrompt), to size it. */
  systemPrompt: (summary: string | null) => string;
  summarize: Summarizer;
  /** Persists a summary standing for every entry up to and including `throughSeq`. */
  saveSummary: (summary: string, throughSeq: number) => Promise<void>;
}

/**
 * The messages of the next model step: the history, with old tool traffic shortened and the oldest turns
 * summarised as far as the context window needs (see the top of this file). Never empty.
 */
export async function compactHistory(input: CompactionInput): Promise<unknown[]> {
  const { history, contextTokens } = input;
  const limit = Math.floor(contextTokens * COMPACT_AT);
  const previewLength = previewChars(contextTokens);
  const budget = () => limit - estimateTokens(input.systemPrompt(history.summary)) - openingTokens(history.entries);
  const summaryChars = maxSummaryChars(contextTokens);
  if (history.summary !== null && history.summary.length > summaryChars) {
    // Written for a larger window (the deployment's model changed): cut to this one's share, in what is sent.
    const { body, request } = splitRequest(history.summary);
    history.summary = composeSummary(body ?? '', request ?? undefined, summaryChars);
  }

  const available = budget();
  const view = shorten(history.entries, available, previewLength, false);
  if (view.tokens <= available) return assemble(view.messages);

  // What the history kept may take beside the largest summary this compaction can write.
  const afterBudget = limit - estimateTokens(input.systemPrompt('x'.repeat(summaryChars))) - OPENING_TOKENS;
  const split = compactionSplit(history.entries, Math.min(Math.floor(contextTokens * KEEP_RECENT), afterBudget), afterBudget, previewLength);
  if (split > 0) {
    const summarized = history.entries.slice(0, split);
    const lastUser = history.entries.findLastIndex((entry) => roleOf(entry.message) === 'user');
    // The request being worked on goes into the summary verbatim when the cut passes it, or stays there when the
    // summary it replaces carried it and no user message has come since.
    const previous = splitRequest(history.summary);
    const carried = lastUser === -1 ? previous.request : null;
    const request = lastUser >= 0 && lastUser < split ? userText(history.entries[lastUser]!.message) : (carried ?? undefined);
    const summary = await summarizeEntries({
      summarize: input.summarize,
      previousSummary: carried === null ? history.summary : previous.body,
      entries: summarized,
      contextTokens,
      previewLength,
      request,
    });
    await input.saveSummary(summary, summarized.at(-1)!.seq);
    history.summary = summary;
    history.entries.splice(0, split);
  }
  return assemble(shorten(history.entries, budget(), previewLength, true).messages);
}

/**
 * Where to cut for a summary: an index s such that entries before s are summarised (0: none). Never between a
 * tool call and its result. The first choice is the earliest user message from which the history (tool traffic
 * previewed) fits `keepTokens`; then the last user message, when the history from there fits `afterTokens` with
 * tool traffic stubbed and its own texts cut (a huge paste is kept, cut, rather than summarised); then the earliest
 * cut from which it fits `afterTokens` with tool traffic stubbed; then the last possible cut (everything, when
 * the history ends with every call answered).
 */
export function compactionSplit(entries: HistoryEntry[], keepTokens: number, afterTokens: number, previewLength: number): number {
  const count = entries.length;
  const valid = cutPoints(entries);
  const previewed = new Array<number>(count + 1).fill(0);
  const stubbed = new Array<number>(count + 1).fill(0);
  for (let index = count - 1; index >= 0; index--) {
    const entry = entries[index]!;
    const tools = carriesTools(entry.message);
    previewed[index] = previewed[index + 1]! + (tools ? shortenedEntry(entry, 1, previewLength).tokens : entryTokens(entry));
    stubbed[index] = stubbed[index + 1]! + (tools ? shortenedEntry(entry, 2, previewLength).tokens : entryTokens(entry));
  }
  for (let split = 1; split < count; split++) {
    if (valid[split] && roleOf(entries[split]!.message) === 'user' && previewed[split]! <= keepTokens && stubbed[split]! <= afterTokens) return split;
  }
  const lastUser = entries.findLastIndex((entry) => roleOf(entry.message) === 'user');
  if (lastUser >= 0 && valid[lastUser]) {
    let least = 0;
    for (let index = lastUser; index < count; index++) {
      const entry = entries[index]!;
      if (carriesTools(entry.message)) least += shortenedEntry(entry, 2, previewLength).tokens;
      else least += Math.min(entryTokens(entry), estimateTokens(squeezeMessage(entry.message, 0)));
    }
    if (least <= afterTokens) return lastUser;
  }
  for (let split = 1; split <= count; split++) if (valid[split] && stubbed[split]! <= afterTokens) return split;
  for (let split = count; split >= 1; split--) if (valid[split]) return split;
  return 0;
}

/** valid[s]: the history may be cut before entry s (s = length: after all of it). */
function cutPoints(entries: HistoryEntry[]): boolean[] {
  const open = new Set<string>();
  const valid: boolean[] = [];
  for (let index = 0; index <= entries.length; index++) {
    valid.push(open.size === 0 && (index === entries.length || roleOf(entries[index]!.message) !== 'tool'));
    if (index === entries.length) break;
    for (const part of partsOf(entries[index]!.message)) {
      if (part.type === 'tool-call' && typeof part.toolCallId === 'string') open.add(part.toolCallId);
      if (part.type === 'tool-result' && typeof part.toolCallId === 'string') open.delete(part.toolCallId);
    }
  }
  return valid;
}

// ---------------------------------------------------------------------------------------------------------------
// Shortening what is sent

interface Shortened {
  messages: unknown[];
  tokens: number;
}

/**
 * The entries' messages, shortened oldest first until they fit `budget` tokens: tool traffic previewed, then
 * stubbed, then (with `squeeze`, the last resort) any text cut.
 */
function shorten(entries: HistoryEntry[], budget: number, previewLength: number, squeeze: boolean): Shortened {
  const messages = entries.map((entry) => entry.message);
  const sizes = entries.map(entryTokens);
  let total = sizes.reduce((sum, size) => sum + size, 0);
  for (const level of [1, 2] as const) {
    for (let index = 0; index < entries.length && total > budget; index++) {
      if (!carriesTools(messages[index])) continue;
      const shortened = shortenedEntry(entries[index]!, level, previewLength);
      if (shortened.tokens >= sizes[index]!) continue;
      total += shortened.tokens - sizes[index]!;
      sizes[index] = shortened.tokens;
      messages[index] = shortened.message;
    }
  }
  if (squeeze) {
    for (let index = 0; index < entries.length && total > budget; index++) {
      const target = sizes[index]! - (total - budget);
      const squeezed = squeezeMessage(messages[index], target * 4);
      const tokens = estimateTokens(squeezed);
      if (tokens >= sizes[index]!) continue;
      total += tokens - sizes[index]!;
      sizes[index] = tokens;
      messages[index] = squeezed;
    }
  }
  return { messages, tokens: total };
}

const shortenedCache = new WeakMap<HistoryEntry, Map<string, { message: unknown; tokens: number }>>();

/** The entry's message with its tool traffic previewed (level 1) or stubbed (level 2); cached per entry. */
function shortenedEntry(entry: HistoryEntry, level: 1 | 2, previewLength: number): { message: unknown; tokens: number } {
  let cached = shortenedCache.get(entry);
  if (!cached) {
    cached = new Map();
    shortenedCache.set(entry, cached);
  }
  const key = `${level}:${previewLength}`;
  let result = cached.get(key);
  if (!result) {
    const message = shortenMessage(entry.message, level, previewLength);
    result = { message, tokens: estimateTokens(message) };
    cached.set(key, result);
  }
  return result;
}

function shortenMessage(message: unknown, level: 1 | 2, previewLength: number): unknown {
  const record = message as Message;
  if (!Array.isArray(record.content)) return message;
  const role = roleOf(message);
  const content = record.content.map((part: unknown) => {
    if (!isRecord(part)) return part;
    if (role === 'assistant' && part.type === 'tool-call') return { ...part, input: shortenValue(part.input, level, previewLength, undefined) };
    if (role === 'tool' && part.type === 'tool-result') {
      return { ...part, output: shortenOutput(part.output, level, previewLength, typeof part.toolName === 'string' ? part.toolName : 'a tool') };
    }
    return part;
  });
  return { ...record, content };
}

/** A tool result's output (the AI SDK's json, text, content and error forms), previewed or stubbed. */
function shortenOutput(output: unknown, level: 1 | 2, previewLength: number, toolName: string): unknown {
  if (!isRecord(output)) return output;
  const isError = output.type === 'error-json' || output.type === 'error-text';
  let shortened: unknown;
  if (output.type === 'json' || output.type === 'error-json' || output.type === 'text' || output.type === 'error-text') {
    shortened = { ...output, value: shortenValue(output.value, level, previewLength, undefined) };
  } else if (output.type === 'content' && Array.isArray(output.value)) {
    shortened = {
      ...output,
      value: output.value.map((part: unknown) => {
        if (isRecord(part) && part.type === 'text' && typeof part.text === 'string') return { ...part, text: shortenValue(part.text, level, previewLength, undefined) };
        return { type: 'text', text: '[media cut from this earlier result to save context]' };
      }),
    };
  } else {
    shortened = { type: isError ? 'error-text' : 'text', value: shortenValue(JSON.stringify(output) ?? '', level, previewLength, undefined) };
  }
  if (level === 2 && JSON.stringify(shortened).length > STUB_RESULT_CHARS) {
    const files = savedFiles(output);
    const where = files.length > 0 ? `the full output is in ${files.join(' and ')}` : 'repeat the call if you need it';
    return {
      type: isError ? 'error-text' : 'text',
      value: `[This earlier result of ${toolName} (${JSON.stringify(output).length.toLocaleString('en-US')} characters) was cut to save context; ${where}.]`,
    };
  }
  return shortened;
}

/**
 * A JSON value with its long strings previewed (level 1) or stubbed (level 2) and its long arrays cut. A string
 * whose object has a `<key>_file` beside it (the shell tool's stdout_file) points at that file; paths are kept.
 */
function shortenValue(value: unknown, level: 1 | 2, previewLength: number, file: string | undefined, key?: string, depth = 0): unknown {
  if (typeof value === 'string') {
    if (key !== undefined && (key.endsWith('_file') || key === 'path')) return value;
    const where = file ? `the full text is in ${file}` : 'it was not saved; repeat the call if you need it';
    if (level === 1) return value.length > previewLength + 200 ? preview(value, previewLength, `characters cut from this earlier output to save context; ${where}`) : value;
    return value.length > STUB_STRING_CHARS ? `[${value.length.toLocaleString('en-US')} characters cut to save context; ${where}]` : value;
  }
  if (value === null || typeof value !== 'object') return value;
  if (depth > 16) return '[nested value cut to save context]';
  const maxItems = level === 1 ? PREVIEW_ITEMS : STUB_ITEMS;
  if (Array.isArray(value)) {
    const kept = value.slice(0, maxItems).map((item) => shortenValue(item, level, previewLength, undefined, undefined, depth + 1));
    if (value.length > maxItems) kept.push(`[${(value.length - maxItems).toLocaleString('en-US')} more items cut to save context]`);
    return kept;
  }
  const record = value as Record<string, unknown>;
  const shortened: Record<string, unknown> = {};
  for (const [name, inner] of Object.entries(record)) {
    const saved = record[`${name}_file`];
    shortened[name] = shortenValue(inner, level, previewLength, typeof saved === 'string' ? saved : file, name, depth + 1);
  }
  return shortened;
}

/** The `*_file` paths a tool result names (where its full output was saved). */
function savedFiles(output: Record<string, unknown>): string[] {
  const value = output.value;
  if (!isRecord(value)) return [];
  return Object.entries(value)
    .filter(([name, inner]) => name.endsWith('_file') && typeof inner === 'string')
    .map(([, inner]) => inner as string);
}

/** The last resort: every text of the message cut so that its JSON takes about `targetChars`. */
function squeezeMessage(message: unknown, targetChars: number): unknown {
  const apply = (cap: number) => mapTexts(message, (text) => (text.length > cap + 120 ? preview(text, cap, 'characters cut to fit the context window') : text));
  let low = 0;
  let high = longestText(message);
  let best = apply(0);
  while (low <= high) {
    const cap = Math.floor((low + high) / 2);
    const candidate = apply(cap);
    if (JSON.stringify(candidate).length <= targetChars) {
      best = candidate;
      low = cap + 1;
    } else {
      high = cap - 1;
    }
  }
  return best;
}

/** The message with `cut` applied to its texts: a user's content, text and reasoning parts, tool arguments and outputs. */
function mapTexts(message: unknown, cut: (text: string) => string): unknown {
  const record = message as Message;
  if (typeof record.content === 'string') return { ...record, content: cut(record.content) };
  if (!Array.isArray(record.content)) return message;
  const walk = (value: unknown, key?: string): unknown => {
    if (typeof value === 'string') return key !== undefined && (key.endsWith('_file') || key === 'path') ? value : cut(value);
    if (Array.isArray(value)) return value.map((item) => walk(item));
    if (isRecord(value)) return Object.fromEntries(Object.entries(value).map(([name, inner]) => [name, walk(inner, name)]));
    return value;
  };
  const content = record.content.map((part: unknown) => {
    if (!isRecord(part)) return part;
    if ((part.type === 'text' || part.type === 'reasoning') && typeof part.text === 'string') return { ...part, text: cut(part.text) };
    if (part.type === 'tool-call') return { ...part, input: walk(part.input) };
    if (part.type === 'tool-result' && isRecord(part.output)) return { ...part, output: { ...part.output, value: walk(part.output.value) } };
    return part;
  });
  return { ...record, content };
}

function longestText(message: unknown): number {
  let longest = 0;
  mapTexts(message, (text) => {
    longest = Math.max(longest, text.length);
    return text;
  });
  return longest;
}

/** Drops tool results whose call is not among the messages (no provider takes them), and opens with a user message. */
function assemble(view: unknown[]): unknown[] {
  const calls = new Set<string>();
  const messages: unknown[] = [];
  for (const message of view) {
    const role = roleOf(message);
    if (role === 'assistant') for (const part of partsOf(message)) if (part.type === 'tool-call') calls.add(String(part.toolCallId));
    if (role === 'tool') {
      const parts = partsOf(message);
      const kept = parts.filter((part) => part.type !== 'tool-result' || calls.has(String(part.toolCallId)));
      if (kept.length === 0) continue;
      if (kept.length !== parts.length) {
        messages.push({ ...(message as Message), content: kept });
        continue;
      }
    }
    messages.push(message);
  }
  if (messages.length === 0 || roleOf(messages[0]) !== 'user') messages.unshift(OPENING_MESSAGE);
  return messages;
}

function openingTokens(entries: HistoryEntry[]): number {
  return entries.length === 0 || roleOf(entries[0]!.message) !== 'user' ? OPENING_TOKENS : 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Summaries

/** Characters a summary may take, the verbatim request included. */
function maxSummaryChars(contextTokens: number): number {
  return Math.max(400, Math.floor(contextTokens * SUMMARY_SHARE * 4));
}

/** Characters of a tool output's string in a preview: 1% of the window, from 200 to 2,000. */
function previewChars(contextTokens: number): number {
  return Math.min(2_000, Math.max(200, Math.floor(contextTokens * 4 * 0.01)));
}

/** A summary's own text and the request it carries verbatim, if any. */
function splitRequest(summary: string | null): { body: string | null; request: string | null } {
  if (summary === null) return { body: null, request: null };
  const at = summary.lastIndexOf(`\n\n${REQUEST_HEADING}\n`);
  if (at === -1) return { body: summary, request: null };
  return { body: summary.slice(0, at), request: summary.slice(at + REQUEST_HEADING.length + 3) };
}

/**
 * The summary of `entries` (with the summary so far): their transcript in chunks that fit the summarizer's window,
 * folded one after the other, cut to the summary's share of the window; then the request verbatim, if given.
 */
async function summarizeEntries(input: {
  summarize: Summarizer;
  previousSummary: string | null;
  entries: HistoryEntry[];
  contextTokens: number;
  previewLength: number;
  request: string | undefined;
}): Promise<string> {
  const maxChars = maxSummaryChars(input.contextTokens);
  const request = input.request === undefined ? undefined : cutText(input.request, Math.floor(maxChars / 2));
  const bodyChars = maxChars - requestChars(request);
  const inputChars = Math.floor(input.contextTokens * SUMMARIZE_INPUT_SHARE * 4);
  const chunkChars = Math.max(600, inputChars - bodyChars - SUMMARIZE_INSTRUCTION_CHARS);
  const lineChars = Math.min(4_000, Math.max(150, Math.floor(chunkChars / 3)));
  const lines = input.entries.map((entry) => transcriptLine(entry, lineChars, Math.min(input.previewLength, Math.floor(lineChars / 2))));
  const maxWords = Math.max(20, Math.floor(bodyChars / 7));
  let summary = input.previousSummary === null ? null : cutText(input.previousSummary, bodyChars);
  let chunk: string[] = [];
  let chunkLength = 0;
  const fold = async () => {
    summary = cutText((await input.summarize({ previousSummary: summary, transcript: chunk.join('\n'), maxWords })).trim(), bodyChars);
    chunk = [];
    chunkLength = 0;
  };
  for (const line of lines) {
    if (chunk.length > 0 && chunkLength + line.length + 1 > chunkChars) await fold();
    chunk.push(line);
    chunkLength += line.length + 1;
  }
  if (chunk.length > 0) await fold();
  return composeSummary(summary ?? '', request, maxChars);
}

/** Characters the verbatim request takes in a summary, its heading included. */
function requestChars(request: string | undefined): number {
  return request === undefined ? 0 : request.length + REQUEST_HEADING.length + 3;
}

/** A summary of at most `maxChars`: the body, then the request verbatim (up to half of it) under its heading. */
function composeSummary(body: string, request: string | undefined, maxChars: number): string {
  const kept = request === undefined ? undefined : cutText(request, Math.floor(maxChars / 2));
  const text = cutText(body, maxChars - requestChars(kept));
  return kept === undefined ? text : `${text}\n\n${REQUEST_HEADING}\n${kept}`;
}

function transcriptLine(entry: HistoryEntry, maxChars: number, previewLength: number): string {
  const message = carriesTools(entry.message) ? shortenMessage(entry.message, 1, previewLength) : entry.message;
  const record = message as Message;
  let text: string;
  if (typeof record.content === 'string') text = userText(record);
  else {
    text = partsOf(record)
      .map((part) => {
        if ((part.type === 'text' || part.type === 'reasoning') && typeof part.text === 'string') return part.text;
        if (part.type === 'tool-call') return `[called ${String(part.toolName)} ${JSON.stringify(part.input)}]`;
        if (part.type === 'tool-result') return `[${String(part.toolName)} returned ${JSON.stringify(part.output)}]`;
        return `[${String(part.type)}]`;
      })
      .join('\n');
  }
  return cutText(`${String(record.role)}: ${text}`, maxChars);
}

/** A user message's text, with the URLs of its attachments. */
function userText(message: unknown): string {
  const record = message as Message & { attachments?: unknown };
  const text =
    typeof record.content === 'string'
      ? record.content
      : partsOf(record)
          .map((part) => (part.type === 'text' && typeof part.text === 'string' ? part.text : `[${String(part.type)}]`))
          .join('\n');
  const attachments = Array.isArray(record.attachments) ? record.attachments.filter(isRecord) : [];
  if (attachments.length === 0) return text;
  return `${text}\n(attachments: ${attachments.map((attachment) => `${String(attachment.type)} ${String(attachment.url)}`).join(', ')})`;
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers

type Message = { role?: unknown; content?: unknown } & Record<string, unknown>;
type Part = Record<string, unknown>;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function roleOf(message: unknown): string | undefined {
  return isRecord(message) && typeof message.role === 'string' ? message.role : undefined;
}

function partsOf(message: unknown): Part[] {
  return isRecord(message) && Array.isArray(message.content) ? message.content.filter(isRecord) : [];
}

/** An assistant message with tool calls, or a tool message: what shortening works on. */
function carriesTools(message: unknown): boolean {
  const role = roleOf(message);
  if (role === 'tool') return true;
  return role === 'assistant' && partsOf(message).some((part) => part.type === 'tool-call');
}

/** `text` cut to at most `maxChars`: its head and tail around a note (or, when that cannot fit, its head). */
function cutText(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  if (maxChars < 160) return sliceAtCodePoint(text, 0, maxChars);
  return preview(text, maxChars - 100, 'characters cut');
}

/** Head (60%) and tail of `text` in about `keep` characters, around "[… N <note> …]". */
function preview(text: string, keep: number, note: string): string {
  const head = sliceAtCodePoint(text, 0, Math.floor(keep * 0.6));
  const tail = sliceAtCodePoint(text, text.length - (keep - head.length), text.length);
  const omitted = text.length - head.length - tail.length;
  return `${head}\n[… ${omitted.toLocaleString('en-US')} ${note} …]\n${tail}`;
}
