// Scale-out delivery: every node LISTENs for the ranges other nodes commit and hands those events to its own
// hub, so an SSE client connected to any node sees runs executed on any other.
import type pg from 'pg';
import type { Logger } from 'pino';
import { EVENTS_CHANNEL, type EventNotice, type EventRepository } from '../store/events.ts';
import type { EventHub } from './event-hub.ts';

const RECONNECT_DELAY_MS = 1_000;

export class PostgresEventRelay {
  readonly #connectionString: string;
  readonly #repository: EventRepository;
  readonly #hub: EventHub;
  readonly #nodeId: string;
  readonly #logger: Logger;
  #client: pg.Client | undefined;
  #stopped = false;
  /** Notices are fetched one after another so each deployment's events are published in order. */
  #queue: Promise<void> = Promise.resolve();

  constructor(options: { connectionString: string; repository: EventRepository; hub: EventHub; nodeId: string; logger: Logger }) {
    this.#connectionString = options.connectionString;
    this.#repository = options.repository;
    this.#hub = options.hub;
    this.#nodeId = options.nodeId;
    this.#logger = options.logger;
  }

  async start(): Promise<void> {
    // Loaded here, not at start-up: a server on SQLite never needs the PostgreSQL client.
    const { default: pgModule } = await import('pg');
    const client = new pgModule.Client({ connectionString: this.#connectionString });
    client.on('notification', (message) => {
      if (message.channel !== EVENTS_CHANNEL || !message.payload) return;
      const notice = JSON.parse(message.payload) as EventNotice;
      if (notice.node === this.#nodeId || this.#hub.subscriberCount(notice.deploymentId) === 0) return;
      this.#queue = this.#queue
        .then(async () => this.#hub.publish(await this.#repository.listRange(notice.deploymentId, notice.from, notice.to)))
        .catch((error: unknown) => this.#logger.warn({ err: error }, 'relaying events failed'));
    });
    const reconnect = (error?: Error) => {
      if (this.#stopped || this.#client !== client) return;
      this.#client = undefined;
      this.#logger.warn({ err: error }, 'event relay connection lost; reconnecting');
      client.end().catch(() => {});
      setTimeout(() => void this.start().catch((startError: unknown) => reconnect(startError as Error)), RECONNECT_DELAY_MS).unref();
    };
    client.on('error', reconnect);
    client.on('end', () => reconnect());
    await client.connect();
    await client.query(`LISTEN ${EVENTS_CHANNEL}`);
    this.#client = client;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => {});
  }
}
