// Every isolation promise of the docker backend, proven through exec() against a real Docker Engine API
// (Podman's service in CI), and the container's life: started on first use, removed when idle, started
// again with the workspace intact.
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDockerBackend, type DockerBackend } from '../../src/sandbox/docker.ts';
import type { Sandbox } from '../../src/sandbox/sandbox.ts';
import { makeTemporaryDirectory, removeDirectory } from './bubblewrap-test-support.ts';
import {
  containersOf,
  DOCKER_TEST_LIMITS,
  dockerHost,
  dockerImage,
  dockerUnavailable,
  eventually,
  hostProcessesMatching,
  removeContainer,
  uniqueSleepSeconds,
} from './docker-test-support.ts';

const FAKE_PROVIDER_KEY = 'sk-test-secret-docker';

function newBackend(overrides: Partial<Parameters<typeof createDockerBackend>[0]> = {}): DockerBackend {
  return createDockerBackend({ limits: DOCKER_TEST_LIMITS, image: dockerImage, ...(dockerHost ? { dockerHost } : {}), ...overrides });
}

describe.skipIf(dockerUnavailable !== null)('docker sandbox', () => {
  const backend = newBackend();
  const deploymentA = `dep_dockertest_a_${process.pid}`;
  const deploymentB = `dep_dockertest_b_${process.pid}`;
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
    dataDir = await makeTemporaryDirectory('docker-data');
    await writeFile(join(dataDir, 'herm.sqlite'), 'server-database-contents');
    workspaceA = join(dataDir, 'workspaces', deploymentA);
    workspaceB = join(dataDir, 'workspaces', deploymentB);
    await mkdir(workspaceA, { recursive: true });
    await mkdir(workspaceB, { recursive: true });
    await writeFile(join(workspaceB, 'secret-b.txt'), 'deployment-b-private');
    sandboxA = backend.open({ deploymentId: deploymentA, workspaceDir: workspaceA, env: { CONNECTOR_TOKEN: 'connector-a' } });
    sandboxB = backend.open({ deploymentId: deploymentB, workspaceDir: workspaceB });
  });

  afterAll(async () => {
    await backend.close();
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
      const args = ['a  b', '$(touch pwned)', '*', '; touch pwned2', "'quoted'", '`id`', '', 'line\nbreak'];
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
      expect((await sandboxA.exec({ command: 'mkdir -p sub/deeper' })).exitCode).toBe(0);
      expect((await sandboxA.exec({ command: 'pwd; echo made > here.txt', cwd: 'sub' })).stdout).toBe('/workspace/sub\n');
      expect(await readFile(join(workspaceA, 'sub', 'here.txt'), 'utf8')).toBe('made\n');
      expect((await sandboxA.exec({ command: 'pwd', cwd: '/workspace/sub/deeper' })).stdout).toBe('/workspace/sub/deeper\n');
      const missing = await sandboxA.exec({ command: 'pwd', cwd: 'does-not-exist' });
      expect(missing.exitCode).not.toBe(0);
      expect(missing.stdout).toBe('');
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
      // Files the sandbox makes belong to the sandbox user on the host too.
      expect((await stat(join(workspaceA, 'run-0.txt'))).uid).toBe(process.getuid?.() === 0 ? 1000 : process.getuid?.());
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

    it('cannot read the server process through /proc, and sees only its own container', async () => {
      const result = await sandboxA.exec({
        command: 'cat "/proc/$1/environ"; cat /proc/*/environ; ls /proc',
        args: [String(process.pid)],
      });
      expect(result.stdout + result.stderr).not.toContain(FAKE_PROVIDER_KEY);
      // Its own pid namespace: init, the keep-alive process, the command's wrapper, its shell and ls.
      const pids = result.stdout.split(/\s+/).filter((entry) => /^\d+$/.test(entry));
      expect(pids.length).toBeGreaterThan(0);
      expect(pids.length).toBeLessThanOrEqual(8);
    });

    it('refuses connector variables that are malformed or would replace the fixed ones', () => {
      const workspaceDir = workspaceA;
      expect(() => backend.open({ deploymentId: 'x', workspaceDir, env: { PATH: '/evil' } })).toThrow(/PATH/);
      expect(() => backend.open({ deploymentId: 'x', workspaceDir, env: { 'A=B': 'x' } })).toThrow(/not a valid/);
      expect(() => backend.open({ deploymentId: 'x', workspaceDir, env: { TOKEN: 'a\0b' } })).toThrow(/NUL/);
      expect(() => backend.open({ deploymentId: 'x', workspaceDir: 'relative/dir' })).toThrow(/absolute/);
      expect(() => backend.open({ deploymentId: 'x', workspaceDir, image: '../../containers/x' })).toThrow(/image reference/);
    });

    it('keeps a connector variable named like one the engine adds', async () => {
      const sandbox = backend.open({ deploymentId: deploymentA, workspaceDir: workspaceA, env: { HOSTNAME: 'chosen' } });
      expect((await sandbox.exec({ command: 'echo "$HOSTNAME"' })).stdout).toBe('chosen\n');
    });
  });

  describe('file system', () => {
    it('cannot read /etc/shadow, and /etc holds no host accounts', async () => {
      const result = await sandboxA.exec({ command: 'cat /etc/shadow; cat /etc/gshadow; ls -A /etc; cat /etc/passwd' });
      expect(result.stderr).toContain('/etc/shadow: No such file');
      expect(result.stdout).not.toMatch(/^g?shadow$/m);
      expect(result.stdout).toContain('sandbox:x:1000:1000:sandbox:/workspace:/bin/sh');
      const hostAccounts = (await readFile('/etc/passwd', 'utf8'))
        .split('\n')
        .map((line) => line.split(':')[0] ?? '')
        .filter((name) => name && !['root', 'nobody', 'sandbox'].includes(name));
      for (const account of hostAccounts) expect(result.stdout).not.toMatch(new RegExp(`^${account}:`, 'm'));
    });

    it("cannot list or read /work, /root, this test's files or the server's data directory", async () => {
      const hostPaths = ['/work', dirname(import.meta.filename), process.cwd(), dataDir, join(dataDir, 'herm.sqlite')];
      for (const hostPath of hostPaths) {
        const result = await sandboxA.exec({ command: 'ls -la "$1" || exit 1; cat "$1"', args: [hostPath] });
        expect(result.exitCode, hostPath).not.toBe(0);
        expect(result.stdout, hostPath).toBe('');
      }
      expect((await sandboxA.exec({ command: 'ls -A /root 2>/dev/null | wc -l' })).stdout.trim()).toBe('0');
    });

    it("cannot reach another deployment's workspace by host path or through ..", async () => {
      const result = await sandboxA.exec({
        command: 'cat "$1"; cat /workspace/../dep_b/secret-b.txt; ls -A /workspace/..; ls "$2"',
        args: [join(workspaceB, 'secret-b.txt'), workspaceB],
      });
      expect(result.stdout).not.toContain('deployment-b-private');
      expect(result.stdout).not.toContain(deploymentB);
      expect(result.stdout).not.toContain('secret-b.txt');
    });

    it('gains nothing from symlinks that point outside the workspace', async () => {
      const inside = await sandboxA.exec({
        command: 'ln -sf /etc/shadow shadow-link; ln -sfn /work work-link; cat shadow-link; ls work-link/; ls -la work-link/main',
      });
      expect(inside.stdout).toBe('');
      await symlink(join(dataDir, 'herm.sqlite'), join(workspaceA, 'database-link'));
      await symlink(workspaceB, join(workspaceA, 'neighbour-link'));
      await symlink('/root', join(workspaceA, 'root-link'));
      const planted = await sandboxA.exec({ command: 'cat database-link; ls -A neighbour-link/; cat neighbour-link/secret-b.txt' });
      expect(planted.exitCode).not.toBe(0);
      expect(planted.stdout).toBe('');
      expect(planted.stdout + planted.stderr).not.toContain('server-database-contents');
      expect(planted.stdout + planted.stderr).not.toContain('deployment-b-private');
    });

    it('cannot write outside /workspace; /tmp belongs to the container, not the host', async () => {
      const targets = ['/usr/herm-escape', '/etc/herm-escape', '/herm-escape', '/etc/passwd'];
      for (const target of targets) {
        const result = await sandboxA.exec({ command: 'echo sandbox >> "$1"', args: [target] });
        expect(result.exitCode, target).not.toBe(0);
        expect(result.stderr, target).toMatch(/Read-only file system|Permission denied/);
      }
      expect((await sandboxA.exec({ command: 'echo 1 > /proc/sys/vm/drop_caches' })).exitCode).not.toBe(0);

      const name = `herm-private-${process.pid}-${Date.now()}`;
      const tmp = await sandboxA.exec({ command: 'echo x > "/tmp/$1" && cat "/tmp/$1"', args: [name] });
      expect(tmp.stdout).toBe('x\n');
      expect(existsSync(join(tmpdir(), name))).toBe(false);
      expect(existsSync(join('/tmp', name))).toBe(false);
      // Another deployment's container has a /tmp of its own.
      expect((await sandboxB.exec({ command: 'ls "/tmp/$1"', args: [name] })).exitCode).not.toBe(0);
    });

    it('holds no capabilities and cannot gain any', async () => {
      const result = await sandboxA.exec({ command: 'grep -E "^(CapEff|CapPrm|CapBnd|NoNewPrivs)" /proc/self/status' });
      expect(result.stdout).toMatch(/^CapPrm:\s+0000000000000000$/m);
      expect(result.stdout).toMatch(/^CapEff:\s+0000000000000000$/m);
      expect(result.stdout).toMatch(/^CapBnd:\s+0000000000000000$/m);
      expect(result.stdout).toMatch(/^NoNewPrivs:\s+1$/m);
    });
  });

  describe('network', () => {
    let server: Server;
    let port: number;
    const fetchFromInside = 'exec bash -c \'exec 3<>"/dev/tcp/$1/$2" && printf "GET / HTTP/1.0\\r\\n\\r\\n" >&3 && cat <&3\' bash "$1" "$2"';

    beforeAll(async () => {
      server = createServer((_request, response) => response.end('hello from the host'));
      await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
      port = (server.address() as AddressInfo).port;
    });

    afterAll(async () => {
      await new Promise((resolve) => server.close(resolve));
    });

    it('has no network by default: neither host loopback nor the host address is reachable', async () => {
      const hostAddresses = Object.values(networkInterfaces())
        .flat()
        .filter((address) => address && address.family === 'IPv4' && !address.internal)
        .map((address) => address!.address);
      for (const host of ['127.0.0.1', ...hostAddresses.slice(0, 2)]) {
        const result = await sandboxA.exec({ command: fetchFromInside, args: [host, String(port)], timeoutMs: 10_000 });
        expect(result.exitCode, host).not.toBe(0);
        expect(result.stdout, host).not.toContain('hello from the host');
      }
      expect((await sandboxA.exec({ command: 'cat /proc/net/dev' })).stdout).not.toMatch(/^\s*(eth|en|wl)\w*:/m);
    });
  });

  describe('lifetime of commands', () => {
    it('kills the whole process tree at the timeout and returns promptly', async () => {
      const seconds = [uniqueSleepSeconds(), uniqueSleepSeconds(), uniqueSleepSeconds(), uniqueSleepSeconds()];
      const started = performance.now();
      const result = await sandboxA.exec({
        // A background child, a grandchild in its own session, a double-forked daemon, and the
        // foreground sleep the timeout interrupts.
        command: 'sleep "$1" & sh -c "setsid sleep $2 &" ; (nohup sleep "$3" >/dev/null 2>&1 &) ; echo started; sleep "$4"',
        args: seconds,
        timeoutMs: 1_000,
      });
      const elapsed = performance.now() - started;
      expect(result).toMatchObject({ timedOut: true, exitCode: null, signal: 'SIGKILL', stdout: 'started\n' });
      expect(elapsed).toBeLessThan(6_000);
      for (const marker of seconds) expect(await hostProcessesMatching(`sleep ${marker}`)).toEqual([]);
      // The container survives its command's timeout.
      expect((await sandboxA.exec({ command: 'echo alive' })).stdout).toBe('alive\n');
    });

    it('does not let background children outlive a command that exits normally', async () => {
      const markers = [uniqueSleepSeconds(), uniqueSleepSeconds()];
      const started = performance.now();
      const result = await sandboxA.exec({ command: 'sleep "$1" & (setsid sleep "$2" >/dev/null 2>&1 &); echo left-behind', args: markers });
      expect(result).toMatchObject({ exitCode: 0, timedOut: false, stdout: 'left-behind\n' });
      expect(performance.now() - started).toBeLessThan(5_000);
      for (const marker of markers) expect(await hostProcessesMatching(`sleep ${marker}`)).toEqual([]);
    });

    it('does not touch what another command of the deployment is running meanwhile', async () => {
      const marker = uniqueSleepSeconds();
      const long = sandboxA.exec({ command: 'sleep 1.5; echo "$1"', args: [marker] });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await sandboxA.exec({ command: 'echo quick' })).stdout).toBe('quick\n');
      expect((await long).stdout).toBe(`${marker}\n`);
    });

    it('cancels through an AbortSignal and leaves nothing running', async () => {
      const marker = uniqueSleepSeconds();
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 500);
      const started = performance.now();
      await expect(sandboxA.exec({ command: 'sleep "$1"', args: [marker], signal: controller.signal })).rejects.toMatchObject({
        name: 'AbortError',
      });
      expect(performance.now() - started).toBeLessThan(6_000);
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
      expect(Buffer.byteLength(result.stdout)).toBe(DOCKER_TEST_LIMITS.maxOutputBytes);
      expect(result.stdout.startsWith('y\ny\n')).toBe(true);
    });

    it('caps stderr on its own', async () => {
      const result = await sandboxA.exec({ command: 'yes error | head -c 5000000 >&2; echo fine' });
      expect(result).toMatchObject({ exitCode: 0, truncated: true, stdout: 'fine\n' });
      expect(Buffer.byteLength(result.stderr)).toBe(DOCKER_TEST_LIMITS.maxOutputBytes);
    });

    it('does not cut a UTF-8 character in half at the limit', async () => {
      const small = newBackend({ limits: { timeoutMs: 10_000, maxOutputBytes: 10 } });
      try {
        const result = await small.open({ deploymentId: `dep_dockertest_small_${process.pid}`, workspaceDir: workspaceA }).exec({ command: 'printf "aéééééé"' });
        expect(result).toMatchObject({ truncated: true, stdout: 'aéééé' });
      } finally {
        await small.close();
      }
    });
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
    it('logs each command to a pino logger at debug level, without its text or environment', async () => {
      const lines: string[] = [];
      const destination = new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(chunk.toString());
          done();
        },
      });
      const logger = pino({ level: 'debug' }, destination);
      const logged = newBackend({ logger });
      const loggedDeployment = `dep_dockertest_logged_${process.pid}`;
      try {
        await logged.open({ deploymentId: loggedDeployment, workspaceDir: workspaceA, env: { CONNECTOR_TOKEN: 'connector-a' } }).exec({
          command: 'echo command-text; exit 3',
        });
      } finally {
        await logged.close();
      }
      const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(entries.find((entry) => entry['msg'] === 'sandbox command finished')).toMatchObject({ deploymentId: loggedDeployment, exitCode: 3, timedOut: false });
      expect(entries.find((entry) => entry['msg'] === 'sandbox container started')).toMatchObject({ deploymentId: loggedDeployment });
      expect(lines.join('')).not.toContain('command-text');
      expect(lines.join('')).not.toContain('connector-a');
    });
  });

  describe('check()', () => {
    it('passes on this machine', async () => {
      expect(await backend.check()).toEqual({ ok: true });
    });

    it('says to set DOCKER_HOST when no API answers', async () => {
      const missing = createDockerBackend({ limits: DOCKER_TEST_LIMITS, dockerHost: 'unix:///nonexistent/docker.sock' });
      const result = await missing.check();
      expect(result.ok).toBe(false);
      expect(!result.ok && result.reason).toMatch(/unix:\/\/\/nonexistent\/docker\.sock.*DOCKER_HOST/);
      await missing.close();
    });

    it('names the image and how to build it when the image is missing', async () => {
      const result = await backend.check({ image: 'herm-no-such-image:never' });
      expect(result).toMatchObject({ ok: false, field: 'image' });
      expect(!result.ok && result.reason).toMatch(/herm-no-such-image:never.*scripts\/build-sandbox-image\.sh/);
      await expect(
        backend.open({ deploymentId: 'dep_noimage', workspaceDir: workspaceA, image: 'herm-no-such-image:never' }).exec({ command: 'true' }),
      ).rejects.toThrow(/herm-no-such-image:never/);
    });
  });
});
