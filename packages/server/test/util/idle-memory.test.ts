// The idle reclaimer runs one memory-reducing collection after each busy period, once the event loop is quiet.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { startIdleMemoryReclaimer } from '../../src/util/idle-memory.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Keeps the event loop busy for `ms`, in slices so the reclaimer's timer can sample it. */
async function busyFor(ms: number, allocate = false): Promise<void> {
  const until = performance.now() + ms;
  let garbage: unknown[] = [];
  while (performance.now() < until) {
    const sliceEnd = performance.now() + 20;
    while (performance.now() < sliceEnd) if (allocate) garbage.push({ text: `x${garbage.length}`, list: [garbage.length] });
    if (garbage.length > 200_000) garbage = [];
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('startIdleMemoryReclaimer', () => {
  it('collects once after each busy period, only when quiet, and never without work', async () => {
    const calls: unknown[] = [];
    const stop = startIdleMemoryReclaimer({ gc: (options: unknown) => calls.push(options), sampleMs: 50, quietMs: 200, minWorkMs: 200 });
    try {
      await sleep(600);
      expect(calls).toHaveLength(0); // quiet from the start: nothing to give back
      await busyFor(400);
      expect(calls).toHaveLength(0); // not while busy
      await sleep(700);
      expect(calls).toEqual([{ type: 'major', execution: 'sync', flavor: 'last-resort' }]);
      await sleep(600);
      expect(calls).toHaveLength(1); // still quiet, and its own collection is not work
      await busyFor(100);
      await sleep(700);
      expect(calls).toHaveLength(1); // too little work to count as a busy period
      await busyFor(300);
      await sleep(700);
      expect(calls).toHaveLength(2);
    } finally {
      stop();
    }
  });

  it('does nothing without V8 gc exposed', () => {
    expect(typeof (globalThis as { gc?: unknown }).gc).toBe('undefined');
    const stop = startIdleMemoryReclaimer();
    stop();
  });

  it("shrinks V8's heap after a load with the real collector", async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    const reclaimed: { rssBefore: number; rssAfter: number }[] = [];
    let heapBefore = 0;
    const stop = startIdleMemoryReclaimer({
      gc: (options: unknown) => {
        heapBefore = process.memoryUsage().heapTotal;
        (gc as (options: unknown) => void)(options);
      },
      sampleMs: 50,
      quietMs: 200,
      minWorkMs: 200,
      onReclaim: (details) => reclaimed.push(details),
    });
    try {
      await busyFor(600, true);
      await sleep(800);
      expect(reclaimed).toHaveLength(1);
      expect(process.memoryUsage().heapTotal).toBeLessThan(heapBefore * 0.8);
    } finally {
      stop();
    }
  });
});
