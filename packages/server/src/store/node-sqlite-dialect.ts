// Kysely's SqliteDialect speaks to a better-sqlite3-shaped object; this adapts Node's built-in node:sqlite
// (no native addon to compile, which matters on machines that cannot download prebuilt binaries).
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { Worker } from 'node:worker_threads';
import { SqliteDialect, type SqliteDatabase, type SqliteStatement } from 'kysely';

function bindable(value: unknown): unknown {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value instanceof Date) return value.getTime();
  return value;
}

class NodeSqliteStatement implements SqliteStatement {
  readonly reader: boolean;
  readonly #statement: StatementSync;

  constructor(statement: StatementSync) {
    this.#statement = statement;
    this.reader = statement.columns().length > 0;
  }

  all(parameters: ReadonlyArray<unknown>): unknown[] {
    return this.#statement.all(...(parameters.map(bindable) as never[]));
  }

  run(parameters: ReadonlyArray<unknown>): { changes: number | bigint; lastInsertRowid: number | bigint } {
    return this.#statement.run(...(parameters.map(bindable) as never[]));
  }

  iterate(parameters: ReadonlyArray<unknown>): IterableIterator<unknown> {
    return this.#statement.iterate(...(parameters.map(bindable) as never[])) as IterableIterator<unknown>;
  }
}

/** Pages the WAL may reach before the server's own connection checkpoints (a backstop: see WalCheckpointer). */
const WAL_AUTOCHECKPOINT_PAGES = 4_000;

export function openSqliteDatabase(filename: string): DatabaseSync {
  const database = new DatabaseSync(filename);
  // First: another process (the CLI, a second server on the same file) may hold a lock, and switching a fresh
  // file to WAL needs one of its own. 15 s: a process migrating a fresh file on a loaded machine can hold the
  // write lock for seconds, and a statement that gives up fails its request. (Only contention waits: one server
  // alone on its file never does.)
  database.exec('PRAGMA busy_timeout = 15000');
  // WAL lets the CLI (keys, secrets) write while the server runs; NORMAL sync is durable across process
  // crashes (the WAL is fsynced at checkpoints), which is the failure this embedded mode guards against.
  switchToWal(database);
  database.exec('PRAGMA synchronous = NORMAL');
  database.exec('PRAGMA foreign_keys = ON');
  database.exec(`PRAGMA wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
  return database;
}

/** How long opening waits for other processes switching the same fresh file to WAL (busy_timeout's budget). */
const WAL_SWITCH_DEADLINE_MS = 15_000;

/**
 * Switching a fresh file to WAL upgrades a read lock to a write lock. When several processes open the same fresh
 * file at once, SQLite answers that upgrade with SQLITE_BUSY at once instead of waiting (two readers both
 * upgrading would deadlock), so busy_timeout does not cover it: retry with a short sleep until one has switched.
 */
function switchToWal(database: DatabaseSync): void {
  const deadline = Date.now() + WAL_SWITCH_DEADLINE_MS;
  for (let delayMs = 5; ; delayMs = Math.min(delayMs * 2, 200)) {
    try {
      database.exec('PRAGMA journal_mode = WAL');
      return;
    } catch (error) {
      const code = (error as { errcode?: number }).errcode;
      // 5 = SQLITE_BUSY, 6 = SQLITE_LOCKED (primary codes; extended codes keep them in the low byte).
      if (code === undefined || ![5, 6].includes(code & 0xff) || Date.now() >= deadline) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, delayMs);
    }
  }
}

/** Commits between two checkpoint requests: a few hundred WAL pages. */
const COMMITS_PER_CHECKPOINT = 32;
/** A checkpointer without requests for this long ends its thread (it costs memory while it lives). */
const CHECKPOINTER_IDLE_MS = 1_500;

const CHECKPOINTER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { DatabaseSync } = require('node:sqlite');
const database = new DatabaseSync(workerData.filename);
const checkpoint = database.prepare('PRAGMA wal_checkpoint(PASSIVE)');
parentPort.on('message', () => {
  try { checkpoint.get(); } catch {}
  parentPort.postMessage('done');
});
`;

/**
 * Checkpoints the WAL on a thread of its own. A checkpoint copies the WAL's pages into the database file and
 * fsyncs it; left to SQLite it runs inside whichever commit crosses the threshold, on the event loop, where it
 * was two thirds of the cost of a commit (and stalls of tens of milliseconds). PASSIVE checkpoints never block
 * the server's writes. The thread starts with write activity and ends when writes stop.
 */
class WalCheckpointer {
  readonly #filename: string;
  #worker: Worker | undefined;
  #busy = false;
  #pending = false;
  #idleTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(filename: string) {
    this.#filename = filename;
  }

  request(): void {
    if (this.#closed) return;
    if (this.#busy) {
      this.#pending = true;
      return;
    }
    if (!this.#worker) {
      const worker = new Worker(CHECKPOINTER_SOURCE, { eval: true, workerData: { filename: this.#filename } });
      worker.unref();
      worker.on('message', () => {
        this.#busy = false;
        if (this.#pending) {
          this.#pending = false;
          this.request();
        }
      });
      // A checkpointer that fails leaves the work to SQLite's own checkpoints (wal_autocheckpoint).
      worker.on('error', () => this.#stop(worker));
      worker.on('exit', () => this.#stop(worker));
      this.#worker = worker;
    }
    this.#busy = true;
    this.#worker.postMessage('checkpoint');
    if (this.#idleTimer) this.#idleTimer.refresh();
    else {
      this.#idleTimer = setTimeout(() => this.#stop(this.#worker), CHECKPOINTER_IDLE_MS);
      this.#idleTimer.unref();
    }
  }

  #stop(worker: Worker | undefined): void {
    if (!worker || this.#worker !== worker) return;
    this.#worker = undefined;
    this.#busy = false;
    this.#pending = false;
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    worker.terminate().catch(() => {});
  }

  close(): void {
    this.#closed = true;
    this.#stop(this.#worker);
  }
}

export function createNodeSqliteDialect(database: DatabaseSync, filename?: string): SqliteDialect {
  const statements = new Map<string, NodeSqliteStatement>();
  const checkpointer = filename && filename !== ':memory:' ? new WalCheckpointer(filename) : undefined;
  let commits = 0;
  const adapter: SqliteDatabase = {
    close: () => {
      checkpointer?.close();
      database.close();
    },
    prepare(sqlText: string) {
      if (checkpointer && sqlText === 'commit' && ++commits % COMMITS_PER_CHECKPOINT === 0) {
        // Runs after this commit: the request reaches the thread once the event loop is free.
        queueMicrotask(() => checkpointer.request());
      }
      // Prepared statements are cached: the same few hundred queries run over and over.
      let statement = statements.get(sqlText);
      if (!statement) {
        statement = new NodeSqliteStatement(database.prepare(sqlText));
        if (statements.size > 2000) statements.clear();
        statements.set(sqlText, statement);
      }
      return statement;
    },
  };
  return new SqliteDialect({ database: adapter });
}
