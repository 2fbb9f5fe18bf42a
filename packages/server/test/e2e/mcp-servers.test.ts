// MCP servers and the Tools API against real MCP servers (the official SDK's McpServer over Streamable HTTP, and
// over the old HTTP+SSE transport) on loopback, with the scripted model driving the tool calls.
import os from 'node:os';
import Herm, { NotFoundError } from 'herm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, postgresBaseUrl, type TestDatabase } from '../support/databases.ts';
import { captureLogs, type LogCapture } from '../support/log-capture.ts';
import { startMcpTestServer, type McpTestServer } from '../support/mcp-test-server.ts';
import { openSse, type OpenSse, type WireEvent } from '../support/sse-client.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const TOKEN = 'prism-token-5b1f0c9e7d2a4e68b3c1';

describe('MCP servers on a server that keeps private addresses out (the default)', () => {
  let herm: TestServer;
  let mcp: McpTestServer;

  beforeAll(async () => {
    herm = await startTestServer({ env: { HERM_MCP_TIMEOUT_MS: '1500' } });
    mcp = await startMcpTestServer();
  });

  afterAll(async () => {
    await mcp?.close();
    await herm?.close();
  });

  it('refuses a loopback IP at create, and a name that resolves to one when it connects', async () => {
    const literal = await herm.request('POST', '/v1/deployments', {
      customer_id: 'cus_private',
      name: 'x',
      system_prompt: 'x',
      mcp_servers: [{ name: 'local', url: mcp.url }],
    });
    expect(literal.status).toBe(400);
    expect(literal.body.error).toMatchObject({ type: 'validation_error', param: 'mcp_servers.0.url' });
    // A name is only resolved when the server connects: the run goes on without its tools.
    const named = await herm.createDeployment({ mcp_servers: [{ name: 'local', url: mcp.url.replace('127.0.0.1', os.hostname()) }] });
    herm.model.enqueue({ text: 'ok' });
    const finished = await herm.sendAndWait(named.deployment_id);
    expect(finished.status).toBe('completed');
    expect(herm.model.requests.at(-1)!.toolNames.some((name) => name.startsWith('local__'))).toBe(false);
    expect(mcp.requests).toEqual([]);
    const tools = await herm.request('GET', `/v1/deployments/${named.deployment_id}/tools`);
    expect(tools.body.unavailable_servers).toEqual([{ name: 'local', error: expect.stringContaining('could not be reached') }]);
  });
});

describe('MCP servers', () => {
  let herm: TestServer;
  let logs: LogCapture;
  let mcp: McpTestServer;
  /** Every API response body of the test, for the scan for the token. */
  const responses: string[] = [];
  const streams: OpenSse[] = [];

  const api = async (method: string, path: string, body?: unknown) => {
    const response = await herm.request(method, path, body);
    responses.push(JSON.stringify(response.body));
    return response;
  };

  /** Sends a message and waits for the run's end on a stream opened before; returns the run's events. */
  const run = async (deploymentId: string, stream: OpenSse, content = 'Go.'): Promise<{ run: any; events: WireEvent[] }> => {
    const sent = await api('POST', `/v1/deployments/${deploymentId}/messages`, { content });
    expect(sent.status).toBe(202);
    await stream.waitFor((event) => event.type === 'run_status' && event.data.run_id === sent.body.run_id && event.data.status !== 'running', 20_000);
    const finished = await api('GET', `/v1/deployments/${deploymentId}/runs/${sent.body.run_id}`);
    return { run: finished.body, events: stream.events.filter((event) => event.data.run_id === sent.body.run_id) };
  };

  const deploy = async (overrides: Record<string, unknown>) => {
    const deployment = await herm.createDeployment(overrides);
    responses.push(JSON.stringify(deployment));
    const stream = await openSse(deployment.events.url, herm.adminKey);
    streams.push(stream);
    return { deployment, stream };
  };

  beforeAll(async () => {
    logs = captureLogs();
    herm = await startTestServer({ env: { HERM_ALLOW_PRIVATE_URLS: 'true', HERM_MCP_TIMEOUT_MS: '3000' }, logger: logs.logger });
    mcp = await startMcpTestServer({ requireAuthorization: `Bearer ${TOKEN}` });
  });

  afterAll(async () => {
    for (const stream of streams) stream.close();
    await mcp?.close();
    await herm?.close();
  });

  /** A deployment using `mcp` with its token from a registered secret. */
  const prismDeployment = async (tools?: string[]) => {
    const secret = await api('POST', '/v1/secrets', { name: 'prism-token', value: TOKEN });
    expect(secret.status).toBe(201);
    return deploy({
      secrets: { PRISM_TOKEN: secret.body.secret_id },
      mcp_servers: [{ name: 'prism', url: mcp.url, ...(tools ? { tools } : {}), headers: { Authorization: 'Bearer ${PRISM_TOKEN}' } }],
    });
  };

  it('offers the allowlisted tools, calls them with customer_id and the resolved credential, and names the origin on events', async () => {
    const { deployment, stream } = await prismDeployment(['echo', 'fail']);
    herm.model.enqueue(
      { toolCalls: [{ name: 'prism__echo', arguments: { text: 'hi' } }] },
      { toolCalls: [{ name: 'shell', arguments: { command: 'echo built-in' } }] },
      { text: 'Done.' },
    );
    const { run: finished, events } = await run(deployment.deployment_id, stream);
    expect(finished.status).toBe('completed');

    const offered = herm.model.requests.at(-3)!.toolNames;
    expect(offered).toEqual(expect.arrayContaining(['shell', 'read_file', 'prism__echo', 'prism__fail']));
    expect(offered.filter((name) => name.startsWith('prism__')).sort()).toEqual(['prism__echo', 'prism__fail']);

    const [call, result] = events.filter((event) => event.type === 'tool_call' || event.type === 'tool_result');
    expect(call!.data).toMatchObject({ tool: 'prism__echo', origin: 'prism', arguments: { text: 'hi' } });
    expect(result!.data).toMatchObject({ tool: 'prism__echo', origin: 'prism', is_error: false, result: { text: 'echo: hi' } });
    const builtin = events.filter((event) => event.type === 'tool_result')[1]!;
    expect(builtin.data).toMatchObject({ tool: 'shell', origin: 'builtin', is_error: false });
    // The model got the result.
    expect(herm.model.requests.at(-2)!.messages.find((message) => message.role === 'tool')!.text).toContain('echo: hi');

    // The server received the customer and the credential, resolved from the secret.
    const echoCall = mcp.calls.find((recorded) => recorded.tool === 'echo')!;
    expect(echoCall.meta).toMatchObject({ 'herm/customer_id': deployment.customer_id, 'herm/deployment_id': deployment.deployment_id });
    expect(mcp.requests.length).toBeGreaterThan(0);
    for (const headers of mcp.requests) {
      expect(headers.authorization).toBe(`Bearer ${TOKEN}`);
      expect(headers['herm-customer-id']).toBe(deployment.customer_id);
    }
    // The declaration is shown as written.
    const shown = await api('GET', `/v1/deployments/${deployment.deployment_id}`);
    expect(shown.body.mcp_servers[0].headers).toEqual({ Authorization: 'Bearer ${PRISM_TOKEN}' });
  });

  it('turns tool errors, timeouts and a server killed mid-call into tool_result errors, and the run completes', async () => {
    const { deployment, stream } = await prismDeployment();
    herm.model.enqueue(
      { toolCalls: [{ name: 'prism__fail', arguments: { reason: 'no budget' } }] },
      { toolCalls: [{ name: 'prism__slow', arguments: {} }] },
      { text: 'Both failed.' },
    );
    const { run: finished, events } = await run(deployment.deployment_id, stream);
    expect(finished.status).toBe('completed');
    const results = events.filter((event) => event.type === 'tool_result');
    expect(results[0]!.data).toMatchObject({ tool: 'prism__fail', origin: 'prism', is_error: true, result: { error: 'failed because no budget' } });
    expect(results[1]!.data).toMatchObject({ tool: 'prism__slow', origin: 'prism', is_error: true });
    expect(results[1]!.data.result.error).toMatch(/did not answer within 3000 ms/);
    const timeoutLog = logs.entries().find((entry) => entry.msg === 'MCP tool call failed' && entry.tool === 'slow');
    expect(timeoutLog).toMatchObject({ deploymentId: deployment.deployment_id, mcpServer: 'prism' });

    // A server that dies while a call is in flight.
    const victim = await startMcpTestServer();
    const killed = await deploy({ mcp_servers: [{ name: 'victim', url: victim.url }] });
    herm.model.enqueue({ toolCalls: [{ name: 'victim__hang', arguments: {} }] }, { text: 'It died.' });
    const pending = run(killed.deployment.deployment_id, killed.stream);
    await victim.hanging();
    await victim.kill();
    const { run: afterKill, events: killEvents } = await pending;
    expect(afterKill.status).toBe('completed');
    const killResult = killEvents.find((event) => event.type === 'tool_result')!;
    expect(killResult.data).toMatchObject({ tool: 'victim__hang', origin: 'victim', is_error: true });
    // Told at once (the broken response), not after HERM_MCP_TIMEOUT_MS.
    expect(killResult.data.result.error).toBe('the connection to MCP server "victim" was lost before it answered');

    // Next run: the server is gone, its last tool list is still offered and a call is a tool error, not a failed run.
    herm.model.enqueue({ toolCalls: [{ name: 'victim__echo', arguments: { text: 'anyone?' } }] }, { text: 'Still down.' });
    const { run: again, events: againEvents } = await run(killed.deployment.deployment_id, killed.stream);
    expect(again.status).toBe('completed');
    expect(herm.model.requests.at(-2)!.toolNames).toContain('victim__echo');
    expect(againEvents.find((event) => event.type === 'tool_result')!.data).toMatchObject({ is_error: true });
    expect(againEvents.find((event) => event.type === 'tool_result')!.data.result.error).toMatch(/could not be reached|lost/);
  });

  it('leaves out a server it cannot reach, says so in the system prompt and the Tools API, and creation does not need it', async () => {
    const gone = await startMcpTestServer();
    const url = gone.url;
    await gone.close();
    const { deployment, stream } = await deploy({ mcp_servers: [{ name: 'offline', url }] });
    herm.model.enqueue({ text: 'No tools from offline.' });
    const { run: finished } = await run(deployment.deployment_id, stream);
    expect(finished.status).toBe('completed');
    const request = herm.model.requests.at(-1)!;
    expect(request.toolNames.some((name) => name.startsWith('offline__'))).toBe(false);
    expect(request.messages[0]!.text).toContain('MCP server offline');
    const tools = await api('GET', `/v1/deployments/${deployment.deployment_id}/tools`);
    expect(tools.status).toBe(200);
    expect(tools.body.unavailable_servers).toEqual([{ name: 'offline', error: expect.stringContaining('could not be reached') }]);
    expect(tools.body.data.map((tool: any) => tool.origin)).toEqual(['builtin', 'builtin', 'builtin', 'builtin', 'builtin', 'builtin']);
    // Its tools can be switched off ahead of time; an unknown tool is a 404 naming it.
    const ahead = await api('PATCH', `/v1/deployments/${deployment.deployment_id}/tools/offline__echo`, { enabled: false });
    expect(ahead.status).toBe(200);
    expect(ahead.body).toEqual({ name: 'offline__echo', origin: 'offline', enabled: false, description: null, input_schema: null });
    const unknown = await api('PATCH', `/v1/deployments/${deployment.deployment_id}/tools/nope__echo`, { enabled: false });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({ type: 'not_found', param: 'tool_name' });
    expect(unknown.body.error.message).toContain('nope__echo');
  });

  it('reports rejected credentials as tool errors, and applies a changed secret to the next connection', async () => {
    const { deployment, stream } = await prismDeployment(['echo']);
    herm.model.enqueue({ toolCalls: [{ name: 'prism__echo', arguments: { text: 'before' } }] }, { text: 'ok' });
    const before = await run(deployment.deployment_id, stream);
    expect(before.events.find((event) => event.type === 'tool_result')!.data.is_error).toBe(false);

    const wrong = await api('POST', '/v1/secrets', { name: 'wrong-token', value: 'not-the-token-91c2' });
    expect((await api('PATCH', `/v1/deployments/${deployment.deployment_id}`, { secrets: { PRISM_TOKEN: wrong.body.secret_id } })).status).toBe(200);
    // The server refuses the new credential: the last list is still offered, and calling is a tool error.
    herm.model.enqueue({ toolCalls: [{ name: 'prism__echo', arguments: { text: 'after' } }] }, { text: 'refused' });
    const after = await run(deployment.deployment_id, stream);
    expect(after.run.status).toBe('completed');
    const refused = after.events.find((event) => event.type === 'tool_result')!;
    expect(refused.data).toMatchObject({ tool: 'prism__echo', origin: 'prism', is_error: true });
    expect(refused.data.result.error).toMatch(/rejected Herm's credentials \(HTTP 401\)/);
    expect(mcp.requests.some((headers) => headers.authorization === 'Bearer not-the-token-91c2')).toBe(true);
    expect(mcp.calls.some((call) => call.arguments.text === 'after')).toBe(false);
    // A deployment that never listed the server gets no tools from it, and the Tools API says why.
    const fresh = await deploy({ secrets: { PRISM_TOKEN: wrong.body.secret_id }, mcp_servers: [{ name: 'prism', url: mcp.url, headers: { Authorization: 'Bearer ${PRISM_TOKEN}' } }] });
    const tools = await api('GET', `/v1/deployments/${fresh.deployment.deployment_id}/tools`);
    expect(tools.body.unavailable_servers).toEqual([{ name: 'prism', error: expect.stringContaining('(HTTP 401)') }]);
    // Removing a secret the headers still use is refused, naming it.
    const dropped = await api('PATCH', `/v1/deployments/${deployment.deployment_id}`, { secrets: { PRISM_TOKEN: null } });
    expect(dropped.status).toBe(400);
    expect(dropped.body.error.param).toBe('secrets.PRISM_TOKEN');
  });

  it('saves large results and images in the workspace with a preview', async () => {
    const { deployment, stream } = await prismDeployment();
    herm.model.enqueue(
      { toolCalls: [{ name: 'prism__big', arguments: {} }] },
      { toolCalls: [{ name: 'prism__picture', arguments: {} }] },
      { toolCalls: [{ name: 'prism__whoami', arguments: {} }] },
      { text: 'Saved.' },
    );
    const { events } = await run(deployment.deployment_id, stream);
    const [big, picture, whoami] = events.filter((event) => event.type === 'tool_result');
    // A server echoing its credential back does not hand it to the agent.
    expect(whoami!.data.result.text).toContain('"authorization":"Bearer [redacted]"');
    expect(whoami!.data.result.text).toContain(`"herm-customer-id":"${deployment.customer_id}"`);
    expect(big!.data.is_error).toBe(false);
    expect(big!.data.result.text).toContain('characters omitted');
    expect(big!.data.result.text.startsWith('BEGIN')).toBe(true);
    const saved = await api('GET', `/v1/deployments/${deployment.deployment_id}/files/content?path=${encodeURIComponent(big!.data.result.text_file)}`);
    expect(saved.status).toBe(200);
    expect(String(saved.body)).toHaveLength(100_008);
    expect(picture!.data.result).toMatchObject({ text: 'a picture', files: [{ type: 'image', mime_type: 'image/png', path: expect.stringMatching(/\.png$/) }] });
    const image = await fetch(`${herm.url}/v1/deployments/${deployment.deployment_id}/files/content?path=${encodeURIComponent(picture!.data.result.files[0].path)}`, {
      headers: { authorization: `Bearer ${herm.adminKey}` },
    });
    expect(Buffer.from(await image.arrayBuffer()).subarray(1, 4).toString()).toBe('PNG');
  });

  it('lists tools, and a disabled tool is not offered to the next run', async () => {
    const { deployment, stream } = await prismDeployment(['echo', 'fail']);
    const listed = await api('GET', `/v1/deployments/${deployment.deployment_id}/tools`);
    expect(listed.status).toBe(200);
    expect(listed.body.unavailable_servers).toEqual([]);
    expect(listed.body.data.map((tool: any) => [tool.name, tool.origin, tool.enabled])).toEqual([
      ['shell', 'builtin', true],
      ['read_file', 'builtin', true],
      ['write_file', 'builtin', true],
      ['edit_file', 'builtin', true],
      ['ask_human', 'builtin', true],
      ['automations', 'builtin', true],
      ['prism__echo', 'prism', true],
      ['prism__fail', 'prism', true],
    ]);
    const echo = listed.body.data.find((tool: any) => tool.name === 'prism__echo');
    expect(echo).toMatchObject({ description: 'Echoes its text back.', input_schema: { type: 'object', properties: { text: { type: 'string' } } } });

    for (const name of ['shell', 'prism__echo']) {
      const patched = await api('PATCH', `/v1/deployments/${deployment.deployment_id}/tools/${name}`, { enabled: false });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({ name, enabled: false });
    }
    herm.model.enqueue({ text: 'ok' });
    await run(deployment.deployment_id, stream);
    const offered = herm.model.requests.at(-1)!.toolNames;
    expect(offered).not.toContain('shell');
    expect(offered).not.toContain('prism__echo');
    expect(offered).toContain('prism__fail');
    expect(herm.model.requests.at(-1)!.messages[0]!.text).not.toContain('shell');

    const back = await api('PATCH', `/v1/deployments/${deployment.deployment_id}/tools/shell`, { enabled: true });
    expect(back.body.enabled).toBe(true);
    const relisted = await api('GET', `/v1/deployments/${deployment.deployment_id}/tools`);
    expect(relisted.body.data.filter((tool: any) => !tool.enabled).map((tool: any) => tool.name)).toEqual(['prism__echo']);
    const bad = await api('PATCH', `/v1/deployments/${deployment.deployment_id}/tools/shell`, { enabled: 'no' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe('enabled');
    const missing = await api('PATCH', `/v1/deployments/${deployment.deployment_id}/tools/browser`, { enabled: false });
    expect(missing.status).toBe(404);
  });

  it('adds and removes a server through the API between two runs', async () => {
    const { deployment, stream } = await deploy({});
    const id = deployment.deployment_id;
    const secret = await api('POST', '/v1/secrets', { name: 'prism-token-2', value: TOKEN });
    await api('PATCH', `/v1/deployments/${id}`, { secrets: { PRISM_TOKEN: secret.body.secret_id } });
    const added = await api('POST', `/v1/deployments/${id}/mcp_servers`, {
      name: 'prism',
      url: mcp.url,
      headers: { Authorization: 'Bearer ${PRISM_TOKEN}' },
    });
    expect(added.status).toBe(201);
    expect(added.body).toEqual({ name: 'prism', url: mcp.url, headers: { Authorization: 'Bearer ${PRISM_TOKEN}' } });
    const duplicate = await api('POST', `/v1/deployments/${id}/mcp_servers`, { name: 'prism', url: mcp.url });
    expect(duplicate.status).toBe(400);
    expect(duplicate.body.error.param).toBe('name');
    const badRef = await api('POST', `/v1/deployments/${id}/mcp_servers`, { name: 'other', url: mcp.url, headers: { 'X-Key': '${NOPE}' } });
    expect(badRef.status).toBe(400);
    expect(badRef.body.error.param).toBe('headers.X-Key');

    herm.model.enqueue({ toolCalls: [{ name: 'prism__echo', arguments: { text: 'one' } }] }, { text: 'ok' });
    const first = await run(id, stream);
    expect(first.events.find((event) => event.type === 'tool_result')!.data).toMatchObject({ origin: 'prism', is_error: false });

    const patched = await api('PATCH', `/v1/deployments/${id}/mcp_servers/prism`, { tools: ['fail'] });
    expect(patched.status).toBe(200);
    expect(patched.body.tools).toEqual(['fail']);
    herm.model.enqueue({ text: 'ok' });
    await run(id, stream);
    expect(herm.model.requests.at(-1)!.toolNames.filter((name) => name.startsWith('prism__'))).toEqual(['prism__fail']);

    const removed = await api('DELETE', `/v1/deployments/${id}/mcp_servers/prism`);
    expect(removed.status).toBe(200);
    expect(removed.body).toEqual({ name: 'prism', deleted: true });
    expect((await api('GET', `/v1/deployments/${id}/mcp_servers`)).body).toEqual({ data: [] });
    expect((await api('DELETE', `/v1/deployments/${id}/mcp_servers/prism`)).status).toBe(404);
    herm.model.enqueue({ text: 'no tools' });
    await run(id, stream);
    expect(herm.model.requests.at(-1)!.toolNames.some((name) => name.startsWith('prism__'))).toBe(false);
  });

  it('keeps every one of concurrent changes to the MCP servers and tools', async () => {
    const { deployment } = await deploy({});
    const id = deployment.deployment_id;
    const added = await Promise.all(
      Array.from({ length: 8 }, (_, index) => api('POST', `/v1/deployments/${id}/mcp_servers`, { name: `s${index}`, url: `https://mcp${index}.example.com/mcp` })),
    );
    expect(added.map((response) => response.status)).toEqual(Array(8).fill(201));
    const toggled = await Promise.all(['shell', 'read_file', 'write_file'].map((name) => api('PATCH', `/v1/deployments/${id}/tools/${name}`, { enabled: false })));
    expect(toggled.map((response) => response.status)).toEqual([200, 200, 200]);
    const listed = await api('GET', `/v1/deployments/${id}/mcp_servers`);
    expect(listed.body.data.map((server: any) => server.name).sort()).toEqual(['s0', 's1', 's2', 's3', 's4', 's5', 's6', 's7']);
    const shown = await api('GET', `/v1/deployments/${id}`);
    expect(shown.body.mcp_servers).toHaveLength(8);
    const tools = await api('GET', `/v1/deployments/${id}/tools`);
    expect(tools.body.data.filter((tool: any) => !tool.enabled).map((tool: any) => tool.name)).toEqual(['shell', 'read_file', 'write_file']);
  });

  it('lists tools again when the server announces tools/list_changed', async () => {
    const { deployment, stream } = await prismDeployment();
    herm.model.enqueue({ text: 'first' });
    await run(deployment.deployment_id, stream);
    expect(herm.model.requests.at(-1)!.toolNames).not.toContain('prism__fresh');
    // The list is cached: another look lists nothing again.
    const listings = mcp.methods.filter((method) => method === 'tools/list').length;
    await api('GET', `/v1/deployments/${deployment.deployment_id}/tools`);
    expect(mcp.methods.filter((method) => method === 'tools/list').length).toBe(listings);
    mcp.addTool('fresh', 'A tool added while the connection was open.');
    // The notification travels on the connection's SSE stream; the Tools API shows the new list once it arrived.
    const deadline = Date.now() + 5_000;
    let names: string[] = [];
    while (Date.now() < deadline) {
      names = (await api('GET', `/v1/deployments/${deployment.deployment_id}/tools`)).body.data.map((tool: any) => tool.name);
      if (names.includes('prism__fresh')) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(names).toContain('prism__fresh');
    herm.model.enqueue({ text: 'second' });
    await run(deployment.deployment_id, stream);
    expect(herm.model.requests.at(-1)!.toolNames).toContain('prism__fresh');
  });

  it('works through the SDK: herm.tools.list|update and herm.mcpServers', async () => {
    const client = new Herm({ apiKey: herm.adminKey, baseURL: herm.url });
    const { deployment, stream } = await deploy({});
    const id = deployment.deployment_id;
    const added = await client.mcpServers.add(id, { name: 'prism', url: mcp.url, tools: ['echo'] });
    expect(added).toEqual({ name: 'prism', url: mcp.url, tools: ['echo'] });
    // Without the credential the server refuses; with it (a header referencing a secret) the tools appear.
    const secret = await client.secrets.create({ name: 'sdk-prism-token', value: TOKEN });
    await client.deployments.update(id, { secrets: { PRISM_TOKEN: secret.secret_id } });
    await client.mcpServers.update(id, 'prism', { headers: { Authorization: 'Bearer ${PRISM_TOKEN}' } });
    const { data } = await client.tools.list(id);
    expect(data.map((tool) => `${tool.name} (${tool.origin}): ${tool.enabled}`)).toContain('prism__echo (prism): true');
    const disabled = await client.tools.update(id, 'prism__echo', { enabled: false });
    expect(disabled).toMatchObject({ name: 'prism__echo', origin: 'prism', enabled: false });
    await expect(client.tools.update(id, 'browser', { enabled: false })).rejects.toBeInstanceOf(NotFoundError);
    herm.model.enqueue({ text: 'ok' });
    await run(id, stream);
    expect(herm.model.requests.at(-1)!.toolNames).not.toContain('prism__echo');
    expect((await client.mcpServers.list(id)).data.map((server) => server.name)).toEqual(['prism']);
    expect(await client.mcpServers.remove(id, 'prism')).toEqual({ name: 'prism', deleted: true });
    // Removing the server forgot its tools' settings.
    expect((await client.tools.list(id)).data.every((tool) => tool.enabled)).toBe(true);
  });

  it('works with a stateless Streamable HTTP server', async () => {
    const stateless = await startMcpTestServer({ transport: 'stateless' });
    try {
      const { deployment, stream } = await deploy({ mcp_servers: [{ name: 'plain', url: stateless.url, tools: ['echo'] }] });
      herm.model.enqueue({ toolCalls: [{ name: 'plain__echo', arguments: { text: 'no session' } }] }, { text: 'ok' });
      const { run: finished, events } = await run(deployment.deployment_id, stream);
      expect(finished.status).toBe('completed');
      expect(events.find((event) => event.type === 'tool_result')!.data).toMatchObject({ origin: 'plain', is_error: false, result: { text: 'echo: no session' } });
      expect(stateless.calls[0]!.meta).toMatchObject({ 'herm/customer_id': deployment.customer_id });
    } finally {
      await stateless.close();
    }
  });

  it('falls back to the HTTP+SSE transport for an old server', async () => {
    const legacy = await startMcpTestServer({ transport: 'sse' });
    try {
      const { deployment, stream } = await deploy({ mcp_servers: [{ name: 'legacy', url: legacy.url }] });
      herm.model.enqueue({ toolCalls: [{ name: 'legacy__echo', arguments: { text: 'old' } }] }, { text: 'ok' });
      const { run: finished, events } = await run(deployment.deployment_id, stream);
      expect(finished.status).toBe('completed');
      expect(events.find((event) => event.type === 'tool_result')!.data).toMatchObject({ origin: 'legacy', is_error: false, result: { text: 'echo: old' } });
      expect(legacy.calls[0]!.meta).toMatchObject({ 'herm/customer_id': deployment.customer_id });
      // Its answers come on the SSE stream: a server dying mid-call breaks that stream, and the call ends at once.
      herm.model.enqueue({ toolCalls: [{ name: 'legacy__hang', arguments: {} }] }, { text: 'gone' });
      const pending = run(deployment.deployment_id, stream);
      await legacy.hanging();
      await legacy.kill();
      const { run: afterKill, events: killEvents } = await pending;
      expect(afterKill.status).toBe('completed');
      expect(killEvents.find((event) => event.type === 'tool_result')!.data).toMatchObject({
        tool: 'legacy__hang',
        is_error: true,
        result: { error: 'the connection to MCP server "legacy" was lost before it answered' },
      });
    } finally {
      await legacy.close();
    }
  });

  it('refuses more than 20 servers, duplicate names and references to unknown secrets', async () => {
    const servers = Array.from({ length: 21 }, (_, index) => ({ name: `s${index}`, url: `https://mcp${index}.example.com/mcp` }));
    const create = (body: Record<string, unknown>) =>
      api('POST', '/v1/deployments', { customer_id: 'cus_limits', name: 'x', system_prompt: 'x', model: 'openai-compatible/scripted-model', ...body });
    const tooMany = await create({ mcp_servers: servers });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error).toMatchObject({ type: 'validation_error', param: 'mcp_servers' });
    const duplicate = await create({ mcp_servers: [servers[0], { ...servers[1], name: 's0' }] });
    expect(duplicate.status).toBe(400);
    expect(duplicate.body.error.param).toBe('mcp_servers.1.name');
    const unknownSecret = await create({ mcp_servers: [{ ...servers[0], headers: { Authorization: 'Bearer ${MISSING}' } }] });
    expect(unknownSecret.status).toBe(400);
    expect(unknownSecret.body.error.param).toBe('mcp_servers.0.headers.Authorization');
    const reserved = await create({ mcp_servers: [{ ...servers[0], headers: { 'Herm-Customer-Id': 'cus_other' } }] });
    expect(reserved.status).toBe(400);
    expect(reserved.body.error.param).toBe('mcp_servers.0.headers.Herm-Customer-Id');

    const injected = await create({ mcp_servers: [{ ...servers[0], headers: { 'X-A': 'one\r\nX-B: two' } }] });
    expect(injected.status).toBe(400);
    expect(injected.body.error.param).toBe('mcp_servers.0.headers.X-A');
    const badName = await create({ mcp_servers: [{ ...servers[0], headers: { 'Bad Header': 'x' } }] });
    expect(badName.status).toBe(400);
    expect(badName.body.error.param).toMatch(/^mcp_servers\.0\.headers/);

    const { deployment } = await deploy({ mcp_servers: servers.slice(0, 20) });
    const twentyFirst = await api('POST', `/v1/deployments/${deployment.deployment_id}/mcp_servers`, servers[20]);
    expect(twentyFirst.status).toBe(400);
    expect(twentyFirst.body.error.param).toBe('mcp_servers');
  });

  it('never shows the credential: not in events, logs, API responses or model requests', () => {
    const everything = [
      ...streams.flatMap((stream) => stream.events.map((event) => JSON.stringify(event))),
      logs.text(),
      ...responses,
      JSON.stringify(herm.model.requests),
    ].join('\n');
    expect(everything.length).toBeGreaterThan(10_000);
    expect(everything).toContain('${PRISM_TOKEN}');
    expect(everything).not.toContain(TOKEN);
  });
});

const postgres = await postgresBaseUrl();

describe.skipIf(!postgres)('MCP servers API on PostgreSQL', () => {
  let database: TestDatabase;
  let herm: TestServer;

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    herm = await startTestServer({ dataDir: database.dataDir, databaseUrl: database.databaseUrl });
  });

  afterAll(async () => {
    await herm?.close();
    await database?.drop();
  });

  it('keeps every one of concurrent adds and removes (compare-and-set on the stored columns)', async () => {
    const deployment = await herm.createDeployment({ mcp_servers: [{ name: 'keep', url: 'https://keep.example.com/mcp' }] });
    const id = deployment.deployment_id;
    const writes = await Promise.all([
      ...Array.from({ length: 6 }, (_, index) => herm.request('POST', `/v1/deployments/${id}/mcp_servers`, { name: `s${index}`, url: `https://mcp${index}.example.com/mcp` })),
      herm.request('PATCH', `/v1/deployments/${id}/mcp_servers/keep`, { tools: ['a'] }),
    ]);
    expect(writes.map((response) => response.status)).toEqual([201, 201, 201, 201, 201, 201, 200]);
    const removed = await Promise.all(['s0', 's1'].map((name) => herm.request('DELETE', `/v1/deployments/${id}/mcp_servers/${name}`)));
    expect(removed.map((response) => response.status)).toEqual([200, 200]);
    const listed = await herm.request('GET', `/v1/deployments/${id}/mcp_servers`);
    expect(listed.body.data.find((server: any) => server.name === 'keep').tools).toEqual(['a']);
    expect(listed.body.data.map((server: any) => server.name).sort()).toEqual(['keep', 's2', 's3', 's4', 's5']);
  });
});
