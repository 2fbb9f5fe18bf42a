// The hosts a sandbox with `sandbox.network.allow` may reach: parsing and validating the entries, and
// matching a request's host and port against them. Pure functions, shared by the API validation and the
// egress proxy. Whether a resolved address is internal is net/address-policy.ts's to say; which internal
// destinations a tenant may name is sandbox/internal-destinations.ts's.
import { isIPv4, isIPv6 } from 'node:net';
import { canonicalIp } from '../../net/address-policy.ts';

/** Most entries one allowlist may hold. */
export const MAX_ALLOW_ENTRIES = 100;

/** Ports an entry without one allows: plain HTTP and HTTPS. */
export const DEFAULT_ALLOWED_PORTS: readonly number[] = [80, 443];

export interface AllowEntry {
  /** The entry as written, normalised (lower case, no trailing dot). */
  text: string;
  /** `name`: exactly this host; `wildcard`: any subdomain of `host` (not `host` itself); `ip`: this address. */
  kind: 'name' | 'wildcard' | 'ip';
  /** Lower case; for `wildcard`, the part after `*.`; for IPv6, without brackets and compressed. */
  host: string;
  /** The one port allowed; undefined means 80 and 443. */
  port: number | undefined;
  /**
   * The entry names an address or `localhost` itself (an IP literal, or `localhost`). It grants nothing
   * by itself: an internal address is reached only where the operator opened it (internal-destinations.ts).
   * Loopback ports such an entry names are forwarded into the sandbox (egress-bridge.ts loopbackForwards).
   */
  local: boolean;
}

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
const PORT = /^[0-9]{1,5}$/;

/** The entry, or a message saying what is wrong with it (for a 400 naming the entry). */
export function parseAllowEntry(value: string): AllowEntry | string {
  const text = value.trim().toLowerCase();
  if (text === '') return 'must be a host name such as api.example.com';
  if (text.includes('://') || text.includes('/')) return 'must be a host name (optionally with :port), not a URL: write api.example.com, not https://api.example.com/';
  if (text === '*' || text.startsWith('*:')) return 'a bare * is not allowed: list the hosts (wildcards look like *.example.com)';
  let host = text;
  let portText: string | undefined;
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    if (close === -1) return 'an IPv6 address must be written in brackets, like [2001:db8::1]:8443';
    portText = host.slice(close + 1) === '' ? undefined : host.slice(close + 1).replace(/^:/, '');
    if (host.slice(close + 1) !== '' && !host.slice(close + 1).startsWith(':')) return 'unexpected text after the IPv6 address';
    host = host.slice(1, close);
    if (!isIPv6(host)) return `${host} is not an IPv6 address`;
  } else if (host.split(':').length > 2) {
    return 'an IPv6 address must be written in brackets, like [2001:db8::1]';
  } else if (host.includes(':')) {
    portText = host.slice(host.indexOf(':') + 1);
    host = host.slice(0, host.indexOf(':'));
  }
  let port: number | undefined;
  if (portText !== undefined) {
    if (!PORT.test(portText) || Number(portText) < 1 || Number(portText) > 65_535) return 'the port must be a number from 1 to 65535';
    port = Number(portText);
  }
  const suffix = port === undefined ? '' : `:${port}`;
  if (isIPv6(host)) {
    const canonical = canonicalIp(host);
    return { text: `[${canonical}]${suffix}`, kind: 'ip', host: canonical, port, local: true };
  }
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (/^[0-9.]+$/.test(host)) {
    if (!isIPv4(host)) return `${host} is not an IPv4 address`;
    return { text: `${host}${suffix}`, kind: 'ip', host, port, local: true };
  }
  const wildcard = host.startsWith('*.');
  const name = wildcard ? host.slice(2) : host;
  if (name.includes('*')) return 'a wildcard may only be the first label, as in *.example.com';
  if (name.length === 0 || name.length > 253) return 'must be a host name of at most 253 characters';
  if (!name.split('.').every((label) => LABEL.test(label))) {
    return 'must be a host name of letters, digits, "-" and "." (like api.example.com or *.example.com), optionally with :port';
  }
  return {
    text: `${wildcard ? '*.' : ''}${name}${suffix}`,
    kind: wildcard ? 'wildcard' : 'name',
    host: name,
    port,
    local: !wildcard && name === 'localhost',
  };
}

/** Parses a whole allowlist; throws a TypeError naming the first bad entry. Duplicates are dropped. */
export function parseAllowList(values: readonly string[]): AllowEntry[] {
  if (values.length > MAX_ALLOW_ENTRIES) throw new TypeError(`network.allow: at most ${MAX_ALLOW_ENTRIES} entries`);
  const entries: AllowEntry[] = [];
  const seen = new Set<string>();
  values.forEach((value, index) => {
    const entry = parseAllowEntry(value);
    if (typeof entry === 'string') throw new TypeError(`network.allow.${index}: ${JSON.stringify(value)} ${entry}`);
    if (seen.has(entry.text)) return;
    seen.add(entry.text);
    entries.push(entry);
  });
  return entries;
}

/** The allowlist in its normal form (lower case, deduplicated), as stored and compared. */
export function normalizeAllowList(values: readonly string[]): string[] {
  return parseAllowList(values).map((entry) => entry.text);
}

/**
 * The entry that lets a request reach `host:port`, or undefined. `host` is what the client asked for
 * (a name or an IP literal, IPv6 with or without brackets).
 */
export function matchAllowList(entries: readonly AllowEntry[], host: string, port: number): AllowEntry | undefined {
  let target = host.trim().toLowerCase();
  if (target.startsWith('[') && target.endsWith(']')) target = target.slice(1, -1);
  if (target.endsWith('.')) target = target.slice(0, -1);
  const targetIsIp = isIPv4(target) || isIPv6(target);
  if (targetIsIp) target = canonicalIp(target);
  return entries.find((entry) => {
    if (entry.port === undefined ? !DEFAULT_ALLOWED_PORTS.includes(port) : entry.port !== port) return false;
    if (entry.kind === 'ip') return targetIsIp && entry.host === target;
    if (targetIsIp) return false;
    if (entry.kind === 'name') return entry.host === target;
    return target.endsWith(`.${entry.host}`);
  });
}
