// A lean SSE reader for load: parses frames and hands each event to a callback with its arrival time.

export interface ReceivedEvent {
  id: string;
  type: string;
  data: any;
  receivedAt: number;
}

export interface SseReader {
  close(): void;
  readonly done: Promise<void>;
}

export async function readSse(url: string, key: string, onEvent: (event: ReceivedEvent) => void, headers: Record<string, string> = {}): Promise<SseReader> {
  const controller = new AbortController();
  const response = await fetch(url, { headers: { authorization: `Bearer ${key}`, ...headers }, signal: controller.signal });
  if (!response.ok || !response.body) throw new Error(`SSE ${url}: ${response.status}`);
  const decoder = new TextDecoder();
  let buffer = '';
  const done = (async () => {
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        const receivedAt = Date.now();
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (frame.startsWith(':')) continue;
          let type = 'message';
          let id = '';
          let data = '';
          for (const line of frame.split('\n')) {
            if (line.startsWith('event: ')) type = line.slice(7);
            else if (line.startsWith('id: ')) id = line.slice(4);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (data) onEvent({ id, type, data: JSON.parse(data), receivedAt });
        }
      }
    } catch (error) {
      if ((error as Error).name !== 'AbortError') throw error;
    }
  })();
  return { close: () => controller.abort(), done };
}
