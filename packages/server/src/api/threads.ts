// /v1/deployments/:deployment_id/threads
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { newId } from '../util/ids.ts';
import { validationError } from './api-error.ts';
import type { AppEnv } from './app-env.ts';
import { renderMessage, renderThread } from './render.ts';
import { bearerSecurity, errorResponses, json, loadDeployment, loadThread } from './route-helpers.ts';
import {
  CreateThreadBody,
  cursorQuery,
  idParam,
  limitQuery,
  Thread,
  ThreadList,
  ThreadWithMessages,
  UpdateThreadBody,
} from './schemas.ts';

const DeploymentParams = z.strictObject({ deployment_id: idParam('deployment_id', 'dep') });
const ThreadParams = DeploymentParams.extend({ thread_id: idParam('thread_id', 'thr') });

export function threadRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'post',
      path: '/deployments/{deployment_id}/threads',
      summary: 'Create a thread',
      tags: ['Threads'],
      security: bearerSecurity,
      request: {
        params: DeploymentParams,
        body: { required: false, content: { 'application/json': { schema: CreateThreadBody } } },
      },
      responses: { 201: json(Thread, 'The new thread'), ...errorResponses },
    }),
    async (c) => {
      const deployment = await loadDeployment(c, c.req.valid('param').deployment_id);
      const body = (c.req.valid('json') as { title?: string | null } | undefined) ?? {};
      const thread = await c
        .get('services')
        .store.threads.create({ id: newId('thread'), deploymentId: deployment.id, title: body.title ?? null });
      return c.json(renderThread(thread), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/deployments/{deployment_id}/threads',
      summary: 'List threads, newest first',
      tags: ['Threads'],
      security: bearerSecurity,
      request: { params: DeploymentParams, query: z.strictObject({ limit: limitQuery, cursor: cursorQuery }) },
      responses: { 200: json(ThreadList, 'A page of threads'), ...errorResponses },
    }),
    async (c) => {
      const deployment = await loadDeployment(c, c.req.valid('param').deployment_id);
      const query = c.req.valid('query');
      const page = await c.get('services').store.threads.list(deployment.id, { limit: query.limit, cursor: query.cursor });
      // A thread whose run waits on a human shows waiting_on_human (its active run's status, read for active threads only).
      const statuses = await Promise.all(
        page.data.map(async (thread) => (thread.active_run_id ? (await c.get('services').store.runs.getById(thread.active_run_id))?.status : undefined)),
      );
      return c.json({ data: page.data.map((thread, index) => renderThread(thread, statuses[index])), next_cursor: page.next_cursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/deployments/{deployment_id}/threads/{thread_id}',
      summary: 'Get a thread with its message history',
      tags: ['Threads'],
      security: bearerSecurity,
      request: { params: ThreadParams },
      responses: { 200: json(ThreadWithMessages, 'The thread and its messages'), ...errorResponses },
    }),
    async (c) => {
      const { deployment_id, thread_id } = c.req.valid('param');
      const { thread } = await loadThread(c, deployment_id, thread_id);
      const store = c.get('services').store;
      const messages = await store.threads.messages(thread.id);
      const activeRun = thread.active_run_id ? await store.runs.getById(thread.active_run_id) : undefined;
      return c.json({ ...renderThread(thread, activeRun?.status), messages: messages.map(renderMessage) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/deployments/{deployment_id}/threads/{thread_id}',
      summary: 'Rename a thread',
      tags: ['Threads'],
      security: bearerSecurity,
      request: { params: ThreadParams, body: { required: true, content: { 'application/json': { schema: UpdateThreadBody } } } },
      responses: { 200: json(Thread, 'The updated thread'), ...errorResponses },
    }),
    async (c) => {
      const { deployment_id, thread_id } = c.req.valid('param');
      const { thread } = await loadThread(c, deployment_id, thread_id);
      const store = c.get('services').store;
      const { title } = c.req.valid('json');
      await store.threads.rename(thread.id, title);
      return c.json(renderThread({ ...thread, title }), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/deployments/{deployment_id}/threads/{thread_id}',
      summary: 'Delete a thread',
      description:
        'Cancels its active run. On a deployment with sandbox.persistent_filesystem false, removes the thread\'s workspace. ' +
        'The default thread cannot be deleted.',
      tags: ['Threads'],
      security: bearerSecurity,
      request: { params: ThreadParams },
      responses: { 200: json(z.object({ thread_id: z.string(), deleted: z.literal(true) }), 'Deleted'), ...errorResponses },
    }),
    async (c) => {
      const { deployment_id, thread_id } = c.req.valid('param');
      const { deployment, thread } = await loadThread(c, deployment_id, thread_id);
      const services = c.get('services');
      if (thread.id === deployment.default_thread_id) {
        throw validationError('thread_id', 'The default thread cannot be deleted.');
      }
      // Runs queued behind the active one first (so that none is promoted as it ends), then the active one.
      for (const queued of await services.store.runs.listQueued(thread.id)) await services.runs.cancel(queued);
      if (thread.active_run_id) {
        const run = await services.store.runs.get(deployment.id, thread.active_run_id);
        if (run) await services.runs.cancel(run);
      }
      await services.store.threads.markDeleted(thread.id);
      // A session ends with its thread: so does its workspace (a no-op for threads sharing a persistent one).
      await services.deployments.removeThreadWorkspace(deployment.id, thread.id);
      return c.json({ thread_id: thread.id, deleted: true as const }, 200);
    },
  );

  return app;
}
