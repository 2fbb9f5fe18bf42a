// Verifies a webhook from Herm the Standard Webhooks way, with Web Crypto only (no Node APIs): in Node 18+, Deno,
// Bun, Cloudflare Workers and browsers alike. Same result as `new Webhook(secret).verify(...)` of the
// `standardwebhooks` package.
import type { WebhookPayload } from './webhooks.ts';

/** The delivery is not from Herm (bad or missing signature), or too old or too new to accept. */
export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
  }
}

export interface VerifyWebhookOptions {
  /** How far `webhook-timestamp` may be from now, in seconds. Default 300 (5 min), as Standard Webhooks advises. */
  toleranceSeconds?: number;
  /** "Now", for tests. */
  now?: Date;
}

/** The request headers: a Fetch `Headers`, or a plain object (Node's `req.headers`). */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const value = record[name] ?? Object.entries(record).find(([key]) => key.toLowerCase() === name)?.[1];
  return Array.isArray(value) ? value[0] : value;
}

function base64ToBytes(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let index = 0; index < binary.length; index++) bytes[index] = binary.charCodeAt(index);
  return bytes;
}

function bytesToBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** Compares in time independent of where the strings differ. */
function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let index = 0; index < a.length; index++) difference |= a.charCodeAt(index) ^ b.charCodeAt(index);
  return difference === 0;
}

/**
 * Checks a webhook's signature against the endpoint's secret (`whsec_…`) and its timestamp against the clock, and
 * returns the parsed payload. Pass the body exactly as received (the raw text, not re-serialized JSON).
 * Throws WebhookVerificationError otherwise. Deduplicate on the `webhook-id` header: a message is sent again
 * until it is acknowledged with a 2xx, so a receiver may see it more than once.
 *
 * @example
 * // Node (express.raw / a Fetch Request…):
 * const payload = await verifyWebhook(rawBody, request.headers, process.env.HERM_WEBHOOK_SECRET!);
 * if (payload.type === 'run.completed') console.log(payload.data.run_id);
 */
export async function verifyWebhook(
  body: string | Uint8Array,
  headers: WebhookHeaders,
  secret: string,
  options: VerifyWebhookOptions = {},
): Promise<WebhookPayload> {
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !timestamp || !signatures) throw new WebhookVerificationError('Missing the webhook-id, webhook-timestamp or webhook-signature header');
  const seconds = Number(timestamp);
  if (!/^\d+$/.test(timestamp) || !Number.isSafeInteger(seconds)) throw new WebhookVerificationError('Invalid webhook-timestamp header');
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const tolerance = options.toleranceSeconds ?? 300;
  if (seconds < now - tolerance) throw new WebhookVerificationError('Message timestamp too old');
  if (seconds > now + tolerance) throw new WebhookVerificationError('Message timestamp too new');
  const text = typeof body === 'string' ? body : new TextDecoder().decode(body);
  let key: Uint8Array;
  try {
    key = base64ToBytes(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret);
  } catch {
    throw new WebhookVerificationError('The secret is not a whsec_ secret');
  }
  const cryptoKey = await crypto.subtle.importKey('raw', key as BufferSource, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = await crypto.subtle.sign('HMAC', cryptoKey, new TextEncoder().encode(`${id}.${timestamp}.${text}`) as BufferSource);
  const expected = bytesToBase64(new Uint8Array(mac));
  const matched = signatures.split(' ').some((entry) => {
    const [version, signature] = entry.split(',', 2);
    return version === 'v1' && signature !== undefined && constantTimeEqual(signature, expected);
  });
  if (!matched) throw new WebhookVerificationError('No matching signature found');
  return JSON.parse(text) as WebhookPayload;
}
