// Automations: create, change and remove them (the Automations API and the agent's `automations` tool both come
// here), and fire them. A firing is a message with the automation's instructions posted to its thread through the
// same store path as Send Message, and the run it starts is an ordinary run (trigger "automation", carrying the
// automation's id). A scheduled firing commits in one transaction of the event log: the claim of the due time (its
// next_run_at moved past now), the firing's record, the message and its run, and the `automation_fired` event. So a
// due time fires once whatever the number of nodes, a restart loses none, and a node that was down fires what it
// missed once, not once per missed time.
import { QuotaExceededError, type QuotaService } from '../quotas/quota-service.ts';
import type { Logger } from 'pino';
import type { EventLog, JobOutcome } from '../events/event-log.ts';
import type { RunManager } from '../runs/run-manager.ts';
import type { AutomationRecord, DueAutomation, FiringRecord } from '../store/automations.ts';
import type { Db } from '../store/database.ts';
import type { DeploymentRecord } from '../store/deployments.ts';
import type { NewEvent } from '../store/events.ts';
import type { Page, PageRequest } from '../store/pagination.ts';
import { RunInProgressError, ThreadNotFoundError, type RunRecord } from '../store/runs.ts';
import type { Store } from '../store/store.ts';
import { failpoint } from '../util/failpoints.ts';
import { newId } from '../util/ids.ts';
import { toIso, type Clock } from '../util/time.ts';
import { nextRunAfter, parseSchedule } from './schedule.ts';

/** Automations one deployment may have. */
export const MAX_AUTOMATIONS_PER_DEPLOYMENT = 100;

/** Firings shown as an automation's recent runs. */
export const RECENT_RUNS_LIMIT = 20;

/** Why a due time started no run (a firing's `reason`). */
export type SkipReason = 'previous_run_active' | 'thread_busy' | 'thread_not_found' | 'deployment_not_ready' | 'quota_exceeded';

export const SKIP_REASONS: Record<SkipReason, string> = {
  previous_run_active: "the automation's previous run was still active (running or waiting on a human)",
  thread_busy: "another run was active on the automation's thread",
  thread_not_found: "the automation's thread was deleted; give it another thread_id",
  deployment_not_ready: 'the deployment was not ready (provisioning or failed)',
  quota_exceeded: "the account was at its concurrent_runs or runs_per_minute quota",
};

/** The deployment has `features.automations` off: its automations are kept but neither fire nor can be triggered. */
export class AutomationsDisabledError extends Error {
  constructor() {
    super('Automations are turned off for this deployment (features.automations is false): turn them on to run one.');
    this.name = 'AutomationsDisabledError';
  }
}

/** A trigger-now found a run active on the automation's thread (or its previous run still active): nothing started. */
export class AutomationBusyError extends Error {
  readonly reason: SkipReason;

  constructor(reason: SkipReason) {
    super(`Nothing was started: ${SKIP_REASONS[reason]}. Retry once it has ended.`);
    this.name = 'AutomationBusyError';
    this.reason = reason;
  }
}

export interface AutomationInput {
  name: string;
  schedule: string;
  instructions: string;
  thread_id?: string | undefined;
  enabled?: boolean | undefined;
}

export interface AutomationPatch {
  name?: string | undefined;
  schedule?: string | undefined;
  instructions?: string | undefined;
  thread_id?: string | undefined;
  enabled?: boolean | undefined;
}

export interface AutomationServiceOptions {
  store: Store;
  events: EventLog;
  /** Starts the runs firings commit on this node (RunManager.startTaken: not while it drains). */
  runs: Pick<RunManager, 'startTaken' | 'draining'>;
  nodeId: string;
  leaseMs: number;
  /** The scheduler's notion of now (tests inject one). */
  clock: Clock;
  logger: Logger;
  /** Per-account quotas: a firing past concurrent_runs or runs_per_minute is skipped (a manual trigger refused). */
  quotas?: QuotaService;
}

type FiringOutcome = { run: RunRecord } | { skipped: SkipReason };

export class AutomationService {
  readonly #options: AutomationServiceOptions;
  /** Called after a change that may move the earliest due time (the scheduler re-arms). */
  #onChange: (() => void) | undefined;

  constructor(options: AutomationServiceOptions) {
    this.#options = options;
  }

  /** Registers the scheduler's wake-up. */
  onScheduleChange(listener: () => void): void {
    this.#onChange = listener;
  }

  get clock(): Clock {
    return this.#options.clock;
  }

  /**
   * Creates an automation. Without `thread_id`, a dedicated thread ("Automation: <name>") is created with it.
   * @throws ScheduleError (the schedule), ThreadNotFoundError (thread_id), AutomationLimitError.
   */
  async create(deployment: DeploymentRecord, input: AutomationInput): Promise<AutomationRecord> {
    const parsed = parseSchedule(input.schedule);
    const now = this.#options.clock.now();
    const enabled = input.enabled ?? true;
    const threadId = input.thread_id ?? newId('thread');
    const automation = await this.#options.store.automations.create(
      {
        id: newId('automation'),
        deploymentId: deployment.id,
        name: input.name,
        schedule: parsed.cron,
        scheduleText: parsed.natural ? input.schedule.trim() : null,
        instructions: input.instructions,
        threadId,
        createThread: input.thread_id === undefined ? { title: `Automation: ${input.name}`.slice(0, 255) } : undefined,
        enabled,
        nextRunAt: enabled ? nextRunAfter(parsed.cron, now) : null,
        now,
      },
      MAX_AUTOMATIONS_PER_DEPLOYMENT,
    );
    this.#onChange?.();
    return automation;
  }

  list(deployment: DeploymentRecord, page: PageRequest): Promise<Page<AutomationRecord>> {
    return this.#options.store.automations.list(deployment.id, page);
  }

  get(deployment: DeploymentRecord, automationId: string): Promise<AutomationRecord | undefined> {
    return this.#options.store.automations.get(deployment.id, automationId);
  }

  /** The automation's latest firings (runs started, due times skipped), newest first. */
  recentRuns(automation: AutomationRecord, limit = RECENT_RUNS_LIMIT): Promise<FiringRecord[]> {
    return this.#options.store.automations.firings(automation.id, limit);
  }

  /**
   * Applies a patch. A new schedule, or enabling a paused automation, computes next_run_at from now (a paused
   * automation fires no catch-up for the times it missed); pausing clears it.
   * @throws ScheduleError, ThreadNotFoundError. Undefined: no such automation.
   */
  async update(deployment: DeploymentRecord, automationId: string, patch: AutomationPatch): Promise<AutomationRecord | undefined> {
    const current = await this.get(deployment, automationId);
    if (!current) return undefined;
    const parsed = patch.schedule === undefined ? undefined : parseSchedule(patch.schedule);
    const enabled = patch.enabled ?? current.enabled;
    const schedule = parsed?.cron ?? current.schedule;
    const rescheduled = parsed !== undefined || (enabled && !current.enabled);
    const now = this.#options.clock.now();
    const updated = await this.#options.store.automations.update(
      deployment.id,
      automationId,
      {
        ...(patch.name === undefined ? {} : { name: patch.name }),
        ...(patch.instructions === undefined ? {} : { instructions: patch.instructions }),
        ...(patch.thread_id === undefined ? {} : { thread_id: patch.thread_id }),
        ...(parsed === undefined ? {} : { schedule: parsed.cron, schedule_text: parsed.natural ? patch.schedule!.trim() : null }),
        ...(patch.enabled === undefined ? {} : { enabled }),
        ...(!enabled ? { next_run_at: null } : rescheduled ? { next_run_at: nextRunAfter(schedule, now) } : {}),
      },
      now,
    );
    this.#onChange?.();
    return updated;
  }

  /** Deletes the automation and its firing history (its runs and thread stay); false when there was none. */
  async delete(deployment: DeploymentRecord, automationId: string): Promise<boolean> {
    const deleted = await this.#options.store.automations.delete(deployment.id, automationId);
    if (deleted) this.#onChange?.();
    return deleted;
  }

  /**
   * Fires the automation now, paused or not (a person's explicit act), outside its schedule (next_run_at stays).
   * @throws AutomationsDisabledError, AutomationBusyError (a run active: nothing started). Undefined: no such automation.
   */
  async trigger(deployment: DeploymentRecord, automationId: string): Promise<{ automation: AutomationRecord; run: RunRecord } | undefined> {
    if (!deployment.features.automations) throw new AutomationsDisabledError();
    const automation = await this.get(deployment, automationId);
    if (!automation) return undefined;
    const { result } = await this.#options.events.transact(deployment.id, (trx) =>
      this.#fireIn(trx, deployment, automation, { trigger: 'manual', scheduledFor: null, now: this.#options.clock.now() }),
    );
    if ('skipped' in result) throw new AutomationBusyError(result.skipped);
    this.#options.runs.startTaken(result.run, deployment);
    this.#options.logger.info({ deploymentId: deployment.id, automationId, runId: result.run.id }, 'automation triggered');
    return { automation: (await this.get(deployment, automationId)) ?? automation, run: result.run };
  }

  /** The earliest due time of an enabled automation; null when none is scheduled. */
  nextDueAt(): Promise<number | null> {
    return this.#options.store.automations.nextDueAt();
  }

  /**
   * Fires the automations due now (up to `limit`), each in a commit of its own; returns how many this node
   * fired or skipped (those another node claimed first do not count). Nothing while the node drains.
   */
  async fireDue(limit = 25): Promise<number> {
    if (this.#options.runs.draining) return 0;
    const now = this.#options.clock.now();
    const due = await this.#options.store.automations.due(now, limit);
    let handled = 0;
    for (const candidate of due) {
      if (this.#options.runs.draining) break;
      try {
        if (await this.#fireScheduled(candidate, now)) handled++;
      } catch (error) {
        // Its next_run_at did not move (the commit failed): the next tick tries it again.
        this.#options.logger.error({ err: error, automationId: candidate.id, deploymentId: candidate.deployment_id }, 'could not fire an automation');
      }
    }
    return handled;
  }

  async #fireScheduled(due: DueAutomation, now: number): Promise<boolean> {
    const { store, events, logger } = this.#options;
    const deployment = await store.deployments.getById(due.deployment_id);
    if (!deployment) return false;
    // The next due time after now, not after the time missed: a node that was down fires once, not once per miss.
    const next = nextRunAfter(due.schedule, now);
    const { result } = await events.transact(deployment.id, async (trx): Promise<JobOutcome<FiringOutcome | 'lost' | 'off'>> => {
      const automation = await store.automations.claimIn(trx, due, next);
      if (!automation) return { result: 'lost' };
      // Turned off: its due times pass without firing (and without a record each, however often it is scheduled).
      if (!deployment.features.automations) return { result: 'off' };
      const outcome = await this.#fireIn(trx, deployment, automation, { trigger: 'schedule', scheduledFor: due.next_run_at, now });
      failpoint('automation.fire.before_commit');
      return outcome;
    });
    if (result === 'lost') return false;
    // Committed: a run it started is `running` under this node's lease, so a restart or another node claims it
    // like any running run when this process dies before startTaken; the due time stays claimed.
    failpoint('automation.fire.after_commit');
    const fields = { deploymentId: deployment.id, automationId: due.id, scheduledFor: toIso(due.next_run_at), nextRunAt: toIso(next) };
    if (result === 'off') logger.debug(fields, 'automation due but features.automations is off: not fired');
    else if ('skipped' in result) logger.info({ ...fields, reason: result.skipped }, `automation skipped: ${SKIP_REASONS[result.skipped]}`);
    else {
      logger.info({ ...fields, runId: result.run.id }, 'automation fired');
      this.#options.runs.startTaken(result.run, deployment);
    }
    return true;
  }

  /**
   * One firing, inside the caller's transaction: a run started on the automation's thread with its instructions,
   * or the due time skipped (a run still active, the thread gone, the deployment not ready), recorded either way for
   * a scheduled firing; a manual one that starts nothing records nothing (the caller reports why).
   */
  async #fireIn(
    trx: Db,
    deployment: DeploymentRecord,
    automation: AutomationRecord,
    firing: { trigger: 'schedule' | 'manual'; scheduledFor: number | null; now: number },
  ): Promise<JobOutcome<FiringOutcome>> {
    const { store, nodeId, leaseMs } = this.#options;
    const record = {
      id: newId('automationFiring'),
      automation_id: automation.id,
      deployment_id: deployment.id,
      trigger: firing.trigger,
      scheduled_for: firing.scheduledFor,
      fired_at: firing.now,
    };
    const skip = async (reason: SkipReason): Promise<JobOutcome<FiringOutcome>> => {
      if (firing.trigger === 'schedule') await store.automations.recordFiringIn(trx, { ...record, run_id: null, status: 'skipped', reason });
      return { result: { skipped: reason } };
    };
    if (deployment.status !== 'ready') return skip('deployment_not_ready');
    if (automation.last_run_id) {
      const status = await store.automations.runStatusIn(trx, automation.last_run_id);
      if (status === 'running' || status === 'waiting_on_human') return skip('previous_run_active');
    }
    const quotas = this.#options.quotas;
    if (quotas && (await quotas.limitsRuns(deployment.account_id, trx))) {
      try {
        await quotas.checkRunStart(deployment.account_id, { db: trx });
      } catch (error) {
        // A due time past the quota is skipped and recorded; a person's trigger gets the 429 itself.
        if (error instanceof QuotaExceededError && firing.trigger === 'schedule') return skip('quota_exceeded');
        throw error;
      }
    }
    let run: RunRecord;
    try {
      ({ run } = await store.runs.submitAutomationIn(trx, {
        deploymentId: deployment.id,
        threadId: automation.thread_id,
        content: automation.instructions,
        automationId: automation.id,
        nodeId,
        leaseMs,
      }));
    } catch (error) {
      if (error instanceof RunInProgressError) return skip('thread_busy');
      if (error instanceof ThreadNotFoundError) return skip('thread_not_found');
      throw error;
    }
    await store.automations.recordFiringIn(trx, { ...record, run_id: run.id, status: 'started', reason: null });
    const event: NewEvent = {
      deploymentId: deployment.id,
      type: 'automation_fired',
      threadId: automation.thread_id,
      runId: run.id,
      data: { automation_id: automation.id, name: automation.name, trigger: firing.trigger, scheduled_for: toIso(firing.scheduledFor) },
    };
    return { result: { run }, events: [event] };
  }
}
