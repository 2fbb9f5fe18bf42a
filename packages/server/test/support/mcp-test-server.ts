// A real MCP server for tests, built with the official SDK's server classes (McpServer) on a loopback HTTP
// server: Streamable HTTP (stateful sessions, so it can announce tools/list_changed), or the old HTTP+SSE
// transport (`transport: 'sse'`) to exercise the client's fallback. It records what it receives (headers of every
// HTTP request, each tool call's arguments and _meta) and offers tools for the failure cases: one that errors,
// one slower than any test timeout, one that answers with a lot of text, one with an image.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

export interface RecordedCall {
  tool: string;
  arguments: Record<string, unknown>;
  meta: Record<string, unknown> | undefined;
}

export interface McpTestServer {
  /** The MCP endpoint, e.g. http://127.0.0.1:1234/mcp */
  url: string;
  /** Headers of every HTTP request received, lower-cased names. */
  readonly requests: Array<Record<string, string | string[] | undefined>>;
  readonly calls: RecordedCall[];
  /** The JSON-RPC method of every message posted to the server, e.g. "tools/list". */
  readonly methods: string[];
  /** Registers another tool on every session: each announces tools/list_changed. */
  addTool(name: string, description: string): void;
  /** Resolves when a call to `hang` has started. */
  hanging(): Promise<void>;
  /** Cuts every connection and stops listening, as a crashed server would. */
  kill(): Promise<void>;
  close(): Promise<void>;
}

export interface McpTestServerOptions {
  /** `Authorization` value required on every request (401 otherwise). */
  requireAuthorization?: string;
  /** `stateless`: Streamable HTTP without sessions (a new server per request, no GET stream, no notifications). */
  transport?: 'streamable-http' | 'stateless' | 'sse';
}

export async function startMcpTestServer(options: McpTestServerOptions = {}): Promise<McpTestServer> {
  const requests: McpTestServer['requests'] = [];
  const calls: RecordedCall[] = [];
  const methods: string[] = [];
  const servers = new Set<McpServer>();
  const extraTools: Array<{ name: string; description: string }> = [];
  let hangStarted: () => void = () => {};
  const hangPromise = new Promise<void>((resolve) => (hangStarted = resolve));

  const build = (): McpServer => {
    const server = new McpServer({ name: 'herm-test-mcp', version: '1.0.0' }, { capabilities: { tools: { listChanged: true } } });
    const record = (tool: string, args: Record<string, unknown>, extra: { _meta?: Record<string, unknown> | undefined }) =>
      calls.push({ tool, arguments: args, meta: extra._meta });
    server.registerTool(
      'echo',
      { description: 'Echoes its text back.', inputSchema: { text: z.string().describe('What to echo') } },
      async (args, extra) => {
        record('echo', args, extra);
        return { content: [{ type: 'text', text: `echo: ${args.text}` }], structuredContent: undefined };
      },
    );
    server.registerTool('fail', { description: 'Always fails.', inputSchema: { reason: z.string() } }, async (args, extra) => {
      record('fail', args, extra);
      return { content: [{ type: 'text', text: `failed because ${args.reason}` }], isError: true };
    });
    server.registerTool('slow', { description: 'Takes 20 seconds.', inputSchema: {} }, async (args, extra) => {
      record('slow', args, extra);
      await new Promise((resolve) => setTimeout(resolve, 20_000).unref());
      return { content: [{ type: 'text', text: 'finally' }] };
    });
    server.registerTool('hang', { description: 'Never answers.', inputSchema: {} }, async (args, extra) => {
      record('hang', args, extra);
      hangStarted();
      return new Promise(() => {});
    });
    server.registerTool('big', { description: 'Answers with 100,000 characters.', inputSchema: {} }, async (args, extra) => {
      record('big', args, extra);
      return { content: [{ type: 'text', text: `BEGIN${'x'.repeat(100_000)}END` }] };
    });
    server.registerTool('picture', { description: 'Answers with a PNG image.', inputSchema: {} }, async (args, extra) => {
      record('picture', args, extra);
      return { content: [{ type: 'text', text: 'a picture' }, { type: 'image', data: ONE_PIXEL_PNG, mimeType: 'image/png' }] };
    });
    server.registerTool('whoami', { description: 'Answers with the headers of the request, as a careless server might.', inputSchema: {} }, async (args, extra) => {
      record('whoami', args, extra);
      return { content: [{ type: 'text', text: JSON.stringify(extra.requestInfo?.headers ?? {}) }] };
    });
    for (const tool of extraTools) registerExtra(server, tool);
    servers.add(server);
    return server;
  };
  const registerExtra = (server: McpServer, tool: { name: string; description: string }) => {
    server.registerTool(tool.name, { description: tool.description, inputSchema: {} }, async () => ({ content: [{ type: 'text', text: `${tool.name} done` }] }));
  };

  const streamable = new Map<string, StreamableHTTPServerTransport>();
  const sse = new Map<string, SSEServerTransport>();

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    requests.push({ ...request.headers });
    if (options.requireAuthorization !== undefined && request.headers.authorization !== options.requireAuthorization) {
      response.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'unauthorized' }));
      return;
    }
    const url = new URL(request.url ?? '/', 'http://localhost');
    let body: unknown;
    if (request.method === 'POST') {
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      body = JSON.parse(Buffer.concat(chunks).toString() || 'null');
      for (const message of Array.isArray(body) ? body : [body]) {
        if (message && typeof message === 'object' && 'method' in message) methods.push(String(message.method));
      }
    }
    if (options.transport === 'sse') {
      if (request.method === 'GET' && url.pathname === '/mcp') {
        const transport = new SSEServerTransport('/messages', response);
        sse.set(transport.sessionId, transport);
        response.on('close', () => sse.delete(transport.sessionId));
        await build().connect(transport);
        return;
      }
      if (request.method === 'POST' && url.pathname === '/messages') {
        const transport = sse.get(url.searchParams.get('sessionId') ?? '');
        if (!transport) return void response.writeHead(404).end();
        await transport.handlePostMessage(request, response, body);
        return;
      }
      // What an old server answers to the Streamable HTTP handshake.
      response.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (url.pathname !== '/mcp') return void response.writeHead(404).end();
    if (options.transport === 'stateless') {
      if (request.method !== 'POST') return void response.writeHead(405, { allow: 'POST' }).end();
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      const server = build();
      response.on('close', () => {
        void transport.close();
        void server.close();
        servers.delete(server);
      });
      await server.connect(transport);
      await transport.handleRequest(request, response, body);
      return;
    }
    const sessionId = request.headers['mcp-session-id'];
    let transport = typeof sessionId === 'string' ? streamable.get(sessionId) : undefined;
    if (!transport) {
      if (typeof sessionId === 'string') return void response.writeHead(404).end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }));
      const created: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => void streamable.set(id, created),
      });
      created.onclose = () => {
        if (created.sessionId) streamable.delete(created.sessionId);
      };
      await build().connect(created);
      transport = created;
    }
    await transport.handleRequest(request, response, body);
  };

  const http: Server = createServer((request, response) => {
    handle(request, response).catch(() => {
      if (!response.headersSent) response.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  let closed = false;
  const stop = async () => {
    if (closed) return;
    closed = true;
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
    await Promise.allSettled([...servers].map((server) => server.close()));
  };
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    requests,
    calls,
    methods,
    addTool(name, description) {
      const tool = { name, description };
      extraTools.push(tool);
      for (const server of servers) if (server.isConnected()) registerExtra(server, tool);
    },
    hanging: () => hangPromise,
    kill: stop,
    close: stop,
  };
}

const ONE_PIXEL_PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=';
