// A bound on how long to wait for something that may never answer (a query on a connection whose peer vanished
// without a reset). The work itself is not cancelled: its late result is ignored.

export class TimeoutError extends Error {}

export async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TimeoutError(`${what} took over ${ms} ms`)), ms);
        timer.unref();
      }),
    ]);
  } finally {
    clearTimeout(timer);
    // A late failure must not surface as an unhandled rejection.
    work.catch(() => {});
  }
}
