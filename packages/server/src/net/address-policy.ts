// Which IP addresses are internal: this machine, its networks, and no real destination at all. The one
// classifier behind every connection the server makes or relays for a tenant — the sandboxes' egress
// proxy (sandbox/egress/egress-proxy.ts), the API's check of `sandbox.network.allow` and the server's own
// requests to URLs a tenant gave (net/outbound-fetch.ts). A tenant reaches an internal address only where
// the operator opened it (HERM_SANDBOX_INTERNAL_DESTINATIONS, HERM_ALLOW_PRIVATE_URLS).
import { isIPv4, isIPv6 } from 'node:net';
import { networkInterfaces } from 'node:os';

/** Why an address is internal. */
export type InternalAddressKind =
  | 'loopback'
  | 'unspecified'
  | 'private'
  | 'shared'
  | 'link-local'
  | 'unique-local'
  | 'multicast'
  | 'broadcast'
  | 'reserved'
  | 'own';

/**
 * Why `address` (an IPv4 or IPv6 literal) is internal, or undefined for a public address:
 * loopback (127/8, ::1), unspecified (0/8, ::), private (RFC 1918 10/8, 172.16/12, 192.168/16; the
 * deprecated site-local fec0::/10; local-use NAT64 64:ff9b:1::/48), shared (CGNAT 100.64/10),
 * link-local (169.254/16 — cloud metadata services live there —, fe80::/10), unique-local (fc00::/7),
 * multicast (224/4, ff00::/8), broadcast, reserved (192.0.0/24, 198.18/15, 240/4, the rest of ::/8, 100::/64), the same
 * IPv4 addresses written as IPv6 (::ffff:a.b.c.d, ::a.b.c.d, NAT64 64:ff9b::a.b.c.d, 6to4 2002:aabb:ccdd::),
 * and any address of this machine's interfaces (`own`, default hostAddresses()). Text that is no IP
 * address counts as internal (`reserved`): nothing is reached by a string this function cannot read.
 */
export function internalAddressKind(address: string, own: ReadonlySet<string> = hostAddresses()): InternalAddressKind | undefined {
  const text = address.trim().replace(/^\[(.*)\]$/, '$1');
  // `own` last: 127.0.0.1 is loopback first, though it is also an interface's.
  if (isIPv4(text)) return ipv4Kind(ipv4Bytes(text)) ?? (own.has(text) ? 'own' : undefined);
  if (!isIPv6(text)) return 'reserved';
  const bytes = ipv6Bytes(text);
  if (!bytes) return 'reserved';
  // :: and ::1 before the IPv4-compatible forms (::/96) they also fall in.
  const special = ipv6Kind(bytes);
  if (special === 'unspecified' || special === 'loopback') return special;
  // An IPv6 form of an IPv4 address is what that address is.
  const embedded = embeddedIpv4(bytes);
  if (embedded) return ipv4Kind(embedded) ?? (own.has(embedded.join('.')) || own.has(canonicalIp(text)) ? 'own' : undefined);
  return special ?? (own.has(canonicalIp(text)) ? 'own' : undefined);
}

/** Whether `address` is internal (see internalAddressKind). */
export function isInternalAddress(address: string, own: ReadonlySet<string> = hostAddresses()): boolean {
  return internalAddressKind(address, own) !== undefined;
}

function ipv4Kind([a, b, c, d]: readonly number[]): InternalAddressKind | undefined {
  if (a === 0) return 'unspecified';
  if (a === 127) return 'loopback';
  if (a === 10 || (a === 172 && b! >= 16 && b! <= 31) || (a === 192 && b === 168)) return 'private';
  if (a === 100 && b! >= 64 && b! <= 127) return 'shared';
  if (a === 169 && b === 254) return 'link-local';
  if ((a === 192 && b === 0 && c === 0) || (a === 198 && (b === 18 || b === 19))) return 'reserved';
  if (a! >= 224 && a! <= 239) return 'multicast';
  if (a === 255 && b === 255 && c === 255 && d === 255) return 'broadcast';
  if (a! >= 240) return 'reserved';
  return undefined;
}

function ipv6Kind(bytes: readonly number[]): InternalAddressKind | undefined {
  const zeroUpTo = (end: number) => bytes.slice(0, end).every((byte) => byte === 0);
  if (zeroUpTo(16)) return 'unspecified';
  if (zeroUpTo(15) && bytes[15] === 1) return 'loopback';
  const [b0, b1, b2, b3, b4, b5] = bytes as [number, number, number, number, number, number];
  if (b0 === 0xff) return 'multicast';
  if (b0 === 0xfe && (b1 & 0xc0) === 0x80) return 'link-local';
  if (b0 === 0xfe && (b1 & 0xc0) === 0xc0) return 'private';
  if ((b0 & 0xfe) === 0xfc) return 'unique-local';
  // 64:ff9b:1::/48, NAT64 for local use (RFC 8215).
  if (b0 === 0x00 && b1 === 0x64 && b2 === 0xff && b3 === 0x9b && b4 === 0x00 && b5 === 0x01) return 'private';
  // 100::/64, discard-only (RFC 6666).
  if (b0 === 0x01 && b1 === 0x00 && bytes.slice(2, 8).every((byte) => byte === 0)) return 'reserved';
  // The rest of ::/8 (IPv4-compatible and -mapped forms are read as IPv4) is reserved.
  if (b0 === 0) return 'reserved';
  return undefined;
}

/** The IPv4 address an IPv6 one stands for: ::ffff:a.b.c.d, ::a.b.c.d, 64:ff9b::a.b.c.d, 2002:aabb:ccdd::. */
function embeddedIpv4(bytes: readonly number[]): number[] | undefined {
  const zero = (from: number, to: number) => bytes.slice(from, to).every((byte) => byte === 0);
  // IPv4-mapped (::ffff:0:0/96) and IPv4-compatible (::/96, deprecated).
  if (zero(0, 10) && ((bytes[10] === 0xff && bytes[11] === 0xff) || (bytes[10] === 0 && bytes[11] === 0))) return bytes.slice(12, 16);
  // NAT64 well-known prefix 64:ff9b::/96 (RFC 6052).
  if (bytes[0] === 0x00 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b && zero(4, 12)) return bytes.slice(12, 16);
  // 6to4 2002::/16 (RFC 3056): the IPv4 address is the next 32 bits.
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return bytes.slice(2, 6);
  return undefined;
}

function ipv4Bytes(address: string): number[] {
  return address.split('.').map(Number);
}

/** The 16 bytes of an IPv6 literal (which isIPv6 accepted; no zone), or undefined. */
function ipv6Bytes(address: string): number[] | undefined {
  let text = address.toLowerCase().replace(/%.*$/, '');
  const tail: number[] = [];
  const dotted = /:(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    if (!isIPv4(dotted[1]!)) return undefined;
    tail.push(...ipv4Bytes(dotted[1]!));
    text = `${text.slice(0, dotted.index)}:0:0`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 0) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest];
  if (all.length !== 8 || !all.every((group) => /^[0-9a-f]{1,4}$/.test(group))) return undefined;
  const bytes = all.flatMap((group) => {
    const value = parseInt(group, 16);
    return [value >> 8, value & 0xff];
  });
  if (tail.length === 4) bytes.splice(12, 4, ...tail);
  return bytes;
}

/** The addresses of this machine's interfaces, in canonical form (IPv6 compressed, no zone). */
export function hostAddresses(): Set<string> {
  const addresses = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const entry of list ?? []) addresses.add(canonicalIp(entry.address.replace(/%.*$/, '')));
  }
  return addresses;
}

/** An IP address as URL parsing prints it (IPv6 compressed, lower case); other text unchanged. */
export function canonicalIp(address: string): string {
  if (!isIPv6(address)) return address;
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return address;
  }
}
