import type { EventSourceMessage } from 'eventsource-parser';
import { HermError } from '../../core/error.ts';
import type { RequestOptions } from '../../core/request-options.ts';
import { APIResource, segment } from '../../core/resource.ts';
import { EventStream } from '../../core/streaming.ts';
import type { RunError, RunStatus } from './runs.ts';

/** Fields every event carries. */
export interface EventBase {
  /** `evt_…`, increasing within the deployment; resume after it with `last_event_id`. */
  id: string;
  run_id: string;
  thread_id: string;
  created_at: string;
}

/** Incremental text from the agent. */
export interface TokenEvent extends EventBase {
  type: 'token';
  delta: string;
}

/** The agent is invoking a tool. */
export interface ToolCallEvent extends EventBase {
  type: 'tool_call';
  tool: string;
  tool_call_id: string;
  arguments: Record<string, unknown>;
}

/** What a tool returned to the agent. */
export interface ToolResultEvent extends EventBase {
  type: 'tool_result';
  tool: string;
  tool_call_id: string;
  result: unknown;
  is_error: boolean;
}

/** The agent paused for human approval or input; reply with a message on the thread. */
export interface SteeringRequestEvent extends EventBase {
  type: 'steering_request';
  summary: string;
}

/** A run changed status. */
export interface RunStatusEvent extends EventBase {
  type: 'run_status';
  status: RunStatus;
  /** Why the run failed, when `status` is `error`. */
  error?: RunError | null;
}

/** A file in the workspace changed (deployments with `filesystem_webhooks`). */
export interface FilesystemEvent extends EventBase {
  type: 'filesystem';
  change: 'created' | 'modified' | 'deleted' | (string & {});
  /** Path inside the workspace. */
  path: string;
}

/**
 * One event of a deployment's stream; switch on `type`.
 *
 * @example
 * for await (const event of stream) {
 *   if (event.type === 'token') process.stdout.write(event.delta);
 * }
 */
export type HermEvent =
  | TokenEvent
  | ToolCallEvent
  | ToolResultEvent
  | SteeringRequestEvent
  | RunStatusEvent
  | FilesystemEvent;

export type HermEventType = HermEvent['type'];

export interface EventStreamParams {
  /** Only events of this thread. */
  thread_id?: string | undefined;
  /** Only events of this run. */
  run_id?: string | undefined;
  /** Replay every event after this id first, then go live. */
  last_event_id?: string | undefined;
  /** Aborting it closes the stream. */
  signal?: AbortSignal | undefined;
}

export interface EventStreamRequestOptions extends Omit<RequestOptions, 'signal' | 'idempotencyKey'> {
  /**
   * Failed reconnection attempts in a row before iteration throws the last error. Default 10. The first
   * connection is retried `maxRetries` times like any request.
   */
  maxReconnectAttempts?: number | undefined;
}

/** The event stream of a deployment: `herm.deployments.events`. */
export class Events extends APIResource {
  /**
   * Opens the deployment's Server-Sent Events stream. Resolves once the server has accepted the
   * connection, so a message sent afterwards cannot be missed. The stream reconnects by itself when
   * the connection drops and resumes after the last event received, with no gap and no duplicate.
   * Events of types this SDK does not know yet are passed through as they are.
   *
   * @throws APIError (such as NotFoundError) when the server refuses the connection.
   * @example
   * const stream = await herm.deployments.events.stream('dep_7xK9s2', { thread_id: 'thr_default_8a1' });
   * for await (const event of stream) {
   *   switch (event.type) {
   *     case 'token':
   *       process.stdout.write(event.delta);
   *       break;
   *     case 'tool_call':
   *       console.log(`\n[Using tool: ${event.tool}]`);
   *       break;
   *     case 'run_status':
   *       if (event.status === 'completed') stream.abort();
   *       break;
   *   }
   * }
   */
  stream(
    deploymentId: string,
    params: EventStreamParams = {},
    options: EventStreamRequestOptions = {},
  ): Promise<EventStream<HermEvent>> {
    const { last_event_id: lastEventId, signal, thread_id, run_id } = params;
    const { maxReconnectAttempts, ...requestOptions } = options;
    const path = `/deployments/${segment(deploymentId)}/events`;
    return EventStream.open<HermEvent>({
      lastEventId,
      signal,
      maxReconnectAttempts,
      decode: decodeEvent,
      connect: (resumeAfter, connectionSignal, attempt) =>
        this._client.openStream({
          ...requestOptions,
          method: 'GET',
          path,
          query: { thread_id, run_id },
          headers: {
            Accept: 'text/event-stream',
            'Cache-Control': 'no-cache',
            ...requestOptions.headers,
            ...(resumeAfter === undefined ? {} : { 'Last-Event-ID': resumeAfter }),
          },
          signal: connectionSignal,
          // Reconnections have their own backoff loop in EventStream.
          maxRetries: attempt === 'reconnect' ? 0 : requestOptions.maxRetries,
        }),
    });
  }
}

/** `{ ...data, id, type }`; the SSE fields win over same-named keys in the data. */
function decodeEvent(message: EventSourceMessage): HermEvent | undefined {
  if (message.event === undefined) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(message.data);
  } catch (cause) {
    throw new HermError(`Could not parse the data of event ${message.id ?? '(no id)'} as JSON.`, { cause });
  }
  if (typeof data !== 'object' || data === null) {
    throw new HermError(`The data of event ${message.id ?? '(no id)'} is not a JSON object.`);
  }
  return { ...data, id: message.id ?? '', type: message.event } as HermEvent;
}
