// /v1/deployments/:deployment_id/automations — the Automations API: create, list, get (with recent runs), update
// (pause with enabled: false), delete and trigger now. The agent's `automations` tool manages the same automations
// through the same service (automations/automation-service.ts).
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { AutomationBusyError, AutomationsDisabledError, MAX_AUTOMATIONS_PER_DEPLOYMENT, RECENT_RUNS_LIMIT } from '../automations/automation-service.ts';
import { renderAutomation, renderFiring } from '../automations/automation-view.ts';
import { ScheduleError } from '../automations/schedule.ts';
import { AutomationLimitError } from '../store/automations.ts';
import { ThreadNotFoundError } from '../store/runs.ts';
import { ApiError, notFound, validationError } from './api-error.ts';
import type { AppEnv } from './app-env.ts';
import { bearerSecurity, errorResponses, json, jsonBody, loadDeployment, loadReadyDeployment } from './route-helpers.ts';
import { cursorQuery, ErrorResponse, idParam, limitQuery, RunStatus } from './schemas.ts';

const SCHEDULE_DESCRIPTION =
  'A 5-field cron expression in UTC ("0 9 * * 1"), an alias (@hourly, @daily, @weekly, @monthly, @yearly), or natural language such as ' +
  '"every Monday at 9am", "every weekday at 17:30", "daily", "hourly", "every 2 hours", "every 15 minutes", "every month on the 1st at 8:00", ' +
  '"weekends at noon", "every hour from 9am to 5pm on weekdays". Phrases are parsed by fixed rules (no model) into the cron expression ' +
  'returned as `schedule`; times are UTC. A phrase cron cannot express exactly ("every 45 minutes", "every other day") or does not understand ' +
  'is a 400 validation_error naming `schedule`, with a hint.';

const threadId = z.string().regex(/^thr_[A-Za-z0-9_]{1,64}$/, 'must be a thread id (thr_…)');

const CreateAutomationBody = z
  .strictObject({
    name: z.string().min(1).max(255).describe('Human-readable name'),
    schedule: z.string().min(1).max(200).describe(SCHEDULE_DESCRIPTION),
    instructions: z.string().min(1).max(20_000).describe('What the agent should do each run: the message each run starts with'),
    thread_id: threadId
      .optional()
      .describe('Thread runs append to (one of the deployment\'s). Defaults to a dedicated thread created with the automation ("Automation: <name>")'),
    enabled: z.boolean().optional().describe('Defaults to true. A paused automation keeps its schedule but does not fire (trigger still runs it)'),
  })
  .openapi('CreateAutomationRequest');

const UpdateAutomationBody = z
  .strictObject({
    name: z.string().min(1).max(255).optional(),
    schedule: z.string().min(1).max(200).optional().describe(`${SCHEDULE_DESCRIPTION} A new schedule recomputes next_run_at from now.`),
    instructions: z.string().min(1).max(20_000).optional(),
    thread_id: threadId.optional().describe("Another of the deployment's threads for the next runs"),
    enabled: z.boolean().optional().describe('false pauses it (next_run_at null); true resumes it from now, without catching up on the times it missed'),
  })
  .openapi('UpdateAutomationRequest');

const Automation = z
  .object({
    automation_id: z.string(),
    deployment_id: z.string(),
    name: z.string(),
    schedule: z.string().describe('The cron expression (UTC, 5 fields) the automation runs on: as given, or parsed from a phrase'),
    schedule_text: z.string().nullable().describe('The natural-language schedule as given ("every Monday at 9am"); null when given as cron'),
    instructions: z.string(),
    thread_id: z.string().describe('The thread its runs append to'),
    enabled: z.boolean(),
    last_run_id: z.string().nullable().describe('The last run it started (on schedule or by trigger)'),
    last_run_at: z.string().nullable().describe('When it last started a run'),
    last_run_status: RunStatus.nullable().describe('That run\'s status now; null before the first run'),
    next_run_at: z.string().nullable().describe('When it fires next (UTC); null while paused'),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('Automation');

const AutomationRun = z
  .object({
    run_id: z.string().nullable().describe('The run it started; null for a skipped firing'),
    status: z
      .enum(['running', 'waiting_on_human', 'completed', 'error', 'skipped'])
      .describe('The run\'s status now, or `skipped`: the due time passed without a run (see skip_reason)'),
    trigger: z.enum(['schedule', 'manual']).describe('schedule: a due time; manual: the trigger endpoint or the agent\'s tool'),
    scheduled_for: z.string().nullable().describe('The due time it fired for; null for a manual trigger'),
    fired_at: z.string(),
    skip_reason: z
      .enum(['previous_run_active', 'thread_busy', 'thread_not_found', 'deployment_not_ready', 'quota_exceeded'])
      .nullable()
      .describe('Why a due time started no run: its previous run (or another run on its thread) was still active, its thread was deleted, the deployment was not ready, or the account was at its concurrent_runs or runs_per_minute quota'),
  })
  .openapi('AutomationRun');

const AutomationWithRuns = Automation.extend({
  recent_runs: z.array(AutomationRun).describe(`Its latest ${RECENT_RUNS_LIMIT} firings, newest first`),
}).openapi('AutomationWithRuns');

const AutomationList = z.object({ data: z.array(Automation), next_cursor: z.string().nullable() }).openapi('AutomationList');

const TriggerResponse = z
  .object({
    run_id: z.string(),
    automation_id: z.string(),
    deployment_id: z.string(),
    thread_id: z.string(),
    status: RunStatus,
  })
  .openapi('TriggerAutomationResponse');

const DeploymentParams = z.strictObject({ deployment_id: idParam('deployment_id', 'dep') });
const AutomationParams = DeploymentParams.extend({ automation_id: idParam('automation_id', 'auto') });

const conflict = { description: 'conflict', content: { 'application/json': { schema: ErrorResponse } } };

/** The domain errors of the service as API errors. */
function apiErrorOf(error: unknown): unknown {
  if (error instanceof ScheduleError) return validationError('schedule', `${error.message} ${error.hint}`);
  if (error instanceof ThreadNotFoundError) return notFound('thread', error.threadId, 'thread_id');
  if (error instanceof AutomationLimitError) return new ApiError('validation_error', `A deployment has at most ${MAX_AUTOMATIONS_PER_DEPLOYMENT} automations: delete one first.`);
  if (error instanceof AutomationsDisabledError) return new ApiError('conflict', error.message, 'features.automations');
  if (error instanceof AutomationBusyError) return new ApiError('conflict', error.message);
  return error;
}

async function mapped<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    throw apiErrorOf(error);
  }
}

export function automationRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'post',
      path: '/deployments/{deployment_id}/automations',
      summary: 'Create an automation',
      description:
        'Schedules recurring work: at each due time (UTC) a run starts on the automation\'s thread with its `instructions` as the message, ' +
        'a normal run with the same guarantees as an interactive one (its run_status events carry `automation_id`, and an `automation_fired` ' +
        'event comes first). A due time whose previous run is still active is skipped and recorded. Due times missed while no server ran fire ' +
        `once at the next start. At most ${MAX_AUTOMATIONS_PER_DEPLOYMENT} automations per deployment. A deployment with features.automations false ` +
        'keeps its automations, but they do not fire until the feature is on again.',
      tags: ['Automations'],
      security: bearerSecurity,
      request: { params: DeploymentParams, ...jsonBody(CreateAutomationBody) },
      responses: { 201: json(Automation, 'The new automation'), ...errorResponses },
    }),
    async (c) => {
      const deployment = await loadDeployment(c, c.req.valid('param').deployment_id);
      const automation = await mapped(c.get('services').automations.create(deployment, c.req.valid('json')));
      return c.json(renderAutomation(automation), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/deployments/{deployment_id}/automations',
      summary: 'List automations',
      description: 'Newest first, each with its last run (`last_run_at`, `last_run_status`) and `next_run_at`.',
      tags: ['Automations'],
      security: bearerSecurity,
      request: { params: DeploymentParams, query: z.strictObject({ limit: limitQuery, cursor: cursorQuery }) },
      responses: { 200: json(AutomationList, 'A page of automations'), ...errorResponses },
    }),
    async (c) => {
      const deployment = await loadDeployment(c, c.req.valid('param').deployment_id);
      const query = c.req.valid('query');
      const page = await c.get('services').automations.list(deployment, { limit: query.limit, cursor: query.cursor });
      return c.json({ data: page.data.map(renderAutomation), next_cursor: page.next_cursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/deployments/{deployment_id}/automations/{automation_id}',
      summary: 'Get an automation',
      description: `The automation plus its recent runs: its latest ${RECENT_RUNS_LIMIT} firings, runs started and due times skipped, newest first.`,
      tags: ['Automations'],
      security: bearerSecurity,
      request: { params: AutomationParams },
      responses: { 200: json(AutomationWithRuns, 'The automation and its recent runs'), ...errorResponses },
    }),
    async (c) => {
      const { deployment_id, automation_id } = c.req.valid('param');
      const deployment = await loadDeployment(c, deployment_id);
      const service = c.get('services').automations;
      const automation = await service.get(deployment, automation_id);
      if (!automation) throw notFound('automation', automation_id, 'automation_id');
      const runs = await service.recentRuns(automation);
      return c.json({ ...renderAutomation(automation), recent_runs: runs.map(renderFiring) } as z.infer<typeof AutomationWithRuns>, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/deployments/{deployment_id}/automations/{automation_id}',
      summary: 'Update an automation',
      description:
        'Any create field can be updated; returns the updated automation. Pause with `enabled: false`; a new schedule (or resuming) ' +
        'computes next_run_at from now. Changes apply to the next firing on every node.',
      tags: ['Automations'],
      security: bearerSecurity,
      request: { params: AutomationParams, ...jsonBody(UpdateAutomationBody) },
      responses: { 200: json(Automation, 'The updated automation'), ...errorResponses },
    }),
    async (c) => {
      const { deployment_id, automation_id } = c.req.valid('param');
      const deployment = await loadDeployment(c, deployment_id);
      const automation = await mapped(c.get('services').automations.update(deployment, automation_id, c.req.valid('json')));
      if (!automation) throw notFound('automation', automation_id, 'automation_id');
      return c.json(renderAutomation(automation), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/deployments/{deployment_id}/automations/{automation_id}',
      summary: 'Delete an automation',
      description: 'It fires no more. Its runs, and its thread, stay; a run it started that is still going goes on.',
      tags: ['Automations'],
      security: bearerSecurity,
      request: { params: AutomationParams },
      responses: { 200: json(z.object({ automation_id: z.string(), deleted: z.literal(true) }).openapi('DeletedAutomation'), 'Deleted'), ...errorResponses },
    }),
    async (c) => {
      const { deployment_id, automation_id } = c.req.valid('param');
      const deployment = await loadDeployment(c, deployment_id);
      if (!(await c.get('services').automations.delete(deployment, automation_id))) throw notFound('automation', automation_id, 'automation_id');
      return c.json({ automation_id, deleted: true as const }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/deployments/{deployment_id}/automations/{automation_id}/trigger',
      summary: 'Trigger a run now',
      description:
        'Starts a run of the automation now, outside its schedule (next_run_at is unchanged); allowed on a paused automation. Returns the ' +
        'run_id; watch it on the SSE stream. A 409 conflict when a run is active on its thread (nothing started) or when the deployment has ' +
        'features.automations false.',
      tags: ['Automations'],
      security: bearerSecurity,
      request: { params: AutomationParams },
      responses: { 202: json(TriggerResponse, 'The run it started'), ...errorResponses, 409: conflict },
    }),
    async (c) => {
      const { deployment_id, automation_id } = c.req.valid('param');
      const deployment = await loadReadyDeployment(c, deployment_id);
      if (c.get('services').runs.draining) {
        c.header('retry-after', '1');
        throw new ApiError('server_error', 'The server is shutting down and starts no new runs; retry in a moment.', undefined, 503);
      }
      const triggered = await mapped(c.get('services').automations.trigger(deployment, automation_id));
      if (!triggered) throw notFound('automation', automation_id, 'automation_id');
      const { run } = triggered;
      return c.json({ run_id: run.id, automation_id, deployment_id: deployment.id, thread_id: run.thread_id, status: run.status as z.infer<typeof RunStatus> }, 202);
    },
  );

  return app;
}
