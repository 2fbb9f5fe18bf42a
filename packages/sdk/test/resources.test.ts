import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Herm from 'herm';
import { sendJson, startScriptedServer, type ScriptedServer } from './helpers/scripted-server.ts';

let server: ScriptedServer;
let herm: Herm;

beforeAll(async () => {
  // Echoes what it received, so each test can check the method, path, query and body on both sides.
  server = await startScriptedServer((request, response) => {
    const isList = request.method === 'GET' && /\/(deployments|runs|threads|secrets|steering_requests)$/.test(request.pathname);
    const echo = { method: request.method, path: request.pathname, query: Object.fromEntries(request.query), body: request.json };
    sendJson(response, request.method === 'POST' ? 201 : 200, isList ? { data: [echo], next_cursor: null } : echo);
  });
  herm = new Herm({ apiKey: 'k', baseURL: server.origin });
});

afterAll(() => server.close());

interface Echo {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
}

function echo(value: unknown): Echo {
  return value as Echo;
}

async function firstItem(list: PromiseLike<{ data: unknown[] }>): Promise<Echo> {
  const page = await list;
  return echo(page.data[0]);
}

describe('deployments', () => {
  it('create, get, list, update, delete', async () => {
    expect(echo(await herm.deployments.create({ customer_id: 'c', name: 'n', system_prompt: 'p' }))).toEqual({
      method: 'POST',
      path: '/v1/deployments',
      query: {},
      body: { customer_id: 'c', name: 'n', system_prompt: 'p' },
    });
    expect(echo(await herm.deployments.get('dep_1'))).toMatchObject({ method: 'GET', path: '/v1/deployments/dep_1' });
    expect(await firstItem(herm.deployments.list({ customer_id: 'c', status: 'ready', limit: 5, cursor: 'x' }))).toMatchObject({
      method: 'GET',
      path: '/v1/deployments',
      query: { customer_id: 'c', status: 'ready', limit: '5', cursor: 'x' },
    });
    expect(echo(await herm.deployments.update('dep_1', { secrets: { OLD: null }, features: { dreaming: true } }))).toEqual({
      method: 'PATCH',
      path: '/v1/deployments/dep_1',
      query: {},
      body: { secrets: { OLD: null }, features: { dreaming: true } },
    });
    expect(echo(await herm.deployments.delete('dep_1', { retain_filesystem: true }))).toMatchObject({
      method: 'DELETE',
      path: '/v1/deployments/dep_1',
      query: { retain_filesystem: 'true' },
    });
    expect(echo(await herm.deployments.delete('dep_1'))).toMatchObject({ query: {} });
  });

  it('messages.send', async () => {
    const body = { content: 'hi', thread_id: 'new', attachments: [{ type: 'image' as const, url: 'https://x/y.png' }] };
    expect(echo(await herm.deployments.messages.send('dep_1', body))).toEqual({
      method: 'POST',
      path: '/v1/deployments/dep_1/messages',
      query: {},
      body,
    });
  });

  it('runs.list, get, cancel', async () => {
    expect(await firstItem(herm.deployments.runs.list('dep_1', { thread_id: 'thr_1', status: 'running' }))).toMatchObject({
      path: '/v1/deployments/dep_1/runs',
      query: { thread_id: 'thr_1', status: 'running' },
    });
    expect(echo(await herm.deployments.runs.get('dep_1', 'run_1'))).toMatchObject({
      method: 'GET',
      path: '/v1/deployments/dep_1/runs/run_1',
    });
    const cancelled = echo(await herm.deployments.runs.cancel('dep_1', 'run_1'));
    expect(cancelled).toMatchObject({ method: 'POST', path: '/v1/deployments/dep_1/runs/run_1/cancel' });
    expect(cancelled.body).toBeUndefined();
  });

  it('steering: respond to a request, list and get requests; messages.send with a multitask_strategy', async () => {
    expect(
      echo(await herm.deployments.runs.steering.respond('dep_1', 'run_1', 'str_1', { decision: 'reply', message: 'Use blue.' })),
    ).toMatchObject({ method: 'POST', path: '/v1/deployments/dep_1/runs/run_1/steering/str_1', body: { decision: 'reply', message: 'Use blue.' } });
    expect(await firstItem(herm.deployments.steeringRequests.list('dep_1', { status: 'pending', run_id: 'run_1' }))).toMatchObject({
      method: 'GET',
      path: '/v1/deployments/dep_1/steering_requests',
      query: { status: 'pending', run_id: 'run_1' },
    });
    expect(echo(await herm.deployments.steeringRequests.get('dep_1', 'str_1'))).toMatchObject({ method: 'GET', path: '/v1/deployments/dep_1/steering_requests/str_1' });
    expect(echo(await herm.deployments.messages.send('dep_1', { content: 'hi', multitask_strategy: 'enqueue' }))).toMatchObject({
      body: { content: 'hi', multitask_strategy: 'enqueue' },
    });
  });
});

describe('threads', () => {
  it('create, list, get, update, delete', async () => {
    expect(echo(await herm.threads.create('dep_1', { title: 'Holiday campaign' }))).toEqual({
      method: 'POST',
      path: '/v1/deployments/dep_1/threads',
      query: {},
      body: { title: 'Holiday campaign' },
    });
    expect(echo(await herm.threads.create('dep_1'))).toMatchObject({ body: {} });
    expect(await firstItem(herm.threads.list('dep_1', { limit: 20 }))).toMatchObject({
      path: '/v1/deployments/dep_1/threads',
      query: { limit: '20' },
    });
    expect(echo(await herm.threads.get('dep_1', 'thr_1'))).toMatchObject({
      method: 'GET',
      path: '/v1/deployments/dep_1/threads/thr_1',
    });
    expect(echo(await herm.threads.update('dep_1', 'thr_1', { title: 'Renamed' }))).toMatchObject({
      method: 'PATCH',
      path: '/v1/deployments/dep_1/threads/thr_1',
      body: { title: 'Renamed' },
    });
    expect(echo(await herm.threads.delete('dep_1', 'thr_1'))).toMatchObject({
      method: 'DELETE',
      path: '/v1/deployments/dep_1/threads/thr_1',
    });
  });
});

describe('secrets', () => {
  it('create, list, delete', async () => {
    expect(echo(await herm.secrets.create({ name: 'META_ADS_TOKEN', value: 's3cret' }))).toEqual({
      method: 'POST',
      path: '/v1/secrets',
      query: {},
      body: { name: 'META_ADS_TOKEN', value: 's3cret' },
    });
    expect(await firstItem(herm.secrets.list({ limit: 2 }))).toMatchObject({ path: '/v1/secrets', query: { limit: '2' } });
    expect(echo(await herm.secrets.delete('sec_1'))).toMatchObject({ method: 'DELETE', path: '/v1/secrets/sec_1', query: {} });
    expect(echo(await herm.secrets.delete('sec_1', { force: true }))).toMatchObject({ method: 'DELETE', path: '/v1/secrets/sec_1', query: { force: 'true' } });
  });

  it('create with allowed_hosts, get, update', async () => {
    expect(echo(await herm.secrets.create({ name: 'T', value: 'v', allowed_hosts: ['api.example.com'] }))).toMatchObject({
      method: 'POST',
      body: { name: 'T', value: 'v', allowed_hosts: ['api.example.com'] },
    });
    expect(echo(await herm.secrets.get('sec_1'))).toMatchObject({ method: 'GET', path: '/v1/secrets/sec_1' });
    expect(echo(await herm.secrets.update('sec_1', { value: 'new', allowed_hosts: ['*.example.com'] }))).toEqual({
      method: 'PATCH',
      path: '/v1/secrets/sec_1',
      query: {},
      body: { value: 'new', allowed_hosts: ['*.example.com'] },
    });
  });
});
