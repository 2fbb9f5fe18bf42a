// A Server-Sent Events stream that survives dropped connections: it reconnects with backoff, resumes
// with Last-Event-ID, and never yields the same event id twice.
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { HermError } from './error.ts';
import { backoffDelay, isRetryable } from './retry.ts';
import { sleep } from '../internal/sleep.ts';

/** Response header: the event id the stream starts after, so a client that got no event yet can resume. */
export const STREAM_POSITION_HEADER = 'herm-stream-position';

/** Consecutive failed reconnection attempts before the stream gives up and throws. */
export const DEFAULT_MAX_RECONNECT_ATTEMPTS = 10;
const DEFAULT_RECONNECT_DELAY_MS = 500;
const MAX_RECONNECT_DELAY_MS = 8_000;
/** A replay can only overlap recent events, so a bounded window of ids is enough to drop duplicates. */
const SEEN_IDS_WINDOW = 10_000;

/**
 * Opens one connection. Resolves once the response headers are in with a 2xx status; rejects with the
 * typed APIError otherwise. `lastEventId` goes out as the `Last-Event-ID` header.
 */
export type StreamConnector = (
  lastEventId: string | undefined,
  signal: AbortSignal,
  attempt: 'initial' | 'reconnect',
) => Promise<Response>;

export interface EventStreamOptions<Event> {
  connect: StreamConnector;
  /** Turns one SSE message into an event; undefined skips it. */
  decode: (message: EventSourceMessage) => Event | undefined;
  /** Resume after this event id instead of from the live position. */
  lastEventId?: string | undefined;
  /** Aborting it closes the stream, like `stream.abort()`. */
  signal?: AbortSignal | undefined;
  maxReconnectAttempts?: number | undefined;
}

/**
 * A live event stream. Iterate it once with `for await`; leave the loop (or call `abort()`) to close
 * the connection. Dropped connections are reopened with backoff from where the stream left off.
 *
 * @example
 * const stream = await herm.deployments.events.stream('dep_7xK9s2');
 * setTimeout(() => stream.abort(), 60_000);
 * for await (const event of stream) console.log(event.id, event.type);
 */
export class EventStream<Event extends { readonly id: string }> implements AsyncIterable<Event> {
  /** Aborting it closes the stream; the `for await` loop then ends without an error. */
  readonly controller: AbortController;
  readonly #connect: StreamConnector;
  readonly #decode: (message: EventSourceMessage) => Event | undefined;
  readonly #maxReconnectAttempts: number;
  readonly #seenIds = new Set<string>();
  #response: Response | undefined;
  #position: string | undefined;
  #reconnectDelayMs = DEFAULT_RECONNECT_DELAY_MS;
  #iterated = false;

  private constructor(options: EventStreamOptions<Event>, controller: AbortController, response: Response) {
    this.controller = controller;
    this.#connect = options.connect;
    this.#decode = options.decode;
    this.#maxReconnectAttempts = options.maxReconnectAttempts ?? DEFAULT_MAX_RECONNECT_ATTEMPTS;
    this.#position = options.lastEventId;
    this.#response = response;
    this.#adoptPosition(response);
  }

  /** Connects and resolves once the server has accepted the stream, so no later event can be missed. */
  static async open<Event extends { readonly id: string }>(options: EventStreamOptions<Event>): Promise<EventStream<Event>> {
    const controller = new AbortController();
    const userSignal = options.signal;
    if (userSignal) {
      const forwardAbort = (): void => controller.abort(userSignal.reason);
      if (userSignal.aborted) forwardAbort();
      else {
        userSignal.addEventListener('abort', forwardAbort, { once: true });
        // A long-lived caller signal must not keep every closed stream reachable.
        controller.signal.addEventListener('abort', () => userSignal.removeEventListener('abort', forwardAbort), {
          once: true,
        });
      }
    }
    try {
      const response = await options.connect(options.lastEventId, controller.signal, 'initial');
      return new EventStream(options, controller, response);
    } catch (error) {
      controller.abort();
      throw error;
    }
  }

  /** The id to resume after: the last event yielded, or the position the server reported. */
  get lastEventId(): string | undefined {
    return this.#position;
  }

  /** Closes the connection and ends iteration; safe to call more than once. */
  abort(): void {
    this.controller.abort();
  }

  /**
   * The events of one run, as they arrive, ending after the run's first `run_status` event other than
   * `running` (`completed`, `error` or `waiting_on_human`); events of other runs are skipped. The stream is
   * closed when this ends, or when the loop over it is left early. Like the stream, iterate it once.
   *
   * @example
   * const stream = await herm.deployments.events.stream(deploymentId);
   * const run = await herm.deployments.messages.send(deploymentId, { content: 'Hello' });
   * for await (const event of stream.untilRunComplete(run.run_id)) {
   *   if (event.type === 'token') process.stdout.write(event.delta);
   * }
   */
  async *untilRunComplete(runId: string): AsyncGenerator<Event, void, undefined> {
    try {
      for await (const event of this) {
        const { run_id, type, status } = event as { run_id?: unknown; type?: unknown; status?: unknown };
        if (run_id !== runId) continue;
        yield event;
        if (type === 'run_status' && status !== 'running') return;
      }
    } finally {
      this.abort();
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<Event> {
    if (this.#iterated) {
      throw new HermError('This stream has already been iterated; open a new one to read events again.');
    }
    this.#iterated = true;
    return this.#iterate();
  }

  async *#iterate(): AsyncGenerator<Event, void, undefined> {
    const signal = this.controller.signal;
    let response = this.#response;
    this.#response = undefined;
    // Failed connection attempts in a row; reaching the limit ends the stream with the last error.
    let failedAttempts = 0;
    // Connections in a row that brought nothing; each one doubles the wait before the next.
    let quietConnections = 0;
    try {
      while (!signal.aborted) {
        if (response === undefined) {
          const delay = backoffDelay(quietConnections, this.#reconnectDelayMs, MAX_RECONNECT_DELAY_MS);
          try {
            await sleep(delay, signal);
            response = await this.#connect(this.#position, signal, 'reconnect');
          } catch (error) {
            if (signal.aborted) return;
            failedAttempts++;
            quietConnections++;
            if (!isRetryable(error) || failedAttempts > this.#maxReconnectAttempts) throw error;
            continue;
          }
          failedAttempts = 0;
          this.#adoptPosition(response);
        }
        // 204 is how an SSE server says: do not reconnect.
        if (response.status === 204) return;

        let active = false;
        const messages = readMessages(response, {
          onRetry: (ms) => {
            this.#reconnectDelayMs = ms;
          },
          onComment: () => {
            active = true;
          },
        });
        try {
          while (true) {
            let next: IteratorResult<EventSourceMessage, void>;
            try {
              next = await messages.next();
            } catch {
              // The connection broke off mid-stream: reconnect below.
              break;
            }
            if (next.done) break;
            active = true;
            const event = this.#decode(next.value);
            if (event === undefined || this.#isDuplicate(event.id)) continue;
            yield event;
          }
        } finally {
          await messages.return(undefined);
        }
        response = undefined;
        quietConnections = active ? 0 : quietConnections + 1;
      }
    } finally {
      this.controller.abort();
    }
  }

  /** Records the id as the resume position; true when it was already yielded. */
  #isDuplicate(id: string): boolean {
    if (!id) return false;
    if (this.#seenIds.has(id)) return true;
    this.#seenIds.add(id);
    if (this.#seenIds.size > SEEN_IDS_WINDOW) {
      const oldest = this.#seenIds.values().next();
      if (!oldest.done) this.#seenIds.delete(oldest.value);
    }
    this.#position = id;
    return false;
  }

  /** The server's stream position is where this connection starts: resuming from it leaves no gap. */
  #adoptPosition(response: Response): void {
    const position = response.headers.get(STREAM_POSITION_HEADER);
    if (position) this.#position = position;
  }
}

interface ParserHooks {
  onRetry: (ms: number) => void;
  onComment: (comment: string) => void;
}

/** The SSE messages of one response body, as they arrive. Stopping early releases the connection. */
async function* readMessages(response: Response, hooks: ParserHooks): AsyncGenerator<EventSourceMessage, void, undefined> {
  if (response.body === null) return;
  const pending: EventSourceMessage[] = [];
  const parser = createParser({
    onEvent: (message) => pending.push(message),
    onRetry: hooks.onRetry,
    onComment: hooks.onComment,
  });
  const decoder = new TextDecoder();
  const reader = response.body.getReader();
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) return;
      parser.feed(decoder.decode(value, { stream: true }));
      for (const message of pending.splice(0)) yield message;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}
