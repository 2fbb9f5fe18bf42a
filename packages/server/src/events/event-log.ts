// Writes events in small batches (everything emitted within one turn of the event loop goes in one
// transaction), and hands them to the hub only after the commit: an event is persisted before it is sent.
import type { EventRepository, NewEvent, StoredEvent } from '../store/events.ts';
import type { EventHub } from './event-hub.ts';

interface Pending {
  event: NewEvent;
  resolve: (stored: StoredEvent) => void;
  reject: (error: unknown) => void;
}

export class EventLog {
  readonly #repository: EventRepository;
  readonly #hub: EventHub;
  #queue: Pending[] = [];
  #flushing: Promise<void> | null = null;
  #scheduled = false;

  readonly #nodeId: string;

  constructor(repository: EventRepository, hub: EventHub, nodeId: string) {
    this.#repository = repository;
    this.#hub = hub;
    this.#nodeId = nodeId;
  }

  emit(event: NewEvent): Promise<StoredEvent> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ event, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#flushing) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#flushing = this.#flush().finally(() => {
        this.#flushing = null;
        if (this.#queue.length > 0) this.#schedule();
      });
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#queue;
    this.#queue = [];
    try {
      const stored = await this.#repository.append(
        batch.map((pending) => pending.event),
        this.#nodeId,
      );
      this.#hub.publish(stored);
      // append() keeps each deployment's events in the order given; hand them back to callers in that order.
      const byDeployment = new Map<string, StoredEvent[]>();
      for (const event of stored) {
        const list = byDeployment.get(event.deploymentId);
        if (list) list.push(event);
        else byDeployment.set(event.deploymentId, [event]);
      }
      for (const pending of batch) {
        const match = byDeployment.get(pending.event.deploymentId)?.shift();
        if (match) pending.resolve(match);
        else pending.reject(new Error(`deployment ${pending.event.deploymentId} no longer exists`));
      }
    } catch (error) {
      for (const pending of batch) pending.reject(error);
    }
  }

  /** Resolves once everything emitted so far is committed. */
  async drain(): Promise<void> {
    while (this.#queue.length > 0 || this.#flushing || this.#scheduled) {
      if (this.#flushing) await this.#flushing;
      else await new Promise((resolve) => setImmediate(resolve));
    }
  }
}
