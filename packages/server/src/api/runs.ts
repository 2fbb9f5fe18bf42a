// /v1/deployments/:deployment_id/runs
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { AppEnv } from './app-env.ts';
import { renderRun } from './render.ts';
import { bearerSecurity, errorResponses, json, loadDeployment, loadRun } from './route-helpers.ts';
import { cursorQuery, idParam, limitQuery, Run, RunList, RunStatus } from './schemas.ts';

const DeploymentParams = z.strictObject({ deployment_id: idParam('deployment_id', 'dep') });
const RunParams = DeploymentParams.extend({ run_id: idParam('run_id', 'run') });

export function runRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'get',
      path: '/deployments/{deployment_id}/runs',
      summary: 'List runs, newest first',
      tags: ['Runs'],
      security: bearerSecurity,
      request: {
        params: DeploymentParams,
        query: z.strictObject({
          thread_id: z.string().regex(/^thr_[A-Za-z0-9_]{1,64}$/, 'must be a thread id (thr_…)').optional(),
          status: RunStatus.optional(),
          limit: limitQuery,
          cursor: cursorQuery,
        }),
      },
      responses: { 200: json(RunList, 'A page of runs'), ...errorResponses },
    }),
    async (c) => {
      const deployment = await loadDeployment(c, c.req.valid('param').deployment_id);
      const query = c.req.valid('query');
      const page = await c
        .get('services')
        .store.runs.list(deployment.id, query, { limit: query.limit, cursor: query.cursor });
      return c.json({ data: page.data.map(renderRun), next_cursor: page.next_cursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/deployments/{deployment_id}/runs/{run_id}',
      summary: 'Get a run',
      tags: ['Runs'],
      security: bearerSecurity,
      request: { params: RunParams },
      responses: { 200: json(Run, 'The run'), ...errorResponses },
    }),
    async (c) => {
      const { deployment_id, run_id } = c.req.valid('param');
      const { run } = await loadRun(c, deployment_id, run_id);
      return c.json(renderRun(run), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/deployments/{deployment_id}/runs/{run_id}/cancel',
      summary: 'Cancel a run',
      description:
        'The run stops at once (its model stream aborted, its sandbox command killed) and ends with status error and error.type "cancelled". ' +
        'A run waiting on a human (or queued behind another by multitask_strategy enqueue) ends in this request, its pending steering request ' +
        'resolved as cancelled (a steering_resolved event). Cancelling a finished run returns it unchanged.',
      tags: ['Runs'],
      security: bearerSecurity,
      request: { params: RunParams },
      responses: { 200: json(Run, 'The run'), ...errorResponses },
    }),
    async (c) => {
      const { deployment_id, run_id } = c.req.valid('param');
      const { deployment, run } = await loadRun(c, deployment_id, run_id);
      const services = c.get('services');
      if (run.status === 'running' || run.status === 'waiting_on_human') await services.runs.cancel(run);
      return c.json(renderRun((await services.store.runs.get(deployment.id, run_id)) ?? run), 200);
    },
  );

  return app;
}
