// Follows one deployment's event stream and answers "when did run X produce its first token / finish?",
// whether the event arrived before or after the question was asked.
import { readSse, type ReceivedEvent, type SseReader } from './sse-reader.ts';

interface RunTimes {
  firstTokenAt?: number;
  endedAt?: number;
  status?: string;
  events: number;
  waiters: (() => void)[];
}

export class RunWatcher {
  readonly #runs = new Map<string, RunTimes>();
  #reader: SseReader | undefined;
  eventCount = 0;

  static async open(url: string, key: string): Promise<RunWatcher> {
    const watcher = new RunWatcher();
    watcher.#reader = await readSse(url, key, (event) => watcher.#onEvent(event));
    return watcher;
  }

  #entry(runId: string): RunTimes {
    let entry = this.#runs.get(runId);
    if (!entry) {
      entry = { events: 0, waiters: [] };
      this.#runs.set(runId, entry);
    }
    return entry;
  }

  #onEvent(event: ReceivedEvent): void {
    this.eventCount++;
    const entry = this.#entry(event.data.run_id);
    entry.events++;
    if (event.type === 'token' && entry.firstTokenAt === undefined) entry.firstTokenAt = performance.now();
    if (event.type === 'run_status' && (event.data.status === 'completed' || event.data.status === 'error')) {
      entry.endedAt = performance.now();
      entry.status = event.data.status;
    }
    for (const waiter of entry.waiters.splice(0)) waiter();
  }

  /** Resolves when `predicate` holds for the run's times. */
  async until(runId: string, predicate: (times: RunTimes) => boolean, timeoutMs = 30_000): Promise<RunTimes> {
    const entry = this.#entry(runId);
    const deadline = performance.now() + timeoutMs;
    while (!predicate(entry)) {
      if (performance.now() > deadline) throw new Error(`run ${runId} did not get there in ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        entry.waiters.push(resolve);
        setTimeout(resolve, 1_000).unref();
      });
    }
    return entry;
  }

  firstToken(runId: string): Promise<RunTimes> {
    return this.until(runId, (times) => times.firstTokenAt !== undefined || times.endedAt !== undefined);
  }

  ended(runId: string): Promise<RunTimes> {
    return this.until(runId, (times) => times.endedAt !== undefined);
  }

  close(): void {
    this.#reader?.close();
  }
}
