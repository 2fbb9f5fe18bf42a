// The HTTP API: one Hono app, one error shape, the OpenAPI 3.1 document built from the route schemas.
import { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { createMiddleware } from 'hono/factory';
import type { Services } from '../services.ts';
import { randomBase62 } from '../util/ids.ts';
import { allowedMethods } from './allowed-methods.ts';
import { ApiError, methodNotAllowed, validationError } from './api-error.ts';
import type { AppEnv } from './app-env.ts';
import { accountRoutes } from './accounts.ts';
import { usageRoutes } from './usage.ts';
import { authenticate, requireScope } from './auth.ts';
import { deploymentRoutes } from './deployments.ts';
import { fromZodError, renderError } from './errors.ts';
import { addExamples, EVENT_TYPES, eventSchemaName } from './examples.ts';
import { fileRoutes, isFileUpload } from './files.ts';
import { idempotency } from './idempotency.ts';
import { eventRoutes } from './events.ts';
import { messageRoutes } from './messages.ts';
import { renderReferencePage } from './reference-page.ts';
import { runRoutes } from './runs.ts';
import { secretRoutes } from './secrets.ts';
import { skillRoutes } from './skills.ts';
import { snapshotRoutes } from './snapshots.ts';
import { threadRoutes } from './threads.ts';
import { toolRoutes } from './tools.ts';
import { automationRoutes } from './automations.ts';
import { dreamRoutes } from './dreams.ts';
import { memoryRoutes } from './memories.ts';
import { steeringRoutes } from './steering.ts';
import { addWebhooksSection, registerWebhookSchemas, webhookEndpointRoutes } from './webhook-endpoints.ts';

const MAX_BODY_BYTES = 4 * 1024 * 1024;
const OPENAPI_INFO = {
  openapi: '3.1.0',
  info: {
    title: 'Herm API',
    version: '0.1.0',
    description: 'Run one dedicated AI agent per customer: deployments, threads, runs and a Server-Sent Events stream.',
  },
};

export function createApp(services: Services): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (!result.success) {
        throw fromZodError(result.error);
      }
      return undefined;
    },
  });

  app.use('*', async function assignRequestId(c, next) {
    const requestId = `req_${randomBase62(20)}`;
    c.set('requestId', requestId);
    c.set('services', services);
    await next();
    c.header('x-request-id', requestId);
    c.header('herm-api-version', OPENAPI_INFO.info.version); // the SDK checks it against the version it speaks (packages/sdk/src/version.ts)
  });

  // A known path with the wrong method is a 405 naming the right ones, before authentication and body checks
  // (a PUT to a GET-only path is not a "send JSON" 400). The table is built at the first request, when every
  // route is registered.
  let methodsOf: ((path: string) => string[] | undefined) | undefined;
  app.use('*', async function rejectWrongMethod(c, next) {
    methodsOf ??= allowedMethods(app.routes);
    const allow = methodsOf(c.req.path);
    if (allow && !allow.includes(c.req.method)) throw methodNotAllowed(c.req.method, c.req.path, allow);
    await next();
  });

  const limitJsonBody = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new ApiError('payload_too_large', `Request body is larger than ${MAX_BODY_BYTES} bytes.`);
    },
  });
  // A file upload's body is the file itself: its route enforces HERM_MAX_FILE_BYTES and takes any content type.
  app.use('/v1/*', async function limitBodySize(c, next) {
    return isFileUpload(c.req.method, c.req.path) ? next() : limitJsonBody(c, next);
  });

  app.use('/v1/*', async function requireJsonBody(c, next) {
    const method = c.req.method;
    if ((method === 'POST' || method === 'PATCH' || method === 'PUT') && !isFileUpload(method, c.req.path)) {
      const type = c.req.header('content-type');
      const hasBody = c.req.header('content-length') !== '0' && (c.req.header('content-length') || c.req.header('transfer-encoding'));
      if (hasBody && !(type && /^application\/(.+\+)?json\b/i.test(type))) {
        throw validationError('body', 'Request bodies must be JSON: send Content-Type: application/json.');
      }
    }
    await next();
  });

  // In Hono "/v1/deployments/*" also matches "/v1/deployments" itself, so each middleware is mounted once per
  // resource: mounting it on both paths would run it twice.
  const readScope = requireScope('deployments:read');
  const writeScope = requireScope('deployments:write');
  const scoped = createMiddleware<AppEnv>(async function requireMethodScope(c, next) {
    return c.req.method === 'GET' || c.req.method === 'HEAD' ? readScope(c, next) : writeScope(c, next);
  });
  for (const path of ['/v1/deployments/*', '/v1/secrets/*', '/v1/snapshots/*', '/v1/webhook_endpoints/*']) app.use(path, authenticate(services.keys), scoped, idempotency);
  // Accounts, keys and the audit log: the operator's, for keys with the admin scope only (api/accounts.ts).
  for (const path of ['/v1/accounts/*', '/v1/keys/*', '/v1/audit_log/*']) app.use(path, authenticate(services.keys), requireScope('admin'), idempotency);
  // Usage and budgets: read with deployments:read (the key's own account); budgets are set with the admin scope (api/usage.ts).
  for (const path of ['/v1/usage/*', '/v1/budgets/*']) app.use(path, authenticate(services.keys), readScope, idempotency);

  for (const routes of [deploymentRoutes(), messageRoutes(), eventRoutes(), threadRoutes(), runRoutes(), secretRoutes(), fileRoutes(), snapshotRoutes(), skillRoutes()]) {
    app.route('/v1', routes);
  }
  app.route('/v1', toolRoutes());
  app.route('/v1', automationRoutes());
  app.route('/v1', memoryRoutes());
  app.route('/v1', dreamRoutes());
  app.route('/v1', webhookEndpointRoutes());
  app.route('/v1', steeringRoutes());
  app.route('/v1', accountRoutes());
  app.route('/v1', usageRoutes());

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', { type: 'http', scheme: 'bearer' });
  // The SSE payloads are no route's response: registered so the document (and x-events) can refer to them.
  for (const { event, schema } of EVENT_TYPES) app.openAPIRegistry.register(eventSchemaName(event), schema);
  registerWebhookSchemas(app.openAPIRegistry);
  // The document with the examples of examples.ts (curl, SDK, responses, SSE events); /v1/docs renders the same one.
  const document = (origin: string) =>
    addWebhooksSection(addExamples(app.getOpenAPI31Document({ ...OPENAPI_INFO, servers: [{ url: origin }] }) as Record<string, any>, origin));
  app.get('/v1/openapi.json', (c) => c.json(document(new URL(c.req.url).origin)));
  app.get('/v1/docs', (c) => c.html(renderReferencePage(document(new URL(c.req.url).origin))));
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  // Prometheus metrics (observability/metrics.ts), in the text exposition format, to keys with metrics:read (or admin).
  // An operator's endpoint like /healthz: not part of the /v1 API, its document or the SDK.
  app.get('/metrics', authenticate(services.keys), requireScope('metrics:read'), async (c) => {
    const text = await services.metrics.metrics();
    return c.body(text, 200, { 'content-type': services.metrics.contentType, 'cache-control': 'no-store' });
  });

  app.notFound((c) => {
    throw new ApiError('not_found', `No route for ${c.req.method} ${new URL(c.req.url).pathname}.`);
  });
  app.onError((error, c) => renderError(error, c));
  return app;
}
