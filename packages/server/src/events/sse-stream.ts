// One SSE connection: replays committed events after a position, then switches to live delivery with no gap
// and no duplicate. The hub subscription is taken before the position is read and the replay runs, and
// live events that arrive meanwhile are buffered and later filtered by seq.
import type { EventFilter, EventRepository, StoredEvent } from '../store/events.ts';
import type { EventHub } from './event-hub.ts';
import { deploymentTag, formatEventId } from './event-id.ts';

const encoder = new TextEncoder();
/** Events per replay page, and how many may wait in a connection's queue before replay waits for the reader. */
const REPLAY_PAGE = 5_000;
/** A client this many events behind is disconnected; it reconnects with Last-Event-ID and replays from the store. */
const MAX_QUEUED_EVENTS = 20_000;

/** Chunks that carry more than one event (a replay page); every other chunk is one event or comment. */
const eventsInChunk = new WeakMap<Uint8Array, number>();

const frames = new WeakMap<StoredEvent, Uint8Array>();

/** The wire form of an event, built once however many connections send it. */
export function eventFrame(event: StoredEvent): Uint8Array {
  let frame = frames.get(event);
  if (!frame) {
    frame = encoder.encode(`event: ${event.type}\nid: ${formatEventId(event.deploymentId, event.seq)}\ndata: ${event.json}\n\n`);
    frames.set(event, frame);
  }
  return frame;
}

export interface EventStreamOptions {
  repository: EventRepository;
  hub: EventHub;
  deploymentId: string;
  /** Replay everything after this seq; undefined starts at the newest committed event. */
  afterSeq: number | undefined;
  filter: EventFilter;
  heartbeatMs: number;
  onError?: (error: unknown) => void;
}

export interface OpenedEventStream {
  body: ReadableStream<Uint8Array>;
  /** The seq the stream starts after. */
  startSeq: number;
}

function matches(event: StoredEvent, filter: EventFilter): boolean {
  if (filter.threadId !== undefined && event.threadId !== filter.threadId) return false;
  if (filter.runId !== undefined && event.runId !== filter.runId) return false;
  return true;
}

export async function openEventStream(options: EventStreamOptions): Promise<OpenedEventStream> {
  const { repository, hub, deploymentId, filter } = options;
  const buffered: StoredEvent[] = [];
  let live = false;
  let closed = false;
  let lastSentSeq = 0;
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let drained: (() => void) | undefined;

  const close = () => {
    if (closed) return;
    closed = true;
    drained?.();
    unsubscribe();
    if (heartbeat) clearInterval(heartbeat);
    try {
      controller?.close();
    } catch {
      // already closed by the consumer
    }
  };

  const send = (event: StoredEvent) => {
    if (closed || !controller || event.seq <= lastSentSeq) return;
    lastSentSeq = event.seq;
    controller.enqueue(eventFrame(event));
    if ((controller.desiredSize ?? 0) < -MAX_QUEUED_EVENTS) close();
  };

  /** A page of replayed events, framed by the store, as one chunk. */
  const sendPage = (page: { count: number; lastSeq: number; frames: string }) => {
    if (closed || !controller || page.count === 0) return;
    const chunk = encoder.encode(page.frames);
    eventsInChunk.set(chunk, page.count);
    lastSentSeq = page.lastSeq;
    controller.enqueue(chunk);
    if ((controller.desiredSize ?? 0) < -MAX_QUEUED_EVENTS) close();
  };

  const unsubscribe = hub.subscribe(deploymentId, {
    deliver(event) {
      if (!matches(event, filter)) return;
      if (live) send(event);
      else buffered.push(event);
    },
  });

  const startSeq = options.afterSeq ?? (await repository.currentSeq(deploymentId)) ?? 0;
  lastSentSeq = startSeq;

  const tag = deploymentTag(deploymentId);
  const replay = async () => {
    for (;;) {
      const page = await repository.replayFrames(deploymentId, lastSentSeq, filter, REPLAY_PAGE, tag);
      sendPage(page);
      if (page.count < REPLAY_PAGE || closed) break;
      // Replay goes at the reader's pace: wait until it has taken most of what is queued.
      while (!closed && (controller?.desiredSize ?? 0) <= 0) await new Promise<void>((resolve) => (drained = resolve));
    }
    for (const event of buffered) send(event);
    buffered.length = 0;
    live = true;
  };

  const body = new ReadableStream<Uint8Array>(
    {
      start(streamController) {
        controller = streamController;
        streamController.enqueue(encoder.encode(': connected\n\n'));
        heartbeat = setInterval(() => {
          if (!closed) streamController.enqueue(encoder.encode(': ping\n\n'));
        }, options.heartbeatMs);
        heartbeat.unref();
        replay().catch((error: unknown) => {
          options.onError?.(error);
          close();
        });
      },
      pull() {
        drained?.();
        drained = undefined;
      },
      cancel() {
        close();
      },
    },
    // Measured in events, so a replay page counts for what it holds.
    { highWaterMark: REPLAY_PAGE, size: (chunk) => eventsInChunk.get(chunk) ?? 1 },
  );
  return { body, startSeq };
}
