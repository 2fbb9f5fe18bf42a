// The tools of a run: the built-ins (zod-schema'd, run in the sandbox) and tools that come with a JSON schema
// of their own (an MCP server's), passed to the model as they are and validated by whoever runs them.
import type { BuiltinTool, ToolContext, ToolOutput } from './tool.ts';

export interface JsonSchemaTool {
  name: string;
  description: string;
  /** Where the tool comes from, as tool_call / tool_result events show it: the MCP server's name. */
  origin: string;
  /** The JSON schema (an object schema) the model fills in. */
  inputJsonSchema: Record<string, unknown>;
  execute(input: unknown, context: ToolContext): Promise<ToolOutput>;
}

export type AgentTool = BuiltinTool | JsonSchemaTool;

export function isJsonSchemaTool(tool: AgentTool): tool is JsonSchemaTool {
  return 'inputJsonSchema' in tool;
}

/** `builtin` for the built-ins, the MCP server's name for its tools. */
export function toolOrigin(tool: AgentTool): string {
  return isJsonSchemaTool(tool) ? tool.origin : 'builtin';
}
