// This node's dream worker: every HERM_DREAM_POLL_MS it records the ends of dreams whose node stopped before it
// could, and starts the dreams of deployments idle long enough (the store's claim picks one node for each). Passes
// never overlap: one asked for while another is at work runs right after it.
import type { Logger } from 'pino';
import type { DreamService } from './dream-service.ts';

export class DreamScheduler {
  readonly #service: DreamService;
  readonly #pollMs: number;
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> | undefined;
  #next: Promise<number> | undefined;
  #stopped = true;

  constructor(options: { service: DreamService; pollMs: number; logger: Logger }) {
    this.#service = options.service;
    this.#pollMs = options.pollMs;
    this.#logger = options.logger;
  }

  start(): void {
    this.#stopped = false;
    this.#timer = setInterval(() => void this.tick().catch(() => {}), this.#pollMs);
    this.#timer.unref();
    void this.tick().catch(() => {});
  }

  /** One pass now (tests call it after moving the clock); resolves with how many dreams it started. */
  tick(): Promise<number> {
    if (!this.#running) return this.#begin();
    this.#next ??= this.#running.then(() => {
      this.#next = undefined;
      return this.#begin();
    });
    return this.#next;
  }

  #begin(): Promise<number> {
    const pass = this.#pass().finally(() => {
      if (this.#running === pass) this.#running = undefined;
    });
    this.#running = pass;
    return pass;
  }

  async #pass(): Promise<number> {
    if (this.#stopped) return 0;
    // Each on its own: dreams whose end cannot be recorded now never keep others from starting.
    await this.#service.finishOrphans().catch((error: unknown) => this.#logger.warn({ err: error }, 'could not look for dreams to finish; retrying at the next poll'));
    try {
      return await this.#service.dreamDue();
    } catch (error) {
      this.#logger.warn({ err: error }, 'dream scheduling failed; retrying at the next poll');
      return 0;
    }
  }

  /** Stops; a pass at work finishes. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#running?.catch(() => {});
    await this.#next?.catch(() => {});
  }
}
