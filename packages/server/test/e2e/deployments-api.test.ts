// The Deployments API over real HTTP: create, get, list, update semantics, delete, and bad input.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCRIPTED_MODEL, startTestServer, type TestServer } from '../support/test-server.ts';

let herm: TestServer;
let skillServer: http.Server;
let skillUrl: string;

beforeAll(async () => {
  // The skill server is on loopback: the operator lets the server's own requests reach private addresses.
  herm = await startTestServer({ env: { HERM_ALLOW_PRIVATE_URLS: 'true' } });
  skillServer = http.createServer((request, response) => {
    if (request.url === '/good/SKILL.md') {
      response.end('---\nname: effects\ndescription: Social media visual effects\n---\n# Effects\n1. Do it.\n');
    } else if (request.url === '/bad/SKILL.md') {
      response.end('# no frontmatter here');
    } else {
      response.statusCode = 404;
      response.end('missing');
    }
  });
  await new Promise<void>((resolve) => skillServer.listen(0, '127.0.0.1', resolve));
  skillUrl = `http://127.0.0.1:${(skillServer.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await herm?.close();
  skillServer?.close();
});

describe('create', () => {
  it('applies the documented defaults and answers with everything the quickstart needs', async () => {
    const response = await herm.request('POST', '/v1/deployments', {
      customer_id: 'cus_quickstart',
      name: 'Quickstart Agent',
      system_prompt: 'You are a helpful agent.',
    });
    expect(response.status).toBe(201);
    const deployment = response.body;
    expect(deployment).toMatchObject({
      customer_id: 'cus_quickstart',
      name: 'Quickstart Agent',
      runtime: 'hermes',
      status: 'ready',
      model: 'anthropic/claude-sonnet-4.5',
      sandbox: { enabled: true, type: 'bubblewrap', persistent_filesystem: true },
      features: { memory: true, dreaming: false, automations: true, steering: true, filesystem_webhooks: false },
      mcp_servers: [],
      skills: [],
      secrets: {},
      filesystem: { workspace_path: '/workspace', persistent: true },
      events: { transport: 'sse', url: `${herm.url}/v1/deployments/${deployment.deployment_id}/events` },
    });
    expect(deployment.deployment_id).toMatch(/^dep_/);
    expect(deployment.thread_id).toMatch(/^thr_/);
    expect(deployment.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(response.headers.get('x-request-id')).toMatch(/^req_/);
  });

  it('stores every parameter: MCP servers, skills of each source, secrets and features', async () => {
    const secret = await herm.request('POST', '/v1/secrets', { name: 'meta', value: 'token-value' });
    expect(secret.status).toBe(201);
    expect(JSON.stringify(secret.body)).not.toContain('token-value');
    const body = {
      customer_id: 'cus_123',
      name: 'Acme Creative Agent',
      runtime: 'hermes',
      model: 'anthropic/claude-opus-4-8',
      system_prompt: "You are Acme's media generation agent.",
      sandbox: { enabled: true, persistent_filesystem: true },
      mcp_servers: [{ name: 'prism-media', url: 'https://api.example.com/mcp', tools: ['generate_image'] }],
      skills: [
        { name: 'ugc', source: 'file', path: '.prism/skills/ugc/SKILL.md' },
        { name: 'storyboarding', source: 'inline', content: '---\nname: storyboarding\ndescription: Boards\n---\n# S\n' },
        { name: 'effects', source: 'url', url: `${skillUrl}/good/SKILL.md` },
      ],
      secrets: { META_ADS_TOKEN: secret.body.secret_id },
      features: { dreaming: true, filesystem_webhooks: true },
    };
    const created = await herm.request('POST', '/v1/deployments', body);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      model: 'anthropic/claude-opus-4-8',
      mcp_servers: body.mcp_servers,
      skills: body.skills,
      secrets: body.secrets,
      features: { memory: true, dreaming: true, automations: true, steering: true, filesystem_webhooks: true },
    });
    const fetched = await herm.request('GET', `/v1/deployments/${created.body.deployment_id}`);
    expect(fetched.body).toEqual(created.body);
  });

  it('rejects skills that cannot be fetched or parsed with invalid_skill', async () => {
    for (const [skill, param] of [
      [{ name: 'x', source: 'inline', content: 'no frontmatter' }, 'skills.0.content'],
      [{ name: 'x', source: 'url', url: `${skillUrl}/bad/SKILL.md` }, 'skills.0.url'],
      [{ name: 'x', source: 'url', url: `${skillUrl}/missing/SKILL.md` }, 'skills.0.url'],
    ] as const) {
      const response = await herm.request('POST', '/v1/deployments', {
        customer_id: 'cus_1',
        name: 'n',
        system_prompt: 'p',
        skills: [skill],
      });
      expect(response.status).toBe(422);
      expect(response.body.error).toMatchObject({ type: 'invalid_skill', param });
    }
  });

  it('rejects secret references that do not exist with invalid_secret_ref', async () => {
    const response = await herm.request('POST', '/v1/deployments', {
      customer_id: 'cus_1',
      name: 'n',
      system_prompt: 'p',
      secrets: { META_ADS_TOKEN: 'sec_doesnotexist' },
    });
    expect(response.status).toBe(422);
    expect(response.body.error).toMatchObject({ type: 'invalid_secret_ref', param: 'secrets.META_ADS_TOKEN' });
  });

  it('answers bad input with a 400 naming the field, and creates nothing', async () => {
    const before = await herm.request('GET', '/v1/deployments?limit=100');
    const cases: [unknown, string][] = [
      ['{"customer_id": ', 'body'],
      [{ name: 'n', system_prompt: 'p' }, 'customer_id'],
      [{ customer_id: 5, name: 'n', system_prompt: 'p' }, 'customer_id'],
      [{ customer_id: 'c', name: 'n', system_prompt: 'p', colour: 'red' }, 'colour'],
      [{ customer_id: 'c', name: 'n', system_prompt: 'p', sandbox: { kind: 'x' } }, 'sandbox.kind'],
      [{ customer_id: 'c', name: 'n', system_prompt: 'p', model: 'mystery/model-1' }, 'model'],
      [{ customer_id: 'c', name: 'n', system_prompt: 'p', model: 'no-slash' }, 'model'],
      [{ customer_id: 'c', name: 'n', system_prompt: 'p', runtime: 'other' }, 'runtime'],
      [{ customer_id: 'c', name: 'n', system_prompt: 'p', features: { memory: 'yes' } }, 'features.memory'],
      [{ customer_id: 'c', name: 'n', system_prompt: 'p', mcp_servers: [{ name: 'a', url: 'not a url' }] }, 'mcp_servers.0.url'],
      [
        { customer_id: 'c', name: 'n', system_prompt: 'p', mcp_servers: [{ name: 'a', url: 'https://a.test' }, { name: 'a', url: 'https://b.test' }] },
        'mcp_servers.1.name',
      ],
      [{ customer_id: 'c', name: 'n', system_prompt: 'p', skills: [{ name: 's', source: 'file', path: '../../etc/passwd' }] }, 'skills.0.path'],
      [{ customer_id: 'c', name: 'n', system_prompt: 'p', secrets: { 'BAD-NAME': 'sec_x' } }, 'secrets.BAD-NAME'],
      [{ customer_id: 'c', name: 'n', system_prompt: 'p', sandbox: { type: 'firecracker' } }, 'sandbox.type'],
      [{ customer_id: 'c', name: 'n', system_prompt: 'p', mcp_servers: Array.from({ length: 21 }, (_, i) => ({ name: `m${i}`, url: 'https://a.test' })) }, 'mcp_servers'],
    ];
    for (const [body, param] of cases) {
      const response = await herm.request('POST', '/v1/deployments', body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.error, JSON.stringify(body)).toMatchObject({ type: 'validation_error', param });
      expect(response.body.error.message).toBeTypeOf('string');
      if (param === 'customer_id') {
        expect(response.body.error.message).toMatch(typeof (body as { customer_id?: unknown }).customer_id === 'number' ? /^Invalid customer_id/ : /^Missing required parameter: customer_id/);
      }
      expect(response.body.error.request_id).toMatch(/^req_/);
    }
    const wrongType = await fetch(`${herm.url}/v1/deployments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${herm.adminKey}`, 'content-type': 'text/plain' },
      body: 'customer_id=x',
    });
    expect(wrongType.status).toBe(400);
    const after = await herm.request('GET', '/v1/deployments?limit=100');
    expect(after.body.data.length).toBe(before.body.data.length);
  });
});

describe('list', () => {
  it('filters by customer and status, pages newest first with cursors, and validates limit', async () => {
    const customer = `cus_list_${Date.now()}`;
    const ids: string[] = [];
    for (let index = 0; index < 5; index++) ids.push((await herm.createDeployment({ customer_id: customer })).deployment_id);
    const first = await herm.request('GET', `/v1/deployments?customer_id=${customer}&limit=2`);
    expect(first.status).toBe(200);
    expect(first.body.data.map((d: any) => d.deployment_id)).toEqual([ids[4], ids[3]]);
    expect(first.body.next_cursor).toBeTypeOf('string');
    const second = await herm.request('GET', `/v1/deployments?customer_id=${customer}&limit=2&cursor=${first.body.next_cursor}`);
    const third = await herm.request('GET', `/v1/deployments?customer_id=${customer}&limit=2&cursor=${second.body.next_cursor}`);
    expect([...second.body.data, ...third.body.data].map((d: any) => d.deployment_id)).toEqual([ids[2], ids[1], ids[0]]);
    expect(third.body.next_cursor).toBeNull();
    const ready = await herm.request('GET', `/v1/deployments?customer_id=${customer}&status=ready`);
    expect(ready.body.data).toHaveLength(5);
    const errored = await herm.request('GET', `/v1/deployments?customer_id=${customer}&status=error`);
    expect(errored.body.data).toHaveLength(0);
    const defaultLimit = await herm.request('GET', '/v1/deployments');
    expect(defaultLimit.body.data.length).toBeLessThanOrEqual(20);
    for (const query of ['limit=0', 'limit=101', 'limit=abc', 'status=deleted', 'cursor=nonsense', 'sort=asc']) {
      const response = await herm.request('GET', `/v1/deployments?${query}`);
      expect(response.status, query).toBe(400);
      expect(response.body.error.param, query).toBe(query.split('=')[0]);
    }
  });
});

describe('update', () => {
  it('replaces scalars and arrays, merges maps with null removing a key, preserves the rest', async () => {
    const one = await herm.request('POST', '/v1/secrets', { name: 'one', value: 'value-one-1' });
    const two = await herm.request('POST', '/v1/secrets', { name: 'two', value: 'value-two-2' });
    const deployment = await herm.createDeployment({
      mcp_servers: [{ name: 'a', url: 'https://a.test/mcp' }],
      skills: [{ name: 's1', source: 'inline', content: '---\nname: s1\ndescription: d\n---\n' }],
      secrets: { ONE: one.body.secret_id, TWO: two.body.secret_id },
      features: { dreaming: true },
    });
    const updated = await herm.request('PATCH', `/v1/deployments/${deployment.deployment_id}`, {
      name: 'Renamed',
      model: 'anthropic/claude-opus-4-8',
      skills: [],
      secrets: { ONE: null, THREE: two.body.secret_id },
      features: { dreaming: null, steering: false },
    });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({
      name: 'Renamed',
      model: 'anthropic/claude-opus-4-8',
      system_prompt: deployment.system_prompt,
      mcp_servers: deployment.mcp_servers,
      skills: [],
      secrets: { TWO: two.body.secret_id, THREE: two.body.secret_id },
      features: { memory: true, dreaming: false, automations: true, steering: false, filesystem_webhooks: false },
      customer_id: deployment.customer_id,
      thread_id: deployment.thread_id,
    });
    expect(updated.body.secrets).not.toHaveProperty('ONE');
    const again = await herm.request('GET', `/v1/deployments/${deployment.deployment_id}`);
    expect(again.body).toEqual(updated.body);
  });

  it('returns the deployment unchanged for a no-op and refuses to change customer_id or runtime', async () => {
    const deployment = await herm.createDeployment();
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const noop = await herm.request('PATCH', `/v1/deployments/${deployment.deployment_id}`, {
      name: deployment.name,
      customer_id: deployment.customer_id,
    });
    expect(noop.status).toBe(200);
    expect(noop.body).toEqual(deployment);
    const immutable = await herm.request('PATCH', `/v1/deployments/${deployment.deployment_id}`, { customer_id: 'cus_other' });
    expect(immutable.status).toBe(400);
    expect(immutable.body.error).toMatchObject({ type: 'validation_error', param: 'customer_id' });
    const runtime = await herm.request('PATCH', `/v1/deployments/${deployment.deployment_id}`, { runtime: 'other' });
    expect(runtime.body.error).toMatchObject({ type: 'validation_error', param: 'runtime' });
    const unknown = await herm.request('PATCH', `/v1/deployments/${deployment.deployment_id}`, { nmae: 'typo' });
    expect(unknown.body.error).toMatchObject({ type: 'validation_error', param: 'nmae' });
  });
});

describe('delete and ids', () => {
  it('deletes; the deployment is then 404 everywhere; retain_filesystem is accepted', async () => {
    const deployment = await herm.createDeployment();
    const deleted = await herm.request('DELETE', `/v1/deployments/${deployment.deployment_id}?retain_filesystem=true`);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ deployment_id: deployment.deployment_id, status: 'deleted' });
    for (const [method, path, body] of [
      ['GET', `/v1/deployments/${deployment.deployment_id}`, undefined],
      ['PATCH', `/v1/deployments/${deployment.deployment_id}`, { name: 'x' }],
      ['DELETE', `/v1/deployments/${deployment.deployment_id}`, undefined],
      ['POST', `/v1/deployments/${deployment.deployment_id}/messages`, { content: 'hi' }],
      ['GET', `/v1/deployments/${deployment.deployment_id}/events`, undefined],
      ['GET', `/v1/deployments/${deployment.deployment_id}/threads`, undefined],
    ] as const) {
      const response = await herm.request(method, path, body);
      expect(response.status, `${method} ${path}`).toBe(404);
      expect(response.body.error.type).toBe('not_found');
    }
    const bad = await herm.request('DELETE', `/v1/deployments/${(await herm.createDeployment()).deployment_id}?retain_filesystem=maybe`);
    expect(bad.body.error).toMatchObject({ type: 'validation_error', param: 'retain_filesystem' });
  });

  it('rejects ids of the wrong prefix with a 400 naming the parameter', async () => {
    for (const path of ['/v1/deployments/thr_abc', '/v1/deployments/dep_x/threads/run_abc', '/v1/deployments/dep_x/runs/thr_1']) {
      const response = await herm.request('GET', path);
      expect(response.status, path).toBe(400);
      expect(response.body.error.type).toBe('validation_error');
    }
    const unknownRoute = await herm.request('GET', '/v1/nothing-here');
    expect(unknownRoute.status).toBe(404);
    expect(unknownRoute.body.error.type).toBe('not_found');
    expect(SCRIPTED_MODEL).toMatch(/^openai-compatible\//);
  });
});
