// A run's journal: every write of one attempt of a run goes through here, and each commit point is one
// transaction of the event log (EventLog.transact) holding the store writes and the events they cause, published
// after the commit. Every such transaction is fenced: its first statement checks that this node still holds the
// run's lease for this attempt (store/runs.ts RunFence), and locks the run row until the commit, so a node that
// lost the run to another can no longer write anything of it: its transaction rolls back, events included, and
// the journal reports the loss (LeaseLostError) so that the run's model stream and commands are stopped.
import type { Logger } from 'pino';
import type { ModelMessage } from 'ai';
import type { EventLog } from '../events/event-log.ts';
import type { WorkspaceChange } from '../files/workspace-changes.ts';
import type { Db } from '../store/database.ts';
import type { NewEvent } from '../store/events.ts';
import { LeaseLostError, type FinishResult, type RunError, type RunFence, type RunRecord } from '../store/runs.ts';
import type { Store } from '../store/store.ts';
import { saveSummaryIn, type HistoryEntry } from '../store/threads.ts';
import { failpoint, type FailpointName } from '../util/failpoints.ts';
import type { RedactingStream, SecretRedactor } from '../secrets/secret-redactor.ts';
import { steeringRequestPayload } from '../steering/steering-events.ts';
import type { SteeringKind, SteeringRequestRecord } from '../steering/steering-store.ts';
import { newId } from '../util/ids.ts';
import type { UsageEntry } from '../usage/usage-repository.ts';
import type { UsageLedger } from '../usage/usage-service.ts';
import type { HermMetrics } from '../observability/metrics.ts';

export { LeaseLostError };

/** Abort reason of a run stopped by a graceful shutdown: it stays `running`, its lease is released for the next node. */
export class ShutdownHandoff extends Error {
  constructor() {
    super('the server is shutting down; the run is handed to the next node or start');
    this.name = 'ShutdownHandoff';
  }
}

/** Whether a run was stopped without being ended: a shutdown handed it off, or another node holds it now. */
export function isHandoff(reason: unknown): boolean {
  return reason instanceof ShutdownHandoff || reason instanceof LeaseLostError;
}

/** The results a tool call gets when its outcome cannot be known, as the model and clients read them. */
export const TOOL_CALL_INTERRUPTED = {
  restart: 'The server restarted while this command ran; its outcome is unknown. Check before repeating it.',
  restartNotRun: 'The server restarted before this tool call ran; it was not run.',
  cancel: 'The run was cancelled while this command ran; it was stopped and its outcome is unknown.',
  cancelNotRun: 'The run was cancelled before this tool call ran; it was not run.',
  error: 'The run ended with an error while this command ran; its outcome is unknown.',
  errorNotRun: 'The run ended with an error before this tool call ran; it was not run.',
} as const;

/** A tool call of the model, as the journal records it. */
export interface ToolCallRef {
  toolCallId: string;
  toolName: string;
  input: unknown;
  /** "builtin" or the MCP server's name; unknown for calls read back from the history (see toolCallOrigin). */
  origin?: string | undefined;
}

/**
 * The `origin` of a tool_call / tool_result event: the call's own, else read from its name: built-in names have
 * no "__", an MCP tool's is `<server>__<tool>` (mcp/mcp-tool-name.ts; a server name with characters other than
 * letters, digits, "_" and "-" shows as sanitised there).
 */
export function toolCallOrigin(call: ToolCallRef): string {
  if (call.origin !== undefined) return call.origin;
  const separator = call.toolName.indexOf('__');
  return separator > 0 ? call.toolName.slice(0, separator) : 'builtin';
}

/** A tool call's result. `announce`: the call's tool_call event was never sent, so it goes out first. */
export interface ToolAnswer {
  call: ToolCallRef;
  result: unknown;
  isError: boolean;
  announce?: boolean;
  /** What the call changed in the workspace (files/workspace-changes.ts): `filesystem` events, committed with its result. */
  changes?: readonly WorkspaceChange[] | undefined;
}

/**
 * The tool calls of the history without a result, in order. The journal announces a call (its tool_call event)
 * in the commit before it runs, so the first of them may have run (its outcome is unknown) and the others never did.
 */
export function unansweredToolCalls(entries: HistoryEntry[]): ToolCallRef[] {
  const answered = new Set<string>();
  const calls: ToolCallRef[] = [];
  for (const entry of entries) {
    const message = entry.message as ModelMessage;
    if (typeof message.content === 'string') continue;
    for (const part of message.content) {
      if (part.type === 'tool-call') calls.push({ toolCallId: part.toolCallId, toolName: part.toolName, input: part.input });
      if (part.type === 'tool-result') answered.add(part.toolCallId);
    }
  }
  return calls.filter((call) => !answered.has(call.toolCallId));
}

/** Answers for unanswered calls: the first with `interrupted`, the rest (never started, never announced) with `notRun`. */
export function interruptedAnswers(calls: ToolCallRef[], interrupted: string, notRun: string): ToolAnswer[] {
  return calls.map((call, index) =>
    index === 0
      ? { call, result: { error: interrupted }, isError: true }
      : { call, result: { error: notRun }, isError: true, announce: true },
  );
}

/** A tool call's answer as the history's tool message. */
export function toolMessage(answer: ToolAnswer): unknown {
  return {
    role: 'tool',
    content: [
      {
        type: 'tool-result',
        toolCallId: answer.call.toolCallId,
        toolName: answer.call.toolName,
        output: answer.isError ? { type: 'error-json', value: answer.result ?? null } : { type: 'json', value: answer.result ?? null },
      },
    ],
  };
}

export interface RunJournalOptions {
  store: Store;
  events: EventLog;
  /** The run as this node took it: `attempt` and `lease_owner` are the fence of every write. */
  run: RunRecord;
  nodeId: string;
  leaseMs: number;
  logger: Logger;
  /** Called once when the run is found lost: a fenced write refused, a renewal found another owner, or no renewal got through for a lease period. */
  onLeaseLost?: (error: LeaseLostError) => void;
  /** Called when a renewal or a write finds a cancellation requested (possibly through another node). */
  onCancelRequested?: () => void;
  /** Where the usage the run meters (usage()) is recorded: in the next commit, the one that ends the step or the run. */
  usage?: UsageLedger | undefined;
  /** Counts the run's end (herm_runs_total) once it is committed. */
  metrics?: HermMetrics | undefined;
}

export interface JournalFinish {
  status: 'completed' | 'error';
  error?: RunError | undefined;
  agentText: string;
  /** The last step's model messages. */
  history?: unknown[] | undefined;
  /** Tool calls answered in the same commit (a run ending while calls were unanswered). */
  answers?: ToolAnswer[] | undefined;
}

/** The commit points of the journal and their failpoints (util/failpoints.ts), just before and just after the commit. */
const COMMIT_POINTS = {
  step: ['run.step.before_commit', 'run.step.after_commit'],
  tool_calls: ['run.tool_calls.before_commit', 'run.tool_calls.after_commit'],
  tool_result: ['run.tool_result.before_commit', 'run.tool_result.after_commit'],
  finish: ['run.finish.before_commit', 'run.finish.after_commit'],
  close_interrupted: ['run.close_interrupted.before_commit', 'run.close_interrupted.after_commit'],
  fail_before_start: ['run.fail_before_start.before_commit', 'run.fail_before_start.after_commit'],
  abandon: ['run.abandon.before_commit', 'run.abandon.after_commit'],
  pause: ['steering.pause.before_commit', 'steering.pause.after_commit'],
  approval: ['steering.approval.before_commit', 'steering.approval.after_commit'],
} as const satisfies Record<string, readonly [FailpointName, FailpointName]>;

type CommitPoint = keyof typeof COMMIT_POINTS;

export class RunJournal {
  readonly run: RunRecord;
  readonly fence: RunFence;
  /** A queued run the end of this one made the thread's active run (store/runs.ts finishIn): its starter is whoever can. */
  promoted: string | undefined;
  /** Set when the run paused for a human; `cancelRequested`: a cancellation arrived as it paused (the run ends then). */
  paused: { cancelRequested: boolean } | undefined;
  readonly #options: RunJournalOptions;
  /** The deployment's secret values, redacted from every event and history entry (redactWith). */
  #redactor: SecretRedactor | undefined;
  /** Streamed tokens pass through it, so a value split across deltas is redacted too. */
  #tokenStream: RedactingStream | undefined;
  /** Whether this attempt's "running" status went out (with its first commit). */
  #runningSent = false;
  #tokens: NewEvent[] = [];
  /** Usage metered since the last commit (usage()); written by the next one. */
  #usage: UsageEntry[] = [];
  #tokenJobQueued = false;
  #cancelSeen = false;
  #lost = false;
  /** The run ended through this journal: a renewal finding it no longer running is no loss. */
  #ended = false;
  #renewTimer: NodeJS.Timeout | undefined;
  #deadline: NodeJS.Timeout | undefined;

  constructor(options: RunJournalOptions) {
    this.#options = options;
    this.run = options.run;
    this.fence = { runId: options.run.id, nodeId: options.nodeId, attempt: options.run.attempt };
  }

  get lost(): boolean {
    return this.#lost;
  }

  event(type: string, data: Record<string, unknown>): NewEvent {
    // A run an automation started says so in each of its status changes and steering requests (automations/), and a
    // dream's says it is one (dreams/), so that webhooks and streams tell them from the customer's runs.
    if ((type === 'run_status' || type === 'steering_request') && this.run.automation_id) data = { ...data, automation_id: this.run.automation_id };
    if ((type === 'run_status' || type === 'steering_request') && this.run.trigger === 'dream') data = { ...data, trigger: 'dream' };
    const redacted = this.#redactor ? this.#redactor.redactDeep(data) : data;
    return { deploymentId: this.run.deployment_id, type, threadId: this.run.thread_id, runId: this.run.id, data: redacted };
  }

  /**
   * Redacts the deployment's secret values (secrets/secret-redactor.ts) from everything recorded from now on:
   * events (streamed tokens included), history entries (what the model is sent next), the agent's message and
   * error messages.
   */
  redactWith(redactor: SecretRedactor): void {
    if (redactor.empty) return;
    this.#redactor = redactor;
    this.#tokenStream = redactor.stream();
  }

  #redact<T>(value: T): T {
    return this.#redactor ? this.#redactor.redactDeep(value) : value;
  }

  /** The end of a token stream that was held back (it might have begun a secret value): the text ended. */
  #flushTokens(): void {
    const rest = this.#tokenStream?.flush();
    if (rest) this.#queueToken(rest);
  }

  /** The "running" status, in this attempt's first commit. */
  #running(): NewEvent[] {
    if (this.#runningSent) return [];
    this.#runningSent = true;
    return [this.event('run_status', { status: 'running' })];
  }

  #leaseUntil(): number {
    return Date.now() + this.#options.leaseMs;
  }

  /**
   * One commit point: `work` runs in the event log's transaction (it may run twice when another job of its batch
   * fails, so it must only write through `trx`), then its events are appended, then the commit.
   */
  async #commit<T>(point: CommitPoint, work: (trx: Db) => Promise<{ result: T; events?: NewEvent[] }>): Promise<T> {
    if (this.#lost) throw new LeaseLostError(this.run.id, 'this node lost it earlier');
    const started = Date.now();
    const [beforeCommit, afterCommit] = COMMIT_POINTS[point];
    // The usage metered so far commits with this point (the end of the step or of the run); kept if it fails.
    const usage = this.#usage;
    this.#usage = [];
    try {
      const { result } = await this.#options.events.transact(this.run.deployment_id, async (trx) => {
        const outcome = await work(trx);
        if (usage.length > 0 && this.#options.usage) await this.#options.usage.recordIn(trx, usage);
        failpoint(beforeCommit);
        return outcome;
      });
      this.#confirmed(started);
      failpoint(afterCommit);
      return result;
    } catch (error) {
      if (error instanceof LeaseLostError) this.#lose(error);
      else this.#usage.unshift(...usage);
      throw error;
    } finally {
      if (this.#cancelSeen) {
        this.#cancelSeen = false;
        this.#options.onCancelRequested?.();
      }
    }
  }

  #lose(error: LeaseLostError): void {
    if (this.#lost || this.#ended) return;
    this.#lost = true;
    this.stopLease();
    this.#tokens = [];
    this.#options.logger.warn({ runId: this.run.id, attempt: this.fence.attempt, reason: error.message }, 'run lease lost; stopping the run here');
    this.#options.onLeaseLost?.(error);
  }

  /** A fenced statement that began at `started` succeeded: the lease holds until `started` + HERM_RUN_LEASE_MS. */
  #confirmed(started: number): void {
    if (this.#deadline) this.#armDeadline(started + this.#options.leaseMs);
  }

  #armDeadline(until: number): void {
    if (this.#deadline) clearTimeout(this.#deadline);
    this.#deadline = setTimeout(
      () => this.#lose(new LeaseLostError(this.run.id, 'its lease could not be renewed for a lease period (HERM_RUN_LEASE_MS)')),
      Math.max(0, until - Date.now()),
    );
    this.#deadline.unref();
  }

  /**
   * Keeps the lease while the run works: renewed every HERM_RUN_LEASE_MS / 3 (fenced by the attempt). A renewal
   * that finds another owner, or no confirmation (renewal or write) for a whole lease period — the node may be cut
   * off from the database while another takes the run over — counts as lost.
   */
  keepLease(): void {
    if (this.#renewTimer || this.#lost) return;
    const interval = Math.max(250, Math.floor(this.#options.leaseMs / 3));
    this.#renewTimer = setInterval(() => void this.#renew(), interval);
    this.#renewTimer.unref();
    const until = this.run.lease_expires_at ?? 0;
    // Until the first renewal, the lease holds as long as the claim (or the submit) that took it said; one taken a
    // while ago (a run that waited for this node's earlier attempt to stop) is renewed at once.
    if (until - Date.now() > interval) this.#armDeadline(until);
    else {
      this.#armDeadline(Date.now() + this.#options.leaseMs);
      void this.#renew();
    }
  }

  async #renew(): Promise<void> {
    const started = Date.now();
    try {
      const lease = await this.#options.store.runs.renewLease(this.run.id, this.fence.nodeId, started + this.#options.leaseMs, this.fence.attempt);
      if (!lease.owned) return this.#lose(new LeaseLostError(this.run.id));
      this.#confirmed(started);
      if (lease.cancelRequested) this.#options.onCancelRequested?.();
    } catch (error) {
      this.#options.logger.warn({ err: error, runId: this.run.id }, 'lease renewal failed');
    }
  }

  stopLease(): void {
    if (this.#renewTimer) clearInterval(this.#renewTimer);
    if (this.#deadline) clearTimeout(this.#deadline);
    this.#renewTimer = undefined;
    this.#deadline = undefined;
  }

  /** The thread's model history (read only: it changes only through this journal while the run works). */
  loadHistory(): Promise<{ summary: string | null; entries: HistoryEntry[] }> {
    return this.#options.store.threads.loadHistory(this.run.thread_id);
  }

  /**
   * A streamed token. Tokens go out in the order they came, behind the fence too: those arriving in one turn of
   * the event loop share one fenced job of the log.
   */
  token(delta: string): void {
    if (this.#lost) return;
    const text = this.#tokenStream ? this.#tokenStream.push(delta) : delta;
    if (text !== '') this.#queueToken(text);
  }

  #queueToken(delta: string): void {
    this.#tokens.push(this.event('token', { delta }));
    if (this.#tokenJobQueued) return;
    this.#tokenJobQueued = true;
    let taken: NewEvent[] | undefined;
    const started = Date.now();
    this.#options.events
      .transact(this.run.deployment_id, async (trx) => {
        if (!taken) {
          // Taken once: the job may run again alone when another job of its batch failed.
          taken = this.#tokens;
          this.#tokens = [];
          this.#tokenJobQueued = false;
        }
        const { cancelRequested } = await this.#options.store.runs.fenceIn(trx, this.fence, this.#leaseUntil());
        if (cancelRequested) this.#cancelSeen = true;
        return { result: undefined, events: taken };
      })
      .then(
        () => this.#confirmed(started),
        (error: unknown) => {
          if (error instanceof LeaseLostError) this.#lose(error);
          else this.#options.logger.error({ err: error, runId: this.run.id }, 'token events lost');
        },
      );
  }

  /**
   * Usage of the run (a model step's tokens, a tool call's time): recorded in the next commit, the one that ends the
   * step or the run (usage/usage-repository.ts).
   */
  usage(entry: UsageEntry): void {
    if (!this.#lost) this.#usage.push(entry);
  }

  /** A model step begins: the run's pending inputs enter the history and the step is counted (the first sends "running"). */
  async beginStep(): Promise<HistoryEntry[]> {
    const lead = this.#running();
    return this.#commit('step', async (trx) => {
      const { entries, cancelRequested } = await this.#options.store.runs.beginStepIn(trx, this.fence, this.run.thread_id, this.#leaseUntil());
      if (cancelRequested) this.#cancelSeen = true;
      return { result: entries, events: lead };
    });
  }

  /** The model's message with its tool calls, and the first call's tool_call event: it is about to run. */
  async recordToolCalls(message: unknown, first: ToolCallRef): Promise<HistoryEntry[]> {
    this.#flushTokens();
    const lead = this.#running();
    return this.#append('tool_calls', [message], [...lead, this.#callEvent(first)]);
  }

  /** A tool's result in the history with its tool_result event, and the next call's tool_call event. */
  async recordToolResult(answer: ToolAnswer, next?: ToolCallRef): Promise<HistoryEntry[]> {
    // A run resumed after a human's answer may commit a result first: its "running" status leads.
    const lead = this.#running();
    return this.#append('tool_result', [toolMessage(answer)], [...lead, ...this.#answerEvents([answer]), ...(next ? [this.#callEvent(next)] : [])]);
  }

  /**
   * Pauses the run for a human, in one commit: what precedes the call (the model's message with its calls, or the
   * previous call's result), the call's tool_call event, the request (steering_requests), its steering_request event
   * and run_status waiting_on_human; the run's lease is released with it. The run then holds nothing: it is resumed,
   * on any node, when the request is answered, expires or is cancelled (steering/steering-service.ts).
   */
  async pauseForHuman(pause: {
    message?: unknown;
    answer?: ToolAnswer | undefined;
    call: ToolCallRef;
    request: { kind: SteeringKind; summary: string; options: string[]; expiresAt: number };
  }): Promise<SteeringRequestRecord> {
    this.#flushTokens();
    const lead = this.#running();
    const messages = [...(pause.message !== undefined ? [pause.message] : []), ...(pause.answer ? [toolMessage(pause.answer)] : [])].map((message) => this.#redact(message));
    const now = Date.now();
    const record: SteeringRequestRecord = this.#redact({
      id: newId('steeringRequest'),
      deployment_id: this.run.deployment_id,
      run_id: this.run.id,
      thread_id: this.run.thread_id,
      kind: pause.request.kind,
      summary: pause.request.summary,
      tool_call: { tool: pause.call.toolName, origin: toolCallOrigin(pause.call), tool_call_id: pause.call.toolCallId, arguments: pause.call.input ?? null },
      options: pause.request.options,
      status: 'pending',
      decision: null,
      message: null,
      created_at: now,
      expires_at: pause.request.expiresAt,
      resolved_at: null,
      applied_at: null,
    });
    const events = [
      ...lead,
      ...(pause.answer ? this.#answerEvents([pause.answer]) : []),
      this.#callEvent(pause.call),
      this.event('steering_request', steeringRequestPayload(record)),
      this.event('run_status', { status: 'waiting_on_human' }),
    ];
    await this.#commit('pause', async (trx) => {
      const { store } = this.#options;
      if (messages.length > 0) await store.runs.appendHistoryFencedIn(trx, this.fence, this.run.thread_id, messages, this.#leaseUntil());
      const { cancelRequested } = await store.runs.pauseIn(trx, this.fence);
      await store.steering.insertIn(trx, record);
      return { result: cancelRequested, events };
    }).then((cancelRequested) => {
      this.paused = { cancelRequested };
    });
    this.#ended = true;
    this.stopLease();
    return record;
  }

  /** The run's newest steering request (a resumed run goes on from its answer). */
  latestSteeringRequest(): Promise<SteeringRequestRecord | undefined> {
    return this.#options.store.steering.latestForRun(this.run.id);
  }

  /**
   * The resumed run takes the approval of its request before running the call, in a commit of its own: false when
   * an earlier attempt took it already (the call may have run; its outcome is unknown, as after any crash).
   */
  async takeApproval(requestId: string): Promise<boolean> {
    const lead = this.#running();
    return this.#commit('approval', async (trx) => {
      await this.#options.store.runs.fenceIn(trx, this.fence, this.#leaseUntil());
      const taken = await this.#options.store.steering.markAppliedIn(trx, requestId, Date.now());
      return { result: taken, events: taken ? lead : [] };
    });
  }

  /**
   * A resumed run answers the tool calls its last attempt left without a result (running one again could repeat
   * a side effect): the one that may have run gets "outcome unknown", those after it "not run".
   */
  async closeInterruptedToolCalls(entries: HistoryEntry[]): Promise<HistoryEntry[]> {
    const answers = interruptedAnswers(unansweredToolCalls(entries), TOOL_CALL_INTERRUPTED.restart, TOOL_CALL_INTERRUPTED.restartNotRun);
    if (answers.length === 0) return [];
    const lead = this.#running();
    return this.#append('close_interrupted', answers.map(toolMessage), [...lead, ...this.#answerEvents(answers)]);
  }

  async #append(point: CommitPoint, messages: unknown[], events: NewEvent[]): Promise<HistoryEntry[]> {
    const redacted = messages.map((message) => this.#redact(message));
    return this.#commit(point, async (trx) => {
      const { entries, cancelRequested } = await this.#options.store.runs.appendHistoryFencedIn(trx, this.fence, this.run.thread_id, redacted, this.#leaseUntil());
      if (cancelRequested) this.#cancelSeen = true;
      return { result: entries, events };
    });
  }

  /** A compaction's summary, behind the fence. */
  async saveSummary(summary: string, throughSeq: number): Promise<void> {
    await this.#options.events.transact(this.run.deployment_id, async (trx) => {
      await this.#options.store.runs.fenceIn(trx, this.fence, this.#leaseUntil());
      await saveSummaryIn(trx, this.run.thread_id, summary, throughSeq);
      return { result: undefined };
    }).catch((error: unknown) => {
      if (error instanceof LeaseLostError) this.#lose(error);
      throw error;
    });
  }

  /**
   * Ends the run: its status, the last step's messages (and `answers`), its unseen inputs when it fails, the agent's
   * message and the final run_status event, in one commit. A completed run with inputs it has not seen yet does not
   * end (`finished: false`): only the messages are recorded and the loop goes on.
   */
  async finish(unredacted: JournalFinish, point: CommitPoint = 'finish', leadingStatus = true): Promise<FinishResult> {
    this.#flushTokens();
    const outcome = this.#redact(unredacted);
    const lead = leadingStatus ? this.#running() : [];
    const answers = outcome.answers ?? [];
    const finished = await this.#commit(point, async (trx) => {
      const result = await this.#options.store.runs.finishIn(
        trx,
        this.run.id,
        this.run.thread_id,
        this.run.deployment_id,
        {
          status: outcome.status,
          error: outcome.error,
          agentText: outcome.agentText,
          history: [...(outcome.history ?? []), ...answers.map(toolMessage)],
        },
        this.fence,
      );
      const status = result.finished
        ? [this.event('run_status', outcome.status === 'error' ? { status: 'error', error: outcome.error } : { status: 'completed' })]
        : [];
      return { result, events: [...lead, ...this.#answerEvents(answers), ...status] };
    });
    if (finished.finished) {
      this.#options.metrics?.runEnded(this.run, outcome.status, outcome.error?.type);
      this.promoted = finished.promoted;
      this.#ended = true;
      this.stopLease();
      // The one place a run ends in error (its commit made it so): logged once, for the operator.
      if (outcome.status === 'error' && outcome.error) {
        const { deployment_id: deploymentId, id: runId, thread_id: threadId } = this.run;
        const fields = { deploymentId, runId, threadId, errorType: outcome.error.type, reason: outcome.error.message };
        // A cancellation is asked for, not a failure.
        if (outcome.error.type === 'cancelled') this.#options.logger.info(fields, 'run cancelled');
        else this.#options.logger.warn(fields, `run failed: ${outcome.error.type}: ${outcome.error.message}`);
      }
    }
    return finished;
  }

  /** A run that cannot start (a configuration error) ends with its final status, without a "running" one. */
  async failBeforeStart(error: RunError): Promise<void> {
    await this.finish({ status: 'error', error, agentText: '' }, 'fail_before_start', false);
  }

  /**
   * Ends a run taken over once too often (HERM_RUN_MAX_ATTEMPTS): its unanswered tool calls are answered and it ends
   * in error with its final status, in one commit.
   */
  async abandon(error: RunError): Promise<void> {
    const history = await this.loadHistory();
    const answers = interruptedAnswers(unansweredToolCalls(history.entries), TOOL_CALL_INTERRUPTED.restart, TOOL_CALL_INTERRUPTED.restartNotRun);
    await this.finish({ status: 'error', error, agentText: '', answers }, 'abandon', false);
  }

  /**
   * Hands the run back on a graceful shutdown: the lease is released (the next node or start takes it at once) and
   * the attempt is not counted against HERM_RUN_MAX_ATTEMPTS. False when the run had ended or was taken meanwhile.
   */
  async release(): Promise<boolean> {
    this.stopLease();
    if (this.#lost) return false;
    try {
      await this.#options.events.transact(this.run.deployment_id, async (trx) => {
        await this.#options.store.runs.releaseIn(trx, this.fence);
        failpoint('run.handoff.before_commit');
        return { result: undefined };
      });
    } catch (error) {
      if (error instanceof LeaseLostError) return false;
      throw error;
    }
    failpoint('run.handoff.after_commit');
    return true;
  }

  #callEvent(call: ToolCallRef): NewEvent {
    return this.event('tool_call', { tool: call.toolName, origin: toolCallOrigin(call), tool_call_id: call.toolCallId, arguments: call.input });
  }

  #answerEvents(answers: ToolAnswer[]): NewEvent[] {
    return answers.flatMap((answer) => [
      ...(answer.announce ? [this.#callEvent(answer.call)] : []),
      // Before the result: a client that sees the tool_result has seen what the call changed.
      ...(answer.changes ?? []).map((change) => this.event('filesystem', { ...change, tool_call_id: answer.call.toolCallId })),
      this.event('tool_result', { tool: answer.call.toolName, origin: toolCallOrigin(answer.call), tool_call_id: answer.call.toolCallId, result: answer.result, is_error: answer.isError }),
    ]);
  }
}
