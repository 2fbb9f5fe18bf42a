// What is particular to the docker backend, against a real Docker Engine API (Podman's service in CI): a
// deployment's container is started on first use, removed when idle (or by itself when no server is left),
// started again with the workspace intact, adopted after a crash; check() explains what is missing. What
// every backend does is in sandbox-behaviour.test.ts; the escape attempts in sandbox-security.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDockerBackend, type DockerBackend } from '../../src/sandbox/docker/docker.ts';
import { captureLogs } from '../support/log-capture.ts';
import { makeTemporaryDirectory, removeDirectory } from './bubblewrap-test-support.ts';
import { containersOf, DOCKER_TEST_LIMITS, dockerHost, dockerImage, dockerUnavailable, eventually, removeContainer, stopContainer } from './docker-test-support.ts';

function newBackend(overrides: Partial<Parameters<typeof createDockerBackend>[0]> = {}): DockerBackend {
  return createDockerBackend({ limits: DOCKER_TEST_LIMITS, image: dockerImage, ...(dockerHost ? { dockerHost } : {}), ...overrides });
}

describe.skipIf(dockerUnavailable !== null)('docker sandbox', () => {
  const backend = newBackend();
  let workspaceDir: string;

  beforeAll(async () => {
    workspaceDir = await makeTemporaryDirectory('docker');
  });

  afterAll(async () => {
    await backend.close();
    if (workspaceDir) await removeDirectory(workspaceDir);
  });

  it('refuses an image reference that is not one', () => {
    expect(() => backend.open({ deploymentId: 'x', workspaceDir, image: '../../containers/x' })).toThrow(/image reference/);
  });

  describe('the container', () => {
    it('starts on first use, is removed after the idle period, and starts again with the workspace intact', async () => {
      const deploymentId = `dep_dockertest_idle_${process.pid}`;
      const workspaceDir = await makeTemporaryDirectory('docker-idle');
      const idle = newBackend({ idleMs: 500 });
      try {
        const sandbox = idle.open({ deploymentId, workspaceDir });
        expect(idle.containerCount).toBe(0);
        expect(await containersOf(deploymentId)).toEqual([]);

        const first = await sandbox.exec({ command: 'echo kept > notes.txt; cut -d" " -f22 /proc/1/stat' });
        expect(first.exitCode).toBe(0);
        expect(idle.containerCount).toBe(1);
        const [running] = await containersOf(deploymentId);
        expect(running?.state).toBe('running');

        // Used again within the idle period: the same container.
        const again = await sandbox.exec({ command: 'cut -d" " -f22 /proc/1/stat' });
        expect(again.stdout).toBe(first.stdout);

        expect(await eventually(async () => (await containersOf(deploymentId)).length === 0, 10_000)).toBe(true);
        expect(idle.containerCount).toBe(0);

        const restarted = await sandbox.exec({ command: 'cat notes.txt' });
        expect(restarted).toMatchObject({ exitCode: 0, stdout: 'kept\n' });
        const [second] = await containersOf(deploymentId);
        expect(second?.id).not.toBe(running?.id);
      } finally {
        await idle.close();
        await removeDirectory(workspaceDir);
      }
      expect(await containersOf(deploymentId)).toEqual([]);
    });

    it('starts a new container when its container was removed behind its back', async () => {
      const deploymentId = `dep_dockertest_gone_${process.pid}`;
      const workspaceDir = await makeTemporaryDirectory('docker-gone');
      const own = newBackend();
      try {
        const sandbox = own.open({ deploymentId, workspaceDir });
        expect((await sandbox.exec({ command: 'echo one > one.txt' })).exitCode).toBe(0);
        const [container] = await containersOf(deploymentId);
        await removeContainer(container!.id);
        const result = await sandbox.exec({ command: 'cat one.txt' });
        expect(result).toMatchObject({ exitCode: 0, stdout: 'one\n' });
      } finally {
        await own.close();
        await removeDirectory(workspaceDir);
      }
    });

    it('starts a new container when its container stopped behind its back', async () => {
      const deploymentId = `dep_dockertest_stopped_${process.pid}`;
      const workspaceDir = await makeTemporaryDirectory('docker-stopped');
      const own = newBackend();
      try {
        const sandbox = own.open({ deploymentId, workspaceDir });
        expect((await sandbox.exec({ command: 'echo one > one.txt' })).exitCode).toBe(0);
        const [container] = await containersOf(deploymentId);
        await stopContainer(container!.id);
        const result = await sandbox.exec({ command: 'cat one.txt' });
        expect(result).toMatchObject({ exitCode: 0, stdout: 'one\n' });
      } finally {
        await own.close();
        await removeDirectory(workspaceDir);
      }
    });

    it('stops by itself when no server removes it (a crashed one), and a later command starts a new one', async () => {
      const deploymentId = `dep_dockertest_orphan_${process.pid}`;
      const workspaceDir = await makeTemporaryDirectory('docker-orphan');
      // The server's idle removal never comes in time: the container's own keep-alive ends it.
      const crashed = newBackend({ idleMs: 3_600_000, selfStopMs: 2_000 });
      try {
        const sandbox = crashed.open({ deploymentId, workspaceDir });
        expect((await sandbox.exec({ command: 'echo kept > kept.txt' })).exitCode).toBe(0);
        // A command running longer than the self-stop period keeps the container alive.
        expect((await sandbox.exec({ command: 'sleep 3.5; echo still-here' })).stdout).toBe('still-here\n');
        expect(await containersOf(deploymentId)).toHaveLength(1);
        expect(await eventually(async () => (await containersOf(deploymentId)).length === 0, 10_000)).toBe(true);
        expect(await sandbox.exec({ command: 'cat kept.txt' })).toMatchObject({ exitCode: 0, stdout: 'kept\n' });
      } finally {
        await crashed.close();
        await removeDirectory(workspaceDir);
      }
    });

    it("adopts a running container left by another server (one that crashed) instead of starting a second", async () => {
      const deploymentId = `dep_dockertest_adopt_${process.pid}`;
      const workspaceDir = await makeTemporaryDirectory('docker-adopt');
      const crashed = newBackend();
      const restarted = newBackend();
      try {
        const before = await crashed.open({ deploymentId, workspaceDir }).exec({ command: 'cut -d" " -f22 /proc/1/stat' });
        const after = await restarted.open({ deploymentId, workspaceDir }).exec({ command: 'cut -d" " -f22 /proc/1/stat' });
        expect(after.stdout).toBe(before.stdout);
        expect(await containersOf(deploymentId)).toHaveLength(1);
      } finally {
        await restarted.close();
        await crashed.close();
        await removeDirectory(workspaceDir);
      }
      expect(await containersOf(deploymentId)).toEqual([]);
    });

    it('runs each deployment in a container of its own and removes them all on close', async () => {
      const own = newBackend();
      const ids = [`dep_dockertest_c1_${process.pid}`, `dep_dockertest_c2_${process.pid}`];
      const workspaceDir = await makeTemporaryDirectory('docker-close');
      try {
        const initStartTimes = await Promise.all(
          ids.map(async (deploymentId) => (await own.open({ deploymentId, workspaceDir }).exec({ command: 'cut -d" " -f22 /proc/1/stat' })).stdout),
        );
        expect(own.containerCount).toBe(2);
        expect(initStartTimes[0]).toMatch(/^\d+\n$/);
        for (const deploymentId of ids) expect(await containersOf(deploymentId)).toHaveLength(1);
      } finally {
        await own.close();
        await removeDirectory(workspaceDir);
      }
      for (const deploymentId of ids) expect(await containersOf(deploymentId)).toEqual([]);
      await expect(own.open({ deploymentId: ids[0]!, workspaceDir }).exec({ command: 'true' })).rejects.toThrow(/closed/);
    });
  });

  describe('logging', () => {
    it('logs when it starts a deployment\'s container and when it removes it', async () => {
      const logs = captureLogs();
      const logged = newBackend({ logger: logs.logger });
      const deploymentId = `dep_dockertest_logged_${process.pid}`;
      try {
        await logged.open({ deploymentId, workspaceDir }).exec({ command: 'true' });
      } finally {
        await logged.close();
      }
      const entries = logs.entries();
      expect(entries.find((entry) => entry['msg'] === 'sandbox container started')).toMatchObject({ deploymentId, image: dockerImage });
      expect(entries.find((entry) => entry['msg'] === 'sandbox container removed')).toMatchObject({ reason: 'server stopping' });
    });
  });

  describe('check()', () => {
    it('says to set DOCKER_HOST when no API answers', async () => {
      const missing = createDockerBackend({ limits: DOCKER_TEST_LIMITS, dockerHost: 'unix:///nonexistent/docker.sock' });
      const result = await missing.check();
      expect(result.ok).toBe(false);
      expect(!result.ok && result.reason).toMatch(/unix:\/\/\/nonexistent\/docker\.sock.*DOCKER_HOST/);
      await missing.close();
    });

    it('answers a self-check that fails before it starts (no temporary workspace), and checks again next time', async () => {
      const fresh = newBackend();
      const temporary = process.env.TMPDIR;
      process.env.TMPDIR = '/nonexistent/herm-tmp';
      try {
        // This failure used to reject outside the check's try, and an unhandled rejection came with it.
        const failed = await fresh.check();
        expect(failed.ok).toBe(false);
        expect(!failed.ok && failed.reason).toMatch(/ENOENT.*herm-docker-check/);
      } finally {
        if (temporary === undefined) delete process.env.TMPDIR;
        else process.env.TMPDIR = temporary;
      }
      try {
        expect(await fresh.check()).toEqual({ ok: true });
      } finally {
        await fresh.close();
      }
    });

    it('names the image and how to build it when the image is missing', async () => {
      const result = await backend.check({ image: 'herm-no-such-image:never' });
      expect(result).toMatchObject({ ok: false, field: 'image' });
      expect(!result.ok && result.reason).toMatch(/herm-no-such-image:never.*scripts\/build-sandbox-image\.sh/);
      await expect(
        backend.open({ deploymentId: 'dep_noimage', workspaceDir, image: 'herm-no-such-image:never' }).exec({ command: 'true' }),
      ).rejects.toThrow(/herm-no-such-image:never/);
    });
  });
});
