// /v1/webhook_endpoints — signed webhooks (Standard Webhooks): endpoints per account (or one deployment's), the
// event types they want, their deliveries and attempts, manual redelivery and secret rotation. The delivery itself
// is webhooks/webhook-worker.ts's.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { outboundPolicyFromConfig } from '../net/outbound-fetch.ts';
import type { WebhookAttemptRecord, WebhookDeliveryRecord, WebhookEndpointRecord } from '../store/webhooks.ts';
import { endpointEventsOf } from '../store/webhooks.ts';
import { toIso } from '../util/time.ts';
import { WEBHOOK_EVENT_DESCRIPTIONS, WEBHOOK_EVENT_TYPES } from '../webhooks/webhook-events.ts';
import { newWebhookSecret } from '../webhooks/webhook-signature.ts';
import { checkWebhookUrl, MAX_URL_LENGTH, WebhookUrlError } from '../webhooks/webhook-url.ts';
import { ApiError, notFound, validationError } from './api-error.ts';
import type { AppEnv } from './app-env.ts';
import { bearerSecurity, errorResponses, json, jsonBody } from './route-helpers.ts';
import { cursorQuery, ErrorResponse, idParam, limitQuery } from './schemas.ts';

const EVENT_LIST = WEBHOOK_EVENT_TYPES.join(', ');

const EventType = z.enum(WEBHOOK_EVENT_TYPES, { error: `must be one of ${EVENT_LIST}` });

const Events = z
  .array(EventType)
  .min(1, `give at least one event type (${EVENT_LIST})`)
  .max(WEBHOOK_EVENT_TYPES.length)
  .refine((events) => new Set(events).size === events.length, { message: 'lists an event type twice' })
  .describe(`The event types sent to the endpoint: ${EVENT_LIST}. At least one; there is no wildcard (name each type)`);

const Url = z
  .string()
  .min(1)
  .max(MAX_URL_LENGTH)
  .describe(
    'Where deliveries are POSTed: an http:// or https:// URL. Private, loopback and link-local addresses are refused (400) unless the ' +
      'operator sets HERM_ALLOW_PRIVATE_URLS=true, and checked again at each delivery',
  );

const DeploymentRef = z
  .string()
  .regex(/^dep_[A-Za-z0-9_]{1,64}$/, 'must be an id starting with dep_')
  .describe("Only this deployment's events (one of the account's); omitted or null: every deployment of the account");

const Description = z.string().max(1_000).describe('A note of your own');

const CreateWebhookEndpointBody = z
  .strictObject({
    url: Url,
    events: Events,
    deployment_id: DeploymentRef.nullable().optional(),
    description: Description.nullable().optional(),
  })
  .openapi('CreateWebhookEndpointRequest');

const UpdateWebhookEndpointBody = z
  .strictObject({
    url: Url.optional(),
    events: Events.optional(),
    deployment_id: DeploymentRef.nullable().optional(),
    description: Description.nullable().optional(),
    status: z
      .enum(['enabled', 'disabled'], { error: 'must be enabled or disabled' })
      .optional()
      .describe('enabled: re-enable (a disabled endpoint gets its pending deliveries at once); disabled: stop deliveries'),
  })
  .openapi('UpdateWebhookEndpointRequest');

const RotateSecretBody = z
  .strictObject({
    grace_period_seconds: z
      .number()
      .int('must be an integer from 0 to 604800')
      .min(0, 'must be an integer from 0 to 604800')
      .max(604_800, 'must be an integer from 0 to 604800')
      .optional()
      .describe('How long the previous secret keeps signing (deliveries carry both signatures). Defaults to the server\'s HERM_WEBHOOK_ROTATION_GRACE_MS, 24 h'),
  })
  .openapi('RotateWebhookSecretRequest');

const WebhookEndpoint = z
  .object({
    endpoint_id: z.string(),
    url: z.string(),
    events: z.array(EventType),
    deployment_id: z.string().nullable(),
    description: z.string().nullable(),
    status: z.enum(['enabled', 'disabled']),
    disabled_reason: z.string().nullable().describe('Why it is disabled (persistent failure, or through the API)'),
    disabled_at: z.string().nullable(),
    previous_secret_expires_at: z.string().nullable().describe('After a rotation: until when the previous secret also signs'),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('WebhookEndpoint');

const WebhookEndpointWithSecret = WebhookEndpoint.extend({
  secret: z.string().describe('The signing secret (whsec_…), shown this once: verify deliveries with it (Standard Webhooks)'),
}).openapi('WebhookEndpointWithSecret');

const WebhookEndpointList = z.object({ data: z.array(WebhookEndpoint), next_cursor: z.string().nullable() }).openapi('WebhookEndpointList');

const WebhookAttempt = z
  .object({
    attempt: z.number().int().describe('1 for the first'),
    started_at: z.string(),
    duration_ms: z.number().int(),
    status_code: z.number().int().nullable().describe('The HTTP status the endpoint answered; null without an answer'),
    succeeded: z.boolean(),
    error: z.string().nullable().describe('Why it failed (a non-2xx status, no answer within the timeout…)'),
  })
  .openapi('WebhookAttempt');

const WebhookDelivery = z
  .object({
    delivery_id: z.string().describe('The webhook-id header of every attempt: the same across retries and redeliveries'),
    endpoint_id: z.string(),
    event_type: EventType,
    status: z.enum(['pending', 'succeeded', 'failed']).describe('pending: an attempt is due or in backoff; failed: every attempt failed'),
    attempt_count: z.number().int(),
    next_attempt_at: z.string().nullable(),
    payload: z.record(z.string(), z.unknown()).describe('The JSON body sent: { type, timestamp, data }'),
    deployment_id: z.string().nullable(),
    run_id: z.string().nullable(),
    created_at: z.string(),
    completed_at: z.string().nullable(),
    attempts: z.array(WebhookAttempt).describe('Every attempt, oldest first'),
  })
  .openapi('WebhookDelivery');

const WebhookDeliveryList = z.object({ data: z.array(WebhookDelivery), next_cursor: z.string().nullable() }).openapi('WebhookDeliveryList');

const EndpointParams = z.strictObject({ endpoint_id: idParam('endpoint_id', 'we') });

export function renderWebhookEndpoint(endpoint: WebhookEndpointRecord) {
  const previousExpires = endpoint.previous_secret_expires_at === null ? null : Number(endpoint.previous_secret_expires_at);
  return {
    endpoint_id: endpoint.id,
    url: endpoint.url,
    events: endpointEventsOf(endpoint) as (typeof WEBHOOK_EVENT_TYPES)[number][],
    deployment_id: endpoint.deployment_id,
    description: endpoint.description,
    status: endpoint.status as 'enabled' | 'disabled',
    disabled_reason: endpoint.disabled_reason,
    disabled_at: toIso(endpoint.disabled_at === null ? null : Number(endpoint.disabled_at)),
    previous_secret_expires_at: previousExpires !== null && previousExpires > Date.now() ? toIso(previousExpires) : null,
    created_at: toIso(Number(endpoint.created_at))!,
    updated_at: toIso(Number(endpoint.updated_at))!,
  };
}

function renderAttempt(attempt: WebhookAttemptRecord) {
  return {
    attempt: Number(attempt.attempt),
    started_at: toIso(Number(attempt.started_at))!,
    duration_ms: Number(attempt.duration_ms),
    status_code: attempt.status_code === null ? null : Number(attempt.status_code),
    succeeded: Number(attempt.succeeded) === 1,
    error: attempt.error,
  };
}

export function renderWebhookDelivery(delivery: WebhookDeliveryRecord, attempts: WebhookAttemptRecord[]) {
  return {
    delivery_id: delivery.id,
    endpoint_id: delivery.endpoint_id,
    event_type: delivery.event_type as (typeof WEBHOOK_EVENT_TYPES)[number],
    status: delivery.status as 'pending' | 'succeeded' | 'failed',
    attempt_count: Number(delivery.attempt_count),
    next_attempt_at: delivery.status === 'pending' ? toIso(delivery.next_attempt_at === null ? null : Number(delivery.next_attempt_at)) : null,
    payload: JSON.parse(delivery.payload) as Record<string, unknown>,
    deployment_id: delivery.deployment_id,
    run_id: delivery.run_id,
    created_at: toIso(Number(delivery.created_at))!,
    completed_at: toIso(delivery.completed_at === null ? null : Number(delivery.completed_at)),
    attempts: attempts.map(renderAttempt),
  };
}

async function checkedUrl(c: Context<AppEnv>, url: string): Promise<string> {
  try {
    return await checkWebhookUrl(url, outboundPolicyFromConfig(c.get('services').config));
  } catch (error) {
    if (error instanceof WebhookUrlError) throw validationError('url', `url ${error.message}.`);
    throw error;
  }
}

async function checkedDeployment(c: Context<AppEnv>, deploymentId: string | null | undefined): Promise<void> {
  if (deploymentId === null || deploymentId === undefined) return;
  const deployment = await c.get('services').store.deployments.get(c.get('apiKey').account_id, deploymentId);
  if (!deployment) throw notFound('deployment', deploymentId, 'deployment_id');
}

async function loadEndpoint(c: Context<AppEnv>, endpointId: string): Promise<WebhookEndpointRecord> {
  const endpoint = await c.get('services').store.webhooks.getEndpoint(c.get('apiKey').account_id, endpointId);
  if (!endpoint) throw notFound('webhook endpoint', endpointId, 'endpoint_id');
  return endpoint;
}

export function webhookEndpointRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'post',
      path: '/webhook_endpoints',
      summary: 'Create a webhook endpoint',
      description:
        'Herm POSTs the chosen events to `url`, signed the Standard Webhooks way (headers `webhook-id`, `webhook-timestamp`, ' +
        '`webhook-signature`: `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`). The answer carries the signing `secret` ' +
        '(`whsec_…`): it is shown this once. A 2xx within 15 s is success; anything else is retried with exponential backoff ' +
        'and jitter for over a day (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), with the same `webhook-id`. The payloads are ' +
        'in the `webhooks` section of this document.',
      tags: ['Webhooks'],
      security: bearerSecurity,
      request: jsonBody(CreateWebhookEndpointBody),
      responses: { 201: json(WebhookEndpointWithSecret, 'The endpoint, with its signing secret (shown once)'), ...errorResponses },
    }),
    async (c) => {
      const services = c.get('services');
      const body = c.req.valid('json');
      const url = await checkedUrl(c, body.url);
      await checkedDeployment(c, body.deployment_id);
      const secret = newWebhookSecret();
      const endpoint = await services.store.webhooks.createEndpoint({
        accountId: c.get('apiKey').account_id,
        deploymentId: body.deployment_id ?? null,
        url,
        description: body.description ?? null,
        events: body.events,
        secretCiphertext: services.secretCipher.encrypt(secret),
      });
      return c.json({ ...renderWebhookEndpoint(endpoint), secret }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/webhook_endpoints',
      summary: 'List webhook endpoints',
      tags: ['Webhooks'],
      security: bearerSecurity,
      request: {
        query: z.strictObject({
          limit: limitQuery,
          cursor: cursorQuery,
          deployment_id: DeploymentRef.optional().describe('Only the endpoints of this deployment'),
        }),
      },
      responses: { 200: json(WebhookEndpointList, 'A page of endpoints, newest first'), ...errorResponses },
    }),
    async (c) => {
      const query = c.req.valid('query');
      const page = await c.get('services').store.webhooks.listEndpoints(c.get('apiKey').account_id, query, { deploymentId: query.deployment_id });
      return c.json({ data: page.data.map(renderWebhookEndpoint), next_cursor: page.next_cursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/webhook_endpoints/{endpoint_id}',
      summary: 'Get a webhook endpoint (never its secret)',
      tags: ['Webhooks'],
      security: bearerSecurity,
      request: { params: EndpointParams },
      responses: { 200: json(WebhookEndpoint, 'The endpoint'), ...errorResponses },
    }),
    async (c) => c.json(renderWebhookEndpoint(await loadEndpoint(c, c.req.valid('param').endpoint_id)), 200),
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/webhook_endpoints/{endpoint_id}',
      summary: 'Update a webhook endpoint, or re-enable it',
      description:
        'Changes its `url` (checked as on create), `events`, `deployment_id` or `description`. `status: "enabled"` re-enables an endpoint ' +
        'disabled after persistent failure: its pending deliveries are sent at once, and new events reach it again.',
      tags: ['Webhooks'],
      security: bearerSecurity,
      request: { params: EndpointParams, ...jsonBody(UpdateWebhookEndpointBody) },
      responses: { 200: json(WebhookEndpoint, 'The endpoint as it is now'), ...errorResponses },
    }),
    async (c) => {
      const { endpoint_id } = c.req.valid('param');
      const body = c.req.valid('json');
      const services = c.get('services');
      await loadEndpoint(c, endpoint_id);
      const url = body.url === undefined ? undefined : await checkedUrl(c, body.url);
      await checkedDeployment(c, body.deployment_id);
      const endpoint = await services.store.webhooks.updateEndpoint(c.get('apiKey').account_id, endpoint_id, {
        ...(url !== undefined ? { url } : {}),
        ...(body.events !== undefined ? { events: body.events } : {}),
        ...(body.description !== undefined ? { description: body.description } : {}),
        ...(body.deployment_id !== undefined ? { deploymentId: body.deployment_id } : {}),
        ...(body.status !== undefined ? { status: body.status } : {}),
      });
      if (!endpoint) throw notFound('webhook endpoint', endpoint_id, 'endpoint_id');
      if (body.status === 'enabled') services.webhooks.wake();
      return c.json(renderWebhookEndpoint(endpoint), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/webhook_endpoints/{endpoint_id}',
      summary: 'Delete a webhook endpoint',
      description: 'No delivery is attempted to it afterwards, including the retries pending.',
      tags: ['Webhooks'],
      security: bearerSecurity,
      request: { params: EndpointParams },
      responses: { 200: json(z.object({ endpoint_id: z.string(), deleted: z.literal(true) }), 'Deleted'), ...errorResponses },
    }),
    async (c) => {
      const { endpoint_id } = c.req.valid('param');
      if (!(await c.get('services').store.webhooks.deleteEndpoint(c.get('apiKey').account_id, endpoint_id))) {
        throw notFound('webhook endpoint', endpoint_id, 'endpoint_id');
      }
      return c.json({ endpoint_id, deleted: true as const }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/webhook_endpoints/{endpoint_id}/rotate_secret',
      summary: 'Rotate the signing secret',
      description:
        'Makes a new secret, shown in this answer only. The previous one keeps signing for the grace period (default 24 h): meanwhile ' +
        "each delivery's `webhook-signature` carries both signatures, space-separated, so receivers verify with either while they switch.",
      tags: ['Webhooks'],
      security: bearerSecurity,
      request: { params: EndpointParams, body: { required: false, content: { 'application/json': { schema: RotateSecretBody } } } },
      responses: { 200: json(WebhookEndpointWithSecret, 'The endpoint, with its new secret (shown once)'), ...errorResponses },
    }),
    async (c) => {
      const { endpoint_id } = c.req.valid('param');
      const body = (c.req.valid('json') as { grace_period_seconds?: number } | undefined) ?? {};
      const services = c.get('services');
      const graceMs = body.grace_period_seconds !== undefined ? body.grace_period_seconds * 1000 : services.config.HERM_WEBHOOK_ROTATION_GRACE_MS;
      const secret = newWebhookSecret();
      const endpoint = await services.store.webhooks.rotateSecret(c.get('apiKey').account_id, endpoint_id, services.secretCipher.encrypt(secret), Date.now() + graceMs);
      if (!endpoint) throw notFound('webhook endpoint', endpoint_id, 'endpoint_id');
      return c.json({ ...renderWebhookEndpoint(endpoint), secret }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/webhook_endpoints/{endpoint_id}/deliveries',
      summary: "List an endpoint's deliveries and their attempts",
      tags: ['Webhooks'],
      security: bearerSecurity,
      request: {
        params: EndpointParams,
        query: z.strictObject({
          limit: limitQuery,
          cursor: cursorQuery,
          status: z.enum(['pending', 'succeeded', 'failed'], { error: 'must be pending, succeeded or failed' }).optional().describe('Only deliveries in this status'),
        }),
      },
      responses: { 200: json(WebhookDeliveryList, 'A page of deliveries, newest first'), ...errorResponses },
    }),
    async (c) => {
      const endpoint = await loadEndpoint(c, c.req.valid('param').endpoint_id);
      const query = c.req.valid('query');
      const repository = c.get('services').store.webhooks;
      const page = await repository.listDeliveries(endpoint.id, query, { status: query.status });
      const attempts = await repository.attemptsOf(page.data.map((delivery) => delivery.id));
      return c.json({ data: page.data.map((delivery) => renderWebhookDelivery(delivery, attempts.get(delivery.id) ?? [])), next_cursor: page.next_cursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/webhook_endpoints/{endpoint_id}/deliveries/{delivery_id}/retry',
      summary: 'Redeliver a message now',
      description:
        'A failed (or succeeded) delivery gets one more attempt now, with the same `webhook-id`; a pending one is brought forward. ' +
        'A disabled endpoint is a 409 `conflict`: re-enable it first.',
      tags: ['Webhooks'],
      security: bearerSecurity,
      request: { params: z.strictObject({ endpoint_id: idParam('endpoint_id', 'we'), delivery_id: idParam('delivery_id', 'whmsg') }) },
      responses: {
        202: json(WebhookDelivery, 'The delivery, due now'),
        ...errorResponses,
        409: { description: 'conflict: the endpoint is disabled', content: { 'application/json': { schema: ErrorResponse } } },
      },
    }),
    async (c) => {
      const { endpoint_id, delivery_id } = c.req.valid('param');
      const endpoint = await loadEndpoint(c, endpoint_id);
      if (endpoint.status !== 'enabled') {
        throw new ApiError('conflict', `Webhook endpoint ${endpoint_id} is disabled; re-enable it with PATCH /v1/webhook_endpoints/${endpoint_id} {"status": "enabled"} first.`, 'endpoint_id');
      }
      const services = c.get('services');
      const delivery = await services.store.webhooks.retryDelivery(endpoint.id, delivery_id);
      if (!delivery) throw notFound('webhook delivery', delivery_id, 'delivery_id');
      services.webhooks.wake();
      const attempts = await services.store.webhooks.attemptsOf([delivery.id]);
      return c.json(renderWebhookDelivery(delivery, attempts.get(delivery.id) ?? []), 202);
    },
  );

  return app;
}

// The webhook payloads, for the `webhooks` section of the OpenAPI document (OpenAPI 3.1).
const payloadBase = {
  deployment_id: z.string(),
  customer_id: z.string().describe("The deployment's customer"),
  thread_id: z.string().nullable(),
  run_id: z.string().nullable(),
};

const WEBHOOK_PAYLOADS: Record<(typeof WEBHOOK_EVENT_TYPES)[number], { schema: z.ZodType; example: Record<string, unknown> }> = {
  'run.completed': {
    schema: z.object({ ...payloadBase, run_id: z.string(), thread_id: z.string(), status: z.literal('completed') }),
    example: { status: 'completed' },
  },
  'run.failed': {
    schema: z.object({
      ...payloadBase,
      run_id: z.string(),
      thread_id: z.string(),
      status: z.literal('error'),
      error: z.object({ type: z.string(), message: z.string() }).describe('Why, e.g. cancelled, step_limit, model_error'),
    }),
    example: { status: 'error', error: { type: 'model_error', message: 'The model provider answered 529 (overloaded).' } },
  },
  'steering.requested': {
    schema: z.object({ ...payloadBase, run_id: z.string(), summary: z.string().describe('What the agent asks the human') }).catchall(z.unknown()),
    example: { summary: 'About to post 5 ads to Meta. Approve?' },
  },
  'filesystem.changed': {
    schema: z.object(payloadBase).catchall(z.unknown()).describe("The `filesystem` event's fields (change, path, size…)"),
    example: { change: 'modified', path: 'briefs/q3-brief.md', size: 2048 },
  },
  'automation.fired': {
    schema: z
      .object({
        ...payloadBase,
        run_id: z.string().describe('The run it started'),
        thread_id: z.string().describe("The automation's thread"),
        automation_id: z.string(),
        name: z.string().describe("The automation's name"),
        trigger: z.enum(['schedule', 'manual']).describe('schedule: a due time; manual: trigger (API or the agent\'s tool)'),
        scheduled_for: z.string().nullable().describe('The due time it fired for (UTC); null for a manual trigger'),
      })
      .describe('An automation started a run (its `automation_fired` event)'),
    example: { automation_id: 'auto_5cT2k9', name: 'Weekly video variations', trigger: 'schedule', scheduled_for: '2026-06-15T09:00:00Z' },
  },
  'endpoint.disabled': {
    schema: z
      .object({
        endpoint_id: z.string().describe('The endpoint that was disabled'),
        url: z.string(),
        deployment_id: z.string().nullable().describe('The deployment it is scoped to; null for the whole account'),
        disabled_reason: z.string(),
        disabled_at: z.string().describe('When (ISO 8601)'),
      })
      .describe('An endpoint of the account was disabled after persistent failure; re-enable it with PATCH {"status": "enabled"}'),
    example: {
      endpoint_id: 'we_2Qx8v1',
      url: 'https://hooks.example.com/herm',
      deployment_id: null,
      disabled_reason: 'Disabled after persistent failure: all 8 attempts to deliver whmsg_9Xk2 failed (the last: HTTP 503), …',
      disabled_at: '2026-06-15T09:00:00Z',
    },
  },
};

function webhookSchemaName(type: string): string {
  return `${type.split(/[._]/).map((part) => part[0]!.toUpperCase() + part.slice(1)).join('')}Webhook`;
}

/** Registers each payload's schema as a component (`RunCompletedWebhook`, …). */
export function registerWebhookSchemas(registry: { register: (name: string, schema: z.ZodType) => unknown }): void {
  for (const [type, { schema }] of Object.entries(WEBHOOK_PAYLOADS)) {
    registry.register(
      webhookSchemaName(type),
      z.object({ type: z.literal(type), timestamp: z.string().describe('When the event happened (ISO 8601)'), data: schema }).openapi(webhookSchemaName(type)),
    );
  }
}

const SIGNATURE_HEADERS = [
  { name: 'webhook-id', description: 'The message id (the delivery_id): the same on every retry; deduplicate on it' },
  { name: 'webhook-timestamp', description: 'Seconds since the epoch when this attempt was signed; reject ones far from now (replays)' },
  {
    name: 'webhook-signature',
    description:
      'Space-separated `v1,<base64 HMAC-SHA256>` signatures of "<webhook-id>.<webhook-timestamp>.<body>", keyed with the base64 part of the ' +
      'endpoint secret (whsec_…); two during a rotation grace period. Any one matching is enough',
  },
];

/** Adds the OpenAPI 3.1 `webhooks` section (in place): one POST per event type, its payload, headers and an example. */
export function addWebhooksSection(document: Record<string, any>): Record<string, any> {
  document.webhooks = Object.fromEntries(
    WEBHOOK_EVENT_TYPES.map((type) => [
      type,
      {
        post: {
          summary: type,
          description: `${WEBHOOK_EVENT_DESCRIPTIONS[type]} Sent to the endpoints subscribed to \`${type}\`, signed (Standard Webhooks).`,
          operationId: `webhook_${type.replace('.', '_')}`,
          tags: ['Webhooks'],
          parameters: SIGNATURE_HEADERS.map((header) => ({ ...header, in: 'header', required: true, schema: { type: 'string' } })),
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: { $ref: `#/components/schemas/${webhookSchemaName(type)}` },
                example: {
                  type,
                  timestamp: '2026-06-20T23:28:02.773Z',
                  data: { deployment_id: 'dep_7xK9s2', customer_id: 'cus_acme', thread_id: 'thr_default_8a1', run_id: 'run_4mPx81', ...WEBHOOK_PAYLOADS[type].example },
                },
              },
            },
          },
          responses: {
            '200': { description: 'Any 2xx within 15 s acknowledges the message; anything else (3xx included), or no answer, is retried' },
          },
        },
      },
    ]),
  );
  return document;
}
