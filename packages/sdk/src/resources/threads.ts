import type { PagePromise } from '../core/pagination.ts';
import type { RequestOptions } from '../core/request-options.ts';
import { APIResource, segment } from '../core/resource.ts';

/** A conversation with a deployment's agent. */
export interface Thread {
  thread_id: string;
  deployment_id: string;
  title: string | null;
  /** `idle` when no run is in progress on the thread. */
  status: string;
  message_count?: number;
  last_activity_at?: string | null;
  created_at: string;
}

export interface ThreadMessage {
  role: 'user' | 'agent';
  content: string;
  /** The run that produced an agent message. */
  run_id?: string;
  created_at: string;
}

/** A thread with its conversation history, oldest message first. */
export interface ThreadWithMessages extends Thread {
  messages: ThreadMessage[];
}

export interface ThreadCreateParams {
  /** Human-readable label for the thread. */
  title?: string;
}

export interface ThreadUpdateParams {
  title: string;
}

export interface ThreadListParams {
  /** Page size, 1–100. Defaults to 20. */
  limit?: number;
  /** `next_cursor` of the previous page. */
  cursor?: string;
}

export interface ThreadDeleteResponse {
  thread_id: string;
  deleted: true;
}

/** Threads of a deployment: `herm.threads`. */
export class Threads extends APIResource {
  /**
   * Creates a thread with an empty history; the deployment's memory and workspace carry over.
   *
   * @example
   * const thread = await herm.threads.create('dep_7xK9s2', { title: 'Holiday campaign' });
   * await herm.deployments.messages.send('dep_7xK9s2', { content: 'Hi', thread_id: thread.thread_id });
   */
  create(deploymentId: string, body: ThreadCreateParams = {}, options?: RequestOptions): Promise<Thread> {
    return this._client.post<Thread>(`/deployments/${segment(deploymentId)}/threads`, { ...options, body });
  }

  /**
   * Lists a deployment's threads.
   *
   * @example
   * const { data, next_cursor } = await herm.threads.list('dep_7xK9s2', { limit: 20 });
   */
  list(deploymentId: string, params: ThreadListParams = {}, options?: RequestOptions): PagePromise<Thread> {
    return this._client.getAPIList<Thread>(`/deployments/${segment(deploymentId)}/threads`, { ...params }, options);
  }

  /**
   * Gets a thread with its message history.
   *
   * @example
   * const thread = await herm.threads.get('dep_7xK9s2', 'thr_default_8a1');
   * for (const message of thread.messages) console.log(`${message.role}: ${message.content}`);
   */
  get(deploymentId: string, threadId: string, options?: RequestOptions): Promise<ThreadWithMessages> {
    return this._client.get<ThreadWithMessages>(
      `/deployments/${segment(deploymentId)}/threads/${segment(threadId)}`,
      options,
    );
  }

  /**
   * Renames a thread.
   *
   * @example
   * await herm.threads.update('dep_7xK9s2', 'thr_9kQv32', { title: 'Holiday campaign (final)' });
   */
  update(deploymentId: string, threadId: string, body: ThreadUpdateParams, options?: RequestOptions): Promise<Thread> {
    return this._client.patch<Thread>(`/deployments/${segment(deploymentId)}/threads/${segment(threadId)}`, {
      ...options,
      body,
    });
  }

  /**
   * Deletes a thread and its history.
   *
   * @example
   * await herm.threads.delete('dep_7xK9s2', 'thr_9kQv32');
   */
  delete(deploymentId: string, threadId: string, options?: RequestOptions): Promise<ThreadDeleteResponse> {
    return this._client.delete<ThreadDeleteResponse>(
      `/deployments/${segment(deploymentId)}/threads/${segment(threadId)}`,
      options,
    );
  }
}
