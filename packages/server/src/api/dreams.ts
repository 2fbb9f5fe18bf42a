// /v1/deployments/:deployment_id/dreams — dreaming, reviewable: list a deployment's dreams, see what one changed in
// memory and learned skills (before and after), roll one back, or dream now. Dreams start on their own when a
// deployment with features.dreaming has been idle for HERM_DREAM_IDLE_MS (dreams/dream-service.ts).
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { DreamBusyError, DreamingDisabledError, DreamRollbackError } from '../dreams/dream-service.ts';
import type { DreamRecord } from '../dreams/dream-repository.ts';
import { describeBudget } from '../usage/usage-repository.ts';
import { toIso } from '../util/time.ts';
import { ApiError, notFound } from './api-error.ts';
import type { AppEnv } from './app-env.ts';
import { bearerSecurity, errorResponses, json, loadDeployment, loadReadyDeployment } from './route-helpers.ts';
import { cursorQuery, ErrorResponse, idParam, limitQuery } from './schemas.ts';

const DreamChange = z
  .object({
    kind: z.enum(['memory', 'skill']),
    action: z.enum(['created', 'updated', 'deleted', 'skipped']).describe('skipped: a learned skill the dream wrote that was not taken (reason says why)'),
    memory_id: z.string().optional().describe('memory: the memory changed'),
    priority: z.enum(['high', 'medium', 'low']).optional().describe('memory: its priority'),
    name: z.string().optional().describe('skill: the learned skill changed (its directory in the learned-skills area)'),
    skill_id: z.string().optional().describe('skill: its id in the Skills API'),
    before: z.string().nullable().optional().describe('The text before the dream (a memory, or a SKILL.md); null when it did not exist'),
    after: z.string().nullable().describe('The text after the dream; null when the dream deleted it'),
    reason: z.string().optional().describe('skipped: why'),
  })
  .openapi('DreamChange');

const Dream = z
  .object({
    dream_id: z.string(),
    deployment_id: z.string(),
    run_id: z.string().describe('The dream run (trigger "dream"): its events are on the deployment\'s stream'),
    thread_id: z.string().describe("The deployment's dream thread"),
    status: z.enum(['running', 'completed', 'failed', 'rolled_back']).describe('failed: its run ended in error (cancelled by a run of the customer, for one); what it changed is still listed'),
    reason: z.enum(['idle', 'manual']).describe('idle: the deployment was idle for HERM_DREAM_IDLE_MS after activity; manual: POST …/dreams'),
    memories_changed: z.number().int().nullable().describe('Memories the dream created, updated or deleted; null while it runs'),
    skills_changed: z.number().int().nullable().describe('Learned skills it created, updated or deleted; null while it runs'),
    error: z.string().nullable(),
    created_at: z.string(),
    completed_at: z.string().nullable(),
    rolled_back_at: z.string().nullable(),
  })
  .openapi('Dream');

const DreamWithChanges = Dream.extend({
  changes: z.array(DreamChange).nullable().describe('What the dream changed, memory first; null while it runs'),
}).openapi('DreamWithChanges');

const DreamList = z.object({ data: z.array(Dream), next_cursor: z.string().nullable() }).openapi('DreamList');

const DeploymentParams = z.strictObject({ deployment_id: idParam('deployment_id', 'dep') });
const DreamParams = z.strictObject({ deployment_id: idParam('deployment_id', 'dep'), dream_id: idParam('dream_id', 'drm') });
const conflict = { description: 'conflict', content: { 'application/json': { schema: ErrorResponse } } };

function renderDream(dream: DreamRecord) {
  const changes = dream.changes;
  return {
    dream_id: dream.id,
    deployment_id: dream.deployment_id,
    run_id: dream.run_id,
    thread_id: dream.thread_id,
    status: dream.status,
    reason: dream.reason,
    memories_changed: changes ? changes.filter((change) => change.kind === 'memory').length : null,
    skills_changed: changes ? changes.filter((change) => change.kind === 'skill' && change.action !== 'skipped').length : null,
    error: dream.error,
    created_at: toIso(dream.created_at)!,
    completed_at: toIso(dream.completed_at),
    rolled_back_at: toIso(dream.rolled_back_at),
  };
}

function renderDreamWithChanges(dream: DreamRecord) {
  return { ...renderDream(dream), changes: dream.changes };
}

async function mapped<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof DreamingDisabledError) throw new ApiError('conflict', error.message, error.field);
    if (error instanceof DreamBusyError) throw new ApiError('run_in_progress', error.message);
    if (error instanceof DreamRollbackError) throw new ApiError('conflict', error.message, 'dream_id');
    throw error;
  }
}

export function dreamRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'get',
      path: '/deployments/{deployment_id}/dreams',
      summary: 'List dreams',
      description:
        "The deployment's dreams, newest first. A deployment with features.dreaming dreams once it has been idle for HERM_DREAM_IDLE_MS after a " +
        'run of its customer (once per idle period, never beside an active run): a run with trigger "dream" that consolidates memory and writes ' +
        'learned skills. Get one for what it changed.',
      tags: ['Dreams'],
      security: bearerSecurity,
      request: { params: DeploymentParams, query: z.strictObject({ limit: limitQuery, cursor: cursorQuery }) },
      responses: { 200: json(DreamList, 'A page of dreams'), ...errorResponses },
    }),
    async (c) => {
      const deployment = await loadDeployment(c, c.req.valid('param').deployment_id);
      const query = c.req.valid('query');
      const page = await c.get('services').dreams.list(deployment, { limit: query.limit, cursor: query.cursor });
      return c.json({ data: page.data.map(renderDream), next_cursor: page.next_cursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/deployments/{deployment_id}/dreams',
      summary: 'Dream now',
      description:
        'Starts a dream now instead of waiting for the deployment to be idle (it covers the activity so far). 409 run_in_progress while a run ' +
        'is active on the deployment (a dream never runs beside one); 409 conflict with features.dreaming false; 402 insufficient_credits ' +
        'when a credit budget ran out; 429 past the run quotas. A run of the customer that starts during a dream stops it.',
      tags: ['Dreams'],
      security: bearerSecurity,
      request: { params: DeploymentParams },
      responses: { 202: json(Dream, 'The dream started; watch its run on the SSE stream'), ...errorResponses, 409: conflict },
    }),
    async (c) => {
      const deployment = await loadReadyDeployment(c, c.req.valid('param').deployment_id);
      if (c.get('services').runs.draining) {
        c.header('retry-after', '1');
        throw new ApiError('server_error', 'The server is shutting down and starts no new runs; retry in a moment.', undefined, 503);
      }
      // A dream is a run: a credit budget of the account or customer that ran out refuses it, as it refuses messages.
      const exhausted = await c.get('services').usage.exhaustedBudget(deployment);
      if (exhausted) throw new ApiError('insufficient_credits', `No dream was started: ${describeBudget(exhausted)}.`);
      const dream = await mapped(c.get('services').dreams.dreamNow(deployment));
      return c.json(renderDream(dream), 202);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/deployments/{deployment_id}/dreams/{dream_id}',
      summary: 'Get a dream',
      description: 'The dream with what it changed: each memory and learned skill, before and after.',
      tags: ['Dreams'],
      security: bearerSecurity,
      request: { params: DreamParams },
      responses: { 200: json(DreamWithChanges, 'The dream and its changes'), ...errorResponses },
    }),
    async (c) => {
      const { deployment_id, dream_id } = c.req.valid('param');
      const deployment = await loadDeployment(c, deployment_id);
      const dream = await c.get('services').dreams.get(deployment, dream_id);
      if (!dream) throw notFound('dream', dream_id, 'dream_id');
      return c.json(renderDreamWithChanges(dream), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/deployments/{deployment_id}/dreams/{dream_id}/rollback',
      summary: 'Roll back a dream',
      description:
        'Puts every memory and learned skill the dream changed back as it was before the dream (memory changes are recorded as versions by ' +
        '`api`), and marks it rolled_back. All or nothing: when something it changed has changed since (a run, the API, a later dream), nothing ' +
        'is rolled back and the 409 conflict names what; roll back later dreams first. 409 as well while the dream is still running.',
      tags: ['Dreams'],
      security: bearerSecurity,
      request: { params: DreamParams },
      responses: { 200: json(DreamWithChanges, 'The dream, rolled back'), ...errorResponses, 409: conflict },
    }),
    async (c) => {
      const { deployment_id, dream_id } = c.req.valid('param');
      const deployment = await loadDeployment(c, deployment_id);
      const dream = await mapped(c.get('services').dreams.rollback(deployment, dream_id));
      if (!dream) throw notFound('dream', dream_id, 'dream_id');
      return c.json(renderDreamWithChanges(dream), 200);
    },
  );

  return app;
}
