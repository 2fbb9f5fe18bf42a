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
  [
    // Webhook endpoints (webhooks/): per account, optionally one deployment's; the signing secret encrypted, and the
    // previous one until its grace period ends (both sign meanwhile). `failing_since`: the first failed attempt after
    // the last success, for disabling an endpoint that keeps failing.
    `CREATE TABLE webhook_endpoints (
      id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts(id), deployment_id TEXT, url TEXT NOT NULL,
      description TEXT, events TEXT NOT NULL, status TEXT NOT NULL, disabled_reason TEXT, disabled_at BIGINT,
      secret_ciphertext TEXT NOT NULL, previous_secret_ciphertext TEXT, previous_secret_expires_at BIGINT,
      failing_since BIGINT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, deleted_at BIGINT)`,
    `CREATE INDEX webhook_endpoints_account ON webhook_endpoints (account_id, created_at, id)`,
    // The outbox: one row per message and endpoint, written in the transaction of the event it tells of; its id is
    // the webhook-id of every attempt. A node sends it while it holds the lease (lease_token fences its writes).
    `CREATE TABLE webhook_deliveries (
      id TEXT PRIMARY KEY, endpoint_id TEXT NOT NULL, account_id TEXT NOT NULL, event_type TEXT NOT NULL,
      payload TEXT NOT NULL, status TEXT NOT NULL, attempt_count INTEGER NOT NULL DEFAULT 0,
      schedule_index INTEGER NOT NULL DEFAULT 0, next_attempt_at BIGINT, lease_owner TEXT, lease_token TEXT,
      lease_expires_at BIGINT, deployment_id TEXT, run_id TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
      completed_at BIGINT)`,
    `CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at)`,
    `CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at, id)`,
    // Finished deliveries are kept for HERM_WEBHOOK_RETENTION_DAYS, then swept by age.
    `CREATE INDEX webhook_deliveries_completed ON webhook_deliveries (completed_at)`,
    `CREATE TABLE webhook_attempts (
      delivery_id TEXT NOT NULL, attempt INTEGER NOT NULL, started_at BIGINT NOT NULL, duration_ms INTEGER NOT NULL,
      status_code INTEGER, error TEXT, succeeded INTEGER NOT NULL, node_id TEXT NOT NULL,
      PRIMARY KEY (delivery_id, attempt))`,
  ],
  [
    // Steering (steering/): the deployment's policy; a run's requests for a human (pending until answered, expired
    // or cancelled; `applied_at`: an approved call's run took the approval, so a crash after it does not run the
    // call twice). `queued`: a run a message enqueued (multitask_strategy enqueue/interrupt) behind the thread's
    // active run; it becomes the active one when that run ends (store/runs.ts finishIn).
    `ALTER TABLE deployments ADD COLUMN steering TEXT`,
    `ALTER TABLE runs ADD COLUMN queued INTEGER NOT NULL DEFAULT 0`,
    `CREATE INDEX runs_queued ON runs (thread_id, created_at) WHERE queued = 1`,
    `CREATE TABLE steering_requests (
      id TEXT PRIMARY KEY, deployment_id TEXT NOT NULL, run_id TEXT NOT NULL, thread_id TEXT NOT NULL, kind TEXT NOT NULL,
      summary TEXT NOT NULL, tool_call TEXT, options TEXT NOT NULL, status TEXT NOT NULL, decision TEXT, message TEXT,
      created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, resolved_at BIGINT, applied_at BIGINT)`,
    `CREATE INDEX steering_requests_deployment ON steering_requests (deployment_id, created_at, id)`,
    `CREATE INDEX steering_requests_due ON steering_requests (status, expires_at)`,
    `CREATE INDEX steering_requests_run ON steering_requests (run_id, created_at)`,
  ],
  [
    // Observational memory (memory/): the index of each deployment's memory files as last seen, every change as a
    // version (deletions are what the observer must not re-learn), the observer's per-thread marker and lease, and
    // the reflector's per-deployment lease.
    `CREATE TABLE memories (
      deployment_id TEXT NOT NULL, memory_id TEXT NOT NULL, path TEXT NOT NULL, content TEXT NOT NULL, source TEXT NOT NULL,
      priority TEXT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, PRIMARY KEY (deployment_id, memory_id))`,
    `CREATE TABLE memory_versions (
      id TEXT PRIMARY KEY, deployment_id TEXT NOT NULL, memory_id TEXT NOT NULL, action TEXT NOT NULL, actor TEXT NOT NULL,
      before_content TEXT, after_content TEXT, thread_id TEXT, created_at BIGINT NOT NULL)`,
    `CREATE INDEX memory_versions_memory ON memory_versions (deployment_id, memory_id, created_at, id)`,
    `CREATE INDEX memory_versions_deleted ON memory_versions (deployment_id, action, created_at)`,
    `CREATE TABLE memory_observations (
      thread_id TEXT PRIMARY KEY, deployment_id TEXT NOT NULL, observed_through BIGINT NOT NULL DEFAULT 0,
      pending INTEGER NOT NULL DEFAULT 0, due_at BIGINT NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,
      lease_owner TEXT, lease_expires_at BIGINT)`,
    `CREATE INDEX memory_observations_due ON memory_observations (pending, due_at)`,
    `CREATE TABLE memory_reflections (
      deployment_id TEXT PRIMARY KEY, lease_owner TEXT, lease_expires_at BIGINT, reflected_at BIGINT)`,
  ],
  [
    // Automations (automations/): each one's cron schedule (UTC) and the time it is next due; a scheduler claims a due
    // row by moving next_run_at on in the transaction that records the firing and starts its run. A firing is kept per
    // run started or skipped; (automation_id, scheduled_for) is unique, so no scheduled time ever fires twice.
    // runs.automation_id: the automation that started a run (its run_status events carry it).
    `CREATE TABLE automations (
      id TEXT PRIMARY KEY, deployment_id TEXT NOT NULL, name TEXT NOT NULL, schedule TEXT NOT NULL, schedule_text TEXT,
      instructions TEXT NOT NULL, thread_id TEXT NOT NULL, enabled INTEGER NOT NULL, next_run_at BIGINT, last_run_id TEXT,
      last_run_at BIGINT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)`,
    `CREATE INDEX automations_deployment ON automations (deployment_id, created_at, id)`,
    `CREATE INDEX automations_due ON automations (enabled, next_run_at)`,
    `CREATE TABLE automation_firings (
      id TEXT PRIMARY KEY, automation_id TEXT NOT NULL, deployment_id TEXT NOT NULL, trigger TEXT NOT NULL,
      scheduled_for BIGINT, fired_at BIGINT NOT NULL, run_id TEXT, status TEXT NOT NULL, reason TEXT)`,
    `CREATE UNIQUE INDEX automation_firings_scheduled ON automation_firings (automation_id, scheduled_for)`,
    `CREATE INDEX automation_firings_automation ON automation_firings (automation_id, fired_at, id)`,
    `ALTER TABLE runs ADD COLUMN automation_id TEXT`,
  ],
  [
    // The audit log of administrative actions (store/audit-log.ts): accounts and keys managed through the API.
    `CREATE TABLE audit_log (
      id TEXT PRIMARY KEY, actor_key_id TEXT, actor_account_id TEXT, action TEXT NOT NULL,
      target_type TEXT NOT NULL, target_id TEXT NOT NULL, target_account_id TEXT NOT NULL, request_id TEXT,
      summary TEXT NOT NULL, created_at BIGINT NOT NULL)`,
    `CREATE INDEX audit_log_created ON audit_log (created_at, id)`,
    `CREATE INDEX audit_log_action ON audit_log (action, created_at, id)`,
    `CREATE INDEX audit_log_target ON audit_log (target_id, created_at, id)`,
  ],
  [
    // Usage and credits (usage/): what each run and memory model call used, and the budgets it is charged to.
    // Credits are stored in micro-credits (1 credit = 1,000,000) so sums stay exact on both dialects.
    `CREATE TABLE usage_records (
      id TEXT PRIMARY KEY, account_id TEXT NOT NULL, customer_id TEXT NOT NULL, deployment_id TEXT NOT NULL,
      run_id TEXT, source TEXT NOT NULL, model TEXT, input_tokens BIGINT NOT NULL DEFAULT 0,
      output_tokens BIGINT NOT NULL DEFAULT 0, cached_tokens BIGINT NOT NULL DEFAULT 0, model_calls BIGINT NOT NULL DEFAULT 0,
      tool_ms BIGINT NOT NULL DEFAULT 0, sandbox_cpu_ms BIGINT NOT NULL DEFAULT 0, credits_micro BIGINT NOT NULL DEFAULT 0,
      day TEXT NOT NULL, created_at BIGINT NOT NULL)`,
    `CREATE INDEX usage_records_account_day ON usage_records (account_id, day)`,
    `CREATE INDEX usage_records_run ON usage_records (run_id)`,
    `CREATE TABLE credit_budgets (
      account_id TEXT NOT NULL, customer_id TEXT NOT NULL, credits_micro BIGINT NOT NULL,
      spent_micro BIGINT NOT NULL DEFAULT 0, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
      PRIMARY KEY (account_id, customer_id))`,
  ],
  [
    // Quotas and rate limits (quotas/): each account's overrides of the server's defaults, and the token buckets
    // of the per-key request rate shared by the nodes of a PostgreSQL deployment (SQLite keeps them in memory).
    `CREATE TABLE account_quotas (account_id TEXT PRIMARY KEY, quotas TEXT NOT NULL, updated_at BIGINT NOT NULL)`,
    `CREATE TABLE rate_limit_buckets (
      bucket TEXT PRIMARY KEY, tokens DOUBLE PRECISION NOT NULL, allowed INTEGER NOT NULL, updated_at BIGINT NOT NULL)`,
  ],
  [
    // The memory observer's record of what its lease holder is writing (memory/observation-claims.ts): a claim after
    // a crash between writing observations and moving the marker finds them written and only moves the marker.
    `ALTER TABLE memory_observations ADD COLUMN writing TEXT`,
  ],
  [
    // Dreaming (dreams/): each deployment's idle tracking (its last activity, what the last dream covered), its dreams with the memory and learned skills they started from and what they changed,
    // and the index of learned skills (the files live in the workspace's learned-skills area; runs read the index).
    `CREATE TABLE dream_state (
      deployment_id TEXT PRIMARY KEY, last_activity_at BIGINT NOT NULL, dreamed_through BIGINT NOT NULL)`,
    `CREATE INDEX dream_state_activity ON dream_state (last_activity_at)`,
    `CREATE TABLE dreams (
      id TEXT PRIMARY KEY, deployment_id TEXT NOT NULL, run_id TEXT NOT NULL, thread_id TEXT NOT NULL, status TEXT NOT NULL,
      reason TEXT NOT NULL, activity_through BIGINT NOT NULL, before_state TEXT NOT NULL, changes TEXT, error TEXT,
      created_at BIGINT NOT NULL, completed_at BIGINT, rolled_back_at BIGINT)`,
    `CREATE INDEX dreams_deployment ON dreams (deployment_id, created_at)`,
    `CREATE INDEX dreams_run ON dreams (run_id)`,
    `CREATE INDEX dreams_status ON dreams (status)`,
    `CREATE TABLE learned_skills (
      deployment_id TEXT NOT NULL, name TEXT NOT NULL, skill_id TEXT NOT NULL, description TEXT NOT NULL, content TEXT NOT NULL,
      dream_id TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, PRIMARY KEY (deployment_id, name))`,
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
