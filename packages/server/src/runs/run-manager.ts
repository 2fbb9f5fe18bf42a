// Starts, tracks, cancels and recovers runs on this node. A run is executed by exactly one node: the one
// holding its lease, renewed while it works; a node that stops renewing (crash, kill -9) loses it to another.
import type { LanguageModel } from 'ai';
import type { Logger } from 'pino';
import type { EventLog } from '../events/event-log.ts';
import type { WorkspaceChangeTracker } from '../files/workspace-changes.ts';
import { contextWindowTokens, resolveModel } from '../models/index.ts';
import type { AttachmentDownload } from '../net/attachment-download.ts';
import type { IdempotencyClaim } from '../store/idempotency.ts';
import { runAgent } from '../runtime/hermes.ts';
import type { UsageService } from '../usage/usage-service.ts';
import type { PromptSkills } from '../skills/run-skills.ts';
import type { PromptMemory } from '../memory/memory-prompt.ts';
import type { AgentTool } from '../runtime/tools/agent-tool.ts';
import type { BuiltinTool } from '../runtime/tools/tool.ts';
import type { SandboxBackends } from '../sandbox/sandbox-backends.ts';
import type { SandboxSpec } from '../sandbox/sandbox.ts';
import { DeploymentSecretsError, type DeploymentSecrets } from '../secrets/deployment-secrets.ts';
import type { SecretCipher } from '../secrets/secret-cipher.ts';
import { SecretRedactor } from '../secrets/secret-redactor.ts';
import type { DeploymentRecord } from '../store/deployments.ts';
import type { MultitaskStrategy, RunRecord, SubmitResult } from '../store/runs.ts';
import { ASK_HUMAN_TOOL } from '../steering/ask-human-tool.ts';
import { steeringResolvedPayload } from '../steering/steering-events.ts';
import { DEFAULT_STEERING_EXPIRES_SECONDS } from '../steering/steering-policy.ts';
import type { Store } from '../store/store.ts';
import type { HermMetrics } from '../observability/metrics.ts';
import type { Attachment } from '../store/threads.ts';
import { failpoint } from '../util/failpoints.ts';
import {
  isHandoff,
  LeaseLostError,
  RunJournal,
  ShutdownHandoff,
  TOOL_CALL_INTERRUPTED,
  toolCallOrigin,
  toolMessage,
  unansweredToolCalls,
  type RunJournalOptions,
  type ToolAnswer,
} from './run-journal.ts';

export interface RunManagerOptions {
  store: Store;
  events: EventLog;
  /** A run's tools go to the backend named by its deployment's `sandbox.type`. */
  sandboxBackends: SandboxBackends;
  tools: Record<string, BuiltinTool>;
  /**
   * A run's tools: the built-ins minus the deployment's disabled_tools, plus its MCP servers' tools
   * (mcp/deployment-toolset.ts). Default: the built-ins minus disabled_tools.
   */
  toolset?: (deployment: DeploymentRecord, signal: AbortSignal) => Promise<{ tools: Record<string, AgentTool>; unavailable: { name: string }[] }>;
  secrets: SecretCipher;
  /** The deployment's secrets as a run sees them: placeholders for the sandbox, values for redaction. */
  deploymentSecrets: DeploymentSecrets;
  /** Prepares the run's skills as it starts (skills/run-skills.ts prepareRunSkills); no skills when absent. */
  prepareSkills?: (deployment: DeploymentRecord, threadId: string, signal: AbortSignal) => Promise<PromptSkills>;
  /** The deployment's memory for the run's system prompt (memory/); none when absent or undefined (features.memory off). */
  prepareMemory?: (deployment: DeploymentRecord, threadId: string) => Promise<PromptMemory | undefined>;
  /** Called once a run's attempt here has ended it (its end committed), e.g. to observe the thread for memory in the background. */
  onRunEnded?: (run: RunRecord, deployment: DeploymentRecord) => void;
  /** Called as a run starts to work on this node (a new one, a resumed one), e.g. to stop a dream beside a customer's run. */
  onRunStarting?: (run: RunRecord, deployment: DeploymentRecord) => void;
  /** The sandbox a deployment's commands run in (DeploymentService.sandboxSpec); the thread picks a session workspace. */
  sandboxSpec: (deployment: DeploymentRecord, options: { env: Record<string, string>; threadId: string }) => SandboxSpec;
  /** Holds the run's workspace while it runs (DeploymentService.acquireWorkspace): a session workspace is created then. */
  acquireWorkspace: (deployment: DeploymentRecord, threadId: string) => Promise<() => void>;
  nodeId: string;
  leaseMs: number;
  maxSteps: number;
  /** HERM_RUN_MAX_ATTEMPTS: a run taken over past this many attempts (not counting graceful handoffs) ends in error. */
  maxAttempts?: number;
  logger: Logger;
  /** The environment model providers read keys and base URLs from. */
  modelEnvironment: Record<string, string | undefined>;
  /** Tests and benchmarks may supply models directly instead of provider names. */
  modelOverride?: (name: string) => LanguageModel;
  /** Downloads attachments a model cannot take by URL, under the server's outbound policy (HERM_ALLOW_PRIVATE_URLS). */
  download?: AttachmentDownload;
  /** Finds what tool calls change in workspaces, for deployments with `features.filesystem_webhooks` (filesystem events). */
  workspaceChanges?: WorkspaceChangeTracker;
  /** HERM_STEERING_EXPIRES_SECONDS: how long a steering request waits when the deployment's policy does not say. */
  steeringExpiresSeconds?: number;
  /** Usage and credits (usage/): runs record their usage in their commits, and stop when a budget ran out. */
  usage?: UsageService | undefined;
  /** This server's metrics (observability/metrics.ts): runs ended, steps, model and tool calls. */
  metrics?: HermMetrics | undefined;
}


/** A message arrived while the server drains for a graceful shutdown: no run starts here any more (503). */
export class ShuttingDownError extends Error {
  constructor() {
    super('The server is shutting down and starts no new runs; retry in a moment (on another node, or after it restarted).');
    this.name = 'ShuttingDownError';
  }
}

/** Default HERM_RUN_MAX_ATTEMPTS. */
export const DEFAULT_MAX_ATTEMPTS = 3;

export class RunManager {
  readonly #options: RunManagerOptions;
  readonly #active = new Map<string, { controller: AbortController; done: Promise<void> }>();
  #recoveryTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  /** Set by drain(): no new run starts, no message is accepted. */
  #draining = false;

  constructor(options: RunManagerOptions) {
    this.#options = options;
  }

  /**
   * Posts a message; starts a run on this node unless the message folds into one already running. With
   * `createThread`, the thread `threadId` is created in the same transaction (thread_id "new").
   * @throws ShuttingDownError while the server drains for a graceful shutdown.
   */
  async submit(
    deployment: DeploymentRecord,
    threadId: string,
    content: string,
    attachments?: Attachment[],
    options: {
      createThread?: boolean;
      /** What the message does while a run is active on the thread (store/runs.ts MultitaskStrategy); default fold. */
      strategy?: MultitaskStrategy | undefined;
      /** The request's Idempotency-Key claim and its response, recorded in the submit's commit. */
      idempotency?: IdempotencyClaim & { response: (result: SubmitResult) => { statusCode: number; body: string } };
    } = {},
  ): Promise<SubmitResult> {
    if (this.#draining || this.#stopped) throw new ShuttingDownError();
    const result = await this.#options.store.runs.submitMessage({
      deploymentId: deployment.id,
      threadId,
      content,
      attachments,
      trigger: 'message',
      nodeId: this.#options.nodeId,
      leaseMs: this.#options.leaseMs,
      createThread: options.createThread,
      idempotency: options.idempotency,
      strategy: options.strategy,
    });
    failpoint('submit.after_commit');
    // interrupt: the active run's cancellation was requested in the submit's commit; it stops (here, or on its node
    // at its next write or lease renewal), and the queued run starts as it ends.
    if (result.interrupted) await this.cancel(result.interrupted);
    else if (!result.folded && !result.queued) this.#start(result.run, deployment);
    return result;
  }

  /**
   * Cancels a run: one at work stops at once (its model stream aborted, its command killed) and ends in error
   * (cancelled); one that holds nothing — waiting on a human, or queued — ends here and now, its pending request
   * resolved as cancelled.
   */
  async cancel(run: RunRecord): Promise<void> {
    if ((run.status === 'waiting_on_human' || run.queued === 1) && (await this.#endIdle(run))) return;
    await this.#options.store.runs.requestCancel(run.id);
    this.#active.get(run.id)?.controller.abort();
  }

  /**
   * Ends a waiting or queued run in error (cancelled), in one commit with its events: its pending request resolved
   * (steering_resolved), the calls it paused at answered as not run, its final status. False when it was not waiting
   * or queued any more (an answer woke it meanwhile: it is cancelled like any running run).
   */
  async #endIdle(run: RunRecord): Promise<boolean> {
    const { store, events } = this.#options;
    const error = { type: 'cancelled', message: 'The run was cancelled.' };
    const pending = run.status === 'waiting_on_human' ? unansweredToolCalls((await store.threads.loadHistory(run.thread_id)).entries) : [];
    const answers: ToolAnswer[] = pending.map((call, index) => ({ call, result: { error: TOOL_CALL_INTERRUPTED.cancelNotRun }, isError: true, announce: index > 0 }));
    const event = (type: string, data: Record<string, unknown>) => ({ deploymentId: run.deployment_id, type, threadId: run.thread_id, runId: run.id, data });
    const notIdle = new Error('the run is not waiting or queued any more');
    const { result } = await events.transact(run.deployment_id, async (trx) => {
      // The request rows first, then the run's: the order an answer or an expiry locks them in (no deadlock).
      const resolved = await store.steering.cancelPendingIn(trx, run.id, Date.now());
      const ended = await store.runs.endIdleIn(trx, run, error, answers.map(toolMessage));
      // Rolls the request's cancellation back with everything else.
      if (!ended) throw notIdle;
      const toolEvent = (type: string, answer: ToolAnswer, extra: Record<string, unknown>) =>
        event(type, { tool: answer.call.toolName, origin: toolCallOrigin(answer.call), tool_call_id: answer.call.toolCallId, ...extra });
      return {
        result: ended,
        events: [
          ...resolved.map((request) => event('steering_resolved', steeringResolvedPayload(request))),
          ...answers.flatMap((answer) => [
            ...(answer.announce ? [toolEvent('tool_call', answer, { arguments: answer.call.input })] : []),
            toolEvent('tool_result', answer, { result: answer.result, is_error: true }),
          ]),
          event('run_status', {
            status: 'error',
            error,
            ...(run.automation_id ? { automation_id: run.automation_id } : {}),
            ...(run.trigger === 'dream' ? { trigger: 'dream' } : {}),
          }),
        ],
      };
    }).catch((caught: unknown) => {
      if (caught === notIdle) return { result: undefined };
      throw caught;
    });
    if (!result) return false;
    this.#options.metrics?.runEnded(run, 'error', 'cancelled');
    this.#options.logger.info({ deploymentId: run.deployment_id, runId: run.id, threadId: run.thread_id }, 'run cancelled');
    if (result.promoted) this.startPromoted(result.promoted);
    return true;
  }

  /**
   * Starts a run this node took (an answer or expiry woke it: steering/steering-service.ts). Not while draining:
   * its lease expires and another node (or this one, restarted) takes it.
   */
  startTaken(run: RunRecord, deployment: DeploymentRecord): void {
    if (this.#draining || this.#stopped) return;
    this.#start(run, deployment);
  }

  /** Takes and starts a queued run that became its thread's active run, unless another node has it already. */
  startPromoted(runId: string): void {
    if (this.#draining || this.#stopped) return;
    void (async () => {
      const now = Date.now();
      const run = await this.#options.store.runs.claimRun(runId, this.#options.nodeId, now, now + this.#options.leaseMs);
      if (!run) return;
      const deployment = await this.#options.store.deployments.getById(run.deployment_id);
      if (deployment) this.#start(run, deployment);
      else await this.#journal(run).failBeforeStart({ type: 'not_found', message: 'The deployment was deleted.' });
    })().catch((error: unknown) => this.#options.logger.warn({ err: error, runId }, 'could not start a queued run; the recovery loop takes it'));
  }

  /**
   * Cancels the deployment's active runs and waits, at most `waitMs` (default HERM_RUN_LEASE_MS / 3 + 5 s, the time
   * another node takes to notice), until they have stopped: their commands killed, their ends recorded. Deleting a
   * deployment does this before it removes the workspace, which a command still running would otherwise write into.
   */
  async cancelDeployment(deploymentId: string, waitMs = Math.floor(this.#options.leaseMs / 3) + 5_000): Promise<void> {
    const runs = await this.#options.store.runs.listActive(deploymentId);
    for (const run of runs) await this.cancel(run);
    if (runs.length === 0) return;
    const deadline = Date.now() + waitMs;
    const local = runs.map((run) => this.#active.get(run.id)?.done).filter((done) => done !== undefined);
    let remote = runs.filter((run) => !this.#active.has(run.id)).map((run) => run.id);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), waitMs)));
    try {
      if ((await Promise.race([Promise.allSettled(local), timeout])) === 'timeout') {
        this.#options.logger.warn({ deploymentId }, 'cancelled runs did not stop in time');
        return;
      }
      // Runs at work on other nodes end (in error, cancelled) once their commands have stopped; a run whose lease
      // nobody holds (handed back, or its node dead) runs nothing.
      while (remote.length > 0 && Date.now() < deadline) {
        const still: string[] = [];
        for (const id of remote) {
          const current = await this.#options.store.runs.getById(id);
          const held = current?.lease_owner !== null && (current?.lease_expires_at ?? 0) > Date.now();
          if (current && (current.status === 'running' || current.status === 'waiting_on_human') && held) still.push(id);
        }
        remote = still;
        if (remote.length > 0) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      if (remote.length > 0) this.#options.logger.warn({ deploymentId, runIds: remote }, 'cancelled runs on other nodes did not stop in time');
    } finally {
      clearTimeout(timer);
    }
  }

  #start(run: RunRecord, deployment: DeploymentRecord): void {
    if (this.#active.has(run.id) || this.#stopped) return;
    this.#options.onRunStarting?.(run, deployment);
    const controller = new AbortController();
    const journal = this.#journal(run, {
      // A write refused by the fence, or a lease not renewed for a lease period: stop the model stream and the
      // commands (they honour the signal); the run stays with whoever holds it now.
      onLeaseLost: (error) => controller.abort(error),
      onCancelRequested: () => controller.abort(),
    });
    // The run begins on the next turn of the event loop, after the response that started it has been written:
    // its first steps are CPU-heavy (model setup, request) and would otherwise hold that response back.
    const done = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.#execute(run, deployment, controller, journal))
      .finally(() => {
        this.#active.delete(run.id);
        // A run queued behind this one (multitask_strategy enqueue/interrupt) starts as it ends.
        if (journal.promoted) this.startPromoted(journal.promoted);
      });
    this.#active.set(run.id, { controller, done });
  }

  async #execute(run: RunRecord, deployment: DeploymentRecord, controller: AbortController, journal: RunJournal): Promise<void> {
    const { logger } = this.#options;
    journal.keepLease();
    let releaseWorkspace: (() => void) | undefined;
    let ended = false;
    try {
      if (run.cancel_requested) controller.abort();
      const sandboxBackend = this.#options.sandboxBackends.get(deployment.sandbox.type);
      if (!sandboxBackend) {
        await journal.failBeforeStart({
          type: 'configuration_error',
          message: `The deployment's sandbox type "${deployment.sandbox.type}" is not available on this server.`,
        });
        return;
      }
      let environment: Record<string, string>;
      try {
        const secrets = await this.#options.deploymentSecrets.forRun(deployment);
        environment = secrets.environment;
        // From here on, every text of the run is stored, streamed and sent to the model with its values redacted.
        journal.redactWith(new SecretRedactor(secrets.values));
      } catch (error) {
        const message = error instanceof DeploymentSecretsError ? error.message : `Could not read the deployment's secrets: ${(error as Error).message}`;
        await journal.failBeforeStart({ type: 'configuration_error', message });
        return;
      }
      releaseWorkspace = await this.#options.acquireWorkspace(deployment, run.thread_id);
      // A skill that cannot be read is left out by prepareSkills itself; anything else runs the agent without skills.
      const skills = await this.#options.prepareSkills?.(deployment, run.thread_id, controller.signal).catch((error: unknown) => {
        logger.warn({ err: error, runId: run.id, deploymentId: deployment.id }, 'could not prepare the skills of a run; it runs without them');
        return undefined;
      });
      // Memory that cannot be read never fails a run: it runs without the memory section.
      const memory = await this.#options.prepareMemory?.(deployment, run.thread_id).catch((error: unknown) => {
        logger.warn({ err: error, runId: run.id, deploymentId: deployment.id }, 'could not read the memory of a run; it runs without it');
        return undefined;
      });
      const builtins = () => ({
        tools: Object.fromEntries(Object.entries(this.#options.tools).filter(([name]) => !deployment.disabled_tools.includes(name))),
        unavailable: deployment.mcp_servers.map((server) => ({ name: server.name })),
      });
      // MCP servers never fail a run: whatever goes wrong assembling their tools, the run goes on with the built-ins.
      const toolset = this.#options.toolset
        ? await this.#options.toolset(deployment, controller.signal).catch((error: unknown) => {
            logger.warn({ err: error, runId: run.id, deploymentId: deployment.id }, 'could not assemble the tools of a run; it runs with the built-ins');
            return builtins();
          })
        : { ...builtins(), unavailable: [] };
      // With features.steering off nobody can be asked: the ask tool is not offered and no call waits. A dream has no
      // one to ask either (its steering policy still holds: a call that needs approval waits for it).
      if (!deployment.features.steering || run.trigger === 'dream') delete toolset.tools[ASK_HUMAN_TOOL];
      await runAgent({
        run,
        deployment,
        journal,
        resolveModel: () => ({
          model: this.#options.modelOverride?.(deployment.model) ?? resolveModel(deployment.model, this.#options.modelEnvironment),
          contextTokens: contextWindowTokens(deployment.model, this.#options.modelEnvironment),
        }),
        sandbox: sandboxBackend.open(this.#options.sandboxSpec(deployment, { env: environment, threadId: run.thread_id })),
        tools: toolset.tools,
        skills,
        memory,
        unavailableMcpServers: toolset.unavailable.map((server) => server.name),
        maxSteps: this.#options.maxSteps,
        signal: controller.signal,
        logger: logger.child({ runId: run.id, deploymentId: deployment.id }),
        download: this.#options.download,
        workspaceChanges: this.#options.workspaceChanges,
        metrics: this.#options.metrics,
        creditCheck: this.#options.usage ? () => this.#options.usage!.runStop(deployment) : undefined,
        steering: deployment.features.steering
          ? {
              policy: deployment.steering,
              expiresAfterSeconds: deployment.steering.expires_after_seconds ?? this.#options.steeringExpiresSeconds ?? DEFAULT_STEERING_EXPIRES_SECONDS,
            }
          : undefined,
      });
      // Stopped without ending (a handoff) is not an end: the next attempt ends it.
      ended = !(controller.signal.aborted && isHandoff(controller.signal.reason));
    } catch (error) {
      // Lost to another node or attempt: nothing more of this run is ours to write.
      if (!(error instanceof LeaseLostError) && !(controller.signal.aborted && isHandoff(controller.signal.reason))) {
        logger.error({ err: error, runId: run.id }, 'run crashed');
        await journal.failBeforeStart({ type: 'server_error', message: (error as Error).message }).catch(() => {});
      }
    } finally {
      journal.stopLease();
      releaseWorkspace?.();
    }
    // A cancellation that raced the pause (requested here, or seen in the pause's commit) ends the waiting run now.
    if (journal.paused && (journal.paused.cancelRequested || (controller.signal.aborted && !isHandoff(controller.signal.reason)))) {
      await this.#endIdle({ ...run, status: 'waiting_on_human' }).catch((error: unknown) =>
        logger.warn({ err: error, runId: run.id }, 'could not end a run cancelled as it paused; cancel it again'),
      );
      return;
    }
    // Handed off by a shutdown while at work: the lease goes back at once, for the next node or start.
    if (controller.signal.reason instanceof ShutdownHandoff) {
      await journal.release().catch((error: unknown) => logger.warn({ err: error, runId: run.id }, 'could not release the lease of a handed-off run'));
    }
    if (ended) this.#options.onRunEnded?.(run, deployment);
  }

  /**
   * Resumes runs whose worker died. With `takeAll`, every running run is taken at once: right for the embedded
   * single-process mode at start-up, where no other node can hold a lease.
   */
  async recover(takeAll = false): Promise<number> {
    const now = Date.now();
    const claimed = await this.#options.store.runs.claimExpired(
      this.#options.nodeId,
      takeAll ? Number.MAX_SAFE_INTEGER : now,
      now + this.#options.leaseMs,
      takeAll ? 1_000 : 10,
    );
    if (claimed.length > 0) failpoint('run.claim.after_commit');
    const maxAttempts = this.#options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    for (const run of claimed) {
      try {
        await this.#resume(run, maxAttempts);
      } catch (error) {
        // The run keeps its lease until it expires; the next recovery takes it again.
        this.#options.logger.error({ err: error, runId: run.id }, 'could not resume a run');
      }
    }
    return claimed.length;
  }

  /** The journal of this node's attempt at `run` (the run as it was claimed: its attempt is the fence). */
  #journal(run: RunRecord, callbacks: Pick<RunJournalOptions, 'onLeaseLost' | 'onCancelRequested'> = {}): RunJournal {
    const { store, events, nodeId, leaseMs, logger } = this.#options;
    return new RunJournal({ store, events, run, nodeId, leaseMs, logger, usage: this.#options.usage, metrics: this.#options.metrics, ...callbacks });
  }

  async #resume(run: RunRecord, maxAttempts: number): Promise<void> {
    const journal = this.#journal(run);
    const deployment = await this.#options.store.deployments.getById(run.deployment_id);
    if (!deployment) {
      await journal.failBeforeStart({ type: 'not_found', message: 'The deployment was deleted.' }).catch((error: unknown) => {
        if (!(error instanceof LeaseLostError)) throw error;
      });
      return;
    }
    // Attempts that ended in a graceful handoff do not count: only those a crash (or a lost lease) cut short.
    const attempts = run.attempt - run.handoffs;
    if (attempts > maxAttempts) {
      const interrupted = attempts - 1;
      this.#options.logger.error({ runId: run.id, attempts: interrupted }, 'abandoning a run after repeated crashes');
      await journal.abandon({
        type: 'server_error',
        message:
          `The run was abandoned after ${interrupted} attempt${interrupted === 1 ? '' : 's'}: the server crashed or lost the run while it ran each time ` +
          `(HERM_RUN_MAX_ATTEMPTS is ${maxAttempts}).`,
      });
      return;
    }
    const active = this.#active.get(run.id);
    if (active) {
      // This node's own earlier attempt (it missed renewing in time): it is fenced out now; start over once it stopped.
      active.controller.abort(new LeaseLostError(run.id, 'this node took it again for a new attempt'));
      void active.done.then(() => this.#start(run, deployment));
      return;
    }
    this.#options.logger.info({ runId: run.id, attempt: run.attempt }, 'resuming interrupted run');
    this.#start(run, deployment);
  }

  startRecoveryLoop(intervalMs: number): void {
    this.#recoveryTimer = setInterval(() => {
      this.recover().catch((error: unknown) => this.#options.logger.warn({ err: error }, 'run recovery failed'));
    }, intervalMs);
    this.#recoveryTimer.unref();
  }

  /**
   * The first half of a graceful shutdown: accepts no message (ShuttingDownError) and takes over no run any more,
   * and waits up to `graceMs` for the runs at work here to end. Those still at work are then handed off (stop()).
   */
  async drain(graceMs: number): Promise<void> {
    this.#draining = true;
    if (this.#recoveryTimer) clearInterval(this.#recoveryTimer);
    const deadline = Date.now() + graceMs;
    while (this.#active.size > 0 && Date.now() < deadline) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...this.#active.values()].map((entry) => entry.done)),
        new Promise((resolve) => (timer = setTimeout(resolve, deadline - Date.now()))),
      ]);
      clearTimeout(timer);
    }
  }

  get draining(): boolean {
    return this.#draining || this.#stopped;
  }

  /**
   * Stops accepting work and hands off the runs in flight: each stops where it is (its commands killed, a tool call
   * cut off left without a result) and stays `running` with its lease released, for the next node or start to resume.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#recoveryTimer) clearInterval(this.#recoveryTimer);
    const running = [...this.#active.values()];
    const handoff = new ShutdownHandoff();
    for (const entry of running) entry.controller.abort(handoff);
    await Promise.allSettled(running.map((entry) => entry.done));
  }

  get activeCount(): number {
    return this.#active.size;
  }
}
