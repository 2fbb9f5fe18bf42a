// Writes events in small batches (everything emitted within one turn of the event loop goes in one
// transaction), and hands them to the hub only after the commit: an event is persisted before it is sent.
// A caller may also queue work of its own (`transact`) that must commit together with the events it causes,
// such as a run's end and its final status: that work runs in the batch's transaction, in queue order.
import type { Db } from '../store/database.ts';
import type { EventRepository, NewEvent, StoredEvent } from '../store/events.ts';
import type { EventHub } from './event-hub.ts';

/** What a job returns: its own result, and the events to append after it in the same transaction. */
export interface JobOutcome<T> {
  result: T;
  events?: NewEvent[];
}

interface PendingEvent {
  event: NewEvent;
  resolve: (stored: StoredEvent) => void;
  reject: (error: unknown) => void;
}

interface PendingJob {
  /** Runs inside the transaction; must use `trx` only (never the store's own handle) and never wait on this log. */
  work: (trx: Db) => Promise<JobOutcome<unknown>>;
  resolve: (value: { result: unknown; stored: StoredEvent[] }) => void;
  reject: (error: unknown) => void;
}

type Pending = PendingEvent | PendingJob;

function isJob(pending: Pending): pending is PendingJob {
  return 'work' in pending;
}

/**
 * Work that must commit with the events that cause it (webhooks/webhook-outbox.ts): called in each batch's
 * transaction after the append, with the events and what they were stored as (undefined where the deployment is
 * gone); returns whether it wrote anything, and then `committed` is called once the batch has committed.
 */
export interface EventOutbox {
  enqueueIn(trx: Db, events: readonly NewEvent[], stored: readonly (StoredEvent | undefined)[]): Promise<boolean>;
  committed(): void;
}

/** A commit that failed after the batch's work had all run: its outcome is unknown, so it is not retried. */
class CommitFailed extends Error {}

/** One ordered queue of the log: a deployment's events and jobs always go through the same one. */
interface Shard {
  queue: Pending[];
  flushing: Promise<void> | null;
  scheduled: boolean;
}

export class EventLog {
  readonly #repository: EventRepository;
  readonly #hub: EventHub;
  readonly #shards: Shard[];

  readonly #nodeId: string;
  #outbox: EventOutbox | undefined;

  /**
   * `shards` queues flush side by side (each deployment's in order): one for SQLite, whose single writer gains
   * nothing from more and most from batching; several for PostgreSQL, where a transaction mostly waits on
   * round trips and other deployments' work can proceed meanwhile.
   */
  constructor(repository: EventRepository, hub: EventHub, nodeId: string, shards = repository.concurrentAppends) {
    this.#repository = repository;
    this.#hub = hub;
    this.#nodeId = nodeId;
    this.#shards = Array.from({ length: Math.max(1, shards) }, () => ({ queue: [], flushing: null, scheduled: false }));
  }

  #shard(deploymentId: string): Shard {
    if (this.#shards.length === 1) return this.#shards[0]!;
    let hash = 0;
    for (let index = 0; index < deploymentId.length; index++) hash = (hash * 31 + deploymentId.charCodeAt(index)) | 0;
    return this.#shards[(hash >>> 0) % this.#shards.length]!;
  }

  /** Sets the outbox each batch's events go through before their commit (one at most). */
  attachOutbox(outbox: EventOutbox): void {
    this.#outbox = outbox;
  }

  emit(event: NewEvent): Promise<StoredEvent> {
    return new Promise((resolve, reject) => {
      const shard = this.#shard(event.deploymentId);
      shard.queue.push({ event, resolve, reject });
      this.#schedule(shard);
    });
  }

  /**
   * Runs `work` in the transaction of the next batch of the deployment's queue, after the events emitted before
   * it, and appends the events it returns (the deployment's) in that same transaction; they are published after
   * the commit. `work` must use only the transaction it is given and must not wait on this log.
   */
  transact<T>(deploymentId: string, work: (trx: Db) => Promise<JobOutcome<T>>): Promise<{ result: T; stored: StoredEvent[] }> {
    return new Promise((resolve, reject) => {
      const shard = this.#shard(deploymentId);
      shard.queue.push({ work, resolve: resolve as PendingJob['resolve'], reject });
      this.#schedule(shard);
    });
  }

  #schedule(shard: Shard): void {
    if (shard.scheduled || shard.flushing) return;
    shard.scheduled = true;
    setImmediate(() => {
      shard.scheduled = false;
      shard.flushing = this.#flush(shard).finally(() => {
        shard.flushing = null;
        if (shard.queue.length > 0) this.#schedule(shard);
      });
    });
  }

  async #flush(shard: Shard): Promise<void> {
    const batch = shard.queue;
    shard.queue = [];
    try {
      await this.#commit(batch);
    } catch (error) {
      if (error instanceof CommitFailed || batch.length === 1 || !batch.some(isJob)) {
        const cause = error instanceof CommitFailed ? error.cause : error;
        for (const pending of batch) pending.reject(cause);
        return;
      }
      // One job's failure must not take the rest of the batch with it: nothing was committed, so each job,
      // and each run of plain events between them, is tried again in a transaction of its own.
      let events: Pending[] = [];
      const segments: Pending[][] = [];
      for (const pending of batch) {
        if (!isJob(pending)) events.push(pending);
        else {
          if (events.length > 0) segments.push(events);
          events = [];
          segments.push([pending]);
        }
      }
      if (events.length > 0) segments.push(events);
      for (const segment of segments) {
        try {
          await this.#commit(segment);
        } catch (segmentError) {
          const cause = segmentError instanceof CommitFailed ? segmentError.cause : segmentError;
          for (const pending of segment) pending.reject(cause);
        }
      }
    }
  }

  /** One transaction: the jobs in queue order, then every event (emitted, or returned by a job) in queue order. */
  async #commit(batch: Pending[]): Promise<void> {
    const events: NewEvent[] = [];
    /** For each event, the index in `batch` of what produced it. */
    const owners: number[] = [];
    const results: unknown[] = new Array(batch.length);
    let worked = false;
    let enqueued = false;
    let stored: (StoredEvent | undefined)[];
    try {
      stored = await this.#repository.transaction(async (trx) => {
        for (let index = 0; index < batch.length; index++) {
          const pending = batch[index]!;
          if (isJob(pending)) {
            const outcome = await pending.work(trx);
            results[index] = outcome.result;
            for (const event of outcome.events ?? []) {
              events.push(event);
              owners.push(index);
            }
          } else {
            events.push(pending.event);
            owners.push(index);
          }
        }
        const appended = await this.#repository.appendIn(trx, events, this.#nodeId);
        if (this.#outbox && (await this.#outbox.enqueueIn(trx, events, appended))) enqueued = true;
        worked = true;
        return appended;
      });
    } catch (error) {
      throw worked ? new CommitFailed('commit failed', { cause: error }) : error;
    }
    if (enqueued) {
      try {
        this.#outbox!.committed();
      } catch {
        // committed: nothing past this point may fail the batch (see below)
      }
    }
    const published = stored.filter((event): event is StoredEvent => event !== undefined);
    try {
      this.#hub.publish(published);
    } catch {
      // The batch is committed: nothing past this point may reach #flush's catch, which would take it for failed
      // and commit its jobs again. (The hub already isolates and logs each subscriber's failure.)
    }
    const jobEvents: StoredEvent[][] = batch.map(() => []);
    for (let index = 0; index < events.length; index++) {
      const pending = batch[owners[index]!]!;
      const event = stored[index];
      if (isJob(pending)) {
        if (event) jobEvents[owners[index]!]!.push(event);
      } else if (event) pending.resolve(event);
      else pending.reject(new Error(`deployment ${pending.event.deploymentId} no longer exists`));
    }
    for (let index = 0; index < batch.length; index++) {
      const pending = batch[index]!;
      if (isJob(pending)) pending.resolve({ result: results[index], stored: jobEvents[index]! });
    }
  }

  /** Resolves once everything emitted so far is committed. */
  async drain(): Promise<void> {
    for (const shard of this.#shards) {
      while (shard.queue.length > 0 || shard.flushing || shard.scheduled) {
        if (shard.flushing) await shard.flushing;
        else await new Promise((resolve) => setImmediate(resolve));
      }
    }
  }
}
