// The `herm` package: `import Herm from 'herm'`, plus the error classes and every request and response type.
export { Herm as default, Herm, DEFAULT_BASE_URL, type BinaryResponse, type ClientOptions, type Fetch } from './client.ts';
export {
  HermError,
  APIError,
  APIConnectionError,
  APIConnectionTimeoutError,
  APIUserAbortError,
  BadRequestError,
  AuthenticationError,
  PermissionDeniedError,
  NotFoundError,
  ConflictError,
  UnprocessableEntityError,
  RateLimitError,
  InternalServerError,
  type ErrorObject,
  type FieldError,
} from './core/error.ts';
export { CursorPage, PagePromise, type CursorPageResponse } from './core/pagination.ts';
export { EventStream } from './core/streaming.ts';
export type { RequestOptions } from './core/request-options.ts';
export * from './resources/index.ts';
export { VERSION, API_VERSION } from './version.ts';
