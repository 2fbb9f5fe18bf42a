// Shared pieces of the route definitions.
import type { Context } from 'hono';
import type { z } from '@hono/zod-openapi';
import type { DeploymentRecord } from '../store/deployments.ts';
import { ApiError, notFound } from './api-error.ts';
import type { AppEnv } from './app-env.ts';
import { ErrorResponse } from './schemas.ts';

export const errorResponses = {
  400: { description: 'validation_error', content: { 'application/json': { schema: ErrorResponse } } },
  401: { description: 'unauthorized', content: { 'application/json': { schema: ErrorResponse } } },
  403: { description: 'forbidden', content: { 'application/json': { schema: ErrorResponse } } },
  404: { description: 'not_found', content: { 'application/json': { schema: ErrorResponse } } },
  429: {
    description: "rate_limited: the key's request rate, or a quota of the account (param names it: quotas.…); see Quotas and rate limits",
    headers: {
      'Retry-After': { description: 'Seconds to wait before retrying', schema: { type: 'integer' } },
      'RateLimit-Limit': { description: 'The limit that was reached', schema: { type: 'integer' } },
      'RateLimit-Remaining': { description: 'What is left of it: 0', schema: { type: 'integer' } },
      'RateLimit-Reset': { description: 'Seconds until a retry can succeed', schema: { type: 'integer' } },
      'RateLimit-Policy': { description: 'The limit and its window, e.g. 20;w=1;burst=20 (rates over a window only)', schema: { type: 'string' } },
    },
    content: { 'application/json': { schema: ErrorResponse } },
  },
} as const;

export function json<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { 'application/json': { schema } } };
}

export function jsonBody<T extends z.ZodType>(schema: T) {
  return { body: { required: true, content: { 'application/json': { schema } } } };
}

export const bearerSecurity = [{ bearerAuth: [] }];

/** The origin clients reach this server at, for URLs in responses. */
export function publicOrigin(c: Context<AppEnv>): string {
  return c.get('services').config.HERM_PUBLIC_URL?.replace(/\/$/, '') ?? new URL(c.req.url).origin;
}

export async function loadDeployment(c: Context<AppEnv>, deploymentId: string): Promise<DeploymentRecord> {
  const deployment = await c.get('services').store.deployments.get(c.get('apiKey').account_id, deploymentId);
  if (!deployment) throw notFound('deployment', deploymentId, 'deployment_id');
  return deployment;
}

/** A deployment that can do work now; a 409 deployment_not_ready (which the SDK retries) while it provisions. */
export async function loadReadyDeployment(c: Context<AppEnv>, deploymentId: string): Promise<DeploymentRecord> {
  const deployment = await loadDeployment(c, deploymentId);
  if (deployment.status !== 'ready') {
    throw new ApiError(
      'deployment_not_ready',
      deployment.status === 'provisioning'
        ? 'The deployment is still provisioning; retry when its status is ready.'
        : `The deployment failed to provision: ${deployment.status_reason ?? 'unknown reason'}.`,
    );
  }
  return deployment;
}

/** The deployment and one of its threads, or a 404 naming whichever is missing. */
export async function loadThread(c: Context<AppEnv>, deploymentId: string, threadId: string) {
  const deployment = await loadDeployment(c, deploymentId);
  const thread = await c.get('services').store.threads.get(deployment.id, threadId);
  if (!thread) throw notFound('thread', threadId, 'thread_id');
  return { deployment, thread };
}

/** The deployment and one of its runs, or a 404 naming whichever is missing. */
export async function loadRun(c: Context<AppEnv>, deploymentId: string, runId: string) {
  const deployment = await loadDeployment(c, deploymentId);
  const run = await c.get('services').store.runs.get(deployment.id, runId);
  if (!run) throw notFound('run', runId, 'run_id');
  return { deployment, run };
}
