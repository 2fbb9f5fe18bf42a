// Keeps a thread's history inside the model's context window: when the estimate passes a threshold, older
// messages are summarized by the model itself and replaced by that summary.
import type { LanguageModel, ModelMessage } from 'ai';
import type { HistoryEntry } from '../store/threads.ts';

/** Share of the context window at which compaction starts. */
const COMPACT_AT = 0.7;
/** Share of the window the recent, verbatim part may keep. */
const KEEP_RECENT = 0.3;

/** A cheap, conservative estimate: about four characters per token for English text and JSON. */
export function estimateTokens(value: unknown): number {
  return Math.ceil((typeof value === 'string' ? value.length : JSON.stringify(value).length) / 4);
}

/** estimateTokens of an entry's message, from the length of its stored JSON when the store gave it. */
function entryTokens(entry: HistoryEntry): number {
  return entry.chars === undefined ? estimateTokens(entry.message) : Math.ceil(entry.chars / 4);
}

export function needsCompaction(systemPrompt: string, entries: HistoryEntry[], contextTokens: number): boolean {
  const total = estimateTokens(systemPrompt) + entries.reduce((sum, entry) => sum + entryTokens(entry), 0);
  return total > contextTokens * COMPACT_AT && entries.length > 2;
}

/**
 * Where to cut: the oldest entries go into the summary, the newest stay verbatim. The kept part starts at a
 * user message, so a tool call is never separated from its result.
 */
export function compactionSplit(entries: HistoryEntry[], contextTokens: number): number {
  let kept = 0;
  let split = entries.length;
  for (let index = entries.length - 1; index > 0; index--) {
    kept += entryTokens(entries[index]!);
    if (kept > contextTokens * KEEP_RECENT) break;
    if ((entries[index]!.message as ModelMessage).role === 'user') split = index;
  }
  if (split === entries.length) {
    // Even the newest user turn is too big to keep whole: summarize everything before the last user message.
    for (let index = entries.length - 1; index > 0; index--) {
      if ((entries[index]!.message as ModelMessage).role === 'user') return index;
    }
    return entries.length;
  }
  return split;
}

function transcript(previousSummary: string | null, entries: HistoryEntry[]): string {
  const lines: string[] = [];
  if (previousSummary) lines.push(`Summary so far:\n${previousSummary}\n`);
  for (const entry of entries) {
    const message = entry.message as ModelMessage;
    const content =
      typeof message.content === 'string'
        ? message.content
        : message.content
            .map((part) => {
              if (part.type === 'text') return part.text;
              if (part.type === 'tool-call') return `[called ${part.toolName} ${JSON.stringify(part.input)}]`;
              if (part.type === 'tool-result') return `[${part.toolName} returned ${JSON.stringify(part.output).slice(0, 2_000)}]`;
              return `[${part.type}]`;
            })
            .join('\n');
    lines.push(`${message.role}: ${content}`);
  }
  return lines.join('\n');
}

export async function summarize(input: {
  model: LanguageModel;
  previousSummary: string | null;
  entries: HistoryEntry[];
  signal: AbortSignal;
}): Promise<string> {
  const { generateText } = await import('ai');
  const result = await generateText({
    model: input.model,
    system:
      'You compact conversation history for an AI agent. Write a concise summary that keeps every fact, decision, ' +
      'file path, open task and user preference the agent needs to continue. Output only the summary.',
    messages: [{ role: 'user', content: `Summarize this conversation history:\n\n${transcript(input.previousSummary, input.entries)}` }],
    abortSignal: input.signal,
  });
  return result.text.trim();
}
