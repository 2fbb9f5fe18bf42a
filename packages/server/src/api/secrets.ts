// /v1/secrets — register a connector credential and get a sec_ reference for deployments' secrets map.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { ApiError, notFound } from './api-error.ts';
import type { AppEnv } from './app-env.ts';
import { renderSecret } from './render.ts';
import { bearerSecurity, errorResponses, json, jsonBody } from './route-helpers.ts';
import { normalizeAllowList } from '../sandbox/egress/egress-allowlist.ts';
import { CreateSecretBody, cursorQuery, ErrorResponse, idParam, limitQuery, Secret, SecretList, UpdateSecretBody } from './schemas.ts';

export function secretRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'post',
      path: '/secrets',
      summary: 'Register a secret',
      description:
        'Stores the value encrypted and returns its reference. The value is never returned. Inside a sandbox, the variable a ' +
        "deployment's `secrets` map names holds a placeholder, which the egress proxy replaces with the value only in requests to " +
        '`allowed_hosts` (which must also be on the deployment\'s `sandbox.network.allow`); the server uses the value for MCP server headers.',
      tags: ['Secrets'],
      security: bearerSecurity,
      request: jsonBody(CreateSecretBody),
      responses: { 201: json(Secret, 'The secret reference'), ...errorResponses },
    }),
    async (c) => {
      const services = c.get('services');
      const body = c.req.valid('json');
      const secret = await services.store.secrets.create(
        c.get('apiKey').account_id,
        body.name,
        services.secretCipher.encrypt(body.value),
        normalizeAllowList(body.allowed_hosts ?? []),
      );
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
      method: 'get',
      path: '/secrets/{secret_id}',
      summary: 'Get a secret (its name and hosts, never its value)',
      tags: ['Secrets'],
      security: bearerSecurity,
      request: { params: z.strictObject({ secret_id: idParam('secret_id', 'sec') }) },
      responses: { 200: json(Secret, 'The secret'), ...errorResponses },
    }),
    async (c) => {
      const { secret_id } = c.req.valid('param');
      const secret = await c.get('services').store.secrets.get(c.get('apiKey').account_id, secret_id);
      if (!secret) throw notFound('secret', secret_id, 'secret_id');
      return c.json(renderSecret(secret), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/secrets/{secret_id}',
      summary: 'Rotate a secret, or change its hosts',
      description:
        "Replaces the value (rotation in place) and/or `allowed_hosts`. Deployments that refer to the secret keep their reference and " +
        'their placeholder: the next request the egress proxy sends for them, and the next MCP connection, use the new value. ' +
        "The other way to rotate, as the docs describe it: register a new secret and point the deployment's `secrets` map at it " +
        '(the placeholder stays the same too: it belongs to the deployment and the variable).',
      tags: ['Secrets'],
      security: bearerSecurity,
      request: { params: z.strictObject({ secret_id: idParam('secret_id', 'sec') }), ...jsonBody(UpdateSecretBody) },
      responses: { 200: json(Secret, 'The secret as it is now'), ...errorResponses },
    }),
    async (c) => {
      const { secret_id } = c.req.valid('param');
      const body = c.req.valid('json');
      const services = c.get('services');
      const secret = await services.store.secrets.update(c.get('apiKey').account_id, secret_id, {
        ...(body.value !== undefined ? { ciphertext: services.secretCipher.encrypt(body.value) } : {}),
        ...(body.allowed_hosts !== undefined ? { allowedHosts: normalizeAllowList(body.allowed_hosts) } : {}),
      });
      if (!secret) throw notFound('secret', secret_id, 'secret_id');
      return c.json(renderSecret(secret), 200);
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
