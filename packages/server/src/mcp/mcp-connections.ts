// Connections to deployments' MCP servers, one per (deployment, server), and each server's tool list.
//
// - A connection is opened when a run (or the Tools API) first needs the server: Streamable HTTP, falling back
//   to the old HTTP+SSE transport when the server answers the Streamable HTTP handshake with 400, 404 or 405.
//   Its requests carry the declaration's headers, resolved from the deployment's secrets at connect time, and
//   `Herm-Customer-Id`; they go through the server's outbound policy (policy-fetch.ts).
// - A connection is identified by the server's URL, its resolved headers and the customer: a declaration that
//   changes them (or a rotated secret) gets a new connection and a fresh tool list (calls still running on the
//   old one finish there). An idle connection closes after 5 minutes; one the server closed is opened again when
//   next needed.
// - Tool lists are cached per (deployment, server) and listed again when the server announces
//   `notifications/tools/list_changed` or the connection's identity changes. When a server cannot be listed,
//   the last list of the same URL is used, if there is one.
// - Every failure (unreachable, 401/403, timeout, a connection lost mid-call) is an McpError saying what happened,
//   without headers or secrets; the caller turns it into a tool error.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { OutboundPolicy } from '../net/outbound-fetch.ts';
import type { DeploymentRecord, McpServerConfig } from '../store/deployments.ts';
import { CUSTOMER_ID_HEADER, referencedSecretNames, resolveHeaders } from './mcp-headers.ts';
import { policyFetch } from './policy-fetch.ts';

/** The `_meta` keys every tool call carries. */
export const META_CUSTOMER_ID = 'herm/customer_id';
export const META_DEPLOYMENT_ID = 'herm/deployment_id';

export interface McpConnectionsOptions {
  /** HERM_ALLOW_PRIVATE_URLS: what the connections may reach. */
  policy: OutboundPolicy;
  /** HERM_MCP_TIMEOUT_MS: connecting, listing and each tool call. */
  timeoutMs: number;
  /** A connection unused this long is closed. Default 5 minutes. */
  idleMs?: number;
  /** The values of the deployment's secrets map named `names` (decrypted). Throws McpError for a missing one. */
  secretValues: (deployment: DeploymentRecord, names: string[]) => Promise<Record<string, string>>;
  logger: Logger;
}

/** Why an MCP server could not be used, as the agent, the stream and the logs are told. */
export class McpError extends Error {
  readonly reason: 'unreachable' | 'unauthorized' | 'timeout' | 'protocol' | 'configuration' | 'cancelled';
  constructor(reason: McpError['reason'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'McpError';
    this.reason = reason;
  }
}

interface Connection {
  identity: string;
  client: Client;
  transport: 'streamable-http' | 'sse';
  closed: boolean;
  idleTimer?: NodeJS.Timeout | undefined;
  /** Calls in flight: an idle timer does not close a connection in use. */
  busy: number;
  /** The calls in flight, aborted when a response stream of the connection breaks (the server died). */
  calls: Set<AbortController>;
  /** Replaced or broken: no new call uses it, and it closes once its calls have ended. */
  retired?: boolean;
}

interface CachedList {
  url: string;
  identity: string;
  tools: Tool[];
  /** The count of the server's list_changed notifications when it was listed: a later one makes it stale. */
  generation: number;
  /** The connection it was listed on: while it stays open, its notifications keep the list current. */
  connection: Connection;
}

/** A server's tools as a run or the Tools API gets them. */
export type ServerTools =
  | { ok: true; tools: Tool[]; cached: boolean; error?: string | undefined }
  | { ok: false; error: string };

const DEFAULT_IDLE_MS = 5 * 60_000;

/**
 * The MCP SDK, loaded when a deployment first uses an MCP server rather than at start-up: a server whose
 * deployments use none does not pay its resident memory (as runtime/hermes.ts does with the AI SDK).
 */
let mcpSdk:
  | Promise<{
      Client: typeof import('@modelcontextprotocol/sdk/client/index.js').Client;
      SSEClientTransport: typeof import('@modelcontextprotocol/sdk/client/sse.js').SSEClientTransport;
      StreamableHTTPClientTransport: typeof import('@modelcontextprotocol/sdk/client/streamableHttp.js').StreamableHTTPClientTransport;
      StreamableHTTPError: typeof import('@modelcontextprotocol/sdk/client/streamableHttp.js').StreamableHTTPError;
      ToolListChangedNotificationSchema: typeof import('@modelcontextprotocol/sdk/types.js').ToolListChangedNotificationSchema;
    }>
  | undefined;

function loadMcpSdk(): NonNullable<typeof mcpSdk> {
  mcpSdk ??= Promise.all([
    import('@modelcontextprotocol/sdk/client/index.js'),
    import('@modelcontextprotocol/sdk/client/sse.js'),
    import('@modelcontextprotocol/sdk/client/streamableHttp.js'),
    import('@modelcontextprotocol/sdk/types.js'),
  ]).then(([client, sse, streamable, types]) => ({
    Client: client.Client,
    SSEClientTransport: sse.SSEClientTransport,
    StreamableHTTPClientTransport: streamable.StreamableHTTPClientTransport,
    StreamableHTTPError: streamable.StreamableHTTPError,
    ToolListChangedNotificationSchema: types.ToolListChangedNotificationSchema,
  }));
  return mcpSdk;
}
const CLIENT_INFO = { name: 'herm', version: '0.1.0' };

export class McpConnections {
  readonly #options: McpConnectionsOptions;
  readonly #connections = new Map<string, Connection>();
  readonly #connecting = new Map<string, Promise<Connection>>();
  readonly #lists = new Map<string, CachedList>();
  /** list_changed notifications received, per (deployment, server). */
  readonly #changes = new Map<string, number>();
  #closed = false;

  constructor(options: McpConnectionsOptions) {
    this.#options = options;
  }

  /**
   * The server's tools: the cached list while it is current, else listed now (at most `timeoutMs`, default
   * HERM_MCP_TIMEOUT_MS). When listing fails, the last list of the same URL (`cached: true` with the `error`),
   * else `ok: false`.
   */
  async listTools(deployment: DeploymentRecord, server: McpServerConfig, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<ServerTools> {
    const key = connectionKey(deployment.id, server.name);
    const timeoutMs = options.timeoutMs ?? this.#options.timeoutMs;
    const cached = this.#lists.get(key);
    let secrets: string[] = [];
    try {
      const { identity, headers, secrets: values } = await this.#identity(deployment, server);
      secrets = values;
      const live = this.#connections.get(key);
      if (cached && cached.identity === identity && cached.generation === (this.#changes.get(key) ?? 0) && live === cached.connection && !live.closed) {
        return { ok: true, tools: cached.tools, cached: true };
      }
      const connection = await this.#connection(key, identity, server, headers, timeoutMs, options.signal);
      connection.busy++;
      try {
        // Counted before listing: a list_changed arriving meanwhile leaves this list stale.
        const generation = this.#changes.get(key) ?? 0;
        const tools: Tool[] = [];
        let cursor: string | undefined;
        do {
          const page = await connection.client.listTools(cursor === undefined ? {} : { cursor }, requestOptions(timeoutMs, options.signal));
          tools.push(...page.tools);
          cursor = page.nextCursor;
        } while (cursor !== undefined && tools.length < 10_000);
        this.#lists.set(key, { url: server.url, identity, tools, generation, connection });
        return { ok: true, tools, cached: false };
      } finally {
        this.#release(key, connection);
      }
    } catch (error) {
      const failure = this.#describe(error, server, timeoutMs, options.signal, secrets);
      this.#options.logger.warn({ deploymentId: deployment.id, mcpServer: server.name, reason: failure.message }, 'could not list the tools of an MCP server');
      if (cached && cached.url === server.url) return { ok: true, tools: cached.tools, cached: true, error: failure.message };
      return { ok: false, error: failure.message };
    }
  }

  /**
   * Calls a tool with the deployment's customer_id and id in `_meta`. Throws McpError when the call could not be
   * made or did not answer in time; a tool's own error comes back as a result with `isError`.
   */
  async callTool(
    deployment: DeploymentRecord,
    server: McpServerConfig,
    tool: string,
    input: Record<string, unknown>,
    options: { signal?: AbortSignal } = {},
  ): Promise<CallToolResult> {
    const key = connectionKey(deployment.id, server.name);
    const timeoutMs = this.#options.timeoutMs;
    let secrets: string[] = [];
    let connection: Connection | undefined;
    try {
      const identified = await this.#identity(deployment, server);
      secrets = identified.secrets;
      connection = await this.#connection(key, identified.identity, server, identified.headers, timeoutMs, options.signal);
      connection.busy++;
      const call = new AbortController();
      connection.calls.add(call);
      const signal = options.signal ? AbortSignal.any([options.signal, call.signal]) : call.signal;
      try {
        const result = await connection.client.callTool(
          { name: tool, arguments: input, _meta: { [META_CUSTOMER_ID]: deployment.customer_id, [META_DEPLOYMENT_ID]: deployment.id } },
          undefined,
          requestOptions(timeoutMs, signal),
        );
        return scrubbed(result as CallToolResult, secrets);
      } catch (error) {
        if (call.signal.aborted && !options.signal?.aborted) throw call.signal.reason;
        throw error;
      } finally {
        connection.calls.delete(call);
        this.#release(key, connection);
      }
    } catch (error) {
      const failure = this.#describe(error, server, timeoutMs, options.signal, secrets);
      this.#options.logger.warn(
        { deploymentId: deployment.id, mcpServer: server.name, tool, reason: failure.message },
        'MCP tool call failed',
      );
      // A connection that failed under a call may be half-broken (the server restarted and lost its session): the
      // next call connects anew. A timeout or a cancellation leaves it as it is (the SDK cancels the request).
      if (connection && (failure.reason === 'unreachable' || failure.reason === 'unauthorized' || failure.reason === 'protocol')) this.#retire(key, connection);
      throw failure;
    }
  }

  /** Closes the deployment's connections and forgets its tool lists (the deployment was deleted). */
  async closeDeployment(deploymentId: string): Promise<void> {
    const prefix = `${deploymentId}\u0000`;
    for (const key of [...this.#connections.keys()]) if (key.startsWith(prefix)) await this.#drop(key);
    for (const key of [...this.#lists.keys()]) if (key.startsWith(prefix)) this.#lists.delete(key);
    for (const key of [...this.#changes.keys()]) if (key.startsWith(prefix)) this.#changes.delete(key);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#connections.keys()].map((key) => this.#drop(key)));
  }

  /** The connection's identity: the URL, the resolved headers and the customer, hashed (nothing secret is kept). */
  async #identity(deployment: DeploymentRecord, server: McpServerConfig): Promise<{ identity: string; headers: Record<string, string>; secrets: string[] }> {
    const names = referencedSecretNames(server.headers);
    const values = names.length > 0 ? await this.#options.secretValues(deployment, names) : {};
    const headers = { ...resolveHeaders(server.headers ?? {}, values), [CUSTOMER_ID_HEADER]: deployment.customer_id };
    const identity = createHash('sha256')
      .update(JSON.stringify([server.url, Object.entries(headers).sort(([a], [b]) => (a < b ? -1 : 1))]))
      .digest('hex');
    return { identity, headers, secrets: Object.values(values) };
  }

  async #connection(
    key: string,
    identity: string,
    server: McpServerConfig,
    headers: Record<string, string>,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<Connection> {
    if (this.#closed) throw new McpError('unreachable', 'the server is shutting down');
    const existing = this.#connections.get(key);
    if (existing && existing.identity === identity && !existing.closed) return existing;
    // Another declaration (or rotated secret) than the connection's: calls still running on it finish there.
    if (existing) this.#retire(key, existing);
    const pending = this.#connecting.get(key);
    if (pending) {
      const connection = await pending;
      if (connection.identity === identity && !connection.closed) return connection;
    }
    const connecting = this.#open(key, identity, server, headers, timeoutMs, signal).finally(() => this.#connecting.delete(key));
    this.#connecting.set(key, connecting);
    const connection = await connecting;
    const current = this.#connections.get(key);
    if (current && current !== connection) this.#retire(key, current);
    this.#connections.set(key, connection);
    return connection;
  }

  async #open(
    key: string,
    identity: string,
    server: McpServerConfig,
    headers: Record<string, string>,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<Connection> {
    const { Client, SSEClientTransport, StreamableHTTPClientTransport, StreamableHTTPError, ToolListChangedNotificationSchema } = await loadMcpSdk();
    const url = new URL(server.url);
    const requestInit: RequestInit = { headers };
    const attempt = async (kind: Connection['transport']): Promise<Connection> => {
      const client = new Client(CLIENT_INFO, { capabilities: {} });
      const calls = new Set<AbortController>();
      const fetch = policyFetch(this.#options.policy, {
        watch: kind === 'sse' ? 'all' : 'post',
        onBrokenResponse: () => {
          const lost = new McpError('unreachable', `the connection to MCP server "${server.name}" was lost before it answered`);
          for (const call of calls) call.abort(lost);
        },
      });
      const transport: Transport =
        kind === 'streamable-http'
          ? new StreamableHTTPClientTransport(url, { fetch, requestInit })
          : new SSEClientTransport(url, { fetch, requestInit, eventSourceInit: { fetch } });
      const connection: Connection = { identity, client, transport: kind, closed: false, busy: 0, calls };
      client.setNotificationHandler(ToolListChangedNotificationSchema, async () => {
        this.#changes.set(key, (this.#changes.get(key) ?? 0) + 1);
      });
      client.onclose = () => {
        connection.closed = true;
        if (this.#connections.get(key) === connection) this.#connections.delete(key);
      };
      // Transport errors (a dropped SSE stream…) surface through the requests they break.
      client.onerror = () => {};
      try {
        await client.connect(transport, requestOptions(timeoutMs, signal));
      } catch (error) {
        await client.close().catch(() => {});
        throw error;
      }
      return connection;
    };
    try {
      return await attempt('streamable-http');
    } catch (error) {
      // Servers from before Streamable HTTP answer its POST with 400, 404 or 405: try the HTTP+SSE transport.
      if (error instanceof StreamableHTTPError && [400, 404, 405].includes(error.code ?? 0)) {
        return attempt('sse');
      }
      throw error;
    }
  }

  #release(key: string, connection: Connection): void {
    connection.busy--;
    if (connection.busy > 0 || connection.closed) return;
    if (connection.retired) {
      void this.#closeConnection(connection);
      return;
    }
    if (connection.idleTimer) clearTimeout(connection.idleTimer);
    connection.idleTimer = setTimeout(() => {
      if (connection.busy > 0) return;
      if (this.#connections.get(key) === connection) this.#connections.delete(key);
      void this.#closeConnection(connection);
    }, this.#options.idleMs ?? DEFAULT_IDLE_MS);
    connection.idleTimer.unref();
  }

  async #drop(key: string): Promise<void> {
    const connection = this.#connections.get(key);
    if (!connection) return;
    this.#connections.delete(key);
    await this.#closeConnection(connection);
  }

  /** Takes the connection out of use: closed now when idle, else once its last call ends (#release). */
  #retire(key: string, connection: Connection): void {
    if (this.#connections.get(key) === connection) this.#connections.delete(key);
    connection.retired = true;
    if (connection.busy === 0) void this.#closeConnection(connection);
  }

  async #closeConnection(connection: Connection): Promise<void> {
    connection.closed = true;
    if (connection.idleTimer) clearTimeout(connection.idleTimer);
    await connection.client.close().catch(() => {});
  }

  /** An McpError for whatever went wrong, its message fit for the agent and the logs (no headers, no secrets). */
  #describe(error: unknown, server: McpServerConfig, timeoutMs: number, signal: AbortSignal | undefined, secrets: string[] = []): McpError {
    if (error instanceof McpError) return error;
    const where = `MCP server "${server.name}"`;
    if (signal?.aborted) return new McpError('cancelled', `the call to ${where} was cancelled`, { cause: error });
    const code = (error as { code?: unknown }).code;
    // A server may echo what it was sent: the credential never reaches the agent or the logs through it.
    const message = scrub(error instanceof Error ? error.message : String(error), secrets);
    // The transports' HTTP errors (StreamableHTTPError, SseError) carry the status as `code`.
    if (code === 401 || code === 403 || error?.constructor?.name === 'UnauthorizedError') {
      return new McpError('unauthorized', `${where} rejected Herm's credentials (HTTP ${code === 403 ? 403 : 401}); check the headers of its declaration and the secrets they name`, { cause: error });
    }
    if (typeof code === 'number' && code >= 300 && code < 600) {
      return new McpError('protocol', `${where} at ${server.url} answered HTTP ${code}: is it an MCP endpoint (Streamable HTTP or HTTP+SSE)?`, { cause: error });
    }
    // The SDK's request timeout is McpError code -32001 (RequestTimeout).
    if (code === -32001 || /timed out/i.test(message)) {
      return new McpError('timeout', `${where} did not answer within ${timeoutMs} ms (HERM_MCP_TIMEOUT_MS)`, { cause: error });
    }
    if (code === -32000 || /connection closed/i.test(message)) {
      return new McpError('unreachable', `the connection to ${where} was lost before it answered`, { cause: error });
    }
    if (/^Streamable HTTP error|fetch|ECONNREFUSED|ECONNRESET|ENOTFOUND|socket|internal address|SSE error/i.test(message) || error instanceof TypeError) {
      return new McpError('unreachable', `${where} at ${server.url} could not be reached`, { cause: error });
    }
    return new McpError('protocol', `${where} failed: ${message}`, { cause: error });
  }
}

/** `text` with every occurrence of a secret value replaced. */
function scrub(text: string, secrets: string[]): string {
  let result = text;
  for (const secret of secrets) if (secret.length > 0) result = result.replaceAll(secret, '[redacted]');
  return result;
}

/** A tool result with every occurrence of a secret value replaced (a server echoing its credential back). */
function scrubbed(result: CallToolResult, secrets: string[]): CallToolResult {
  if (!secrets.some((secret) => secret.length > 0)) return result;
  let json = JSON.stringify(result);
  for (const secret of secrets) if (secret.length > 0) json = json.replaceAll(JSON.stringify(secret).slice(1, -1), '[redacted]');
  return JSON.parse(json) as CallToolResult;
}

function connectionKey(deploymentId: string, serverName: string): string {
  return `${deploymentId}\u0000${serverName}`;
}

function requestOptions(timeoutMs: number, signal: AbortSignal | undefined): { timeout: number; signal?: AbortSignal } {
  return signal ? { timeout: timeoutMs, signal } : { timeout: timeoutMs };
}
