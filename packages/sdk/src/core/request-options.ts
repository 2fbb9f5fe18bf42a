/**
 * Options accepted by every SDK method as its last argument; they override the client's settings for
 * one call.
 *
 * @example
 * await herm.deployments.get('dep_7xK9s2', { timeout: 5_000, maxRetries: 0 });
 */
export interface RequestOptions {
  /** Cancels the request (and any retry wait); the call rejects with APIUserAbortError. */
  signal?: AbortSignal | undefined;
  /** Milliseconds one attempt may take before it fails with APIConnectionTimeoutError. */
  timeout?: number | undefined;
  /** How many times to retry a connection error, 408, 409 deployment_not_ready, 429 or 5xx. */
  maxRetries?: number | undefined;
  /** Extra HTTP headers for this request. */
  headers?: Record<string, string> | undefined;
  /**
   * Sent as `Idempotency-Key` on POST requests; one is generated per call when omitted, and the same
   * key is sent on every retry of that call.
   */
  idempotencyKey?: string | undefined;
}

export type HTTPMethod = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

/** Query values; undefined and null are left out, the rest are stringified. */
export type QueryParams = Record<string, string | number | boolean | null | undefined>;

/** One logical request as the resources describe it to the client. */
export interface FinalRequestOptions extends RequestOptions {
  method: HTTPMethod;
  /** Path relative to the base URL, starting with `/`. */
  path: string;
  query?: QueryParams | undefined;
  /** Serialized as JSON. */
  body?: unknown;
  /**
   * Sent as it is instead of `body`: the bytes of a file upload. Give its Content-Type in `headers`; a
   * string goes out as UTF-8. Strings, Uint8Arrays and Blobs can be sent again, so retries still work.
   */
  rawBody?: string | Uint8Array | Blob | undefined;
}
