// Every isolation promise of the bubblewrap backend, proven by a real escape attempt through exec().
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBubblewrapBackend } from '../../src/sandbox/bubblewrap.ts';
import type { Sandbox } from '../../src/sandbox/sandbox.ts';
import { hostProcessesMatching } from '../support/host-processes.ts';
import { bubblewrapUnavailable, makeTemporaryDirectory, removeDirectory, TEST_LIMITS } from './bubblewrap-test-support.ts';

const FAKE_PROVIDER_KEY = 'sk-test-secret';

function uniqueSleepSeconds(): string {
  return `${40 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 1e6)}`;
}

describe.skipIf(bubblewrapUnavailable !== null)('bubblewrap sandbox', () => {
  const backend = createBubblewrapBackend({ limits: TEST_LIMITS });
  let dataDir: string;
  let workspaceA: string;
  let workspaceB: string;
  let sandboxA: Sandbox;
  let sandboxB: Sandbox;
  let previousProviderKey: string | undefined;

  beforeAll(async () => {
    // Laid out like a server's data directory: a database file and one workspace per deployment.
    previousProviderKey = process.env['ANTHROPIC_API_KEY'];
    process.env['ANTHROPIC_API_KEY'] = FAKE_PROVIDER_KEY;
    dataDir = await makeTemporaryDirectory('data');
    await writeFile(join(dataDir, 'herm.sqlite'), 'server-database-contents');
    workspaceA = join(dataDir, 'workspaces', 'dep_a');
    workspaceB = join(dataDir, 'workspaces', 'dep_b');
    await mkdir(workspaceA, { recursive: true });
    await mkdir(workspaceB, { recursive: true });
    await writeFile(join(workspaceB, 'secret-b.txt'), 'deployment-b-private');
    sandboxA = backend.open({ deploymentId: 'dep_a', workspaceDir: workspaceA, env: { CONNECTOR_TOKEN: 'connector-a' } });
    sandboxB = backend.open({ deploymentId: 'dep_b', workspaceDir: workspaceB });
  });

  afterAll(async () => {
    if (previousProviderKey === undefined) delete process.env['ANTHROPIC_API_KEY'];
    else process.env['ANTHROPIC_API_KEY'] = previousProviderKey;
    await removeDirectory(dataDir);
  });

  describe('running commands', () => {
    it('runs in /workspace as the unprivileged sandbox user', async () => {
      const result = await sandboxA.exec({ command: 'pwd; id -u; id -g; echo "$HOME"; whoami' });
      expect(result).toMatchObject({ exitCode: 0, signal: null, timedOut: false, truncated: false, stderr: '' });
      expect(result.stdout).toBe('/workspace\n1000\n1000\n/workspace\nsandbox\n');
      expect(result.durationMs).toBeGreaterThan(0);
    });

    it('reports exit code and stderr separately; a non-zero exit is a normal result', async () => {
      const result = await sandboxA.exec({ command: 'echo out; echo err >&2; exit 7' });
      expect(result).toMatchObject({ exitCode: 7, signal: null, stdout: 'out\n', stderr: 'err\n', timedOut: false });
    });

    it('passes args as $1… without any shell interpretation', async () => {
      const args = ['a  b', '$(touch pwned)', '*', '; touch pwned2', "'quoted'", '`id`', ''];
      const result = await sandboxA.exec({ command: 'printf "[%s]\\n" "$@"', args });
      expect(result.stdout).toBe(args.map((argument) => `[${argument}]\n`).join(''));
      expect(existsSync(join(workspaceA, 'pwned'))).toBe(false);
      expect(existsSync(join(workspaceA, 'pwned2'))).toBe(false);
    });

    it('feeds stdin as text or bytes, then closes it', async () => {
      expect((await sandboxA.exec({ command: 'cat', stdin: 'hello\nworld' })).stdout).toBe('hello\nworld');
      const bytes = new Uint8Array(200_000).fill(120);
      expect((await sandboxA.exec({ command: 'wc -c', stdin: bytes })).stdout.trim()).toBe('200000');
      // Without stdin the command reads end-of-file at once instead of waiting.
      expect((await sandboxA.exec({ command: 'cat; echo done' })).stdout).toBe('done\n');
    });

    it('honours cwd, relative to /workspace or absolute, and writes land in the host workspace', async () => {
      await mkdir(join(workspaceA, 'sub', 'deeper'), { recursive: true });
      expect((await sandboxA.exec({ command: 'pwd; echo made > here.txt', cwd: 'sub' })).stdout).toBe('/workspace/sub\n');
      expect(await readFile(join(workspaceA, 'sub', 'here.txt'), 'utf8')).toBe('made\n');
      expect((await sandboxA.exec({ command: 'pwd', cwd: '/workspace/sub/deeper' })).stdout).toBe('/workspace/sub/deeper\n');
      const missing = await sandboxA.exec({ command: 'pwd', cwd: 'does-not-exist' });
      expect(missing.exitCode).not.toBe(0);
    });

    it('keeps deployments apart when they run at the same time', async () => {
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, index) => {
          const sandbox = index % 2 === 0 ? sandboxA : sandboxB;
          return sandbox.exec({ command: 'echo "$1" > "run-$1.txt"; ls /workspace', args: [String(index)] });
        }),
      );
      results.forEach((result, index) => {
        expect(result.exitCode).toBe(0);
        expect(result.stdout).toContain(`run-${index}.txt`);
      });
      expect(existsSync(join(workspaceA, 'run-0.txt'))).toBe(true);
      expect(existsSync(join(workspaceA, 'run-1.txt'))).toBe(false);
      expect(existsSync(join(workspaceB, 'run-1.txt'))).toBe(true);
    });
  });

  describe('environment', () => {
    it('holds only PATH, HOME, LANG, TERM and the connector variables — never the server environment', async () => {
      const result = await sandboxA.exec({ command: 'env' });
      const variables = Object.fromEntries(
        result.stdout
          .trim()
          .split('\n')
          .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
      );
      // PWD is exported by the shell itself.
      expect(Object.keys(variables).sort()).toEqual(['CONNECTOR_TOKEN', 'HOME', 'LANG', 'PATH', 'PWD', 'TERM']);
      expect(variables).toMatchObject({ CONNECTOR_TOKEN: 'connector-a', HOME: '/workspace', TERM: 'dumb', LANG: 'C.UTF-8' });
      expect(result.stdout).not.toContain(FAKE_PROVIDER_KEY);
      expect((await sandboxB.exec({ command: 'env' })).stdout).not.toContain('CONNECTOR_TOKEN');
    });

    it('cannot read the server process through /proc', async () => {
      const result = await sandboxA.exec({
        command: 'cat "/proc/$1/environ"; cat /proc/*/environ; ls /proc',
        args: [String(process.pid)],
      });
      expect(result.stdout + result.stderr).not.toContain(FAKE_PROVIDER_KEY);
      // A fresh pid namespace: only bwrap's init, the shell and ls are there.
      const pids = result.stdout.split(/\s+/).filter((entry) => /^\d+$/.test(entry)).map(Number);
      expect(pids.length).toBeGreaterThan(0);
      expect(pids.length).toBeLessThanOrEqual(4);
      expect(Math.max(...pids)).toBeLessThan(10);
    });

    it('refuses connector variables that are malformed or would replace the fixed ones', () => {
      const workspaceDir = workspaceA;
      expect(() => backend.open({ deploymentId: 'x', workspaceDir, env: { PATH: '/evil' } })).toThrow(/PATH/);
      expect(() => backend.open({ deploymentId: 'x', workspaceDir, env: { 'A=B': 'x' } })).toThrow(/not a valid/);
      expect(() => backend.open({ deploymentId: 'x', workspaceDir, env: { TOKEN: 'a\0b' } })).toThrow(/NUL/);
      expect(() => backend.open({ deploymentId: 'x', workspaceDir: 'relative/dir' })).toThrow(/absolute/);
    });
  });

  describe('file system', () => {
    it('cannot read /etc/shadow, and /etc holds no host accounts', async () => {
      const result = await sandboxA.exec({ command: 'cat /etc/shadow; cat /etc/gshadow; ls -A /etc; cat /etc/passwd' });
      expect(result.stderr).toContain('/etc/shadow: No such file');
      const listing = result.stdout;
      expect(listing).not.toMatch(/^g?shadow$/m);
      expect(listing).toContain('sandbox:x:1000:1000:sandbox:/workspace:/bin/sh');
      const hostAccounts = (await readFile('/etc/passwd', 'utf8'))
        .split('\n')
        .map((line) => line.split(':')[0] ?? '')
        .filter((name) => name && !['root', 'nobody', 'sandbox'].includes(name));
      for (const account of hostAccounts) expect(listing).not.toMatch(new RegExp(`^${account}:`, 'm'));
    });

    it('sees only system dirs, its private /proc /dev /tmp /etc, and its own workspace at the root', async () => {
      const result = await sandboxA.exec({ command: 'ls -A /' });
      const expected = ['dev', 'etc', 'proc', 'tmp', 'usr', 'workspace'];
      for (const name of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) if (existsSync(`/${name}`)) expected.push(name);
      expect(result.stdout.trim().split('\n').sort()).toEqual(expected.sort());
    });

    it("cannot list or read /work, /root, this test's files or the server's data directory", async () => {
      const hostPaths = ['/work', '/root', dirname(import.meta.filename), process.cwd(), dataDir, join(dataDir, 'herm.sqlite')];
      for (const hostPath of hostPaths) {
        const result = await sandboxA.exec({ command: 'ls -la "$1" || exit 1; cat "$1"', args: [hostPath] });
        expect(result.exitCode, hostPath).not.toBe(0);
        expect(result.stdout, hostPath).toBe('');
      }
    });

    it("cannot reach another deployment's workspace by host path or through ..", async () => {
      const result = await sandboxA.exec({
        command: 'cat "$1"; cat /workspace/../dep_b/secret-b.txt; ls -A /workspace/..; ls "$2"',
        args: [join(workspaceB, 'secret-b.txt'), workspaceB],
      });
      expect(result.stdout).not.toContain('deployment-b-private');
      expect(result.stdout).not.toMatch(/^dep_b$/m);
      expect(result.stdout).not.toContain('secret-b.txt');
    });

    it('gains nothing from symlinks that point outside the workspace', async () => {
      // Made by the command itself…
      const inside = await sandboxA.exec({
        command: 'ln -sf /etc/shadow shadow-link; ln -sfn /work work-link; cat shadow-link; ls work-link/; ls -la work-link/main',
      });
      expect(inside.stdout).toBe('');
      // …and planted on the host side, with targets that exist on the host.
      await symlink(join(dataDir, 'herm.sqlite'), join(workspaceA, 'database-link'));
      await symlink(workspaceB, join(workspaceA, 'neighbour-link'));
      await symlink('/root', join(workspaceA, 'root-link'));
      const planted = await sandboxA.exec({ command: 'cat database-link; ls -A neighbour-link/ root-link/; cat neighbour-link/secret-b.txt' });
      expect(planted.exitCode).not.toBe(0);
      expect(planted.stdout).toBe('');
      expect(planted.stdout + planted.stderr).not.toContain('server-database-contents');
      expect(planted.stdout + planted.stderr).not.toContain('deployment-b-private');
    });

    it('cannot write outside /workspace; /tmp is private to the command', async () => {
      const targets = ['/usr/herm-escape', '/etc/herm-escape', '/herm-escape', '/etc/passwd', '/proc/sys/kernel/hostname'];
      for (const target of targets) {
        const result = await sandboxA.exec({ command: 'echo sandbox >> "$1"', args: [target] });
        expect(result.exitCode, target).not.toBe(0);
        expect(result.stderr, target).toContain('Read-only file system');
      }
      // A global sysctl: writable by host root, so this must fail when the server runs as root.
      const sysctl = await sandboxA.exec({ command: 'echo 1 > /proc/sys/vm/drop_caches' });
      expect(sysctl.exitCode).not.toBe(0);

      const name = `herm-private-${process.pid}-${Date.now()}`;
      const tmp = await sandboxA.exec({ command: 'echo x > "/tmp/$1" && cat "/tmp/$1"', args: [name] });
      expect(tmp.stdout).toBe('x\n');
      expect(existsSync(join(tmpdir(), name))).toBe(false);
      expect(existsSync(join('/tmp', name))).toBe(false);
      expect((await sandboxA.exec({ command: 'ls "/tmp/$1"', args: [name] })).exitCode).not.toBe(0);
    });

    it('holds no capabilities and cannot create namespaces of its own', async () => {
      const result = await sandboxA.exec({ command: 'grep -E "^(CapEff|CapPrm|NoNewPrivs)" /proc/self/status; unshare -U true && echo unshared' });
      expect(result.stdout).toMatch(/^CapPrm:\s+0000000000000000$/m);
      expect(result.stdout).toMatch(/^CapEff:\s+0000000000000000$/m);
      expect(result.stdout).toMatch(/^NoNewPrivs:\s+1$/m);
      expect(result.stdout).not.toContain('unshared');
    });
  });

  describe('network', () => {
    let server: Server;
    let port: number;
    const fetchFromInside = 'exec bash -c \'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "GET / HTTP/1.0\\r\\n\\r\\n" >&3 && cat <&3\' bash "$1"';

    beforeAll(async () => {
      server = createServer((_request, response) => response.end('hello from the host'));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });

    afterAll(async () => {
      await new Promise((resolve) => server.close(resolve));
    });

    it('has no network by default: a server on host loopback is unreachable', async () => {
      const result = await sandboxA.exec({ command: fetchFromInside, args: [String(port)] });
      expect(result.exitCode).not.toBe(0);
      expect(result.stdout).not.toContain('hello from the host');
      expect((await sandboxA.exec({ command: 'cat /proc/net/dev' })).stdout).not.toMatch(/^\s*(eth|en|wl)\w*:/m);
    });

    it('reaches the host network when the spec asks for it', async () => {
      const online = backend.open({ deploymentId: 'dep_online', workspaceDir: workspaceA, network: true });
      const result = await online.exec({ command: fetchFromInside, args: [String(port)] });
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toContain('hello from the host');
    });
  });

  describe('lifetime', () => {
    it('kills the whole process tree at the timeout and returns promptly', async () => {
      const seconds = [uniqueSleepSeconds(), uniqueSleepSeconds(), uniqueSleepSeconds(), uniqueSleepSeconds()];
      const started = performance.now();
      const result = await sandboxA.exec({
        // A background child, a grandchild in its own session, a double-forked daemon, and the
        // foreground sleep the timeout interrupts.
        command: 'sleep "$1" & sh -c "setsid sleep $2 &" ; (nohup sleep "$3" >/dev/null 2>&1 &) ; echo started; sleep "$4"',
        args: seconds,
        timeoutMs: 500,
      });
      const elapsed = performance.now() - started;
      expect(result).toMatchObject({ timedOut: true, exitCode: null, signal: 'SIGKILL', stdout: 'started\n' });
      expect(elapsed).toBeLessThan(5_000);
      for (const marker of seconds) expect(await hostProcessesMatching(`sleep ${marker}`)).toEqual([]);
    });

    it('does not let background children outlive a command that exits normally', async () => {
      const marker = uniqueSleepSeconds();
      const started = performance.now();
      const result = await sandboxA.exec({ command: 'sleep "$1" & echo left-behind', args: [marker] });
      expect(result).toMatchObject({ exitCode: 0, timedOut: false, stdout: 'left-behind\n' });
      expect(performance.now() - started).toBeLessThan(5_000);
      expect(await hostProcessesMatching(`sleep ${marker}`)).toEqual([]);
    });

    it('cancels through an AbortSignal and leaves nothing running', async () => {
      const marker = uniqueSleepSeconds();
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 200);
      const started = performance.now();
      await expect(sandboxA.exec({ command: 'sleep "$1"', args: [marker], signal: controller.signal })).rejects.toMatchObject({
        name: 'AbortError',
      });
      expect(performance.now() - started).toBeLessThan(5_000);
      expect(await hostProcessesMatching(`sleep ${marker}`)).toEqual([]);
    });

    it('rejects at once when the signal is already aborted', async () => {
      const controller = new AbortController();
      controller.abort();
      await expect(sandboxA.exec({ command: 'touch never-created', signal: controller.signal })).rejects.toMatchObject({
        name: 'AbortError',
      });
      expect(existsSync(join(workspaceA, 'never-created'))).toBe(false);
    });
  });

  describe('output', () => {
    it('keeps at most maxOutputBytes of stdout from 50 MB and still finishes normally', async () => {
      const result = await sandboxA.exec({ command: 'yes | head -c 50000000; echo done >&2' });
      expect(result).toMatchObject({ exitCode: 0, timedOut: false, truncated: true, stderr: 'done\n' });
      expect(Buffer.byteLength(result.stdout)).toBe(TEST_LIMITS.maxOutputBytes);
      expect(result.stdout.startsWith('y\ny\n')).toBe(true);
    });

    it('caps stderr on its own', async () => {
      const result = await sandboxA.exec({ command: 'yes error | head -c 5000000 >&2; echo fine' });
      expect(result).toMatchObject({ exitCode: 0, truncated: true, stdout: 'fine\n' });
      expect(Buffer.byteLength(result.stderr)).toBe(TEST_LIMITS.maxOutputBytes);
    });

    it('does not cut a UTF-8 character in half at the limit', async () => {
      const small = createBubblewrapBackend({ limits: { timeoutMs: 10_000, maxOutputBytes: 10 } }).open({
        deploymentId: 'dep_small',
        workspaceDir: workspaceA,
      });
      const result = await small.exec({ command: 'printf "aéééééé"' });
      expect(result).toMatchObject({ truncated: true, stdout: 'aéééé' });
    });
  });

  describe('logging', () => {
    it('logs each command to a pino logger at debug level, without its text or environment', async () => {
      const lines: string[] = [];
      const destination = new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(chunk.toString());
          done();
        },
      });
      const logger = pino({ level: 'debug' }, destination);
      const logged = createBubblewrapBackend({ limits: TEST_LIMITS, logger }).open({
        deploymentId: 'dep_logged',
        workspaceDir: workspaceA,
        env: { CONNECTOR_TOKEN: 'connector-a' },
      });
      await logged.exec({ command: 'echo command-text; exit 3' });
      const entry = JSON.parse(lines.at(-1) ?? '{}') as Record<string, unknown>;
      expect(entry).toMatchObject({ msg: 'sandbox command finished', deploymentId: 'dep_logged', exitCode: 3, timedOut: false });
      expect(lines.join('')).not.toContain('command-text');
      expect(lines.join('')).not.toContain('connector-a');
    });
  });

  describe('check()', () => {
    it('passes on this machine', async () => {
      expect(await backend.check()).toEqual({ ok: true });
    });

    it('says how to install bubblewrap when the binary is missing', async () => {
      const missing = createBubblewrapBackend({ limits: TEST_LIMITS, bwrapPath: '/nonexistent/bwrap' });
      const result = await missing.check();
      expect(result.ok).toBe(false);
      expect(!result.ok && result.reason).toMatch(/\/nonexistent\/bwrap.*apt-get install bubblewrap/);
      await expect(missing.open({ deploymentId: 'x', workspaceDir: workspaceA }).exec({ command: 'true' })).rejects.toThrow(
        /apt-get install bubblewrap/,
      );
    });

    it('names the cause when bwrap cannot create namespaces', async () => {
      // Stands in for a kernel or container that forbids user namespaces; bwrap's real message.
      const directory = await makeTemporaryDirectory('fake-bwrap');
      try {
        const fakeBwrap = join(directory, 'bwrap');
        await writeFile(
          fakeBwrap,
          '#!/bin/sh\n[ "$1" = --version ] && { echo "bubblewrap 0.8.0"; exit 0; }\necho "bwrap: No permissions to create new namespace, likely because the kernel does not allow non-privileged user namespaces." >&2\nexit 1\n',
        );
        await chmod(fakeBwrap, 0o755);
        const result = await createBubblewrapBackend({ limits: TEST_LIMITS, bwrapPath: fakeBwrap }).check();
        expect(result.ok).toBe(false);
        expect(!result.ok && result.reason).toMatch(/No permissions to create new namespace.*user namespaces/);
      } finally {
        await removeDirectory(directory);
      }
    });
  });

  describe.skipIf(process.getuid?.() !== 0)('as an unprivileged host user', () => {
    it('runs bwrap as that user, so the sandbox is not host root outside its namespace', async () => {
      const workspaceDir = await makeTemporaryDirectory('host-user');
      try {
        await chown(workspaceDir, 65534, 65534);
        const unprivileged = createBubblewrapBackend({ limits: TEST_LIMITS, hostUser: { uid: 65534, gid: 65534 } });
        expect(await unprivileged.check()).toEqual({ ok: true });
        const sandbox = unprivileged.open({ deploymentId: 'dep_nobody', workspaceDir });
        const result = await sandbox.exec({ command: 'id -u; echo made > made.txt' });
        expect(result.stdout).toBe('1000\n');
        expect((await stat(join(workspaceDir, 'made.txt'))).uid).toBe(65534);
      } finally {
        await removeDirectory(workspaceDir);
      }
    });
  });
});
