// Makes a revoked key stop working at once on this node: its cached lookup is dropped and the SSE streams opened
// with it are ended. On PostgreSQL the revoking statement announces the key on KEYS_CHANNEL (whichever process
// ran it, a node or `herm keys revoke`) and the node's listener hears it; after the listener reconnects, when
// announcements may have been missed, every cached key is dropped and the open streams' keys are checked in the
// store. On SQLite the revocation may come from another process (the CLI), so the keys table is polled.
// Should all of that fail, a cached key is trusted for KEY_CACHE_TTL_MS at most.
import type { Logger } from 'pino';
import type { EventHub } from '../events/event-hub.ts';
import type { PostgresListener } from '../events/postgres-listener.ts';
import { KEYS_CHANNEL, type AccountRepository } from '../store/accounts.ts';
import type { KeyVerifier } from './auth.ts';

/** How often SQLite's keys table is checked for revocations. */
const POLL_MS = 500;
const KEY_ID = /^key_[A-Za-z0-9]{1,64}$/;

export interface KeyRevocationsOptions {
  accounts: AccountRepository;
  verifier: KeyVerifier;
  hub: EventHub;
  logger: Logger;
  /** PostgreSQL: the node's listener. Without one the keys table is polled. */
  listener?: PostgresListener | undefined;
  pollMs?: number | undefined;
}

export class KeyRevocations {
  readonly #accounts: AccountRepository;
  readonly #verifier: KeyVerifier;
  readonly #hub: EventHub;
  readonly #logger: Logger;
  readonly #listener: PostgresListener | undefined;
  readonly #pollMs: number;
  #timer: NodeJS.Timeout | undefined;
  #mark: string | undefined;
  #polling = false;
  #pollFailed = false;

  constructor(options: KeyRevocationsOptions) {
    this.#accounts = options.accounts;
    this.#verifier = options.verifier;
    this.#hub = options.hub;
    this.#logger = options.logger;
    this.#listener = options.listener;
    this.#pollMs = options.pollMs ?? POLL_MS;
    this.#listener?.listen(KEYS_CHANNEL, (payload) => {
      if (KEY_ID.test(payload)) this.revoked(payload);
      else this.#logger.warn({ channel: KEYS_CHANNEL, payload: payload.slice(0, 200) }, 'skipped a malformed key revocation notice');
    });
    this.#listener?.onConnect(({ reconnect }) => {
      if (reconnect) void this.recheck();
    });
  }

  /** Starts polling when there is no listener (SQLite); the listener's own start is its owner's. */
  async start(): Promise<void> {
    if (this.#listener) return;
    this.#mark = await this.#accounts.revocationMark();
    this.#timer = setInterval(() => void this.#poll(), this.#pollMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One key was revoked: its next use is looked up, and its streams end. */
  revoked(keyId: string): void {
    this.#verifier.forgetKey(keyId);
    const ended = this.#hub.endKey(keyId);
    this.#logger.info({ keyId, streamsEnded: ended }, 'API key revoked');
  }

  /** Revocations may have been missed: every cached key is dropped and the open streams' keys are checked. */
  async recheck(): Promise<void> {
    this.#verifier.forget();
    try {
      for (const keyId of await this.#accounts.inactiveKeys([...this.#hub.keyIds()])) this.revoked(keyId);
    } catch (error) {
      this.#logger.warn({ err: error }, "checking the open streams' keys failed");
    }
  }

  async #poll(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      const mark = await this.#accounts.revocationMark();
      if (this.#pollFailed) this.#logger.info('checking for revoked keys works again');
      this.#pollFailed = false;
      if (mark === this.#mark) return;
      this.#mark = mark;
      await this.recheck();
    } catch (error) {
      if (!this.#pollFailed) this.#logger.warn({ err: error }, 'checking for revoked keys failed; retrying');
      this.#pollFailed = true;
    } finally {
      this.#polling = false;
    }
  }
}
