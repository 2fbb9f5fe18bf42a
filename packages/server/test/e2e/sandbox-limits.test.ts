// sandbox.limits through the API: validation naming the field, the update merge rules, and an agent
// whose fork bomb, memory hog and disk filler end as tool errors it can read while another
// deployment on the same server runs normally.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectCgroups } from '../../src/sandbox/limits/cgroups.ts';
import { createWorkspaceQuotas, imagePath } from '../../src/sandbox/limits/workspace-quotas.ts';
import { availableParallelism, totalmem } from 'node:os';
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

describe('operator ceilings on sandbox.limits', () => {
  const create = (server: TestServer, sandbox: Record<string, unknown>) =>
    server.request('POST', '/v1/deployments', { customer_id: 'cus_ceilings', name: 'Ceilings', system_prompt: 'x', sandbox });

  it("refuses the attack run's limits on a fresh install's defaults, naming the field and the ceiling", async () => {
    // What the attack run asked for and got: 4 TiB of memory, a million processes, 1,024 CPUs, 64 MiB of output.
    const asked = { memory_mb: 4_194_304, max_processes: 1_000_000, cpus: 1024, max_output_bytes: 67_108_864 };
    const cores = availableParallelism();
    const memoryMb = Math.floor(totalmem() / 1_048_576);
    const expected: Record<string, string> = {
      memory_mb: `at most ${memoryMb} MiB on this server (HERM_SANDBOX_MAX_MEMORY_MB)`,
      max_processes: 'at most 4096 processes on this server (HERM_SANDBOX_MAX_PROCESSES)',
      cpus: `at most ${cores} CPUs on this server (HERM_SANDBOX_MAX_CPUS)`,
      max_output_bytes: 'at most 16777216 bytes on this server (HERM_SANDBOX_MAX_OUTPUT_BYTES)',
    };
    for (const [field, value] of Object.entries(asked)) {
      const response = await create(herm, { limits: { [field]: value } });
      expect(response.status, field).toBe(400);
      expect(response.body.error.param).toBe(`sandbox.limits.${field}`);
      expect(response.body.error.message).toContain(expected[field]);
    }
    // All four at once: refused too (the first field named), and nothing was created.
    const all = await create(herm, { limits: asked });
    expect(all.status).toBe(400);
    expect(all.body.error.param).toMatch(/^sandbox\.limits\./);
    // At the ceilings exactly: accepted.
    const within = await create(herm, { limits: { memory_mb: memoryMb, max_processes: 4096, cpus: cores, max_output_bytes: 16_777_216 } });
    expect(within.status).toBe(201);
    const raised = await herm.request('PATCH', `/v1/deployments/${within.body.deployment_id}`, { sandbox: { limits: { max_processes: 4097 } } });
    expect(raised.status).toBe(400);
    expect(raised.body.error.param).toBe('sandbox.limits.max_processes');
    const kept = await herm.request('GET', `/v1/deployments/${within.body.deployment_id}`);
    expect(kept.body.sandbox.limits.max_processes).toBe(4096);
  });

  it('holds every field, and the allowlist size, to ceilings the operator sets', async () => {
    const strict = await startTestServer({
      env: {
        HERM_SANDBOX_MAX_CPUS: '0.5',
        HERM_SANDBOX_MAX_MEMORY_MB: '128',
        HERM_SANDBOX_MAX_PROCESSES: '64',
        HERM_SANDBOX_MAX_DISK_MB: '32',
        HERM_SANDBOX_MAX_OUTPUT_BYTES: '65536',
        HERM_SANDBOX_MAX_ALLOW_ENTRIES: '2',
        HERM_MAX_COMMAND_TIMEOUT_MS: '10000',
      },
    });
    try {
      const over: Array<[Record<string, number>, string, string]> = [
        [{ cpus: 0.75 }, 'cpus', 'at most 0.5 CPUs (HERM_SANDBOX_MAX_CPUS)'],
        [{ memory_mb: 129 }, 'memory_mb', 'at most 128 MiB'],
        [{ max_processes: 65 }, 'max_processes', 'at most 64 processes'],
        [{ disk_mb: 33 }, 'disk_mb', 'at most 32 MiB on this server (HERM_SANDBOX_MAX_DISK_MB)'],
        [{ max_output_bytes: 65_537 }, 'max_output_bytes', 'at most 65536 bytes'],
        [{ command_timeout_seconds: 11 }, 'command_timeout_seconds', 'at most 10 seconds'],
      ];
      for (const [limits, field, message] of over) {
        const response = await create(strict, { limits });
        expect(response.status, field).toBe(400);
        expect(response.body.error.param).toBe(`sandbox.limits.${field}`);
        expect(response.body.error.message.replace(' on this server', '')).toContain(message.replace(' on this server', ''));
      }
      const hosts = await create(strict, { network: { allow: ['a.example.com', 'b.example.com', 'c.example.com'] } });
      expect(hosts.status).toBe(400);
      expect(hosts.body.error.param).toBe('sandbox.network.allow');
      expect(hosts.body.error.message).toContain('at most 2 hosts');
      const listed = await strict.request('GET', '/v1/deployments?limit=100');
      expect(listed.body.data).toHaveLength(0);
      // Within every ceiling: accepted as asked.
      const within = await create(strict, {
        limits: { cpus: 0.5, memory_mb: 128, max_processes: 64, max_output_bytes: 65_536, command_timeout_seconds: 10 },
        network: { allow: ['a.example.com', 'b.example.com'] },
      });
      expect(within.status, JSON.stringify(within.body)).toBe(201);
      expect(within.body.sandbox.limits).toEqual({ cpus: 0.5, memory_mb: 128, max_processes: 64, max_output_bytes: 65_536, command_timeout_seconds: 10 });
    } finally {
      await strict.close();
    }
  });

  it.skipIf(cgroupsUnavailable)('holds a deployment stored with higher limits to a ceiling lowered since, when its commands run', async () => {
    const dataDir = fs.mkdtempSync(path.join((await import('node:os')).tmpdir(), 'herm-ceilings-'));
    const first = await startTestServer({ dataDir });
    let deploymentId: string;
    try {
      deploymentId = (await first.createDeployment({ sandbox: { limits: { memory_mb: 1024 } } })).deployment_id;
    } finally {
      await first.close();
    }
    const lowered = await startTestServer({ dataDir, env: { HERM_SANDBOX_MAX_MEMORY_MB: '64' } });
    try {
      const deployment = await lowered.request('GET', `/v1/deployments/${deploymentId}`);
      expect(deployment.body.sandbox.limits.memory_mb).toBe(1024);
      lowered.model.enqueue({ toolCalls: [{ name: 'shell', arguments: { command: 'dd if=/dev/zero of=/dev/null bs=256M count=1' } }] }, { text: 'Done.' });
      const run = await lowered.sendAndWait(deploymentId);
      expect(run.status).toBe('completed');
      const request = lowered.model.requests.findLast((entry) => entry.messages.some((message) => message.role === 'tool'))!;
      const hog = JSON.parse(request.messages.find((message) => message.role === 'tool')!.text);
      expect(hog).toMatchObject({ limit_exceeded: 'memory', exit_code: 137 });
      expect(hog.error).toContain('memory limit (64 MB)');
    } finally {
      await lowered.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
