import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Herm, {
  APIConnectionError,
  APIError,
  AuthenticationError,
  BadRequestError,
  ConflictError,
  InternalServerError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  UnprocessableEntityError,
} from 'herm';
import { sendError, startScriptedServer, type ScriptedServer } from './helpers/scripted-server.ts';

const cases = [
  { status: 400, type: 'validation_error', errorClass: BadRequestError },
  { status: 401, type: 'unauthorized', errorClass: AuthenticationError },
  { status: 402, type: 'insufficient_credits', errorClass: APIError },
  { status: 403, type: 'forbidden', errorClass: PermissionDeniedError },
  { status: 404, type: 'not_found', errorClass: NotFoundError },
  { status: 409, type: 'deployment_not_ready', errorClass: ConflictError },
  { status: 422, type: 'invalid_skill', errorClass: UnprocessableEntityError },
  { status: 422, type: 'invalid_secret_ref', errorClass: UnprocessableEntityError },
  { status: 429, type: 'rate_limited', errorClass: RateLimitError },
  { status: 500, type: 'server_error', errorClass: InternalServerError },
] as const;

let server: ScriptedServer;
let herm: Herm;

beforeAll(async () => {
  // The path says which error to answer with: /v1/deployments/<status>_<type>.
  server = await startScriptedServer((request, response) => {
    const [status, ...type] = (request.pathname.split('/').pop() ?? '').split('_');
    sendError(response, Number(status), type.join('_'), {
      message: `scripted ${type.join('_')}`,
      param: 'customer_id',
      requestId: `req_${status}`,
    });
  });
  herm = new Herm({ apiKey: 'k', baseURL: server.origin, maxRetries: 0 });
});

afterAll(() => server.close());

describe('APIError mapping', () => {
  for (const { status, type, errorClass } of cases) {
    it(`maps ${status} ${type} to ${errorClass.name}`, async () => {
      const error = await herm.deployments.get(`${status}_${type}`).catch((error: unknown) => error);
      expect(error).toBeInstanceOf(errorClass);
      expect(error).toBeInstanceOf(APIError);
      const apiError = error as APIError;
      expect(apiError.status).toBe(status);
      expect(apiError.type).toBe(type);
      expect(apiError.param).toBe('customer_id');
      expect(apiError.request_id).toBe(`req_${status}`);
      expect(apiError.headers?.get('x-request-id')).toBe(`req_${status}`);
      expect(apiError.message).toBe(`${status} ${type}: scripted ${type}`);
    });
  }

  it('generate() picks the class from the status alone', () => {
    const headers = new Headers({ 'x-request-id': 'req_from_header' });
    const error = APIError.generate(404, { error: { type: 'not_found', message: 'gone' } }, headers);
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error.request_id).toBe('req_from_header');
    expect(error.param).toBeUndefined();
    expect(APIError.generate(503, 'Service Unavailable', headers)).toBeInstanceOf(InternalServerError);
    expect(APIError.generate(503, 'Service Unavailable', headers).message).toBe('503 Service Unavailable');
    expect(APIError.generate(undefined, undefined, undefined)).toBeInstanceOf(APIConnectionError);
  });

  it('keeps the well-formed entries of the errors list, and an empty list without one', () => {
    const headers = new Headers();
    const body = {
      error: {
        type: 'validation_error',
        message: 'Missing required parameter: customer_id.',
        param: 'customer_id',
        errors: [{ param: 'customer_id', message: 'Missing required parameter: customer_id.' }, { param: 7 }, null, { param: 'name', message: 'Too long.' }],
      },
    };
    expect(APIError.generate(400, body, headers).errors).toEqual([
      { param: 'customer_id', message: 'Missing required parameter: customer_id.' },
      { param: 'name', message: 'Too long.' },
    ]);
    expect(APIError.generate(400, { error: { type: 'validation_error', message: 'm', errors: 'nope' } }, headers).errors).toEqual([]);
    expect(APIError.generate(404, { error: { type: 'not_found', message: 'gone' } }, headers).errors).toEqual([]);
    expect(APIError.generate(undefined, undefined, undefined).errors).toEqual([]);
  });

  it('keeps the status of a response without the error shape', async () => {
    const plain = await startScriptedServer((_request, response) => {
      response.writeHead(502, { 'x-request-id': 'req_proxy' });
      response.end('Bad Gateway');
    });
    try {
      const client = new Herm({ apiKey: 'k', baseURL: plain.origin, maxRetries: 0 });
      const error = (await client.deployments.get('dep_1').catch((error: unknown) => error)) as APIError;
      expect(error).toBeInstanceOf(InternalServerError);
      expect(error.status).toBe(502);
      expect(error.type).toBeUndefined();
      expect(error.request_id).toBe('req_proxy');
      expect(error.message).toBe('502 Bad Gateway');
    } finally {
      await plain.close();
    }
  });

  it('reports a refused connection as APIConnectionError', async () => {
    const closed = await startScriptedServer(() => {});
    await closed.close();
    const client = new Herm({ apiKey: 'k', baseURL: closed.origin, maxRetries: 0 });
    const error = await client.deployments.get('dep_1').catch((error: unknown) => error);
    expect(error).toBeInstanceOf(APIConnectionError);
    expect((error as APIConnectionError).status).toBeUndefined();
  });
});
