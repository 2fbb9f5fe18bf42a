// /v1/deployments/:deployment_id/memories — the Memory API: list (q, limit, cursor), create, get, update and delete
// what the agent knows about its customer, and list each memory's versions. It works on the same files the agent
// reads and writes under /workspace/.herm/memory/ (memory/memory-service.ts): an edit here is what the agent reads
// next run, and an edit by the agent shows here.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { WorkspaceFileError } from '../files/workspace-file-error.ts';
import { MAX_MEMORY_CHARACTERS, MEMORY_PATH, MEMORY_PRIORITIES, type MemoryRecord } from '../memory/memory-file.ts';
import type { MemoryVersionRecord } from '../memory/memory-repository.ts';
import { MemoryNotFoundError } from '../memory/memory-service.ts';
import { toIso } from '../util/time.ts';
import { ApiError, notFound } from './api-error.ts';
import type { AppEnv } from './app-env.ts';
import { bearerSecurity, errorResponses as baseErrorResponses, json, jsonBody, loadReadyDeployment as loadDeployment } from './route-helpers.ts';
import { cursorQuery, ErrorResponse, idParam, limitQuery } from './schemas.ts';

const content = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(MAX_MEMORY_CHARACTERS, `must be at most ${MAX_MEMORY_CHARACTERS} characters`)
  .describe('What the agent should know, in plain language');
const priority = z
  .enum(MEMORY_PRIORITIES as [string, ...string[]])
  .describe('How much it matters: when memory outgrows its part of the prompt, low-priority, older memories are left out first');

const CreateMemoryBody = z.strictObject({ content, priority: priority.optional().describe('Defaults to medium') }).openapi('CreateMemoryRequest');
const UpdateMemoryBody = z
  .strictObject({ content: content.optional(), priority: priority.optional() })
  .refine((body) => body.content !== undefined || body.priority !== undefined, { message: 'give content, priority or both', path: ['content'] })
  .openapi('UpdateMemoryRequest');

const Memory = z
  .object({
    memory_id: z.string(),
    content: z.string(),
    source: z.enum(['agent', 'api']).describe('agent: an observation the agent recorded itself; api: a memory your product created'),
    priority: z.enum(MEMORY_PRIORITIES as [string, ...string[]]),
    path: z.string().describe(`The memory's file in the workspace (${MEMORY_PATH}/…), which the agent reads and edits`),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('Memory');

const MemoryList = z.object({ data: z.array(Memory), next_cursor: z.string().nullable() }).openapi('MemoryList');
const DeletedMemory = z.object({ memory_id: z.string(), deleted: z.literal(true) }).openapi('DeletedMemory');

const MemoryVersion = z
  .object({
    version_id: z.string(),
    memory_id: z.string(),
    action: z.enum(['created', 'updated', 'deleted']),
    actor: z
      .enum(['api', 'agent', 'observer', 'reflector', 'dream'])
      .describe(
        'Who made the change: your product (api), the agent with its file tools, the observer after a run, the reflector condensing observations, a dream run (features.dreaming)',
      ),
    before: z.string().nullable().describe('The text before the change; null for a creation'),
    after: z.string().nullable().describe('The text after the change; null for a deletion'),
    thread_id: z.string().nullable().describe('The thread an observation came from'),
    created_at: z.string(),
  })
  .openapi('MemoryVersion');
const MemoryVersionList = z.object({ data: z.array(MemoryVersion), next_cursor: z.string().nullable() }).openapi('MemoryVersionList');

// Memory lives in the deployment's workspace: a deployment still provisioning answers 409 deployment_not_ready
// (which the SDK retries), as the Files API does; a workspace that refuses the memory files answers 409 conflict.
const errorResponses = {
  ...baseErrorResponses,
  409: { description: 'deployment_not_ready, or conflict: the memory files could not be changed', content: { 'application/json': { schema: ErrorResponse } } },
} as const;

const DeploymentParams = z.strictObject({ deployment_id: idParam('deployment_id', 'dep') });
const MemoryParams = DeploymentParams.extend({ memory_id: idParam('memory_id', 'mem') });

function renderMemory(memory: MemoryRecord) {
  return {
    memory_id: memory.memory_id,
    content: memory.content,
    source: memory.source,
    priority: memory.priority,
    path: memory.path,
    created_at: toIso(memory.created_at)!,
    updated_at: toIso(memory.updated_at)!,
  };
}

function renderVersion(version: MemoryVersionRecord) {
  return {
    version_id: version.id,
    memory_id: version.memory_id,
    action: version.action,
    actor: version.actor,
    before: version.before,
    after: version.after,
    thread_id: version.thread_id,
    created_at: toIso(version.created_at)!,
  };
}

/** Memory operations' errors as API errors: an unknown memory is a 404; a workspace that refuses the files a 409. */
async function withMemoryErrors<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (error instanceof MemoryNotFoundError) throw notFound('memory', error.memoryId, 'memory_id');
    if (error instanceof WorkspaceFileError) {
      throw new ApiError('conflict', `The memory files in the workspace (${MEMORY_PATH}/) could not be changed: ${error.message}`);
    }
    throw error;
  }
}

export function memoryRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'get',
      path: '/deployments/{deployment_id}/memories',
      summary: 'List memories',
      description:
        'What the agent knows about this customer, newest first: memories the agent recorded itself (source agent: the observer after ' +
        `runs, or the agent writing files in ${MEMORY_PATH}/) and those your product created (source api). \`q\` keeps the memories ` +
        'containing every word of it (case-insensitive).',
      tags: ['Memories'],
      security: bearerSecurity,
      request: {
        params: DeploymentParams,
        query: z.strictObject({
          q: z.string().max(500).optional().openapi({ description: 'Filter memories by keyword' }),
          limit: limitQuery,
          cursor: cursorQuery,
        }),
      },
      responses: { 200: json(MemoryList, 'A page of memories'), ...errorResponses },
    }),
    async (c) => {
      const deployment = await loadDeployment(c, c.req.valid('param').deployment_id);
      const query = c.req.valid('query');
      const page = await withMemoryErrors(() => c.get('services').memory.list(deployment, { q: query.q }, { limit: query.limit, cursor: query.cursor }));
      return c.json({ data: page.data.map(renderMemory), next_cursor: page.next_cursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/deployments/{deployment_id}/memories',
      summary: 'Create a memory',
      description:
        'Seeds durable context (source api), e.g. at onboarding: the agent reads it from its next run on, in its system prompt and as a ' +
        `file in ${MEMORY_PATH}/.`,
      tags: ['Memories'],
      security: bearerSecurity,
      request: { params: DeploymentParams, ...jsonBody(CreateMemoryBody) },
      responses: { 201: json(Memory, 'The new memory'), ...errorResponses },
    }),
    async (c) => {
      const deployment = await loadDeployment(c, c.req.valid('param').deployment_id);
      const body = c.req.valid('json');
      const memory = await withMemoryErrors(() =>
        c.get('services').memory.create(deployment, { content: body.content, priority: body.priority as MemoryRecord['priority'] | undefined, source: 'api', actor: 'api' }),
      );
      return c.json(renderMemory(memory), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/deployments/{deployment_id}/memories/{memory_id}',
      summary: 'Get a memory',
      tags: ['Memories'],
      security: bearerSecurity,
      request: { params: MemoryParams },
      responses: { 200: json(Memory, 'The memory'), ...errorResponses },
    }),
    async (c) => {
      const { deployment_id, memory_id } = c.req.valid('param');
      const deployment = await loadDeployment(c, deployment_id);
      const memory = await withMemoryErrors(() => c.get('services').memory.get(deployment, memory_id));
      return c.json(renderMemory(memory), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/deployments/{deployment_id}/memories/{memory_id}',
      summary: 'Update a memory',
      description: 'Corrects a memory (its content, its priority or both); the agent reads the new text from its next run on. The change is kept as a version.',
      tags: ['Memories'],
      security: bearerSecurity,
      request: { params: MemoryParams, ...jsonBody(UpdateMemoryBody) },
      responses: { 200: json(Memory, 'The updated memory'), ...errorResponses },
    }),
    async (c) => {
      const { deployment_id, memory_id } = c.req.valid('param');
      const deployment = await loadDeployment(c, deployment_id);
      const body = c.req.valid('json');
      const memory = await withMemoryErrors(() =>
        c.get('services').memory.update(deployment, memory_id, { content: body.content, priority: body.priority as MemoryRecord['priority'] | undefined }, 'api'),
      );
      return c.json(renderMemory(memory), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/deployments/{deployment_id}/memories/{memory_id}',
      summary: 'Delete a memory',
      description:
        "Removes the memory and its file, e.g. for a customer's data-deletion request. The agent won't re-learn it unless the customer " +
        'repeats it: the observer is told it was deleted. Its versions stay listable.',
      tags: ['Memories'],
      security: bearerSecurity,
      request: { params: MemoryParams },
      responses: { 200: json(DeletedMemory, 'The memory was deleted'), ...errorResponses },
    }),
    async (c) => {
      const { deployment_id, memory_id } = c.req.valid('param');
      const deployment = await loadDeployment(c, deployment_id);
      await withMemoryErrors(() => c.get('services').memory.delete(deployment, memory_id, 'api'));
      return c.json({ memory_id, deleted: true as const }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/deployments/{deployment_id}/memories/{memory_id}/versions',
      summary: "List a memory's versions",
      description:
        'Every change of the memory, newest first: who made it (api, agent, observer, reflector), when, and the text before and after. ' +
        'A deleted memory keeps its versions.',
      tags: ['Memories'],
      security: bearerSecurity,
      request: { params: MemoryParams, query: z.strictObject({ limit: limitQuery, cursor: cursorQuery }) },
      responses: { 200: json(MemoryVersionList, 'A page of versions'), ...errorResponses },
    }),
    async (c) => {
      const { deployment_id, memory_id } = c.req.valid('param');
      const deployment = await loadDeployment(c, deployment_id);
      const query = c.req.valid('query');
      const page = await withMemoryErrors(() => c.get('services').memory.versions(deployment, memory_id, { limit: query.limit, cursor: query.cursor }));
      return c.json({ data: page.data.map(renderVersion), next_cursor: page.next_cursor }, 200);
    },
  );

  return app;
}
