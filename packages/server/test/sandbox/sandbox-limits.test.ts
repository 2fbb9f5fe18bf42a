// Resource limits per sandbox, on every backend that runs here: a fork bomb, a memory hog and a CPU
// spinner each run into their deployment's limit and get told so, while another deployment's sandbox
// on the same backend works normally. Wall time and output size per deployment override the server's.
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBubblewrapBackend } from '../../src/sandbox/bubblewrap/bubblewrap.ts';
import { detectCgroups } from '../../src/sandbox/limits/cgroups.ts';
import { createDockerBackend } from '../../src/sandbox/docker/docker.ts';
import type { Sandbox, SandboxBackend, SandboxLimits } from '../../src/sandbox/sandbox.ts';
import { bubblewrapUnavailable, makeTemporaryDirectory, removeDirectory } from './bubblewrap-test-support.ts';
import { createWorkspaceQuotas, imagePath, type WorkspaceQuotas } from '../../src/sandbox/limits/workspace-quotas.ts';
import { dockerHost, dockerImage, dockerUnavailable } from './docker-test-support.ts';

const SERVER_LIMITS: SandboxLimits = { timeoutMs: 20_000, maxOutputBytes: 1024 * 1024 };
const MIB = 1_048_576;

const cgroups = await detectCgroups();
const cgroupsUnavailable = cgroups.ok ? null : `CPU, memory and process limits of process sandboxes need cgroups: ${cgroups.reason}`;
if (cgroups.ok) await cgroups.cgroups.close();
const quotaReason = await createWorkspaceQuotas().unavailableReason();
const quotasUnavailable = quotaReason ? `workspace disk quota tests skipped: ${quotaReason}` : null;
if (quotasUnavailable) console.warn(quotasUnavailable);

interface BackendCase {
  name: string;
  skip: string | null;
  create(workspaceQuotas: WorkspaceQuotas): SandboxBackend;
}

const cases: BackendCase[] = [
  {
    name: 'bubblewrap',
    skip: bubblewrapUnavailable ?? cgroupsUnavailable,
    create: (workspaceQuotas) => createBubblewrapBackend({ limits: SERVER_LIMITS, workspaceQuotas }),
  },
  {
    name: 'docker',
    skip: dockerUnavailable,
    create: (workspaceQuotas) =>
      createDockerBackend({ limits: SERVER_LIMITS, image: dockerImage, idleMs: 60_000, workspaceQuotas, ...(dockerHost ? { dockerHost } : {}) }),
  },
];
for (const { name, skip } of cases) if (skip) console.warn(`${name} sandbox limit tests skipped: ${skip}`);

describe.each(cases)('$name sandbox limits', ({ name, skip, create }) => {
  let backend: SandboxBackend;
  let quotas: WorkspaceQuotas;
  let dataDir: string;
  let limited: Sandbox;
  let neighbour: Sandbox;
  const suffix = `${name}_${process.pid}`;

  beforeAll(async () => {
    if (skip) return;
    quotas = createWorkspaceQuotas();
    backend = create(quotas);
    dataDir = await makeTemporaryDirectory(`limits-${name}`);
    const open = async (deploymentId: string, limits?: Partial<SandboxLimits>): Promise<Sandbox> => {
      const workspaceDir = join(dataDir, 'workspaces', deploymentId);
      await mkdir(workspaceDir, { recursive: true });
      return backend.open({ deploymentId, workspaceDir, ...(limits ? { limits } : {}) });
    };
    limited = await open(`dep_limited_${suffix}`, { maxProcesses: 40, memoryBytes: 64 * MIB, cpus: 0.25 });
    neighbour = await open(`dep_neighbour_${suffix}`);
  });

  afterAll(async () => {
    if (skip) return;
    await backend.close?.();
    await quotas.close();
    await removeDirectory(dataDir);
  });

  it.skipIf(skip)('ends a fork bomb at the process limit, and the neighbour still starts 100 processes', async () => {
    const bomb = limited.exec({ command: 'bomb() { bomb | bomb & }; bomb; sleep 2; echo survived', timeoutMs: 10_000 });
    // While the bomb runs: another deployment on the same backend is unaffected.
    const during = await neighbour.exec({ command: 'for i in $(seq 100); do sleep 0.2 & done; wait; echo all-100-ran' });
    const result = await bomb;
    expect(result.limitExceeded?.limit).toBe('processes');
    expect(result.limitExceeded?.message).toContain('process limit (40');
    expect(result.stderr).toMatch(/fork|Resource temporarily unavailable/i);
    expect(during).toMatchObject({ exitCode: 0, stdout: 'all-100-ran\n' });
    expect(during.limitExceeded).toBeUndefined();
    // Gone with its command: the limited sandbox can fork again. Not always at the very next instant on
    // docker: on a slow machine, with the container's 0.25 CPU spent by the bomb, its pids came back up to a
    // second or two later (seen as "Cannot fork" with no process of the bomb left in the table); a bomb that
    // survived would fail every attempt.
    const forkTen = { command: 'for i in $(seq 10); do true & done; wait; echo fine' };
    let after = await limited.exec(forkTen);
    for (let attempt = 0; attempt < 20 && (after.exitCode !== 0 || after.limitExceeded) && name === 'docker'; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      after = await limited.exec(forkTen);
    }
    expect(after).toMatchObject({ exitCode: 0, stdout: 'fine\n' });
    expect(after.limitExceeded).toBeUndefined();
  });

  it.skipIf(skip)('kills a memory hog at the memory limit and says so; a smaller allocation is fine', async () => {
    // dd fills a buffer of its block size: 256 MiB against a 64 MiB limit.
    const hog = await limited.exec({ command: 'dd if=/dev/zero of=/dev/null bs=256M count=1 2>/dev/null; echo "dd exit $?"' });
    expect(hog.stdout).toBe('dd exit 137\n');
    expect(hog.limitExceeded?.limit).toBe('memory');
    expect(hog.limitExceeded?.message).toContain('memory limit (64 MB)');
    const small = await limited.exec({ command: 'dd if=/dev/zero of=/dev/null bs=16M count=4 2>/dev/null; echo "dd exit $?"' });
    expect(small.stdout).toBe('dd exit 0\n');
    expect(small.limitExceeded).toBeUndefined();
    // Unlimited neighbour: the same 256 MiB is no problem.
    const neighbourHog = await neighbour.exec({ command: 'dd if=/dev/zero of=/dev/null bs=256M count=1 2>/dev/null; echo "dd exit $?"' });
    expect(neighbourHog.stdout).toBe('dd exit 0\n');
  });

  it.skipIf(skip)('holds a CPU spinner to its share of a core', async () => {
    // `times` prints the CPU time of the shell's finished children: a spinner that runs for 2 s of wall
    // time may use at most 0.25 × 2 s (plus scheduling slack) under cpus 0.25. A busy machine can
    // only lower the figure, never raise it.
    const result = await limited.exec({ command: 'timeout 2 sh -c "while :; do :; done"; times' });
    const children = /\n(\d+)m([\d.]+)s (\d+)m([\d.]+)s\s*$/.exec(result.stdout);
    expect(children, result.stdout).not.toBeNull();
    const cpuSeconds = Number(children![1]) * 60 + Number(children![2]) + Number(children![3]) * 60 + Number(children![4]);
    expect(cpuSeconds).toBeLessThan(0.85);
    expect(cpuSeconds).toBeGreaterThan(0.05);
  });

  it.skipIf(skip)("applies a deployment's wall time and output size instead of the server's", async () => {
    const workspaceDir = join(dataDir, 'workspaces', `dep_short_${suffix}`);
    await mkdir(workspaceDir, { recursive: true });
    const short = backend.open({ deploymentId: `dep_short_${suffix}`, workspaceDir, limits: { timeoutMs: 700, maxOutputBytes: 2048 } });
    const slow = await short.exec({ command: 'sleep 10; echo never' });
    expect(slow.timedOut).toBe(true);
    expect(slow.stdout).toBe('');
    const loud = await short.exec({ command: 'head -c 10000 /dev/zero | tr "\\0" x' });
    expect(loud.truncated).toBe(true);
    expect(loud.stdout.length).toBeLessThanOrEqual(2048);
    // The server's limits still hold for the neighbour.
    const neighbourLoud = await neighbour.exec({ command: 'head -c 10000 /dev/zero | tr "\\0" x' });
    expect(neighbourLoud.truncated).toBe(false);
    expect(neighbourLoud.stdout).toHaveLength(10_000);
  });

  it.skipIf(skip ?? quotasUnavailable)('stops a disk filler at the workspace quota without touching the host disk', async () => {
    const deploymentId = `dep_disk_${suffix}`;
    const workspaceDir = join(dataDir, 'workspaces', deploymentId);
    await mkdir(workspaceDir, { recursive: true });
    // Files from before the quota (a restored snapshot, say) move into the quota's file system.
    await writeFile(join(workspaceDir, 'kept.txt'), 'from before the quota\n');
    const quota = backend.open({ deploymentId, workspaceDir, limits: { diskBytes: 24 * MIB } });

    const filler = await quota.exec({ command: 'cat kept.txt; dd if=/dev/zero of=filler bs=1M count=200 2>&1 | head -1; ls' });
    expect(filler.stdout).toContain('from before the quota');
    expect(filler.stdout).toMatch(/No space left on device/);
    expect(filler.stdout).not.toContain('lost+found');
    expect(filler.limitExceeded?.limit).toBe('disk');
    expect(filler.limitExceeded?.message).toContain('disk quota (24 MB)');
    // The host paid at most the quota: the image is the only thing that grew.
    const image = await stat(imagePath(workspaceDir));
    expect(image.blocks * 512).toBeLessThanOrEqual(25 * MIB);
    const filled = await stat(join(workspaceDir, 'filler'));
    expect(filled.size).toBeGreaterThan(16 * MIB);
    expect(filled.size).toBeLessThan(24 * MIB);

    // The neighbour has no quota: 64 MiB is fine there, and nothing it writes is counted here.
    const neighbourWrite = await neighbour.exec({ command: 'dd if=/dev/zero of=big bs=1M count=64 2>/dev/null; echo "dd exit $?"; rm big' });
    expect(neighbourWrite.stdout).toBe('dd exit 0\n');
    expect(neighbourWrite.limitExceeded).toBeUndefined();

    // Freed space is usable again, and the files stay across commands.
    const freed = await quota.exec({ command: 'rm filler && dd if=/dev/zero of=small bs=1M count=4 2>/dev/null; echo "dd exit $?"' });
    expect(freed.stdout).toBe('dd exit 0\n');
    expect(freed.limitExceeded).toBeUndefined();
    expect(await readFile(join(workspaceDir, 'kept.txt'), 'utf8')).toBe('from before the quota\n');

    // Deleting the workspace unmounts its file system and removes the image.
    await backend.discard?.(deploymentId);
    await quotas.remove(workspaceDir);
    await expect(stat(workspaceDir)).rejects.toThrow(/ENOENT/);
    await expect(stat(imagePath(workspaceDir))).rejects.toThrow(/ENOENT/);
    expect(await readFile('/proc/self/mountinfo', 'utf8')).not.toContain(workspaceDir);
  });
});
