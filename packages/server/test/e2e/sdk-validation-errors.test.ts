// The SDK's APIError carries the server's list of every invalid field (`error.errors`), typed, against a real server.
import Herm, { BadRequestError, NotFoundError, type DeploymentCreateParams, type FieldError } from 'herm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/test-server.ts';

let herm: TestServer;
let client: Herm;

beforeAll(async () => {
  herm = await startTestServer();
  client = new Herm({ apiKey: herm.adminKey, baseURL: herm.url, maxRetries: 0 });
});

afterAll(async () => {
  await herm?.close();
});

it('names every bad field of a create, the first also as param', async () => {
  const error = await client.deployments.create({ name: 'Demo' } as DeploymentCreateParams).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(BadRequestError);
  const bad = error as BadRequestError;
  const fields: FieldError[] = bad.errors;
  expect(fields).toEqual([
    { param: 'customer_id', message: 'Missing required parameter: customer_id.' },
    { param: 'system_prompt', message: 'Missing required parameter: system_prompt.' },
  ]);
  expect(bad.param).toBe('customer_id');
  expect(bad.type).toBe('validation_error');
  expect(bad.error?.errors).toEqual(fields);
  expect(bad.request_id).toMatch(/^req_/);
});

it('a query parameter: a list of one', async () => {
  const error = await client.deployments.list({ limit: 0 }).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(BadRequestError);
  expect((error as BadRequestError).errors).toEqual([{ param: 'limit', message: (error as BadRequestError).error!.message }]);
});

it('is empty for errors that are not about fields', async () => {
  const error = await client.deployments.get('dep_missing').catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(NotFoundError);
  expect((error as NotFoundError).errors).toEqual([]);
});
