// A deployment's tools: the built-ins minus its `disabled_tools`, plus the tools of its MCP servers (each
// server's `tools` allowlist applied, then `disabled_tools`). The one place that answers "which tools does this
// deployment have": for a run (what the model is offered) and for the Tools API (every tool, enabled or not).
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { AgentTool, JsonSchemaTool } from '../runtime/tools/agent-tool.ts';
import type { LargeOutputSettings } from '../runtime/tools/large-output.ts';
import type { BuiltinTool } from '../runtime/tools/tool.ts';
import type { DeploymentRecord, McpServerConfig } from '../store/deployments.ts';
import { McpError, type McpConnections } from './mcp-connections.ts';
import { mcpToolNames } from './mcp-tool-name.ts';
import { ASK_HUMAN_TOOL } from '../steering/ask-human-tool.ts';
import { toToolOutput } from './mcp-tool-result.ts';

/** A tool as the Tools API lists it. */
export interface ToolDescription {
  name: string;
  /** "builtin", or the MCP server's name. */
  origin: string;
  enabled: boolean;
  description: string;
  input_schema: Record<string, unknown>;
}

/** A declared MCP server whose tools could not be listed, and why. */
export interface UnavailableServer {
  name: string;
  error: string;
}

export interface RunToolset {
  tools: Record<string, AgentTool>;
  /** Servers left out of this run (their tools are missing); the system prompt says so. */
  unavailable: UnavailableServer[];
}

export interface DeploymentToolsetOptions {
  builtins: Record<string, BuiltinTool>;
  /**
   * Built-ins that depend on the deployment (the `automations` tool, offered with features.automations on):
   * listed, switched and offered like the others.
   */
  deploymentBuiltins?: (deployment: DeploymentRecord) => Record<string, BuiltinTool>;
  connections: McpConnections;
  largeOutput: LargeOutputSettings;
  /** How long the Tools API waits for a server's tool list (a run waits HERM_MCP_TIMEOUT_MS). */
  listTimeoutMs: number;
}

interface McpToolEntry {
  name: string;
  server: McpServerConfig;
  tool: Tool;
}

export class DeploymentToolset {
  readonly #options: DeploymentToolsetOptions;
  /** The built-ins' JSON schemas, computed once. */
  readonly #builtinSchemas = new Map<string, Record<string, unknown>>();

  constructor(options: DeploymentToolsetOptions) {
    this.#options = options;
  }

  get builtinNames(): string[] {
    return Object.keys(this.#options.builtins);
  }

  /** The tools a run of `deployment` offers the model: enabled ones only. */
  async forRun(deployment: DeploymentRecord, signal?: AbortSignal): Promise<RunToolset> {
    const disabled = new Set(deployment.disabled_tools);
    const tools: Record<string, AgentTool> = {};
    // ask_human is offered only while someone can be asked (features.steering).
    if (!deployment.features.steering) disabled.add(ASK_HUMAN_TOOL);
    for (const [name, tool] of Object.entries(this.#builtinsFor(deployment))) if (!disabled.has(name)) tools[name] = tool;
    const { entries, unavailable } = await this.#mcpTools(deployment, { signal });
    for (const entry of entries) if (!disabled.has(entry.name)) tools[entry.name] = this.#agentTool(deployment, entry);
    return { tools, unavailable };
  }

  /** Every tool of the deployment, enabled or not, as the Tools API shows it. */
  async describe(deployment: DeploymentRecord): Promise<{ tools: ToolDescription[]; unavailable: UnavailableServer[] }> {
    const disabled = new Set(deployment.disabled_tools);
    const tools: ToolDescription[] = Object.entries(this.#builtinsFor(deployment)).map(([name, tool]) => ({
      name,
      origin: 'builtin',
      // ask_human shows disabled while features.steering is off: it is not offered then.
      enabled: !disabled.has(name) && (name !== ASK_HUMAN_TOOL || deployment.features.steering),
      description: tool.description,
      input_schema: this.#builtinSchema(name, tool),
    }));
    const { entries, unavailable } = await this.#mcpTools(deployment, { timeoutMs: this.#options.listTimeoutMs });
    for (const entry of entries) {
      tools.push({
        name: entry.name,
        origin: entry.server.name,
        enabled: !disabled.has(entry.name),
        description: entry.tool.description ?? '',
        input_schema: inputSchema(entry.tool),
      });
    }
    return { tools, unavailable };
  }

  /** The MCP tools of the deployment's servers (allowlists applied), listed in parallel. */
  async #mcpTools(
    deployment: DeploymentRecord,
    options: { timeoutMs?: number; signal?: AbortSignal | undefined },
  ): Promise<{ entries: McpToolEntry[]; unavailable: UnavailableServer[] }> {
    const listed = await Promise.all(
      deployment.mcp_servers.map(async (server) => ({
        server,
        tools: await this.#options.connections.listTools(deployment, server, {
          ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
          ...(options.signal ? { signal: options.signal } : {}),
        }),
      })),
    );
    const unavailable: UnavailableServer[] = [];
    const found: Array<{ server: McpServerConfig; tool: Tool }> = [];
    for (const { server, tools } of listed) {
      if (!tools.ok) {
        unavailable.push({ name: server.name, error: tools.error });
        continue;
      }
      const allowed = server.tools ? new Set(server.tools) : undefined;
      for (const tool of tools.tools) if (!allowed || allowed.has(tool.name)) found.push({ server, tool });
    }
    const names = mcpToolNames(found.map(({ server, tool }) => ({ server: server.name, tool: tool.name })));
    return {
      entries: found.map(({ server, tool }) => ({ name: names.get(`${server.name}\u0000${tool.name}`)!, server, tool })),
      unavailable,
    };
  }

  #agentTool(deployment: DeploymentRecord, entry: McpToolEntry): JsonSchemaTool {
    const { connections, largeOutput } = this.#options;
    return {
      name: entry.name,
      origin: entry.server.name,
      description: entry.tool.description ?? entry.tool.title ?? `The "${entry.tool.name}" tool of the MCP server ${entry.server.name}.`,
      inputJsonSchema: inputSchema(entry.tool),
      async execute(input, context) {
        if (input === null || typeof input !== 'object' || Array.isArray(input)) {
          return { result: { error: 'Invalid arguments: expected a JSON object.' }, isError: true };
        }
        try {
          const result = await connections.callTool(deployment, entry.server, entry.tool.name, input as Record<string, unknown>, { signal: context.signal });
          return await toToolOutput(result, context, largeOutput);
        } catch (error) {
          if (error instanceof McpError) return { result: { error: error.message }, isError: true };
          throw error;
        }
      },
    };
  }

  #builtinsFor(deployment: DeploymentRecord): Record<string, BuiltinTool> {
    return this.#options.deploymentBuiltins ? { ...this.#options.builtins, ...this.#options.deploymentBuiltins(deployment) } : this.#options.builtins;
  }

  #builtinSchema(name: string, tool: BuiltinTool): Record<string, unknown> {
    let schema = this.#builtinSchemas.get(name);
    if (!schema) {
      schema = z.toJSONSchema(tool.inputSchema) as Record<string, unknown>;
      this.#builtinSchemas.set(name, schema);
    }
    return schema;
  }
}

/**
 * The tool's input schema as providers take it: an object schema with `properties` (some insist on them), without
 * the `$schema` dialect marker SDK-generated schemas carry.
 */
function inputSchema(tool: Tool): Record<string, unknown> {
  const { $schema: _dialect, ...schema } = tool.inputSchema as Record<string, unknown>;
  return { ...schema, type: 'object', properties: schema.properties ?? {} };
}
