// Gives memory back once a burst of work is over. After a load V8 keeps the heap it grew (old-space pages, a
// young generation up to its semi-space cap) until its own memory reducer gets round to it, 8-20 s later and
// not always completely, so a server that served a spike holds that spike's memory while it idles: 300+ MiB
// measured after the bench's loads, against ~110 idle. One memory-reducing collection (V8's "last resort"
// flavour: compacts, shrinks the young generation, unmaps free pages) once the event loop has been quiet for
// a moment brings it back down; it runs at most once per busy period, only when idle, and takes ~50 ms.
import { performance } from 'node:perf_hooks';

type GcFunction = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

export interface IdleMemoryOptions {
  /** V8's gc(), present when Node runs with --expose-gc (./herm serve does); without it nothing is started. */
  gc?: unknown;
  /** How long the event loop must be quiet after busy work before memory is reclaimed. */
  quietMs?: number;
  /**
   * Busy time (the event loop's active milliseconds in samples above busyUtilization) that makes a busy period.
   * A threshold, not any busy sample: sweeping after a collection would otherwise count as work and call for
   * another one.
   */
  minWorkMs?: number;
  /** Event loop utilization above which a sample counts as busy, and below which it counts as quiet. */
  busyUtilization?: number;
  quietUtilization?: number;
  sampleMs?: number;
  onReclaim?: (details: { rssBefore: number; rssAfter: number; durationMs: number }) => void;
}

/** Starts the reclaimer; returns its stop function. */
export function startIdleMemoryReclaimer(options: IdleMemoryOptions = {}): () => void {
  const gc = (options.gc ?? (globalThis as { gc?: unknown }).gc) as GcFunction | undefined;
  if (typeof gc !== 'function') return () => {};
  const sampleMs = options.sampleMs ?? 250;
  const quietMs = options.quietMs ?? 1_000;
  const busy = options.busyUtilization ?? 0.05;
  const quiet = options.quietUtilization ?? 0.02;
  let last = performance.eventLoopUtilization();
  const minWorkMs = options.minWorkMs ?? 1_000;
  let workedMs = 0;
  let quietFor = 0;
  const timer = setInterval(() => {
    const sample = performance.eventLoopUtilization(last);
    last = performance.eventLoopUtilization();
    if (sample.utilization > busy) {
      workedMs += sample.active;
      quietFor = 0;
      return;
    }
    quietFor = sample.utilization < quiet ? quietFor + sampleMs : 0;
    if (workedMs < minWorkMs || quietFor < quietMs) return;
    const rssBefore = process.memoryUsage.rss();
    const started = performance.now();
    gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    options.onReclaim?.({ rssBefore, rssAfter: process.memoryUsage.rss(), durationMs: performance.now() - started });
    workedMs = 0;
    quietFor = 0;
    // The collection itself is not work: measure utilization from after it.
    last = performance.eventLoopUtilization();
  }, sampleMs);
  timer.unref();
  return () => clearInterval(timer);
}
