// Starts, tracks, cancels and recovers runs on this node. A run is executed by exactly one node: the one
// holding its lease, renewed while it works; a node that stops renewing (crash, kill -9) loses it to another.
import type { LanguageModel } from 'ai';
import type { Logger } from 'pino';
import type { EventLog } from '../events/event-log.ts';
import { contextWindowTokens, resolveModel } from '../models/index.ts';
import type { AttachmentDownload } from '../net/attachment-download.ts';
import { HANDOFF_REASON, runAgent } from '../runtime/hermes.ts';
import type { BuiltinTool } from '../runtime/tools/tool.ts';
import type { SandboxBackends } from '../sandbox/sandbox-backends.ts';
import type { SandboxSpec } from '../sandbox/sandbox.ts';
import { isReservedEnvironmentName } from '../sandbox/reserved-environment.ts';
import type { SecretCipher } from '../secrets/secret-cipher.ts';
import type { DeploymentRecord } from '../store/deployments.ts';
import type { RunRecord, SubmitResult } from '../store/runs.ts';
import type { Store } from '../store/store.ts';
import type { Attachment } from '../store/threads.ts';

export interface RunManagerOptions {
  store: Store;
  events: EventLog;
  /** A run's tools go to the backend named by its deployment's `sandbox.type`. */
  sandboxBackends: SandboxBackends;
  tools: Record<string, BuiltinTool>;
  secrets: SecretCipher;
  /** The sandbox a deployment's commands run in (DeploymentService.sandboxSpec); the thread picks a session workspace. */
  sandboxSpec: (deployment: DeploymentRecord, options: { env: Record<string, string>; threadId: string }) => SandboxSpec;
  /** Holds the run's workspace while it runs (DeploymentService.acquireWorkspace): a session workspace is created then. */
  acquireWorkspace: (deployment: DeploymentRecord, threadId: string) => Promise<() => void>;
  nodeId: string;
  leaseMs: number;
  maxSteps: number;
  logger: Logger;
  /** The environment model providers read keys and base URLs from. */
  modelEnvironment: Record<string, string | undefined>;
  /** Tests and benchmarks may supply models directly instead of provider names. */
  modelOverride?: (name: string) => LanguageModel;
  /** Downloads attachments a model cannot take by URL, under the server's outbound policy (HERM_ALLOW_PRIVATE_URLS). */
  download?: AttachmentDownload;
}

/** The deployment's secrets map cannot be turned into the run's environment; the message says how to fix it. */
class DeploymentSecretsError extends Error {}

export class RunManager {
  readonly #options: RunManagerOptions;
  readonly #active = new Map<string, { controller: AbortController; done: Promise<void> }>();
  #recoveryTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: RunManagerOptions) {
    this.#options = options;
  }

  /** Posts a message; starts a run on this node unless the message folds into one already running. */
  async submit(deployment: DeploymentRecord, threadId: string, content: string, attachments?: Attachment[]): Promise<SubmitResult> {
    const result = await this.#options.store.runs.submitMessage({
      deploymentId: deployment.id,
      threadId,
      content,
      attachments,
      trigger: 'message',
      nodeId: this.#options.nodeId,
      leaseMs: this.#options.leaseMs,
    });
    if (!result.folded) this.#start(result.run, deployment);
    return result;
  }

  async cancel(run: RunRecord): Promise<void> {
    await this.#options.store.runs.requestCancel(run.id);
    this.#active.get(run.id)?.controller.abort();
  }

  async cancelDeployment(deploymentId: string): Promise<void> {
    for (const run of await this.#options.store.runs.listActive(deploymentId)) await this.cancel(run);
  }

  #start(run: RunRecord, deployment: DeploymentRecord): void {
    if (this.#active.has(run.id) || this.#stopped) return;
    const controller = new AbortController();
    // The run begins on the next turn of the event loop, after the response that started it has been written:
    // its first steps are CPU-heavy (model setup, request) and would otherwise hold that response back.
    const done = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.#execute(run, deployment, controller))
      .finally(() => this.#active.delete(run.id));
    this.#active.set(run.id, { controller, done });
  }

  async #execute(run: RunRecord, deployment: DeploymentRecord, controller: AbortController): Promise<void> {
    const { store, logger } = this.#options;
    const renew = setInterval(() => {
      const until = Date.now() + this.#options.leaseMs;
      store.runs
        .renewLease(run.id, this.#options.nodeId, until)
        .then((lease) => {
          if (!lease.owned) controller.abort(HANDOFF_REASON);
          else if (lease.cancelRequested) controller.abort();
        })
        .catch((error: unknown) => logger.warn({ err: error, runId: run.id }, 'lease renewal failed'));
    }, Math.max(250, Math.floor(this.#options.leaseMs / 3)));
    renew.unref();
    let releaseWorkspace: (() => void) | undefined;
    try {
      if (run.cancel_requested) controller.abort();
      const sandboxBackend = this.#options.sandboxBackends.get(deployment.sandbox.type);
      if (!sandboxBackend) {
        await this.#failBeforeStart(run, {
          type: 'configuration_error',
          message: `The deployment's sandbox type "${deployment.sandbox.type}" is not available on this server.`,
        });
        return;
      }
      let environment: Record<string, string>;
      try {
        environment = await this.#secretEnvironment(deployment);
      } catch (error) {
        const message = error instanceof DeploymentSecretsError ? error.message : `Could not read the deployment's secrets: ${(error as Error).message}`;
        await this.#failBeforeStart(run, { type: 'configuration_error', message });
        return;
      }
      releaseWorkspace = await this.#options.acquireWorkspace(deployment, run.thread_id);
      await runAgent({
        run,
        deployment,
        store,
        events: this.#options.events,
        resolveModel: () => ({
          model: this.#options.modelOverride?.(deployment.model) ?? resolveModel(deployment.model, this.#options.modelEnvironment),
          contextTokens: contextWindowTokens(deployment.model, this.#options.modelEnvironment),
        }),
        sandbox: sandboxBackend.open(this.#options.sandboxSpec(deployment, { env: environment, threadId: run.thread_id })),
        tools: this.#options.tools,
        maxSteps: this.#options.maxSteps,
        signal: controller.signal,
        logger: logger.child({ runId: run.id, deploymentId: deployment.id }),
        download: this.#options.download,
      });
    } catch (error) {
      logger.error({ err: error, runId: run.id }, 'run crashed');
      await this.#failBeforeStart(run, { type: 'server_error', message: (error as Error).message }).catch(() => {});
    } finally {
      clearInterval(renew);
      releaseWorkspace?.();
    }
  }

  async #failBeforeStart(run: RunRecord, error: { type: string; message: string }): Promise<void> {
    const current = await this.#options.store.runs.getById(run.id);
    if (!current || (current.status !== 'running' && current.status !== 'waiting_on_human')) return;
    await this.#options.store.runs.finish(run.id, run.thread_id, run.deployment_id, { status: 'error', error, agentText: '' });
    {
      await this.#options.events.emit({
        deploymentId: run.deployment_id,
        type: 'run_status',
        threadId: run.thread_id,
        runId: run.id,
        data: { status: 'error', error },
      });
    }
  }

  /**
   * Connector secrets as environment variables for the tool processes (never for the model). A reference to
   * a deleted secret (`DELETE /v1/secrets/{id}?force=true`) or a reserved name (kept by a deployment from
   * before names were checked) is a DeploymentSecretsError: the run fails naming it, never runs without it.
   */
  async #secretEnvironment(deployment: DeploymentRecord): Promise<Record<string, string>> {
    const references = Object.entries(deployment.secrets);
    if (references.length === 0) return {};
    const reserved = references.find(([name]) => isReservedEnvironmentName(name));
    if (reserved) {
      throw new DeploymentSecretsError(
        `The deployment's secrets map sets ${reserved[0]}, a variable the sandbox sets or uses itself. ` +
          `Remove it (PATCH /v1/deployments/${deployment.id} with {"secrets": {"${reserved[0]}": null}}) and pick another name.`,
      );
    }
    const records = await this.#options.store.secrets.getMany(
      deployment.account_id,
      references.map(([, ref]) => ref),
    );
    const byId = new Map(records.map((record) => [record.id, record]));
    const environment: Record<string, string> = {};
    for (const [name, ref] of references) {
      const record = byId.get(ref);
      if (!record) {
        throw new DeploymentSecretsError(
          `The deployment's secrets.${name} refers to ${ref}, which was deleted. Point it at another secret, or remove it ` +
            `(PATCH /v1/deployments/${deployment.id} with {"secrets": {"${name}": null}}).`,
        );
      }
      environment[name] = this.#options.secrets.decrypt(record.ciphertext);
    }
    return environment;
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
    for (const run of claimed) {
      if (this.#active.has(run.id)) continue;
      const deployment = await this.#options.store.deployments.getById(run.deployment_id);
      if (!deployment) {
        await this.#options.store.runs.finish(run.id, run.thread_id, run.deployment_id, {
          status: 'error',
          error: { type: 'not_found', message: 'The deployment was deleted.' },
          agentText: '',
        });
        continue;
      }
      this.#options.logger.info({ runId: run.id }, 'resuming interrupted run');
      this.#start(run, deployment);
    }
    return claimed.length;
  }

  startRecoveryLoop(intervalMs: number): void {
    this.#recoveryTimer = setInterval(() => {
      this.recover().catch((error: unknown) => this.#options.logger.warn({ err: error }, 'run recovery failed'));
    }, intervalMs);
    this.#recoveryTimer.unref();
  }

  /** Stops accepting work and waits for the runs in flight to notice cancellation. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#recoveryTimer) clearInterval(this.#recoveryTimer);
    const running = [...this.#active.values()];
    for (const entry of running) entry.controller.abort(HANDOFF_REASON);
    await Promise.allSettled(running.map((entry) => entry.done));
  }

  get activeCount(): number {
    return this.#active.size;
  }
}
