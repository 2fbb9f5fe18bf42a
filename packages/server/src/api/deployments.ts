// /v1/deployments
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { AppEnv } from './app-env.ts';
import { renderDeployment } from './render.ts';
import { bearerSecurity, errorResponses, json, jsonBody, loadDeployment, publicOrigin } from './route-helpers.ts';
import {
  CreateDeploymentBody,
  cursorQuery,
  Deployment,
  DeploymentList,
  idParam,
  limitQuery,
  UpdateDeploymentBody,
} from './schemas.ts';

const DeploymentParams = z.strictObject({ deployment_id: idParam('deployment_id', 'dep') });

export function deploymentRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'post',
      path: '/deployments',
      summary: 'Create a deployment',
      tags: ['Deployments'],
      security: bearerSecurity,
      request: jsonBody(CreateDeploymentBody),
      responses: { 201: json(Deployment, 'The new deployment'), ...errorResponses },
    }),
    async (c) => {
      const services = c.get('services');
      const deployment = await services.deployments.create(c.get('apiKey').account_id, c.req.valid('json'));
      return c.json(renderDeployment(deployment, publicOrigin(c)), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/deployments',
      summary: 'List deployments, newest first',
      tags: ['Deployments'],
      security: bearerSecurity,
      request: {
        query: z.strictObject({
          customer_id: z.string().min(1).max(255).optional(),
          status: z.enum(['provisioning', 'ready', 'error']).optional(),
          limit: limitQuery,
          cursor: cursorQuery,
        }),
      },
      responses: { 200: json(DeploymentList, 'A page of deployments'), ...errorResponses },
    }),
    async (c) => {
      const query = c.req.valid('query');
      const page = await c
        .get('services')
        .store.deployments.list(c.get('apiKey').account_id, query, { limit: query.limit, cursor: query.cursor });
      const origin = publicOrigin(c);
      return c.json({ data: page.data.map((deployment) => renderDeployment(deployment, origin)), next_cursor: page.next_cursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/deployments/{deployment_id}',
      summary: 'Get a deployment',
      tags: ['Deployments'],
      security: bearerSecurity,
      request: { params: DeploymentParams },
      responses: { 200: json(Deployment, 'The deployment'), ...errorResponses },
    }),
    async (c) => {
      const deployment = await loadDeployment(c, c.req.valid('param').deployment_id);
      return c.json(renderDeployment(deployment, publicOrigin(c)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/deployments/{deployment_id}',
      summary: 'Update a deployment',
      description:
        'Scalars are replaced, arrays replaced, maps (secrets, features, sandbox) merged by key with null removing a key; ' +
        'omitted fields are preserved; customer_id and runtime are immutable. Changes apply to the next run.',
      tags: ['Deployments'],
      security: bearerSecurity,
      request: { params: DeploymentParams, ...jsonBody(UpdateDeploymentBody) },
      responses: { 200: json(Deployment, 'The updated deployment'), ...errorResponses },
    }),
    async (c) => {
      const services = c.get('services');
      const current = await loadDeployment(c, c.req.valid('param').deployment_id);
      const updated = await services.deployments.update(current, c.req.valid('json'));
      return c.json(renderDeployment(updated, publicOrigin(c)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/deployments/{deployment_id}',
      summary: 'Delete a deployment',
      tags: ['Deployments'],
      security: bearerSecurity,
      request: {
        params: DeploymentParams,
        query: z.strictObject({
          retain_filesystem: z
            .enum(['true', 'false'], { error: 'must be true or false' })
            .optional()
            .describe('Keep a snapshot of the workspace. Defaults to false'),
        }),
      },
      responses: {
        200: json(z.object({ deployment_id: z.string(), status: z.literal('deleted') }), 'Deleted'),
        ...errorResponses,
      },
    }),
    async (c) => {
      const deployment = await loadDeployment(c, c.req.valid('param').deployment_id);
      await c.get('services').deployments.delete(deployment, c.req.valid('query').retain_filesystem === 'true');
      return c.json({ deployment_id: deployment.id, status: 'deleted' as const }, 200);
    },
  );

  return app;
}
