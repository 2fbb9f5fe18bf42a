// A deployment's steering policy: which tool calls wait for a human before they run. Per tool name (built-ins, and
// MCP tools by their `<server>__<tool>` name), per MCP server (every tool of it, by its origin), and for `shell` per
// command pattern; each `always_allow` or `always_ask`. The agent's own ask tool (ask-human-tool.ts) always asks.

/** What a rule says: run the call, or wait for a human's answer first. */
export type SteeringPermission = 'always_allow' | 'always_ask';

export interface ShellCommandRule {
  /**
   * A glob matched against the whole command line (leading and trailing white space ignored, case-sensitive): `*`
   * matches any run of characters (spaces and `/` included), `?` any one character; every other character is itself.
   */
  pattern: string;
  policy: SteeringPermission;
}

export interface SteeringPolicy {
  /** By the name the model calls the tool: `shell`, `write_file`, `github__create_issue`. */
  tools: Record<string, SteeringPermission>;
  /** Every tool of the MCP server of that name (its tool_call events' `origin`). */
  mcp_servers: Record<string, SteeringPermission>;
  /** `shell` calls by command line; the first pattern that matches decides. */
  shell_commands: ShellCommandRule[];
  /** Calls no rule names. */
  default: SteeringPermission;
  /** How long a request waits for an answer before it resolves as denied; null: the server's HERM_STEERING_EXPIRES_SECONDS. */
  expires_after_seconds: number | null;
}

export const DEFAULT_STEERING_POLICY: SteeringPolicy = {
  tools: {},
  mcp_servers: {},
  shell_commands: [],
  default: 'always_allow',
  expires_after_seconds: null,
};

/** The longest a request may wait: 30 days. */
export const MAX_STEERING_EXPIRY_SECONDS = 30 * 24 * 3600;

/** A stored policy (the deployments.steering column; NULL for deployments created before steering), complete. */
export function parseSteeringPolicy(column: string | null | undefined): SteeringPolicy {
  if (!column) return DEFAULT_STEERING_POLICY;
  return { ...DEFAULT_STEERING_POLICY, ...(JSON.parse(column) as Partial<SteeringPolicy>) };
}

const globCache = new Map<string, RegExp>();

/** The glob of a shell_commands rule as a regular expression over the whole (trimmed) command line. */
export function globToRegExp(pattern: string): RegExp {
  let compiled = globCache.get(pattern);
  if (!compiled) {
    let source = '';
    for (const character of pattern) {
      if (character === '*') source += '[\\s\\S]*';
      else if (character === '?') source += '[\\s\\S]';
      else source += character.replace(/[.+^${}()|[\]\\/-]/g, '\\$&');
    }
    compiled = new RegExp(`^${source}$`, 'u');
    if (globCache.size > 1000) globCache.clear();
    globCache.set(pattern, compiled);
  }
  return compiled;
}

/** A tool call as the policy judges it. */
export interface PolicyCall {
  tool: string;
  /** "builtin" or the MCP server's name. */
  origin: string;
  input: unknown;
}

/** Whether the call waits for a human: shell patterns first (for `shell`), then the tool's name, its server, the default. */
export function permissionFor(policy: SteeringPolicy, call: PolicyCall): SteeringPermission {
  if (call.tool === 'shell' && call.origin === 'builtin' && policy.shell_commands.length > 0) {
    const command = (call.input as { command?: unknown } | null)?.command;
    if (typeof command === 'string') {
      const line = command.trim();
      for (const rule of policy.shell_commands) if (globToRegExp(rule.pattern).test(line)) return rule.policy;
    }
  }
  const byName = policy.tools[call.tool];
  if (byName) return byName;
  if (call.origin !== 'builtin') {
    const byServer = policy.mcp_servers[call.origin];
    if (byServer) return byServer;
  }
  return policy.default;
}

/** The summary of a request for a tool call: what is about to happen, in a line a person reads. */
export function summarizeCall(call: PolicyCall): string {
  const command = (call.input as { command?: unknown } | null)?.command;
  if (call.tool === 'shell' && call.origin === 'builtin' && typeof command === 'string') {
    return `Run the shell command: ${truncate(command.trim(), 400)}`;
  }
  const where = call.origin === 'builtin' ? '' : ` (MCP server ${call.origin})`;
  return `Call the tool ${call.tool}${where} with ${truncate(JSON.stringify(call.input ?? {}), 400)}`;
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The answers a request offers (approve is valid for every request; reply carries a person's words). */
export const TOOL_REQUEST_OPTIONS = ['approve', 'deny', 'reply'] as const;

/** Default HERM_STEERING_EXPIRES_SECONDS: a day. */
export const DEFAULT_STEERING_EXPIRES_SECONDS = 86_400;

/** A policy as a create or update gives it (validated by the API's schema): absent fields take their defaults. */
export type SteeringPolicyInput = Partial<{ [Key in keyof SteeringPolicy]: SteeringPolicy[Key] | null }>;

/** The complete policy of an input; null or absent: the default. */
export function steeringPolicyFrom(input: SteeringPolicyInput | null | undefined): SteeringPolicy {
  if (!input) return DEFAULT_STEERING_POLICY;
  return {
    tools: input.tools ?? {},
    mcp_servers: input.mcp_servers ?? {},
    shell_commands: input.shell_commands ?? [],
    default: input.default ?? 'always_allow',
    expires_after_seconds: input.expires_after_seconds ?? null,
  };
}
