// The node's one PostgreSQL connection that LISTENs (committed events, revoked keys), kept up for as long as
// the server runs: a lost connection is replaced with backoff (100 ms doubling to 5 s, jittered) however many
// attempts fail, and each new one LISTENs again and tells the consumers, who catch up on what they may have
// missed meanwhile (notifications sent while nobody listened are gone for good).
import type pg from 'pg';
import type { Logger } from 'pino';
import { backoffDelay, type Backoff } from '../util/backoff.ts';

export interface PostgresListenerOptions {
  connectionString: string;
  logger: Logger;
  /** Delays between connection attempts; 100 ms to 5 s by default. */
  backoff?: Backoff | undefined;
  /**
   * How often the connection is checked with a round trip (it repeats the LISTEN), and how long that may take:
   * a connection cut without a reset (a dead peer, a stalled proxy) is noticed within twice this. 5 s by default.
   */
  healthCheckMs?: number | undefined;
}

/** What a consumer is told after each connection: `reconnect` when a previous one was lost. */
export interface ListenerConnected {
  reconnect: boolean;
}

interface Connection {
  client: pg.Client;
  /** Resolves with the cause when the connection is lost, or undefined when stop() ends it. */
  lost: Promise<Error | undefined>;
  markLost: (error: Error | undefined) => void;
}

const DEFAULT_BACKOFF: Backoff = { minMs: 100, maxMs: 5_000 };
const CHANNEL_NAME = /^[a-z_][a-z0-9_]*$/;

/** Shows in pg_stat_activity.application_name (unless DATABASE_URL sets its own). */
export const LISTENER_APPLICATION_NAME = 'herm-listener';

export class PostgresListener {
  readonly #connectionString: string;
  readonly #logger: Logger;
  readonly #backoff: Backoff;
  readonly #healthCheckMs: number;
  readonly #handlers = new Map<string, (payload: string) => void>();
  readonly #connectHandlers: ((connected: ListenerConnected) => void)[] = [];
  #connection: Connection | undefined;
  #supervising: Promise<void> | undefined;
  #stopped = false;
  #wake: (() => void) | undefined;
  #connections = 0;

  constructor(options: PostgresListenerOptions) {
    this.#connectionString = options.connectionString;
    this.#logger = options.logger;
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.#healthCheckMs = options.healthCheckMs ?? 5_000;
  }

  /** Routes the notifications of `channel` to `handler` (before start()). */
  listen(channel: string, handler: (payload: string) => void): void {
    if (!CHANNEL_NAME.test(channel)) throw new Error(`Not a channel name: ${channel}`);
    this.#handlers.set(channel, handler);
  }

  /** Calls `handler` after every connection is made and listening, the first one included. */
  onConnect(handler: (connected: ListenerConnected) => void): void {
    this.#connectHandlers.push(handler);
  }

  /** Connects (rejecting when that first attempt fails), then keeps the connection up until stop(). */
  async start(): Promise<void> {
    const connection = await this.#open(false);
    this.#supervising = this.#supervise(connection);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    this.#connection?.markLost(undefined);
    await this.#supervising;
  }

  /** Whether a connection is up and listening. */
  get connected(): boolean {
    return this.#connection !== undefined;
  }

  /** How many connections were made so far (the first included). */
  get connections(): number {
    return this.#connections;
  }

  get #listenStatement(): string {
    return [...this.#handlers.keys()].map((channel) => `LISTEN ${channel}`).join('; ');
  }

  async #supervise(first: Connection): Promise<void> {
    let connection: Connection | undefined = first;
    let failures = 0;
    while (!this.#stopped) {
      if (!connection) {
        try {
          connection = await this.#open(true);
          this.#logger.info({ attempts: failures + 1 }, 'database listener reconnected');
          failures = 0;
        } catch (error) {
          if (this.#stopped) break;
          if (failures === 0) this.#logger.warn({ err: error }, 'database listener could not reconnect; retrying with backoff');
          else this.#logger.debug({ err: error, failures }, 'database listener reconnect failed');
          await this.#sleep(backoffDelay(failures, this.#backoff));
          failures++;
          continue;
        }
      }
      const cause = await connection.lost;
      this.#connection = undefined;
      await this.#close(connection.client, cause === undefined);
      connection = undefined;
      if (this.#stopped) break;
      this.#logger.warn({ err: cause }, 'database listener connection lost; reconnecting');
      await this.#sleep(backoffDelay(0, this.#backoff));
    }
  }

  async #open(reconnect: boolean): Promise<Connection> {
    // Loaded here, not at start-up: a server on SQLite never needs the PostgreSQL client.
    const { default: pgModule } = await import('pg');
    const client = new pgModule.Client({
      connectionString: this.#connectionString,
      application_name: LISTENER_APPLICATION_NAME,
      keepAlive: true,
      connectionTimeoutMillis: 10_000,
    });
    let markLost!: (error: Error | undefined) => void;
    const lost = new Promise<Error | undefined>((resolve) => (markLost = resolve));
    client.on('error', (error) => markLost(error));
    client.on('end', () => markLost(new Error('the connection ended')));
    client.on('notification', (message) => this.#dispatch(message.channel, message.payload));
    try {
      await client.connect();
      await client.query({ text: this.#listenStatement, query_timeout: 10_000 } as pg.QueryConfig);
    } catch (error) {
      void this.#close(client, false);
      throw error;
    }
    if (this.#stopped) {
      await this.#close(client, true);
      throw new Error('the listener was stopped');
    }
    const connection: Connection = { client, lost, markLost };
    this.#connection = connection;
    this.#connections++;
    this.#watchHealth(connection);
    for (const handler of this.#connectHandlers) {
      try {
        handler({ reconnect });
      } catch (error) {
        this.#logger.error({ err: error }, 'a database listener consumer failed on connect');
      }
    }
    return connection;
  }

  /** Repeats the LISTEN every few seconds: a connection that no longer answers is given up. */
  #watchHealth(connection: Connection): void {
    let checking = false;
    const timer = setInterval(() => {
      if (checking) return;
      checking = true;
      connection.client
        .query({ text: this.#listenStatement, query_timeout: this.#healthCheckMs } as pg.QueryConfig)
        .then(
          () => (checking = false),
          (error: unknown) => connection.markLost(error instanceof Error ? error : new Error(String(error))),
        );
    }, this.#healthCheckMs);
    timer.unref();
    void connection.lost.then(() => clearInterval(timer));
  }

  #dispatch(channel: string, payload: string | undefined): void {
    const handler = this.#handlers.get(channel);
    if (!handler) return;
    try {
      handler(payload ?? '');
    } catch (error) {
      this.#logger.error({ err: error, channel }, 'a database notification handler failed');
    }
  }

  /** Ends a client; one given up on is cut at once, since a graceful end could wait on a dead peer. */
  async #close(client: pg.Client, graceful: boolean): Promise<void> {
    const ended = client.end().catch(() => {});
    if (graceful) await ended;
    else (client as unknown as { connection?: { stream?: { destroy?: () => void } } }).connection?.stream?.destroy?.();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }
}
