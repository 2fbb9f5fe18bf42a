// Skills in the runtime, over real HTTP with the scripted model and a real sandbox: each run's system prompt lists
// every skill's name and description only (progressive disclosure); the agent opens one with read_file at
// /skills/<name>/SKILL.md, read-only (a shell or write_file write there fails); a `file` skill is read from the
// workspace at each run start (an edited file is the new skill, a missing one is left out with a note, a symlink
// out of the workspace is not followed); Skills API changes apply to the next run. On bubblewrap, and on docker
// when a Docker API is available (DOCKER_HOST; skipped with a message otherwise).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScriptedRequest, ScriptedTurn } from '../support/scripted-model-server.ts';
import { bubblewrapUnavailable } from '../sandbox/bubblewrap-test-support.ts';
import { dockerHost, dockerImage, dockerUnavailable } from '../sandbox/docker-test-support.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const skill = (name: string, description: string, body: string) => `---\nname: ${name}\ndescription: ${description}\n---\n# ${name}\n${body}\n`;
const STORYBOARDING = skill('storyboarding', 'Create shot-by-shot storyboards for short-form videos', '1. BODY-MARKER-STORYBOARDING: write one line per shot.');
const EFFECTS = skill('effects', 'Social media visual effects', '1. BODY-MARKER-EFFECTS: keep it subtle.');

let skillServer: http.Server;
let effectsUrl: string;

beforeAll(async () => {
  skillServer = http.createServer((_request, response) => response.end(EFFECTS));
  await new Promise<void>((resolve) => skillServer.listen(0, '127.0.0.1', resolve));
  effectsUrl = `http://127.0.0.1:${(skillServer.address() as AddressInfo).port}/effects/SKILL.md`;
});

afterAll(() => {
  skillServer?.close();
});

const backends: Array<{ name: string; skip: string | null; env: Record<string, string> }> = [
  { name: 'bubblewrap', skip: bubblewrapUnavailable, env: {} },
  {
    name: 'docker',
    skip: dockerUnavailable,
    env: { HERM_SANDBOX: 'docker', ...(dockerHost ? { DOCKER_HOST: dockerHost } : {}), HERM_DOCKER_IMAGE: dockerImage, HERM_DOCKER_IDLE_MS: '2000' },
  },
];

for (const backend of backends) {
  if (backend.skip) console.warn(`skills runtime tests on ${backend.name} skipped: ${backend.skip}`);

  describe.skipIf(backend.skip !== null)(`skills in runs on ${backend.name}`, () => {
    let herm: TestServer;

    beforeAll(async () => {
      herm = await startTestServer({ env: { HERM_ALLOW_PRIVATE_URLS: 'true', ...backend.env } });
    });

    afterAll(async () => {
      await herm?.close();
    });

    /** Runs one message with these scripted turns (then "Done."); returns the model requests of the run. */
    async function run(deploymentId: string, ...turns: ScriptedTurn[]): Promise<ScriptedRequest[]> {
      herm.model.reset();
      herm.model.enqueue(...turns, { text: 'Done.' });
      const finished = await herm.sendAndWait(deploymentId);
      expect(finished.status, JSON.stringify(finished.error)).toBe('completed');
      return [...herm.model.requests];
    }

    const systemPrompt = (request: ScriptedRequest) => request.messages.find((message) => message.role === 'system')!.text;
    /** The tool results of this run: those after the thread's last user message. */
    const toolResults = (requests: ScriptedRequest[]) => {
      const messages = requests.at(-1)!.messages;
      const lastUser = messages.findLastIndex((message) => message.role === 'user');
      return messages.slice(lastUser + 1).filter((message) => message.role === 'tool').map((message) => message.text);
    };
    const workspaceFile = (deploymentId: string, relative: string) => path.join(herm.dataDir, 'workspaces', deploymentId, relative);
    function writeWorkspaceFile(deploymentId: string, relative: string, content: string): void {
      const file = workspaceFile(deploymentId, relative);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, content);
    }

    it('lists names and descriptions only, lets the agent read a SKILL.md at /skills, and refuses writes there', async () => {
      const deployment = await herm.createDeployment({
        system_prompt: 'You are Acme\'s media agent.',
        skills: [
          { name: 'storyboarding', source: 'inline', content: STORYBOARDING },
          { name: 'effects', source: 'url', url: effectsUrl },
          { name: 'ugc', source: 'file', path: '.prism/skills/ugc/SKILL.md' },
        ],
      });
      const id = deployment.deployment_id;
      // Another deployment's skills are in another directory, which this one's sandbox does not see.
      await herm.createDeployment({ skills: [{ name: 'another-tenants-skill', source: 'inline', content: STORYBOARDING }] });
      writeWorkspaceFile(id, '.prism/skills/ugc/SKILL.md', skill('ugc', 'Create authentic UGC-style product videos', 'BODY-MARKER-UGC'));
      const requests = await run(id, {
        toolCalls: [
          { name: 'read_file', arguments: { path: '/skills/storyboarding/SKILL.md' } },
          { name: 'read_file', arguments: { path: '/skills/effects/SKILL.md' } },
          { name: 'read_file', arguments: { path: '/skills/ugc/SKILL.md' } },
          { name: 'shell', arguments: { command: 'echo tampered > /skills/storyboarding/SKILL.md; echo "overwrite=$?"; touch /skills/new-skill; echo "create=$?"' } },
          { name: 'write_file', arguments: { path: '/skills/storyboarding/SKILL.md', content: 'tampered' } },
          { name: 'shell', arguments: { command: 'ls -A /skills' } },
        ],
      });

      // The prompt: the deployment's prompt, then the skills (names and descriptions, in order), then the environment.
      const system = systemPrompt(requests[0]!);
      expect(system.startsWith("You are Acme's media agent.\n\n# Skills\n")).toBe(true);
      expect(system.indexOf('# Skills')).toBeLessThan(system.indexOf('# Environment'));
      expect(system).toContain('read_file');
      const lines = system.split('\n').filter((line) => line.startsWith('- '));
      expect(lines).toEqual([
        '- storyboarding: Create shot-by-shot storyboards for short-form videos (/skills/storyboarding/SKILL.md)',
        '- effects: Social media visual effects (/skills/effects/SKILL.md)',
        '- ugc: Create authentic UGC-style product videos (/skills/ugc/SKILL.md; its files: /workspace/.prism/skills/ugc/)',
      ]);
      expect(system).not.toContain('BODY-MARKER');
      // Every step of the run sends the same prompt (a stable prefix).
      for (const request of requests) expect(systemPrompt(request)).toBe(system);

      const results = toolResults(requests);
      expect(results[0]).toContain('BODY-MARKER-STORYBOARDING');
      expect(results[1]).toContain('BODY-MARKER-EFFECTS');
      expect(results[2]).toContain('BODY-MARKER-UGC');
      expect(results[3]).toMatch(/Read-only file system/);
      expect(results[3]).toMatch(/overwrite=[1-9]/);
      expect(results[3]).toMatch(/create=[1-9]/);
      expect(results[4]).toMatch(/outside the workspace/);
      expect(JSON.parse(results[5]!).stdout).toBe('effects\nstoryboarding\nugc\n');
      expect(results[5]).not.toContain('another-tenants-skill');
      const materialised = path.join(herm.dataDir, 'skills', id, 'workspace', 'storyboarding', 'SKILL.md');
      expect(fs.readFileSync(materialised, 'utf8')).toBe(STORYBOARDING);
      expect(fs.existsSync(path.join(herm.dataDir, 'skills', id, 'workspace', 'new-skill'))).toBe(false);
    });

    it('reads a file skill at each run start, leaves out a missing one with a note, and applies Skills API changes to the next run', async () => {
      const deployment = await herm.createDeployment({ skills: [{ name: 'notes', source: 'file', path: 'skills/notes/SKILL.md' }] });
      const id = deployment.deployment_id;

      const missing = systemPrompt((await run(id))[0]!);
      expect(missing).toContain('Skill "notes" is not available in this run: skills/notes/SKILL.md does not exist in the workspace.');
      expect(missing).not.toContain('- notes:');

      writeWorkspaceFile(id, 'skills/notes/SKILL.md', skill('notes', 'Version one of the notes playbook', 'BODY-ONE'));
      const first = systemPrompt((await run(id))[0]!);
      expect(first).toContain('- notes: Version one of the notes playbook (/skills/notes/SKILL.md; its files: /workspace/skills/notes/)');
      expect(first).not.toContain('is not available in this run');

      writeWorkspaceFile(id, 'skills/notes/SKILL.md', skill('notes', 'Version two of the notes playbook', 'BODY-TWO'));
      const added = await herm.request('POST', `/v1/deployments/${id}/skills`, { name: 'storyboarding', source: 'inline', content: STORYBOARDING });
      expect(added.status).toBe(201);
      const second = await run(id, { toolCalls: [{ name: 'read_file', arguments: { path: '/skills/notes/SKILL.md' } }] });
      const secondSystem = systemPrompt(second[0]!);
      expect(secondSystem).toContain('- notes: Version two of the notes playbook');
      expect(secondSystem).not.toContain('Version one');
      expect(secondSystem).toContain('- storyboarding: Create shot-by-shot storyboards for short-form videos (/skills/storyboarding/SKILL.md)');
      expect(toolResults(second)[0]).toContain('BODY-TWO');

      fs.writeFileSync(workspaceFile(id, 'skills/notes/SKILL.md'), 'no frontmatter any more');
      expect((await herm.request('DELETE', `/v1/deployments/${id}/skills/${added.body.skill_id}`)).status).toBe(200);
      const third = await run(id, { toolCalls: [{ name: 'read_file', arguments: { path: '/skills/storyboarding/SKILL.md' } }] });
      const thirdSystem = systemPrompt(third[0]!);
      expect(thirdSystem).not.toContain('storyboarding');
      expect(thirdSystem).toMatch(/Skill "notes" is not available in this run: skills\/notes\/SKILL\.md in the workspace cannot be parsed: .*frontmatter/);
      expect(toolResults(third)[0]).toMatch(/does not exist/);
    });

    it("reads a file skill from the run's own thread workspace when the deployment has no persistent one", async () => {
      const deployment = await herm.createDeployment({
        sandbox: { persistent_filesystem: false },
        skills: [{ name: 'notes', source: 'file', path: 'skills/notes/SKILL.md' }],
      });
      const id = deployment.deployment_id;
      const upload = await fetch(`${herm.url}/v1/deployments/${id}/files?path=skills/notes/SKILL.md&thread_id=${deployment.thread_id}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${herm.adminKey}`, 'content-type': 'application/octet-stream' },
        body: skill('notes', 'Notes of the default thread', 'BODY-DEFAULT-THREAD'),
      });
      expect(upload.status).toBe(200);
      expect(systemPrompt((await run(id))[0]!)).toContain('- notes: Notes of the default thread (/skills/notes/SKILL.md');

      const other = await herm.request('POST', `/v1/deployments/${id}/threads`, {});
      herm.model.reset();
      herm.model.enqueue({ text: 'Done.' });
      const finished = await herm.sendAndWait(id, { thread_id: other.body.thread_id });
      expect(finished.status).toBe('completed');
      expect(systemPrompt(herm.model.requests[0]!)).toContain('Skill "notes" is not available in this run: skills/notes/SKILL.md does not exist in the workspace.');
      const listed = await herm.request('GET', `/v1/deployments/${id}/skills`);
      expect(listed.body.data[0].unavailable_reason).toMatch(/persistent_filesystem false/);

      // Two threads at once, each with its own version of the file: each run reads its own at /skills.
      const upload2 = await fetch(`${herm.url}/v1/deployments/${id}/files?path=skills/notes/SKILL.md&thread_id=${other.body.thread_id}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${herm.adminKey}`, 'content-type': 'application/octet-stream' },
        body: skill('notes', 'Notes of the other thread', 'BODY-OTHER-THREAD'),
      });
      expect(upload2.status).toBe(200);
      herm.model.reset();
      herm.model.setHandler((request) => {
        const messages = request.messages.slice(request.messages.findLastIndex((message) => message.role === 'user') + 1);
        const results = messages.filter((message) => message.role === 'tool').length;
        if (request.lastUserText !== 'Slow.' || results === 2) return { text: 'Done.' };
        // The slow run reads its skill after the fast one (on the other thread) has prepared its own.
        return results === 0
          ? { toolCalls: [{ name: 'shell', arguments: { command: 'sleep 1' } }] }
          : { toolCalls: [{ name: 'read_file', arguments: { path: '/skills/notes/SKILL.md' } }] };
      });
      const slow = herm.sendAndWait(id, { thread_id: deployment.thread_id, content: 'Slow.' });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await herm.sendAndWait(id, { thread_id: other.body.thread_id, content: 'Fast.' })).status).toBe('completed');
      expect((await slow).status).toBe('completed');
      const slowRead = herm.model.requests.filter((request) => request.lastUserText === 'Slow.').at(-1)!.messages.filter((message) => message.role === 'tool').at(-1)!.text;
      expect(slowRead).toContain('BODY-DEFAULT-THREAD');
      expect(slowRead).not.toContain('BODY-OTHER-THREAD');
    });

    it('does not follow a file skill symlinked out of the workspace', async () => {
      const outside = path.join(herm.dataDir, 'outside-SKILL.md');
      fs.writeFileSync(outside, skill('evil', 'SECRET-DESCRIPTION-OUTSIDE', 'SECRET-BODY-OUTSIDE'));
      const deployment = await herm.createDeployment({ skills: [{ name: 'evil', source: 'file', path: '.prism/skills/evil/SKILL.md' }] });
      const id = deployment.deployment_id;
      fs.mkdirSync(path.dirname(workspaceFile(id, '.prism/skills/evil/SKILL.md')), { recursive: true });
      fs.symlinkSync(outside, workspaceFile(id, '.prism/skills/evil/SKILL.md'));

      const requests = await run(id, { toolCalls: [{ name: 'read_file', arguments: { path: '/skills/evil/SKILL.md' } }] });
      const system = systemPrompt(requests[0]!);
      expect(system).toContain('Skill "evil" is not available in this run:');
      expect(system).toMatch(/outside the workspace/);
      expect(JSON.stringify(requests.map((request) => request.messages))).not.toMatch(/SECRET-(DESCRIPTION|BODY)-OUTSIDE/);
      expect(fs.existsSync(path.join(herm.dataDir, 'skills', id, 'workspace', 'evil'))).toBe(false);
      const got = await herm.request('GET', `/v1/deployments/${id}/skills/${deployment.skills[0].skill_id}`);
      expect(got.status).toBe(200);
      expect(got.body.content).toBeNull();
      expect(got.body.unavailable_reason).toMatch(/outside the workspace/);
    });
  });
}

describe('skills in runs without a sandbox (HERM_ALLOW_UNSANDBOXED)', () => {
  let herm: TestServer;

  beforeAll(async () => {
    herm = await startTestServer({ env: { HERM_ALLOW_UNSANDBOXED: 'true' } });
  });

  afterAll(async () => {
    await herm?.close();
  });

  it('names the host path of each SKILL.md, which read_file reads', async () => {
    const deployment = await herm.createDeployment({
      sandbox: { enabled: false },
      skills: [{ name: 'storyboarding', source: 'inline', content: STORYBOARDING }],
    });
    const hostPath = path.join(herm.dataDir, 'skills', deployment.deployment_id, 'workspace', 'storyboarding', 'SKILL.md');
    herm.model.reset();
    herm.model.enqueue({ toolCalls: [{ name: 'read_file', arguments: { path: hostPath } }] }, { text: 'Done.' });
    const finished = await herm.sendAndWait(deployment.deployment_id);
    expect(finished.status).toBe('completed');
    const system = herm.model.requests[0]!.messages.find((message) => message.role === 'system')!.text;
    expect(system).toContain(`- storyboarding: Create shot-by-shot storyboards for short-form videos (${hostPath})`);
    expect(system).not.toContain('/skills/storyboarding');
    const result = herm.model.requests.at(-1)!.messages.filter((message) => message.role === 'tool').at(-1)!.text;
    expect(result).toContain('BODY-MARKER-STORYBOARDING');
  });
});
