// The last line of defence of `herm serve`: what happens to an error no code of ours was waiting for.
//
// - A promise rejection nobody handled (unhandledRejection) is logged and the server keeps serving. Such a
//   promise is a background job (a sweep, a cache, a notification) whose failure nobody awaited: the operation is
//   over, and what it left is exactly what it would have left had its caller caught and ignored the error. Requests
//   and runs handle their own errors. Node's default (exit) would end every tenant's runs for one failed job.
// - An exception nobody caught (uncaughtException) was thrown out of a callback (a timer, an event handler),
//   possibly half-way through changing shared state: the runs in flight, a lease, a pool. Node's documentation says
//   it is not safe to carry on then, so the error is logged at fatal, the log flushed, and the process exits 1 at
//   once, without a graceful close that would run on that state. Nothing is lost by it: runs commit each step, and
//   the next start (SQLite) or another node once the lease expires (PostgreSQL) resumes them. One class is known
//   to be safe and only logged: a network error of a single connection (ECONNRESET, EPIPE… from a socket's read,
//   write or connect) reaching here from a socket that had no error listener; that socket is dead and nothing else
//   was touched.
import type { Logger } from 'pino';
import { failpointEnabled } from './failpoints.ts';

/** Network errors of one connection: safe to log and serve on (see above). */
const CONNECTION_ERROR_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);
const CONNECTION_SYSCALLS = new Set(['read', 'write', 'writev', 'connect']);

export interface ProcessHandlerOptions {
  logger: Logger;
  /** How the process ends after an uncaught exception; default process.exit. */
  exit?: (code: number) => void;
}

/** True for the errors an uncaught exception may be and leave the server serving (see above). */
export function isKnownSafeError(error: unknown): boolean {
  const { code, syscall } = (error ?? {}) as { code?: unknown; syscall?: unknown };
  return typeof code === 'string' && CONNECTION_ERROR_CODES.has(code) && typeof syscall === 'string' && CONNECTION_SYSCALLS.has(syscall);
}

/** Installs the handlers; returns a function that removes them again. */
export function installProcessHandlers(options: ProcessHandlerOptions): () => void {
  const { logger } = options;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const onRejection = (reason: unknown) => {
    logger.error({ err: reason }, 'unhandled promise rejection (logged; the server keeps serving)');
  };
  const onException = (error: unknown, origin: string) => {
    if (isKnownSafeError(error)) {
      logger.error({ err: error, origin }, 'uncaught connection error (logged; the server keeps serving)');
      return;
    }
    try {
      logger.fatal({ err: error, origin }, 'uncaught exception: exiting, the server state may be inconsistent (runs resume on restart or on another node)');
      logger.flush();
    } finally {
      exit(1);
    }
  };
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return () => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  };
}

/**
 * The faults HERM_FAILPOINTS asks a serving process to inject into itself (process.unhandled_rejection,
 * process.uncaught_exception), shortly after it started listening: tests prove the handlers with them.
 */
export function injectProcessFaults(): void {
  if (failpointEnabled('process.unhandled_rejection')) {
    setTimeout(() => {
      void Promise.reject(new Error('failpoint process.unhandled_rejection: a background promise failed'));
    }, 50);
  }
  if (failpointEnabled('process.uncaught_exception')) {
    setTimeout(() => {
      throw new Error('failpoint process.uncaught_exception: a callback threw');
    }, 50);
  }
}
