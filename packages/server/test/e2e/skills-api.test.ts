// The Skills API over real HTTP (POST/GET/PUT/DELETE /v1/deployments/:id/skills[/:skill_id]): the same skills, with
// the same ids, as the deployment's `skills` array; at most 20 with unique names; a skill that cannot be fetched or
// parsed is a 422 invalid_skill naming it, and nothing is half-made; concurrent adds lose none. url skills come from
// a real HTTP server on loopback (404, a timeout, bad frontmatter, too big).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { availableDialects, createTestDatabase, type TestDatabase } from '../support/databases.ts';
import type { StoredSkill } from '../../src/store/deployments.ts';
import { readyDeploymentRecord } from '../support/deployment-record.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

let herm: TestServer;
let skillServer: http.Server;
let base: string;
/** What /live/SKILL.md serves now: PUT on a url skill must fetch it again. */
let liveSkill = '---\nname: live\ndescription: First version\n---\n# Live\n';
const hanging = new Set<http.ServerResponse>();

const inline = (name: string, description = `About ${name}`) => `---\nname: ${name}\ndescription: ${description}\n---\n# ${name}\nStep 1.\n`;

beforeAll(async () => {
  skillServer = http.createServer((request, response) => {
    if (request.url === '/good/SKILL.md') response.end(inline('effects', 'Social media visual effects'));
    else if (request.url === '/live/SKILL.md') response.end(liveSkill);
    else if (request.url === '/no-frontmatter/SKILL.md') response.end('# Just a heading\nNo frontmatter.\n');
    else if (request.url === '/no-description/SKILL.md') response.end('---\nname: x\n---\nbody\n');
    else if (request.url === '/huge/SKILL.md') response.end(`${inline('huge')}${'x'.repeat(1_100_000)}`);
    else if (request.url === '/slow/SKILL.md') hanging.add(response); // never answers
    else {
      response.statusCode = 404;
      response.end('missing');
    }
  });
  await new Promise<void>((resolve) => skillServer.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(skillServer.address() as AddressInfo).port}`;
  herm = await startTestServer({ env: { HERM_ALLOW_PRIVATE_URLS: 'true', HERM_SKILL_FETCH_TIMEOUT_MS: '400' } });
});

afterAll(async () => {
  await herm?.close();
  for (const response of hanging) response.destroy();
  skillServer?.closeAllConnections();
  skillServer?.close();
});

const skillsPath = (deploymentId: string, skillId = '') => `/v1/deployments/${deploymentId}/skills${skillId ? `/${skillId}` : ''}`;

async function listSkills(deploymentId: string): Promise<any[]> {
  const response = await herm.request('GET', skillsPath(deploymentId));
  expect(response.status).toBe(200);
  return response.body.data;
}

/** The deployment's `skills` array and the Skills API list agree on ids, names and sources, in the same order. */
async function expectSameSkills(deploymentId: string): Promise<any[]> {
  const deployment = (await herm.request('GET', `/v1/deployments/${deploymentId}`)).body;
  const listed = await listSkills(deploymentId);
  const pick = (skill: any) => ({ skill_id: skill.skill_id, name: skill.name, source: skill.source });
  expect(deployment.skills.map(pick)).toEqual(listed.map(pick));
  return deployment.skills;
}

describe('the Skills API', () => {
  it('adds, lists, gets, replaces and removes a skill, the deployment showing the same skills', async () => {
    const deployment = await herm.createDeployment();
    const id = deployment.deployment_id;
    expect(await listSkills(id)).toEqual([]);

    const added = await herm.request('POST', skillsPath(id), { name: 'thumbnail-design', source: 'inline', content: inline('thumbnail-design', 'Design high-CTR video thumbnails') });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ name: 'thumbnail-design', source: 'inline', description: 'Design high-CTR video thumbnails', location: '/skills/thumbnail-design/SKILL.md' });
    expect(added.body.skill_id).toMatch(/^skl_[A-Za-z0-9]+$/);
    expect(added.body.created_at).toMatch(/^\d{4}-\d\d-\d\dT/);
    const skillId = added.body.skill_id;

    expect(await listSkills(id)).toEqual([
      expect.objectContaining({ skill_id: skillId, name: 'thumbnail-design', source: 'inline', description: 'Design high-CTR video thumbnails' }),
    ]);
    const got = await herm.request('GET', skillsPath(id, skillId));
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ skill_id: skillId, content: inline('thumbnail-design', 'Design high-CTR video thumbnails') });
    expect((await expectSameSkills(id))[0]).toEqual({ skill_id: skillId, name: 'thumbnail-design', source: 'inline', content: inline('thumbnail-design', 'Design high-CTR video thumbnails') });

    // PUT with a url: fetched now, and again at the next PUT; the deployment view never carries what was fetched.
    liveSkill = inline('live', 'First version');
    const replaced = await herm.request('PUT', skillsPath(id, skillId), { source: 'url', url: `${base}/live/SKILL.md` });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({ skill_id: skillId, name: 'thumbnail-design', source: 'url', url: `${base}/live/SKILL.md`, description: 'First version' });
    expect(replaced.body.created_at).toBe(added.body.created_at);
    expect((await herm.request('GET', skillsPath(id, skillId))).body.content).toBe(liveSkill);
    const view = await expectSameSkills(id);
    expect(view[0]).toEqual({ skill_id: skillId, name: 'thumbnail-design', source: 'url', url: `${base}/live/SKILL.md` });
    liveSkill = inline('live', 'Second version');
    const refetched = await herm.request('PUT', skillsPath(id, skillId), { source: 'url', url: `${base}/live/SKILL.md`, name: 'thumbnails' });
    expect(refetched.body).toMatchObject({ skill_id: skillId, name: 'thumbnails', description: 'Second version' });
    expect((await herm.request('GET', skillsPath(id, skillId))).body.content).toBe(liveSkill);

    const removed = await herm.request('DELETE', skillsPath(id, skillId));
    expect(removed.status).toBe(200);
    expect(removed.body).toEqual({ skill_id: skillId, deleted: true });
    expect(await expectSameSkills(id)).toEqual([]);
    for (const [method, body] of [['GET'], ['PUT', { source: 'inline', content: inline('x') }], ['DELETE']] as const) {
      const missing = await herm.request(method, skillsPath(id, skillId), body);
      expect(missing.status, method).toBe(404);
      expect(missing.body.error, method).toMatchObject({ type: 'not_found', param: 'skill_id' });
    }
  });

  it('answers 404 for an unknown deployment and 400 for malformed ids and bodies', async () => {
    const unknown = await herm.request('GET', skillsPath('dep_doesnotexist'));
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({ type: 'not_found', param: 'deployment_id' });
    const deployment = await herm.createDeployment();
    const malformed = await herm.request('GET', skillsPath(deployment.deployment_id, 'sec_123'));
    expect(malformed.status).toBe(400);
    expect(malformed.body.error).toMatchObject({ type: 'validation_error', param: 'skill_id' });
    const noContent = await herm.request('POST', skillsPath(deployment.deployment_id), { name: 'a', source: 'inline' });
    expect(noContent.status).toBe(400);
    expect(noContent.body.error).toMatchObject({ type: 'validation_error', param: 'content' });
    const badSource = await herm.request('POST', skillsPath(deployment.deployment_id), { name: 'a', source: 'ftp', url: 'ftp://x' });
    expect(badSource.status).toBe(400);
    const escaping = await herm.request('POST', skillsPath(deployment.deployment_id), { name: 'a', source: 'file', path: '../../etc/passwd' });
    expect(escaping.status).toBe(400);
    expect(escaping.body.error).toMatchObject({ type: 'validation_error', param: 'path' });
    expect(await listSkills(deployment.deployment_id)).toEqual([]);
  });

  it('needs deployments:write to change skills and deployments:read to see them', async () => {
    const deployment = await herm.createDeployment({ skills: [{ name: 'a', source: 'inline', content: inline('a') }] });
    const { secret } = await herm.server.services.store.accounts.createKey({ accountId: 'acct_default', scopes: ['deployments:read'] });
    expect((await herm.request('GET', skillsPath(deployment.deployment_id), undefined, secret)).status).toBe(200);
    const denied = await herm.request('POST', skillsPath(deployment.deployment_id), { name: 'b', source: 'inline', content: inline('b') }, secret);
    expect(denied.status).toBe(403);
    expect(denied.body.error.type).toBe('forbidden');
  });

  it('keeps skill ids across a deployment update that sends the skills back (by skill_id, or by name)', async () => {
    const deployment = await herm.createDeployment({
      skills: [
        { name: 'storyboarding', source: 'inline', content: inline('storyboarding') },
        { name: 'effects', source: 'url', url: `${base}/good/SKILL.md` },
        { name: 'ugc', source: 'file', path: '.prism/skills/ugc/SKILL.md' },
      ],
    });
    const skills = await expectSameSkills(deployment.deployment_id);
    expect(skills.map((skill: any) => skill.skill_id)).toEqual([expect.stringMatching(/^skl_/), expect.stringMatching(/^skl_/), expect.stringMatching(/^skl_/)]);
    expect(new Set(skills.map((skill: any) => skill.skill_id)).size).toBe(3);
    expect(skills[1]).toEqual({ skill_id: skills[1].skill_id, name: 'effects', source: 'url', url: `${base}/good/SKILL.md` });

    const roundTrip = await herm.request('PATCH', `/v1/deployments/${deployment.deployment_id}`, { skills: [skills[2], skills[0]] });
    expect(roundTrip.status).toBe(200);
    expect(roundTrip.body.skills).toEqual([skills[2], skills[0]]);
    const byName = await herm.request('PATCH', `/v1/deployments/${deployment.deployment_id}`, {
      skills: [{ name: 'ugc', source: 'inline', content: inline('ugc') }],
    });
    expect(byName.body.skills).toEqual([{ skill_id: skills[2].skill_id, name: 'ugc', source: 'inline', content: inline('ugc') }]);
    const unknownId = await herm.request('PATCH', `/v1/deployments/${deployment.deployment_id}`, {
      skills: [{ skill_id: 'skl_nope', name: 'x', source: 'inline', content: inline('x') }],
    });
    expect(unknownId.status).toBe(400);
    expect(unknownId.body.error).toMatchObject({ type: 'validation_error', param: 'skills.0.skill_id' });
    const [ugc, storyboarding] = roundTrip.body.skills;
    const keptTwice = await herm.request('PATCH', `/v1/deployments/${deployment.deployment_id}`, { skills: [ugc, { ...storyboarding, skill_id: ugc.skill_id, name: 'other' }] });
    expect(keptTwice.status).toBe(400);
    expect(keptTwice.body.error).toMatchObject({ type: 'validation_error', param: 'skills.1.skill_id' });
    // Renamed by id, and a new skill with the old name: the new one gets a fresh id, never the kept one's.
    const swapped = await herm.request('PATCH', `/v1/deployments/${deployment.deployment_id}`, {
      skills: [{ ...ugc, name: 'ugc-renamed' }, { name: 'ugc', source: 'inline', content: inline('ugc') }],
    });
    expect(swapped.status).toBe(200);
    expect(swapped.body.skills[0]).toMatchObject({ skill_id: ugc.skill_id, name: 'ugc-renamed' });
    expect(swapped.body.skills[1].skill_id).not.toBe(ugc.skill_id);
    expect(swapped.body.skills[1].skill_id).toMatch(/^skl_/);
    await expectSameSkills(deployment.deployment_id);
  });

  it('gives skills stored before skills had ids a stable id, kept when the skills are next written', async () => {
    const legacy = [
      { name: 'storyboarding', source: 'inline', content: inline('storyboarding') },
      { name: 'effects', source: 'url', url: `${base}/good/SKILL.md` },
    ] as unknown as StoredSkill[];
    const record = await herm.server.services.store.deployments.create(readyDeploymentRecord({ account_id: 'acct_default', customer_id: 'cus_legacy', skills: legacy }));
    const first = await listSkills(record.id);
    expect(first.map((skill) => skill.skill_id)).toEqual([expect.stringMatching(/^skl_[A-Za-z0-9]{16}$/), expect.stringMatching(/^skl_[A-Za-z0-9]{16}$/)]);
    expect((await listSkills(record.id)).map((skill) => skill.skill_id)).toEqual(first.map((skill) => skill.skill_id));
    expect(first[0]).toMatchObject({ name: 'storyboarding', description: 'About storyboarding' });
    expect(first[1]).toMatchObject({ name: 'effects', description: null, unavailable_reason: expect.stringContaining('update it (PUT)') });
    const added = await herm.request('POST', skillsPath(record.id), { name: 'new', source: 'inline', content: inline('new') });
    expect(added.status).toBe(201);
    const after = await expectSameSkills(record.id);
    expect(after.map((skill: any) => skill.skill_id)).toEqual([...first.map((skill) => skill.skill_id), added.body.skill_id]);
  });

  it('holds a deployment to 20 skills with unique names', async () => {
    const twenty = Array.from({ length: 20 }, (_, index) => ({ name: `skill-${index}`, source: 'inline', content: inline(`skill-${index}`) }));
    const tooMany = await herm.request('POST', '/v1/deployments', { customer_id: 'cus_many', name: 'n', system_prompt: 'p', skills: [...twenty, twenty[0]] });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error).toMatchObject({ type: 'validation_error', param: 'skills' });
    const duplicate = await herm.request('POST', '/v1/deployments', {
      customer_id: 'cus_many',
      name: 'n',
      system_prompt: 'p',
      skills: [twenty[0], twenty[1], twenty[2], { ...twenty[1], content: inline('other') }],
    });
    expect(duplicate.status).toBe(400);
    expect(duplicate.body.error).toMatchObject({ type: 'validation_error', param: 'skills.3.name' });

    const deployment = await herm.createDeployment({ skills: twenty });
    const id = deployment.deployment_id;
    const twentyFirst = await herm.request('POST', skillsPath(id), { name: 'one-more', source: 'inline', content: inline('one-more') });
    expect(twentyFirst.status).toBe(400);
    expect(twentyFirst.body.error.type).toBe('validation_error');
    expect(twentyFirst.body.error.message).toContain('at most 20 skills');
    const removed = (await listSkills(id))[5].skill_id;
    await herm.request('DELETE', skillsPath(id, removed));
    const taken = await herm.request('POST', skillsPath(id, ''), { name: 'skill-7', source: 'inline', content: inline('skill-7') });
    expect(taken.status).toBe(400);
    expect(taken.body.error).toMatchObject({ type: 'validation_error', param: 'name' });
    expect(taken.body.error.message).toContain('already has a skill named "skill-7"');
    const renamed = await herm.request('PUT', skillsPath(id, (await listSkills(id))[0].skill_id), { name: 'skill-7', source: 'inline', content: inline('skill-7') });
    expect(renamed.status).toBe(400);
    expect(renamed.body.error).toMatchObject({ type: 'validation_error', param: 'name' });
    expect((await herm.request('POST', skillsPath(id), { name: 'one-more', source: 'inline', content: inline('one-more') })).status).toBe(201);
    expect(await expectSameSkills(id)).toHaveLength(20);
  });

  it('answers 422 invalid_skill naming the skill and why, and leaves nothing half-made', async () => {
    const deployment = await herm.createDeployment({ skills: [{ name: 'kept', source: 'inline', content: inline('kept') }] });
    const id = deployment.deployment_id;
    const before = (await herm.request('GET', `/v1/deployments/${id}`)).body;

    const cases: Array<[string, string]> = [
      [`${base}/missing/SKILL.md`, `Skill "effects" is invalid: fetching ${base}/missing/SKILL.md returned HTTP 404.`],
      [`${base}/slow/SKILL.md`, `Skill "effects" is invalid: could not fetch ${base}/slow/SKILL.md: the host did not answer.`],
      [`${base}/no-frontmatter/SKILL.md`, 'Skill "effects" is invalid: SKILL.md must start with a --- frontmatter block containing name and description.'],
      [`${base}/no-description/SKILL.md`, 'Skill "effects" is invalid: SKILL.md frontmatter is missing "description".'],
      [`${base}/huge/SKILL.md`, `Skill "effects" is invalid: could not fetch ${base}/huge/SKILL.md: the response is larger than 1048576 bytes.`],
    ];
    for (const [url, message] of cases) {
      const added = await herm.request('POST', skillsPath(id), { name: 'effects', source: 'url', url });
      expect(added.status, url).toBe(422);
      expect(added.body.error, url).toEqual(expect.objectContaining({ type: 'invalid_skill', param: 'url', message }));
      // A whole-array update: the good skill before the bad one is not stored either.
      const patched = await herm.request('PATCH', `/v1/deployments/${id}`, {
        skills: [{ name: 'fine', source: 'inline', content: inline('fine') }, { name: 'effects', source: 'url', url }],
      });
      expect(patched.status, url).toBe(422);
      expect(patched.body.error, url).toEqual(expect.objectContaining({ type: 'invalid_skill', param: 'skills.1.url', message }));
    }
    const kept = (await listSkills(id))[0];
    const badPut = await herm.request('PUT', skillsPath(id, kept.skill_id), { source: 'inline', content: 'no frontmatter' });
    expect(badPut.status).toBe(422);
    expect(badPut.body.error).toMatchObject({ type: 'invalid_skill', param: 'content' });
    expect(badPut.body.error.message).toContain('Skill "kept" is invalid');
    const after = (await herm.request('GET', `/v1/deployments/${id}`)).body;
    expect(after.skills).toEqual(before.skills);
    expect(after.updated_at).toBe(before.updated_at);
    expect((await herm.request('GET', skillsPath(id, kept.skill_id))).body.content).toBe(inline('kept'));

    // A create with a bad skill creates no deployment.
    const created = await herm.request('POST', '/v1/deployments', {
      customer_id: 'cus_half_made',
      name: 'n',
      system_prompt: 'p',
      skills: [{ name: 'fine', source: 'inline', content: inline('fine') }, { name: 'effects', source: 'url', url: `${base}/missing/SKILL.md` }],
    });
    expect(created.status).toBe(422);
    expect(created.body.error).toMatchObject({ type: 'invalid_skill', param: 'skills.1.url' });
    expect((await herm.request('GET', '/v1/deployments?customer_id=cus_half_made')).body.data).toEqual([]);
  });

  it('accepts a file skill whose file does not exist yet, and reads it from the workspace when asked', async () => {
    const deployment = await herm.createDeployment();
    const id = deployment.deployment_id;
    const added = await herm.request('POST', skillsPath(id), { name: 'ugc', source: 'file', path: '/workspace/.prism/skills/ugc/SKILL.md' });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ source: 'file', path: '/workspace/.prism/skills/ugc/SKILL.md', description: null });
    const missing = await herm.request('GET', skillsPath(id, added.body.skill_id));
    expect(missing.status).toBe(200);
    expect(missing.body).toMatchObject({ content: null, description: null, unavailable_reason: '.prism/skills/ugc/SKILL.md does not exist in the workspace' });

    const file = path.join(herm.dataDir, 'workspaces', id, '.prism/skills/ugc/SKILL.md');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, inline('ugc', 'Create authentic UGC-style product videos'));
    const present = await herm.request('GET', skillsPath(id, added.body.skill_id));
    expect(present.body).toMatchObject({ content: inline('ugc', 'Create authentic UGC-style product videos'), description: 'Create authentic UGC-style product videos' });
    expect(present.body.unavailable_reason).toBeUndefined();
    expect((await listSkills(id))[0]).toMatchObject({ description: 'Create authentic UGC-style product videos' });

    fs.writeFileSync(file, 'not a skill');
    const unparsable = await herm.request('GET', skillsPath(id, added.body.skill_id));
    expect(unparsable.body.content).toBeNull();
    expect(unparsable.body.unavailable_reason).toContain('cannot be parsed');
  });
});

// Concurrent adds race between reading the skills and writing them back: on PostgreSQL, through two server nodes
// sharing the database, so the compare-and-set on the stored skills is what keeps every add.
for (const dialect of await availableDialects()) {
  describe(`concurrent Skills API writes on ${dialect}`, () => {
    let database: TestDatabase;
    let nodes: TestServer[] = [];

    beforeAll(async () => {
      database = await createTestDatabase(dialect);
      const options = { databaseUrl: database.databaseUrl, dataDir: database.dataDir, keepData: true };
      nodes = [await startTestServer(options)];
      if (dialect === 'postgres') nodes.push(await startTestServer({ ...options, env: { HERM_ADMIN_KEY: nodes[0]!.adminKey } }));
    });

    afterAll(async () => {
      for (const node of nodes) await node.close();
      await database?.drop();
    });

    /** POSTs a skill through the nodes in turn. */
    const add = (deploymentId: string, index: number, name: string) =>
      nodes[index % nodes.length]!.request('POST', skillsPath(deploymentId), { name, source: 'inline', content: inline(name) });

    it('loses no skill to concurrent adds, lets exactly 20 of 25 racing adds in, and one of six with the same name', async () => {
      const node = nodes[0]!;
      const list = async (id: string) => (await node.request('GET', skillsPath(id))).body.data as any[];
      const id = (await node.createDeployment()).deployment_id;
      const adds = await Promise.all(Array.from({ length: 12 }, (_, index) => add(id, index, `racer-${index}`)));
      expect(adds.map((response) => response.status)).toEqual(Array(12).fill(201));
      const listed = await list(id);
      expect(listed.map((skill) => skill.name).sort()).toEqual(Array.from({ length: 12 }, (_, index) => `racer-${index}`).sort());
      expect(new Set(listed.map((skill) => skill.skill_id))).toEqual(new Set(adds.map((response) => response.body.skill_id)));

      const other = (await node.createDeployment()).deployment_id;
      const racing = await Promise.all(Array.from({ length: 25 }, (_, index) => add(other, index, `r-${index}`)));
      expect(racing.filter((response) => response.status === 201)).toHaveLength(20);
      expect(racing.filter((response) => response.status === 400)).toHaveLength(5);
      const deployment = (await node.request('GET', `/v1/deployments/${other}`)).body;
      expect(deployment.skills.map((skill: any) => skill.skill_id).sort()).toEqual((await list(other)).map((skill) => skill.skill_id).sort());
      expect(deployment.skills).toHaveLength(20);

      const third = (await node.createDeployment()).deployment_id;
      const sameName = await Promise.all(Array.from({ length: 6 }, (_, index) => add(third, index, 'same')));
      expect(sameName.filter((response) => response.status === 201)).toHaveLength(1);
      expect(await list(third)).toHaveLength(1);
    });
  });
}
