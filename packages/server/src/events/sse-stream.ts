// One SSE connection: replays committed events after a position, then switches to live delivery with no gap
// and no duplicate. The hub subscription is taken before the position is read and the replay runs, and
// live events that arrive meanwhile are buffered and later filtered by seq.
// The stream keeps its position (every event up to it is sent or filtered out): an event that arrives past
// a gap (a lost notice, a relay that was down, events of two nodes arriving out of order), or a resync asked
// by the relay, sends it back to the store for what it missed before it goes on. A store that cannot be read
// is retried with backoff while the stream stays open, so a client rides out a database outage of its node.
import type { EventFilter, EventRepository, StoredEvent } from '../store/events.ts';
import { backoffDelay, type Backoff } from '../util/backoff.ts';
import { withTimeout } from '../util/with-timeout.ts';
import type { EventHub, EventSubscriber } from './event-hub.ts';
import { deploymentTag, formatEventId } from './event-id.ts';

const encoder = new TextEncoder();
/** Events per replay page, and how many may wait in a connection's queue before replay waits for the reader. */
const REPLAY_PAGE = 5_000;
/**
 * A client this many events behind is disconnected; it reconnects with Last-Event-ID and replays from the store.
 * So is a stream holding this many live events while it reads the store.
 */
const MAX_QUEUED_EVENTS = 20_000;
/**
 * The reconnection delay hinted to clients (the SSE `retry:` field): sent when a stream starts, and when the server
 * shuts down and ends its streams, so that clients come back soon, to another node or to the restarted one.
 */
export const SSE_RETRY_MS = 1_000;
const DEFAULT_RETRY_BACKOFF: Backoff = { minMs: 100, maxMs: 5_000 };
/** A store read that takes longer is given up and tried again (a connection can hang without failing). */
const STORE_READ_TIMEOUT_MS = 30_000;

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
  /** The API key the stream was opened with: revoking it ends the stream. */
  keyId?: string | undefined;
  /** Called with the first error of a run of failed store reads; the stream retries them and stays open. */
  onError?: (error: unknown) => void;
  /** Delays between retries of a failed store read: 100 ms doubling to 5 s by default. */
  retryBackoff?: Backoff | undefined;
}

export interface OpenedEventStream {
  body: ReadableStream<Uint8Array>;
  /** The seq the stream starts after. */
  startSeq: number;
  /** Ends the stream: the client sees its end. */
  close(): void;
}

function matches(event: StoredEvent, filter: EventFilter): boolean {
  if (filter.threadId !== undefined && event.threadId !== filter.threadId) return false;
  if (filter.runId !== undefined && event.runId !== filter.runId) return false;
  return true;
}

export async function openEventStream(options: EventStreamOptions): Promise<OpenedEventStream> {
  const { repository, hub, deploymentId, filter } = options;
  const backoff = options.retryBackoff ?? DEFAULT_RETRY_BACKOFF;
  const tag = deploymentTag(deploymentId);
  /** Events that arrived while the stream read the store, or past a gap: sent in seq order once it has. */
  const buffered: StoredEvent[] = [];
  /** Every event of the deployment up to this seq is handled: sent, or left out by the filter. */
  let position = 0;
  /** Set once the position is known: events in order are then sent as they come. */
  let live = false;
  let opened = false;
  /** A catch-up from the store is under way. */
  let catchingUp = false;
  /** Another catch-up was asked for meanwhile (the relay reconnected): the one under way reads the store again. */
  let resyncRequested = false;
  let closed = false;
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let drained: (() => void) | undefined;
  let wake: (() => void) | undefined;
  let unsubscribe = () => {};

  /** Ends the stream, after `finalFrame` (a retry hint, a comment saying why) when given. */
  const close = (finalFrame?: string) => {
    if (closed) return;
    closed = true;
    drained?.();
    wake?.();
    unsubscribe();
    buffered.length = 0;
    if (heartbeat) clearInterval(heartbeat);
    try {
      if (finalFrame) controller?.enqueue(encoder.encode(finalFrame));
      controller?.close();
    } catch {
      // already closed by the consumer
    }
  };

  const send = (event: StoredEvent) => {
    if (closed || !controller) return;
    controller.enqueue(eventFrame(event));
    if ((controller.desiredSize ?? 0) < -MAX_QUEUED_EVENTS) close();
  };

  /** A page of replayed events, framed by the store, as one chunk. */
  const sendPage = (page: { count: number; lastSeq: number; frames: string }) => {
    if (closed || !controller || page.count === 0) return;
    const chunk = encoder.encode(page.frames);
    eventsInChunk.set(chunk, page.count);
    position = Math.max(position, page.lastSeq);
    controller.enqueue(chunk);
    if ((controller.desiredSize ?? 0) < -MAX_QUEUED_EVENTS) close();
  };

  /** Sends the buffered events that follow on from the position; true when none is left (no gap). */
  const sendBuffered = (): boolean => {
    buffered.sort((a, b) => a.seq - b.seq);
    let index = 0;
    for (; index < buffered.length && !closed; index++) {
      const event = buffered[index]!;
      if (event.seq <= position) continue;
      if (event.seq !== position + 1) break;
      position = event.seq;
      if (matches(event, filter)) send(event);
    }
    buffered.splice(0, index);
    return buffered.length === 0;
  };

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        wake = undefined;
        resolve();
      }, ms);
      timer.unref();
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  /** Everything committed after the position, page by page at the reader's pace. */
  const replay = async () => {
    for (;;) {
      const reading = repository.replayFrames(deploymentId, position, filter, REPLAY_PAGE, tag);
      const page = await withTimeout(reading, STORE_READ_TIMEOUT_MS, 'reading events');
      sendPage(page);
      if (page.count < REPLAY_PAGE || closed) return;
      // Replay goes at the reader's pace: wait until it has taken most of what is queued.
      while (!closed && (controller?.desiredSize ?? 0) <= 0) await new Promise<void>((resolve) => (drained = resolve));
    }
  };

  /**
   * Reads from the store what the stream missed, then the buffered events that follow on, until there is no gap
   * left; a failed read is retried with backoff and the stream stays open meanwhile.
   */
  const catchUp = async () => {
    let failures = 0;
    for (;;) {
      resyncRequested = false;
      const before = position;
      try {
        // Read first: everything up to it is committed, so the replay that follows returns all of it.
        const committed = await withTimeout(repository.currentSeq(deploymentId), STORE_READ_TIMEOUT_MS, 'reading the position');
        if (closed) return;
        if (committed === undefined) return close(': deployment deleted\n\n');
        if (committed > position) await replay();
        if (closed) return;
        position = Math.max(position, committed);
      } catch (error) {
        if (closed) return;
        if (failures === 0) options.onError?.(error);
        await sleep(backoffDelay(failures++, backoff));
        continue;
      }
      if (closed) return;
      if (position !== before) failures = 0;
      if (sendBuffered() && !resyncRequested) {
        // In the same turn as the last send: an event delivered from now on is sent, or starts a catch-up.
        catchingUp = false;
        live = true;
        return;
      }
      // Still a gap: what fills it is committed (an event is published after its commit), so one more read
      // finds it. Should a read bring nothing new, the next waits, in case something is badly wrong.
      if (position === before && !resyncRequested) await sleep(backoffDelay(failures++, backoff));
    }
  };

  const startCatchUp = () => {
    if (!opened || catchingUp) {
      resyncRequested = true;
      return;
    }
    live = false;
    catchingUp = true;
    catchUp().catch((error: unknown) => {
      options.onError?.(error);
      close();
    });
  };

  const subscriber: EventSubscriber = {
    keyId: options.keyId,
    deliver(event) {
      if (closed || event.seq <= position) return;
      if (live && event.seq === position + 1) {
        position = event.seq;
        if (matches(event, filter)) send(event);
        return;
      }
      buffered.push(event);
      if (buffered.length > MAX_QUEUED_EVENTS) close();
      else if (live) startCatchUp();
    },
    resync() {
      if (!closed) startCatchUp();
    },
    end({ retryMs, reason }) {
      close(`${retryMs === undefined ? '' : `retry: ${retryMs}\n`}: ${reason}\n\n`);
    },
  };

  const body = new ReadableStream<Uint8Array>(
    {
      start(streamController) {
        controller = streamController;
        streamController.enqueue(encoder.encode(`: connected\n\nretry: ${SSE_RETRY_MS}\n\n`));
        heartbeat = setInterval(() => {
          if (!closed) streamController.enqueue(encoder.encode(': ping\n\n'));
        }, options.heartbeatMs);
        heartbeat.unref();
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

  // Subscribed before the position is read: nothing committed after it can be missed.
  unsubscribe = hub.subscribe(deploymentId, subscriber);
  let startSeq: number;
  try {
    startSeq = options.afterSeq ?? (await repository.currentSeq(deploymentId)) ?? 0;
  } catch (error) {
    close();
    throw error;
  }
  position = startSeq;
  opened = true;
  if (!closed) {
    // At the newest event, the buffered events that follow on are all there is to send; after a Last-Event-ID,
    // or past a gap, the store has the rest.
    if (options.afterSeq === undefined && !resyncRequested && sendBuffered()) live = true;
    else startCatchUp();
  }
  return { body, startSeq, close: () => close() };
}
