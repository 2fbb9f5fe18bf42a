import type { RequestOptions } from '../../core/request-options.ts';
import { APIResource, segment } from '../../core/resource.ts';
import type { EventStream } from '../../core/streaming.ts';
import type { EventStreamRequestOptions, HermEvent } from './events.ts';
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
  /**
   * What the message does while a run is active on the thread (running or waiting_on_human): `fold` (default) joins
   * that run as steering input; `enqueue` starts a run of its own once it ends; `interrupt` stops it (error,
   * cancelled) and starts fresh; `reject` throws a `ConflictError` whose `type` is `run_in_progress` (409).
   */
  multitask_strategy?: 'fold' | 'enqueue' | 'interrupt' | 'reject';
}

/** The run the message started (or, mid-run, the run it was folded into as steering input). */
export interface MessageSendResponse {
  run_id: string;
  deployment_id: string;
  thread_id: string;
  status: RunStatus;
}

/**
 * A message's run with its events: iterate it for the run's events, up to and including its final
 * `run_status`; the stream closes then (or when the loop is left early, or on `abort()`).
 */
export interface RunEventStream extends AsyncIterable<HermEvent> {
  /** The run the message started, as Send Message answered. */
  run: MessageSendResponse;
  /** The underlying deployment event stream (for `lastEventId`). */
  stream: EventStream<HermEvent>;
  /** Closes the stream; a loop over it then ends. */
  abort(): void;
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

  /**
   * Opens the deployment's event stream, sends the message once the stream is connected (so no event of
   * the run can be missed), and resolves with the run and an iterable of that run's events which ends
   * after the run's final `run_status` (`completed`, `error` or `waiting_on_human`), closing the stream.
   *
   * @example
   * const run = await herm.deployments.messages.sendAndStream('dep_7xK9s2', { content: 'Hello' });
   * for await (const event of run) {
   *   if (event.type === 'token') process.stdout.write(event.delta);
   * }
   */
  async sendAndStream(
    deploymentId: string,
    body: MessageSendParams,
    options: RequestOptions & { stream?: EventStreamRequestOptions } = {},
  ): Promise<RunEventStream> {
    const { stream: streamOptions, ...sendOptions } = options;
    const threadId = body.thread_id === undefined || body.thread_id === 'new' ? undefined : body.thread_id;
    const stream = await this._client.deployments.events.stream(
      deploymentId,
      { thread_id: threadId, signal: sendOptions.signal ?? undefined },
      streamOptions,
    );
    let run: MessageSendResponse;
    try {
      run = await this.send(deploymentId, body, sendOptions);
    } catch (error) {
      stream.abort();
      throw error;
    }
    return {
      run,
      stream,
      abort: () => stream.abort(),
      [Symbol.asyncIterator]: () => stream.untilRunComplete(run.run_id),
    };
  }
}
