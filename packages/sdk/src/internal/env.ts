/** An environment variable, trimmed; undefined when unset, empty, or there is no `process` (browsers). */
export function readEnv(name: string): string | undefined {
  if (typeof process === 'undefined') return undefined;
  const value = process.env[name]?.trim();
  return value === '' ? undefined : value;
}
