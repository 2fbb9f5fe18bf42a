// sandbox.enabled false: refused unless the server allows it (HERM_ALLOW_UNSANDBOXED=true); when allowed,
// tools run as plain processes in the workspace directory, with /workspace mapped onto it.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUnsandboxedBackend } from '../../src/sandbox/unsandboxed.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

let strict: TestServer;
let permissive: TestServer;

beforeAll(async () => {
  [strict, permissive] = await Promise.all([startTestServer(), startTestServer({ env: { HERM_ALLOW_UNSANDBOXED: 'true' } })]);
});

afterAll(async () => {
  await Promise.all([strict?.close(), permissive?.close()]);
});

/** Sends a message carrying the scripted turns and waits for the run to finish. */
async function runAgent(herm: TestServer, deploymentId: string, ...turns: Parameters<TestServer['model']['enqueue']>) {
  herm.model.enqueue(...turns);
  const run = await herm.sendAndWait(deploymentId);
  expect(run.status, JSON.stringify(run.error)).toBe('completed');
  return run;
}

describe('sandbox.enabled false', () => {
  it('is refused with 400 naming sandbox.enabled when the server does not allow it', async () => {
    const response = await strict.request('POST', '/v1/deployments', {
      customer_id: 'cus_unsafe',
      name: 'No sandbox',
      system_prompt: 'x',
      sandbox: { enabled: false },
    });
    expect(response.status).toBe(400);
    expect(response.body.error).toMatchObject({ type: 'validation_error', param: 'sandbox.enabled' });
    expect(response.body.error.message).toContain('HERM_ALLOW_UNSANDBOXED');
  });

  it('runs tools as plain processes in the workspace when HERM_ALLOW_UNSANDBOXED=true', async () => {
    const deployment = await permissive.createDeployment({ sandbox: { enabled: false } });
    expect(deployment.status).toBe('ready');
    expect(deployment.sandbox).toEqual({ enabled: false, type: 'none', persistent_filesystem: true });
    const workspace = path.join(permissive.dataDir, 'workspaces', deployment.deployment_id);

    await runAgent(
      permissive,
      deployment.deployment_id,
      {
        toolCalls: [
          { name: 'shell', arguments: { command: 'pwd && echo ok > f.txt && echo "home=$HOME" && env | sort | cut -d= -f1 | tr "\\n" " "' } },
          { name: 'write_file', arguments: { path: '/workspace/notes/w.txt', content: 'written\n' } },
        ],
      },
      { text: 'Done.' },
    );
    const toolResults = permissive.model.requests.at(-1)!.messages.filter((message) => message.role === 'tool').map((message) => message.text);
    const shell = toolResults.find((text) => text.includes('home='))!;
    expect(shell).toContain(workspace);
    expect(shell).toContain(`home=${workspace}`);
    // The environment is cleared to the base variables.
    expect(shell).toMatch(/HOME LANG PATH PWD SHLVL TERM|HOME LANG PATH PWD TERM/);
    expect(fs.readFileSync(path.join(workspace, 'f.txt'), 'utf8')).toBe('ok\n');
    expect(fs.readFileSync(path.join(workspace, 'notes', 'w.txt'), 'utf8')).toBe('written\n');

    // The Files API's commands name /workspace too: mapped the same way.
    const content = await permissive.request('GET', `/v1/deployments/${deployment.deployment_id}/files/content?path=notes/w.txt`);
    expect(content.status).toBe(200);
    expect(content.body).toBe('written\n');
  });

  it('kills the whole process group when a command times out', async () => {
    const backend = createUnsandboxedBackend({ limits: { timeoutMs: 10_000, maxOutputBytes: 1024 } });
    const workspace = fs.mkdtempSync(path.join(permissive.dataDir, 'group-'));
    const sandbox = backend.open({ deploymentId: 'dep_group', workspaceDir: workspace });
    const startedAt = Date.now();
    const result = await sandbox.exec({ command: '(sleep 1; echo late > late.txt) & sleep 30', timeoutMs: 300 });
    expect(result.timedOut).toBe(true);
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    // The background child was in the same group: it never gets to write.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(fs.existsSync(path.join(workspace, 'late.txt'))).toBe(false);
  });
});
