// In-process fan-out of committed events to the SSE connections of this node.
import type { StoredEvent } from '../store/events.ts';

export interface EventSubscriber {
  deliver(event: StoredEvent): void;
}

export class EventHub {
  readonly #subscribers = new Map<string, Set<EventSubscriber>>();

  subscribe(deploymentId: string, subscriber: EventSubscriber): () => void {
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

  publish(events: StoredEvent[]): void {
    for (const event of events) {
      const set = this.#subscribers.get(event.deploymentId);
      if (!set) continue;
      for (const subscriber of set) subscriber.deliver(event);
    }
  }

  subscriberCount(deploymentId?: string): number {
    if (deploymentId) return this.#subscribers.get(deploymentId)?.size ?? 0;
    let total = 0;
    for (const set of this.#subscribers.values()) total += set.size;
    return total;
  }
}
