// The egress proxy's side of secrets: which bindings apply to a destination, the substitution itself, and the proxy
// spoken to directly on its unix socket — TLS terminated with a certificate of its CA only for hosts a secret is
// bound to, placeholders replaced per request (so a rotation applies to the next request on the same connection),
// protocol upgrades refused, a bound host missing from the allowlist refused, other hosts tunnelled untouched —
// and the CA created once when several processes start on one data directory at once.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { connect as netConnect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { buildBubblewrapArguments } from '../../src/sandbox/bubblewrap/bubblewrap-arguments.ts';
import { detectHostLayout } from '../../src/sandbox/bubblewrap/bubblewrap-host-layout.ts';
import { buildContainerConfig, CONTAINER_USER } from '../../src/sandbox/docker/docker-container-config.ts';
import { parseAllowList } from '../../src/sandbox/egress/egress-allowlist.ts';
import { createEgressProxies, type EgressLookup, type EgressProxies } from '../../src/sandbox/egress/egress-proxy.ts';
import { bindingsFor, substitute, substituteHeaders, type SecretBinding } from '../../src/sandbox/egress/egress-secrets.ts';
import { EgressTls, SANDBOX_TRUST_BUNDLE, SYSTEM_TRUST_BUNDLE, systemTrustBundleVisible, TRUST_ENVIRONMENT } from '../../src/sandbox/egress/egress-tls.ts';
import { isReservedEnvironmentName } from '../../src/sandbox/reserved-environment.ts';
import { startLoopbackServer } from '../support/loopback-server.ts';
import { createTestCertificates, startLoopbackHttpsServer, type TestCertificates } from '../support/test-tls.ts';

const PLACEHOLDER = 'herm_secret_placeholderplaceholder00';

function binding(hosts: string[], value = 'real-value-123456', placeholder = PLACEHOLDER): SecretBinding {
  return { name: 'API_TOKEN', placeholder, value, hosts: parseAllowList(hosts) };
}

describe('bindings and substitution', () => {
  it('binds exact names, subdomains of wildcards, and ports (80 and 443 without one)', () => {
    const bindings = [binding(['api.example.com']), binding(['*.example.org', 'localhost:8443'], 'other-value-123', 'herm_secret_other')];
    expect(bindingsFor(bindings, 'api.example.com', 443)).toHaveLength(1);
    expect(bindingsFor(bindings, 'API.example.com.', 80)).toHaveLength(1);
    expect(bindingsFor(bindings, 'api.example.com', 8443)).toHaveLength(0);
    expect(bindingsFor(bindings, 'evil-api.example.com', 443)).toHaveLength(0);
    expect(bindingsFor(bindings, 'x.example.org', 443)[0]?.placeholder).toBe('herm_secret_other');
    expect(bindingsFor(bindings, 'example.org', 443)).toHaveLength(0);
    expect(bindingsFor(bindings, 'localhost', 8443)).toHaveLength(1);
    expect(bindingsFor(bindings, 'localhost', 443)).toHaveLength(0);
  });

  it('sends a value over plain HTTP only to a host:port an entry names with its port', () => {
    const bindings = [binding(['api.example.com', 'internal.example.net:80', 'localhost:8080'])];
    expect(bindingsFor(bindings, 'api.example.com', 80)).toHaveLength(1);
    expect(bindingsFor(bindings, 'api.example.com', 80, true)).toHaveLength(0);
    expect(bindingsFor(bindings, 'api.example.com', 443, true)).toHaveLength(0);
    expect(bindingsFor(bindings, 'internal.example.net', 80, true)).toHaveLength(1);
    expect(bindingsFor(bindings, 'localhost', 8080, true)).toHaveLength(1);
  });

  it('replaces placeholders in header values and inside Basic credentials, never in names', () => {
    const bindings = [binding(['api.example.com'])];
    const headers = substituteHeaders(
      {
        authorization: `Bearer ${PLACEHOLDER}`,
        'x-api-key': PLACEHOLDER,
        cookie: [`a=${PLACEHOLDER}`, 'b=1'],
        [`x-${PLACEHOLDER}`]: 'name stays',
      },
      bindings,
    );
    expect(headers).toEqual({ authorization: 'Bearer real-value-123456', 'x-api-key': 'real-value-123456', cookie: ['a=real-value-123456', 'b=1'], [`x-${PLACEHOLDER}`]: 'name stays' });
    const basic = substituteHeaders({ authorization: `Basic ${Buffer.from(`user:${PLACEHOLDER}`).toString('base64')}` }, bindings);
    expect(Buffer.from(String(basic.authorization).slice(6), 'base64').toString()).toBe('user:real-value-123456');
    expect(substitute(`/v1/me?key=${PLACEHOLDER}&again=${PLACEHOLDER}`, bindings)).toBe('/v1/me?key=real-value-123456&again=real-value-123456');
  });
});

describe("the sandbox's trust in the egress CA", () => {
  const egress = { socketDirectory: '/tmp/herm-egress-x/abc', allow: ['api.example.com'], trustBundle: '/tmp/herm-ca-x/ca-certificates.crt' };

  it('bubblewrap: mounts the bundle read-only (over the system one where it can) and points the CA variables at it, with an allowlist only', () => {
    const base = { workspaceDir: '/w', network: false, environment: {}, command: 'true', commandArguments: [], workingDirectory: '.', hostLayout: detectHostLayout(), features: { disableUserNamespaces: true } };
    const targets = (options: string[]) => options.flatMap((option, index) => (option === '--ro-bind' && options[index + 1] === egress.trustBundle ? [options[index + 2]] : []));
    expect(targets(buildBubblewrapArguments({ ...base, egress }).options)).toEqual([SANDBOX_TRUST_BUNDLE]);
    const options = buildBubblewrapArguments({ ...base, egress: { ...egress, trustBundleOverSystem: true } }).options;
    expect(targets(options)).toEqual([SANDBOX_TRUST_BUNDLE, SYSTEM_TRUST_BUNDLE]);
    for (const [name, value] of Object.entries(TRUST_ENVIRONMENT)) {
      expect(options.some((option, index) => option === '--setenv' && options[index + 1] === name && options[index + 2] === value), name).toBe(true);
    }
    const offline = buildBubblewrapArguments(base).options;
    expect(offline).not.toContain('SSL_CERT_FILE');
    expect(offline).not.toContain(egress.trustBundle);
  });

  it('docker: mounts the bundle read-only over the image one', () => {
    const config = buildContainerConfig({ image: 'i', workspaceDir: '/w', network: false, deploymentId: 'dep_1', user: CONTAINER_USER, selfStopSeconds: 600, egress });
    const mounts = (config['HostConfig'] as { Mounts: unknown[] }).Mounts;
    expect(mounts).toContainEqual({ Type: 'bind', Source: egress.trustBundle, Target: SANDBOX_TRUST_BUNDLE, ReadOnly: true });
    expect(mounts).toContainEqual({ Type: 'bind', Source: egress.trustBundle, Target: SYSTEM_TRUST_BUNDLE, ReadOnly: true });
  });

  it('replaces the system bundle only where the host has it inside a mounted directory', () => {
    const present = fs.existsSync(SYSTEM_TRUST_BUNDLE);
    expect(systemTrustBundleVisible([{ path: '/etc/ssl/certs', kind: 'bind' }, { path: '/usr', kind: 'bind' }])).toBe(present && fs.realpathSync(SYSTEM_TRUST_BUNDLE).match(/^\/(etc\/ssl\/certs|usr)\//) !== null);
    expect(systemTrustBundleVisible([{ path: '/nowhere', kind: 'bind' }])).toBe(false);
    expect(systemTrustBundleVisible([{ path: '/etc', kind: 'symlink' }])).toBe(false);
  });

  it('reserves the CA variables: a secret cannot replace them', () => {
    for (const name of Object.keys(TRUST_ENVIRONMENT)) expect(isReservedEnvironmentName(name), name).toBe(true);
  });
});

describe('the egress proxy with secrets', () => {
  let certificates: TestCertificates;
  let dataDir: string;
  let tls: EgressTls;
  let api: { server: Server; port: number };
  let other: { server: Server; port: number };
  const seen: { url: string; authorization: string | undefined; host: string | undefined }[] = [];
  let current: SecretBinding[] = [];
  let proxies: EgressProxies;
  const lookup: EgressLookup = async (hostname) => {
    if (hostname === 'localhost' || hostname === 'plain.test' || hostname === 'kelvin.test') return [{ address: '127.0.0.1', family: 4 }];
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  };

  beforeAll(async () => {
    certificates = createTestCertificates();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-egress-secrets-'));
    tls = new EgressTls({ dataDir, extraCaFiles: [certificates.caFile] });
    const remember = (request: IncomingMessage) => seen.push({ url: request.url ?? '', authorization: request.headers.authorization, host: request.headers.host });
    api = await startLoopbackHttpsServer(certificates, (request, response) => {
      remember(request);
      const authorization = String(request.headers.authorization);
      if (request.url === '/headers') {
        response.end(JSON.stringify(request.headers));
        return;
      }
      if (request.url === '/gzip') {
        // Compressed although the proxy asked for identity.
        response.writeHead(200, { 'content-encoding': 'gzip', 'x-echo': authorization });
        response.end(gzipSync(`api saw ${authorization}`));
        return;
      }
      if (request.url === '/zstd') {
        response.writeHead(200, { 'content-encoding': 'zstd' });
        response.end('not really zstd');
        return;
      }
      if (request.url === '/split') {
        // The echoed value cut across two chunks, and in a header.
        response.writeHead(200, { 'x-echo': authorization });
        response.write(`api saw ${authorization.slice(0, 12)}`);
        setTimeout(() => response.end(`${authorization.slice(12)}!`), 20);
        return;
      }
      response.end(`api saw ${authorization} (accept-encoding ${request.headers['accept-encoding']})`);
    });
    other = await startLoopbackServer((request, response) => {
      remember(request);
      response.end('other');
    });
    current = [binding([`localhost:${api.port}`, `localhost:${other.port}`], 'first-value-123456')];
    proxies = createEgressProxies({ lookup, idleMs: 500, secrets: { bindings: async () => current, tls } });
  });

  afterAll(async () => {
    await proxies?.close();
    api?.server.close();
    other?.server.close();
    tls?.close();
    certificates?.remove();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  /** CONNECT host:port on the proxy's socket; the tunnel's socket and the proxy's answer line. */
  function connectThrough(socketPath: string, authority: string): Promise<{ status: string; socket: import('node:net').Socket }> {
    return new Promise((resolve, reject) => {
      const socket = netConnect(socketPath);
      socket.once('error', reject);
      socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
      let head = '';
      const onData = (chunk: Buffer) => {
        head += chunk.toString('latin1');
        const end = head.indexOf('\r\n\r\n');
        if (end === -1) return;
        socket.off('data', onData);
        socket.pause();
        resolve({ status: head.slice(0, head.indexOf('\r\n')), socket });
      };
      socket.on('data', onData);
    });
  }

  /** Sends raw HTTP/1.1 requests on one TLS connection and reads each answer (Content-Length bodies). */
  async function secureSession(socket: import('node:net').Socket, servername: string, alpn: string[] = ['h2', 'http/1.1']) {
    const secure: TLSSocket = tlsConnect({ socket, servername, ca: tls.caPem, ALPNProtocols: alpn });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
    let buffer = '';
    secure.on('data', (chunk: Buffer) => (buffer += chunk.toString('utf8')));
    const send = async (request: string): Promise<string> => {
      buffer = '';
      secure.write(request);
      const deadline = Date.now() + 5_000;
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n');
        const length = /content-length: (\d+)/i.exec(buffer)?.[1];
        const chunked = /transfer-encoding: chunked/i.test(buffer);
        if (end !== -1 && chunked && buffer.endsWith('\r\n0\r\n\r\n')) return buffer;
        if (end !== -1 && !chunked && (length === undefined || buffer.length >= end + 4 + Number(length))) return buffer;
        if (Date.now() > deadline) throw new Error(`no complete answer: ${JSON.stringify(buffer)}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };
    return { secure, send };
  }

  it('terminates TLS for a bound host and puts the current value into each request on the connection', async () => {
    const lease = await proxies.acquire('dep_secrets', [`localhost:${api.port}`], [`localhost:${api.port}`]);
    try {
      const { status, socket } = await connectThrough(path.join(lease.socketDirectory, 'proxy.sock'), `localhost:${api.port}`);
      expect(status).toBe('HTTP/1.1 200 Connection Established');
      const { secure, send } = await secureSession(socket, 'localhost');
      // The certificate is the proxy's, issued for the host by its CA; HTTP/2 is not offered.
      expect(secure.getPeerCertificate().issuer.CN).toMatch(/^Herm egress proxy CA /);
      expect(secure.getPeerCertificate().subjectaltname).toBe('DNS:localhost');
      expect(secure.alpnProtocol).toBe('http/1.1');
      const first = await send(`GET /one?k=${PLACEHOLDER} HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer ${PLACEHOLDER}\r\nAccept-Encoding: gzip\r\n\r\n`);
      expect(first).toMatch(/^HTTP\/1.1 200/);
      // The API got the value (and was asked for an uncompressed answer); what it echoed comes back as the placeholder.
      expect(first).toContain(`api saw Bearer ${PLACEHOLDER} (accept-encoding identity)`);
      expect(first).not.toContain('first-value-123456');
      expect(seen.at(-1)).toEqual({ url: '/one?k=first-value-123456', authorization: 'Bearer first-value-123456', host: `localhost:${api.port}` });
      // Rotated between two requests of one keep-alive connection: the next request carries the new value.
      current = [binding([`localhost:${api.port}`, `localhost:${other.port}`], 'second-value-123456')];
      await send(`GET /two HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${PLACEHOLDER}\r\n\r\n`);
      expect(seen.at(-1)).toMatchObject({ url: '/two', authorization: 'Bearer second-value-123456' });
      const split = await send(`GET /split HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${PLACEHOLDER}\r\n\r\n`);
      expect(split).toMatch(new RegExp(`x-echo: Bearer ${PLACEHOLDER}`, 'i'));
      expect(split.replace(/\r\n[0-9a-f]+\r\n/g, '')).toContain(`api saw Bearer ${PLACEHOLDER}!`);
      expect(split).not.toContain('second-value-123456');
      const upgrade = await send(`GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
      expect(upgrade).toMatch(/^HTTP\/1.1 501/);
      expect(upgrade).toContain('not supported');
      secure.destroy();
    } finally {
      lease.release();
    }
  });

  it('substitutes in plain HTTP to a bound host, through the proxy or a tunnel', async () => {
    const lease = await proxies.acquire('dep_secrets', [`localhost:${other.port}`], [`localhost:${other.port}`]);
    try {
      const { status, socket } = await connectThrough(path.join(lease.socketDirectory, 'proxy.sock'), `localhost:${other.port}`);
      expect(status).toBe('HTTP/1.1 200 Connection Established');
      socket.resume();
      let answer = '';
      socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
      socket.write(`GET /in-tunnel HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${PLACEHOLDER}\r\nConnection: close\r\n\r\n`);
      await new Promise((resolve) => socket.once('close', resolve));
      expect(answer).toMatch(/^HTTP\/1.1 200/);
      expect(seen.at(-1)).toMatchObject({ url: '/in-tunnel', authorization: `Bearer ${current[0]!.value}` });
      // An absolute-URI request to the proxy, as HTTP_PROXY clients send http:// URLs.
      const direct = await new Promise<number>((resolve, reject) => {
        const request = httpRequest(
          { socketPath: path.join(lease.socketDirectory, 'proxy.sock'), path: `http://localhost:${other.port}/direct?k=${PLACEHOLDER}`, headers: { authorization: `Bearer ${PLACEHOLDER}` } },
          (response) => {
            response.resume();
            response.on('end', () => resolve(response.statusCode ?? 0));
          },
        );
        request.on('error', reject);
        request.end();
      });
      expect(direct).toBe(200);
      expect(seen.at(-1)).toMatchObject({ url: `/direct?k=${current[0]!.value}`, authorization: `Bearer ${current[0]!.value}` });
    } finally {
      lease.release();
    }
  });

  it('refuses a bound host that is not on the network allowlist, and tunnels unbound hosts untouched', async () => {
    current = [binding([`localhost:${api.port}`], 'third-value-123456')];
    const lease = await proxies.acquire('dep_other', [`localhost:${other.port}`], [`localhost:${other.port}`, `localhost:${api.port}`]);
    try {
      const socketPath = path.join(lease.socketDirectory, 'proxy.sock');
      const refused = await connectThrough(socketPath, `localhost:${api.port}`);
      expect(refused.status).toMatch(/^HTTP\/1.1 403/);
      refused.socket.destroy();
      // Not bound now: a plain tunnel, the placeholder arrives as sent.
      const tunnel = await connectThrough(socketPath, `localhost:${other.port}`);
      tunnel.socket.resume();
      tunnel.socket.write(`GET /unbound HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${PLACEHOLDER}\r\nConnection: close\r\n\r\n`);
      await new Promise((resolve) => tunnel.socket.once('close', resolve));
      expect(seen.at(-1)).toMatchObject({ url: '/unbound', authorization: `Bearer ${PLACEHOLDER}` });
    } finally {
      lease.release();
    }
  });

  it('sends a request inside the tunnel only to the CONNECT host: an absolute URI of another host is a 400 and nothing is sent', async () => {
    const saved = current;
    onTestFinished(() => {
      current = saved;
    });
    current = [binding([`localhost:${api.port}`], 'fourth-value-123456')];
    const lease = await proxies.acquire('dep_secrets', [`localhost:${api.port}`], [`localhost:${api.port}`]);
    const socketPath = path.join(lease.socketDirectory, 'proxy.sock');
    try {
      // The CONNECT host's own URL: rewritten to origin form.
      const own = await secureSession((await connectThrough(socketPath, `localhost:${api.port}`)).socket, 'localhost');
      await own.send(`GET https://localhost:${api.port}/own?t=${PLACEHOLDER} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${PLACEHOLDER}\r\n\r\n`);
      expect(seen.at(-1)).toMatchObject({ url: '/own?t=fourth-value-123456' });
      own.secure.destroy();
      const before = seen.length;
      for (const target of [
        `https://attacker.example/x?t=${PLACEHOLDER}`,
        `https://localhost:1/x?t=${PLACEHOLDER}`,
        `http://localhost:${api.port}/x?t=${PLACEHOLDER}`,
        `https://user@localhost:${api.port}/x`,
        `https://localhost.:${api.port}@attacker.example/x?t=${PLACEHOLDER}`,
        '*',
      ]) {
        const { secure, send } = await secureSession((await connectThrough(socketPath, `localhost:${api.port}`)).socket, 'localhost');
        const answer = await send(`GET ${target} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${PLACEHOLDER}\r\n\r\n`);
        expect(answer, target).toMatch(/^HTTP\/1.1 400/);
        expect(answer, target).toContain("a request's target must be a path");
        secure.destroy();
      }
      expect(seen.length).toBe(before);
    } finally {
      lease.release();
    }
  });

  it('sends a bound host no routing headers, and no Range with a value; echoes come back as placeholders in their encoded forms too', async () => {
    const saved = current;
    onTestFinished(() => {
      current = saved;
    });
    current = [binding([`localhost:${api.port}`], 'fifth-value/123+456?')];
    const value = current[0]!.value;
    const lease = await proxies.acquire('dep_secrets', [`localhost:${api.port}`], [`localhost:${api.port}`]);
    try {
      const { secure, send } = await secureSession((await connectThrough(path.join(lease.socketDirectory, 'proxy.sock'), `localhost:${api.port}`)).socket, 'localhost');
      const routing = 'Forwarded: host=attacker.example\r\nX-Forwarded-Host: attacker.example\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Original-URL: /admin\r\nX-Rewrite-URL: /admin\r\nX-Host: attacker.example\r\n';
      const headers = await send(`GET /headers HTTP/1.1\r\nHost: localhost\r\n${routing}Range: bytes=5-9\r\nIf-Range: "x"\r\nAuthorization: Bearer ${PLACEHOLDER}\r\n\r\n`);
      const received = JSON.parse(headers.slice(headers.indexOf('\r\n\r\n') + 4).replace(/^[0-9a-f]+\r\n|\r\n[0-9a-f]+\r\n|\r\n0\r\n\r\n$/g, '')) as Record<string, string>;
      for (const name of ['forwarded', 'x-forwarded-host', 'x-forwarded-for', 'x-forwarded-proto', 'x-original-url', 'x-rewrite-url', 'x-host', 'range', 'if-range']) {
        expect(received[name], name).toBeUndefined();
      }
      // The whole value went out (the JSON above shows it as the placeholder again) in JSON-escaped form where it differs.
      expect(headers).not.toContain(value);
      expect(headers).not.toContain(JSON.stringify(value).slice(1, -1));

      // Basic credentials the proxy re-encoded, echoed in a header and in a gzip body: back as the token the sandbox sent.
      const token = Buffer.from(`user:${PLACEHOLDER}`).toString('base64');
      const real = Buffer.from(`user:${value}`).toString('base64');
      const gzip = await send(`GET /gzip HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic ${token}\r\n\r\n`);
      expect(seen.at(-1)).toMatchObject({ url: '/gzip', authorization: `Basic ${real}` });
      expect(gzip).toMatch(/^HTTP\/1.1 200/);
      expect(gzip).not.toMatch(/content-encoding/i);
      expect(gzip).toMatch(new RegExp(`x-echo: Basic ${token}`, 'i'));
      expect(gzip.replace(/\r\n[0-9a-f]+\r\n/g, '')).toContain(`api saw Basic ${token}`);
      expect(gzip).not.toContain(real);
      // An encoding the proxy cannot read, answering a request that carried a value: withheld.
      const zstd = await send(`GET /zstd HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${PLACEHOLDER}\r\n\r\n`);
      expect(zstd).toMatch(/^HTTP\/1.1 502/);
      expect(zstd).toContain('content encoding');
      secure.destroy();
    } finally {
      lease.release();
    }
  });

  it('sends a value in cleartext only to an internal destination the operator opened by that name, never to a public host', async () => {
    const saved = current;
    onTestFinished(() => {
      current = saved;
    });
    current = [binding([`plain.test:${other.port}`, `localhost:${other.port}`], 'sixth-value-123456')];
    // plain.test resolves to an opened address, but is itself no opened destination: it stands for a public host.
    const lease = await proxies.acquire('dep_plain', [`plain.test:${other.port}`, `localhost:${other.port}`], [`127.0.0.1:${other.port}`, `localhost:${other.port}`]);
    try {
      const get = (url: string) =>
        new Promise<number>((resolve, reject) => {
          const request = httpRequest({ socketPath: path.join(lease.socketDirectory, 'proxy.sock'), path: url, headers: { authorization: `Bearer ${PLACEHOLDER}` } }, (response) => {
            response.resume();
            response.on('end', () => resolve(response.statusCode ?? 0));
          });
          request.on('error', reject);
          request.end();
        });
      expect(await get(`http://plain.test:${other.port}/public`)).toBe(200);
      expect(seen.at(-1)).toMatchObject({ url: '/public', authorization: `Bearer ${PLACEHOLDER}` });
      expect(await get(`http://localhost:${other.port}/opened`)).toBe(200);
      expect(seen.at(-1)).toMatchObject({ url: '/opened', authorization: 'Bearer sixth-value-123456' });
    } finally {
      lease.release();
    }
  });

  it('refuses hosts that are not ASCII (they are matched after lower-casing, which turns the Kelvin sign into k)', async () => {
    const saved = current;
    onTestFinished(() => {
      current = saved;
    });
    current = [binding([`kelvin.test:${api.port}`], 'seventh-value-123456')];
    const lease = await proxies.acquire('dep_kelvin', [`kelvin.test:${api.port}`, `kelvin.test:${other.port}`], [`kelvin.test:${api.port}`, `kelvin.test:${other.port}`]);
    try {
      const socketPath = path.join(lease.socketDirectory, 'proxy.sock');
      const exchange = (request: string) =>
        new Promise<string>((resolve, reject) => {
          const socket = netConnect(socketPath);
          let text = '';
          socket.on('data', (chunk: Buffer) => {
            text += chunk.toString();
            if (text.includes('\r\n\r\n')) socket.destroy();
          });
          socket.once('close', () => resolve(text));
          socket.once('error', reject);
          socket.write(Buffer.from(request, 'utf8'));
        });
      // Raw (Node's parser refuses the request line), and percent-encoded, which the URL parser would decode and map.
      expect(await exchange(`CONNECT \u212Aelvin.test:${api.port} HTTP/1.1\r\nHost: x\r\n\r\n`)).toMatch(/^HTTP\/1.1 400/);
      expect(await exchange(`CONNECT %E2%84%AAelvin.test:${api.port} HTTP/1.1\r\nHost: x\r\n\r\n`)).toMatch(/^HTTP\/1.1 (400|403)/);
      const before = seen.length;
      expect(await exchange(`GET http://kelvin.test:${other.port}/ascii HTTP/1.1\r\nHost: x\r\n\r\n`)).toMatch(/^HTTP\/1.1 200/);
      expect(seen.length).toBe(before + 1);
      const absolute = await exchange(`GET http://%E2%84%AAelvin.test:${other.port}/x HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(absolute).toMatch(/^HTTP\/1.1 400/);
      expect(absolute).toContain('must be ASCII');
      expect(seen.length).toBe(before + 1);
    } finally {
      lease.release();
    }
  });

  it('writes the trust bundle again when a temp-directory cleaner removed it', () => {
    const first = tls.trustBundleFile;
    fs.rmSync(path.dirname(first), { recursive: true, force: true });
    const again = tls.trustBundleFile;
    expect(fs.readFileSync(again, 'utf8')).toContain(tls.caPem.trim());
    expect(tls.trustBundleFile).toBe(again);
  });

  it('verifies the bound host upstream: a certificate of an unknown CA is a 502, never a request', async () => {
    const untrusting = new EgressTls({ dataDir });
    const strict = createEgressProxies({ lookup, idleMs: 500, secrets: { bindings: async () => current, tls: untrusting } });
    const before = seen.length;
    try {
      const lease = await strict.acquire('dep_strict', [`localhost:${api.port}`], [`localhost:${api.port}`]);
      const { socket } = await connectThrough(path.join(lease.socketDirectory, 'proxy.sock'), `localhost:${api.port}`);
      const secure = tlsConnect({ socket, servername: 'localhost', ca: untrusting.caPem });
      await new Promise((resolve) => secure.once('secureConnect', resolve));
      let answer = '';
      secure.on('data', (chunk: Buffer) => (answer += chunk.toString()));
      secure.write(`GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
      await new Promise((resolve) => secure.once('close', resolve));
      expect(answer).toMatch(/^HTTP\/1.1 502/);
      expect(answer).toMatch(/certificate/);
      expect(seen.length).toBe(before);
      lease.release();
    } finally {
      await strict.close();
      untrusting.close();
    }
  });

  it('creates the CA once when several processes start on one data directory at once', async () => {
    const shared = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-egress-ca-'));
    const module = path.resolve(import.meta.dirname, '../../src/sandbox/egress/egress-tls.ts');
    const script = `import { EgressTls } from ${JSON.stringify(module)}; const t = new EgressTls({ dataDir: ${JSON.stringify(shared)} }); process.stdout.write(t.caPem); t.close();`;
    try {
      const outputs = await Promise.all(
        Array.from({ length: 4 }, () => promisify(execFile)(process.execPath, ['--input-type=module', '-e', script]).then((result) => result.stdout)),
      );
      expect(new Set(outputs).size).toBe(1);
      expect(outputs[0]).toContain('BEGIN CERTIFICATE');
      expect(fs.readdirSync(shared)).toEqual(['egress-ca.pem']);
      expect(fs.statSync(path.join(shared, 'egress-ca.pem')).mode & 0o777).toBe(0o600);
      // And again later: the same CA.
      const again = new EgressTls({ dataDir: shared });
      expect(again.caPem).toBe(outputs[0]);
      again.close();
    } finally {
      fs.rmSync(shared, { recursive: true, force: true });
    }
  });
});
