// The SDK retries connection errors with backoff (twice, about 1.5 s and more): right for a server that restarts
// under a running program, wrong for a command typed at a server that is not running, which should say so at once.
import { APIConnectionError, type Fetch } from 'herm';

/** Errors that mean nothing listens at the address, or the address does not exist. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * A fetch for the CLI's client: until the server has answered once, a refused connection (or an unknown host) is an
 * `APIConnectionError` at once, which the SDK does not retry (it rethrows Herm errors from fetch). After an answer,
 * failures go to the SDK's retries as usual: the server is there, and may be restarting.
 */
export function failFastFetch(inner: Fetch = (input, init) => fetch(input, init)): Fetch {
  let answered = false;
  return async (input, init) => {
    try {
      const response = await inner(input, init);
      answered = true;
      return response;
    } catch (error) {
      const code = unreachableCode(error);
      if (answered || code === undefined) throw error;
      throw new APIConnectionError({ message: `Connection error: ${code}`, cause: error });
    }
  };
}

/** The code of an unreachable-server error anywhere in the cause chain (undici puts it in `cause`). */
function unreachableCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && UNREACHABLE_CODES.has(code)) return code;
    // AggregateError: one per address tried (IPv4 and IPv6 of localhost).
    const errors = (current as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.length > 0 && errors.every((inner) => UNREACHABLE_CODES.has((inner as { code?: string }).code ?? ''))) {
      return (errors[0] as { code: string }).code;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
