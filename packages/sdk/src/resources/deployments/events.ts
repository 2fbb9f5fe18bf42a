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
  /** The name the model called: a built-in name, or `<server name>__<tool name>` for an MCP tool. */
  tool: string;
  /** `"builtin"`, or the name of the MCP server the tool comes from. */
  origin: string;
  tool_call_id: string;
  arguments: Record<string, unknown>;
}

/** What a tool returned to the agent. */
export interface ToolResultEvent extends EventBase {
  type: 'tool_result';
  tool: string;
  /** `"builtin"`, or the name of the MCP server the tool comes from. */
  origin: string;
  tool_call_id: string;
  result: unknown;
  is_error: boolean;
}

/** A tool call waiting for a person's approval. */
export interface SteeringToolCall {
  tool: string;
  /** `"builtin"`, or the name of the MCP server the tool comes from. */
  origin: string;
  tool_call_id: string;
  arguments: unknown;
}

/**
 * The agent paused for human approval or input: a call the deployment's steering policy holds (`kind: "tool"`),
 * or its own question (`kind: "ask"`, the ask_human tool). The run waits (`waiting_on_human`) until
 * `herm.deployments.runs.steering.respond()` answers it, it expires (resolved as denied), or the run is cancelled.
 *
 * @example
 * if (event.type === 'steering_request') {
 *   await herm.deployments.runs.steering.respond(deploymentId, event.run_id, event.request_id, { decision: 'approve' });
 * }
 */
export interface SteeringRequestEvent extends EventBase {
  type: 'steering_request';
  /** `str_…`: the request to answer. */
  request_id: string;
  kind: 'tool' | 'ask';
  /** What the agent asks, or the call it is about to make. */
  summary: string;
  /** The pending call; null for a question. */
  tool_call: SteeringToolCall | null;
  /** The answers offered: approve, deny, reply — or the options of the agent's question. */
  options: string[];
  /** When it resolves as denied if nobody answers. */
  expires_at: string;
}

/** A steering request was answered, expired (resolved as denied) or cancelled with its run. */
export interface SteeringResolvedEvent extends EventBase {
  type: 'steering_resolved';
  request_id: string;
  status: 'approved' | 'denied' | 'replied' | 'expired' | 'cancelled';
  /** `deny` for an expired request; null for a cancelled one. */
  decision: 'approve' | 'deny' | 'reply' | null;
  message: string | null;
}

/** A run changed status. */
export interface RunStatusEvent extends EventBase {
  type: 'run_status';
  status: RunStatus;
  /** Why the run failed, when `status` is `error`. */
  error?: RunError | null;
  /** Set on every status of a run an automation started. */
  automation_id?: string;
  /** Set on every status of a dream run (`features.dreaming`): not a run of the customer. */
  trigger?: 'dream';
}

/** An automation started a run (at a due time, or by `herm.automations.trigger`); its run_status events follow. */
export interface AutomationFiredEvent extends EventBase {
  type: 'automation_fired';
  automation_id: string;
  name: string;
  trigger: 'schedule' | 'manual';
  /** The due time it fired for; `null` for a manual trigger. */
  scheduled_for: string | null;
}

/** A dream started (`features.dreaming`): its run (trigger `dream`) follows on the dream thread. */
export interface DreamStartedEvent extends EventBase {
  type: 'dream_started';
  dream_id: string;
  reason: 'idle' | 'manual';
}

/** A dream's run ended and what it changed is recorded (`herm.dreams.get`). */
export interface DreamCompletedEvent extends EventBase {
  type: 'dream_completed';
  dream_id: string;
  status: 'completed' | 'failed';
  memories_changed: number;
  skills_changed: number;
  error?: string;
}

/** A dream was rolled back (`herm.dreams.rollback`). */
export interface DreamRolledBackEvent extends EventBase {
  type: 'dream_rolled_back';
  dream_id: string;
  memories_changed: number;
  skills_changed: number;
}

/**
 * A file in the workspace was created, modified or deleted (deployments with `features.filesystem_webhooks`): by
 * a tool call of a run, or by a Files API upload or delete (then `run_id` is null). Coalesced per command: several
 * writes to a file are one event, a rename is `deleted` + `created`.
 *
 * @example
 * for await (const event of await herm.deployments.events.stream('dep_7xK9s2')) {
 *   if (event.type === 'filesystem') console.log(`${event.change}: ${event.path}`);
 * }
 */
export interface FilesystemEvent extends Omit<EventBase, 'run_id' | 'thread_id'> {
  type: 'filesystem';
  /** The run whose tool call made the change; null for a Files API call. */
  run_id: string | null;
  /** The run's thread; for a Files API call, the thread whose session workspace changed, else null. */
  thread_id: string | null;
  change: 'created' | 'modified' | 'deleted' | (string & {});
  /**
   * Relative to the workspace root, as the Files API names it (`briefs/q3-brief.md`). On a `truncated` event, the
   * directory holding the changes it stands for, ending in `/` (`""` for the whole workspace).
   */
  path: string;
  /** Bytes after the change; null when deleted, and on a `truncated` event. */
  size: number | null;
  /** Set on an event that stands for more changes than were listed one by one (thousands in one command). */
  truncated?: true;
  /** With `truncated`: how many changes the event stands for; null when not known. */
  omitted?: number | null;
  /** The tool call that made the change; absent for a Files API call. */
  tool_call_id?: string;
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
  | SteeringResolvedEvent
  | RunStatusEvent
  | FilesystemEvent
  | AutomationFiredEvent
  | DreamStartedEvent
  | DreamCompletedEvent
  | DreamRolledBackEvent;

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
