// Table types shared by both dialects. Times are epoch milliseconds; JSON columns are TEXT; booleans 0/1.
import type { Generated, Kysely } from 'kysely';

export interface AccountsTable {
  id: string;
  name: string;
  created_at: number;
}

export interface ApiKeysTable {
  id: string;
  account_id: string;
  name: string | null;
  key_hash: string;
  key_hint: string;
  scopes: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

export interface SecretsTable {
  id: string;
  account_id: string;
  name: string;
  ciphertext: string;
  /** JSON array of allowlist entries (migration 9). */
  allowed_hosts: Generated<string>;
  created_at: number;
  deleted_at: number | null;
}

export interface DeploymentsTable {
  id: string;
  account_id: string;
  customer_id: string;
  name: string;
  runtime: string;
  model: string;
  system_prompt: string;
  sandbox: string;
  mcp_servers: string;
  skills: string;
  secrets: string;
  features: string;
  /** JSON array of disabled tool names (migration 10). */
  disabled_tools: Generated<string>;
  /** JSON steering policy (steering/steering-policy.ts); NULL: the default. */
  steering: Generated<string | null>;
  status: string;
  status_reason: string | null;
  default_thread_id: string;
  event_seq: Generated<number>;
  created_at: number;
  updated_at: number;
  deleted_at: number | null;
}

export interface ThreadsTable {
  id: string;
  deployment_id: string;
  title: string | null;
  active_run_id: string | null;
  message_count: Generated<number>;
  history_seq: Generated<number>;
  summary: string | null;
  summary_through: Generated<number>;
  created_at: number;
  updated_at: number;
  last_activity_at: number | null;
  deleted_at: number | null;
}

export interface MessagesTable {
  id: string;
  thread_id: string;
  deployment_id: string;
  seq: number;
  role: string;
  content: string;
  run_id: string | null;
  attachments: string | null;
  created_at: number;
}

export interface HistoryTable {
  thread_id: string;
  seq: number;
  run_id: string | null;
  message: string;
  created_at: number;
}

export interface RunsTable {
  id: string;
  deployment_id: string;
  thread_id: string;
  status: string;
  trigger: string;
  error: string | null;
  steps: Generated<number>;
  cancel_requested: Generated<number>;
  lease_owner: string | null;
  lease_expires_at: number | null;
  created_at: number;
  started_at: number | null;
  completed_at: number | null;
  /** Fencing token: one more each time a node takes the run. */
  attempt: Generated<number>;
  /** Attempts that ended in a graceful handoff (not counted against HERM_RUN_MAX_ATTEMPTS). */
  handoffs: Generated<number>;
  /** 1 while the run waits behind the thread's active run (multitask_strategy enqueue/interrupt); see store/runs.ts. */
  queued: Generated<number>;
  /** The automation that started the run (the automations migration; automations/); absent or null for other runs. */
  automation_id?: string | null;
}

export interface RunInputsTable {
  id: string;
  run_id: string;
  thread_id: string;
  content: string;
  attachments: string | null;
  created_at: number;
  consumed_at: number | null;
}

export interface EventsTable {
  deployment_id: string;
  seq: number;
  type: string;
  thread_id: string | null;
  run_id: string | null;
  data: string;
  created_at: number;
}

export interface IdempotencyKeysTable {
  account_id: string;
  key: string;
  request_hash: string;
  status_code: number | null;
  response_body: string | null;
  created_at: number;
  /** The token of the claim in progress (or that completed it); null for keys claimed before tokens existed. */
  claim_token: string | null;
}

export interface SnapshotsTable {
  id: string;
  account_id: string;
  deployment_id: string;
  customer_id: string;
  size_bytes: number;
  /** Bytes the workspace took on disk (allocated blocks); null for snapshots of versions that did not record it. */
  content_bytes: number | null;
  created_at: number;
  expires_at: number;
}

/** A snapshot being restored into a new deployment's workspace, until provisioning has done it. */
export interface DeploymentRestoresTable {
  deployment_id: string;
  snapshot_id: string;
  created_at: number;
}

/** A webhook endpoint (migration 11; webhooks/). `events`: JSON array of event types. */
export interface WebhookEndpointsTable {
  id: string;
  account_id: string;
  deployment_id: string | null;
  url: string;
  description: string | null;
  events: string;
  /** enabled | disabled */
  status: string;
  disabled_reason: string | null;
  disabled_at: number | null;
  secret_ciphertext: string;
  previous_secret_ciphertext: string | null;
  previous_secret_expires_at: number | null;
  failing_since: number | null;
  created_at: number;
  updated_at: number;
  deleted_at: number | null;
}

/** One message to one endpoint (the outbox); its id is the webhook-id. status: pending | succeeded | failed. */
export interface WebhookDeliveriesTable {
  id: string;
  endpoint_id: string;
  account_id: string;
  event_type: string;
  payload: string;
  status: string;
  attempt_count: Generated<number>;
  schedule_index: Generated<number>;
  next_attempt_at: number | null;
  lease_owner: string | null;
  lease_token: string | null;
  lease_expires_at: number | null;
  deployment_id: string | null;
  run_id: string | null;
  created_at: number;
  updated_at: number;
  completed_at: number | null;
}

export interface WebhookAttemptsTable {
  delivery_id: string;
  attempt: number;
  started_at: number;
  duration_ms: number;
  status_code: number | null;
  error: string | null;
  succeeded: number;
  node_id: string;
}

/** An automation (automations/): `schedule` is the cron expression (UTC), `schedule_text` the phrase it was given as. */
export interface AutomationsTable {
  id: string;
  deployment_id: string;
  name: string;
  schedule: string;
  schedule_text: string | null;
  instructions: string;
  thread_id: string;
  enabled: number;
  /** When it is next due; null while paused. */
  next_run_at: number | null;
  last_run_id: string | null;
  last_run_at: number | null;
  created_at: number;
  updated_at: number;
}

/** One firing of an automation: a run started (`started`) or a due time skipped (`skipped`, with `reason`). */
export interface AutomationFiringsTable {
  id: string;
  automation_id: string;
  deployment_id: string;
  /** schedule | manual */
  trigger: string;
  /** The due time it fired for; null for a manual trigger. */
  scheduled_for: number | null;
  fired_at: number;
  run_id: string | null;
  status: string;
  reason: string | null;
}

/** Administrative actions (store/audit-log.ts). */
export interface AuditLogTable {
  id: string;
  /** NULL: the server's command line acted (`herm keys` on the database). */
  actor_key_id: string | null;
  actor_account_id: string | null;
  action: string;
  target_type: string;
  target_id: string;
  target_account_id: string;
  request_id: string | null;
  summary: string;
  created_at: number;
}

export interface Database {
  accounts: AccountsTable;
  api_keys: ApiKeysTable;
  secrets: SecretsTable;
  deployments: DeploymentsTable;
  threads: ThreadsTable;
  messages: MessagesTable;
  history: HistoryTable;
  runs: RunsTable;
  run_inputs: RunInputsTable;
  events: EventsTable;
  idempotency_keys: IdempotencyKeysTable;
  snapshots: SnapshotsTable;
  deployment_restores: DeploymentRestoresTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  automations: AutomationsTable;
  automation_firings: AutomationFiringsTable;
  audit_log: AuditLogTable;
}

export type Dialect = 'sqlite' | 'postgres';

export type Db = Kysely<Database>;
