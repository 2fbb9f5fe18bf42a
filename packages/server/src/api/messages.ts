// POST /v1/deployments/:deployment_id/messages
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { ShuttingDownError } from '../runs/run-manager.ts';
import { IdempotencyClaimLostError } from '../store/idempotency.ts';
import { RunInProgressError, ThreadNotFoundError, type SubmitResult } from '../store/runs.ts';
import { newId } from '../util/ids.ts';
import { ApiError, notFound } from './api-error.ts';
import { describeBudget } from '../usage/usage-repository.ts';
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
        'while a run is in flight on the thread is folded into that run as steering input, unless multitask_strategy ' +
        'says otherwise (enqueue, interrupt, reject: 409 run_in_progress).',
      tags: ['Messages'],
      security: bearerSecurity,
      request: { params: z.strictObject({ deployment_id: idParam('deployment_id', 'dep') }), ...jsonBody(SendMessageBody) },
      responses: {
        202: json(SendMessageResponse, 'The run the message started or joined'),
        ...errorResponses,
        402: { description: 'insufficient_credits: a credit budget of the account or customer is used up (GET /v1/budgets)', content: { 'application/json': { schema: ErrorResponse } } },
        409: { description: 'deployment_not_ready, or run_in_progress (multitask_strategy reject)', content: { 'application/json': { schema: ErrorResponse } } },
      },
    }),
    async (c) => {
      const services = c.get('services');
      const deployment = await loadReadyDeployment(c, c.req.valid('param').deployment_id);
      // A credit budget of the account or customer that ran out refuses new runs (usage/); none set: never.
      const exhausted = await services.usage.exhaustedBudget(deployment);
      if (exhausted) throw new ApiError('insufficient_credits', `No run was started: ${describeBudget(exhausted)}.`);
      const body = c.req.valid('json');
      let threadId = body.thread_id ?? deployment.default_thread_id;
      // thread_id "new": the thread is created in the transaction that posts the message (no thread without it).
      const createThread = threadId === 'new';
      if (createThread) threadId = newId('thread');
      // The thread is checked (one of this deployment's, not deleted) in the transaction that posts the message.
      const response = (run: Pick<SubmitResult['run'], 'id' | 'status'>) => ({ run_id: run.id, deployment_id: deployment.id, thread_id: threadId, status: run.status });
      // Quotas (concurrent_runs, runs_per_minute): checked when the message may start a run. One folded into the
      // thread's active run (fold; reject is refused anyway) starts none; one that interrupts it replaces it.
      if (await services.quotas.limitsRuns(deployment.account_id)) {
        const strategy = body.multitask_strategy ?? 'fold';
        const active = createThread ? undefined : (await services.store.threads.get(deployment.id, threadId))?.active_run_id;
        if (!(active && (strategy === 'fold' || strategy === 'reject'))) {
          await services.quotas.checkRunStart(deployment.account_id, { replacesActiveRun: Boolean(active) && strategy === 'interrupt' });
        }
      }
      // With an Idempotency-Key, the response is recorded in the commit that posts the message: a retry after a
      // crash that cut the answer off gets it, and a claim a retry took over posts nothing (api/idempotency.ts).
      const claim = c.get('idempotencyClaim');
      const idempotency = claim && { ...claim, response: (result: SubmitResult) => ({ statusCode: 202, body: JSON.stringify(response(result.run)) }) };
      const { run } = await services.runs.submit(deployment, threadId, body.content, body.attachments, { createThread, strategy: body.multitask_strategy, ...(idempotency ? { idempotency } : {}) }).catch((error: unknown) => {
        if (error instanceof RunInProgressError) {
          throw new ApiError(
            'run_in_progress',
            `Run ${error.run.id} is ${error.run.status === 'waiting_on_human' ? 'waiting on a human (answer or cancel it first)' : 'running'} on this thread, and multitask_strategy is "reject": the message was not posted.`,
            'multitask_strategy',
          );
        }
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
