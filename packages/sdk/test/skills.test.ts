// herm.skills: the calls of the Skills API docs (add, list, get, update, delete and its alias remove), each the
// request the API reference shows.
import { afterAll, beforeAll, expect, it } from 'vitest';
import Herm from 'herm';
import { sendJson, startScriptedServer, type ScriptedServer } from './helpers/scripted-server.ts';

let server: ScriptedServer;
let herm: Herm;

beforeAll(async () => {
  server = await startScriptedServer((request, response) => {
    sendJson(response, request.method === 'POST' ? 201 : 200, { method: request.method, path: request.pathname, body: request.json });
  });
  herm = new Herm({ apiKey: 'k', baseURL: server.origin });
});

afterAll(() => server.close());

const CONTENT = '---\nname: thumbnail-design\ndescription: Design high-CTR video thumbnails\n---\n# Thumbnail Design\n...';

it('sends each call of herm.skills to its endpoint', async () => {
  const echo = (value: unknown) => value as { method: string; path: string; body: unknown };
  expect(echo(await herm.skills.add('dep_7xK9s2', { name: 'thumbnail-design', source: 'inline', content: CONTENT }))).toEqual({
    method: 'POST',
    path: '/v1/deployments/dep_7xK9s2/skills',
    body: { name: 'thumbnail-design', source: 'inline', content: CONTENT },
  });
  expect(echo(await herm.skills.list('dep_7xK9s2'))).toMatchObject({ method: 'GET', path: '/v1/deployments/dep_7xK9s2/skills' });
  expect(echo(await herm.skills.get('dep_7xK9s2', 'skl_7vB4n2'))).toMatchObject({ method: 'GET', path: '/v1/deployments/dep_7xK9s2/skills/skl_7vB4n2' });
  expect(echo(await herm.skills.update('dep_7xK9s2', 'skl_7vB4n2', { source: 'url', url: 'https://example.com/SKILL.md' }))).toEqual({
    method: 'PUT',
    path: '/v1/deployments/dep_7xK9s2/skills/skl_7vB4n2',
    body: { source: 'url', url: 'https://example.com/SKILL.md' },
  });
  expect(echo(await herm.skills.delete('dep_7xK9s2', 'skl_7vB4n2'))).toMatchObject({ method: 'DELETE', path: '/v1/deployments/dep_7xK9s2/skills/skl_7vB4n2' });
  expect(echo(await herm.skills.remove('dep_7xK9s2', 'skl_7vB4n2'))).toMatchObject({ method: 'DELETE', path: '/v1/deployments/dep_7xK9s2/skills/skl_7vB4n2' });
  expect(echo(await herm.skills.get('dep/../x', 'skl_1')).path).toBe('/v1/deployments/dep%2F..%2Fx/skills/skl_1');
});
