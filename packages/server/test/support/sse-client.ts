// A minimal SSE reader for tests that look at the raw wire (ids, comments, headers).
import { createParser } from 'eventsource-parser';

export interface WireEvent {
  id: string;
  type: string;
  data: any;
}

export interface OpenSse {
  status: number;
  headers: Headers;
  events: WireEvent[];
  comments: string[];
  /** Resolves with the first event (already received or future) that matches. */
  waitFor(predicate: (event: WireEvent) => boolean, timeoutMs?: number): Promise<WireEvent>;
  close(): void;
}

export async function openSse(url: string, key: string, headers: Record<string, string> = {}): Promise<OpenSse> {
  const controller = new AbortController();
  const response = await fetch(url, {
    headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream', ...headers },
    signal: controller.signal,
  });
  const events: WireEvent[] = [];
  const comments: string[] = [];
  const waiters: { predicate: (event: WireEvent) => boolean; resolve: (event: WireEvent) => void }[] = [];
  const parser = createParser({
    onEvent(message) {
      const event = { id: message.id ?? '', type: message.event ?? 'message', data: JSON.parse(message.data) };
      events.push(event);
      for (const waiter of [...waiters]) {
        if (waiter.predicate(event)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(event);
        }
      }
    },
    onComment(comment) {
      comments.push(comment.trim());
    },
  });
  if (response.ok && response.body) {
    void (async () => {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
      } catch {
        // aborted
      }
    })();
  }
  return {
    status: response.status,
    headers: response.headers,
    events,
    comments,
    waitFor(predicate, timeoutMs = 15_000) {
      const found = events.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for an event; got ${events.length}: ${JSON.stringify(events.slice(-20).map((e) => e.type))}`)), timeoutMs);
        waiters.push({
          predicate,
          resolve: (event) => {
            clearTimeout(timer);
            resolve(event);
          },
        });
      });
    },
    close() {
      controller.abort();
    },
  };
}
