// Scale-out delivery: every node LISTENs for the ranges other nodes commit and hands those events to its own
// hub, so an SSE client connected to any node sees runs executed on any other. Whatever the relay misses (its
// connection was down, a fetch failed, a notice was malformed) the streams read from the store themselves: after
// a reconnect or a failed fetch it asks them to resync, and a stream that sees a gap in the seqs fills it.
import type { Logger } from 'pino';
import { EVENTS_CHANNEL, type EventNotice, type EventRepository } from '../store/events.ts';
import type { EventHub } from './event-hub.ts';
import { withTimeout } from '../util/with-timeout.ts';
import type { PostgresListener } from './postgres-listener.ts';

/** A fetch that takes longer is given up (its streams resync instead), so one stuck read cannot wedge the queue. */
const FETCH_TIMEOUT_MS = 10_000;

/** The notice a node sent (see EventRepository's append), or undefined when the payload is not one. */
export function parseEventNotice(payload: string): EventNotice | undefined {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { node, deploymentId, from, to } = value as Record<string, unknown>;
  if (typeof node !== 'string' || typeof deploymentId !== 'string' || deploymentId === '') return undefined;
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to)) return undefined;
  if ((from as number) < 1 || (to as number) < (from as number)) return undefined;
  return { node, deploymentId, from: from as number, to: to as number };
}

export class PostgresEventRelay {
  readonly #repository: EventRepository;
  readonly #hub: EventHub;
  readonly #nodeId: string;
  readonly #logger: Logger;
  readonly #fetchTimeoutMs: number;
  readonly #onRelayed: ((lagMs: number) => void) | undefined;
  #stopped = false;
  /** Notices are fetched one after another so each deployment's events are published in order. */
  #queue: Promise<void> = Promise.resolve();

  constructor(options: {
    listener: PostgresListener;
    repository: EventRepository;
    hub: EventHub;
    nodeId: string;
    logger: Logger;
    fetchTimeoutMs?: number;
    /**
     * Told, once per relayed notice, how long ago its first event was appended on the other node (the event-log lag
     * between nodes, herm_event_relay_lag_seconds; it includes the clock difference between the two machines).
     */
    onRelayed?: (lagMs: number) => void;
  }) {
    this.#repository = options.repository;
    this.#hub = options.hub;
    this.#nodeId = options.nodeId;
    this.#logger = options.logger;
    this.#fetchTimeoutMs = options.fetchTimeoutMs ?? FETCH_TIMEOUT_MS;
    this.#onRelayed = options.onRelayed;
    options.listener.listen(EVENTS_CHANNEL, (payload) => this.#onNotice(payload));
    options.listener.onConnect(({ reconnect }) => {
      if (!reconnect || this.#stopped) return;
      // Notices sent while the connection was down are lost: every stream reads what it missed from the store.
      this.#logger.info({ streams: this.#hub.subscriberCount() }, 'event relay reconnected; streams catch up from the store');
      this.#hub.resync();
    });
  }

  #onNotice(payload: string): void {
    if (this.#stopped) return;
    const notice = parseEventNotice(payload);
    if (!notice) {
      this.#logger.warn({ channel: EVENTS_CHANNEL, payload: payload.slice(0, 200) }, 'event relay skipped a malformed notice');
      return;
    }
    if (notice.node === this.#nodeId || this.#hub.subscriberCount(notice.deploymentId) === 0) return;
    this.#queue = this.#queue.then(() => this.#relay(notice));
  }

  async #relay(notice: EventNotice): Promise<void> {
    if (this.#stopped) return;
    try {
      const range = this.#repository.listRange(notice.deploymentId, notice.from, notice.to);
      const events = await withTimeout(range, this.#fetchTimeoutMs, 'reading the announced events');
      if (events[0]) this.#onRelayed?.(Date.now() - events[0].createdAt);
      this.#hub.publish(events);
    } catch (error) {
      this.#logger.warn({ err: error, deploymentId: notice.deploymentId }, 'relaying events failed; the streams read them from the store');
      this.#hub.resync(notice.deploymentId);
    }
  }

  /** Stops relaying and waits for the fetch under way (the listener is stopped by its owner). */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#queue;
  }
}
