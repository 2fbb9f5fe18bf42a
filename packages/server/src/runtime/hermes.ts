// The "hermes" agent loop: stream a model step, run the tools it calls inside the sandbox, feed the results
// back, repeat until the model stops calling tools. Every step is persisted before the next one starts, so a
// run interrupted by a crash resumes from its history rather than from scratch.
import type { AssistantModelMessage, JSONSchema7, LanguageModel, ToolSet } from 'ai';
import { z } from 'zod';
import type { Logger } from 'pino';
import { interruptedAnswers, isHandoff, LeaseLostError, TOOL_CALL_INTERRUPTED, unansweredToolCalls, type RunJournal, type ToolAnswer } from '../runs/run-journal.ts';
import type { Sandbox } from '../sandbox/sandbox.ts';
import type { DeploymentRecord } from '../store/deployments.ts';
import type { RunError, RunRecord } from '../store/runs.ts';
import type { HistoryEntry } from '../store/threads.ts';
import { parseModelName } from '../models/index.ts';
import type { AttachmentDownload } from '../net/attachment-download.ts';
import { toModelMessage } from './attachments.ts';
import { compactHistory, modelSummarizer } from './compaction.ts';
import { buildSystemPrompt } from './prompt.ts';
import type { BuiltinTool, ToolOutput } from './tools/tool.ts';

export interface AgentRunOptions {
  run: RunRecord;
  deployment: DeploymentRecord;
  /** Every write of the run goes through its journal: one fenced commit per step, tool call batch, result and end. */
  journal: RunJournal;
  /** Resolves the model and its context window; throws a typed configuration error (e.g. a missing provider key). */
  resolveModel: () => { model: LanguageModel; contextTokens: number };
  sandbox: Sandbox;
  tools: Record<string, BuiltinTool>;
  maxSteps: number;
  /**
   * Aborted to stop the run: a cancellation ends it in error; a handoff (runs/run-journal.ts isHandoff: shutdown,
   * lease lost) stops it without ending it, and nothing more of it is written here.
   */
  signal: AbortSignal;
  logger: Logger;
  /** Downloads attachments the model cannot take by URL (net/attachment-download.ts); default: the AI SDK's own. */
  download?: AttachmentDownload | undefined;
}

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
  const { run, deployment, journal, signal, logger } = options;
  let history: { summary: string | null; entries: HistoryEntry[] } | undefined;
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
    // keep it in step with what the journal appends, instead of re-reading the whole thread every step.
    history = await journal.loadHistory();
    // A resumed run first answers the tool calls its last attempt left without a result (one commit).
    if (run.steps > 0) history.entries.push(...(await journal.closeInterruptedToolCalls(history.entries)));
    const toolNames = Object.keys(options.tools);
    let steps = run.steps;
    for (;;) {
      if (signal.aborted) throw new RunStop({ type: 'cancelled', message: 'The run was cancelled.' });
      if (steps >= options.maxSteps) {
        // Inputs not yet seen enter the history when the run ends (finishIn), for the next run.
        throw new RunStop({ type: 'step_limit', message: `The run stopped after ${options.maxSteps} model steps (HERM_MAX_STEPS).` });
      }
      // Pending inputs move into the history and the step is counted in one commit (the first step's also sends
      // the "running" status).
      history.entries.push(...(await journal.beginStep()));
      steps++;
      // The messages of this step: the history, with old tool output shortened and the oldest turns summarised as
      // far as the context window needs (runtime/compaction.ts); a summary is saved through the journal.
      const messages = await compactHistory({
        history,
        contextTokens,
        systemPrompt: (summary) => buildSystemPrompt({ systemPrompt: deployment.system_prompt, toolNames, summary, persistentWorkspace: deployment.sandbox.persistent_filesystem }),
        summarize: modelSummarizer(model, signal),
        saveSummary: (summary, throughSeq) => journal.saveSummary(summary, throughSeq),
      });
      const system = buildSystemPrompt({ systemPrompt: deployment.system_prompt, toolNames, summary: history.summary, persistentWorkspace: deployment.sandbox.persistent_filesystem });
      let stepText = '';
      const toolCalls: ToolCall[] = [];
      let streamError: unknown;
      const result = ai.streamText({
        model,
        system,
        messages: messages.map((message) => toModelMessage(message, provider)),
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
          journal.token(part.text);
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

      if (toolCalls.length === 0) {
        // The step's message, the check for inputs that arrived meanwhile, the end of the run and its final
        // status commit together, after the step's tokens (queued before it in the event log).
        const end = await journal.finish({
          status: 'completed',
          agentText,
          history: assistantContent.length > 0 ? [{ role: 'assistant', content: assistantContent }] : [],
        });
        history.entries.push(...end.entries);
        if (end.finished) break;
        continue; // a message arrived while the model was answering: it joins this run
      }

      // The model's message and the first call's tool_call event commit together; each result commits with the
      // next call's tool_call event, so an announced call is the one running, or answered.
      history.entries.push(...(await journal.recordToolCalls({ role: 'assistant', content: assistantContent }, toolCalls[0]!)));
      for (const [index, call] of toolCalls.entries()) {
        const output = await executeTool(options, call);
        // Cut off by a cancellation or a handoff: no result is recorded here (the end of the run, or its next
        // attempt, answers the call saying so).
        if (output === undefined) throw new RunStop({ type: 'cancelled', message: 'The run was cancelled.' });
        const answer: ToolAnswer = { call, result: output.result, isError: output.isError };
        history.entries.push(...(await journal.recordToolResult(answer, toolCalls[index + 1])));
      }
    }
  } catch (error) {
    // Stopped without ending: the run stays `running` and its next attempt resumes it from what was committed.
    if (error instanceof LeaseLostError || (signal.aborted && isHandoff(signal.reason))) return;
    const runError: RunError =
      error instanceof RunStop
        ? error.error
        : signal.aborted
          ? { type: 'cancelled', message: 'The run was cancelled.' }
          : { type: 'server_error', message: describeError(error) };
    if (!(error instanceof RunStop)) logger.error({ err: error, runId: run.id }, 'run failed');
    // Calls left without a result (a cancellation cut one off) are answered as the run ends, so the thread's
    // history stays valid for its next run; the end of the run and its final status commit together.
    const cancelled = runError.type === 'cancelled';
    const answers = history
      ? interruptedAnswers(
          unansweredToolCalls(history.entries),
          cancelled ? TOOL_CALL_INTERRUPTED.cancel : TOOL_CALL_INTERRUPTED.error,
          cancelled ? TOOL_CALL_INTERRUPTED.cancelNotRun : TOOL_CALL_INTERRUPTED.errorNotRun,
        )
      : [];
    await journal.finish({ status: 'error', error: runError, agentText, answers });
  }
}

/**
 * Runs a tool call; `undefined` when the run's signal cut it off (the command was killed: its outcome is unknown).
 * A tool that finished is reported as it finished, even when the signal came meanwhile.
 */
async function executeTool(options: AgentRunOptions, call: ToolCall): Promise<ToolOutput | undefined> {
  const builtin = options.tools[call.toolName];
  if (!builtin) return { result: { error: `Unknown tool "${call.toolName}".` }, isError: true };
  if (call.invalidReason) return { result: { error: `Invalid arguments: ${call.invalidReason}` }, isError: true };
  const parsed = builtin.inputSchema.safeParse(call.input);
  if (!parsed.success) {
    return { result: { error: `Invalid arguments: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}` }, isError: true };
  }
  if (options.signal.aborted) return undefined;
  try {
    return await builtin.execute(parsed.data, { sandbox: options.sandbox, toolCallId: call.toolCallId, signal: options.signal });
  } catch (error) {
    if (options.signal.aborted) return undefined;
    return { result: { error: describeError(error) }, isError: true };
  }
}
