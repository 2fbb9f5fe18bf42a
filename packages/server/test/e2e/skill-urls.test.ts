// A skill's `source: "url"` over real HTTP: the server fetches it itself, so by default it refuses every
// internal address (loopback, private, link-local, its own) — by literal, by name, after redirects — and
// answers a refused address exactly as it answers a closed port, so the API is no port scanner.
// HERM_ALLOW_PRIVATE_URLS=true lets the operator's server fetch from its private network.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedLoopbackPort } from '../support/loopback-server.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

let strict: TestServer;
let permissive: TestServer;
let skillServer: http.Server;
let skillPort: number;
let closedPort: number;
let requestsSeen = 0;

beforeAll(async () => {
  skillServer = http.createServer((request, response) => {
    requestsSeen++;
    if (request.url === '/good/SKILL.md') response.end('---\nname: effects\ndescription: Visual effects\n---\n# Effects\n');
    else if (request.url?.startsWith('/to-loopback')) {
      response.writeHead(302, { location: `http://127.0.0.1:${skillPort}/good/SKILL.md` });
      response.end();
    } else {
      response.statusCode = 404;
      response.end('missing');
    }
  });
  await new Promise<void>((resolve) => skillServer.listen(0, '127.0.0.1', resolve));
  skillPort = (skillServer.address() as AddressInfo).port;
  closedPort = await closedLoopbackPort();
  strict = await startTestServer();
  permissive = await startTestServer({ env: { HERM_ALLOW_PRIVATE_URLS: 'true' } });
});

afterAll(async () => {
  await strict?.close();
  await permissive?.close();
  skillServer?.close();
});

/** Creates a deployment with one URL skill; the error's message with the URL replaced by <url>. */
async function createWithSkill(herm: TestServer, url: string): Promise<{ status: number; body: any; message: string }> {
  const response = await herm.request('POST', '/v1/deployments', {
    customer_id: 'cus_skills',
    name: 'n',
    system_prompt: 'p',
    skills: [{ name: 'effects', source: 'url', url }],
  });
  return { ...response, message: String(response.body?.error?.message ?? '').replace(url, '<url>') };
}

const REFUSED = 'Skill "effects" is invalid: could not fetch <url>: the host did not answer.';

describe('skills with source "url"', () => {
  it('refuses loopback, a name resolving to it, private and link-local addresses with 422 invalid_skill, as a closed port', async () => {
    const before = requestsSeen;
    for (const url of [
      `http://127.0.0.1:${skillPort}/good/SKILL.md`,
      `http://localhost:${skillPort}/good/SKILL.md`,
      `http://[::1]:${skillPort}/good/SKILL.md`,
      `http://127.0.0.1:${closedPort}/latest/meta-data`,
      `http://127.0.0.1:${strict.server.port}/v1/deployments`, // the Herm API itself
      'http://169.254.169.254/latest/meta-data',
      'http://10.0.0.1:5432/',
    ]) {
      const response = await createWithSkill(strict, url);
      expect(response.status, url).toBe(422);
      expect(response.body.error, url).toMatchObject({ type: 'invalid_skill', param: 'skills.0.url' });
      expect(response.message, url).toBe(REFUSED);
    }
    expect(requestsSeen).toBe(before);
  });

  it('answers a closed port the same when private URLs are allowed, and fetches from the private network then', async () => {
    const closed = await createWithSkill(permissive, `http://127.0.0.1:${closedPort}/SKILL.md`);
    expect(closed.status).toBe(422);
    expect(closed.body.error).toMatchObject({ type: 'invalid_skill', param: 'skills.0.url' });
    expect(closed.message).toBe(REFUSED);
    const good = await createWithSkill(permissive, `http://localhost:${skillPort}/good/SKILL.md`);
    expect(good.status).toBe(201);
    const viaRedirect = await createWithSkill(permissive, `http://localhost:${skillPort}/to-loopback`);
    expect(viaRedirect.status).toBe(201);
    const missing = await createWithSkill(permissive, `http://127.0.0.1:${skillPort}/missing/SKILL.md`);
    expect(missing.status).toBe(422);
    expect(missing.message).toBe('Skill "effects" is invalid: fetching <url> returned HTTP 404.');
  });

  it('refuses them through the Skills API too (POST and PUT), and keeps the skill as it was', async () => {
    const created = await strict.createDeployment({ skills: [{ name: 'kept', source: 'inline', content: '---\nname: kept\ndescription: Kept\n---\n' }] });
    const url = `http://127.0.0.1:${skillPort}/good/SKILL.md`;
    const before = requestsSeen;
    const added = await strict.request('POST', `/v1/deployments/${created.deployment_id}/skills`, { name: 'effects', source: 'url', url });
    expect(added.status).toBe(422);
    expect(added.body.error).toMatchObject({ type: 'invalid_skill', param: 'url' });
    expect(String(added.body.error.message).replace(url, '<url>')).toBe(REFUSED);
    const replaced = await strict.request('PUT', `/v1/deployments/${created.deployment_id}/skills/${created.skills[0].skill_id}`, { source: 'url', url });
    expect(replaced.status).toBe(422);
    expect(replaced.body.error).toMatchObject({ type: 'invalid_skill', param: 'url' });
    expect(requestsSeen).toBe(before);
    const listed = await strict.request('GET', `/v1/deployments/${created.deployment_id}/skills`);
    expect(listed.body.data).toEqual([expect.objectContaining({ skill_id: created.skills[0].skill_id, source: 'inline', description: 'Kept' })]);
  });

  it('refuses them on update too', async () => {
    const created = await strict.createDeployment();
    const url = `http://127.0.0.1:${skillPort}/good/SKILL.md`;
    const response = await strict.request('PATCH', `/v1/deployments/${created.deployment_id}`, { skills: [{ name: 'effects', source: 'url', url }] });
    expect(response.status).toBe(422);
    expect(response.body.error).toMatchObject({ type: 'invalid_skill', param: 'skills.0.url' });
    expect(String(response.body.error.message).replace(url, '<url>')).toBe(REFUSED);
  });
});
