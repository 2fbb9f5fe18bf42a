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
import type { PromptSkills } from '../skills/run-skills.ts';
import type { PromptMemory } from '../memory/memory-prompt.ts';
import { isJsonSchemaTool, toolOrigin, type AgentTool } from './tools/agent-tool.ts';
import type { ToolOutput } from './tools/tool.ts';
import type { WorkspaceChange, WorkspaceChangeTracker } from '../files/workspace-changes.ts';
import { ASK_HUMAN_TOOL, askHumanInput } from '../steering/ask-human-tool.ts';
import { permissionFor, summarizeCall, TOOL_REQUEST_OPTIONS, type SteeringPolicy } from '../steering/steering-policy.ts';
import type { SteeringKind } from '../steering/steering-store.ts';
import type { HermMetrics } from '../observability/metrics.ts';

export interface AgentRunOptions {
  run: RunRecord;
  deployment: DeploymentRecord;
  /** Every write of the run goes through its journal: one fenced commit per step, tool call batch, result and end. */
  journal: RunJournal;
  /** Resolves the model and its context window; throws a typed configuration error (e.g. a missing provider key). */
  resolveModel: () => { model: LanguageModel; contextTokens: number };
  sandbox: Sandbox;
  /** The tools offered to the model, by the name it calls them: built-ins and MCP servers' tools (mcp/deployment-toolset.ts). */
  tools: Record<string, AgentTool>;
  /** MCP servers whose tools are missing from this run (they could not be listed); the system prompt says so. */
  unavailableMcpServers?: string[] | undefined;
  /** The run's skills, listed by name and description in the system prompt (skills/run-skills.ts). */
  skills?: PromptSkills | undefined;
  /** The deployment's memory as the run started, a section of the system prompt (memory/memory-prompt.ts); none when undefined. */
  memory?: PromptMemory | undefined;
  maxSteps: number;
  /**
   * Aborted to stop the run: a cancellation ends it in error; a handoff (runs/run-journal.ts isHandoff: shutdown,
   * lease lost) stops it without ending it, and nothing more of it is written here.
   */
  signal: AbortSignal;
  logger: Logger;
  /** Downloads attachments the model cannot take by URL (net/attachment-download.ts); default: the AI SDK's own. */
  download?: AttachmentDownload | undefined;
  /**
   * Finds what the built-in tool calls change in the workspace (files/workspace-changes.ts); used only when the deployment
   * has `features.filesystem_webhooks`. Their `filesystem` events commit with the call's result.
   */
  workspaceChanges?: WorkspaceChangeTracker | undefined;
  /**
   * The deployment's steering (steering/steering-policy.ts), or undefined when its features.steering is off: then no
   * call ever waits for a human.
   */
  steering?: { policy: SteeringPolicy; expiresAfterSeconds: number } | undefined;
  /**
   * Asked before each model step (usage/usage-service.ts runStop): the error that ends the run there, when a credit
   * budget of its account or customer ran out; undefined (or no check): the step goes on.
   */
  creditCheck?: (() => Promise<RunError | undefined>) | undefined;
  /** This server's metrics (observability/metrics.ts): step, model call and tool call latencies, tokens. */
  metrics?: HermMetrics | undefined;
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
  /** "builtin" or the MCP server's name, for tool_call and tool_result events. */
  origin?: string | undefined;
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

const modelToolCache = new WeakMap<AgentTool, ToolSet[string]>();
/**
 * JSON schemas by zod schema: a tool made per run or per deployment (the automations tool, bound to its deployment)
 * is a new object each time, but its zod schema is the module's one, converted once.
 */
const jsonSchemaCache = new WeakMap<object, JSONSchema7>();

/**
 * The tools as the model sees them, computed once per run. A built-in's JSON schema is computed once per tool
 * (cached by the tool object, which lives as long as the server): converting zod schemas on every model call was
 * the largest single cost of a short run. Inputs are validated with the zod schema when the tool runs
 * (executeTool), so the model-facing schema needs no validator of its own. An MCP tool comes with its JSON schema,
 * passed as it is; its server validates the input.
 */
function toModelTools(ai: typeof import('ai'), tools: Record<string, AgentTool>): ToolSet {
  const set: ToolSet = {};
  const { jsonSchema, tool } = ai;
  for (const [name, agentTool] of Object.entries(tools)) {
    let modelTool = modelToolCache.get(agentTool);
    if (!modelTool) {
      let schema: JSONSchema7;
      if (isJsonSchemaTool(agentTool)) schema = agentTool.inputJsonSchema as JSONSchema7;
      else {
        schema = jsonSchemaCache.get(agentTool.inputSchema) ?? (z.toJSONSchema(agentTool.inputSchema) as JSONSchema7);
        jsonSchemaCache.set(agentTool.inputSchema, schema);
      }
      modelTool = tool({ description: agentTool.description, inputSchema: jsonSchema(schema) });
      modelToolCache.set(agentTool, modelTool);
    }
    set[name] = modelTool;
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
    const loaded = history;
    /**
     * Runs the calls of a step in order. `carry` is what must commit before the next call is announced (the model's
     * message, or the previous call's result); `first` is a decision already taken for the first call, which was
     * announced when its run paused (a human's answer). A call the steering policy holds, or an ask_human call,
     * pauses the run: 'paused', and the run ends here without ending (it waits, holding nothing).
     */
    const runCalls = async (calls: ToolCall[], start: { message?: unknown; first?: 'approved' | ToolOutput }): Promise<'done' | 'paused'> => {
      let carry: { message?: unknown; answer?: ToolAnswer } | undefined = start.message !== undefined ? { message: start.message } : undefined;
      for (const [index, call] of calls.entries()) {
        let output: (ToolOutput & { changes?: readonly WorkspaceChange[] }) | undefined;
        if (index === 0 && start.first !== undefined) {
          if (start.first !== 'approved') output = start.first;
        } else {
          const request = steeringRequestFor(options, call);
          if (request) {
            await journal.pauseForHuman({ message: carry?.message, answer: carry?.answer, call, request });
            return 'paused';
          }
          if (carry) {
            loaded.entries.push(
              ...(await (carry.answer ? journal.recordToolResult(carry.answer, call) : journal.recordToolCalls(carry.message, call))),
            );
          }
        }
        carry = undefined;
        if (output === undefined) {
          const started = Date.now();
          output = await executeTool(options, call);
          meterTool(options, call, Date.now() - started);
          if (output !== undefined) observeToolCall(options, call, Date.now() - started);
        }
        // Cut off by a cancellation or a handoff: no result is recorded here (the end of the run, or its next
        // attempt, answers the call saying so).
        if (output === undefined) throw new RunStop({ type: 'cancelled', message: 'The run was cancelled.' });
        carry = { answer: { call, result: output.result, isError: output.isError, changes: output.changes } };
      }
      if (carry?.answer) loaded.entries.push(...(await journal.recordToolResult(carry.answer)));
      return 'done';
    };
    if (run.steps > 0) {
      // A run resumed after a human's answer goes on with the call it paused at (and the calls of that step after
      // it); otherwise it first answers the tool calls its last attempt left without a result (one commit).
      const resumed = run.handoffs > 0 ? await resumeAfterAnswer(options, history.entries) : undefined;
      if (resumed) {
        if ((await runCalls(resumed.calls, { first: resumed.first })) === 'paused') return;
      } else history.entries.push(...(await journal.closeInterruptedToolCalls(history.entries)));
    }
    const toolNames = Object.keys(options.tools);
    let steps = run.steps;
    for (;;) {
      if (signal.aborted) throw new RunStop({ type: 'cancelled', message: 'The run was cancelled.' });
      if (steps >= options.maxSteps) {
        // Inputs not yet seen enter the history when the run ends (finishIn), for the next run.
        throw new RunStop({ type: 'step_limit', message: `The run stopped after ${options.maxSteps} model steps (HERM_MAX_STEPS).` });
      }
      // A budget that ran out (during the last step, or another run's) ends the run before its next step.
      const creditStop = await options.creditCheck?.();
      if (creditStop) throw new RunStop(creditStop);
      // Pending inputs move into the history and the step is counted in one commit (the first step's also sends
      // the "running" status).
      const stepStarted = performance.now();
      const stepEnded = () => options.metrics?.runStepSeconds.observe({ model: deployment.model }, (performance.now() - stepStarted) / 1000);
      history.entries.push(...(await journal.beginStep()));
      steps++;
      // The messages of this step: the history, with old tool output shortened and the oldest turns summarised as
      // far as the context window needs (runtime/compaction.ts); a summary is saved through the journal.
      const messages = await compactHistory({
        history,
        contextTokens,
        systemPrompt: (summary) => buildSystemPrompt({ systemPrompt: deployment.system_prompt, toolNames, summary, persistentWorkspace: deployment.sandbox.persistent_filesystem, unavailableMcpServers: options.unavailableMcpServers, skills: options.skills, memory: options.memory }),
        summarize: modelSummarizer(model, signal),
        saveSummary: (summary, throughSeq) => journal.saveSummary(summary, throughSeq),
      });
      const system = buildSystemPrompt({ systemPrompt: deployment.system_prompt, toolNames, summary: history.summary, persistentWorkspace: deployment.sandbox.persistent_filesystem, unavailableMcpServers: options.unavailableMcpServers, skills: options.skills, memory: options.memory });
      let stepText = '';
      const toolCalls: ToolCall[] = [];
      let streamError: unknown;
      const modelStarted = performance.now();
      /** When the model's first output (text, reasoning or a tool call) began to stream: its time to first token. */
      let firstOutputAt: number | undefined;
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
          const called = options.tools[part.toolName];
          toolCalls.push({
            toolCallId: part.toolCallId,
            toolName: part.toolName,
            input: part.input,
            origin: called ? toolOrigin(called) : undefined,
            invalidReason: invalid ? describeError((part as { error?: unknown }).error) : undefined,
          });
        } else if (part.type === 'text-start' || part.type === 'reasoning-start' || part.type === 'tool-input-start') {
          firstOutputAt ??= performance.now();
        } else if (part.type === 'finish-step') {
          options.metrics?.addUsage(deployment.model, part.usage);
          // The provider's counts for this step; recorded with the commit that ends the step (or the run).
          journal.usage({
            accountId: deployment.account_id,
            customerId: deployment.customer_id,
            deploymentId: deployment.id,
            runId: run.id,
            source: 'run',
            model: deployment.model,
            inputTokens: part.usage.inputTokens ?? 0,
            outputTokens: part.usage.outputTokens ?? 0,
            cachedTokens: part.usage.inputTokenDetails?.cacheReadTokens ?? 0,
            modelCalls: 1,
            at: Date.now(),
          });
        } else if (part.type === 'error') {
          streamError = part.error;
        } else if (part.type === 'abort') {
          throw new RunStop({ type: 'cancelled', message: 'The run was cancelled.' });
        }
      }
      observeModelCall(options, modelStarted, firstOutputAt, signal.aborted ? 'cancelled' : streamError !== undefined ? 'error' : 'ok');
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
        stepEnded();
        if (end.finished) break;
        continue; // a message arrived while the model was answering: it joins this run
      }

      // The model's message and the first call's tool_call event commit together; each result commits with the
      // next call's tool_call event, so an announced call is the one running, or answered. A call that waits for a
      // human pauses the run instead (runCalls).
      const calls = await runCalls(toolCalls, { message: { role: 'assistant', content: assistantContent } });
      stepEnded();
      if (calls === 'paused') return;
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
 * A tool call's time, recorded with its result. Built-ins run in the sandbox: their time counts as sandbox CPU time
 * too, as wall time, since no sandbox backend reports the CPU time of one command (README "Usage and credits").
 */
function meterTool(options: AgentRunOptions, call: ToolCall, elapsedMs: number): void {
  const tool = options.tools[call.toolName];
  const sandboxed = tool !== undefined && !isJsonSchemaTool(tool) && !call.invalidReason;
  options.journal.usage({
    accountId: options.deployment.account_id,
    customerId: options.deployment.customer_id,
    deploymentId: options.deployment.id,
    runId: options.run.id,
    source: 'run',
    model: null,
    toolMs: elapsedMs,
    sandboxCpuMs: sandboxed ? elapsedMs : 0,
    at: Date.now(),
  });
}

/** A model call's latencies (herm_model_call_duration_seconds, herm_model_time_to_first_token_seconds). */
function observeModelCall(options: AgentRunOptions, started: number, firstOutputAt: number | undefined, outcome: 'ok' | 'error' | 'cancelled'): void {
  const metrics = options.metrics;
  if (!metrics) return;
  const model = options.deployment.model;
  metrics.modelCallSeconds.observe({ model, outcome }, (performance.now() - started) / 1000);
  if (firstOutputAt !== undefined) metrics.modelFirstTokenSeconds.observe({ model }, (firstOutputAt - started) / 1000);
}

/**
 * A tool call's latency (herm_tool_call_duration_seconds), by tool and origin. A name the model made up is "unknown":
 * the label's values are the tools the deployments offer, never what a model writes.
 */
function observeToolCall(options: AgentRunOptions, call: ToolCall, elapsedMs: number): void {
  const tool = options.tools[call.toolName];
  options.metrics?.toolCallSeconds.observe(
    { tool: tool ? call.toolName : 'unknown', origin: tool ? toolOrigin(tool) : 'unknown' },
    elapsedMs / 1000,
  );
}

/** The request a call needs before it runs, or undefined (it runs now): steering on, and the call asks or is held. */
function steeringRequestFor(
  options: AgentRunOptions,
  call: ToolCall,
): { kind: SteeringKind; summary: string; options: string[]; expiresAt: number } | undefined {
  const steering = options.steering;
  const tool = options.tools[call.toolName];
  if (!steering || !tool || call.invalidReason) return undefined;
  const expiresAt = Date.now() + steering.expiresAfterSeconds * 1000;
  const origin = toolOrigin(tool);
  if (call.toolName === ASK_HUMAN_TOOL && origin === 'builtin') {
    // Invalid input is the model's error to fix: it runs (executeTool answers with what is wrong).
    const parsed = askHumanInput.safeParse(call.input);
    if (!parsed.success) return undefined;
    return { kind: 'ask', summary: parsed.data.summary, options: parsed.data.options ?? [...TOOL_REQUEST_OPTIONS], expiresAt };
  }
  const policyCall = { tool: call.toolName, origin, input: call.input };
  if (permissionFor(steering.policy, policyCall) !== 'always_ask') return undefined;
  return { kind: 'tool', summary: summarizeCall(policyCall), options: [...TOOL_REQUEST_OPTIONS], expiresAt };
}

/**
 * A run woken by an answer to its request (or its expiry): the calls to go on with — the one it paused at, then the
 * step's calls after it, which never ran — and the decision for the first. An approval is taken in a commit of its
 * own before the call runs; one an earlier attempt took already may have run, so that call is answered as after any
 * crash instead (undefined: closeInterruptedToolCalls).
 */
async function resumeAfterAnswer(options: AgentRunOptions, entries: HistoryEntry[]): Promise<{ calls: ToolCall[]; first: 'approved' | ToolOutput } | undefined> {
  const pending = unansweredToolCalls(entries);
  if (pending.length === 0) return undefined;
  const request = await options.journal.latestSteeringRequest();
  if (!request || request.status === 'pending' || request.status === 'cancelled' || request.tool_call.tool_call_id !== pending[0]!.toolCallId) return undefined;
  const calls: ToolCall[] = pending.map((call) => {
    const tool = options.tools[call.toolName];
    return { ...call, origin: tool ? toolOrigin(tool) : undefined };
  });
  const message = request.message ?? undefined;
  if (request.kind === 'ask') {
    if (request.decision === 'deny' || request.status === 'expired') {
      const reason = request.status === 'expired' ? 'The question expired without an answer.' : 'The person declined to answer.';
      return { calls, first: { result: { decision: 'deny', error: reason, ...(message ? { message } : {}) }, isError: true } };
    }
    return { calls, first: { result: { decision: request.decision, message: message ?? (request.decision === 'approve' ? 'Approved.' : '') }, isError: false } };
  }
  if (request.decision === 'approve') return (await options.journal.takeApproval(request.id)) ? { calls, first: 'approved' } : undefined;
  if (request.decision === 'reply') {
    return { calls, first: { result: { error: 'The person did not approve this call; they replied instead. It was not run.', decision: 'reply', message }, isError: true } };
  }
  const reason =
    request.status === 'expired'
      ? 'The approval request for this call expired without an answer, so it counts as denied. It was not run.'
      : 'The person denied this call. It was not run.';
  return { calls, first: { result: { error: reason, decision: 'deny', ...(message ? { message } : {}) }, isError: true } };
}

/**
 * Runs a tool call; `undefined` when the run's signal cut it off (the command was killed: its outcome is unknown).
 * A tool that finished is reported as it finished, even when the signal came meanwhile.
 */
async function executeTool(options: AgentRunOptions, call: ToolCall): Promise<(ToolOutput & { changes?: readonly WorkspaceChange[] }) | undefined> {
  const agentTool = options.tools[call.toolName];
  if (!agentTool) return { result: { error: `Unknown tool "${call.toolName}".` }, isError: true };
  if (call.invalidReason) return { result: { error: `Invalid arguments: ${call.invalidReason}` }, isError: true };
  let input: unknown = call.input;
  if (!isJsonSchemaTool(agentTool)) {
    const parsed = agentTool.inputSchema.safeParse(call.input);
    if (!parsed.success) {
      return { result: { error: `Invalid arguments: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}` }, isError: true };
    }
    input = parsed.data;
  }
  if (options.signal.aborted) return undefined;
  const execute = () => agentTool.execute(input, { sandbox: options.sandbox, toolCallId: call.toolCallId, signal: options.signal });
  // Built-ins run in the sandbox and may change the workspace (read_file never does); MCP tools run elsewhere.
  const tracker = options.deployment.features.filesystem_webhooks && !isJsonSchemaTool(agentTool) && agentTool.name !== 'read_file' ? options.workspaceChanges : undefined;
  let changes: readonly WorkspaceChange[] = [];
  try {
    if (!tracker) return await execute();
    const tracked = await tracker.track(options.sandbox.spec.workspaceDir, execute, (made) => (changes = made));
    return tracked.changes.length > 0 ? { ...tracked.value, changes: tracked.changes } : tracked.value;
  } catch (error) {
    // A command cut off by the signal reports nothing here, its changes included: its outcome is unknown.
    if (options.signal.aborted) return undefined;
    return { result: { error: describeError(error) }, isError: true, ...(changes.length > 0 ? { changes } : {}) };
  }
}
