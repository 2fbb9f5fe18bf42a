// Property test: whatever a client sends, the API answers with a typed 4xx (or success), never a 5xx.
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/test-server.ts';

let herm: TestServer;
let deploymentId: string;
let threadId: string;

beforeAll(async () => {
  herm = await startTestServer();
  const deployment = await herm.createDeployment();
  deploymentId = deployment.deployment_id;
  threadId = deployment.thread_id;
});

afterAll(async () => {
  await herm?.close();
});

const field = fc.oneof(
  fc.constantFrom('customer_id', 'name', 'system_prompt', 'model', 'sandbox', 'skills', 'mcp_servers', 'secrets', 'features', 'content', 'thread_id', 'title', 'attachments', 'runtime'),
  fc.string({ maxLength: 12 }),
);
const body = fc.oneof(
  fc.dictionary(field, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 }),
  fc.jsonValue({ maxDepth: 2 }),
  fc.string({ maxLength: 40 }).map((text) => ({ raw: text })),
);

function expectTypedAnswer(status: number, responseBody: any, what: string) {
  expect(status, what).toBeLessThan(500);
  if (status >= 400) {
    expect(typeof responseBody?.error?.type, what).toBe('string');
    expect(typeof responseBody?.error?.message, what).toBe('string');
    expect(responseBody.error.request_id, what).toMatch(/^req_/);
    if (responseBody.error.type === 'validation_error') {
      // Every bad field is listed; the first is the one `param` and `message` name.
      expect(responseBody.error.errors?.[0], what).toEqual({ param: responseBody.error.param, message: responseBody.error.message });
      const params = responseBody.error.errors.map((error: { param: string }) => error.param);
      expect(new Set(params).size, what).toBe(params.length);
    }
  }
}

it('never answers a random body with a 5xx', async () => {
  const targets = [
    ['POST', '/v1/deployments'],
    ['PATCH', `/v1/deployments/${'DEPLOYMENT'}`],
    ['POST', `/v1/deployments/${'DEPLOYMENT'}/messages`],
    ['POST', `/v1/deployments/${'DEPLOYMENT'}/threads`],
    ['PATCH', `/v1/deployments/${'DEPLOYMENT'}/threads/${'THREAD'}`],
    ['POST', '/v1/secrets'],
  ] as const;
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...targets), body, async ([method, template], value) => {
      const path = template.replace('DEPLOYMENT', deploymentId).replace('THREAD', threadId);
      const payload = typeof value === 'object' && value !== null && 'raw' in value && Object.keys(value).length === 1 ? String(value.raw) : value;
      const response = await herm.request(method, path, payload);
      expectTypedAnswer(response.status, response.body, `${method} ${path} ${JSON.stringify(payload)}`);
    }),
    { numRuns: 300 },
  );
});

it('never answers random query strings and path ids with a 5xx', async () => {
  const text = fc.string({ maxLength: 20 }).map(encodeURIComponent);
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('/v1/deployments', `/v1/deployments/${'DEP'}/runs`, `/v1/deployments/${'DEP'}/threads`, `/v1/deployments/${'DEP'}/events`),
      fc.dictionary(fc.constantFrom('limit', 'cursor', 'status', 'customer_id', 'thread_id', 'run_id', 'last_event_id', 'x'), text, { maxKeys: 3 }),
      fc.oneof(fc.constant(deploymentId), text, fc.constant('dep_unknown')),
      async (template, query, id) => {
        const search = new URLSearchParams(Object.entries(query).map(([key, value]) => [key, decodeURIComponent(value)])).toString();
        const path = `${template.replace('DEP', id || 'x')}?${search}`;
        const controller = new AbortController();
        const response = await fetch(`${herm.url}${path}`, { headers: { authorization: `Bearer ${herm.adminKey}` }, signal: controller.signal });
        const isStream = response.headers.get('content-type')?.includes('text/event-stream');
        const responseBody = isStream ? undefined : await response.json().catch(() => undefined);
        controller.abort();
        expectTypedAnswer(response.status, responseBody, path);
      },
    ),
    { numRuns: 200 },
  );
});
