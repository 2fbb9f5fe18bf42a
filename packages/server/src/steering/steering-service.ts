// Answers and expiries of steering requests. Either is one commit: the request resolved (only while pending: the
// first answer, expiry or cancellation wins, on any node), the waiting run taken back for this node (running, a
// new attempt, its lease) and the steering_resolved event. The run then starts here from its history; should this
// node die first, its lease expires and any node resumes it (runs/run-manager.ts recover), from the same answer.
import type { Logger } from 'pino';
import type { EventLog } from '../events/event-log.ts';
import type { DeploymentRecord } from '../store/deployments.ts';
import type { RunRecord } from '../store/runs.ts';
import type { Store } from '../store/store.ts';
import { steeringResolvedPayload } from './steering-events.ts';
import { DECISION_STATUS, type SteeringDecision, type SteeringRequestRecord } from './steering-store.ts';

/** The request does not exist (in that deployment and run). */
export class SteeringRequestNotFoundError extends Error {
  readonly requestId: string;

  constructor(requestId: string) {
    super(`steering request ${requestId} not found`);
    this.requestId = requestId;
  }
}

/** The request was resolved already (answered, expired or cancelled): the first resolution stands. */
export class SteeringRequestResolvedError extends Error {
  readonly request: SteeringRequestRecord;

  constructor(request: SteeringRequestRecord) {
    super(`steering request ${request.id} is ${request.status} already`);
    this.request = request;
  }
}

export interface SteeringServiceOptions {
  store: Store;
  events: EventLog;
  nodeId: string;
  leaseMs: number;
  logger: Logger;
  /** Starts a run this node took back (RunManager.startTaken). */
  start: (run: RunRecord, deployment: DeploymentRecord) => void;
}

export class SteeringService {
  readonly #options: SteeringServiceOptions;
  #sweeper: NodeJS.Timeout | undefined;
  #sweeping = false;

  constructor(options: SteeringServiceOptions) {
    this.#options = options;
  }

  /**
   * Answers a pending request and resumes its run: `approve` runs the call (for a question: the answer is
   * `message`, or "Approved."), `deny` answers the call with the denial (and `message`), `reply` with `message`.
   * @throws SteeringRequestNotFoundError, SteeringRequestResolvedError.
   */
  async answer(deployment: DeploymentRecord, runId: string, requestId: string, answer: { decision: SteeringDecision; message?: string | undefined }): Promise<SteeringRequestRecord> {
    const request = await this.#options.store.steering.get(deployment.id, requestId);
    if (!request || request.run_id !== runId) throw new SteeringRequestNotFoundError(requestId);
    if (request.status !== 'pending') throw new SteeringRequestResolvedError(request);
    const resolved = await this.#resolve(deployment, request, { status: DECISION_STATUS[answer.decision] as 'approved' | 'denied' | 'replied', decision: answer.decision, message: answer.message ?? null });
    if (!resolved) throw new SteeringRequestResolvedError((await this.#options.store.steering.get(deployment.id, requestId)) ?? request);
    return resolved;
  }

  async #resolve(
    deployment: DeploymentRecord,
    request: SteeringRequestRecord,
    resolution: { status: 'approved' | 'denied' | 'replied' | 'expired'; decision: SteeringDecision; message: string | null },
  ): Promise<SteeringRequestRecord | undefined> {
    const { store, events, nodeId, leaseMs } = this.#options;
    const now = Date.now();
    const { result } = await events.transact(deployment.id, async (trx) => {
      const resolved = await store.steering.resolveIn(trx, request.id, { ...resolution, now });
      if (!resolved) return { result: undefined };
      // The run waits unless it was cancelled meanwhile (its request would be resolved then): take it back.
      const run = await store.runs.wakeIn(trx, request.run_id, nodeId, now + leaseMs);
      return {
        result: { resolved, run },
        events: [{ deploymentId: deployment.id, type: 'steering_resolved', threadId: resolved.thread_id, runId: resolved.run_id, data: steeringResolvedPayload(resolved) }],
      };
    });
    if (!result) return undefined;
    if (result.run) this.#options.start(result.run, deployment);
    return result.resolved;
  }

  /** Resolves the pending requests past their expiry as denied (each on exactly one node) and resumes their runs. */
  async expireDue(limit = 20): Promise<number> {
    const due = await this.#options.store.steering.due(Date.now(), limit);
    let expired = 0;
    for (const request of due) {
      try {
        const deployment = await this.#options.store.deployments.getById(request.deployment_id);
        if (!deployment) continue;
        const resolved = await this.#resolve(deployment, request, {
          status: 'expired',
          decision: 'deny',
          message: null,
        });
        if (resolved) expired++;
      } catch (error) {
        this.#options.logger.warn({ err: error, requestId: request.id }, 'could not expire a steering request; the next sweep retries');
      }
    }
    return expired;
  }

  /** Sweeps for expired requests every `intervalMs`. */
  start(intervalMs: number): void {
    this.#sweeper = setInterval(() => {
      if (this.#sweeping) return;
      this.#sweeping = true;
      this.expireDue()
        .catch((error: unknown) => this.#options.logger.warn({ err: error }, 'steering expiry sweep failed'))
        .finally(() => (this.#sweeping = false));
    }, intervalMs);
    this.#sweeper.unref();
  }

  stop(): void {
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }
}
