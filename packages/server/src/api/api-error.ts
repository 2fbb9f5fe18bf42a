// The one error type of the API. Rendered by one handler as {"error":{type,message,param?,errors?,request_id}}.

/** One bad field of a validation error: every one is listed in `errors`, the first also in `param`/`message`. */
export interface FieldError {
  param: string;
  message: string;
}

export type ErrorType =
  | 'validation_error'
  | 'unauthorized'
  | 'insufficient_credits'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'conflict'
  | 'run_in_progress'
  | 'deployment_not_ready'
  | 'invalid_skill'
  | 'invalid_secret_ref'
  | 'payload_too_large'
  | 'rate_limited'
  | 'server_error';

/** Every error type with its status and meaning: the error table of /v1/docs and the README. */
export const ERROR_TYPES: Record<ErrorType, { status: number; meaning: string }> = {
  validation_error: { status: 400, meaning: 'The request body or parameters are invalid: param names the first bad field, errors lists them all' },
  unauthorized: { status: 401, meaning: 'The API key is missing, invalid, or revoked' },
  insufficient_credits: { status: 402, meaning: 'Not enough credits to run the requested operation' },
  forbidden: { status: 403, meaning: 'The API key does not have the required scope' },
  not_found: { status: 404, meaning: 'The requested deployment, thread, run, secret, snapshot, skill or file (or route) does not exist' },
  method_not_allowed: { status: 405, meaning: 'The path exists but does not take this method; the Allow header lists the ones it takes' },
  conflict: { status: 409, meaning: 'The request conflicts with the current state (an Idempotency-Key still at work, a secret still in use)' },
  run_in_progress: {
    status: 409,
    meaning:
      'A message with multitask_strategy "reject" was sent while a run is active on the thread (running or waiting_on_human); or a dream, or its rollback, was asked for while a run is active on the deployment',
  },
  deployment_not_ready: { status: 409, meaning: 'The deployment is still provisioning (retry after retry-after), or failed to' },
  payload_too_large: { status: 413, meaning: 'The request body is larger than the server accepts' },
  invalid_skill: { status: 422, meaning: 'A skill file could not be fetched or parsed' },
  invalid_secret_ref: { status: 422, meaning: 'A secret reference does not exist or is not accessible' },
  rate_limited: { status: 429, meaning: 'Too many requests, or a rate quota of the account reached (param names it): retry after Retry-After' },
  server_error: { status: 500, meaning: 'An unexpected error occurred on the server (503 while it shuts down)' },
};

export class ApiError extends Error {
  readonly type: ErrorType;
  readonly status: number;
  readonly param: string | undefined;
  /** Every bad field of a validation error, the first being `param`/`message`; set by fromZodError. */
  errors: FieldError[] | undefined;
  /** The methods the path takes, for a 405 method_not_allowed (its Allow header). */
  allow: string[] | undefined;
  /** Response headers of the error (a 429's Retry-After and RateLimit-*); set, they replace the usual retry-after. */
  headers: Record<string, string> | undefined;

  /** `status` overrides the type's usual status where the docs pair them differently (413 validation_error). */
  constructor(type: ErrorType, message: string, param?: string, status?: number) {
    super(message);
    this.name = 'ApiError';
    this.type = type;
    this.status = status ?? ERROR_TYPES[type].status;
    this.param = param;
    this.errors = undefined;
    this.allow = undefined;
    this.headers = undefined;
  }
}

export function validationError(param: string, message: string): ApiError {
  return new ApiError('validation_error', message, param);
}

/** A validation error naming every bad field at once; the first is its `param` and `message`. */
export function validationErrors(errors: [FieldError, ...FieldError[]]): ApiError {
  const error = validationError(errors[0].param, errors[0].message);
  error.errors = errors;
  return error;
}

export function notFound(what: string, id: string, param?: string): ApiError {
  return new ApiError('not_found', `No ${what} found with id '${id}'.`, param);
}

/** 405: the path exists but not with this method; `allow` lists the methods it takes (the Allow header). */
export function methodNotAllowed(method: string, path: string, allow: string[]): ApiError {
  const error = new ApiError('method_not_allowed', `${method} is not allowed on ${path}: use ${allow.join(', ')}.`);
  error.allow = allow;
  return error;
}
