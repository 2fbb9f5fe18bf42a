// Every error the SDK throws is a HermError. Errors from the API are APIErrors, one class per status,
// built by APIError.generate from the API's single error shape.

/** One invalid field of a `validation_error`. */
export interface FieldError {
  /** The field, such as `system_prompt`, `sandbox.limits.cpus` or the query parameter `limit`. */
  param: string;
  message: string;
}

/** The `error` object of a non-2xx response: `{ "error": { type, message, param?, errors?, request_id } }`. */
export interface ErrorObject {
  /** Machine-readable error code, such as `not_found` or `deployment_not_ready`. */
  type: string;
  message: string;
  /** The request field the error is about, when there is one. */
  param?: string | null;
  /** A `validation_error`'s every invalid field, the first being `param` and `message`. */
  errors?: FieldError[];
  request_id?: string;
}

/** Base class of every error thrown by the SDK. */
export class HermError extends Error {
  override name = 'HermError';
}

/**
 * An error response from the Herm API, or a failure to get one.
 *
 * @example
 * try {
 *   await herm.deployments.get('dep_missing');
 * } catch (error) {
 *   if (error instanceof NotFoundError) console.log(error.type, error.request_id);
 *   else throw error;
 * }
 */
export class APIError extends HermError {
  override name = 'APIError';
  /** HTTP status of the response; undefined when no response was received. */
  readonly status: number | undefined;
  /** Response headers; undefined when no response was received. */
  readonly headers: Headers | undefined;
  /** The `error` object of the response body, when the body had one. */
  readonly error: ErrorObject | undefined;
  /** The error code, such as `validation_error`, `not_found` or `rate_limited`. */
  readonly type: string | undefined;
  /** The request field the error is about, when there is one. */
  readonly param: string | undefined;
  /**
   * Every invalid field of a 400 `validation_error`, in the order the server found them (the first is also
   * `param`); empty for other errors.
   *
   * @example
   * try {
   *   await herm.deployments.create({ name: 'Demo' } as DeploymentCreateParams);
   * } catch (error) {
   *   if (error instanceof BadRequestError) for (const field of error.errors) console.log(field.param, field.message);
   *   // customer_id Missing required parameter: customer_id.
   *   // system_prompt Missing required parameter: system_prompt.
   * }
   */
  readonly errors: FieldError[];
  /** The id of the failed request (from the body, else the `x-request-id` header); quote it in bug reports. */
  readonly request_id: string | undefined;

  constructor(
    status: number | undefined,
    error: ErrorObject | undefined,
    message: string | undefined,
    headers: Headers | undefined,
    options?: { cause?: unknown },
  ) {
    super(APIError.#describe(status, error, message), options);
    this.status = status;
    this.headers = headers;
    this.error = error;
    this.type = error?.type;
    this.param = error?.param ?? undefined;
    this.errors = fieldErrors(error?.errors);
    this.request_id = error?.request_id ?? headers?.get('x-request-id') ?? undefined;
  }

  static #describe(status: number | undefined, error: ErrorObject | undefined, message: string | undefined): string {
    const detail = error ? `${error.type}: ${error.message}` : message;
    if (status !== undefined && detail) return `${status} ${detail}`;
    if (status !== undefined) return `${status} status code (no body)`;
    return detail ?? '(no status code or body)';
  }

  /**
   * Builds the error class that matches an HTTP status from a response body.
   *
   * @example
   * const error = APIError.generate(404, { error: { type: 'not_found', message: 'No deployment.' } }, headers);
   * error instanceof NotFoundError; // true
   */
  static generate(status: number | undefined, body: unknown, headers: Headers | undefined): APIError {
    const error = toErrorObject(body);
    const message = error ? undefined : typeof body === 'string' && body !== '' ? body : undefined;
    if (status === undefined || headers === undefined) return new APIConnectionError({ message });
    const ErrorClass = errorClassForStatus(status);
    return new ErrorClass(status, error, message, headers);
  }
}

function errorClassForStatus(status: number): typeof APIError {
  switch (status) {
    case 400:
      return BadRequestError;
    case 401:
      return AuthenticationError;
    case 403:
      return PermissionDeniedError;
    case 404:
      return NotFoundError;
    case 409:
      return ConflictError;
    case 422:
      return UnprocessableEntityError;
    case 429:
      return RateLimitError;
    default:
      return status >= 500 ? InternalServerError : APIError;
  }
}

function toErrorObject(body: unknown): ErrorObject | undefined {
  if (typeof body !== 'object' || body === null || !('error' in body)) return undefined;
  const error: unknown = body.error;
  if (typeof error !== 'object' || error === null) return undefined;
  const record = error as Record<string, unknown>;
  if (typeof record['type'] !== 'string' || typeof record['message'] !== 'string') return undefined;
  return record as unknown as ErrorObject;
}

/** The well-formed entries of a body's `errors` list (a proxy's or an older server's body may have none). */
function fieldErrors(errors: unknown): FieldError[] {
  if (!Array.isArray(errors)) return [];
  return errors.filter(
    (entry): entry is FieldError =>
      typeof entry === 'object' && entry !== null && typeof (entry as FieldError).param === 'string' && typeof (entry as FieldError).message === 'string',
  );
}

/** 400 `validation_error`: the body or query parameters are invalid; `param` names the field. */
export class BadRequestError extends APIError {
  override name = 'BadRequestError';
}
/** 401 `unauthorized`: the API key is missing, invalid or revoked. */
export class AuthenticationError extends APIError {
  override name = 'AuthenticationError';
}
/** 403 `forbidden`: the API key lacks the required scope. */
export class PermissionDeniedError extends APIError {
  override name = 'PermissionDeniedError';
}
/** 404 `not_found`: the deployment, thread, run or secret does not exist. */
export class NotFoundError extends APIError {
  override name = 'NotFoundError';
}
/** 409, such as `deployment_not_ready` while a deployment is still provisioning. */
export class ConflictError extends APIError {
  override name = 'ConflictError';
}
/** 422 `invalid_skill` or `invalid_secret_ref`. */
export class UnprocessableEntityError extends APIError {
  override name = 'UnprocessableEntityError';
}
/** 429 `rate_limited`: back off and retry (the SDK already did, `maxRetries` times). */
export class RateLimitError extends APIError {
  override name = 'RateLimitError';
}
/** 5xx `server_error`. */
export class InternalServerError extends APIError {
  override name = 'InternalServerError';
}

/** No response was received: connection refused or reset, DNS failure, or the body broke off. */
export class APIConnectionError extends APIError {
  override name = 'APIConnectionError';

  constructor(options: { message?: string | undefined; cause?: unknown } = {}) {
    super(undefined, undefined, options.message ?? 'Connection error.', undefined, { cause: options.cause });
  }
}

/** The request took longer than `timeout` milliseconds. */
export class APIConnectionTimeoutError extends APIConnectionError {
  override name = 'APIConnectionTimeoutError';

  constructor(options: { message?: string | undefined; cause?: unknown } = {}) {
    super({ message: options.message ?? 'Request timed out.', cause: options.cause });
  }
}

/** The request was cancelled through the `signal` the caller passed. */
export class APIUserAbortError extends APIError {
  override name = 'APIUserAbortError';

  constructor(options: { message?: string | undefined; cause?: unknown } = {}) {
    super(undefined, undefined, options.message ?? 'Request was aborted.', undefined, { cause: options.cause });
  }
}
