import type { RequestOptions } from '../../core/request-options.ts';
import { APIResource, segment } from '../../core/resource.ts';
import type { RunStatus } from './runs.ts';

/** A file the agent should look at, fetched by the server from a public URL. */
export interface Attachment {
  type: 'image' | 'video' | 'audio';
  /** Publicly fetchable URL of the file. */
  url: string;
}

export interface MessageSendParams {
  /** The message text. */
  content: string;
  /** Thread to post to. Omit for the deployment's default thread, or `"new"` for a fresh thread. */
  thread_id?: string;
  attachments?: Attachment[];
}

/** The run the message started (or, mid-run, the run it was folded into as steering input). */
export interface MessageSendResponse {
  run_id: string;
  deployment_id: string;
  thread_id: string;
  status: RunStatus;
}

/** Messages to a deployment's agent: `herm.deployments.messages`. */
export class Messages extends APIResource {
  /**
   * Sends a message and starts a run. Returns at once; the agent's work arrives on the event stream,
   * so open `herm.deployments.events.stream()` first.
   *
   * @example
   * const run = await herm.deployments.messages.send('dep_7xK9s2', {
   *   content: 'Write a storyboard for a 30-second demo and save it to storyboard.md',
   * });
   * console.log(run.run_id, run.status); // "run_4mPx81", "running"
   */
  send(deploymentId: string, body: MessageSendParams, options?: RequestOptions): Promise<MessageSendResponse> {
    return this._client.post<MessageSendResponse>(`/deployments/${segment(deploymentId)}/messages`, {
      ...options,
      body,
    });
  }
}
