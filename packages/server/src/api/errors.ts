// Rendering of every failure as {"error":{type,message,param?,errors?,request_id}}; zod issues name every bad field.
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ZodError } from 'zod';
import { ApiError, validationError, validationErrors, type FieldError } from './api-error.ts';
import type { AppEnv } from './app-env.ts';
import { QuotaExceededError } from '../quotas/quota-service.ts';
import { quotaApiError } from './rate-limit.ts';

export function paramOf(path: ReadonlyArray<PropertyKey>): string {
  return path.map(String).join('.');
}

export function fromZodError(error: ZodError, prefix?: string): ApiError {
  // An unknown key usually explains the other issues (a typo for a required field), so it is named first.
  const issues = [...error.issues.filter((issue) => issue.code === 'unrecognized_keys'), ...error.issues.filter((issue) => issue.code !== 'unrecognized_keys')];
  const fields: FieldError[] = [];
  const seen = new Set<string>();
  const add = (field: FieldError) => {
    if (seen.has(field.param)) return;
    seen.add(field.param);
    fields.push(field);
  };
  for (const issue of issues) {
    const path = prefix ? [prefix, ...issue.path] : [...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) add({ param: paramOf([...path, key]), message: `Unknown parameter: ${paramOf([...path, key])}.` });
      continue;
    }
    const param = path.length > 0 ? paramOf(path) : 'body';
    let message = issue.message;
    // Zod 4 leaves the input out of issues; its message says what was received.
    if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) message = `Missing required parameter: ${param}.`;
    else message = `Invalid ${param}: ${message}`;
    add({ param, message: message.endsWith('.') ? message : `${message}.` });
  }
  const [first, ...rest] = fields;
  if (!first) return validationError(prefix ?? 'body', 'Invalid request.');
  return validationErrors([first, ...rest]);
}

export function renderError(error: unknown, c: Context<AppEnv>): Response {
  const requestId = c.get('requestId') ?? 'req_unknown';
  let apiError: ApiError;
  if (error instanceof ApiError) apiError = error;
  else if (error instanceof QuotaExceededError) apiError = quotaApiError(error);
  else if (error instanceof HTTPException) {
    if (error.status === 400) apiError = validationError('body', error.message || 'Malformed request.');
    else if (error.status === 413) apiError = new ApiError('payload_too_large', 'Request body is too large.');
    else apiError = new ApiError('server_error', error.message);
  } else {
    c.get('services')?.logger.error({ err: error, requestId }, 'unhandled error');
    apiError = new ApiError('server_error', 'An unexpected error occurred on the server.');
  }
  const body: { error: { type: string; message: string; param?: string; errors?: FieldError[]; request_id: string } } = {
    error: { type: apiError.type, message: apiError.message, request_id: requestId },
  };
  if (apiError.param !== undefined) body.error.param = apiError.param;
  // A validation error lists every bad field (just the one, for most); the first is also `param`/`message`.
  if (apiError.type === 'validation_error' && apiError.param !== undefined) {
    body.error.errors = apiError.errors ?? [{ param: apiError.param, message: apiError.message }];
  }
  if (apiError.type === 'method_not_allowed' && apiError.allow) c.header('allow', apiError.allow.join(', '));
  // Provisioning takes seconds: tell clients (the SDK retries 409 deployment_not_ready) when to come back.
  if ((apiError.type === 'deployment_not_ready' || apiError.type === 'conflict') && !apiError.headers) c.header('retry-after', '1');
  for (const [name, value] of Object.entries(apiError.headers ?? {})) c.header(name, value);
  return c.json(body, apiError.status as 400);
}
