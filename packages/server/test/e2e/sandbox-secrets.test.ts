// Secrets the agent never holds, end to end over real HTTP: a secret bound to a loopback HTTPS API (a certificate
// of a test-made CA, opened to sandboxes with HERM_SANDBOX_INTERNAL_DESTINATIONS and trusted by the egress proxy
// through HERM_EGRESS_CA_CERTS) reaches that API from `curl` and from Python's urllib run by the agent's shell tool,
// while `echo $TOKEN` prints the placeholder, other hosts (plain HTTP and an HTTPS tunnel) receive only the
// placeholder, a bound host missing from the network allowlist is refused, rotation (in place, and by pointing the
// map at a new secret) changes what the next request carries, and a value echoed back or spoken by the model is
// redacted. Then every event (streamed and stored), log line, API response, file of the data directory (workspace
// and database) and model request of the test is scanned: the real values are found nowhere.
// Runs on bubblewrap, and on docker when a Docker API with the sandbox image answers here.
import Herm from 'herm';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { IncomingMessage, Server } from 'node:http';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bubblewrapUnavailable } from '../sandbox/bubblewrap-test-support.ts';
import { dockerHost, dockerImage, dockerUnavailable } from '../sandbox/docker-test-support.ts';
import { captureLogs, type LogCapture } from '../support/log-capture.ts';
import { startLoopbackServer } from '../support/loopback-server.ts';
import { openSse, type OpenSse, type WireEvent } from '../support/sse-client.ts';
import { createTestCertificates, startLoopbackHttpsServer, type TestCertificates } from '../support/test-tls.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

interface Seen {
  url: string;
  authorization: string | undefined;
}

const record = (into: Seen[]) => (request: IncomingMessage) => into.push({ url: request.url ?? '', authorization: request.headers.authorization });

const isEnd = (runId: string) => (event: WireEvent) =>
  event.type === 'run_status' && event.data.run_id === runId && (event.data.status === 'completed' || event.data.status === 'error');

const backends = [
  { name: 'bubblewrap', skip: bubblewrapUnavailable, env: {} as Record<string, string> },
  {
    name: 'docker',
    skip: bubblewrapUnavailable ?? dockerUnavailable,
    env: { HERM_SANDBOX: 'docker', HERM_DOCKER_IMAGE: dockerImage, HERM_DOCKER_IDLE_MS: '2000', ...(dockerHost ? { DOCKER_HOST: dockerHost } : {}) } as Record<string, string>,
  },
];

for (const backend of backends) {
  describe.skipIf(backend.skip !== null)(`secrets on the ${backend.name} sandbox`, () => {
    let certificates: TestCertificates;
    let api: { server: Server; port: number };
    let unlisted: { server: Server; port: number };
    let otherPlain: { server: Server; port: number };
    let otherTls: { server: Server; port: number };
    const apiSeen: Seen[] = [];
    const unlistedSeen: Seen[] = [];
    const otherSeen: Seen[] = [];
    let logs: LogCapture;
    let herm: TestServer;
    let stream: OpenSse | undefined;
    /** Every API response body of the test, for the final scan. */
    const responses: string[] = [];
    const TOKEN = `tok_live_${randomBytes(16).toString('hex')}`;
    const ROTATED = `tok_rotated_${randomBytes(16).toString('hex')}`;
    const REPLACEMENT = `tok_replacement_${randomBytes(16).toString('hex')}`;

    const request = async (method: string, urlPath: string, body?: unknown) => {
      const response = await herm.request(method, urlPath, body);
      responses.push(JSON.stringify(response.body));
      return response;
    };

    beforeAll(async () => {
      certificates = createTestCertificates();
      api = await startLoopbackHttpsServer(certificates, (incoming, response) => {
        record(apiSeen)(incoming);
        // An API that echoes the credential it got: the proxy turns it back into the placeholder.
        if (incoming.url === '/echo') return void response.end(`you sent ${incoming.headers.authorization}`);
        // One that compresses its answer although asked not to: the proxy cannot read it, the run journal redacts it.
        if (incoming.url === '/gzip-echo') {
          response.writeHead(200, { 'content-encoding': 'gzip' });
          return void response.end(gzipSync(`gz sent ${incoming.headers.authorization}`));
        }
        response.end(`api ok ${incoming.url}`);
      });
      unlisted = await startLoopbackHttpsServer(certificates, (incoming, response) => {
        record(unlistedSeen)(incoming);
        response.end('unlisted');
      });
      otherPlain = await startLoopbackServer((incoming, response) => {
        record(otherSeen)(incoming);
        response.end('other plain');
      });
      otherTls = await startLoopbackHttpsServer(certificates, (incoming, response) => {
        record(otherSeen)(incoming);
        response.end('other tls');
      });
      logs = captureLogs();
      herm = await startTestServer({
        logger: logs.logger,
        env: {
          ...backend.env,
          HERM_SANDBOX_INTERNAL_DESTINATIONS: [api, unlisted, otherPlain, otherTls].map(({ port }) => `127.0.0.1:${port},localhost:${port}`).join(','),
          HERM_EGRESS_CA_CERTS: certificates.caFile,
        },
      });
    }, 60_000);

    afterAll(async () => {
      stream?.close();
      await herm?.close();
      for (const server of [api, unlisted, otherPlain, otherTls]) server?.server.close();
      certificates?.remove();
    });

    /** Runs one shell command as the agent's tool call and returns the run and its tool_result output. */
    async function shell(deploymentId: string, command: string, then: { text: string | string[] } = { text: 'Done.' }) {
      // By the request's shape, not a queue: background model calls (the memory observer, without tools) may come
      // in between.
      herm.model.setHandler((modelRequest) => {
        if (!modelRequest.toolNames.includes('shell')) return { text: 'Nothing to note.' };
        if (modelRequest.messages.at(-1)?.role === 'user') return { toolCalls: [{ name: 'shell', arguments: { command, timeout: 60 } }] };
        return then;
      });
      const sent = await request('POST', `/v1/deployments/${deploymentId}/messages`, { content: 'Call the API.' });
      expect(sent.status, JSON.stringify(sent.body)).toBe(202);
      await stream!.waitFor(isEnd(sent.body.run_id));
      const run = await request('GET', `/v1/deployments/${deploymentId}/runs/${sent.body.run_id}`);
      const result = stream!.events.find((event) => event.type === 'tool_result' && event.data.run_id === sent.body.run_id);
      return { run: run.body, runId: sent.body.run_id as string, output: JSON.stringify(result?.data.result ?? null) };
    }

    it('registers the secret with its hosts, never showing the value', async () => {
      const created = await request('POST', '/v1/secrets', { name: 'api-token', value: TOKEN, allowed_hosts: [`LOCALHOST:${api.port}`, `localhost:${unlisted.port}`] });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({
        secret_id: expect.stringMatching(/^sec_/),
        name: 'api-token',
        allowed_hosts: [`localhost:${api.port}`, `localhost:${unlisted.port}`],
        created_at: expect.any(String),
      });
      const fetched = await request('GET', `/v1/secrets/${created.body.secret_id}`);
      expect(fetched.body).toEqual(created.body);
      const bad = await request('POST', '/v1/secrets', { name: 'x', value: 'value-long-enough', allowed_hosts: ['api.example.com', 'ok.example.com', 'https://api.example.com/'] });
      expect(bad.status).toBe(400);
      expect(bad.body.error).toMatchObject({ type: 'validation_error', param: 'allowed_hosts.2' });
      expect(bad.body.error.message).toMatch(/not a URL/);
      // Every stored value is long enough to be redacted from runs and scrubbed from answers.
      const short = await request('POST', '/v1/secrets', { name: 'x', value: '1234567' });
      expect(short.status).toBe(400);
      expect(short.body.error).toMatchObject({ type: 'validation_error', param: 'value' });
      expect(short.body.error.message).toMatch(/at least 8 characters/);
      const shortUpdate = await request('PATCH', `/v1/secrets/${created.body.secret_id}`, { value: 'abc' });
      expect(shortUpdate.body.error).toMatchObject({ type: 'validation_error', param: 'value' });
      const empty = await request('PATCH', `/v1/secrets/${created.body.secret_id}`, {});
      expect(empty.status).toBe(400);
      expect(empty.body.error.message).toMatch(/value, allowed_hosts, or both/);
      const badUpdate = await request('PATCH', `/v1/secrets/${created.body.secret_id}`, { allowed_hosts: ['*'] });
      expect(badUpdate.body.error).toMatchObject({ type: 'validation_error', param: 'allowed_hosts.0' });
      const unknown = await request('PATCH', '/v1/secrets/sec_missing', { value: 'value-long-enough' });
      expect(unknown.status).toBe(404);
      expect((await request('GET', '/v1/secrets/sec_missing')).status).toBe(404);
      expect((await request('GET', `/v1/secrets/${created.body.secret_id}`)).body).toEqual(created.body);
    });

    it('gives the sandbox a placeholder that the egress proxy swaps for the value only on requests to the bound host', { timeout: 60_000 }, async () => {
      const secretId = (await request('GET', '/v1/secrets')).body.data.find((secret: { name: string }) => secret.name === 'api-token').secret_id;
      // The unlisted server is bound too, but not on the network allowlist: the two controls are independent.
      const deployment = (
        await request('POST', '/v1/deployments', {
          customer_id: 'cus_secrets',
          name: 'secrets',
          model: 'openai-compatible/scripted-model',
          system_prompt: 'p',
          secrets: { API_TOKEN: secretId },
          sandbox: { network: { allow: [`localhost:${api.port}`, `127.0.0.1:${otherPlain.port}`, `127.0.0.1:${otherTls.port}`] } },
        })
      ).body;
      expect(deployment.status, JSON.stringify(deployment)).toBe('ready');
      const deploymentId: string = deployment.deployment_id;
      stream = await openSse(deployment.events.url, herm.adminKey);
      const placeholder = herm.server.services.secretCipher.placeholder(deploymentId, 'API_TOKEN');
      expect(placeholder).toMatch(/^herm_secret_[A-Za-z0-9_-]{32}$/);

      const python = [
        'import os, urllib.request',
        `request = urllib.request.Request("https://localhost:${api.port}/py", headers={"Authorization": "Bearer " + os.environ["API_TOKEN"]})`,
        'print(urllib.request.urlopen(request, timeout=20).read().decode())',
      ].join('\n');
      const command = [
        'echo "sandbox sees $API_TOKEN"',
        'echo "$API_TOKEN" > /workspace/token.txt',
        `curl -sS --max-time 20 -H "Authorization: Bearer $API_TOKEN" "https://localhost:${api.port}/v1/me?key=$API_TOKEN"; echo`,
        `curl -sS --max-time 20 -H "Authorization: Bearer $API_TOKEN" https://localhost:${api.port}/echo; echo`,
        // Without the CA variables: curl's default bundle, the system one, which the Herm bundle is mounted over.
        `env -u CURL_CA_BUNDLE -u SSL_CERT_FILE curl -sS --max-time 20 https://localhost:${api.port}/system-bundle; echo`,
        `curl -sS --compressed --max-time 20 -H "Authorization: Bearer $API_TOKEN" https://localhost:${api.port}/gzip-echo; echo`,
        `if command -v python3 >/dev/null; then python3 -c '${python}'; else echo "no python3 in this sandbox"; fi`,
        `curl -sS --max-time 20 -H "Authorization: Bearer $API_TOKEN" http://127.0.0.1:${otherPlain.port}/plain; echo`,
        `curl -sSk --max-time 20 -H "Authorization: Bearer $API_TOKEN" https://127.0.0.1:${otherTls.port}/tunnel; echo`,
        `curl -sS --max-time 20 --noproxy '' -x http://127.0.0.1:3128 -H "Authorization: Bearer $API_TOKEN" https://localhost:${unlisted.port}/ 2>&1; echo`,
      ].join('\n');
      // The model's reply repeats the value, split across two streamed chunks.
      const { run, output } = await shell(deploymentId, command, { text: [`The token is ${TOKEN.slice(0, 13)}`, `${TOKEN.slice(13)}, done.`] });
      expect(run.status, JSON.stringify(run)).toBe('completed');

      expect(output).toContain(`sandbox sees ${placeholder}`);
      expect(output).toContain(`api ok /v1/me?key=${placeholder}`);
      // An API echoing the credential hands back the placeholder, not the value: compressed against the request's
      // wishes too (the proxy decompresses the body to scrub it).
      expect(output).toContain(`you sent Bearer ${placeholder}`);
      expect(output).toContain(`gz sent Bearer ${placeholder}`);
      expect(output).toContain('other plain');
      expect(output).toContain('other tls');
      expect(output).toMatch(/CONNECT tunnel failed, response 403|403/);
      expect(apiSeen).toContainEqual({ url: `/v1/me?key=${TOKEN}`, authorization: `Bearer ${TOKEN}` });
      expect(apiSeen).toContainEqual({ url: '/echo', authorization: `Bearer ${TOKEN}` });
      if (fs.existsSync('/etc/ssl/certs/ca-certificates.crt')) expect(output).toContain('api ok /system-bundle');
      const pythonAvailable = !output.includes('no python3 in this sandbox');
      if (backend.name === 'bubblewrap') expect(pythonAvailable).toBe(true);
      if (pythonAvailable) {
        expect(output).toContain('api ok /py');
        expect(apiSeen).toContainEqual({ url: '/py', authorization: `Bearer ${TOKEN}` });
      } else {
        console.warn(`python3 is not in the ${backend.name} sandbox image: its urllib request was skipped`);
      }
      expect(otherSeen).toEqual(
        expect.arrayContaining([
          { url: '/plain', authorization: `Bearer ${placeholder}` },
          { url: '/tunnel', authorization: `Bearer ${placeholder}` },
        ]),
      );
      expect(unlistedSeen).toEqual([]);
      const file = await request('GET', `/v1/deployments/${deploymentId}/files/content?path=token.txt`);
      expect(JSON.stringify(file.body)).toContain(placeholder);

      // The model's text reached clients and the history with the value redacted, even split across tokens.
      const tokens = stream!.events.filter((event) => event.type === 'token').map((event) => event.data.delta as string).join('');
      expect(tokens).toContain('The token is [redacted:API_TOKEN], done.');

      // Rotation in place (through the SDK): the next request carries the new value, the placeholder stays.
      const sdk = new Herm({ apiKey: herm.adminKey, baseURL: herm.url, maxRetries: 0 });
      const updated = await sdk.secrets.update(secretId, { value: ROTATED });
      responses.push(JSON.stringify(updated));
      expect(updated).toMatchObject({ secret_id: secretId, allowed_hosts: [`localhost:${api.port}`, `localhost:${unlisted.port}`] });
      expect(await sdk.secrets.get(secretId)).toEqual(updated);
      const rotated = await shell(deploymentId, `echo "$API_TOKEN"; curl -sS --max-time 20 -H "Authorization: Bearer $API_TOKEN" https://localhost:${api.port}/echo`);
      expect(rotated.output).toContain(placeholder);
      expect(rotated.output).toContain(`you sent Bearer ${placeholder}`);
      expect(apiSeen.at(-1)).toEqual({ url: '/echo', authorization: `Bearer ${ROTATED}` });

      // Rotation as the docs describe it: a new secret, and the map pointed at it.
      const replacement = await request('POST', '/v1/secrets', { name: 'api-token-2', value: REPLACEMENT, allowed_hosts: [`localhost:${api.port}`] });
      expect((await request('PATCH', `/v1/deployments/${deploymentId}`, { secrets: { API_TOKEN: replacement.body.secret_id } })).status).toBe(200);
      const repointed = await shell(deploymentId, `curl -sS --max-time 20 -H "Authorization: Bearer $API_TOKEN" https://localhost:${api.port}/echo > echoed.txt; cat echoed.txt`);
      expect(repointed.output).toContain(`you sent Bearer ${placeholder}`);
      expect(apiSeen.at(-1)).toEqual({ url: '/echo', authorization: `Bearer ${REPLACEMENT}` });

      // A secret without hosts is never swapped: the host, bound to no secret now, is a plain tunnel (the sandbox sees
      // the API's own certificate, of a CA it does not know: -k) and gets the placeholder.
      const unbound = await request('POST', '/v1/secrets', { name: 'mcp-only', value: `tok_unbound_${randomBytes(8).toString('hex')}` });
      await request('PATCH', `/v1/deployments/${deploymentId}`, { secrets: { API_TOKEN: unbound.body.secret_id } });
      const tunnelled = await shell(deploymentId, `curl -sS --max-time 20 https://localhost:${api.port}/ 2>&1; curl -sSk --max-time 20 -H "Authorization: Bearer $API_TOKEN" https://localhost:${api.port}/unbound`);
      expect(tunnelled.output).toMatch(/certificate/);
      expect(apiSeen.at(-1)).toEqual({ url: '/unbound', authorization: `Bearer ${placeholder}` });
      await request('GET', `/v1/deployments/${deploymentId}/threads?limit=100`);
      const threads = (await request('GET', `/v1/deployments/${deploymentId}/threads?limit=100`)).body.data as { thread_id: string }[];
      for (const thread of threads) await request('GET', `/v1/deployments/${deploymentId}/threads/${thread.thread_id}`);
      await request('GET', `/v1/deployments/${deploymentId}/runs?limit=100`);
    });

    it('leaves the real values in no event, log line, API response, data file or model request', async () => {
      expect(apiSeen.length).toBeGreaterThan(3); // the values did travel, to the API only
      const deployments = (await herm.request('GET', '/v1/deployments?limit=100')).body.data as { deployment_id: string }[];
      const stored: string[] = [];
      for (const { deployment_id } of deployments) {
        stored.push(JSON.stringify(await herm.server.services.store.events.listAfter(deployment_id, 0, {}, 100_000)));
      }
      const files: string[] = [];
      const walk = (directory: string): void => {
        for (const entry of fs.readdirSync(directory, { withFileTypes: true })) {
          const full = path.join(directory, entry.name);
          if (entry.isDirectory()) walk(full);
          else if (entry.isFile()) files.push(full);
        }
      };
      walk(herm.dataDir);
      expect(files.some((file) => file.endsWith('token.txt'))).toBe(true);
      expect(files.some((file) => file.endsWith('echoed.txt'))).toBe(true);
      const places: Record<string, string> = {
        'the event stream': JSON.stringify(stream?.events ?? []),
        'the stored events': stored.join('\n'),
        'the server log': logs.text(),
        'the API responses': responses.join('\n'),
        'the model requests': JSON.stringify(herm.model.requests),
      };
      for (const file of files) places[file] = fs.readFileSync(file).toString('latin1');
      expect(logs.text()).toContain('egress secrets substituted');
      expect(places['the event stream']).toContain('[redacted:API_TOKEN]');
      for (const value of [TOKEN, ROTATED, REPLACEMENT]) {
        for (const [place, text] of Object.entries(places)) expect(text.includes(value), `${value} found in ${place}`).toBe(false);
      }
    });
  });
}
