// The check of an endpoint's URL when it is created or changed: http(s), and (unless the operator allows private
// URLs) a host that resolves to public addresses only. Delivery checks again at each attempt and connects to the
// address it checked (net/outbound-fetch.ts), so a name rebound to an internal address later is refused then.
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { hostAddresses, internalAddressKind } from '../net/address-policy.ts';
import type { OutboundPolicy } from '../net/outbound-fetch.ts';

export const MAX_URL_LENGTH = 2048;

/** Why a URL cannot be an endpoint; the message is for the API's 400 (param `url`). */
export class WebhookUrlError extends Error {}

/** The URL as stored (normalized by the WHATWG parser), or a WebhookUrlError. */
export async function checkWebhookUrl(text: string, policy: OutboundPolicy, lookupTimeoutMs = 5_000): Promise<string> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new WebhookUrlError('must be an absolute http:// or https:// URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new WebhookUrlError(`must be an http:// or https:// URL, not ${url.protocol}`);
  if (url.username || url.password) throw new WebhookUrlError('must not carry credentials (user:password@): authenticate deliveries by their signature');
  if (url.hash) throw new WebhookUrlError('must not have a #fragment');
  if (policy.allowPrivate) return url.href;
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  let addresses: string[];
  if (isIP(hostname) !== 0) addresses = [hostname];
  else {
    const lookup = policy.lookup ?? ((name: string) => dnsLookup(name, { all: true, verbatim: true }));
    try {
      const resolved = await Promise.race([
        lookup(hostname),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), lookupTimeoutMs).unref()),
      ]);
      addresses = resolved.map(({ address }) => address);
    } catch {
      throw new WebhookUrlError(`the host ${hostname} does not resolve`);
    }
  }
  const own = hostAddresses();
  for (const address of addresses) {
    const kind = internalAddressKind(address, own);
    if (kind) {
      throw new WebhookUrlError(
        `${hostname} resolves to ${address}, a ${kind === 'own' ? "this server's own" : kind} address: private, loopback and link-local ` +
          'URLs are refused unless the operator sets HERM_ALLOW_PRIVATE_URLS=true',
      );
    }
  }
  return url.href;
}
