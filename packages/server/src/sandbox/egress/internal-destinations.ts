// HERM_SANDBOX_INTERNAL_DESTINATIONS: the internal destinations (this machine, its private networks) the
// operator opens to sandboxes. A tenant's `sandbox.network.allow` never reaches an internal address by
// itself — not by IP literal, not by `localhost`, not by a name that resolves (or is rebound) there: the
// API refuses an internal literal that is not open (internalEntryRefusal), and the egress proxy drops
// every resolved internal address that is not open (InternalDestinationSet.allows). Open for every
// account (`host:port`) or for one (`acct_…=host:port`); a SandboxSpec carries the set open to its
// deployment's account (internalDestinationsFor).
import { canonicalIp, internalAddressKind, isInternalAddress } from '../../net/address-policy.ts';
import { DEFAULT_ALLOWED_PORTS, parseAllowEntry, type AllowEntry } from './egress-allowlist.ts';

/** The variable's name, for messages that tell a tenant who can open a destination. */
export const INTERNAL_DESTINATIONS_VARIABLE = 'HERM_SANDBOX_INTERNAL_DESTINATIONS';

const ACCOUNT_ID = /^acct_[A-Za-z0-9_]{1,64}$/;

export interface InternalDestination {
  /** The account that may name it; undefined: every account. */
  accountId: string | undefined;
  /** `host:port` as an allowlist writes it (lower case; IPv6 in brackets, compressed). */
  text: string;
  /** A lower-case name, or an IP address in canonical form (IPv6 without brackets). */
  host: string;
  port: number;
}

/**
 * The destinations in the variable's value: comma-separated `host:port` (host: an IPv4 address, a
 * bracketed IPv6 one, or a name) or `acct_…=host:port` for one account. Throws a TypeError naming the
 * first bad entry.
 */
export function parseInternalDestinations(value: string): InternalDestination[] {
  const destinations: InternalDestination[] = [];
  const seen = new Set<string>();
  for (const raw of value.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const equals = item.indexOf('=');
    const accountId = equals === -1 ? undefined : item.slice(0, equals).trim();
    const target = equals === -1 ? item : item.slice(equals + 1).trim();
    if (accountId !== undefined && !ACCOUNT_ID.test(accountId)) {
      throw new TypeError(`${JSON.stringify(item)}: ${JSON.stringify(accountId)} is not an account id (acct_…); write host:port or acct_…=host:port`);
    }
    const entry = parseAllowEntry(target);
    if (typeof entry === 'string') throw new TypeError(`${JSON.stringify(item)}: ${entry}`);
    if (entry.kind === 'wildcard') throw new TypeError(`${JSON.stringify(item)}: name one host (an address or a name), not a wildcard`);
    if (entry.port === undefined) throw new TypeError(`${JSON.stringify(item)}: needs a port, as in 10.0.0.5:5432`);
    const key = `${accountId ?? ''}=${entry.text}`;
    if (seen.has(key)) continue;
    seen.add(key);
    destinations.push({ accountId, text: entry.text, host: entry.host, port: entry.port });
  }
  return destinations;
}

/** The destinations open to one account (those for every account, and its own), as `host:port`. */
export function internalDestinationsFor(destinations: readonly InternalDestination[], accountId: string): string[] {
  const texts = destinations.filter((destination) => destination.accountId === undefined || destination.accountId === accountId).map((destination) => destination.text);
  return [...new Set(texts)];
}

/** A set of open destinations (`host:port` texts, as a SandboxSpec carries them), for lookups. */
export class InternalDestinationSet {
  readonly #keys = new Set<string>();
  readonly texts: readonly string[];

  constructor(texts: readonly string[] = []) {
    const parsed: string[] = [];
    for (const text of texts) {
      const entry = parseAllowEntry(text);
      if (typeof entry === 'string' || entry.kind === 'wildcard' || entry.port === undefined) {
        throw new TypeError(`internal destination ${JSON.stringify(text)}: must be host:port`);
      }
      this.#keys.add(`${entry.host} ${entry.port}`);
      parsed.push(entry.text);
    }
    this.texts = [...new Set(parsed)];
  }

  get size(): number {
    return this.#keys.size;
  }

  /** Whether `host` (an IP address in any notation, or a name) at `port` is open. */
  allows(host: string, port: number): boolean {
    let target = host.trim().toLowerCase();
    if (target.startsWith('[') && target.endsWith(']')) target = target.slice(1, -1);
    if (target.endsWith('.')) target = target.slice(0, -1);
    return this.#keys.has(`${canonicalIp(target)} ${port}`);
  }
}

/** Whether an allowlist entry names an internal destination by itself: an internal IP literal, or localhost. */
export function namesInternalHost(entry: AllowEntry): boolean {
  if (entry.kind === 'ip') return isInternalAddress(entry.host);
  return entry.host === 'localhost' || entry.host.endsWith('.localhost');
}

/**
 * Why a tenant's allowlist entry may not be stored, or undefined when it may: it names an internal host
 * (namesInternalHost) at a port that is not open to it — an entry without a port means 80 and 443, and
 * both must be open. Names that are not internal by their spelling pass here; the egress proxy refuses
 * whatever internal address they resolve to when they are used.
 */
export function internalEntryRefusal(entry: AllowEntry, open: InternalDestinationSet): string | undefined {
  if (!namesInternalHost(entry)) return undefined;
  const kind = entry.kind === 'ip' ? (internalAddressKind(entry.host) ?? 'internal') : 'loopback';
  const ports = entry.port === undefined ? DEFAULT_ALLOWED_PORTS : [entry.port];
  if (entry.kind !== 'wildcard' && ports.every((port) => open.allows(entry.host, port))) return undefined;
  const what = kind === 'own' ? "one of this server's own addresses" : `an internal address (${kind})`;
  const portNote = entry.port === undefined ? ' at ports 80 and 443 (an entry without a port means both)' : '';
  return (
    `${entry.text} is ${what}${portNote}. Sandboxes reach internal destinations only where this server's operator opens them ` +
    `(${INTERNAL_DESTINATIONS_VARIABLE}); remove the entry or ask the operator.`
  );
}
