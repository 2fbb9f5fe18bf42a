// The `headers` of an MCP server declaration: literal values, or templates naming variables of the deployment's
// `secrets` map as `${NAME}` ("Authorization": "Bearer ${PRISM_MEDIA_TOKEN}"). The templates are what is stored
// and shown; the server resolves them (decrypting the secrets) only when it connects, so the resolved values are
// never stored, shown, logged, or seen by the agent.

/** `${NAME}` with NAME an environment-variable-style name, as the deployment's secrets map uses. */
const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** The header Herm sets itself on every MCP request: the deployment's customer_id. */
export const CUSTOMER_ID_HEADER = 'Herm-Customer-Id';

/**
 * Headers a declaration may not set: Herm's own, and those the transports manage (the session, the protocol
 * version, content negotiation, framing).
 */
const RESERVED_HEADERS = new Set([
  CUSTOMER_ID_HEADER.toLowerCase(),
  'host',
  'content-length',
  'content-type',
  'accept',
  'connection',
  'transfer-encoding',
  'upgrade',
  'mcp-session-id',
  'mcp-protocol-version',
  'last-event-id',
]);

/** The secrets-map names a header value refers to, in order, without duplicates. */
export function secretReferences(value: string): string[] {
  return [...new Set([...value.matchAll(REFERENCE)].map((match) => match[1]!))];
}

/** Why a header cannot be declared, or undefined. */
export function reservedHeaderReason(name: string): string | undefined {
  if (!RESERVED_HEADERS.has(name.toLowerCase())) return undefined;
  if (name.toLowerCase() === CUSTOMER_ID_HEADER.toLowerCase()) return `${CUSTOMER_ID_HEADER} is set by Herm itself (the deployment's customer_id)`;
  return `${name} is managed by the MCP transport`;
}

/** The headers with every `${NAME}` replaced by `values[NAME]`; a name without a value throws (callers check first). */
export function resolveHeaders(headers: Record<string, string>, values: Record<string, string>): Record<string, string> {
  const resolved: Record<string, string> = {};
  for (const [name, template] of Object.entries(headers)) {
    resolved[name] = template.replace(REFERENCE, (_match, variable: string) => {
      const value = values[variable];
      if (value === undefined) throw new Error(`header ${name} refers to secrets.${variable}, which has no value`);
      return value;
    });
  }
  return resolved;
}

/** Every secrets-map name the declared headers refer to. */
export function referencedSecretNames(headers: Record<string, string> | undefined): string[] {
  return [...new Set(Object.values(headers ?? {}).flatMap(secretReferences))];
}
