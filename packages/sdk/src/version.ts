export const VERSION = '0.1.0';

/**
 * The version of the Herm API this SDK speaks: the server's OpenAPI `info.version`, which it also sends on
 * every response as the `herm-api-version` header. Releases of the SDK and the server share their version.
 */
export const API_VERSION = '0.1.0';

/** Response header carrying the server's API version. */
export const API_VERSION_HEADER = 'herm-api-version';

/**
 * A message when the server's API version is not compatible with `API_VERSION` (a different major version,
 * or a different minor one while the major is 0, as semver has it); undefined when it is, or when the server
 * does not say (servers before 0.1.0).
 */
export function apiVersionMismatch(serverVersion: string | null): string | undefined {
  if (!serverVersion) return undefined;
  const server = serverVersion.trim().split('.').map((part) => Number.parseInt(part, 10));
  const sdk = API_VERSION.split('.').map((part) => Number.parseInt(part, 10));
  if (server.length < 2 || server.some((part) => Number.isNaN(part))) return undefined;
  const compatible = server[0] === sdk[0] && (sdk[0] !== 0 || server[1] === sdk[1]);
  if (compatible) return undefined;
  const upgrade = (server[0]! > sdk[0]! || (server[0] === sdk[0] && server[1]! > sdk[1]!)) ? 'the SDK' : 'the server';
  return (
    `This Herm server speaks API version ${serverVersion}, but this SDK (herm ${VERSION}) speaks API version ${API_VERSION}; ` +
    `the two are not compatible. Upgrade ${upgrade} so their versions match ` +
    (upgrade === 'the SDK'
      ? `(install the SDK from the server's release: packages/sdk of the same Herm version).`
      : `(or install the SDK release matching the server: herm ${serverVersion}).`)
  );
}
