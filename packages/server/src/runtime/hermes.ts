// The "hermes" agent loop: stream a model step, run the tools it calls inside the sandbox, feed the results
// back, repeat until the model stops calling tools. Every step is persisted before the next one starts, so a
// run interrupted by a crash resumes from its history rather than from scratch.
import type { AssistantModelMessage, JSONSchema7, LanguageModel, ModelMessage, ToolSet } from 'ai';
import { z } from 'zod';
import type { Logger } from 'pino';
import type { EventLog } from '../events/event-log.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';
import type { DeploymentRecord } from '../store/deployments.ts';
import type { NewEvent } from '../store/events.ts';
import type { RunError, RunRecord } from '../store/runs.ts';
import type { Store } from '../store/store.ts';
import { appendHistoryIn, type HistoryEntry } from '../store/threads.ts';
import { parseModelName } from '../models/index.ts';
import type { AttachmentDownload } from '../net/attachment-download.ts';
import { toModelMessage } from './attachments.ts';
import { compactionSplit, needsCompaction, summarize } from './compaction.ts';
import { buildSystemPrompt } from './prompt.ts';
import type { BuiltinTool, ToolOutput } from './tools/tool.ts';

export interface AgentRunOptions {
  run: RunRecord;
  deployment: DeploymentRecord;
  store: Store;
  events: EventLog;
  /** Resolves the model and its context window; throws a typed configuration error (e.g. a missing provider key). */
  resolveModel: () => { model: LanguageModel; contextTokens: number };
  sandbox: Sandbox;
  tools: Record<string, BuiltinTool>;
  maxSteps: number;
  signal: AbortSignal;
  logger: Logger;
  /** Downloads attachments the model cannot take by URL (net/attachment-download.ts); default: the AI SDK's own. */
  download?: AttachmentDownload | undefined;
}

/**
 * Abort reason for "stop working on this run, but do not end it": the server is shutting down or another node
 * took the lease. The run stays `running` and is resumed from its persisted history.
 */
export const HANDOFF_REASON = 'herm:handoff';

export class RunStop extends Error {
  readonly error: RunError;

  constructor(error: RunError) {
    super(error.message);
    this.error = error;
  }
}

interface ToolCall {
  toolCallId: string;
  toolName: string;
  input: unknown;
  invalidReason?: string | undefined;
}

let aiSdk: Promise<typeof import('ai')> | undefined;

/**
 * The AI SDK, loaded with the first run rather than at start-up: an idle server (any number of idle
 * deployments) does not pay its resident memory.
 */
function loadAiSdk(): Promise<typeof import('ai')> {
  aiSdk ??= import('ai');
  return aiSdk;
}

const modelToolCache = new WeakMap<Record<string, BuiltinTool>, ToolSet>();

/**
 * The tools as the model sees them. Their JSON schemas are computed once per tool set: converting zod schemas
 * on every model call was the largest single cost of a short run. Inputs are validated with the zod schema
 * when the tool runs (executeTool), so the model-facing schema needs no validator of its own.
 */
function toModelTools(ai: typeof import('ai'), tools: Record<string, BuiltinTool>): ToolSet {
  let set = modelToolCache.get(tools);
  if (!set) {
    set = {};
    const { jsonSchema, tool } = ai;
    for (const [name, builtin] of Object.entries(tools)) {
      set[name] = tool({ description: builtin.description, inputSchema: jsonSchema(z.toJSONSchema(builtin.inputSchema) as JSONSchema7) });
    }
    modelToolCache.set(tools, set);
  }
  return set;
}

function describeError(error: unknown): string {
  if (error instanceof Error) {
    const status = (error as { statusCode?: number }).statusCode;
    return status ? `${error.message} (HTTP ${status})` : error.message;
  }
  return String(error);
}

export async function runAgent(options: AgentRunOptions): Promise<void> {
  const { run, deployment, store, events, signal, logger } = options;
  const event = (type: string, data: Record<string, unknown>): NewEvent => ({
    deploymentId: deployment.id,
    type,
    threadId: run.thread_id,
    runId: run.id,
    data,
  });
  const emit = (type: string, data: Record<string, unknown>) => events.emit(event(type, data));
  /** Appends model messages to the history and, in the same transaction, emits `after`; keeps `history` in step. */
  let history: { summary: string | null; entries: HistoryEntry[] } | undefined;
  const appendWith = async (messages: unknown[], after: NewEvent[]) => {
    const { result } = await events.transact(deployment.id, async (trx) => ({
      result: await appendHistoryIn(trx, store.dialect, run.thread_id, run.id, messages),
      events: after,
    }));
    history?.entries.push(...result);
  };

  // The "running" status goes out with the first step's start (one transaction), or ahead of an early end.
  let runningSent = false;
  const running = (): NewEvent[] => {
    if (runningSent) return [];
    runningSent = true;
    return [event('run_status', { status: 'running' })];
  };
  let agentText = '';
  try {
    let model: LanguageModel;
    let contextTokens: number;
    try {
      ({ model, contextTokens } = options.resolveModel());
    } catch (error) {
      throw new RunStop({ type: 'configuration_error', message: describeError(error) });
    }
    const ai = await loadAiSdk();
    const modelTools = toModelTools(ai, options.tools);
    const provider = parseModelName(deployment.model).provider;
    // A thread has one active run, so while it works the history changes only through it: load it once and
    // keep it in step with what this loop appends, instead of re-reading the whole thread every step.
    history = await store.threads.loadHistory(run.thread_id);
    const append = (messages: unknown[]) => appendWith(messages, []);
    if (run.steps > 0) {
      for (const status of running()) await events.emit(status);
      await closeInterruptedToolCalls(history.entries, append, emit);
    }
    const toolNames = Object.keys(options.tools);
    let steps = run.steps;
    for (;;) {
      if (signal.aborted) throw new RunStop({ type: 'cancelled', message: 'The run was cancelled.' });
      if (steps >= options.maxSteps) {
        // Inputs not yet seen enter the history when the run ends (finishIn), for the next run.
        throw new RunStop({ type: 'step_limit', message: `The run stopped after ${options.maxSteps} model steps (HERM_MAX_STEPS).` });
      }
      // Pending inputs move into the history and the step is counted in one transaction (the first step's also
      // sends the "running" status).
      const { result: taken } = await events.transact(deployment.id, async (trx) => ({
        result: await store.runs.beginStepIn(trx, run.id, run.thread_id),
        events: running(),
      }));
      steps++;
      history.entries.push(...taken);
      if (needsCompaction(buildSystemPrompt({ systemPrompt: deployment.system_prompt, toolNames, summary: history.summary, persistentWorkspace: deployment.sandbox.persistent_filesystem }), history.entries, contextTokens)) {
        const split = compactionSplit(history.entries, contextTokens);
        if (split > 0) {
          const summary = await summarize({ model, previousSummary: history.summary, entries: history.entries.slice(0, split), signal });
          await store.threads.saveSummary(run.thread_id, summary, history.entries[split - 1]!.seq);
          history.summary = summary;
          history.entries.splice(0, split);
        }
      }
      const system = buildSystemPrompt({ systemPrompt: deployment.system_prompt, toolNames, summary: history.summary, persistentWorkspace: deployment.sandbox.persistent_filesystem });
      let stepText = '';
      const toolCalls: ToolCall[] = [];
      let streamError: unknown;
      const result = ai.streamText({
        model,
        system,
        messages: history.entries.map((entry) => toModelMessage(entry.message, provider)),
        tools: modelTools,
        abortSignal: signal,
        maxRetries: 2,
        ...(options.download ? { experimental_download: options.download } : {}),
        onError: () => {}, // errors arrive as stream parts and end the run with their message
      });
      for await (const part of result.fullStream) {
        if (part.type === 'text-delta') {
          if (part.text.length === 0) continue;
          stepText += part.text;
          void emit('token', { delta: part.text }).catch((error: unknown) => logger.error({ err: error }, 'token event lost'));
        } else if (part.type === 'tool-call') {
          const invalid = (part as { invalid?: boolean; error?: unknown }).invalid;
          toolCalls.push({
            toolCallId: part.toolCallId,
            toolName: part.toolName,
            input: part.input,
            invalidReason: invalid ? describeError((part as { error?: unknown }).error) : undefined,
          });
        } else if (part.type === 'error') {
          streamError = part.error;
        } else if (part.type === 'abort') {
          throw new RunStop({ type: 'cancelled', message: 'The run was cancelled.' });
        }
      }
      if (signal.aborted) throw new RunStop({ type: 'cancelled', message: 'The run was cancelled.' });
      if (streamError !== undefined) throw new RunStop({ type: 'model_error', message: describeError(streamError) });

      const assistantContent: Exclude<AssistantModelMessage['content'], string> = [];
      if (stepText) assistantContent.push({ type: 'text', text: stepText });
      for (const call of toolCalls) {
        assistantContent.push({ type: 'tool-call', toolCallId: call.toolCallId, toolName: call.toolName, input: call.input });
      }
      if (stepText) agentText = agentText ? `${agentText}\n\n${stepText}` : stepText;
      const stepMessages = assistantContent.length > 0 ? [{ role: 'assistant', content: assistantContent }] : [];

      if (toolCalls.length === 0) {
        // The step's message, the check for inputs that arrived meanwhile, the end of the run and its final
        // status commit together, after the step's tokens (queued before it in the event log).
        const { result: end } = await events.transact(deployment.id, async (trx) => {
          const finish = await store.runs.finishIn(trx, run.id, run.thread_id, deployment.id, { status: 'completed', agentText, history: stepMessages });
          return { result: finish, events: finish.finished ? [event('run_status', { status: 'completed' })] : [] };
        });
        history.entries.push(...end.entries);
        if (end.finished) break;
        continue; // a message arrived while the model was answering: it joins this run
      }

      const callEvent = (call: ToolCall) => event('tool_call', { tool: call.toolName, tool_call_id: call.toolCallId, arguments: call.input });
      await appendWith(stepMessages, [callEvent(toolCalls[0]!)]);
      for (const [index, call] of toolCalls.entries()) {
        const output = await executeTool(options, call);
        // The result event, the result in the history and the next call's event commit together.
        const next = toolCalls[index + 1];
        await appendWith(
          [
            {
              role: 'tool',
              content: [
                {
                  type: 'tool-result',
                  toolCallId: call.toolCallId,
                  toolName: call.toolName,
                  output: output.isError
                    ? { type: 'error-json', value: output.result ?? null }
                    : { type: 'json', value: output.result ?? null },
                },
              ],
            },
          ],
          [
            event('tool_result', { tool: call.toolName, tool_call_id: call.toolCallId, result: output.result, is_error: output.isError }),
            ...(next ? [callEvent(next)] : []),
          ],
        );
      }
    }
  } catch (error) {
    if (signal.aborted && signal.reason === HANDOFF_REASON) return;
    const runError: RunError =
      error instanceof RunStop
        ? error.error
        : signal.aborted
          ? { type: 'cancelled', message: 'The run was cancelled.' }
          : { type: 'server_error', message: describeError(error) };
    if (!(error instanceof RunStop)) logger.error({ err: error, runId: run.id }, 'run failed');
    // The end of the run and its final status commit together, after every event emitted before.
    await events.transact(deployment.id, async (trx) => {
      await store.runs.finishIn(trx, run.id, run.thread_id, deployment.id, { status: 'error', error: runError, agentText });
      return { result: undefined, events: [...running(), event('run_status', { status: 'error', error: runError })] };
    });
  }
}

/**
 * A run resumed after a crash may have stopped between a tool call and its result. Running the tool again could
 * repeat a side effect, so the call is answered with an error the model can reason about, and the history stays
 * valid (every provider requires a result for each tool call).
 */
async function closeInterruptedToolCalls(
  entries: HistoryEntry[],
  append: (messages: unknown[]) => Promise<void>,
  emit: (type: string, data: Record<string, unknown>) => Promise<unknown>,
): Promise<void> {
  const answered = new Set<string>();
  const calls: { toolCallId: string; toolName: string }[] = [];
  for (const entry of entries) {
    const message = entry.message as ModelMessage;
    if (typeof message.content === 'string') continue;
    for (const part of message.content) {
      if (part.type === 'tool-call') calls.push({ toolCallId: part.toolCallId, toolName: part.toolName });
      if (part.type === 'tool-result') answered.add(part.toolCallId);
    }
  }
  for (const call of calls.filter((candidate) => !answered.has(candidate.toolCallId))) {
    const result = { error: 'The server stopped while this tool was running; its outcome is unknown. Check before repeating it.' };
    await emit('tool_result', { tool: call.toolName, tool_call_id: call.toolCallId, result, is_error: true });
    await append([
      {
        role: 'tool',
        content: [{ type: 'tool-result', toolCallId: call.toolCallId, toolName: call.toolName, output: { type: 'error-json', value: result } }],
      },
    ]);
  }
}

async function executeTool(options: AgentRunOptions, call: ToolCall): Promise<ToolOutput> {
  const builtin = options.tools[call.toolName];
  if (!builtin) return { result: { error: `Unknown tool "${call.toolName}".` }, isError: true };
  if (call.invalidReason) return { result: { error: `Invalid arguments: ${call.invalidReason}` }, isError: true };
  const parsed = builtin.inputSchema.safeParse(call.input);
  if (!parsed.success) {
    return { result: { error: `Invalid arguments: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}` }, isError: true };
  }
  try {
    return await builtin.execute(parsed.data, { sandbox: options.sandbox, toolCallId: call.toolCallId, signal: options.signal });
  } catch (error) {
    return { result: { error: describeError(error) }, isError: true };
  }
}
