// sandbox.network.allow: the allowlist's rules, the host's egress proxy spoken to directly on its unix
// socket, and real commands in bubblewrap and docker sandboxes reaching two HTTP servers on the host's
// loopback — one allowed, one not — through it. Loopback is internal: the allowed server is reachable
// only because the tests open it as the operator does (HERM_SANDBOX_INTERNAL_DESTINATIONS, which reaches
// the proxy as SandboxSpec.network.internal). No mocks: real servers, real proxies, real sandboxes.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBubblewrapArguments } from '../../src/sandbox/bubblewrap/bubblewrap-arguments.ts';
import { createBubblewrapBackend } from '../../src/sandbox/bubblewrap/bubblewrap.ts';
import { buildContainerConfig, buildExecWrapper, CONTAINER_USER } from '../../src/sandbox/docker/docker-container-config.ts';
import { createDockerBackend, type DockerBackend } from '../../src/sandbox/docker/docker.ts';
import { internalAddressKind, isInternalAddress } from '../../src/net/address-policy.ts';
import { matchAllowList, normalizeAllowList, parseAllowEntry, parseAllowList } from '../../src/sandbox/egress/egress-allowlist.ts';
import { buildBridgeCommandScript, loopbackForwards } from '../../src/sandbox/egress/egress-bridge.ts';
import { createEgressProxies, type EgressLookup, type EgressProxies } from '../../src/sandbox/egress/egress-proxy.ts';
import type { SandboxBackend } from '../../src/sandbox/sandbox.ts';
import { closedLoopbackPort, startLoopbackServer } from '../support/loopback-server.ts';
import { bubblewrapUnavailable, makeTemporaryDirectory, removeDirectory, TEST_LIMITS } from './bubblewrap-test-support.ts';
import { containersOf, DOCKER_TEST_LIMITS, dockerHost, dockerImage, dockerUnavailable, hostProcessesMatching } from './docker-test-support.ts';

/** Two HTTP servers on the host's loopback: the allowlists below name the first only. */
let allowedServer: Server;
let otherServer: Server;
let allowedPort: number;
let otherPort: number;

beforeAll(async () => {
  ({ server: allowedServer, port: allowedPort } = await startLoopbackServer((request, response) =>
    response.end(`allowed server: ${request.method} ${request.url} host=${request.headers.host}`),
  ));
  ({ server: otherServer, port: otherPort } = await startLoopbackServer((_request, response) => response.end('other server')));
});

afterAll(async () => {
  await new Promise((resolve) => allowedServer.close(resolve));
  await new Promise((resolve) => otherServer.close(resolve));
});

/** A loopback port nothing listens on (a server's, closed again). */
/** An HTTP server on `address:port` that counts what reaches it. */
async function listenOn(address: string, port: number, body: string): Promise<{ server: Server; requests: number; connections: number }> {
  const state = { server: createServer((_request, response) => {
    state.requests++;
    response.end(body);
  }), requests: 0, connections: 0 };
  state.server.on('connection', () => state.connections++);
  await new Promise<void>((resolve, reject) => {
    state.server.once('error', reject);
    state.server.listen(port, address, resolve);
  });
  return state;
}

describe('the allowlist', () => {
  it('accepts host names, wildcards, IP addresses and ports, in a normal form', () => {
    expect(normalizeAllowList(['API.Example.com.', '*.example.org', 'localhost:8080', '127.0.0.1:9000', '[::1]:8443', '10.1.2.3', 'api.example.com'])).toEqual([
      'api.example.com',
      '*.example.org',
      'localhost:8080',
      '127.0.0.1:9000',
      '[::1]:8443',
      '10.1.2.3',
    ]);
  });

  it('refuses what is not a host, with a reason', () => {
    for (const bad of ['https://api.example.com/', 'api.example.com/v1', '*', '*:443', 'a.*.example.com', 'api.example.com:0', 'api.example.com:70000', 'exa mple.com', '999.1.1.1', '::1', '-bad.example.com', '']) {
      expect(typeof parseAllowEntry(bad), bad).toBe('string');
    }
    expect(parseAllowEntry('https://api.example.com')).toMatch(/not a URL/);
    expect(() => parseAllowList(['ok.example.com', 'bad host'])).toThrow(/network\.allow\.1/);
  });

  it('matches exact names, subdomains of wildcards, and ports (80 and 443 when the entry names none)', () => {
    const entries = parseAllowList(['api.example.com', '*.example.org', 'localhost:8080', '127.0.0.1:9000', '[::1]:8443']);
    expect(matchAllowList(entries, 'api.example.com', 443)?.text).toBe('api.example.com');
    expect(matchAllowList(entries, 'API.EXAMPLE.COM.', 80)?.text).toBe('api.example.com');
    expect(matchAllowList(entries, 'api.example.com', 8443)).toBeUndefined();
    expect(matchAllowList(entries, 'evil-api.example.com', 443)).toBeUndefined();
    expect(matchAllowList(entries, 'api.example.com.evil.net', 443)).toBeUndefined();
    expect(matchAllowList(entries, 'a.b.example.org', 443)?.text).toBe('*.example.org');
    expect(matchAllowList(entries, 'example.org', 443)).toBeUndefined();
    expect(matchAllowList(entries, 'localhost', 8080)?.local).toBe(true);
    expect(matchAllowList(entries, 'localhost', 8081)).toBeUndefined();
    expect(matchAllowList(entries, '127.0.0.1', 9000)?.text).toBe('127.0.0.1:9000');
    expect(matchAllowList(entries, '127.0.0.1', 8080)).toBeUndefined();
    expect(matchAllowList(entries, '[0:0::1]', 8443)?.text).toBe('[::1]:8443');
  });

  it("counts loopback, private, shared, link-local, multicast, reserved and the host's own addresses as internal, in every notation", () => {
    const own = new Set(['192.0.2.10', '2001:db8::10']);
    const internal: Record<string, string> = {
      '127.0.0.1': 'loopback',
      '127.8.9.10': 'loopback',
      '::1': 'loopback',
      '0.0.0.0': 'unspecified',
      '0.1.2.3': 'unspecified',
      '::': 'unspecified',
      '10.0.0.5': 'private',
      '172.16.0.1': 'private',
      '172.31.255.255': 'private',
      '192.168.1.1': 'private',
      'fec0::1': 'private',
      '64:ff9b:1::a00:5': 'private',
      '100.64.0.1': 'shared',
      '100.127.255.254': 'shared',
      '169.254.169.254': 'link-local',
      'fe80::1': 'link-local',
      'febf::1': 'link-local',
      'fc00::1': 'unique-local',
      'fd12:3456::1': 'unique-local',
      '224.0.0.1': 'multicast',
      '239.255.255.250': 'multicast',
      'ff02::1': 'multicast',
      '255.255.255.255': 'broadcast',
      '240.0.0.1': 'reserved',
      '192.0.0.8': 'reserved',
      '198.18.0.1': 'reserved',
      '100::1': 'reserved',
      // IPv4 written as IPv6: mapped, compatible, NAT64 and 6to4 forms of internal addresses.
      '::ffff:127.0.0.1': 'loopback',
      '::ffff:7f00:1': 'loopback',
      '::FFFF:10.1.2.3': 'private',
      '::ffff:169.254.169.254': 'link-local',
      '::127.0.0.1': 'loopback',
      '64:ff9b::10.0.0.1': 'private',
      '64:ff9b::a9fe:a9fe': 'link-local',
      '2002:c0a8:101::1': 'private',
      '2002:7f00:1::': 'loopback',
      // The host's own addresses, however written.
      '192.0.2.10': 'own',
      '::ffff:192.0.2.10': 'own',
      '2001:db8:0:0::10': 'own',
      // Not an address at all: nothing is reached by what cannot be read.
      'not-an-ip': 'reserved',
    };
    for (const [address, kind] of Object.entries(internal)) {
      expect(internalAddressKind(address, own), address).toBe(kind);
      expect(isInternalAddress(address, own), address).toBe(true);
    }
    for (const address of ['93.184.216.34', '8.8.8.8', '172.32.0.1', '172.15.255.255', '100.128.0.1', '192.169.0.1', '169.255.0.1', '2001:db8::1', '2606:4700::1111', '::ffff:93.184.216.34', '64:ff9b::5db8:d822', '2002:5db8:d822::1', '223.255.255.255']) {
      expect(internalAddressKind(address, own), address).toBeUndefined();
    }
  });

  it('forwards allowed loopback ports into the sandbox, except privileged ones and the proxy port', () => {
    expect(loopbackForwards(['localhost:8080', '127.0.0.2:9000', '127.0.0.1:80', 'localhost:3128', 'api.example.com:8080', '10.0.0.1:8080', '127.0.0.1:8080'])).toEqual([
      { address: '127.0.0.1', port: 8080, target: 'localhost' },
      { address: '127.0.0.2', port: 9000, target: '127.0.0.2' },
    ]);
    expect(buildBridgeCommandScript(['localhost:8080'])).toContain('PROXY:127.0.0.1:localhost:8080,proxyport=3128');
  });
});

describe('what a sandbox with an allowlist is made of', () => {
  const egress = { socketDirectory: '/tmp/herm-egress-x/0123456789abcdef', allow: ['api.example.com', 'localhost:8080'] };

  it('bubblewrap: still no network namespace of its own; the socket directory read-only; proxy variables; the bridge first', () => {
    const invocation = buildBubblewrapArguments({
      workspaceDir: '/srv/herm/workspaces/dep_1',
      network: false,
      egress,
      environment: { HTTPS_PROXY: 'http://attacker.example:1' },
      command: 'echo "$1"',
      commandArguments: ['a b'],
      workingDirectory: '.',
      hostLayout: {
        system: [{ kind: 'bind', path: '/usr' }],
        etc: [],
        networkEtc: [
          { kind: 'bind', path: '/etc/resolv.conf' },
          { kind: 'bind', path: '/etc/hosts' },
          { kind: 'bind', path: '/etc/ssl/certs' },
        ],
      },
      features: { disableUserNamespaces: true },
    });
    const { options, commandLine } = invocation;
    expect(options).toContain('--unshare-net');
    const roBind = options.findIndex((option, index) => option === '--ro-bind' && options[index + 1] === egress.socketDirectory);
    expect(options.slice(roBind, roBind + 3)).toEqual(['--ro-bind', egress.socketDirectory, '/run/herm-egress']);
    // TLS trust roots, but no resolver: names are resolved by the proxy.
    expect(options.join(' ')).toContain('--ro-bind /etc/ssl/certs /etc/ssl/certs');
    expect(options).not.toContain('/etc/resolv.conf');
    // The proxy variables come after the connector's, so the last --setenv of HTTPS_PROXY is the bridge.
    const httpsProxy = options.flatMap((option, index) => (option === '--setenv' && options[index + 1] === 'HTTPS_PROXY' ? [options[index + 2]] : []));
    expect(httpsProxy.at(-1)).toBe('http://127.0.0.1:3128');
    expect(commandLine.slice(0, 5)).toEqual(['--args', '3', '--', '/bin/sh', '-c']);
    expect(commandLine[5]).toContain('socat TCP-LISTEN:3128,bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:/run/herm-egress/proxy.sock');
    expect(commandLine[5]).toContain('exec /bin/sh -c "$herm_command" sh "$@"');
    expect(commandLine.slice(6)).toEqual(['herm-egress', 'echo "$1"', 'a b']);
  });

  it('docker: NetworkMode none, the socket directory mounted read-only, the allowlist in the identity, the bridge kept alive', () => {
    const config = buildContainerConfig({ image: 'i', workspaceDir: '/w', network: false, egress, deploymentId: 'dep_1', user: CONTAINER_USER, selfStopSeconds: 600 });
    const host = config['HostConfig'] as Record<string, any>;
    expect(host['NetworkMode']).toBe('none');
    expect(config['NetworkDisabled']).toBe(true);
    expect(host['Mounts']).toContainEqual({ Type: 'bind', Source: egress.socketDirectory, Target: '/run/herm-egress', ReadOnly: true });
    expect(config['Labels']).toMatchObject({ 'herm.network.allow': 'api.example.com,localhost:8080' });
    const entrypoint = config['Entrypoint'] as string[];
    expect(entrypoint[2]).toContain('while :; do socat TCP-LISTEN:3128');
    expect(entrypoint[2]).toContain('PROXY:127.0.0.1:localhost:8080,proxyport=3128');
    // Idle: init, the keep-alive shell, and two processes per listener (3128 and the forwarded 8080).
    expect(entrypoint.at(-1)).toBe('6');
    const other = buildContainerConfig({ image: 'i', workspaceDir: '/w', network: false, egress: { ...egress, allow: ['api.example.com'] }, deploymentId: 'dep_1', user: CONTAINER_USER, selfStopSeconds: 600 });
    expect(other).not.toEqual(config);
    // Each command waits for the bridge before it runs.
    expect(buildExecWrapper([], egress.allow)).toContain('herm_wait_listening 0C38 1F90');
    expect(buildExecWrapper([])).not.toContain('herm_wait_listening');
  });
});

describe('the egress proxy', () => {
  /** example.test resolves to a public documentation address, rebind.test to loopback. */
  const lookup: EgressLookup = async (hostname) => {
    if (hostname === 'rebind.test') return [{ address: '127.0.0.1', family: 4 }];
    if (hostname === 'localhost') return [{ address: '127.0.0.1', family: 4 }];
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  };
  const denials: object[] = [];
  let proxies: EgressProxies;

  beforeAll(() => {
    proxies = createEgressProxies({
      lookup,
      idleMs: 200,
      logger: { debug() {}, warn() {}, info: (fields) => denials.push(fields) },
    });
  });

  afterAll(async () => {
    await proxies.close();
  });

  /** A plain-HTTP proxy request (absolute URI) sent to the proxy's socket. */
  function viaProxy(socketPath: string, url: string): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
    return new Promise((resolve, reject) => {
      const request = httpRequest({ socketPath, path: url, method: 'GET', headers: url.startsWith('http') ? { host: new URL(url).host } : {} }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body, headers: response.headers }));
      });
      request.on('error', reject);
      request.end();
    });
  }

  /** CONNECT through the proxy's socket, then a plain HTTP request in the tunnel; the raw answer. */
  function tunnelThrough(socketPath: string, authority: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect(socketPath);
      let answer = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (answer += chunk));
      socket.on('end', () => resolve(answer));
      socket.on('error', reject);
      // The tunnelled request goes right behind CONNECT, as some clients send it.
      socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\nGET /tunnelled HTTP/1.0\r\nHost: ${authority}\r\n\r\n`);
    });
  }

  it('forwards plain HTTP and tunnels CONNECT to an allowed host, and answers 403 for any other', async () => {
    const lease = await proxies.acquire('dep_proxy_a', [`127.0.0.1:${allowedPort}`], [`127.0.0.1:${allowedPort}`]);
    try {
      const socketPath = join(lease.socketDirectory, 'proxy.sock');
      const allowed = await viaProxy(socketPath, `http://127.0.0.1:${allowedPort}/hello?x=1`);
      expect(allowed).toMatchObject({ status: 200, body: `allowed server: GET /hello?x=1 host=127.0.0.1:${allowedPort}` });

      const denied = await viaProxy(socketPath, `http://127.0.0.1:${otherPort}/`);
      expect(denied.status).toBe(403);
      expect(denied.headers['x-herm-egress']).toBe('denied');
      expect(denied.body).toContain(`127.0.0.1:${otherPort} is not on this deployment's network allowlist (sandbox.network.allow)`);
      expect(denials).toContainEqual(expect.objectContaining({ deploymentId: 'dep_proxy_a', destination: `127.0.0.1:${otherPort}`, reason: 'not_allowed' }));

      const tunnelled = await tunnelThrough(socketPath, `127.0.0.1:${allowedPort}`);
      expect(tunnelled).toMatch(/^HTTP\/1\.1 200 Connection Established\r\n\r\nHTTP\/1\.1 200 OK/);
      expect(tunnelled).toContain('allowed server: GET /tunnelled');
      const refused = await tunnelThrough(socketPath, `127.0.0.1:${otherPort}`);
      expect(refused).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
      expect(refused).not.toContain('other server');

      // Not a proxy request at all (a client that took the socket for a web server).
      const direct = await viaProxy(socketPath, '/');
      expect(direct.status).toBe(400);
      expect(direct.body).toContain('HTTP_PROXY');
    } finally {
      lease.release();
    }
  });

  it('refuses an internal address on the allowlist that the operator did not open, by literal or by name, whether its port is open or not', async () => {
    // Before: an IP literal or `localhost` on the allowlist reached loopback by itself. Now nothing does
    // without the operator: the allowed server's port and a closed one get the same 403, decided before
    // any connection is tried.
    const closedPort = await closedLoopbackPort();
    const lease = await proxies.acquire('dep_proxy_internal', [
      `127.0.0.1:${allowedPort}`,
      `127.0.0.1:${closedPort}`,
      `localhost:${allowedPort}`,
      `rebind.test:${allowedPort}`,
      `[::1]:${allowedPort}`,
      `[::ffff:127.0.0.1]:${allowedPort}`,
    ]);
    try {
      const socketPath = join(lease.socketDirectory, 'proxy.sock');
      const answers = new Map<string, { status: number; body: string }>();
      for (const authority of [
        `127.0.0.1:${allowedPort}`,
        `127.0.0.1:${closedPort}`,
        `localhost:${allowedPort}`,
        `rebind.test:${allowedPort}`,
        `[::1]:${allowedPort}`,
        `[::ffff:127.0.0.1]:${allowedPort}`,
      ]) {
        const answer = await viaProxy(socketPath, `http://${authority}/`);
        expect(answer.status, authority).toBe(403);
        expect(answer.body, authority).not.toContain('allowed server');
        expect(answer.body, authority).toContain("which sandboxes reach only where the server's operator opens it (HERM_SANDBOX_INTERNAL_DESTINATIONS)");
        answers.set(authority, answer);
        const tunnelled = await tunnelThrough(socketPath, authority);
        expect(tunnelled, authority).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
        expect(tunnelled, authority).not.toContain('allowed server');
      }
      // An open port and a closed one: the same answer but for the port in it.
      expect(answers.get(`127.0.0.1:${closedPort}`)!.body.replace(String(closedPort), 'P')).toBe(answers.get(`127.0.0.1:${allowedPort}`)!.body.replace(String(allowedPort), 'P'));
      expect(answers.get(`rebind.test:${allowedPort}`)!.body).toContain('resolves to an internal address');
      expect(denials).toContainEqual(expect.objectContaining({ deploymentId: 'dep_proxy_internal', destination: `rebind.test:${allowedPort}`, reason: 'local_address', addresses: ['127.0.0.1'] }));
    } finally {
      lease.release();
    }
  });

  it('reaches an internal destination the operator opened, by that address or name and port only', async () => {
    // Opened: 127.0.0.1 at the allowed port, and the name localhost at the same port.
    const lease = await proxies.acquire(
      'dep_proxy_b',
      [`rebind.test:${allowedPort}`, `localhost:${allowedPort}`, `127.0.0.1:${allowedPort}`, `127.0.0.1:${otherPort}`],
      [`localhost:${allowedPort}`, `127.0.0.1:${allowedPort}`],
    );
    try {
      const socketPath = join(lease.socketDirectory, 'proxy.sock');
      const named = await viaProxy(socketPath, `http://localhost:${allowedPort}/named`);
      expect(named).toMatchObject({ status: 200, body: `allowed server: GET /named host=localhost:${allowedPort}` });
      const literal = await viaProxy(socketPath, `http://127.0.0.1:${allowedPort}/literal`);
      expect(literal).toMatchObject({ status: 200, body: `allowed server: GET /literal host=127.0.0.1:${allowedPort}` });
      // Another name that resolves to the opened address and port reaches it: the operator opened that address.
      const rebound = await viaProxy(socketPath, `http://rebind.test:${allowedPort}/`);
      expect(rebound.status).toBe(200);
      // The same address at a port that was not opened: refused, though the allowlist names it.
      const otherPortAnswer = await viaProxy(socketPath, `http://127.0.0.1:${otherPort}/`);
      expect(otherPortAnswer.status).toBe(403);
      expect(otherPortAnswer.body).not.toContain('other server');
    } finally {
      lease.release();
    }
    // Allowed by name, but it does not resolve: a 502, not a 403.
    const lease2 = await proxies.acquire('dep_proxy_b2', ['nowhere.test']);
    try {
      const unresolved = await viaProxy(join(lease2.socketDirectory, 'proxy.sock'), 'http://nowhere.test/');
      expect(unresolved.status).toBe(502);
      expect(unresolved.body).toContain('could not resolve nowhere.test');
    } finally {
      lease2.release();
    }
  });

  it('connects to the address it checked: a name rebound between check and connect does not reach the new address', async () => {
    // swap.test answers the opened 127.0.0.1 on its first lookup and 127.0.0.2 (not opened, where
    // another server listens on the same port) on every later one. A proxy that resolved again to
    // connect would reach the second server; this one connects to the address it checked, asking once.
    const rebindTarget = await listenOn('127.0.0.2', allowedPort, 'rebound server');
    let lookups = 0;
    const rebinding = createEgressProxies({
      idleMs: 200,
      lookup: async (hostname) => {
        if (hostname !== 'swap.test') throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
        lookups++;
        return [{ address: lookups === 1 ? '127.0.0.1' : '127.0.0.2', family: 4 }];
      },
    });
    try {
      const lease = await rebinding.acquire('dep_proxy_rebind', [`swap.test:${allowedPort}`], [`127.0.0.1:${allowedPort}`]);
      try {
        const socketPath = join(lease.socketDirectory, 'proxy.sock');
        const first = await tunnelThrough(socketPath, `swap.test:${allowedPort}`);
        expect(first).toMatch(/^HTTP\/1\.1 200 Connection Established/);
        expect(first).toContain('allowed server: GET /tunnelled');
        expect(lookups).toBe(1);
        // Now the name points at 127.0.0.2: checked, refused, and never connected to.
        const second = await viaProxy(socketPath, `http://swap.test:${allowedPort}/`);
        expect(second.status).toBe(403);
        expect(lookups).toBe(2);
        const third = await tunnelThrough(socketPath, `swap.test:${allowedPort}`);
        expect(third).toMatch(/^HTTP\/1\.1 403 Forbidden/);
        expect(rebindTarget.requests).toBe(0);
        expect(rebindTarget.connections).toBe(0);
      } finally {
        lease.release();
      }
    } finally {
      await rebinding.close();
      await new Promise((resolve) => rebindTarget.server.close(resolve));
    }
  });

  it('keeps its socket private, stops when idle, starts again on the next command, and goes away on close', async () => {
    const own = createEgressProxies({ idleMs: 100 });
    const lease = await own.acquire('dep_proxy_idle', [`127.0.0.1:${allowedPort}`], [`127.0.0.1:${allowedPort}`]);
    const socketPath = join(lease.socketDirectory, 'proxy.sock');
    const base = join(lease.socketDirectory, '..');
    expect((await stat(base)).mode & 0o777).toBe(0o711);
    expect((await stat(socketPath)).isSocket()).toBe(true);
    expect(own.size).toBe(1);
    lease.release();
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(own.size).toBe(0);
    expect(existsSync(socketPath)).toBe(false);
    // The directory stays (a container binds it), and the next command finds a proxy in it again.
    const again = await own.acquire('dep_proxy_idle', [`127.0.0.1:${allowedPort}`], [`127.0.0.1:${allowedPort}`]);
    expect(again.socketDirectory).toBe(lease.socketDirectory);
    expect((await viaProxy(socketPath, `http://127.0.0.1:${allowedPort}/again`)).status).toBe(200);
    again.release();
    await own.close();
    expect(existsSync(base)).toBe(false);
  });
});

const curlMissing = (() => {
  try {
    execFileSync('sh', ['-c', 'command -v curl'], { stdio: 'ignore' });
    return null;
  } catch {
    return 'egress sandbox tests skipped: they run curl inside the sandbox (apt-get install curl)';
  }
})();

/**
 * The same promises for each backend: commands reach the allowed loopback server and nothing else, and
 * a sandbox without an allowlist reaches nothing.
 */
function describeSandboxEgress(name: string, unavailable: () => string | null, newBackend: () => SandboxBackend, workspaceRoot: () => Promise<string>) {
  describe.skipIf(unavailable() !== null)(`${name} sandbox with sandbox.network.allow`, () => {
    let backend: SandboxBackend;
    let root: string;
    let workspace: string;
    const deploymentId = `dep_egress_${name}_${process.pid}`;

    beforeAll(async () => {
      backend = newBackend();
      root = await workspaceRoot();
      workspace = join(root, 'workspaces', deploymentId);
      await mkdir(workspace, { recursive: true });
    });

    afterAll(async () => {
      await backend.close?.();
      await removeDirectory(root);
    });

    it('reports socat as present in its check', async () => {
      expect(await backend.check({ network: { allow: ['api.example.com'] } })).toEqual({ ok: true });
    });

    it('reaches the allowed loopback server, directly (forwarded port) and through the proxy, and nothing else', async () => {
      const sandbox = backend.open({ deploymentId, workspaceDir: workspace, network: { allow: [`127.0.0.1:${allowedPort}`], internal: [`127.0.0.1:${allowedPort}`] } });
      const result = await sandbox.exec({
        command: [
          'echo "proxy=$HTTP_PROXY https=$HTTPS_PROXY no_proxy=$NO_PROXY"',
          // The loopback entry's port is forwarded into the sandbox: the same URL as on the host.
          'curl -sS --max-time 10 "http://127.0.0.1:$1/direct"; echo " [$?]"',
          // Through the proxy: plain HTTP, and a CONNECT tunnel (what https:// uses).
          'curl -sS --max-time 10 --noproxy "" "http://127.0.0.1:$1/proxied"; echo " [$?]"',
          'curl -sS --max-time 10 --noproxy "" -p "http://127.0.0.1:$1/tunnelled"; echo " [$?]"',
          // The other server: not forwarded, and refused by the proxy either way.
          'curl -sS --max-time 10 "http://127.0.0.1:$2/"; echo " [$?]"',
          'curl -sS --max-time 10 --noproxy "" "http://127.0.0.1:$2/"; echo " [$?]"',
          'curl -sS --max-time 10 --noproxy "" -p "http://127.0.0.1:$2/"; echo " [$?]"',
          // A host by name, never allowed; and no resolver inside.
          'curl -sS --max-time 10 https://example.com/; echo " [$?]"',
          'curl -sS --max-time 10 --noproxy "*" http://example.com/; echo " [$?]"',
        ].join('\n'),
        args: [String(allowedPort), String(otherPort)],
        timeoutMs: 60_000,
      });
      const lines = result.stdout.split('\n');
      expect(lines[0]).toBe('proxy=http://127.0.0.1:3128 https=http://127.0.0.1:3128 no_proxy=localhost,127.0.0.1,::1');
      expect(lines[1]).toBe(`allowed server: GET /direct host=127.0.0.1:${allowedPort} [0]`);
      expect(lines[2]).toBe(`allowed server: GET /proxied host=127.0.0.1:${allowedPort} [0]`);
      expect(lines[3]).toBe(`allowed server: GET /tunnelled host=127.0.0.1:${allowedPort} [0]`);
      expect(lines[4]).toMatch(/^ \[7\]$/); // connection refused: nothing listens there inside
      expect(lines[5]).toBe(`Herm egress proxy: 127.0.0.1:${otherPort} is not on this deployment's network allowlist (sandbox.network.allow); ask its operator to add it`);
      expect(lines[6]).toBe(' [0]');
      expect(lines[7]).toMatch(/^ \[56\]$/); // CONNECT answered 403
      expect(lines[8]).toMatch(/^ \[56\]$/);
      expect(lines[9]).toMatch(/^ \[(6|7)\]$/); // without the proxy: no name resolution, no route
      expect(result.stdout).not.toContain('other server');
      expect(result.stderr).toContain('CONNECT tunnel failed, response 403');
    });

    it('cannot replace the socket, and the bridge ends with the command', async () => {
      const sandbox = backend.open({ deploymentId, workspaceDir: workspace, network: { allow: [`127.0.0.1:${allowedPort}`], internal: [`127.0.0.1:${allowedPort}`] } });
      const result = await sandbox.exec({ command: 'ls /run/herm-egress; rm -f /run/herm-egress/proxy.sock; touch /run/herm-egress/x; ls /run/herm-egress' });
      expect(result.stdout).toBe('proxy.sock\nproxy.sock\n');
      expect(result.stderr).toMatch(/Read-only file system/);
      if (name === 'bubblewrap') {
        // Each command's bridge lives in its own pid namespace and dies with it.
        expect(await hostProcessesMatching('UNIX-CONNECT:/run/herm-egress')).toEqual([]);
      }
    });

    it('has no network at all without an allowlist: no proxy, no socket, no loopback server', async () => {
      const sandbox = backend.open({ deploymentId: `${deploymentId}_offline`, workspaceDir: workspace });
      const result = await sandbox.exec({
        command: 'env | grep -ci proxy; ls /run/herm-egress 2>&1 >/dev/null | wc -l; curl -sS --max-time 5 "http://127.0.0.1:$1/"; echo " [$?]"; curl -sS --max-time 5 -x http://127.0.0.1:3128 "http://127.0.0.1:$1/"; echo " [$?]"',
        args: [String(allowedPort)],
      });
      expect(result.stdout).toBe('0\n1\n [7]\n [7]\n');
    });

    if (name === 'docker') {
      it('gives a deployment whose allowlist changed a new container', async () => {
        const docker = backend as DockerBackend;
        const id = `${deploymentId}_change`;
        const internal = [`127.0.0.1:${allowedPort}`, `127.0.0.1:${otherPort}`];
        await backend.open({ deploymentId: id, workspaceDir: workspace, network: { allow: [`127.0.0.1:${allowedPort}`], internal } }).exec({ command: 'true' });
        const changed = backend.open({ deploymentId: id, workspaceDir: workspace, network: { allow: [`127.0.0.1:${otherPort}`], internal } });
        const result = await changed.exec({ command: 'curl -sS --max-time 10 "http://127.0.0.1:$1/"', args: [String(otherPort)] });
        expect(result.stdout).toBe('other server');
        expect(await containersOf(id)).toHaveLength(2);
        await docker.discard(id);
        expect(await containersOf(id)).toEqual([]);
      });
    }
  });
}

describeSandboxEgress(
  'bubblewrap',
  () => bubblewrapUnavailable ?? curlMissing,
  () => createBubblewrapBackend({ limits: TEST_LIMITS }),
  () => makeTemporaryDirectory('egress-bwrap'),
);

// The docker tests need socat and curl in the image (scripts/build-sandbox-image.sh copies the host's).
const dockerEgressUnavailable: string | null = await (async () => {
  if (dockerUnavailable) return dockerUnavailable;
  const backend = createDockerBackend({ limits: DOCKER_TEST_LIMITS, image: dockerImage, ...(dockerHost ? { dockerHost } : {}) });
  try {
    const check = await backend.check({ network: { allow: ['api.example.com'] } });
    if (!check.ok) return `docker egress tests skipped: ${check.reason}`;
    const workspaceDir = await makeTemporaryDirectory('egress-docker-probe');
    try {
      const probe = await backend.open({ deploymentId: `dep_egress_probe_${process.pid}`, workspaceDir }).exec({ command: 'command -v curl' });
      return probe.exitCode === 0 ? null : `docker egress tests skipped: the image ${dockerImage} has no curl (rebuild it with scripts/build-sandbox-image.sh)`;
    } finally {
      await removeDirectory(workspaceDir);
    }
  } finally {
    await backend.close();
  }
})();
if (dockerEgressUnavailable && !dockerUnavailable) console.warn(dockerEgressUnavailable);

describeSandboxEgress(
  'docker',
  () => dockerEgressUnavailable ?? curlMissing,
  () => createDockerBackend({ limits: DOCKER_TEST_LIMITS, image: dockerImage, ...(dockerHost ? { dockerHost } : {}) }),
  // Under the system temp dir, which the (local) Docker daemon sees at the same path.
  () => makeTemporaryDirectory('egress-docker'),
);
