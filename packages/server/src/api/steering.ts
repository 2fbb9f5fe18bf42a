// Steering: answering a run's request for a human, and listing requests.
//   POST /v1/deployments/:deployment_id/runs/:run_id/steering/:request_id
//   GET  /v1/deployments/:deployment_id/steering_requests[?status=pending&run_id=…]
//   GET  /v1/deployments/:deployment_id/steering_requests/:request_id
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { renderSteeringRequest } from '../steering/steering-events.ts';
import { SteeringRequestNotFoundError, SteeringRequestResolvedError } from '../steering/steering-service.ts';
import { STEERING_STATUSES } from '../steering/steering-store.ts';
import { ApiError, notFound, validationError } from './api-error.ts';
import type { AppEnv } from './app-env.ts';
import { bearerSecurity, errorResponses, json, jsonBody, loadDeployment, loadRun } from './route-helpers.ts';
import { cursorQuery, ErrorResponse, idParam, limitQuery } from './schemas.ts';

const DeploymentParams = z.strictObject({ deployment_id: idParam('deployment_id', 'dep') });
const RequestParams = DeploymentParams.extend({ request_id: idParam('request_id', 'str') });
const AnswerParams = DeploymentParams.extend({ run_id: idParam('run_id', 'run'), request_id: idParam('request_id', 'str') });

export const SteeringRequest = z
  .object({
    object: z.literal('steering_request'),
    request_id: z.string(),
    deployment_id: z.string(),
    run_id: z.string(),
    thread_id: z.string(),
    kind: z.enum(['tool', 'ask']).describe('`tool`: a call the steering policy holds for approval; `ask`: the agent asked (ask_human)'),
    status: z.enum(STEERING_STATUSES as [string, ...string[]]).describe('pending until answered (approved, denied, replied), expired (resolved as denied) or cancelled with its run'),
    summary: z.string().describe('What the agent asks, or the call it is about to make'),
    tool_call: z
      .object({ tool: z.string(), origin: z.string(), tool_call_id: z.string(), arguments: z.unknown() })
      .nullable()
      .describe('The pending call (null for an ask_human question)'),
    options: z.array(z.string()).describe('The answers offered: approve, deny, reply; or the options the agent gave its question'),
    decision: z.enum(['approve', 'deny', 'reply']).nullable().describe('The answer; deny for an expired request; null while pending or when cancelled'),
    message: z.string().nullable(),
    created_at: z.string(),
    expires_at: z.string(),
    resolved_at: z.string().nullable(),
  })
  .openapi('SteeringRequest');

const SteeringRequestList = z.object({ data: z.array(SteeringRequest), next_cursor: z.string().nullable() }).openapi('SteeringRequestList');

export const SteeringAnswerBody = z
  .strictObject({
    decision: z
      .enum(['approve', 'deny', 'reply'])
      .describe('approve (valid for every request): the call runs, or the question is answered with `message` (e.g. one of its options); deny: the call is not run and the agent is told; reply: the agent gets `message` instead of the call\'s result'),
    message: z
      .string()
      .min(1)
      .max(20_000)
      .optional()
      .describe("Required with reply. With deny it goes to the agent with the denial; with approve on a question it is the answer (approving a tool call, it is only recorded on the request)"),
  })
  .openapi('SteeringAnswerRequest');

const conflict = { description: 'conflict: the request was answered, expired or cancelled already', content: { 'application/json': { schema: ErrorResponse } } };

export function steeringRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'post',
      path: '/deployments/{deployment_id}/runs/{run_id}/steering/{request_id}',
      summary: 'Answer a steering request',
      description:
        'Answers a run that waits on a human (status waiting_on_human): the answer commits, a steering_resolved event goes out, ' +
        'and the run resumes at once (on this node, or any other should this one stop) from its history. A request is answered ' +
        'once: a second answer, or one after it expired or its run was cancelled, is a 409 conflict.',
      tags: ['Steering'],
      security: bearerSecurity,
      request: { params: AnswerParams, ...jsonBody(SteeringAnswerBody) },
      responses: { 200: json(SteeringRequest, 'The request, resolved'), ...errorResponses, 409: conflict },
    }),
    async (c) => {
      const { deployment_id, run_id, request_id } = c.req.valid('param');
      const body = c.req.valid('json');
      if (body.decision === 'reply' && body.message === undefined) throw validationError('message', 'message is required with decision "reply": it is what the agent is told.');
      const { deployment } = await loadRun(c, deployment_id, run_id);
      try {
        const resolved = await c.get('services').steering.answer(deployment, run_id, request_id, body);
        return c.json(renderSteeringRequest(resolved), 200);
      } catch (error) {
        if (error instanceof SteeringRequestNotFoundError) throw notFound('steering request', request_id, 'request_id');
        if (error instanceof SteeringRequestResolvedError) {
          const how = { approved: 'approved', denied: 'denied', replied: 'answered with a reply', expired: 'expired (resolved as denied)', cancelled: 'cancelled with its run', pending: 'pending' }[error.request.status];
          throw new ApiError('conflict', `Steering request ${request_id} was ${how} already; a request is answered once.`, 'request_id');
        }
        throw error;
      }
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/deployments/{deployment_id}/steering_requests',
      summary: 'List steering requests, newest first',
      description: 'The requests of the deployment\'s runs for a human; `status=pending` lists those waiting for an answer.',
      tags: ['Steering'],
      security: bearerSecurity,
      request: {
        params: DeploymentParams,
        query: z.strictObject({
          status: z.enum(STEERING_STATUSES as [string, ...string[]]).optional(),
          run_id: z.string().regex(/^run_[A-Za-z0-9_]{1,64}$/, 'must be a run id (run_…)').optional(),
          limit: limitQuery,
          cursor: cursorQuery,
        }),
      },
      responses: { 200: json(SteeringRequestList, 'A page of steering requests'), ...errorResponses },
    }),
    async (c) => {
      const deployment = await loadDeployment(c, c.req.valid('param').deployment_id);
      const query = c.req.valid('query');
      const page = await c
        .get('services')
        .store.steering.list(deployment.id, { status: query.status as never, run_id: query.run_id }, { limit: query.limit, cursor: query.cursor });
      return c.json({ data: page.data.map(renderSteeringRequest), next_cursor: page.next_cursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/deployments/{deployment_id}/steering_requests/{request_id}',
      summary: 'Get a steering request',
      tags: ['Steering'],
      security: bearerSecurity,
      request: { params: RequestParams },
      responses: { 200: json(SteeringRequest, 'The steering request'), ...errorResponses },
    }),
    async (c) => {
      const { deployment_id, request_id } = c.req.valid('param');
      const deployment = await loadDeployment(c, deployment_id);
      const request = await c.get('services').store.steering.get(deployment.id, request_id);
      if (!request) throw notFound('steering request', request_id, 'request_id');
      return c.json(renderSteeringRequest(request), 200);
    },
  );

  return app;
}
