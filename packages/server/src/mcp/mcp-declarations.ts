// The rules of a deployment's `mcp_servers` declarations, checked at create, update and by the MCP servers API
// (connectivity is not: a server may be down when it is declared). Each failure is a 400 naming the field.
import { isIP } from 'node:net';
import { validationError, type ApiError } from '../api/api-error.ts';
import { isInternalAddress } from '../net/address-policy.ts';
import type { OutboundPolicy } from '../net/outbound-fetch.ts';
import type { McpServerConfig } from '../store/deployments.ts';
import { reservedHeaderReason, secretReferences } from './mcp-headers.ts';

export const MAX_MCP_SERVERS = 20;

/** Checks a whole `mcp_servers` array against the deployment's (new) `secrets` map. */
export function checkMcpServers(servers: McpServerConfig[], secrets: Record<string, string>, policy: OutboundPolicy): void {
  if (servers.length > MAX_MCP_SERVERS) {
    throw validationError('mcp_servers', `Invalid mcp_servers: a deployment has at most ${MAX_MCP_SERVERS} MCP servers; got ${servers.length}.`);
  }
  const seen = new Map<string, number>();
  servers.forEach((server, index) => {
    const earlier = seen.get(server.name);
    if (earlier !== undefined) {
      throw validationError(`mcp_servers.${index}.name`, `Invalid mcp_servers.${index}.name: duplicate name "${server.name}" (mcp_servers.${earlier} has it too).`);
    }
    seen.set(server.name, index);
    checkMcpServer(server, secrets, policy, `mcp_servers.${index}.`);
  });
}

/** Checks one declaration; `prefix` is how the request names it ("mcp_servers.3." or "" for the MCP servers API). */
export function checkMcpServer(server: McpServerConfig, secrets: Record<string, string>, policy: OutboundPolicy, prefix: string): void {
  const host = new URL(server.url).hostname.replace(/^\[(.*)\]$/, '$1');
  // A name is resolved (and checked) when the server connects; an internal IP literal can be refused now.
  if (policy.allowPrivate !== true && (host === 'localhost' || (isIP(host) !== 0 && isInternalAddress(host)))) {
    throw validationError(
      `${prefix}url`,
      `Invalid ${prefix}url: ${host} is an internal address, which MCP servers may not use on this server (HERM_ALLOW_PRIVATE_URLS is false).`,
    );
  }
  for (const [name, value] of Object.entries(server.headers ?? {})) {
    const param = `${prefix}headers.${name}`;
    const reserved = reservedHeaderReason(name);
    if (reserved) throw validationError(param, `Invalid ${param}: ${reserved}.`);
    for (const reference of secretReferences(value)) {
      if (secrets[reference] === undefined) {
        throw validationError(
          param,
          `Invalid ${param}: it refers to \${${reference}}, which is not in the deployment's secrets map. ` +
            `Register the credential (POST /v1/secrets) and add it to the deployment's secrets as ${reference}, or fix the name.`,
        );
      }
    }
  }
}

/**
 * A secrets map that drops a variable the declared headers still use: the 400 naming `secrets.<NAME>`, or
 * undefined when every reference still has its variable.
 */
export function removedReferencedSecret(servers: McpServerConfig[], secrets: Record<string, string>): ApiError | undefined {
  for (const [index, server] of servers.entries()) {
    for (const [header, value] of Object.entries(server.headers ?? {})) {
      const missing = secretReferences(value).find((reference) => secrets[reference] === undefined);
      if (missing) {
        return validationError(
          `secrets.${missing}`,
          `Invalid secrets.${missing}: mcp_servers.${index}.headers.${header} (server "${server.name}") refers to it; change that header first.`,
        );
      }
    }
  }
  return undefined;
}
