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

/** A run's request for a person: a held tool call, or the agent's own question. */
export interface SteeringRequest {
  object: 'steering_request';
  /** `str_…` */
  request_id: string;
  deployment_id: string;
  run_id: string;
  thread_id: string;
  /** `tool`: a call the steering policy holds; `ask`: the agent asked (ask_human). */
  kind: 'tool' | 'ask';
  status: 'pending' | 'approved' | 'denied' | 'replied' | 'expired' | 'cancelled';
  summary: string;
  /** The pending call; null for a question. */
  tool_call: { tool: string; origin: string; tool_call_id: string; arguments: unknown } | null;
  /** The answers offered. */
  options: string[];
  /** The answer's decision (`deny` for an expired request); null while pending or when cancelled. */
  decision: 'approve' | 'deny' | 'reply' | null;
  message: string | null;
  created_at: string;
  expires_at: string;
  resolved_at: string | null;
}

export interface SteeringRespondParams {
  /**
   * `approve` (valid for every request): the call runs, or the question is answered with `message`; `deny`: the
   * call is not run and the agent is told (with `message`); `reply`: the agent gets `message` as the answer.
   */
  decision: 'approve' | 'deny' | 'reply';
  /** Required with `reply`. */
  message?: string;
}

export interface SteeringRequestListParams {
  /** `pending`: the requests waiting for an answer. */
  status?: SteeringRequest['status'];
  /** Only this run's requests. */
  run_id?: string;
  /** Page size, 1–100. Defaults to 20. */
  limit?: number;
  /** `next_cursor` of the previous page. */
  cursor?: string;
}

/** Answering a waiting run: `herm.deployments.runs.steering`. */
export class RunSteering extends APIResource {
  /**
   * Answers a run's steering request; the run resumes at once. A request is answered once: answering it again (or
   * after it expired, or its run was cancelled) throws a `ConflictError`.
   *
   * @example
   * await herm.deployments.runs.steering.respond('dep_7xK9s2', 'run_4mPx81', 'str_8fKq2LmN', { decision: 'approve' });
   * await herm.deployments.runs.steering.respond('dep_7xK9s2', 'run_4mPx81', 'str_9aQx1Bc', { decision: 'reply', message: 'Use the blue logo.' });
   */
  respond(deploymentId: string, runId: string, requestId: string, body: SteeringRespondParams, options?: RequestOptions): Promise<SteeringRequest> {
    return this._client.post<SteeringRequest>(`/deployments/${segment(deploymentId)}/runs/${segment(runId)}/steering/${segment(requestId)}`, {
      ...options,
      body,
    });
  }
}

/** A deployment's steering requests: `herm.deployments.steeringRequests`. */
export class SteeringRequests extends APIResource {
  /**
   * Lists a deployment's steering requests, newest first.
   *
   * @example
   * for await (const request of herm.deployments.steeringRequests.list('dep_7xK9s2', { status: 'pending' })) {
   *   console.log(request.request_id, request.summary);
   * }
   */
  list(deploymentId: string, params: SteeringRequestListParams = {}, options?: RequestOptions): PagePromise<SteeringRequest> {
    return this._client.getAPIList<SteeringRequest>(`/deployments/${segment(deploymentId)}/steering_requests`, { ...params }, options);
  }

  /**
   * Gets one steering request.
   *
   * @example
   * const request = await herm.deployments.steeringRequests.get('dep_7xK9s2', 'str_8fKq2LmN');
   */
  get(deploymentId: string, requestId: string, options?: RequestOptions): Promise<SteeringRequest> {
    return this._client.get<SteeringRequest>(`/deployments/${segment(deploymentId)}/steering_requests/${segment(requestId)}`, options);
  }
}

/** The runs of a deployment: `herm.deployments.runs`. */
export class Runs extends APIResource {
  /** Answers to runs waiting on a person. */
  readonly steering: RunSteering = new RunSteering(this._client);

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
