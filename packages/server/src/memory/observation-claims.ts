// The memory observer's claims of a thread's observation work, with what makes them exactly-once across a crash
// (memory/memory-observer.ts says how it uses them). The observer writes a thread's observations as memories (files,
// index and versions: MemoryService) and only then moves the thread's marker past the messages they came from
// (MemoryRepository.finishObservation); a process killed between the two leaves the memories written and the marker
// where it was, and whoever claims the work next would observe the same messages again and write the same facts a
// second time (in other words, if the model words them differently). So before writing, the claim's holder records on
// the marker what it is about to write: the seq it observes through, how many memories, from when, and the due time
// it claimed. The next claim reads that back, counts the memories the observer created from the thread since then
// (memory_versions: actor `observer`, the thread's id) and, when they are all there, only moves the marker.
//
// The record is the marker row's `writing` column (JSON): a claim leaves it as it is and returns it; a finished claim
// clears it (what it described is written, and the marker moved past it); a failed or handed-back one keeps it, for
// the next claim to check.
import type { Db, Dialect } from '../store/database.ts';
import { query } from '../store/sql.ts';
import { OBSERVATION_COLUMNS, observationFromRow, type ObservationRow, type ObservationState } from './memory-repository.ts';

/** What a claim's holder was writing when it last said: the memories of the thread's messages through `through`. */
export interface ObservationWrite {
  /** The last message seq the observations came from. */
  through: number;
  /** How many memories it creates. */
  count: number;
  /** A time no later than the creation of the first of them (its clock: the node's that writes them). */
  since: number;
  /** The due time of the claim (finishObservation's `claimedDueAt`). */
  dueAt: number;
}

/** What a marker row's `writing` says; undefined when it says nothing (or something unreadable). */
export function parseWriting(value: string | null | undefined): ObservationWrite | undefined {
  if (!value) return undefined;
  try {
    const parsed = JSON.parse(value) as Partial<ObservationWrite>;
    const fields = [parsed.through, parsed.count, parsed.since, parsed.dueAt];
    if (!fields.every((field) => typeof field === 'number' && Number.isFinite(field))) return undefined;
    return parsed as ObservationWrite;
  } catch {
    return undefined;
  }
}

export class ObservationClaims {
  readonly #db: Db;
  readonly #dialect: Dialect;

  constructor(db: Db, dialect: Dialect) {
    this.#db = db;
    this.#dialect = dialect;
  }

  /**
   * Takes the thread's observation work for `owner` until `expiresAt`, unless another node holds it; with what the
   * holder before was writing when it last said (it may have died writing).
   */
  async claim(threadId: string, owner: string, now: number, expiresAt: number): Promise<{ state: ObservationState; writing: ObservationWrite | undefined } | undefined> {
    const [row] = await query<ObservationRow & { writing: string | null }>(
      this.#db,
      this.#dialect,
      `UPDATE memory_observations SET lease_owner = $2, lease_expires_at = $4
       WHERE thread_id = $1 AND pending = 1 AND due_at <= $3 AND (lease_expires_at IS NULL OR lease_expires_at < $3)
       RETURNING ${OBSERVATION_COLUMNS}, writing`,
      [threadId, owner, now, expiresAt],
    );
    if (!row) return undefined;
    return { state: observationFromRow(row), writing: parseWriting(row.writing) };
  }

  /**
   * Records what the lease's holder is about to write; false, and nothing recorded, when `owner` no longer holds a
   * live lease (another node may be observing the same messages).
   */
  async markWriting(threadId: string, owner: string, write: ObservationWrite, now: number): Promise<boolean> {
    const rows = await query<{ thread_id: string }>(
      this.#db,
      this.#dialect,
      'UPDATE memory_observations SET writing = $3 WHERE thread_id = $1 AND lease_owner = $2 AND lease_expires_at >= $4 RETURNING thread_id',
      [threadId, owner, JSON.stringify(write), now],
    );
    return rows.length > 0;
  }

  /** How many memories the observer created from the thread since `since`. */
  async observerCreations(deploymentId: string, threadId: string, since: number): Promise<number> {
    const [row] = await query<{ created: number | string }>(
      this.#db,
      this.#dialect,
      "SELECT COUNT(*) AS created FROM memory_versions WHERE deployment_id = $1 AND action = 'created' AND actor = 'observer' AND thread_id = $2 AND created_at >= $3",
      [deploymentId, threadId, since],
    );
    return Number(row?.created ?? 0);
  }

  /**
   * Lets every observation lease lapse at once (an embedded start: no other process can hold one), so a thread whose
   * observer died is observed at this start rather than once its lease expires (what it was writing is kept).
   * Returns how many.
   */
  async expireAllLeases(): Promise<number> {
    const rows = await query<{ thread_id: string }>(
      this.#db,
      this.#dialect,
      'UPDATE memory_observations SET lease_expires_at = NULL WHERE lease_expires_at IS NOT NULL RETURNING thread_id',
      [],
    );
    return rows.length;
  }
}
