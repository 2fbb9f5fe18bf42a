import type { RequestOptions } from '../core/request-options.ts';
import { APIResource, segment } from '../core/resource.ts';
import type { McpServer } from './deployments/deployments.ts';

/** A tool of a deployment: a built-in, or one of an MCP server's. */
export interface Tool {
  /** The name the model calls it by: a built-in name (`shell`), or `<server name>__<tool name>` for an MCP tool. */
  name: string;
  /** `"builtin"`, or the name of the MCP server the tool comes from. */
  origin: string;
  /** A disabled tool is not offered to the model at all. */
  enabled: boolean;
  /** `null` only in an update's answer for a tool of a server that could not be listed. */
  description: string | null;
  /** JSON Schema of the tool's input; `null` as for `description`. */
  input_schema: Record<string, unknown> | null;
}

export interface ToolList {
  data: Tool[];
  /** Declared MCP servers whose tools could not be listed (and had no earlier list): their tools are missing from `data`. */
  unavailable_servers: Array<{ name: string; error: string }>;
}

export interface ToolUpdateParams {
  enabled: boolean;
}

/** Built-in and MCP tools of a deployment: `herm.tools`. */
export class Tools extends APIResource {
  /**
   * Every tool of the deployment, enabled or not.
   *
   * @example
   * const { data } = await herm.tools.list('dep_7xK9s2');
   * for (const tool of data) console.log(`${tool.name} (${tool.origin}): ${tool.enabled}`);
   */
  list(deploymentId: string, options?: RequestOptions): Promise<ToolList> {
    return this._client.get<ToolList>(`/deployments/${segment(deploymentId)}/tools`, options);
  }

  /**
   * Enables or disables a tool from the next run on; a disabled tool is invisible to the agent.
   *
   * @example
   * await herm.tools.update('dep_7xK9s2', 'browser', { enabled: false });
   */
  update(deploymentId: string, toolName: string, body: ToolUpdateParams, options?: RequestOptions): Promise<Tool> {
    return this._client.patch<Tool>(`/deployments/${segment(deploymentId)}/tools/${segment(toolName)}`, { ...options, body });
  }
}

export interface McpServerUpdateParams {
  url?: string;
  /** Replaces the allowlist; `null` exposes every tool of the server. */
  tools?: string[] | null;
  /** Replaces the headers; `null` removes them. Values may reference the deployment's secrets as `${NAME}`. */
  headers?: Record<string, string> | null;
}

export interface McpServerList {
  data: McpServer[];
}

export interface McpServerDeleteResponse {
  name: string;
  deleted: true;
}

/** A live deployment's MCP servers, one at a time: `herm.mcpServers`. Changes apply to its next run. */
export class McpServers extends APIResource {
  /**
   * @example
   * const { data } = await herm.mcpServers.list('dep_7xK9s2');
   */
  list(deploymentId: string, options?: RequestOptions): Promise<McpServerList> {
    return this._client.get<McpServerList>(`/deployments/${segment(deploymentId)}/mcp_servers`, options);
  }

  /**
   * Adds a server (at most 20 per deployment, unique names).
   *
   * @example
   * await herm.mcpServers.add('dep_7xK9s2', {
   *   name: 'prism-media',
   *   url: 'https://api.prismvideos.com/mcp',
   *   headers: { Authorization: 'Bearer ${PRISM_MEDIA_TOKEN}' },
   * });
   */
  add(deploymentId: string, body: McpServer, options?: RequestOptions): Promise<McpServer> {
    return this._client.post<McpServer>(`/deployments/${segment(deploymentId)}/mcp_servers`, { ...options, body });
  }

  /**
   * @example
   * await herm.mcpServers.update('dep_7xK9s2', 'prism-media', { tools: ['search_models'] });
   */
  update(deploymentId: string, name: string, body: McpServerUpdateParams, options?: RequestOptions): Promise<McpServer> {
    return this._client.patch<McpServer>(`/deployments/${segment(deploymentId)}/mcp_servers/${segment(name)}`, { ...options, body });
  }

  /**
   * @example
   * await herm.mcpServers.remove('dep_7xK9s2', 'prism-media');
   */
  remove(deploymentId: string, name: string, options?: RequestOptions): Promise<McpServerDeleteResponse> {
    return this._client.delete<McpServerDeleteResponse>(`/deployments/${segment(deploymentId)}/mcp_servers/${segment(name)}`, options);
  }
}
