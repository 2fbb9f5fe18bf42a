import type { PagePromise } from '../core/pagination.ts';
import type { RequestOptions } from '../core/request-options.ts';
import { APIResource, segment } from '../core/resource.ts';

/** A run's status, as `last_run_status` and the runs of `recent_runs` show it. */
export type AutomationRunStatus = 'running' | 'waiting_on_human' | 'completed' | 'error';

/** An automation: recurring work a deployment's agent does on a schedule (UTC), on a thread of its own. */
export interface Automation {
  /** `auto_…` */
  automation_id: string;
  deployment_id: string;
  name: string;
  /** The cron expression (UTC, 5 fields) it runs on: as given, or parsed from a phrase such as "every Monday at 9am". */
  schedule: string;
  /** The natural-language schedule as given; `null` when it was given as cron. */
  schedule_text: string | null;
  /** What the agent does each run: the message each run starts with. */
  instructions: string;
  /** The thread its runs append to. */
  thread_id: string;
  enabled: boolean;
  /** The last run it started (on schedule or by `trigger`). */
  last_run_id: string | null;
  last_run_at: string | null;
  /** That run's status now; `null` before the first run. */
  last_run_status: AutomationRunStatus | null;
  /** When it fires next; `null` while paused. */
  next_run_at: string | null;
  created_at: string;
  updated_at: string;
}

/** One firing: a run it started, or a due time skipped because a run was still active (`status: 'skipped'`). */
export interface AutomationRun {
  /** `null` for a skipped firing. */
  run_id: string | null;
  status: AutomationRunStatus | 'skipped';
  /** `schedule`: a due time; `manual`: `trigger` (or the agent's tool). */
  trigger: 'schedule' | 'manual';
  /** The due time it fired for; `null` for a manual trigger. */
  scheduled_for: string | null;
  fired_at: string;
  skip_reason: 'previous_run_active' | 'thread_busy' | 'thread_not_found' | 'deployment_not_ready' | null;
}

/** An automation with its latest firings, newest first. */
export interface AutomationWithRuns extends Automation {
  recent_runs: AutomationRun[];
}

export interface AutomationCreateParams {
  /** Human-readable name. */
  name: string;
  /**
   * A cron expression (UTC) such as `"0 9 * * 1"`, or natural language such as `"every Monday at 9am"`,
   * `"every weekday at 17:30"`, `"daily"` or `"every 2 hours"` (UTC). One that cannot be parsed is a 400
   * `BadRequestError` whose `param` is `schedule`.
   */
  schedule: string;
  /** What the agent should do each run. */
  instructions: string;
  /** Thread runs append to. Defaults to a dedicated automation thread. */
  thread_id?: string;
  /** Defaults to true. */
  enabled?: boolean;
}

/** Any create field; `enabled: false` pauses it, `true` resumes it from now. */
export type AutomationUpdateParams = Partial<AutomationCreateParams>;

export interface AutomationListParams {
  /** Page size, 1–100. Defaults to 20. */
  limit?: number;
  cursor?: string;
}

export interface AutomationDeleteResponse {
  automation_id: string;
  deleted: true;
}

/** The run `trigger` started; watch it on the SSE stream. */
export interface AutomationTriggerResponse {
  run_id: string;
  automation_id: string;
  deployment_id: string;
  thread_id: string;
  status: AutomationRunStatus;
}

/**
 * A deployment's automations: `herm.automations`. Each due time starts a normal run on the automation's thread
 * with its instructions (its `run_status` events carry `automation_id`); customers can also manage them by asking
 * the agent.
 */
export class Automations extends APIResource {
  /**
   * Creates an automation.
   *
   * @example
   * const automation = await herm.automations.create('dep_7xK9s2', {
   *   name: 'Weekly video variations',
   *   schedule: 'every Monday at 9am',
   *   instructions: 'Look at our top-performing influencer video from last week and make five variations.',
   * });
   * console.log(automation.schedule, automation.next_run_at); // 0 9 * * 1 …
   */
  create(deploymentId: string, body: AutomationCreateParams, options?: RequestOptions): Promise<Automation> {
    return this._client.post<Automation>(`/deployments/${segment(deploymentId)}/automations`, { ...options, body });
  }

  /**
   * Lists the deployment's automations, newest first, with `last_run_at`, `last_run_status` and `next_run_at`.
   *
   * @example
   * const { data } = await herm.automations.list('dep_7xK9s2');
   */
  list(deploymentId: string, params: AutomationListParams = {}, options?: RequestOptions): PagePromise<Automation> {
    return this._client.getAPIList<Automation>(`/deployments/${segment(deploymentId)}/automations`, { ...params }, options);
  }

  /**
   * Gets an automation plus its recent runs.
   *
   * @example
   * const automation = await herm.automations.get('dep_7xK9s2', 'auto_5cT2k9');
   * for (const run of automation.recent_runs) console.log(run.fired_at, run.status);
   */
  get(deploymentId: string, automationId: string, options?: RequestOptions): Promise<AutomationWithRuns> {
    return this._client.get<AutomationWithRuns>(`/deployments/${segment(deploymentId)}/automations/${segment(automationId)}`, options);
  }

  /**
   * Updates an automation and returns it; pause with `enabled: false`.
   *
   * @example
   * await herm.automations.update('dep_7xK9s2', 'auto_5cT2k9', { enabled: false });
   */
  update(deploymentId: string, automationId: string, body: AutomationUpdateParams, options?: RequestOptions): Promise<Automation> {
    return this._client.patch<Automation>(`/deployments/${segment(deploymentId)}/automations/${segment(automationId)}`, { ...options, body });
  }

  /**
   * Deletes an automation; its runs and thread stay.
   *
   * @example
   * await herm.automations.delete('dep_7xK9s2', 'auto_5cT2k9');
   */
  delete(deploymentId: string, automationId: string, options?: RequestOptions): Promise<AutomationDeleteResponse> {
    return this._client.delete<AutomationDeleteResponse>(`/deployments/${segment(deploymentId)}/automations/${segment(automationId)}`, options);
  }

  /**
   * Starts a run of the automation now, paused or not. A 409 `ConflictError` when a run is active on its thread.
   *
   * @example
   * const { run_id } = await herm.automations.trigger('dep_7xK9s2', 'auto_5cT2k9');
   */
  trigger(deploymentId: string, automationId: string, options?: RequestOptions): Promise<AutomationTriggerResponse> {
    return this._client.post<AutomationTriggerResponse>(`/deployments/${segment(deploymentId)}/automations/${segment(automationId)}/trigger`, options);
  }
}
