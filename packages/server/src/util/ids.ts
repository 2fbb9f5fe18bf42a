// Prefixed, random, URL-safe identifiers (dep_, thr_, run_, …), Stripe style.
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Random base62 string; 62^n choices, rejection sampling keeps the distribution uniform. */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    const bytes = randomBytes(length * 2);
    for (const byte of bytes) {
      if (byte < 248 && out.length < length) out += ALPHABET[byte % 62];
    }
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
