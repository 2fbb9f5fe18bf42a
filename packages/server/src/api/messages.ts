// POST /v1/deployments/:deployment_id/messages
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { ShuttingDownError } from '../runs/run-manager.ts';
import { IdempotencyClaimLostError } from '../store/idempotency.ts';
import { ThreadNotFoundError, type SubmitResult } from '../store/runs.ts';
import { newId } from '../util/ids.ts';
import { ApiError, notFound } from './api-error.ts';
import type { AppEnv } from './app-env.ts';
import { bearerSecurity, errorResponses, json, jsonBody, loadReadyDeployment } from './route-helpers.ts';
import { ErrorResponse, idParam, SendMessageBody, SendMessageResponse } from './schemas.ts';

export function messageRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();
  app.openapi(
    createRoute({
      method: 'post',
      path: '/deployments/{deployment_id}/messages',
      summary: 'Send a message',
      description:
        'Starts a run on the thread and returns at once; the run streams over the events endpoint. A message sent ' +
        'while a run is in flight on the thread is folded into that run as steering input.',
      tags: ['Messages'],
      security: bearerSecurity,
      request: { params: z.strictObject({ deployment_id: idParam('deployment_id', 'dep') }), ...jsonBody(SendMessageBody) },
      responses: {
        202: json(SendMessageResponse, 'The run the message started or joined'),
        ...errorResponses,
        409: { description: 'deployment_not_ready', content: { 'application/json': { schema: ErrorResponse } } },
      },
    }),
    async (c) => {
      const services = c.get('services');
      const deployment = await loadReadyDeployment(c, c.req.valid('param').deployment_id);
      const body = c.req.valid('json');
      let threadId = body.thread_id ?? deployment.default_thread_id;
      // thread_id "new": the thread is created in the transaction that posts the message (no thread without it).
      const createThread = threadId === 'new';
      if (createThread) threadId = newId('thread');
      // The thread is checked (one of this deployment's, not deleted) in the transaction that posts the message.
      const response = (run: Pick<SubmitResult['run'], 'id' | 'status'>) => ({ run_id: run.id, deployment_id: deployment.id, thread_id: threadId, status: run.status });
      // With an Idempotency-Key, the response is recorded in the commit that posts the message: a retry after a
      // crash that cut the answer off gets it, and a claim a retry took over posts nothing (api/idempotency.ts).
      const claim = c.get('idempotencyClaim');
      const idempotency = claim && { ...claim, response: (result: SubmitResult) => ({ statusCode: 202, body: JSON.stringify(response(result.run)) }) };
      const { run } = await services.runs.submit(deployment, threadId, body.content, body.attachments, { createThread, ...(idempotency ? { idempotency } : {}) }).catch((error: unknown) => {
        if (error instanceof IdempotencyClaimLostError) {
          throw new ApiError('conflict', 'A retry of this request with the same Idempotency-Key took it over; its answer is the one that counts.', 'Idempotency-Key');
        }
        if (error instanceof ShuttingDownError) {
          // Draining for a graceful shutdown: another node, or this one restarted, takes the message.
          c.header('retry-after', '1');
          throw new ApiError('server_error', error.message, undefined, 503);
        }
        throw error instanceof ThreadNotFoundError ? notFound('thread', threadId, 'thread_id') : error;
      });
      return c.json(response(run), 202);
    },
  );
  return app;
}
