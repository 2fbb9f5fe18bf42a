// The transactional outbox of webhooks: the event log (events/event-log.ts) hands it each batch of events inside
// the batch's transaction, and it enqueues a delivery per message and subscribed endpoint there, so a committed
// event has its deliveries and a rolled-back one has none. Most events tell no webhook (tokens, tool calls): they
// cost one Set lookup. The rest cost a look in the cache of each deployment's endpoints (endpoint-cache.ts), or
// one indexed query on a miss.
import type { EventOutbox } from '../events/event-log.ts';
import type { Db } from '../store/database.ts';
import type { NewEvent, StoredEvent } from '../store/events.ts';
import type { NewDelivery, WebhookRepository } from '../store/webhooks.ts';
import type { WebhookEndpointCache } from './endpoint-cache.ts';
import { WEBHOOK_EVENT_SOURCES, webhookPayload, webhookTypeOf, type WebhookEventType } from './webhook-events.ts';

export class WebhookOutbox implements EventOutbox {
  readonly #repository: WebhookRepository;
  readonly #cache: WebhookEndpointCache;
  readonly #onEnqueued: () => void;

  /** `onEnqueued`: called after the commit of a batch that enqueued deliveries (wakes the local worker). */
  constructor(repository: WebhookRepository, cache: WebhookEndpointCache, onEnqueued: () => void) {
    this.#repository = repository;
    this.#cache = cache;
    this.#onEnqueued = onEnqueued;
  }

  async enqueueIn(trx: Db, events: readonly NewEvent[], stored: readonly (StoredEvent | undefined)[]): Promise<boolean> {
    let messages: { index: number; type: WebhookEventType }[] | undefined;
    for (let index = 0; index < events.length; index++) {
      const event = events[index]!;
      if (!WEBHOOK_EVENT_SOURCES.has(event.type) || stored[index] === undefined) continue;
      const type = webhookTypeOf(event);
      if (type) (messages ??= []).push({ index, type });
    }
    if (!messages) return false;
    const deliveries: NewDelivery[] = [];
    const endpointsByDeployment = new Map<string, Awaited<ReturnType<WebhookRepository['endpointsForDeployment']>>>();
    for (const { index, type } of messages) {
      const event = events[index]!;
      let endpoints = endpointsByDeployment.get(event.deploymentId) ?? this.#cache.get(event.deploymentId);
      if (!endpoints) {
        const readAt = Date.now();
        const generation = this.#cache.generation;
        endpoints = await this.#repository.endpointsForDeployment(trx, event.deploymentId);
        this.#cache.set(event.deploymentId, endpoints, readAt, generation);
      }
      endpointsByDeployment.set(event.deploymentId, endpoints);
      for (const endpoint of endpoints) {
        if (!endpoint.events.includes(type)) continue;
        deliveries.push({
          endpointId: endpoint.id,
          accountId: endpoint.accountId,
          eventType: type,
          payload: webhookPayload(type, event, { customerId: endpoint.customerId, createdAt: stored[index]!.createdAt }),
          deploymentId: event.deploymentId,
          runId: event.runId,
        });
      }
    }
    await this.#repository.enqueueIn(trx, deliveries);
    return deliveries.length > 0;
  }

  committed(): void {
    this.#onEnqueued();
  }
}
