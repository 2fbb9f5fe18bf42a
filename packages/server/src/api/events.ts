// GET /v1/deployments/:deployment_id/events — the SSE stream.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { parseEventId, formatEventId } from '../events/event-id.ts';
import { openEventStream } from '../events/sse-stream.ts';
import { ApiError, notFound, validationError } from './api-error.ts';
import type { AppEnv } from './app-env.ts';
import { bearerSecurity, errorResponses, loadDeployment } from './route-helpers.ts';
import { releaseOnEnd } from './rate-limit.ts';
import { idParam } from './schemas.ts';

export function eventRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();
  app.openapi(
    createRoute({
      method: 'get',
      path: '/deployments/{deployment_id}/events',
      summary: 'Stream events (SSE)',
      description:
        'Server-Sent Events: token, tool_call, tool_result, steering_request, steering_resolved, run_status, filesystem. Each event has ' +
        'an id; reconnect with Last-Event-ID (header, or the last_event_id query parameter) to replay everything after ' +
        'it. The herm-stream-position response header is the id the stream starts after. A ": ping" comment is sent ' +
        'while idle.',
      tags: ['Events'],
      security: bearerSecurity,
      request: {
        params: z.strictObject({ deployment_id: idParam('deployment_id', 'dep') }),
        query: z.strictObject({
          thread_id: z.string().regex(/^thr_[A-Za-z0-9_]{1,64}$/, 'must be a thread id (thr_…)').optional(),
          run_id: z.string().regex(/^run_[A-Za-z0-9_]{1,64}$/, 'must be a run id (run_…)').optional(),
          last_event_id: z.string().max(64).optional(),
        }),
        headers: z.object({ 'last-event-id': z.string().max(64).optional() }),
      },
      responses: {
        200: { description: 'An event stream', content: { 'text/event-stream': { schema: z.string() } } },
        ...errorResponses,
      },
    }),
    async (c) => {
      const services = c.get('services');
      const deployment = await loadDeployment(c, c.req.valid('param').deployment_id);
      const query = c.req.valid('query');
      const lastEventId = c.req.valid('header')['last-event-id'] ?? query.last_event_id;
      let afterSeq: number | undefined;
      if (lastEventId !== undefined && lastEventId !== '') {
        afterSeq = parseEventId(deployment.id, lastEventId.trim());
        if (afterSeq === undefined || afterSeq > deployment.event_seq) {
          throw validationError('Last-Event-ID', `Unknown Last-Event-ID "${lastEventId}": it is not an event of this deployment.`);
        }
      }
      if (query.thread_id && !(await services.store.threads.get(deployment.id, query.thread_id))) {
        throw notFound('thread', query.thread_id, 'thread_id');
      }
      if (query.run_id && !(await services.store.runs.get(deployment.id, query.run_id))) {
        throw notFound('run', query.run_id, 'run_id');
      }
      const keyId = c.get('apiKey').id;
      // sse_streams: counted while open on this node (nothing while the account has no such quota).
      const release = await services.quotas.openStream(deployment.account_id);
      let stream: Awaited<ReturnType<typeof openEventStream>>;
      try {
        stream = await openEventStream({
          repository: services.store.events,
          hub: services.hub,
          deploymentId: deployment.id,
          afterSeq,
          filter: { threadId: query.thread_id, runId: query.run_id },
          heartbeatMs: services.config.HERM_SSE_HEARTBEAT_MS,
          keyId,
          onError: (error) =>
            services.logger.warn({ err: error, deploymentId: deployment.id }, 'event stream could not read the store; retrying'),
        });
      } catch (error) {
        release?.();
        throw error;
      }
      // The key was checked from the cache: a revocation that came before the stream was subscribed (and so could
      // not end it) is caught here, in the store itself.
      let keyActive: boolean;
      try {
        keyActive = await services.store.accounts.isKeyActive(keyId);
      } catch (error) {
        stream.close();
        release?.();
        throw error;
      }
      if (!keyActive) {
        stream.close();
        release?.();
        throw new ApiError('unauthorized', 'Invalid or revoked API key.');
      }
      return new Response(release ? releaseOnEnd(stream.body, release) : stream.body, {
        status: 200,
        headers: {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
          'herm-stream-position': formatEventId(deployment.id, stream.startSeq),
          'x-request-id': c.get('requestId'),
        },
      }) as never;
    },
  );
  return app;
}
