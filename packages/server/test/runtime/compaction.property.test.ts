// Compaction is total: for any history the runtime can hold (one user message or many turns, tool results of
// any size, attachments, a summary already there), the messages of the next step are a valid prompt (AI SDK
// schema, never empty, opening with a user message, every tool call answered right after it and every result
// answering a call, ending where the model continues) that fits the window by the runtime's own token estimate.
import fc from 'fast-check';
import { modelMessageSchema } from 'ai';
import { describe, expect, it } from 'vitest';
import { toModelMessage } from '../../src/runtime/attachments.ts';
import { compactHistory, estimateTokens, OPENING_MESSAGE, REQUEST_HEADING, type Summarizer } from '../../src/runtime/compaction.ts';
import type { HistoryEntry } from '../../src/store/threads.ts';

/** A string of `length` characters that JSON does not inflate (estimateTokens measures JSON). */
const text = (length: number, letter = 'x') => (length <= 0 ? '' : `${letter}${' lorem'.repeat(Math.ceil(length / 6))}`.slice(0, length));

// Sizes skewed small, with some huge: most messages are short, some tool outputs and pastes are enormous.
const size = fc.oneof({ weight: 5, arbitrary: fc.nat(400) }, { weight: 2, arbitrary: fc.nat(20_000) }, { weight: 1, arbitrary: fc.integer({ min: 20_000, max: 120_000 }) });

const attachment = fc.record({ type: fc.constantFrom('image', 'video', 'audio'), url: fc.nat(1000).map((n) => `https://files.example.com/${n}.png`) });

const userMessage = fc.record({ length: size, attachments: fc.array(attachment, { maxLength: 3 }) }).map(({ length, attachments }) => ({
  role: 'user',
  content: text(length, 'u') || 'hi',
  ...(attachments.length > 0 ? { attachments } : {}),
}));

const toolOutput = fc.oneof(
  fc.record({ stdout: size, stderr: size, saved: fc.boolean(), exit: fc.integer({ min: 0, max: 2 }) }).map(({ stdout, stderr, saved, exit }) => ({
    toolName: 'shell',
    output: {
      type: 'json',
      value: {
        exit_code: exit,
        stdout: text(stdout, 'o'),
        stderr: text(stderr, 'e'),
        timed_out: false,
        ...(saved ? { stdout_file: '/workspace/.herm/tool-output/call_0123456789abcdefghij.txt' } : {}),
      },
    },
  })),
  size.map((length) => ({ toolName: 'read_file', output: { type: 'json', value: { path: 'notes/a.md', content: text(length, 'r'), total_lines: 10 } } })),
  size.map((length) => ({ toolName: 'shell', output: { type: 'error-json', value: { error: text(Math.min(length, 5_000), 'E') || 'failed' } } })),
  fc.array(fc.nat(50), { maxLength: 400 }).map((items) => ({ toolName: 'list', output: { type: 'json', value: { items } } })),
);

/** One model step with tool calls: the assistant's message and one tool message per call, in order. */
const toolStep = fc.record({ text: fc.option(size, { nil: undefined }), outputs: fc.array(toolOutput, { minLength: 1, maxLength: 14 }), argument: size });

const turn = fc.record({
  users: fc.array(userMessage, { minLength: 1, maxLength: 2 }),
  steps: fc.array(toolStep, { maxLength: 4 }),
  answer: fc.option(size, { nil: undefined }),
});

interface Scenario {
  contextTokens: number;
  systemChars: number;
  summary: string | null;
  messages: unknown[];
  summaryLength: number;
}

/** Histories as the runtime stores them: complete turns, then the current one, ending in a user or tool message. */
const scenario: fc.Arbitrary<Scenario> = fc
  .record({
    contextTokens: fc.oneof(fc.integer({ min: 1_000, max: 8_000 }), fc.integer({ min: 8_000, max: 200_000 })),
    systemShare: fc.double({ min: 0, max: 0.1, noNaN: true }),
    summary: fc.option(
      fc.record({ length: fc.nat(30_000), request: fc.boolean() }).map(({ length, request }) => `${text(length, 's')}${request ? `\n\n${REQUEST_HEADING}\nthe old request` : ''}`),
      { nil: null },
    ),
    done: fc.array(turn, { maxLength: 4 }),
    current: fc.oneof(
      // The reported case: one user message and a step of many parallel tool calls with huge outputs.
      fc.record({ users: fc.array(userMessage, { minLength: 1, maxLength: 1 }), steps: fc.array(toolStep, { minLength: 1, maxLength: 3 }) }),
      fc.record({ users: fc.array(userMessage, { minLength: 1, maxLength: 2 }), steps: fc.constant([]) }),
    ),
    startsMidTurn: fc.boolean(),
    summaryLength: fc.oneof(fc.nat(300), fc.nat(200_000)),
  })
  .map(({ contextTokens, systemShare, summary, done, current, startsMidTurn, summaryLength }) => {
    let callNumber = 0;
    const messages: unknown[] = [];
    const addSteps = (steps: ReadonlyArray<{ text: number | undefined; outputs: { toolName: string; output: unknown }[]; argument: number }>) => {
      for (const step of steps) {
        const calls = step.outputs.map((output) => ({ id: `call_${callNumber++}`, ...output }));
        messages.push({
          role: 'assistant',
          content: [
            ...(step.text ? [{ type: 'text', text: text(step.text, 't') }] : []),
            ...calls.map((call) => ({ type: 'tool-call', toolCallId: call.id, toolName: call.toolName, input: { command: text(step.argument, 'c') || 'ls' } })),
          ],
        });
        for (const call of calls) {
          messages.push({ role: 'tool', content: [{ type: 'tool-result', toolCallId: call.id, toolName: call.toolName, output: call.output }] });
        }
      }
    };
    for (const complete of done) {
      messages.push(...complete.users);
      addSteps(complete.steps);
      messages.push({ role: 'assistant', content: [{ type: 'text', text: text(complete.answer ?? 5, 'a') || 'ok' }] });
    }
    messages.push(...current.users);
    addSteps(current.steps);
    // After an earlier compaction inside a turn, the stored history may begin with that turn's tool steps.
    if (startsMidTurn && summary !== null) {
      const firstAssistantWithCalls = messages.findIndex(
        (message, index) => index > 0 && (message as { role: string }).role === 'assistant' && JSON.stringify(message).includes('"tool-call"'),
      );
      if (firstAssistantWithCalls > 0) messages.splice(0, firstAssistantWithCalls);
    }
    return { contextTokens, systemChars: Math.floor(contextTokens * 4 * systemShare), summary, messages, summaryLength };
  });

function entriesOf(messages: unknown[]): HistoryEntry[] {
  return messages.map((message, index) => ({ seq: 100 + index, runId: 'run_1', message, chars: JSON.stringify(message).length }));
}

type AnyMessage = { role: string; content: unknown };

/** Every problem a provider would refuse, as readable strings (empty when valid). */
function problems(messages: unknown[]): string[] {
  const found: string[] = [];
  if (messages.length === 0) found.push('empty');
  const list = messages as AnyMessage[];
  if (list[0]?.role !== 'user') found.push(`starts with ${list[0]?.role}`);
  const last = list.at(-1)?.role;
  if (last !== 'user' && last !== 'tool') found.push(`ends with ${last}`);
  for (const [index, message] of list.entries()) {
    const parsed = modelMessageSchema.safeParse(toModelMessage(message, 'anthropic'));
    if (!parsed.success) found.push(`message ${index} invalid: ${parsed.error.message.slice(0, 200)}`);
    if (message.role === 'assistant' && Array.isArray(message.content)) {
      const calls = (message.content as { type: string; toolCallId?: string }[]).filter((part) => part.type === 'tool-call').map((part) => part.toolCallId);
      const answered: (string | undefined)[] = [];
      for (let next = index + 1; next < list.length && list[next]!.role === 'tool'; next++) {
        for (const part of list[next]!.content as { type: string; toolCallId?: string }[]) if (part.type === 'tool-result') answered.push(part.toolCallId);
      }
      if (JSON.stringify([...answered].sort()) !== JSON.stringify([...calls].sort())) found.push(`calls of message ${index} answered by ${JSON.stringify(answered)}, not ${JSON.stringify(calls)}`);
    }
    if (message.role === 'tool') {
      const previous = list.slice(0, index).findLast((candidate) => candidate.role !== 'tool');
      if (previous?.role !== 'assistant') found.push(`tool message ${index} follows ${previous?.role}`);
    }
  }
  return found;
}

describe('compactHistory', () => {
  it('turns any history into a valid, non-empty prompt that fits the window', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ contextTokens, systemChars, summary, messages, summaryLength }) => {
        const history = { summary, entries: entriesOf(messages) };
        const original = [...history.entries];
        const base = text(systemChars, 'p') || 'You help.';
        const systemPrompt = (current: string | null) => (current ? `${base}\n\n# Earlier in this conversation (summary)\n${current}` : base);
        const saved: { summary: string; throughSeq: number }[] = [];
        const summarizer: Summarizer = async ({ previousSummary, transcript }) => {
          // Each summarization request fits the model's window too.
          expect(estimateTokens(`${previousSummary ?? ''}${transcript}`) + 150).toBeLessThanOrEqual(contextTokens * 0.7);
          expect(transcript.length).toBeGreaterThan(0);
          return text(summaryLength, 'S');
        };

        const result = await compactHistory({
          history,
          contextTokens,
          systemPrompt,
          summarize: summarizer,
          saveSummary: async (newSummary, throughSeq) => {
            saved.push({ summary: newSummary, throughSeq });
          },
        });

        expect(problems(result)).toEqual([]);
        const total = estimateTokens(systemPrompt(history.summary)) + result.reduce<number>((sum, message) => sum + estimateTokens(message), 0);
        expect(total).toBeLessThanOrEqual(Math.floor(contextTokens * 0.7));

        // What was summarised was saved, and the history kept is the rest, in order.
        const kept = history.entries;
        expect(original.slice(original.length - kept.length)).toEqual(kept);
        if (kept.length < original.length) {
          expect(saved).toHaveLength(1);
          expect(saved[0]!.throughSeq).toBe(original[original.length - kept.length - 1]!.seq);
          expect(history.summary).toBe(saved[0]!.summary);
        } else {
          expect(saved).toHaveLength(0);
        }
        // The messages are the kept entries (shortened), with at most the opening note before them.
        const body = result[0] === OPENING_MESSAGE ? result.slice(1) : result;
        expect(body.map((message) => (message as AnyMessage).role)).toEqual(kept.map((entry) => (entry.message as AnyMessage).role));

        // The last user message is there, as a message or verbatim (its beginning at least) in the summary.
        const lastUser = original.findLast((entry) => (entry.message as AnyMessage).role === 'user');
        if (lastUser && !kept.includes(lastUser)) {
          expect(history.summary).toContain(REQUEST_HEADING);
          expect(history.summary).toContain(((lastUser.message as AnyMessage).content as string).slice(0, 40));
        }
      }),
      { numRuns: Number(process.env.HERM_PROPERTY_RUNS ?? 150) },
    );
  }, 120_000);

  it('keeps a history that fits as it is, and previews the oldest tool output first, pointing at its saved file', async () => {
    const big = (id: string) => ({
      role: 'tool',
      content: [
        {
          type: 'tool-result',
          toolCallId: id,
          toolName: 'shell',
          output: { type: 'json', value: { exit_code: 0, stdout: text(40_000, 'o'), stderr: '', timed_out: false, stdout_file: `/workspace/.herm/tool-output/${id}.txt` } },
        },
      ],
    });
    const messages = [
      { role: 'user', content: 'go' },
      { role: 'assistant', content: ['a', 'b', 'c'].map((id) => ({ type: 'tool-call', toolCallId: id, toolName: 'shell', input: { command: 'cat big' } })) },
      big('a'),
      big('b'),
      big('c'),
    ];
    const never: Summarizer = async () => {
      throw new Error('no summary expected');
    };
    const save = async () => {};
    const wide = await compactHistory({ history: { summary: null, entries: entriesOf(messages) }, contextTokens: 200_000, systemPrompt: () => 'p', summarize: never, saveSummary: save });
    expect(wide).toEqual(messages);
    const narrow = await compactHistory({ history: { summary: null, entries: entriesOf(messages) }, contextTokens: 40_000, systemPrompt: () => 'p', summarize: never, saveSummary: save });
    const outputs = narrow.slice(2).map((message) => JSON.stringify(message));
    expect(outputs[0]).toContain('the full text is in /workspace/.herm/tool-output/a.txt');
    expect(outputs[0]!.length).toBeLessThan(3_000);
    expect(outputs[2]!.length).toBeGreaterThan(40_000);
  });
});
