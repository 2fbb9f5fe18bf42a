// A whole run on the docker sandbox over real HTTP: the server picks docker from its environment, a
// scripted model calls `write_file` and `shell`, and the tools run in the deployment's container.
// Also: how a server without a Docker API answers a deployment that asks for docker.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDockerApi } from '../../src/sandbox/docker/docker-api.ts';
import { bubblewrapUnavailable } from '../sandbox/bubblewrap-test-support.ts';
import { containersOf, dockerHost, dockerImage, dockerUnavailable, eventually } from '../sandbox/docker-test-support.ts';
import { openSse, type WireEvent } from '../support/sse-client.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

/** The deployment's containers that bind `workspaceDir` (at /workspace). */
async function containersBinding(deploymentId: string, workspaceDir: string): Promise<string[]> {
  const api = createDockerApi(dockerHost);
  try {
    const bound: string[] = [];
    for (const { id } of await containersOf(deploymentId)) {
      const inspected = await api.request<{ Mounts?: Array<{ Source?: string }> }>('GET', `/containers/${id}/json`).catch(() => undefined);
      if (inspected?.Mounts?.some((mount) => mount.Source === workspaceDir)) bound.push(id);
    }
    return bound;
  } finally {
    api.close();
  }
}

const isEnd = (runId: string) => (event: WireEvent) =>
  event.type === 'run_status' && event.data.run_id === runId && (event.data.status === 'completed' || event.data.status === 'error');

describe.skipIf(dockerUnavailable !== null)('a server whose sandbox is docker', () => {
  let herm: TestServer;

  beforeAll(async () => {
    herm = await startTestServer({
      env: {
        HERM_SANDBOX: 'docker',
        ...(dockerHost ? { DOCKER_HOST: dockerHost } : {}),
        HERM_DOCKER_IMAGE: dockerImage,
        HERM_DOCKER_IDLE_MS: '1000',
      },
    });
  });

  afterAll(async () => {
    await herm?.close();
  });

  it('creates deployments on docker by default and says so', async () => {
    const deployment = await herm.createDeployment();
    expect(deployment).toMatchObject({ status: 'ready', sandbox: { enabled: true, type: 'docker', persistent_filesystem: true } });
    expect(deployment.sandbox.image).toBeUndefined();
    const fetched = await herm.request('GET', `/v1/deployments/${deployment.deployment_id}`);
    expect(fetched.body.sandbox.type).toBe('docker');
  });

  it("runs the agent's write_file and shell calls in the deployment's container, then removes it when idle", async () => {
    const deployment = await herm.createDeployment();
    const deploymentId: string = deployment.deployment_id;
    // Provisioning checks the Docker host but starts no container: that waits for the first command.
    expect(await containersOf(deploymentId)).toEqual([]);
    const stream = await openSse(deployment.events.url, herm.adminKey);
    herm.model.enqueue(
      { text: 'Writing notes.', toolCalls: [{ name: 'write_file', arguments: { path: 'notes.md', content: '# Notes\nfrom docker\n' } }] },
      { toolCalls: [{ name: 'shell', arguments: { command: 'cat notes.md; id -u; pwd; cat /proc/1/cmdline | tr "\\0" " "; echo; env | sort' } }] },
      { text: 'Done.' },
    );
    const response = await herm.request('POST', `/v1/deployments/${deploymentId}/messages`, { content: 'Take notes' });
    expect(response.status, JSON.stringify(response.body)).toBe(202);
    const runId: string = response.body.run_id;
    await stream.waitFor(isEnd(runId));
    const events = stream.events.filter((event) => event.data.run_id === runId);
    expect(events.map((event) => event.type)).toEqual(['run_status', 'token', 'tool_call', 'tool_result', 'tool_call', 'tool_result', 'token', 'run_status']);
    expect(events.at(-1)!.data.status).toBe('completed');

    const [writeResult, shellResult] = events.filter((event) => event.type === 'tool_result');
    expect(writeResult!.data).toMatchObject({ tool: 'write_file', is_error: false });
    expect(shellResult!.data).toMatchObject({ tool: 'shell', is_error: false });
    const shellOutput = JSON.stringify(shellResult!.data.result);
    expect(shellOutput).toContain('# Notes\\nfrom docker\\n1000\\n/workspace\\n');
    // pid 1 is the container's init: the command ran in the container, not in a bubblewrap sandbox.
    expect(shellOutput).toMatch(/init|catatonit|tini/);
    // The model provider's key lives in the server's environment only.
    expect(shellOutput).not.toContain('sk-ant-test');
    expect(shellOutput).not.toContain('ANTHROPIC');

    // The container is there while the deployment works…
    expect(await containersOf(deploymentId)).toHaveLength(1);
    // …the Files API reads through it…
    const file = await fetch(`${herm.url}/v1/deployments/${deploymentId}/files/content?path=notes.md`, {
      headers: { authorization: `Bearer ${herm.adminKey}` },
    });
    expect(file.status).toBe(200);
    expect(await file.text()).toBe('# Notes\nfrom docker\n');
    // …and once idle the deployment holds no container.
    expect(await eventually(async () => (await containersOf(deploymentId)).length === 0, 15_000)).toBe(true);
    stream.close();
  });

  it("removes the deployment's container when the deployment is deleted, without waiting for it to idle", async () => {
    const deployment = await herm.createDeployment();
    const deploymentId: string = deployment.deployment_id;
    const stream = await openSse(deployment.events.url, herm.adminKey);
    herm.model.enqueue({ toolCalls: [{ name: 'shell', arguments: { command: 'echo hi' } }] }, { text: 'Done.' });
    const response = await herm.request('POST', `/v1/deployments/${deploymentId}/messages`, { content: 'Say hi' });
    await stream.waitFor(isEnd(response.body.run_id));
    stream.close();
    expect(await containersOf(deploymentId)).toHaveLength(1);
    const deleted = await herm.request('DELETE', `/v1/deployments/${deploymentId}`);
    expect(deleted.status).toBe(200);
    expect(await containersOf(deploymentId)).toEqual([]);
  });

  it('gives each thread of a deployment without a persistent filesystem a workspace and container of its own, removed with the thread', async () => {
    const deployment = await herm.createDeployment({ sandbox: { persistent_filesystem: false } });
    const deploymentId: string = deployment.deployment_id;
    const newThread = async (): Promise<string> => (await herm.request('POST', `/v1/deployments/${deploymentId}/threads`, {})).body.thread_id;
    const threadA = await newThread();
    const threadB = await newThread();
    const stream = await openSse(deployment.events.url, herm.adminKey);
    const shellIn = async (threadId: string, command: string): Promise<string> => {
      herm.model.enqueue({ toolCalls: [{ name: 'shell', arguments: { command } }] }, { text: 'Done.' });
      const response = await herm.request('POST', `/v1/deployments/${deploymentId}/messages`, { content: 'Go', thread_id: threadId });
      expect(response.status, JSON.stringify(response.body)).toBe(202);
      await stream.waitFor(isEnd(response.body.run_id));
      const result = stream.events.find((event) => event.type === 'tool_result' && event.data.run_id === response.body.run_id);
      return JSON.stringify(result?.data.result);
    };
    expect(await shellIn(threadA, 'ls -A /workspace | wc -l; echo from-a > a.txt')).toContain('"stdout":"0\\n"');
    expect(await shellIn(threadB, 'ls -A /workspace | wc -l; echo from-b > b.txt')).toContain('"stdout":"0\\n"');
    expect(await shellIn(threadA, 'cat a.txt; ls')).toContain('"stdout":"from-a\\na.txt\\n"');
    const read = async (threadId: string, file: string) =>
      fetch(`${herm.url}/v1/deployments/${deploymentId}/files/content?path=${file}&thread_id=${threadId}`, {
        headers: { authorization: `Bearer ${herm.adminKey}` },
      });
    expect(await (await read(threadB, 'b.txt')).text()).toBe('from-b\n');
    expect((await read(threadB, 'a.txt')).status).toBe(404);

    // Thread A's container is busy with a command when the thread is deleted: it is removed at once, with the workspace.
    const workspaceA = path.join(herm.dataDir, 'session-workspaces', deploymentId, threadA, 'workspace');
    herm.model.enqueue({ toolCalls: [{ name: 'shell', arguments: { command: 'sleep 60' } }] });
    const busy = await herm.request('POST', `/v1/deployments/${deploymentId}/messages`, { content: 'Wait', thread_id: threadA });
    await stream.waitFor((event) => event.type === 'tool_call' && event.data.run_id === busy.body.run_id);
    expect(await eventually(async () => (await containersBinding(deploymentId, workspaceA)).length === 1, 15_000)).toBe(true);
    const deleted = await herm.request('DELETE', `/v1/deployments/${deploymentId}/threads/${threadA}`);
    expect(deleted.status).toBe(200);
    expect(await containersBinding(deploymentId, workspaceA)).toEqual([]);
    expect(fs.existsSync(path.dirname(workspaceA))).toBe(false);
    await stream.waitFor(isEnd(busy.body.run_id));
    stream.close();
  });

  it('refuses an image the Docker host does not have, naming sandbox.image', async () => {
    const response = await herm.request('POST', '/v1/deployments', {
      customer_id: 'cus_image',
      name: 'n',
      system_prompt: 'p',
      sandbox: { type: 'docker', image: 'herm-no-such-image:never' },
    });
    expect(response.status).toBe(400);
    expect(response.body.error).toMatchObject({ type: 'validation_error', param: 'sandbox.image' });
    expect(response.body.error.message).toContain('scripts/build-sandbox-image.sh');
  });

  it('keeps a chosen image, and drops it when the deployment moves to bubblewrap', async () => {
    const deployment = await herm.createDeployment({ sandbox: { type: 'docker', image: dockerImage } });
    expect(deployment.sandbox).toMatchObject({ type: 'docker', image: dockerImage });
    const wrongType = await herm.request('PATCH', `/v1/deployments/${deployment.deployment_id}`, { sandbox: { type: 'bubblewrap', image: dockerImage } });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.error).toMatchObject({ type: 'validation_error', param: 'sandbox.image' });
    if (bubblewrapUnavailable) return;
    const moved = await herm.request('PATCH', `/v1/deployments/${deployment.deployment_id}`, { sandbox: { type: 'bubblewrap' } });
    expect(moved.status).toBe(200);
    expect(moved.body.sandbox).toEqual({ enabled: true, type: 'bubblewrap', persistent_filesystem: true });
  });
});

describe('a server without a Docker API', () => {
  let herm: TestServer;

  beforeAll(async () => {
    herm = await startTestServer({ env: { HERM_SANDBOX: 'auto', DOCKER_HOST: 'unix:///nonexistent/herm-docker.sock' } });
  });

  afterAll(async () => {
    await herm?.close();
  });

  it('answers sandbox.type "docker" with a validation error that says what to set', async () => {
    const response = await herm.request('POST', '/v1/deployments', {
      customer_id: 'cus_docker',
      name: 'n',
      system_prompt: 'p',
      sandbox: { type: 'docker' },
    });
    expect(response.status).toBe(400);
    expect(response.body.error).toMatchObject({ type: 'validation_error', param: 'sandbox.type' });
    expect(response.body.error.message).toMatch(/nonexistent\/herm-docker\.sock.*DOCKER_HOST/);
  });

  it.skipIf(bubblewrapUnavailable !== null)('falls back to bubblewrap by default (HERM_SANDBOX=auto)', async () => {
    const deployment = await herm.createDeployment();
    expect(deployment).toMatchObject({ status: 'ready', sandbox: { type: 'bubblewrap' } });
  });
});
