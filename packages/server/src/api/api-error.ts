// The one error type of the API. Rendered by one handler as {"error":{type,message,param?,request_id}}.

export type ErrorType =
  | 'validation_error'
  | 'unauthorized'
  | 'insufficient_credits'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'deployment_not_ready'
  | 'invalid_skill'
  | 'invalid_secret_ref'
  | 'payload_too_large'
  | 'rate_limited'
  | 'server_error';

const STATUS_BY_TYPE: Record<ErrorType, number> = {
  validation_error: 400,
  unauthorized: 401,
  insufficient_credits: 402,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  deployment_not_ready: 409,
  invalid_skill: 422,
  invalid_secret_ref: 422,
  payload_too_large: 413,
  rate_limited: 429,
  server_error: 500,
};

export class ApiError extends Error {
  readonly type: ErrorType;
  readonly status: number;
  readonly param: string | undefined;

  /** `status` overrides the type's usual status where the docs pair them differently (413 validation_error). */
  constructor(type: ErrorType, message: string, param?: string, status?: number) {
    super(message);
    this.name = 'ApiError';
    this.type = type;
    this.status = status ?? STATUS_BY_TYPE[type];
    this.param = param;
  }
}

export function validationError(param: string, message: string): ApiError {
  return new ApiError('validation_error', message, param);
}

export function notFound(what: string, id: string, param?: string): ApiError {
  return new ApiError('not_found', `No ${what} found with id '${id}'.`, param);
}
