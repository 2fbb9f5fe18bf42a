// The `fetch` MCP's transports are given: every request goes through the server's outbound policy
// (net/outbound-fetch.ts `send`: the host is resolved and checked against HERM_ALLOW_PRIVATE_URLS, and the
// connection pinned to a checked address), and the response streams (Streamable HTTP and SSE keep their
// responses open). Redirects are returned as they are: the transports follow same-origin ones themselves,
// calling this fetch again, so each hop is checked.
import { Readable } from 'node:stream';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import { send, type OutboundPolicy } from '../net/outbound-fetch.ts';

/** Statuses whose response has no body (the Response constructor refuses one). */
const NO_BODY = new Set([101, 204, 205, 304]);

export interface PolicyFetchOptions {
  /**
   * A watched response stream broke before it ended (the server died or the connection was cut): the answers it
   * would have carried never come, so the caller fails the requests waiting for them rather than their timeouts.
   */
  onBrokenResponse?: () => void;
  /**
   * Which responses to watch: POSTs' (Streamable HTTP answers on them; the default), or every one (HTTP+SSE answers
   * on its long-lived GET stream).
   */
  watch?: 'post' | 'all';
}

export function policyFetch(policy: OutboundPolicy, options: PolicyFetchOptions = {}): FetchLike {
  return async (input, init) => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : (input as Request).url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`${url.protocol} URLs are not fetched`);
    const method = (init?.method ?? 'GET').toUpperCase();
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((value, name) => {
      headers[name] = value;
    });
    const body = await requestBody(init?.body);
    const signal = init?.signal ?? new AbortController().signal;
    const response = await send(url, method, headers, body, policy, signal);
    const status = response.statusCode ?? 502;
    const responseHeaders = new Headers();
    for (const [name, value] of Object.entries(response.headers)) {
      if (value === undefined) continue;
      for (const item of Array.isArray(value) ? value : [value]) responseHeaders.append(name, item);
    }
    if (NO_BODY.has(status) || method === 'HEAD') {
      response.resume();
      return new Response(null, { status, headers: responseHeaders });
    }
    if ((method === 'POST' || options.watch === 'all') && options.onBrokenResponse) {
      const broken = options.onBrokenResponse;
      let cancelled = false;
      response.once('close', () => {
        if (!response.complete && !cancelled) broken();
      });
      signal.addEventListener('abort', () => (cancelled = true), { once: true });
      // Cancelling the web stream (a transport closing an SSE stream) destroys the socket: not a break.
      const reader = (Readable.toWeb(response) as ReadableStream<Uint8Array>).getReader();
      const responseBody = new ReadableStream<Uint8Array>({
        pull: async (controller) => {
          const { value, done } = await reader.read();
          if (done) controller.close();
          else controller.enqueue(value);
        },
        cancel: async (reason) => {
          cancelled = true;
          await reader.cancel(reason);
        },
      });
      return new Response(responseBody, { status, headers: responseHeaders });
    }
    // Cancelling the web stream (a transport closing an SSE stream) destroys the socket.
    const stream = Readable.toWeb(response) as ReadableStream<Uint8Array>;
    return new Response(stream, { status, headers: responseHeaders });
  };
}

async function requestBody(body: RequestInit['body']): Promise<string | Uint8Array | undefined> {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  // URLSearchParams, Blob, a stream: whatever a Request makes of it.
  return new Uint8Array(await new Response(body).arrayBuffer());
}
