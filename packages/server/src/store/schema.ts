// Schema migrations. The DDL is written once for both dialects (BIGINT/TEXT/INTEGER mean the same to both).
import { sql } from 'kysely';
import type { Db, Dialect } from './database.ts';

const MIGRATIONS: string[][] = [
  [
    `CREATE TABLE accounts (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at BIGINT NOT NULL)`,
    `CREATE TABLE api_keys (
      id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts(id), name TEXT,
      key_hash TEXT NOT NULL UNIQUE, key_hint TEXT NOT NULL, scopes TEXT NOT NULL,
      created_at BIGINT NOT NULL, last_used_at BIGINT, revoked_at BIGINT)`,
    `CREATE TABLE secrets (
      id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts(id), name TEXT NOT NULL,
      ciphertext TEXT NOT NULL, created_at BIGINT NOT NULL, deleted_at BIGINT)`,
    `CREATE INDEX secrets_account ON secrets (account_id, created_at, id)`,
    `CREATE TABLE deployments (
      id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts(id), customer_id TEXT NOT NULL,
      name TEXT NOT NULL, runtime TEXT NOT NULL, model TEXT NOT NULL, system_prompt TEXT NOT NULL,
      sandbox TEXT NOT NULL, mcp_servers TEXT NOT NULL, skills TEXT NOT NULL, secrets TEXT NOT NULL,
      features TEXT NOT NULL, status TEXT NOT NULL, status_reason TEXT, default_thread_id TEXT NOT NULL,
      event_seq BIGINT NOT NULL DEFAULT 0, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
      deleted_at BIGINT)`,
    `CREATE INDEX deployments_account_created ON deployments (account_id, created_at, id)`,
    `CREATE TABLE threads (
      id TEXT PRIMARY KEY, deployment_id TEXT NOT NULL REFERENCES deployments(id), title TEXT,
      active_run_id TEXT, message_count INTEGER NOT NULL DEFAULT 0, history_seq BIGINT NOT NULL DEFAULT 0,
      summary TEXT, summary_through BIGINT NOT NULL DEFAULT 0, created_at BIGINT NOT NULL,
      updated_at BIGINT NOT NULL, last_activity_at BIGINT, deleted_at BIGINT)`,
    `CREATE INDEX threads_deployment_created ON threads (deployment_id, created_at, id)`,
    `CREATE TABLE messages (
      id TEXT PRIMARY KEY, thread_id TEXT NOT NULL REFERENCES threads(id), deployment_id TEXT NOT NULL,
      seq BIGINT NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL, run_id TEXT, created_at BIGINT NOT NULL)`,
    `CREATE UNIQUE INDEX messages_thread_seq ON messages (thread_id, seq)`,
    `CREATE TABLE history (
      thread_id TEXT NOT NULL REFERENCES threads(id), seq BIGINT NOT NULL, run_id TEXT,
      message TEXT NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (thread_id, seq))`,
    `CREATE TABLE runs (
      id TEXT PRIMARY KEY, deployment_id TEXT NOT NULL REFERENCES deployments(id),
      thread_id TEXT NOT NULL REFERENCES threads(id), status TEXT NOT NULL, trigger TEXT NOT NULL,
      error TEXT, steps INTEGER NOT NULL DEFAULT 0, cancel_requested INTEGER NOT NULL DEFAULT 0,
      lease_owner TEXT, lease_expires_at BIGINT, created_at BIGINT NOT NULL, started_at BIGINT,
      completed_at BIGINT)`,
    `CREATE INDEX runs_deployment_created ON runs (deployment_id, created_at, id)`,
    `CREATE INDEX runs_status_lease ON runs (status, lease_expires_at)`,
    `CREATE TABLE run_inputs (
      id TEXT PRIMARY KEY, run_id TEXT NOT NULL REFERENCES runs(id), thread_id TEXT NOT NULL,
      content TEXT NOT NULL, created_at BIGINT NOT NULL, consumed_at BIGINT)`,
    `CREATE INDEX run_inputs_run ON run_inputs (run_id, created_at)`,
    `CREATE TABLE events (
      deployment_id TEXT NOT NULL, seq BIGINT NOT NULL, type TEXT NOT NULL, thread_id TEXT, run_id TEXT,
      data TEXT NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (deployment_id, seq))`,
  ],
  [
    `CREATE TABLE idempotency_keys (
      account_id TEXT NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL, status_code INTEGER,
      response_body TEXT, created_at BIGINT NOT NULL, PRIMARY KEY (account_id, key))`,
  ],
  [`ALTER TABLE run_inputs ADD COLUMN attachments TEXT`, `ALTER TABLE messages ADD COLUMN attachments TEXT`],
  [
    `CREATE TABLE snapshots (
      id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts(id), deployment_id TEXT NOT NULL,
      customer_id TEXT NOT NULL, size_bytes BIGINT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL)`,
    `CREATE INDEX snapshots_account_created ON snapshots (account_id, created_at, id)`,
    `CREATE INDEX snapshots_expires ON snapshots (expires_at)`,
  ],
  [
    // The unpacked (allocated) size of a snapshot, checked against the disk quota of a deployment restoring it.
    `ALTER TABLE snapshots ADD COLUMN content_bytes BIGINT`,
    // Restores are done by provisioning, in the background: the row says what to restore until it is done,
    // across a restart too.
    `CREATE TABLE deployment_restores (
      deployment_id TEXT PRIMARY KEY, snapshot_id TEXT NOT NULL, created_at BIGINT NOT NULL)`,
  ],
  [
    // Fencing and the attempt cap (runs/run-journal.ts): `attempt` goes up each time a node takes a run (its
    // fencing token, checked with lease_owner by every write of the run); `handoffs` counts the attempts that
    // ended by handing the run back on a graceful shutdown, which do not count against HERM_RUN_MAX_ATTEMPTS.
    `ALTER TABLE runs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1`,
    `ALTER TABLE runs ADD COLUMN handoffs INTEGER NOT NULL DEFAULT 0`,
  ],
  [
    // The sweeper of expired idempotency keys (store/idempotency.ts) finds them by age.
    `CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at)`,
  ],
  [
    // Each claim of an idempotency key has a token of its own (store/idempotency.ts): a claim whose holder died is
    // taken over with a new token, and a completion counts only with the token that claimed.
    `ALTER TABLE idempotency_keys ADD COLUMN claim_token TEXT`,
  ],
  [
    // The hosts a secret's real value may be sent to by the egress proxy (a JSON array of allowlist entries:
    // `api.example.com`, `*.example.com`, `host:port`); empty: the sandbox sees only its placeholder, never swapped.
    `ALTER TABLE secrets ADD COLUMN allowed_hosts TEXT NOT NULL DEFAULT '[]'`,
  ],
  [
    // The Tools API's per-deployment switches: a JSON array of the tool names turned off (built-in or
    // `<server>__<tool>`); a disabled tool is not listed to the model.
    `ALTER TABLE deployments ADD COLUMN disabled_tools TEXT NOT NULL DEFAULT '[]'`,
  ],
];

/**
 * pg_advisory_lock key of the migration run ("hermmigr" in ASCII): any fixed number would do, it only has to be
 * Herm's own in a database it may share.
 */
const MIGRATION_LOCK_KEY = '7522544566904907634';

/** How long a SQLite migration waits for another process's write lock in all (busy_timeout waits 15 s a try). */
const SQLITE_LOCK_WAIT_MS = 60_000;

/**
 * Applies the migrations not yet recorded in herm_migrations, each in its own transaction. Any number of processes
 * may run this at once on a fresh database (nodes starting together, `herm keys create` beside `herm serve`):
 * PostgreSQL: the whole run holds a session advisory lock on one connection, so even the CREATE TABLE IF NOT
 * EXISTS (which races on pg_type without it) runs in one process at a time, and the applied versions are read only
 * once the lock is held. SQLite: each migration runs in a BEGIN IMMEDIATE transaction (the file's write lock) and
 * checks inside it that no other process applied it meanwhile.
 */
export async function migrate(db: Db, dialect: Dialect): Promise<void> {
  await db.connection().execute(async (connection) => {
    if (dialect === 'postgres') await sql.raw(`SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY})`).execute(connection);
    let failed = false;
    try {
      await sql`CREATE TABLE IF NOT EXISTS herm_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`.execute(connection);
      const applied = await sql<{ version: number }>`SELECT version FROM herm_migrations`.execute(connection);
      const done = new Set(applied.rows.map((row) => Number(row.version)));
      for (const [index, statements] of MIGRATIONS.entries()) {
        const version = index + 1;
        if (done.has(version)) continue;
        await begin(connection, dialect);
        try {
          const again = await sql<{ version: number }>`SELECT version FROM herm_migrations WHERE version = ${version}`.execute(connection);
          if (again.rows.length === 0) {
            for (const statement of statements) await sql.raw(statement).execute(connection);
            await sql`INSERT INTO herm_migrations (version, applied_at) VALUES (${version}, ${Date.now()})`.execute(connection);
          }
          await sql.raw('COMMIT').execute(connection);
        } catch (error) {
          await sql.raw('ROLLBACK').execute(connection).catch(() => {});
          throw error;
        }
      }
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      // An unlock that fails after a failed migration must not hide why it failed; the caller closes the pool,
      // and with its connection the lock goes.
      if (dialect === 'postgres') {
        await sql
          .raw(`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})`)
          .execute(connection)
          .catch((error: unknown) => {
            if (!failed) throw error;
          });
      }
    }
  });
}

/** BEGIN; on SQLite BEGIN IMMEDIATE, retried while another process holds the write lock past busy_timeout. */
async function begin(connection: Db, dialect: Dialect): Promise<void> {
  if (dialect === 'postgres') {
    await sql.raw('BEGIN').execute(connection);
    return;
  }
  const deadline = Date.now() + SQLITE_LOCK_WAIT_MS;
  for (;;) {
    try {
      await sql.raw('BEGIN IMMEDIATE').execute(connection);
      return;
    } catch (error) {
      if (!/database is locked|SQLITE_BUSY/i.test((error as Error).message) || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
