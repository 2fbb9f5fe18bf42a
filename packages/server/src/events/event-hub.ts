// In-process fan-out of committed events to the SSE connections of this node.
import type { Logger } from 'pino';
import type { StoredEvent } from '../store/events.ts';

export interface EventSubscriber {
  deliver(event: StoredEvent): void;
  /** Events of its deployment may have been missed (the relay reconnected, a fetch failed): read the store. */
  resync?(): void;
  /** The API key the subscriber was opened with: its revocation ends the subscriber. */
  readonly keyId?: string | undefined;
  /** Ends the subscriber; `retryMs`, when set, is the reconnection delay to hint to its client. */
  end?(options: { retryMs?: number | undefined; reason: string }): void;
}

export class EventHub {
  readonly #subscribers = new Map<string, Set<EventSubscriber>>();
  readonly #logger: Logger | undefined;
  #closed: { retryMs: number } | undefined;

  constructor(options: { logger?: Logger | undefined } = {}) {
    this.#logger = options.logger;
  }

  subscribe(deploymentId: string, subscriber: EventSubscriber): () => void {
    if (this.#closed) {
      this.#end(subscriber, { retryMs: this.#closed.retryMs, reason: 'server shutting down' });
      return () => {};
    }
    let set = this.#subscribers.get(deploymentId);
    if (!set) {
      set = new Set();
      this.#subscribers.set(deploymentId, set);
    }
    set.add(subscriber);
    return () => {
      set.delete(subscriber);
      if (set.size === 0 && this.#subscribers.get(deploymentId) === set) this.#subscribers.delete(deploymentId);
    };
  }

  /**
   * Hands committed events to the subscribers of their deployments. A subscriber that throws is logged and
   * skipped: it must not keep the others from their events, nor make the caller think the commit failed.
   */
  publish(events: StoredEvent[]): void {
    for (const event of events) {
      const set = this.#subscribers.get(event.deploymentId);
      if (!set) continue;
      for (const subscriber of set) {
        try {
          subscriber.deliver(event);
        } catch (error) {
          this.#logger?.error({ err: error, deploymentId: event.deploymentId, seq: event.seq }, 'an event subscriber failed');
        }
      }
    }
  }

  /** Asks the subscribers of one deployment (or of all) to catch up from the store. */
  resync(deploymentId?: string): void {
    const sets = deploymentId === undefined ? [...this.#subscribers.values()] : [this.#subscribers.get(deploymentId) ?? new Set()];
    for (const set of sets) {
      for (const subscriber of [...set]) {
        try {
          subscriber.resync?.();
        } catch (error) {
          this.#logger?.error({ err: error }, 'an event subscriber failed to resync');
        }
      }
    }
  }

  /** Ends every subscriber opened with this API key; returns how many. */
  endKey(keyId: string, reason = 'key revoked'): number {
    let ended = 0;
    for (const set of [...this.#subscribers.values()]) {
      for (const subscriber of [...set]) {
        if (subscriber.keyId !== keyId) continue;
        this.#end(subscriber, { reason });
        ended++;
      }
    }
    return ended;
  }

  /** The API keys open subscribers were opened with. */
  keyIds(): Set<string> {
    const ids = new Set<string>();
    for (const set of this.#subscribers.values()) {
      for (const subscriber of set) if (subscriber.keyId !== undefined) ids.add(subscriber.keyId);
    }
    return ids;
  }

  /**
   * The server is shutting down: every subscriber ends with a reconnection hint of `retryMs`, and so does every
   * one opened from now on (see `closed`), so that clients come back soon, to another node or to the restart.
   */
  closeAll(options: { retryMs: number }): void {
    this.#closed = { retryMs: options.retryMs };
    for (const set of [...this.#subscribers.values()]) {
      for (const subscriber of [...set]) this.#end(subscriber, { retryMs: options.retryMs, reason: 'server shutting down' });
    }
  }

  /** Set once closeAll ran: a subscriber added from then on is ended at once, with this reconnection hint. */
  get closed(): { retryMs: number } | undefined {
    return this.#closed;
  }

  #end(subscriber: EventSubscriber, options: { retryMs?: number; reason: string }): void {
    try {
      subscriber.end?.(options);
    } catch (error) {
      this.#logger?.error({ err: error }, 'an event subscriber failed to end');
    }
  }

  subscriberCount(deploymentId?: string): number {
    if (deploymentId) return this.#subscribers.get(deploymentId)?.size ?? 0;
    let total = 0;
    for (const set of this.#subscribers.values()) total += set.size;
    return total;
  }
}
