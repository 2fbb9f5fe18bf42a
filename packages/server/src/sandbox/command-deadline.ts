// The timeout and cancellation of one sandboxed command, the same for every backend: either one calls `kill`
// and is remembered, so the backend can report timed_out or rethrow the abort once the command has ended.

export interface CommandDeadline {
  readonly timedOut: boolean;
  readonly aborted: boolean;
  /** Stops the timer and the abort listener; call when the command has ended. */
  dispose(): void;
}

export function watchCommand(options: { timeoutMs: number; signal?: AbortSignal | undefined; kill: () => void }): CommandDeadline {
  let timedOut = false;
  let aborted = false;
  const timer = setTimeout(
    () => {
      timedOut = true;
      options.kill();
    },
    // setTimeout fires at once for delays beyond 2^31 - 1 ms (about 24.8 days).
    Math.min(options.timeoutMs, 2 ** 31 - 1),
  );
  const onAbort = (): void => {
    aborted = true;
    options.kill();
  };
  // Aborted while the backend was still getting the command ready: killed as soon as it exists.
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });
  return {
    get timedOut() {
      return timedOut;
    },
    get aborted() {
      return aborted;
    },
    dispose() {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    },
  };
}
