// Which endpoints may receive a deployment's events, cached: the outbox asks at every run end (inside the event
// transaction), and most accounts have no endpoint at all. Every write of an endpoint empties the cache of the
// node that made it before the API answers, so an event committed after that answer reaches the endpoint as it is
// now. Other nodes (PostgreSQL) hear of the write by NOTIFY and empty theirs within milliseconds; entries also
// expire after `ttlMs` (1 s on PostgreSQL), which bounds how stale a node can be while its LISTEN connection is
// down, and the cache is emptied whenever that connection is made again.
import type { PostgresListener } from '../events/postgres-listener.ts';
import { WEBHOOK_ENDPOINTS_CHANNEL, type SubscribedEndpoint } from '../store/webhooks.ts';

/** Deployments whose endpoints are kept at most (the cache is emptied when it is full). */
const MAX_ENTRIES = 50_000;

export class WebhookEndpointCache {
  readonly #ttlMs: number;
  readonly #entries = new Map<string, { endpoints: SubscribedEndpoint[]; at: number }>();

  /** `ttlMs`: Infinity when every write goes through this process (SQLite). */
  constructor(options: { ttlMs: number; listener?: PostgresListener | undefined }) {
    this.#ttlMs = options.ttlMs;
    options.listener?.listen(WEBHOOK_ENDPOINTS_CHANNEL, () => this.invalidate());
    options.listener?.onConnect(() => this.invalidate());
  }

  get(deploymentId: string): SubscribedEndpoint[] | undefined {
    const entry = this.#entries.get(deploymentId);
    if (!entry) return undefined;
    if (Date.now() - entry.at > this.#ttlMs) {
      this.#entries.delete(deploymentId);
      return undefined;
    }
    return entry.endpoints;
  }

  /** Caches what was read at `readAt` (taken before the read), unless the cache was emptied since. */
  set(deploymentId: string, endpoints: SubscribedEndpoint[], readAt: number, generation: number): void {
    if (generation !== this.#generation) return;
    if (this.#entries.size >= MAX_ENTRIES) this.#entries.clear();
    this.#entries.set(deploymentId, { endpoints, at: readAt });
  }

  #generation = 0;

  /** Taken before a read whose result is to be cached: a write between the read and set() voids it. */
  get generation(): number {
    return this.#generation;
  }

  invalidate(): void {
    this.#generation++;
    this.#entries.clear();
  }
}
