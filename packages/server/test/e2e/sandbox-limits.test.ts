// sandbox.limits through the API: validation naming the field, the update merge rules, and an agent
// whose fork bomb, memory hog and disk filler end as tool errors it can read while another
// deployment on the same server runs normally.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectCgroups } from '../../src/sandbox/cgroups.ts';
import { createWorkspaceQuotas, imagePath } from '../../src/sandbox/workspace-quotas.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const cgroups = await detectCgroups();
if (cgroups.ok) await cgroups.cgroups.close();
const cgroupsUnavailable = cgroups.ok ? null : `sandbox limit run tests skipped: ${cgroups.reason}`;
const quotasUnavailable = (await createWorkspaceQuotas().unavailableReason()) ?? null;
if (cgroupsUnavailable) console.warn(cgroupsUnavailable);
if (quotasUnavailable) console.warn(`workspace disk quota run tests skipped: ${quotasUnavailable}`);

let herm: TestServer;

beforeAll(async () => {
  herm = await startTestServer({ env: { HERM_MAX_COMMAND_TIMEOUT_MS: '60000' } });
});

afterAll(async () => {
  await herm?.close();
});

/** Runs one scripted agent turn of tool calls, then returns the tool results the model was sent. */
async function toolResults(deploymentId: string, ...commands: string[]): Promise<any[]> {
  herm.model.enqueue({ toolCalls: commands.map((command) => ({ name: 'shell', arguments: { command } })) }, { text: 'Done.' });
  const run = await herm.sendAndWait(deploymentId);
  expect(run.status, JSON.stringify(run.error)).toBe('completed');
  const request = herm.model.requests.findLast((entry) => entry.messages.some((message) => message.role === 'tool'))!;
  return request.messages.filter((message) => message.role === 'tool').map((message) => JSON.parse(message.text));
}

describe('sandbox.limits', () => {
  it('is shown as set, merged by key on update, and removed by null', async () => {
    const deployment = await herm.createDeployment({ sandbox: { limits: { cpus: 0.5, memory_mb: 256, command_timeout_seconds: 30 } } });
    expect(deployment.sandbox.limits).toEqual({ cpus: 0.5, memory_mb: 256, command_timeout_seconds: 30 });
    const id = deployment.deployment_id;

    const merged = await herm.request('PATCH', `/v1/deployments/${id}`, { sandbox: { limits: { max_processes: 64, memory_mb: null } } });
    expect(merged.status).toBe(200);
    expect(merged.body.sandbox.limits).toEqual({ cpus: 0.5, command_timeout_seconds: 30, max_processes: 64 });
    // Other sandbox fields leave the limits alone.
    const unrelated = await herm.request('PATCH', `/v1/deployments/${id}`, { sandbox: { persistent_filesystem: true } });
    expect(unrelated.body.sandbox.limits).toEqual({ cpus: 0.5, command_timeout_seconds: 30, max_processes: 64 });
    const cleared = await herm.request('PATCH', `/v1/deployments/${id}`, { sandbox: { limits: null } });
    expect(cleared.status).toBe(200);
    expect(cleared.body.sandbox.limits).toBeUndefined();
    const fetched = await herm.request('GET', `/v1/deployments/${id}`);
    expect(fetched.body.sandbox.limits).toBeUndefined();
  });

  it.each([
    [{ memory_mb: 1 }, 'sandbox.limits.memory_mb'],
    [{ cpus: '2' }, 'sandbox.limits.cpus'],
    [{ cpus: 0 }, 'sandbox.limits.cpus'],
    [{ max_processes: 2.5 }, 'sandbox.limits.max_processes'],
    [{ disk_mb: -5 }, 'sandbox.limits.disk_mb'],
    [{ max_output_bytes: 10 }, 'sandbox.limits.max_output_bytes'],
    [{ swap_mb: 10 }, 'sandbox.limits.swap_mb'],
    // Over this server's HERM_MAX_COMMAND_TIMEOUT_MS (60 s).
    [{ command_timeout_seconds: 120 }, 'sandbox.limits.command_timeout_seconds'],
  ])('refuses limits %j with a 400 naming %s, and nothing is created', async (limits, param) => {
    const before = await herm.request('GET', '/v1/deployments?limit=100');
    const response = await herm.request('POST', '/v1/deployments', {
      customer_id: 'cus_limits',
      name: 'Limits',
      system_prompt: 'x',
      sandbox: { limits },
    });
    expect(response.status).toBe(400);
    expect(response.body.error).toMatchObject({ type: 'validation_error' });
    expect(response.body.error.param).toBe(param);
    const after = await herm.request('GET', '/v1/deployments?limit=100');
    expect(after.body.data.length).toBe(before.body.data.length);
  });

  it.skipIf(cgroupsUnavailable)("ends an agent's fork bomb and memory hog as tool errors; a neighbour runs normally meanwhile", async () => {
    const limited = await herm.createDeployment({ sandbox: { limits: { max_processes: 40, memory_mb: 64 } } });
    const neighbour = await herm.createDeployment();
    const [results, neighbourRun] = await Promise.all([
      toolResults(
        limited.deployment_id,
        'bomb() { bomb | bomb & }; bomb; sleep 1; echo still-here',
        'dd if=/dev/zero of=/dev/null bs=256M count=1',
      ),
      (async () => {
        await new Promise((resolve) => setTimeout(resolve, 300));
        const sent = await herm.request('POST', `/v1/deployments/${neighbour.deployment_id}/messages`, { content: 'Hello' });
        return sent;
      })(),
    ]);
    const [bomb, hog] = results;
    expect(bomb).toMatchObject({ limit_exceeded: 'processes' });
    expect(bomb.error).toContain('process limit (40');
    expect(hog).toMatchObject({ limit_exceeded: 'memory', exit_code: 137 });
    expect(hog.error).toContain('memory limit (64 MB)');
    expect(neighbourRun.status).toBe(202);
  });

  it.skipIf(quotasUnavailable)("stops an agent's disk filler at disk_mb; deleting the deployment removes its file system", async () => {
    const deployment = await herm.createDeployment({ sandbox: { limits: { disk_mb: 20 } } });
    const id = deployment.deployment_id;
    const [filler, df] = await toolResults(id, 'dd if=/dev/zero of=filler bs=1M count=100', 'rm filler; df -k /workspace | tail -1');
    expect(filler).toMatchObject({ limit_exceeded: 'disk' });
    expect(filler.stderr).toContain('No space left on device');
    expect(filler.error).toContain('disk quota (20 MB)');
    // df inside the sandbox shows the quota's size (in KiB), not the host's disk.
    const totalKib = Number(df.stdout.trim().split(/\s+/)[1]);
    expect(totalKib).toBeGreaterThan(15_000);
    expect(totalKib).toBeLessThan(21_000);

    // The Files API writes into the same file system: too big for the quota is refused, small is fine.
    const big = await fetch(`${herm.url}/v1/deployments/${id}/files?path=big.bin`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${herm.adminKey}`, 'content-type': 'application/octet-stream' },
      body: new Uint8Array(24 * 1_048_576),
    });
    expect(big.status).toBe(413);
    expect(((await big.json()) as any).error.message).toMatch(/disk quota is full/);
    const small = await herm.request('PUT', `/v1/deployments/${id}/files?path=small.txt`, 'fits');
    expect(small.status).toBe(200);

    const workspace = path.join(herm.dataDir, 'workspaces', id);
    expect(fs.existsSync(imagePath(workspace))).toBe(true);
    const deleted = await herm.request('DELETE', `/v1/deployments/${id}`);
    expect(deleted.status).toBe(200);
    expect(fs.existsSync(imagePath(workspace))).toBe(false);
    expect(fs.existsSync(workspace)).toBe(false);
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(workspace);
  });
});
