// The names the model sees for MCP tools: `<server name>__<tool name>`. Model providers accept tool names
// matching ^[a-zA-Z0-9_-]{1,64}$, so the name is made to fit, deterministically:
//   1. every character outside [a-zA-Z0-9_-] becomes "_" ("prism.media" → "prism_media");
//   2. a name longer than 64 characters keeps its first 55 and gets "_" and 8 hex digits of the SHA-256 of
//      the unsanitised `<server>__<tool>`, so two long names differing only at the end stay distinct.
// Built-in tool names never contain "__", so an MCP tool cannot shadow one. Tools whose fitted names collide
// within a deployment (e.g. "a.b" and "a_b") both take the hashed form.
import { createHash } from 'node:crypto';

export const MAX_TOOL_NAME_LENGTH = 64;
const SEPARATOR = '__';
const HASH_LENGTH = 8;

/** The model-facing name of `tool` of the MCP server `server` (see the top of this file). */
export function mcpToolName(server: string, tool: string, hashed = false): string {
  const raw = `${server}${SEPARATOR}${tool}`;
  const sanitized = raw.replace(/[^A-Za-z0-9_-]/g, '_');
  if (!hashed && sanitized.length <= MAX_TOOL_NAME_LENGTH) return sanitized;
  const hash = createHash('sha256').update(raw).digest('hex').slice(0, HASH_LENGTH);
  return `${sanitized.slice(0, MAX_TOOL_NAME_LENGTH - HASH_LENGTH - 1)}_${hash}`;
}

/**
 * Names for a deployment's MCP tools, keyed `<server>\u0000<tool>`: mcpToolName, with the hashed form for
 * those whose names would collide.
 */
export function mcpToolNames(tools: Array<{ server: string; tool: string }>): Map<string, string> {
  const counts = new Map<string, number>();
  for (const { server, tool } of tools) {
    const name = mcpToolName(server, tool);
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  const names = new Map<string, string>();
  for (const { server, tool } of tools) {
    const name = mcpToolName(server, tool);
    names.set(`${server}\u0000${tool}`, (counts.get(name) ?? 0) > 1 ? mcpToolName(server, tool, true) : name);
  }
  return names;
}

/** The start of the (unhashed) names of a server's tools, `<sanitised server>__`. */
export function mcpToolPrefix(server: string): string {
  return `${server.replace(/[^A-Za-z0-9_-]/g, '_')}${SEPARATOR}`;
}

/** Whether a tool name is an MCP tool's (built-in names have no "__"). */
export function isMcpToolName(name: string): boolean {
  return name.includes(SEPARATOR);
}
