// /v1/secrets — register a connector credential and get a sec_ reference for deployments' secrets map.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { notFound } from './api-error.ts';
import type { AppEnv } from './app-env.ts';
import { renderSecret } from './render.ts';
import { bearerSecurity, errorResponses, json, jsonBody } from './route-helpers.ts';
import { CreateSecretBody, cursorQuery, idParam, limitQuery, Secret, SecretList } from './schemas.ts';

export function secretRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'post',
      path: '/secrets',
      summary: 'Register a secret',
      description: 'Stores the value encrypted and returns its reference. The value is never returned.',
      tags: ['Secrets'],
      security: bearerSecurity,
      request: jsonBody(CreateSecretBody),
      responses: { 201: json(Secret, 'The secret reference'), ...errorResponses },
    }),
    async (c) => {
      const services = c.get('services');
      const body = c.req.valid('json');
      const secret = await services.store.secrets.create(c.get('apiKey').account_id, body.name, services.secretCipher.encrypt(body.value));
      return c.json(renderSecret(secret), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/secrets',
      summary: 'List secrets (names and references only)',
      tags: ['Secrets'],
      security: bearerSecurity,
      request: { query: z.strictObject({ limit: limitQuery, cursor: cursorQuery }) },
      responses: { 200: json(SecretList, 'A page of secrets'), ...errorResponses },
    }),
    async (c) => {
      const query = c.req.valid('query');
      const page = await c.get('services').store.secrets.list(c.get('apiKey').account_id, query);
      return c.json({ data: page.data.map(renderSecret), next_cursor: page.next_cursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/secrets/{secret_id}',
      summary: 'Delete a secret',
      tags: ['Secrets'],
      security: bearerSecurity,
      request: { params: z.strictObject({ secret_id: idParam('secret_id', 'sec') }) },
      responses: { 200: json(z.object({ secret_id: z.string(), deleted: z.literal(true) }), 'Deleted'), ...errorResponses },
    }),
    async (c) => {
      const { secret_id } = c.req.valid('param');
      if (!(await c.get('services').store.secrets.delete(c.get('apiKey').account_id, secret_id))) {
        throw notFound('secret', secret_id, 'secret_id');
      }
      return c.json({ secret_id, deleted: true as const }, 200);
    },
  );

  return app;
}
