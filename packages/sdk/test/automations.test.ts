// herm.automations: each call's method, path, query and body, against a server that echoes them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Herm from 'herm';
import { sendJson, startScriptedServer, type ScriptedServer } from './helpers/scripted-server.ts';

let server: ScriptedServer;
let herm: Herm;

beforeAll(async () => {
  server = await startScriptedServer((request, response) => {
    const echo = { method: request.method, path: request.pathname, query: Object.fromEntries(request.query), body: request.json };
    const isList = request.method === 'GET' && request.pathname.endsWith('/automations');
    sendJson(response, request.method === 'POST' ? 201 : 200, isList ? { data: [echo], next_cursor: null } : echo);
  });
  herm = new Herm({ apiKey: 'k', baseURL: server.origin, maxRetries: 0 });
});

afterAll(() => server.close());

describe('herm.automations', () => {
  it('create, list, get, update, delete, trigger', async () => {
    const body = { name: 'Weekly', schedule: 'every Monday at 9am', instructions: 'Make five variations.' };
    expect(await herm.automations.create('dep_1', body)).toEqual({ method: 'POST', path: '/v1/deployments/dep_1/automations', query: {}, body });
    const page = await herm.automations.list('dep_1', { limit: 5, cursor: 'c' });
    expect(page.data[0]).toMatchObject({ method: 'GET', path: '/v1/deployments/dep_1/automations', query: { limit: '5', cursor: 'c' } });
    expect(await herm.automations.get('dep_1', 'auto_1')).toMatchObject({ method: 'GET', path: '/v1/deployments/dep_1/automations/auto_1' });
    expect(await herm.automations.update('dep_1', 'auto_1', { enabled: false })).toEqual({
      method: 'PATCH',
      path: '/v1/deployments/dep_1/automations/auto_1',
      query: {},
      body: { enabled: false },
    });
    expect(await herm.automations.delete('dep_1', 'auto_1')).toMatchObject({ method: 'DELETE', path: '/v1/deployments/dep_1/automations/auto_1' });
    expect(await herm.automations.trigger('dep_1', 'auto_1')).toMatchObject({ method: 'POST', path: '/v1/deployments/dep_1/automations/auto_1/trigger' });
  });
});
