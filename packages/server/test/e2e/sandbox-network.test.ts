// sandbox.network over real HTTP: creating and updating a deployment's allowlist (validation naming the
// field, normalisation, null removing it, internal addresses only where the operator opened them with
// HERM_SANDBOX_INTERNAL_DESTINATIONS, the OpenAPI document), and an agent's shell call reaching an
// allowed HTTP server on the host's loopback — opened by the operator — and not another one, through the
// egress proxy.
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bubblewrapUnavailable } from '../sandbox/bubblewrap-test-support.ts';
import { startLoopbackServer } from '../support/loopback-server.ts';
import { openSse, type WireEvent } from '../support/sse-client.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

let herm: TestServer;
let allowedServer: Server;
let otherServer: Server;
let allowedPort: number;
let otherPort: number;

beforeAll(async () => {
  ({ server: allowedServer, port: allowedPort } = await startLoopbackServer((request, response) => response.end(`allowed server saw ${request.url}`)));
  ({ server: otherServer, port: otherPort } = await startLoopbackServer((_request, response) => response.end('other server')));
  // The operator opens the allowed server's port for every account, localhost:8080 for every account, and
  // the other server's port for another account only.
  herm = await startTestServer({
    env: { HERM_SANDBOX_INTERNAL_DESTINATIONS: `127.0.0.1:${allowedPort}, localhost:8080, acct_someone_else=127.0.0.1:${otherPort}, acct_default=[::1]:9443` },
  });
});

afterAll(async () => {
  await herm?.close();
  allowedServer?.close();
  otherServer?.close();
});

const base = { customer_id: 'cus_network', name: 'n', system_prompt: 'p' };

describe('sandbox.network in the Deployments API', () => {
  it('is absent by default, and stored normalised when given', async () => {
    const plain = await herm.createDeployment();
    expect(plain.sandbox.network).toBeUndefined();
    const created = await herm.createDeployment({ sandbox: { network: { allow: ['API.Example.com', '*.example.org', 'localhost:8080', 'api.example.com'] } } });
    expect(created.status).toBe('ready');
    expect(created.sandbox).toMatchObject({ enabled: true, type: 'bubblewrap', network: { allow: ['api.example.com', '*.example.org', 'localhost:8080'] } });
    const fetched = await herm.request('GET', `/v1/deployments/${created.deployment_id}`);
    expect(fetched.body.sandbox.network).toEqual({ allow: ['api.example.com', '*.example.org', 'localhost:8080'] });
  });

  it('answers a bad allowlist with a 400 naming the field', async () => {
    const cases: [unknown, string, RegExp][] = [
      [{ allow: ['api.example.com', 'https://api.example.com/v1'] }, 'sandbox.network.allow.1', /not a URL/],
      [{ allow: ['*'] }, 'sandbox.network.allow.0', /bare \*/],
      [{ allow: ['api.example.com:99999'] }, 'sandbox.network.allow.0', /port/],
      [{ allow: [42] }, 'sandbox.network.allow.0', /./],
      [{ allow: [] }, 'sandbox.network.allow', /at least one host/],
      [{ allow: Array.from({ length: 101 }, (_, index) => `h${index}.example.com`) }, 'sandbox.network.allow', /at most 100/],
      [{ deny: ['x.com'] }, 'sandbox.network.deny', /Unknown parameter/],
      [{}, 'sandbox.network.allow', /./],
      [['api.example.com'], 'sandbox.network', /./],
    ];
    for (const [network, param, message] of cases) {
      const response = await herm.request('POST', '/v1/deployments', { ...base, sandbox: { network } });
      expect(response.status, JSON.stringify(network)).toBe(400);
      expect(response.body.error, JSON.stringify(network)).toMatchObject({ type: 'validation_error', param });
      expect(response.body.error.message, JSON.stringify(network)).toMatch(message);
    }
  });

  it('refuses an internal address or localhost that the operator did not open to the account, naming the entry', async () => {
    const cases: [string[], string][] = [
      [['127.0.0.1:5432'], 'sandbox.network.allow.0'],
      [['api.example.com', 'localhost:5432'], 'sandbox.network.allow.1'],
      [[`127.0.0.1:${otherPort}`], 'sandbox.network.allow.0'], // open to another account only
      [[`127.0.0.1:${allowedPort}`, '127.0.0.1'], 'sandbox.network.allow.1'], // no port: 80 and 443, not open
      [['10.0.0.5:5432'], 'sandbox.network.allow.0'],
      [['172.16.3.4'], 'sandbox.network.allow.0'],
      [['192.168.1.1:80'], 'sandbox.network.allow.0'],
      [['100.64.0.1:80'], 'sandbox.network.allow.0'],
      [['169.254.169.254'], 'sandbox.network.allow.0'],
      [['0.0.0.0:8080'], 'sandbox.network.allow.0'],
      [['[::1]:5432'], 'sandbox.network.allow.0'],
      [['[::ffff:127.0.0.1]:5432'], 'sandbox.network.allow.0'],
      [['[fd00::1]:22'], 'sandbox.network.allow.0'],
      [['[fe80::1]:80'], 'sandbox.network.allow.0'],
      [['*.localhost'], 'sandbox.network.allow.0'],
      [['app.localhost:3000'], 'sandbox.network.allow.0'],
      // Duplicates are dropped when stored: the index is still the one the request used.
      [['a.example.com', 'a.example.com', 'LOCALHOST:5432'], 'sandbox.network.allow.2'],
    ];
    for (const [allow, param] of cases) {
      const response = await herm.request('POST', '/v1/deployments', { ...base, sandbox: { network: { allow } } });
      expect(response.status, JSON.stringify(allow)).toBe(400);
      expect(response.body.error, JSON.stringify(allow)).toMatchObject({ type: 'validation_error', param });
      expect(response.body.error.message, JSON.stringify(allow)).toMatch(/internal address|own addresses/);
      expect(response.body.error.message, JSON.stringify(allow)).toContain('HERM_SANDBOX_INTERNAL_DESTINATIONS');
    }
    const created = await herm.createDeployment({ sandbox: { network: { allow: ['a.example.com'] } } });
    const patched = await herm.request('PATCH', `/v1/deployments/${created.deployment_id}`, { sandbox: { network: { allow: ['a.example.com', '127.0.0.1:5432'] } } });
    expect(patched.status).toBe(400);
    expect(patched.body.error).toMatchObject({ type: 'validation_error', param: 'sandbox.network.allow.1' });
    expect((await herm.request('GET', `/v1/deployments/${created.deployment_id}`)).body.sandbox.network).toEqual({ allow: ['a.example.com'] });
  });

  it('accepts the internal destinations the operator opened, for everyone or for this account', async () => {
    const created = await herm.createDeployment({ sandbox: { network: { allow: [`127.0.0.1:${allowedPort}`, 'localhost:8080', '[0:0::1]:9443', 'db.example.com:5432'] } } });
    expect(created.sandbox.network).toEqual({ allow: [`127.0.0.1:${allowedPort}`, 'localhost:8080', '[::1]:9443', 'db.example.com:5432'] });
  });

  it('is replaced on update, kept when other sandbox fields change, and removed by null', async () => {
    const created = await herm.createDeployment({ sandbox: { network: { allow: ['a.example.com'] } } });
    const path = `/v1/deployments/${created.deployment_id}`;
    const replaced = await herm.request('PATCH', path, { sandbox: { network: { allow: ['b.example.com', 'c.example.com:8443'] } } });
    expect(replaced.status).toBe(200);
    expect(replaced.body.sandbox.network).toEqual({ allow: ['b.example.com', 'c.example.com:8443'] });
    const kept = await herm.request('PATCH', path, { sandbox: { persistent_filesystem: true }, name: 'renamed' });
    expect(kept.body.sandbox.network).toEqual({ allow: ['b.example.com', 'c.example.com:8443'] });
    const invalid = await herm.request('PATCH', path, { sandbox: { network: { allow: ['bad host'] } } });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.param).toBe('sandbox.network.allow.0');
    const removed = await herm.request('PATCH', path, { sandbox: { network: null } });
    expect(removed.status).toBe(200);
    expect(removed.body.sandbox).not.toHaveProperty('network');
    expect((await herm.request('GET', path)).body.sandbox).not.toHaveProperty('network');
  });

  it('is described in the OpenAPI document', async () => {
    const document = (await herm.request('GET', '/v1/openapi.json', undefined, null)).body;
    const sandboxInput = document.components.schemas.SandboxInput;
    expect(sandboxInput.properties.network.description).toMatch(/none at all/);
    expect(sandboxInput.properties.network.properties.allow).toMatchObject({ type: 'array', maxItems: 100, minItems: 1 });
    expect(document.components.schemas.Deployment.properties.sandbox.properties.network.properties.allow.type).toBe('array');
  });
});

const isEnd = (runId: string) => (event: WireEvent) =>
  event.type === 'run_status' && event.data.run_id === runId && (event.data.status === 'completed' || event.data.status === 'error');

describe.skipIf(bubblewrapUnavailable !== null)("an agent's shell with sandbox.network", () => {
  it('reaches the allowed server on the host and is refused the other one', async () => {
    const deployment = await herm.createDeployment({ sandbox: { network: { allow: [`127.0.0.1:${allowedPort}`] } } });
    const stream = await openSse(deployment.events.url, herm.adminKey);
    const command =
      `curl -sS --max-time 10 http://127.0.0.1:${allowedPort}/from-agent; echo; ` +
      `curl -sS --max-time 10 --noproxy '' http://127.0.0.1:${otherPort}/; echo; ` +
      `curl -sS --max-time 10 https://example.com/ 2>&1; echo`;
    herm.model.enqueue({ toolCalls: [{ name: 'shell', arguments: { command } }] }, { text: 'Done.' });
    const response = await herm.request('POST', `/v1/deployments/${deployment.deployment_id}/messages`, { content: 'Fetch' });
    expect(response.status, JSON.stringify(response.body)).toBe(202);
    await stream.waitFor(isEnd(response.body.run_id));
    stream.close();
    const result = stream.events.find((event) => event.type === 'tool_result' && event.data.run_id === response.body.run_id);
    const output = JSON.stringify(result!.data.result);
    expect(output).toContain('allowed server saw /from-agent');
    expect(output).toContain(`127.0.0.1:${otherPort} is not on this deployment's network allowlist`);
    expect(output).toContain('CONNECT tunnel failed, response 403');
    expect(output).not.toContain('other server');
  });
});

// Last: closing a second server in this process removes the control groups (same names, e.g. the
// sandbox check's) that the first one still uses, which would fail its next command.
describe('sandbox.network on an unsandboxed deployment', () => {
  let permissive: TestServer;

  beforeAll(async () => {
    permissive = await startTestServer({ env: { HERM_ALLOW_UNSANDBOXED: 'true' } });
  });

  afterAll(async () => {
    await permissive?.close();
  });

  it('is refused (unsandboxed commands have the whole network), and dropped when a deployment leaves the sandbox', async () => {
    const refused = await permissive.request('POST', '/v1/deployments', { ...base, sandbox: { enabled: false, network: { allow: ['a.example.com'] } } });
    expect(refused.status).toBe(400);
    expect(refused.body.error.param).toBe('sandbox.network');
    const created = await permissive.createDeployment({ sandbox: { network: { allow: ['a.example.com'] } } });
    const unsandboxed = await permissive.request('PATCH', `/v1/deployments/${created.deployment_id}`, { sandbox: { enabled: false } });
    expect(unsandboxed.status).toBe(200);
    expect(unsandboxed.body.sandbox).toEqual({ enabled: false, type: 'none', persistent_filesystem: true });
  });
});
