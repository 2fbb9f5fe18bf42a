// /v1/secrets — register a connector credential and get a sec_ reference for deployments' secrets map.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { ApiError, notFound } from './api-error.ts';
import type { AppEnv } from './app-env.ts';
import { renderSecret } from './render.ts';
import { bearerSecurity, errorResponses, json, jsonBody } from './route-helpers.ts';
import { CreateSecretBody, cursorQuery, ErrorResponse, idParam, limitQuery, Secret, SecretList } from './schemas.ts';

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
      description:
        "A secret that live deployments refer to in their `secrets` map is a 409 `conflict` naming them: remove it from " +
        'their maps first (update with `{"secrets": {"NAME": null}}`), or pass `force=true`. Deleted with `force`, the ' +
        "reference dangles: each run of such a deployment ends in `error` with type `configuration_error` naming the " +
        'variable, until its map drops or replaces the reference.',
      tags: ['Secrets'],
      security: bearerSecurity,
      request: {
        params: z.strictObject({ secret_id: idParam('secret_id', 'sec') }),
        query: z.strictObject({
          force: z
            .enum(['true', 'false'], { error: 'must be true or false' })
            .optional()
            .describe('Delete it even though deployments refer to it. Defaults to false'),
        }),
      },
      responses: {
        200: json(z.object({ secret_id: z.string(), deleted: z.literal(true) }), 'Deleted'),
        ...errorResponses,
        409: { description: 'conflict: deployments refer to the secret', content: { 'application/json': { schema: ErrorResponse } } },
      },
    }),
    async (c) => {
      const { secret_id } = c.req.valid('param');
      const accountId = c.get('apiKey').account_id;
      const store = c.get('services').store;
      if (!(await store.secrets.get(accountId, secret_id))) throw notFound('secret', secret_id, 'secret_id');
      if (c.req.valid('query').force !== 'true') {
        const referencing = await store.deployments.referencingSecret(accountId, secret_id);
        if (referencing.length > 0) throw secretInUse(secret_id, referencing);
      }
      if (!(await store.secrets.delete(accountId, secret_id))) throw notFound('secret', secret_id, 'secret_id');
      return c.json({ secret_id, deleted: true as const }, 200);
    },
  );

  return app;
}

/** Deployments named in the 409 message; the rest are counted. */
const LISTED_DEPLOYMENTS = 10;

function secretInUse(secretId: string, referencing: { id: string; names: string[] }[]): ApiError {
  const listed = referencing.slice(0, LISTED_DEPLOYMENTS).map((deployment) => `${deployment.id} (${deployment.names.join(', ')})`);
  const more = referencing.length - listed.length;
  const count = referencing.length === 1 ? '1 deployment' : `${referencing.length} deployments`;
  return new ApiError(
    'conflict',
    `Secret ${secretId} is used by ${count}: ${listed.join(', ')}${more > 0 ? `, and ${more} more` : ''}. ` +
      'Remove it from their secrets maps first (PATCH /v1/deployments/{id} with {"secrets": {"NAME": null}}), ' +
      `or delete it anyway with DELETE /v1/secrets/${secretId}?force=true: their runs then fail with a configuration_error until the reference is removed.`,
    'secret_id',
  );
}
