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
  /** The reconnection delays the server hinted (SSE `retry:`). */
  retries: number[];
  /** Whether the server ended the stream (not set by close()). */
  ended: boolean;
  /** Resolves once the server has ended the stream. */
  waitForEnd(timeoutMs?: number): Promise<void>;
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
  const retries: number[] = [];
  let ended = false;
  let markEnded = () => {};
  const endedPromise = new Promise<void>((resolve) => (markEnded = resolve));
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
    onRetry(ms) {
      retries.push(ms);
    },
  });
  if (response.ok && response.body) {
    void (async () => {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
        ended = true;
        markEnded();
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
    retries,
    get ended() {
      return ended;
    },
    waitForEnd(timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('timed out waiting for the server to end the stream')), timeoutMs);
        void endedPromise.then(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
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
