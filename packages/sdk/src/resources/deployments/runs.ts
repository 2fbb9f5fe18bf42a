import type { PagePromise } from '../../core/pagination.ts';
import type { RequestOptions } from '../../core/request-options.ts';
import { APIResource, segment } from '../../core/resource.ts';

/** `running` → (`waiting_on_human` → `running`)* → `completed` | `error`. */
export type RunStatus = 'running' | 'waiting_on_human' | 'completed' | 'error';

/** Why a run ended in `error`. */
export interface RunError {
  type: string;
  message: string;
}

/** One unit of agent work, started by a message or an automation. */
export interface Run {
  run_id: string;
  deployment_id: string;
  thread_id: string;
  status: RunStatus;
  /** Set when `status` is `error`. */
  error: RunError | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
}

export interface RunListParams {
  /** Only runs on this thread. */
  thread_id?: string;
  status?: RunStatus;
  /** Page size, 1–100. Defaults to 20. */
  limit?: number;
  /** `next_cursor` of the previous page. */
  cursor?: string;
}

/** The runs of a deployment: `herm.deployments.runs`. */
export class Runs extends APIResource {
  /**
   * Lists a deployment's runs, newest first.
   *
   * @example
   * for await (const run of herm.deployments.runs.list('dep_7xK9s2', { status: 'waiting_on_human' })) {
   *   console.log(run.run_id, run.thread_id);
   * }
   */
  list(deploymentId: string, params: RunListParams = {}, options?: RequestOptions): PagePromise<Run> {
    return this._client.getAPIList<Run>(`/deployments/${segment(deploymentId)}/runs`, { ...params }, options);
  }

  /**
   * Gets one run.
   *
   * @example
   * const run = await herm.deployments.runs.get('dep_7xK9s2', 'run_4mPx81');
   * if (run.status === 'error') console.error(run.error?.message);
   */
  get(deploymentId: string, runId: string, options?: RequestOptions): Promise<Run> {
    return this._client.get<Run>(`/deployments/${segment(deploymentId)}/runs/${segment(runId)}`, options);
  }

  /**
   * Cancels a run in progress; it ends with status `error`.
   *
   * @example
   * const run = await herm.deployments.runs.cancel('dep_7xK9s2', 'run_4mPx81');
   */
  cancel(deploymentId: string, runId: string, options?: RequestOptions): Promise<Run> {
    return this._client.post<Run>(`/deployments/${segment(deploymentId)}/runs/${segment(runId)}/cancel`, options);
  }
}
