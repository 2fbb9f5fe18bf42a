// The scheduler worker of one node: it sleeps until the earliest due time of any automation (read from the store,
// so every node wakes for it and the store's claim picks one), fires what is due, and sleeps again. A safety poll
// (HERM_AUTOMATIONS_POLL_MS) bounds every sleep, for schedules changed on other nodes. At start it fires at once
// what came due while the server was down, each automation once.
import type { Logger } from 'pino';
import type { AutomationService } from './automation-service.ts';

export interface AutomationSchedulerOptions {
  service: AutomationService;
  /** The longest sleep between two looks at the store. */
  pollMs: number;
  logger: Logger;
}

/** Passes of fireDue in one tick at most (each fires up to 25): a backlog beyond goes on at the next tick. */
const MAX_PASSES = 40;

export class AutomationScheduler {
  readonly #options: AutomationSchedulerOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> | undefined;
  /** The tick asked for while one is at work. */
  #next: Promise<number> | undefined;
  #stopped = true;

  constructor(options: AutomationSchedulerOptions) {
    this.#options = options;
    options.service.onScheduleChange(() => this.wake());
  }

  start(): void {
    this.#stopped = false;
    this.wake();
  }

  /** Looks at the store now (after a schedule changed, or a clock moved in a test) and re-arms the timer. */
  wake(): void {
    if (this.#stopped) return;
    void this.tick().catch(() => {});
  }

  /**
   * Fires what is due now and arms the timer for the next due time; resolves with how many automations this node
   * fired or skipped. Ticks never overlap: one asked for while another is at work runs right after it (one for all
   * the callers meanwhile), so a change made during a tick is always looked at.
   */
  tick(): Promise<number> {
    if (!this.#running) return this.#start();
    this.#next ??= this.#running.then(() => {
      this.#next = undefined;
      return this.#start();
    });
    return this.#next;
  }

  #start(): Promise<number> {
    const run = this.#pass().finally(() => {
      if (this.#running === run) this.#running = undefined;
    });
    this.#running = run;
    return run;
  }

  async #pass(): Promise<number> {
    let handled = 0;
    try {
      for (let pass = 0; pass < MAX_PASSES && !this.#stopped; pass++) {
        const fired = await this.#options.service.fireDue();
        handled += fired;
        if (fired === 0) break;
      }
    } catch (error) {
      this.#options.logger.warn({ err: error }, 'automation scheduling failed; retrying at the next poll');
    }
    await this.#arm(handled);
    return handled;
  }

  async #arm(handled: number): Promise<void> {
    if (this.#stopped) return;
    let delay = this.#options.pollMs;
    try {
      const next = await this.#options.service.nextDueAt();
      // A few milliseconds late rather than early: a timer that fires before the due time finds nothing due. One
      // still due after a tick that fired nothing (its commit keeps failing) is retried after a second, not at once.
      const wait = next === null ? delay : next - this.#options.service.clock.now() + 5;
      delay = Math.min(delay, wait > 5 || handled > 0 ? Math.max(0, wait) : 1_000);
    } catch (error) {
      this.#options.logger.warn({ err: error }, 'could not read the next automation due time');
    }
    if (this.#stopped) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.wake(), delay);
    this.#timer.unref();
  }

  /** Stops scheduling; a tick at work finishes (its firings are committed or not, never half). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running?.catch(() => {});
    await this.#next?.catch(() => {});
  }
}
