// Validation names every bad field at once; a known path with the wrong method is a 405 with an Allow header.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/test-server.ts';

let herm: TestServer;

beforeAll(async () => {
  herm = await startTestServer();
});

afterAll(async () => {
  await herm?.close();
});

it('names every bad field of a body, the first also as param', async () => {
  const response = await herm.request('POST', '/v1/deployments', { name: 'Demo' });
  expect(response.status).toBe(400);
  expect(response.body.error.type).toBe('validation_error');
  expect(response.body.error.param).toBe('customer_id');
  expect(response.body.error.message).toBe('Missing required parameter: customer_id.');
  expect(response.body.error.errors).toEqual([
    { param: 'customer_id', message: 'Missing required parameter: customer_id.' },
    { param: 'system_prompt', message: 'Missing required parameter: system_prompt.' },
  ]);
  expect(response.body.error.request_id).toMatch(/^req_/);
});

it('lists unknown keys first and each field once', async () => {
  const response = await herm.request('POST', '/v1/deployments', { nmae: 'Demo', extra: 1, customer_id: 5, system_prompt: '' });
  expect(response.status).toBe(400);
  const params = response.body.error.errors.map((error: { param: string }) => error.param);
  expect(params.slice(0, 2)).toEqual(['nmae', 'extra']);
  expect(params).toEqual(expect.arrayContaining(['customer_id', 'name', 'system_prompt']));
  expect(new Set(params).size).toBe(params.length);
  expect(response.body.error.param).toBe('nmae');
});

it('gives a one-field validation error an errors list of one', async () => {
  const response = await herm.request('GET', '/v1/deployments?limit=0');
  expect(response.status).toBe(400);
  expect(response.body.error.errors).toEqual([{ param: response.body.error.param, message: response.body.error.message }]);
});

it('answers a wrong method on a known path with 405 and Allow', async () => {
  const deployment = await herm.createDeployment();
  const path = `/v1/deployments/${deployment.deployment_id}/files/content?path=a.txt`;
  const response = await fetch(`${herm.url}${path}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${herm.adminKey}`, 'content-type': 'application/octet-stream' },
    body: 'bytes',
  });
  expect(response.status).toBe(405);
  expect(response.headers.get('allow')).toBe('GET, HEAD');
  const body = (await response.json()) as any;
  expect(body.error.type).toBe('method_not_allowed');
  expect(body.error.message).toContain('GET');
  expect(body.error.request_id).toMatch(/^req_/);

  const deploymentPath = await herm.request('POST', `/v1/deployments/${deployment.deployment_id}`, {});
  expect(deploymentPath.status).toBe(405);
  expect(deploymentPath.headers.get('allow')).toBe('GET, HEAD, PATCH, DELETE');

  const docs = await herm.request('DELETE', '/v1/docs', undefined, null);
  expect(docs.status).toBe(405);
  expect(docs.headers.get('allow')).toBe('GET, HEAD');
});

it('still answers an unknown path with 404', async () => {
  const response = await herm.request('PUT', '/v1/deployments/dep_x/nothing-here', {});
  expect(response.status).toBe(404);
  expect(response.body.error.type).toBe('not_found');
  expect((await herm.request('GET', '/v1/nowhere')).status).toBe(404);
});
