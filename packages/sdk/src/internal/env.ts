/**
 * An environment variable, trimmed; undefined when unset, empty, or the runtime has no `process.env`
 * (browsers, edge runtimes, Deno without --allow-env). No Node types: the SDK's core runs anywhere.
 */
export function readEnv(name: string): string | undefined {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  let value: string | undefined;
  try {
    value = env?.[name]?.trim();
  } catch {
    return undefined; // Deno throws when env access is not permitted.
  }
  return value === '' ? undefined : value;
}
