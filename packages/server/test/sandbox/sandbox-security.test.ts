// Every isolation promise of the sandboxed backends, proven by real escape attempts through exec() against
// real secrets: the host's /etc/shadow, the server's data directory, database and key file, another
// deployment's workspace, the server's environment (a model key) and its /proc entry, writes outside the
// workspace, the network when it is off, and symlinks, hardlinks and `..` in the workspace. Every attempt
// must fail, on every backend. The unsandboxed backend is documented unsafe and is not here.
import { createHash } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, symlink } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ExecResult, Sandbox, SandboxBackend } from '../../src/sandbox/sandbox.ts';
import { describeEachBackend, hostAddresses, SANDBOXED_BACKENDS, uniqueDeploymentId, type SandboxedBackendUnderTest } from './backends-under-test.ts';
import { dockerHost } from './docker-test-support.ts';
import { createFakeServerData, type FakeServerData } from './fake-server-data.ts';

/** The host's /etc/shadow entries (when this process may read it), none of which may reach a command. */
const hostShadowLines = readHostFile('/etc/shadow')
  .split('\n')
  .filter((line) => line.includes(':'));

function readHostFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** An HTTP GET from inside to $1 (host) port $2, with bash's /dev/tcp. */
const FETCH_FROM_INSIDE = 'exec bash -c \'exec 3<>"/dev/tcp/$1/$2" && printf "GET / HTTP/1.0\\r\\n\\r\\n" >&3 && cat <&3\' bash "$1" "$2"';

describeEachBackend(SANDBOXED_BACKENDS, 'sandbox security', (backendUnderTest) => {
  const deploymentA = uniqueDeploymentId(`security_${backendUnderTest.name}_a`);
  const deploymentB = uniqueDeploymentId(`security_${backendUnderTest.name}_b`);
  let backend: SandboxBackend;
  let data: FakeServerData;
  let sandboxA: Sandbox;
  let sandboxB: Sandbox;

  /** Output of a command, both streams: where a stolen secret would show. */
  const everything = (result: ExecResult) => result.stdout + result.stderr;
  const expectNoSecrets = (result: ExecResult, what: string) => {
    for (const marker of data.allMarkers()) expect(everything(result), `${what}: ${marker}`).not.toContain(marker);
    for (const line of hostShadowLines) expect(everything(result), `${what}: /etc/shadow`).not.toContain(line);
  };

  beforeAll(async () => {
    backend = backendUnderTest.create();
    data = await createFakeServerData({ a: deploymentA, b: deploymentB });
    // Links planted on the host side, as if the workspace had been filled from outside (a restored
    // snapshot, an upload), each aimed at something secret that exists on the host.
    const plant = (target: string, name: string) => symlink(target, join(data.workspaceA, name));
    await plant(data.databaseFile, 'planted-database');
    await plant(data.secretKeyFile, 'planted-key');
    await plant(data.dataDir, 'planted-data-dir');
    await plant(data.workspaceB, 'planted-neighbour');
    await plant(`../${deploymentB}/secret-b.txt`, 'planted-relative');
    await plant('/etc/shadow', 'planted-shadow');
    await plant('/root', 'planted-root');
    sandboxA = backend.open({ deploymentId: deploymentA, workspaceDir: data.workspaceA, env: { CONNECTOR_TOKEN: 'connector-a' } });
    sandboxB = backend.open({ deploymentId: deploymentB, workspaceDir: data.workspaceB });
  });

  afterAll(async () => {
    await backend?.close?.();
    await data?.cleanup();
  });

  it('runs in /workspace as the unprivileged sandbox user, with no capabilities and no way to gain any', async () => {
    const result = await sandboxA.exec({ command: 'pwd; id -u; id -g; echo "$HOME"; whoami' });
    expect(result).toMatchObject({ exitCode: 0, signal: null, timedOut: false, truncated: false, stderr: '' });
    expect(result.stdout).toBe('/workspace\n1000\n1000\n/workspace\nsandbox\n');

    const privileges = await sandboxA.exec({ command: 'grep -E "^(CapEff|CapPrm|CapBnd|NoNewPrivs)" /proc/self/status; unshare -U true && echo unshared' });
    expect(privileges.stdout).toMatch(/^CapPrm:\s+0000000000000000$/m);
    expect(privileges.stdout).toMatch(/^CapEff:\s+0000000000000000$/m);
    expect(privileges.stdout).toMatch(/^CapBnd:\s+0000000000000000$/m);
    expect(privileges.stdout).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(privileges.stdout).not.toContain('unshared');
  });

  it("cannot read the host's /etc/shadow, and /etc holds no host accounts", async () => {
    const result = await sandboxA.exec({
      command: 'cat /etc/shadow; cat /etc/gshadow; cat /proc/1/root/etc/shadow /workspace/../etc/shadow; ls -A /etc; cat /etc/passwd',
    });
    expect(result.stderr).toContain('/etc/shadow: No such file');
    expect(result.stdout).not.toMatch(/^g?shadow$/m);
    expect(result.stdout).toContain('sandbox:x:1000:1000:sandbox:/workspace:/bin/sh');
    expectNoSecrets(result, '/etc/shadow');
    const hostAccounts = readHostFile('/etc/passwd')
      .split('\n')
      .map((line) => line.split(':')[0] ?? '')
      .filter((name) => name && !['root', 'nobody', 'sandbox'].includes(name));
    for (const account of hostAccounts) expect(result.stdout).not.toMatch(new RegExp(`^${account}:`, 'm'));
  });

  it("cannot list or read the server's data directory, database or key, /work, /root or this test's files by host path", async () => {
    const hostPaths = [
      data.dataDir,
      data.databaseFile,
      data.secretKeyFile,
      join(data.dataDir, 'workspaces'),
      '/work',
      dirname(import.meta.filename),
      process.cwd(),
    ];
    for (const hostPath of hostPaths) {
      const result = await sandboxA.exec({ command: 'ls -la "$1" || exit 1; cat "$1"', args: [hostPath] });
      expect(result.exitCode, hostPath).not.toBe(0);
      expect(result.stdout, hostPath).toBe('');
      expectNoSecrets(result, hostPath);
    }
    // An image may have a /root of its own, but an empty one.
    expect((await sandboxA.exec({ command: 'ls -A /root 2>/dev/null' })).stdout).toBe('');
  });

  it("cannot reach the data directory or another deployment's workspace through ..", async () => {
    const result = await sandboxA.exec({
      command: [
        'cat /workspace/../herm.sqlite /workspace/../../herm.sqlite ../../secret.key "/workspace/../$1/secret-b.txt" "../$1/secret-b.txt"',
        'ls -A /workspace/.. /workspace/../..',
      ].join('; '),
      args: [deploymentB],
    });
    expectNoSecrets(result, '..');
    expect(result.stdout).not.toContain(deploymentB);
    expect(result.stdout).not.toMatch(/^(workspaces|herm\.sqlite|secret\.key)$/m);
    // The same through the working directory the caller asks for.
    const parent = await sandboxA.exec({ command: 'ls -A; cat herm.sqlite', cwd: '..' });
    expectNoSecrets(parent, 'cwd ..');
    expect(parent.stdout).not.toMatch(new RegExp(`^(${deploymentB}|herm\\.sqlite)$`, 'm'));
    const neighbour = await sandboxA.exec({ command: 'cat secret-b.txt', cwd: `../${deploymentB}` });
    expect(neighbour.exitCode).not.toBe(0);
    expectNoSecrets(neighbour, 'cwd ../neighbour');
  });

  it('cannot leave a setuid or setgid root file on the host, however it sets the bits', async () => {
    const attempts = [
      'cp /bin/sh ./sperl && chmod 4755 ./sperl',
      'cp /bin/sh ./sgid && chmod 2755 ./sgid',
      'cp /bin/sh ./numeric && chmod u+s,g+s ./numeric',
      'install -m 4755 /bin/sh ./installed',
      'mkdir -m 2775 ./setgid-dir',
      'mkdir ./later-dir && chmod g+s ./later-dir',
      // open(2) with O_CREAT and a setuid mode, then chmod through a descriptor (fchmod).
      'perl -e \'use Fcntl; sysopen(F, "created", O_CREAT|O_WRONLY, 04755); open(G, ">", "fchmod") && chmod(06755, *G)\' 2>&1 || true',
      'tar -C /tmp -cf /tmp/a.tar . 2>/dev/null; mkdir -p /tmp/src && cp /bin/sh /tmp/src/tarred && chmod 755 /tmp/src/tarred && tar --mode=u+s -C /tmp/src -cf /tmp/s.tar tarred && tar -xpf /tmp/s.tar',
      'cp -p /usr/bin/passwd ./copied-passwd 2>/dev/null || cp -p /bin/mount ./copied-mount',
    ];
    for (const command of attempts) await sandboxA.exec({ command });
    const hostFiles = await walk(data.workspaceA);
    expect(hostFiles.length).toBeGreaterThan(5);
    for (const { path, stats } of hostFiles) {
      const setuidRoot = (stats.mode & 0o4000) !== 0 && stats.uid === 0;
      const setgidRoot = (stats.mode & 0o2000) !== 0 && stats.gid === 0;
      expect({ path, mode: (stats.mode & 0o7777).toString(8), uid: stats.uid, gid: stats.gid, setuidRoot, setgidRoot }).toMatchObject({
        setuidRoot: false,
        setgidRoot: false,
      });
    }
    // Ordinary modes still work.
    const plain = await sandboxA.exec({ command: 'touch plain && chmod 750 plain && stat -c %a plain' });
    expect(plain.stdout.trim()).toBe('750');
  });

  it("sees neither the host kernel's command line nor the server's working directory", async () => {
    const hostCommandLine = readHostFile('/proc/cmdline').trim();
    const result = await sandboxA.exec({ command: 'cat /proc/cmdline; echo ---; tr "\\0" "\\n" < /proc/1/environ; echo ---; readlink /proc/1/cwd' });
    const [commandLine, environ] = result.stdout.split('---\n');
    expect(commandLine?.trim()).toBe('');
    if (hostCommandLine) expect(result.stdout).not.toContain(hostCommandLine);
    expect(environ).not.toContain(`PWD=${process.cwd()}`);
    // Nothing of this (server-side) process's environment either, apart from values the sandbox sets itself.
    for (const [name, value] of Object.entries(process.env)) {
      if (value && value.length >= 4 && !['PATH', 'HOME', 'LANG', 'TERM'].includes(name)) expect(environ).not.toContain(`${name}=${value}`);
    }
    expectNoSecrets(result, '/proc/cmdline and /proc/1/environ');
  });

  it("cannot reach another deployment's workspace by host path, or see its connector variables", async () => {
    const result = await sandboxA.exec({
      command: 'cat "$1"; ls -A "$2"; ls -A /workspace',
      args: [join(data.workspaceB, 'secret-b.txt'), data.workspaceB],
    });
    expectNoSecrets(result, 'host path of B');
    expect(result.stdout).not.toContain('secret-b.txt');
    expect((await sandboxB.exec({ command: 'env' })).stdout).not.toContain('CONNECTOR_TOKEN');
  });

  it('finds no trace of the secrets anywhere it can look', async () => {
    // Everything visible but the read-only system directories and the kernel's files: by content, then by name.
    const result = await sandboxA.exec({
      command: [
        'grep -rlsF -D skip --exclude-dir=proc --exclude-dir=sys --exclude-dir=usr --exclude-dir=dev -e "$1" -e "$2" -e "$3" -e "$4" /',
        'find / \\( -path /proc -o -path /sys -o -path /usr -o -path /dev \\) -prune -o \\( -name herm.sqlite -o -name secret.key -o -name secret-b.txt \\) -print 2>/dev/null',
      ].join('; '),
      args: data.allMarkers(),
      timeoutMs: 60_000,
    });
    expect(result.timedOut).toBe(false);
    expect(result.stdout).toBe('');
  });

  it("holds only PATH, HOME, LANG, TERM and the connector variables — never the server's environment", async () => {
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
    expect(process.env['ANTHROPIC_API_KEY']).toBe(data.markers.modelKey);
    expectNoSecrets(result, 'env');
  });

  it("cannot reach the server's /proc entry (environ, root, cwd, open files) and sees none of the host's processes", async () => {
    const result = await sandboxA.exec({
      command: [
        '[ -e "/proc/$1" ] && echo "pid $1 exists"',
        'cat "/proc/$1/environ" "/proc/$1/cmdline" "/proc/$1/root$2" "/proc/$1/cwd/herm.sqlite" "/proc/$1/cwd/secret.key"',
        'ls -la "/proc/$1/root/" "/proc/$1/cwd/" "/proc/$1/fd/"',
        'for descriptor in /proc/$1/fd/*; do cat "$descriptor"; done',
        "for process in /proc/[0-9]*; do tr '\\0' ' ' < $process/environ; tr '\\0' ' ' < $process/cmdline; echo; done",
        'ls /proc/1/root/ /proc/1/cwd/',
      ].join('\n'),
      args: [String(data.server.pid), data.databaseFile],
    });
    expect(result.stdout).not.toContain(`pid ${data.server.pid} exists`);
    expectNoSecrets(result, '/proc');
    expect(everything(result)).not.toContain(data.server.commandLineMarker);
    // A pid namespace of its own: only the sandbox's few processes.
    const processes = await sandboxA.exec({ command: 'ls /proc' });
    const pids = processes.stdout.split(/\s+/).filter((entry) => /^\d+$/.test(entry));
    expect(pids.length).toBeGreaterThan(0);
    expect(pids.length).toBeLessThanOrEqual(8);
  });

  it('cannot write to the system, /etc or /proc/sys', async () => {
    const targets = ['/usr/herm-escape', '/etc/herm-escape', '/herm-escape', '/etc/passwd', '/proc/sys/kernel/hostname'];
    for (const target of targets) {
      const result = await sandboxA.exec({ command: 'echo sandbox >> "$1"', args: [target] });
      expect(result.exitCode, target).not.toBe(0);
      expect(result.stderr, target).toMatch(backendUnderTest.readOnlyError);
    }
    // A global sysctl: writable by host root, so this must fail when the server runs as root.
    expect((await sandboxA.exec({ command: 'echo 1 > /proc/sys/vm/drop_caches' })).exitCode).not.toBe(0);
  });

  it("cannot write into the data directory, the workspace's parent or another workspace, by host path or ..", async () => {
    // A deployment of its own: the paths it makes in its /tmp on the way (mkdir -p) would otherwise stay in
    // deployment A's container and look like the data directory to the tests that follow.
    const deploymentC = uniqueDeploymentId(`security_${backendUnderTest.name}_c`);
    const workspaceC = join(data.dataDir, 'workspaces', deploymentC);
    await mkdir(workspaceC);
    const sandboxC = backend.open({ deploymentId: deploymentC, workspaceDir: workspaceC });
    const fingerprint = async () =>
      Promise.all([readFile(data.databaseFile), readFile(data.secretKeyFile), readdir(data.workspaceB), readdir(data.workspaceA), readdir(data.dataDir)]).then(
        (contents) => createHash('sha256').update(JSON.stringify(contents.map((content) => content.toString()))).digest('hex'),
      );
    const before = await fingerprint();
    const targets = [
      join(data.dataDir, 'workspaces', 'escape.txt'),
      join(data.dataDir, 'escape.txt'),
      join(data.workspaceB, 'escape.txt'),
      join(data.workspaceA, 'escape.txt'),
      data.databaseFile,
      data.secretKeyFile,
      '/workspace/../escape.txt',
      `/workspace/../${deploymentB}/escape.txt`,
      '../../herm.sqlite',
    ];
    for (const target of targets) {
      // mkdir -p may well succeed, in the sandbox's own /tmp: what matters is that nothing reaches the host.
      await sandboxC.exec({ command: 'mkdir -p "$(dirname "$1")" 2>/dev/null; echo escaped >> "$1"', args: [target] });
    }
    expect(existsSync(join(data.dataDir, 'workspaces', 'escape.txt'))).toBe(false);
    expect(existsSync(join(data.dataDir, 'escape.txt'))).toBe(false);
    expect(existsSync(join(data.workspaceB, 'escape.txt'))).toBe(false);
    expect(existsSync(join(data.workspaceA, 'escape.txt'))).toBe(false);
    expect(existsSync('/escape.txt')).toBe(false);
    expect(await fingerprint()).toBe(before);
  });

  it("writes to /tmp stay in the sandbox: not on the host, not in another deployment's sandbox", async () => {
    const name = `herm-private-${process.pid}-${Date.now()}`;
    const tmp = await sandboxA.exec({ command: 'echo x > "/tmp/$1" && cat "/tmp/$1"', args: [name] });
    expect(tmp.stdout).toBe('x\n');
    expect(existsSync(join(tmpdir(), name))).toBe(false);
    expect(existsSync(join('/tmp', name))).toBe(false);
    expect((await sandboxB.exec({ command: 'ls "/tmp/$1"', args: [name] })).exitCode).not.toBe(0);
  });

  it('gains nothing from symlinks it makes itself, to the host or to another workspace', async () => {
    const result = await sandboxA.exec({
      command: [
        'ln -sf /etc/shadow own-shadow; ln -sfn /work own-work; ln -sfn "$1" own-data-dir; ln -sf "$2" own-database; ln -sfn "$3" own-neighbour',
        'cat own-shadow own-database own-data-dir/herm.sqlite own-neighbour/secret-b.txt',
        'ls own-work/ own-data-dir/ own-neighbour/; ls -la own-work/main',
      ].join('\n'),
      args: [data.dataDir, data.databaseFile, data.workspaceB],
    });
    expect(result.stdout).toBe('');
    expectNoSecrets(result, 'own symlinks');
  });

  it('gains nothing from symlinks planted on the host side, nor with them as its working directory', async () => {
    // The neighbour last: the loop's exit code is that of listing it.
    const links = ['planted-database', 'planted-key', 'planted-data-dir', 'planted-relative', 'planted-shadow', 'planted-root', 'planted-neighbour'];
    const result = await sandboxA.exec({
      command: 'for link; do cat "$link"; cat "$link/herm.sqlite" "$link/secret.key" "$link/secret-b.txt"; ls -A "$link/"; done',
      args: links,
    });
    expect(result.exitCode).not.toBe(0);
    expect(result.stdout).toBe('');
    expectNoSecrets(result, 'planted symlinks');
    for (const link of ['planted-data-dir', 'planted-neighbour']) {
      const inside = await sandboxA.exec({ command: 'ls -A; cat herm.sqlite secret-b.txt', cwd: link });
      expect(inside.exitCode, link).not.toBe(0);
      expectNoSecrets(inside, `cwd ${link}`);
    }
  });

  it('cannot hardlink files from outside the workspace into it', async () => {
    const result = await sandboxA.exec({
      command: 'ln /etc/passwd hard-1; ln /usr/bin/env hard-2; ln "$1" hard-3; ln -L planted-database hard-4; ln -L planted-neighbour/secret-b.txt hard-5; cat hard-*',
      args: [data.databaseFile],
    });
    expectNoSecrets(result, 'hardlinks');
    for (const name of ['hard-1', 'hard-2', 'hard-3', 'hard-4', 'hard-5']) expect(existsSync(join(data.workspaceA, name)), name).toBe(false);
  });

  describeNetwork(backendUnderTest, () => ({ sandboxA, backend, workspaceDir: data.workspaceA, deploymentA }));
});

/** The network tests: host servers (TCP, UDP, an abstract Unix socket) that must hear nothing while the network is off. */
function describeNetwork(
  backendUnderTest: SandboxedBackendUnderTest,
  fixture: () => { sandboxA: Sandbox; backend: SandboxBackend; workspaceDir: string; deploymentA: string },
): void {
  let http: HttpServer;
  let port: number;
  let ipv6 = true;
  let connections = 0;
  let udp: UdpSocket;
  let udpPort: number;
  let datagrams = 0;
  let abstract: NetServer;
  const abstractName = `herm-test-${process.pid}-${Math.random().toString(36).slice(2)}`;

  beforeAll(async () => {
    http = createHttpServer((_request, response) => response.end('hello from the host'));
    http.on('connection', () => connections++);
    // Dual-stack where the host has IPv6: one port for 127.0.0.1, ::1 and the host's addresses.
    await new Promise<void>((resolve) => {
      http.once('error', () => {
        ipv6 = false;
        http.listen(0, '0.0.0.0', resolve);
      });
      http.listen(0, '::', resolve);
    });
    port = (http.address() as AddressInfo).port;
    udp = createSocket('udp4');
    udp.on('message', () => datagrams++);
    await new Promise<void>((resolve) => udp.bind(0, '0.0.0.0', resolve));
    udpPort = udp.address().port;
    abstract = createNetServer((socket) => socket.end('hello from the host'));
    await new Promise<void>((resolve) => abstract.listen(`\0${abstractName}`, resolve));
  });

  afterAll(async () => {
    await new Promise((resolve) => http?.close(resolve));
    udp?.close();
    await new Promise((resolve) => abstract?.close(resolve));
  });

  it('cannot connect to a server on host loopback (IPv4, IPv6) or on the host\'s addresses when the network is off', async () => {
    const { sandboxA } = fixture();
    const targets = ['127.0.0.1', ...(ipv6 ? ['::1'] : []), ...hostAddresses().slice(0, 2)];
    for (const host of targets) {
      const result = await sandboxA.exec({ command: FETCH_FROM_INSIDE, args: [host, String(port)], timeoutMs: 10_000 });
      expect(result.exitCode, host).not.toBe(0);
      expect(result.stdout, host).not.toContain('hello from the host');
    }
    expect(connections).toBe(0);
    expect((await sandboxA.exec({ command: 'cat /proc/net/dev' })).stdout).not.toMatch(/^\s*(?!lo:)\w+:/m);
  });

  it('sends no UDP datagram to the host when the network is off', async () => {
    const { sandboxA } = fixture();
    for (const host of ['127.0.0.1', ...hostAddresses().slice(0, 2)]) {
      await sandboxA.exec({ command: 'exec bash -c \'echo leak > "/dev/udp/$1/$2"\' bash "$1" "$2"', args: [host, String(udpPort)] });
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(datagrams).toBe(0);
  });

  it("cannot see or connect to the host's abstract Unix sockets when the network is off", async () => {
    const { sandboxA } = fixture();
    // The host side works: a command that reached the socket would be answered.
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(`\0${abstractName}`);
      let received = '';
      socket.on('data', (chunk) => (received += chunk.toString()));
      socket.on('end', () => resolve(received));
      socket.on('error', reject);
    });
    expect(answer).toBe('hello from the host');
    // The sockets of its network namespace (the host's, if it shared them), then a connection where the
    // sandbox has perl to make one with (bubblewrap: the host's /usr; not the default docker image).
    const result = await sandboxA.exec({
      command:
        'cat /proc/net/unix\n' +
        'command -v perl >/dev/null || exit 0\n' +
        'exec perl -MSocket -e \'socket(my $s, AF_UNIX, SOCK_STREAM, 0) or die "socket: $!\\n"; connect($s, pack_sockaddr_un("\\0" . $ARGV[0])) or die "connect: $!\\n"; print <$s>;\' "$1"',
      args: [abstractName],
    });
    expect(result.stdout).toContain('Inode Path');
    expect(result.stdout).not.toContain(abstractName);
    expect(result.stdout).not.toContain('hello from the host');
  });

  it("cannot see the Docker API's socket", async () => {
    const { sandboxA } = fixture();
    const sockets = ['/var/run/docker.sock', '/run/docker.sock', '/run/podman/podman.sock'];
    if (dockerHost?.startsWith('unix://')) sockets.push(dockerHost.slice('unix://'.length));
    const result = await sandboxA.exec({ command: 'for socket; do [ -e "$socket" ] && echo "visible: $socket"; done; true', args: sockets });
    expect(result.stdout).toBe('');
  });

  it('reaches the host when its spec turns the network on (the check above would notice a connection)', async (context) => {
    const { backend, workspaceDir, deploymentA } = fixture();
    const host = backendUnderTest.hostAddressWithNetwork();
    if (!host) context.skip('the host has no address a container could reach it at');
    const online = backend.open({ deploymentId: deploymentA, workspaceDir, network: true });
    const result = await online.exec({ command: FETCH_FROM_INSIDE, args: [host!, String(port)], timeoutMs: 10_000 });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('hello from the host');
    expect(connections).toBeGreaterThan(0);
  });
}

/** Every entry under a host directory, symlinks not followed. */
async function walk(directory: string): Promise<Array<{ path: string; stats: import('node:fs').Stats }>> {
  const found: Array<{ path: string; stats: import('node:fs').Stats }> = [];
  for (const name of await readdir(directory)) {
    const path = join(directory, name);
    const stats = await lstat(path);
    found.push({ path, stats });
    if (stats.isDirectory()) found.push(...(await walk(path)));
  }
  return found;
}
