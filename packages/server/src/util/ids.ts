// Prefixed, random, URL-safe identifiers (dep_, thr_, run_, …), Stripe style.
import { randomFillSync } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

// Random bytes are drawn from the CSPRNG 4 KiB at a time: one call per id cost as much as the rest of making
// it (a run makes four ids). Each byte is used once.
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

function randomByte(): number {
  if (poolOffset === pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  return pool[poolOffset++]!;
}

/** Random base62 string; 62^n choices, rejection sampling keeps the distribution uniform. */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    const byte = randomByte();
    if (byte < 248) out += ALPHABET[byte % 62];
  }
  return out;
}

export const ID_PREFIXES = {
  account: 'acct',
  apiKey: 'key',
  deployment: 'dep',
  thread: 'thr',
  run: 'run',
  message: 'msg',
  secret: 'sec',
  event: 'evt',
  snapshot: 'snap',
  skill: 'skl',
  webhookEndpoint: 'we',
  webhookDelivery: 'whmsg',
  steeringRequest: 'str',
  automation: 'auto',
  automationFiring: 'afire',
  auditEntry: 'aud',
  dream: 'drm',
} as const;

export type IdKind = keyof typeof ID_PREFIXES;

export function newId(kind: IdKind): string {
  return `${ID_PREFIXES[kind]}_${randomBase62(16)}`;
}

/** True when `value` looks like an id of this kind (prefix and safe characters). */
export function hasIdShape(kind: IdKind, value: string): boolean {
  const prefix = `${ID_PREFIXES[kind]}_`;
  return value.startsWith(prefix) && /^[A-Za-z0-9_]{1,64}$/.test(value.slice(prefix.length));
}
