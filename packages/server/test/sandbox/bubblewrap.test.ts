// What is particular to the bubblewrap backend: the sandbox's file system and pid namespace are made
// afresh for every command, check() explains what is missing, and bwrap can run as an unprivileged host
// user. What every backend does is in sandbox-behaviour.test.ts; the escape attempts in sandbox-security.test.ts.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBubblewrapBackend } from '../../src/sandbox/bubblewrap/bubblewrap.ts';
import type { Sandbox, SandboxBackend } from '../../src/sandbox/sandbox.ts';
import { bubblewrapUnavailable, makeTemporaryDirectory, removeDirectory, TEST_LIMITS } from './bubblewrap-test-support.ts';

describe.skipIf(bubblewrapUnavailable !== null)('bubblewrap sandbox', () => {
  let backend: SandboxBackend;
  let workspaceDir: string;
  let sandbox: Sandbox;

  beforeAll(async () => {
    backend = createBubblewrapBackend({ limits: TEST_LIMITS });
    workspaceDir = await makeTemporaryDirectory('bwrap');
    sandbox = backend.open({ deploymentId: 'dep_bwrap', workspaceDir });
  });

  afterAll(async () => {
    await backend?.close?.();
    if (workspaceDir) await removeDirectory(workspaceDir);
  });

  describe('a sandbox made for each command', () => {
    it('sees only system dirs, its private /proc /dev /tmp /etc, and its own workspace at the root', async () => {
      const result = await sandbox.exec({ command: 'ls -A /' });
      const expected = ['dev', 'etc', 'proc', 'tmp', 'usr', 'workspace'];
      for (const name of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) if (existsSync(`/${name}`)) expected.push(name);
      expect(result.stdout.trim().split('\n').sort()).toEqual(expected.sort());
    });

    it('gives each command a fresh pid namespace', async () => {
      const result = await sandbox.exec({ command: 'ls /proc' });
      // Only bwrap's init, the shell and ls.
      const pids = result.stdout.split(/\s+/).filter((entry) => /^\d+$/.test(entry)).map(Number);
      expect(pids.length).toBeGreaterThan(0);
      expect(pids.length).toBeLessThanOrEqual(4);
      expect(Math.max(...pids)).toBeLessThan(10);
    });

    it("gives each command a /tmp of its own, gone when it ends", async () => {
      const name = `herm-private-${process.pid}-${Date.now()}`;
      expect((await sandbox.exec({ command: 'echo x > "/tmp/$1" && cat "/tmp/$1"', args: [name] })).stdout).toBe('x\n');
      expect((await sandbox.exec({ command: 'ls "/tmp/$1"', args: [name] })).exitCode).not.toBe(0);
    });
  });

  describe('check()', () => {
    it('says how to install bubblewrap when the binary is missing', async () => {
      const missing = createBubblewrapBackend({ limits: TEST_LIMITS, bwrapPath: '/nonexistent/bwrap' });
      try {
        const result = await missing.check();
        expect(result.ok).toBe(false);
        expect(!result.ok && result.reason).toMatch(/\/nonexistent\/bwrap.*apt-get install bubblewrap/);
        await expect(missing.open({ deploymentId: 'x', workspaceDir }).exec({ command: 'true' })).rejects.toThrow(/apt-get install bubblewrap/);
      } finally {
        await missing.close?.();
      }
    });

    it('names the cause when bwrap cannot create namespaces', async () => {
      // Stands in for a kernel or container that forbids user namespaces; bwrap's real message.
      const directory = await makeTemporaryDirectory('fake-bwrap');
      const fakeBwrap = join(directory, 'bwrap');
      await writeFile(
        fakeBwrap,
        '#!/bin/sh\n[ "$1" = --version ] && { echo "bubblewrap 0.8.0"; exit 0; }\necho "bwrap: No permissions to create new namespace, likely because the kernel does not allow non-privileged user namespaces." >&2\nexit 1\n',
      );
      await chmod(fakeBwrap, 0o755);
      const failing = createBubblewrapBackend({ limits: TEST_LIMITS, bwrapPath: fakeBwrap });
      try {
        const result = await failing.check();
        expect(result.ok).toBe(false);
        expect(!result.ok && result.reason).toMatch(/No permissions to create new namespace.*user namespaces/);
      } finally {
        await failing.close?.();
        await removeDirectory(directory);
      }
    });

    it('starts one sandbox for a burst of checks once one has passed, and never remembers a failure', async () => {
      // A wrapper around the real bwrap that logs each sandbox it starts and fails while a marker file exists.
      const directory = await makeTemporaryDirectory('counting-bwrap');
      const wrapper = join(directory, 'bwrap');
      const log = join(directory, 'starts.log');
      const broken = join(directory, 'broken');
      const realBwrap = execFileSync('sh', ['-c', 'command -v bwrap'], { encoding: 'utf8' }).trim();
      await writeFile(
        wrapper,
        `#!/bin/sh\n[ "$1" = --version ] && exec ${realBwrap} --version\necho start >> ${log}\n` +
          `[ -e ${broken} ] && { echo "bwrap: setting up uid map: Permission denied" >&2; exit 1; }\nexec ${realBwrap} "$@"\n`,
      );
      await chmod(wrapper, 0o755);
      await writeFile(broken, '');
      const starts = async () => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
      const counted = createBubblewrapBackend({ limits: TEST_LIMITS, bwrapPath: wrapper });
      try {
        expect((await counted.check()).ok).toBe(false);
        expect((await counted.check()).ok).toBe(false);
        expect(await starts()).toBe(2); // each failed check tried again
        await removeDirectory(broken);
        expect(await Promise.all([counted.check(), counted.check(), counted.check()])).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
        for (let index = 0; index < 5; index++) expect(await counted.check()).toEqual({ ok: true });
        expect(await starts()).toBe(3); // one sandbox for the eight checks after the fix
      } finally {
        await counted.close?.();
        await removeDirectory(directory);
      }
    });
  });

  describe.skipIf(process.getuid?.() !== 0)('as an unprivileged host user', () => {
    it('runs bwrap as that user, so the sandbox is not host root outside its namespace', async () => {
      const directory = await makeTemporaryDirectory('host-user');
      const unprivileged = createBubblewrapBackend({ limits: TEST_LIMITS, hostUser: { uid: 65534, gid: 65534 } });
      try {
        await chown(directory, 65534, 65534);
        expect(await unprivileged.check()).toEqual({ ok: true });
        const result = await unprivileged.open({ deploymentId: 'dep_nobody', workspaceDir: directory }).exec({ command: 'id -u; echo made > made.txt' });
        expect(result.stdout).toBe('1000\n');
        expect((await stat(join(directory, 'made.txt'))).uid).toBe(65534);
      } finally {
        await unprivileged.close?.();
        await removeDirectory(directory);
      }
    });
  });
});
