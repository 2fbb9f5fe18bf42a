// The attack run, again: what a tenant with an API key tried against a live server, each attempt repeated
// against a real server on each sandbox backend, with the host's real PostgreSQL and a real loopback HTTP
// service ("metadata") as the targets the sandbox must not reach. Every attempt must fail, in the way the
// API promises (a 400 naming the field, a 403 from the egress proxy, the JSON error shape), and the controls
// show the targets are real: the operator can open the PostgreSQL, and then it answers.
// The escapes of the sandbox itself are test/sandbox/sandbox-security.test.ts, on the same backends.
import { lookup } from 'node:dns/promises';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isInternalAddress } from '../../src/net/address-policy.ts';
import { bubblewrapUnavailable } from '../sandbox/bubblewrap-test-support.ts';
import { dockerHost, dockerImage, dockerUnavailable } from '../sandbox/docker-test-support.ts';
import { postgresBaseUrl } from '../support/databases.ts';
import { closedLoopbackPort, startLoopbackServer } from '../support/loopback-server.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const postgresUrl = await postgresBaseUrl();
const postgres = postgresUrl ? new URL(postgresUrl) : undefined;
const postgresTarget = postgres ? { host: postgres.hostname, port: Number(postgres.port || 5432) } : undefined;
const postgresUnavailable =
  postgresTarget && isInternalAddress(postgresTarget.host)
    ? null
    : 'attack suite: the PostgreSQL target tests need a PostgreSQL on a loopback or private address (set HERM_TEST_DATABASE_URL or run one on 127.0.0.1:5432)';
if (postgresUnavailable) console.warn(postgresUnavailable);

// A name of this machine that resolves to one of its own addresses (DNS rebinding without a DNS server).
const hostName = os.hostname();
const hostNameResolvesInternal = await lookup(hostName).then(
  (found) => isInternalAddress(found.address),
  () => false,
);

const BACKENDS = [
  { name: 'bubblewrap', unavailable: bubblewrapUnavailable, env: { HERM_SANDBOX: 'bubblewrap' } },
  {
    name: 'docker',
    unavailable: dockerUnavailable,
    env: { HERM_SANDBOX: 'docker', HERM_DOCKER_IMAGE: dockerImage, HERM_DOCKER_IDLE_MS: '2000', ...(dockerHost ? { DOCKER_HOST: dockerHost } : {}) },
  },
] as const;

/** An SSLRequest to PostgreSQL from inside the sandbox, through whatever reaches $1:$2; prints PostgreSQL's one-byte answer (N or S). */
const POSTGRES_PROBE = `exec 3<>"/dev/tcp/$1/$2" || exit 3; printf '\\0\\0\\0\\10\\4\\322\\26\\57' >&3; head -c1 <&3`;

interface ToolResult {
  stdout: string;
  stderr: string;
  exit_code: number | null;
  [key: string]: unknown;
}

for (const backend of BACKENDS) {
  describe.skipIf(backend.unavailable !== null)(`the attack run, again (${backend.name})`, () => {
    let herm: TestServer;
    let opened: TestServer;
    let metadata: http.Server;
    let metadataPort: number;
    let closedPort: number;
    const metadataRequests: string[] = [];

    beforeAll(async () => {
      ({ server: metadata, port: metadataPort } = await startLoopbackServer((request, response) => {
        metadataRequests.push(request.url ?? '');
        response.end('instance-secret-of-the-host');
      }));
      closedPort = await closedLoopbackPort();
      herm = await startTestServer({ env: { ...backend.env } });
      // The operator opens the PostgreSQL to every tenant; nothing else.
      opened = await startTestServer({
        env: { ...backend.env, ...(postgresTarget ? { HERM_SANDBOX_INTERNAL_DESTINATIONS: `${postgresTarget.host}:${postgresTarget.port}` } : {}) },
      });
    });

    afterAll(async () => {
      await herm?.close();
      await opened?.close();
      metadata?.close();
    });

    /** Runs one scripted agent turn of shell calls and returns the tool results the model was sent. */
    async function shell(server: TestServer, deploymentId: string, ...commands: string[]): Promise<ToolResult[]> {
      server.model.enqueue({ toolCalls: commands.map((command) => ({ name: 'shell', arguments: { command } })) }, { text: 'Done.' });
      const run = await server.sendAndWait(deploymentId, { thread_id: 'new' });
      expect(run.status, JSON.stringify(run.error)).toBe('completed');
      const request = server.model.requests.findLast((entry) => entry.messages.some((message) => message.role === 'tool'))!;
      return request.messages.filter((message) => message.role === 'tool').map((message) => JSON.parse(message.text) as ToolResult);
    }

    const create = (server: TestServer, body: Record<string, unknown>) =>
      server.request('POST', '/v1/deployments', { customer_id: 'cus_attacker', name: 'Attacker', system_prompt: 'x', ...body });

    it("cannot allowlist the host's PostgreSQL, the Herm API, the metadata service or any internal address", async () => {
      const apiPort = new URL(herm.url).port;
      const internal = [
        '127.0.0.1:5432',
        `127.0.0.1:${apiPort}`,
        `localhost:${metadataPort}`,
        '[::1]:5432',
        '[::ffff:127.0.0.1]:5432',
        '0.0.0.0:5432',
        '10.1.2.3:5432',
        '172.16.0.1',
        '192.168.0.10:6379',
        '100.64.0.1',
        '169.254.169.254',
        '[fd12:3456::1]:80',
        '[fe80::1]',
        '224.0.0.1:5353',
      ];
      for (const entry of internal) {
        const response = await create(herm, { sandbox: { network: { allow: ['api.example.com', entry] } } });
        expect(response.status, entry).toBe(400);
        expect(response.body.error, entry).toMatchObject({ type: 'validation_error', param: 'sandbox.network.allow.1' });
        expect(response.body.error.message, entry).toContain('HERM_SANDBOX_INTERNAL_DESTINATIONS');
      }
      // Nor by updating a deployment that has a harmless allowlist.
      const harmless = await create(herm, { sandbox: { network: { allow: ['api.example.com'] } } });
      expect(harmless.status).toBe(201);
      const update = await herm.request('PATCH', `/v1/deployments/${harmless.body.deployment_id}`, { sandbox: { network: { allow: ['127.0.0.1:5432'] } } });
      expect(update.status).toBe(400);
      expect(update.body.error.param).toBe('sandbox.network.allow.0');
      expect((await herm.request('GET', '/v1/deployments?customer_id=cus_attacker')).body.data).toHaveLength(1);
    });

    it.skipIf(!hostNameResolvesInternal)(`reaches nothing through a name that resolves to this machine (${hostName})`, async () => {
      const apiPort = new URL(herm.url).port;
      const targets = [metadataPort, apiPort, ...(postgresTarget ? [postgresTarget.port] : [])];
      const deployment = await herm.createDeployment({ sandbox: { network: { allow: targets.map((port) => `${hostName}:${port}`) } } });
      const before = metadataRequests.length;
      const results = await shell(
        herm,
        deployment.deployment_id,
        `curl -sS -m 10 -o /dev/null -w '%{http_code}' http://${hostName}:${metadataPort}/latest/meta-data`,
        `curl -sS -m 10 -o /dev/null -w '%{http_code}' http://${hostName}:${apiPort}/v1/deployments`,
        // CONNECT, as a PostgreSQL client behind an HTTPS proxy would tunnel.
        `curl -sS -m 10 -p -o /dev/null http://${hostName}:${postgresTarget?.port ?? 5432}/ 2>&1; true`,
        // And straight at the loopback addresses, past the proxy: there is no network to do that with.
        `${POSTGRES_PROBE}`.replace('$1', '127.0.0.1').replace('$2', String(postgresTarget?.port ?? 5432)),
      );
      expect(results[0]!.stdout).toBe('403');
      expect(results[1]!.stdout).toBe('403');
      expect(results[2]!.stdout).toMatch(/403/);
      expect(results[3]!.exit_code).not.toBe(0);
      expect(results[3]!.stdout).not.toMatch(/^[NS]$/);
      for (const result of results) expect(JSON.stringify(result)).not.toContain('instance-secret-of-the-host');
      expect(metadataRequests.length).toBe(before);
    });

    it.skipIf(postgresUnavailable !== null)('reaches the PostgreSQL once the operator opens it, and then only it', async () => {
      const target = `${postgresTarget!.host}:${postgresTarget!.port}`;
      const deployment = await opened.createDeployment({ sandbox: { network: { allow: [target] } } });
      const [probe] = await shell(opened, deployment.deployment_id, POSTGRES_PROBE.replace('$1', postgresTarget!.host).replace('$2', String(postgresTarget!.port)));
      // PostgreSQL's answer to an SSLRequest: the target is real, and reachable when opened.
      expect(probe!.stdout).toMatch(/^[NS]$/);
      // What the operator did not open stays closed on that server too.
      const metadataEntry = await create(opened, { sandbox: { network: { allow: [`127.0.0.1:${metadataPort}`] } } });
      expect(metadataEntry.status).toBe(400);
      expect(metadataEntry.body.error.param).toBe('sandbox.network.allow.0');
    });

    it("cannot lift the operator's limits", async () => {
      for (const [field, value] of Object.entries({ memory_mb: 4_194_304, max_processes: 1_000_000, cpus: 1024, max_output_bytes: 67_108_864 })) {
        const response = await create(herm, { sandbox: { limits: { [field]: value } } });
        expect(response.status, field).toBe(400);
        expect(response.body.error.param).toBe(`sandbox.limits.${field}`);
        expect(response.body.error.message).toMatch(/may be at most .* on this server \(HERM_SANDBOX_MAX_/);
      }
    });

    it('cannot amplify a sparse file through a snapshot, nor carry a setuid file through one', async () => {
      const deployment = await herm.createDeployment();
      const [sparse, setuid] = await shell(
        herm,
        deployment.deployment_id,
        'truncate -s 4G sparse.bin && du -k sparse.bin',
        'cp /bin/sh ./sperl; chmod 4755 ./sperl; chmod 2755 ./sperl; ls -ln sperl',
      );
      expect(sparse!.exit_code).toBe(0);
      const workspace = path.join(herm.dataDir, 'workspaces', deployment.deployment_id);
      expectNoSetIdRoot(workspace);
      expect(setuid!.stdout).toContain('sperl');

      const deleteStarted = performance.now();
      const deleted = await herm.request('DELETE', `/v1/deployments/${deployment.deployment_id}?retain_filesystem=true`);
      expect(deleted.status).toBe(200);
      expect(performance.now() - deleteStarted).toBeLessThan(10_000);
      const snapshots = await herm.request('GET', `/v1/snapshots?customer_id=${deployment.customer_id}`);
      const snapshot = snapshots.body.data.find((entry: { deployment_id: string }) => entry.deployment_id === deployment.deployment_id);
      expect(snapshot.content_bytes).toBeLessThan(4 * 1_048_576);
      expect(snapshot.size_bytes).toBeLessThan(4 * 1_048_576);

      const createStarted = performance.now();
      const restored = await herm.request('POST', '/v1/deployments', {
        customer_id: deployment.customer_id,
        name: 'Restored',
        system_prompt: 'x',
        restore_snapshot_id: snapshot.snapshot_id,
      });
      expect(restored.status).toBe(201);
      expect(restored.body.status).toBe('provisioning');
      expect(performance.now() - createStarted).toBeLessThan(2_000);
      await waitForReady(herm, restored.body.deployment_id);
      const restoredWorkspace = path.join(herm.dataDir, 'workspaces', restored.body.deployment_id);
      const restoredSparse = fs.statSync(path.join(restoredWorkspace, 'sparse.bin'));
      expect(restoredSparse.size).toBe(4 * 1024 ** 3);
      expect(restoredSparse.blocks * 512).toBeLessThan(1_048_576);
      // No set-id bit at all after a restore, whoever owned the file.
      for (const file of walk(restoredWorkspace)) expect(fs.lstatSync(file).mode & 0o6000, file).toBe(0);
    });

    it("sees neither the host kernel's command line nor the server's environment", async () => {
      const deployment = await herm.createDeployment();
      const [result] = await shell(herm, deployment.deployment_id, 'cat /proc/cmdline; echo ---; tr "\\0" "\\n" < /proc/1/environ');
      const [commandLine, environ] = result!.stdout.split('---\n');
      expect(commandLine!.trim()).toBe('');
      expect(environ).not.toContain(`PWD=${process.cwd()}`);
      expect(environ).not.toContain('sk-ant-test');
    });

    it('cannot make the server fetch from an internal address: skills and attachments, a closed port answered alike', async () => {
      const before = metadataRequests.length;
      const messages: string[] = [];
      for (const url of [`http://127.0.0.1:${metadataPort}/latest/meta-data`, `http://localhost:${metadataPort}/SKILL.md`, `http://127.0.0.1:${closedPort}/SKILL.md`]) {
        const response = await create(herm, { skills: [{ name: 'probe', source: 'url', url }] });
        expect(response.status, url).toBe(422);
        expect(response.body.error).toMatchObject({ type: 'invalid_skill', param: 'skills.0.url' });
        messages.push(response.body.error.message.replace(url, '<url>'));
      }
      expect(new Set(messages).size).toBe(1);
      const deployment = await herm.createDeployment();
      const run = await herm.sendAndWait(deployment.deployment_id, {
        thread_id: 'new',
        attachments: [{ type: 'image', url: `http://127.0.0.1:${metadataPort}/latest/meta-data/cat.png` }],
      });
      expect(run.status).toBe('error');
      expect(metadataRequests.length).toBe(before);
    });

    it('cannot name a secret after a variable the sandbox sets, nor delete one out from under a deployment', async () => {
      const secret = await herm.request('POST', '/v1/secrets', { name: `token-${backend.name}`, value: 'secret-value' });
      expect(secret.status).toBe(201);
      const ref = secret.body.secret_id;
      for (const name of ['PATH', 'HOME', 'LANG', 'TERM', 'HTTPS_PROXY']) {
        const response = await create(herm, { secrets: { [name]: ref } });
        expect(response.status, name).toBe(400);
        expect(response.body.error.param).toBe(`secrets.${name}`);
      }
      const deployment = await herm.createDeployment({ secrets: { META_TOKEN: ref } });
      const refused = await herm.request('DELETE', `/v1/secrets/${ref}`);
      expect(refused.status).toBe(409);
      expect(refused.body.error.type).toBe('conflict');
      expect(refused.body.error.message).toContain(deployment.deployment_id);
      expect((await herm.request('DELETE', `/v1/secrets/${ref}?force=true`)).status).toBe(200);
      const run = await herm.sendAndWait(deployment.deployment_id, { thread_id: 'new' });
      expect(run.status).toBe('error');
      expect(run.error.type).toBe('configuration_error');
      expect(run.error.message).toContain('META_TOKEN');
    });

    it('leaves nothing of an upload cut off mid-body, and answers malformed HTTP with the JSON error shape', async () => {
      const deployment = await herm.createDeployment();
      const { port } = new URL(herm.url);
      const socket = net.connect(Number(port), '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write(
        `PUT /v1/deployments/${deployment.deployment_id}/files?path=big.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${herm.adminKey}\r\n` +
          'Content-Type: application/octet-stream\r\nContent-Length: 8388608\r\n\r\n',
      );
      socket.write(Buffer.alloc(1_048_576, 7));
      await new Promise((resolve) => setTimeout(resolve, 500));
      socket.destroy();
      const workspace = path.join(herm.dataDir, 'workspaces', deployment.deployment_id);
      await waitUntil(() => !walk(workspace).some((file) => path.basename(file).startsWith('.herm-upload')));
      const listed = await herm.request('GET', `/v1/deployments/${deployment.deployment_id}/files?path=/`);
      expect(JSON.stringify(listed.body)).not.toMatch(/herm-upload|big\.bin/);

      for (const [raw, status] of [
        [`GET /v1/deployments?${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 431],
        ['BLAH\0 / what\r\n\r\n', 400],
      ] as const) {
        const answer = await rawRequest(Number(port), raw);
        expect(answer.status, raw.slice(0, 20)).toBe(status);
        expect(JSON.parse(answer.body).error).toMatchObject({ type: expect.any(String), message: expect.any(String), request_id: expect.any(String) });
      }
      const longPath = await herm.request('GET', `/v1/deployments/${deployment.deployment_id}/files/content?path=${'a/'.repeat(2_100)}x`);
      expect(longPath.status).toBe(400);
      expect(longPath.body.error.message).toContain('at most 4096 characters');
    });
  });
}

function expectNoSetIdRoot(directory: string): void {
  for (const file of walk(directory)) {
    const stats = fs.lstatSync(file);
    expect((stats.mode & 0o4000) !== 0 && stats.uid === 0, `${file} is setuid root`).toBe(false);
    expect((stats.mode & 0o2000) !== 0 && stats.gid === 0, `${file} is setgid root`).toBe(false);
  }
}

/** Every path under a directory (symlinks not followed). */
function walk(directory: string): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync(directory, { withFileTypes: true })) {
    const full = path.join(directory, entry.name);
    found.push(full);
    if (entry.isDirectory()) found.push(...walk(full));
  }
  return found;
}

async function waitForReady(server: TestServer, deploymentId: string): Promise<void> {
  await waitUntil(async () => (await server.request('GET', `/v1/deployments/${deploymentId}`)).body.status === 'ready', 30_000);
}

async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Sends raw bytes and returns the status and body of the answer. */
function rawRequest(port: number, raw: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    socket.on('data', (chunk) => (received += chunk.toString('utf8')));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', body = ''] = received.split('\r\n\r\n');
      resolve({ status: Number(head.split(' ')[1]), body });
    });
    socket.write(raw);
  });
}
