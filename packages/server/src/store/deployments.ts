// Deployments and their default thread.
import { createHash } from 'node:crypto';
import type { Selectable } from 'kysely';
import type { Db, DeploymentsTable, Dialect } from './database.ts';
import { pageNewestFirst, type Page, type PageRequest } from './pagination.ts';
import { query } from './sql.ts';
import { parseSteeringPolicy, type SteeringPolicy } from '../steering/steering-policy.ts';

export interface SandboxConfig {
  enabled: boolean;
  type: string;
  persistent_filesystem: boolean;
  /** Container image of a docker sandbox, when the deployment chose one; otherwise the server's. */
  image?: string;
  /** Hosts sandboxed commands may reach through the egress proxy; absent: no network at all. */
  network?: SandboxNetworkConfig;
  /** The deployment's own limits; the server's defaults apply to the rest. */
  limits?: SandboxLimitsConfig;
}

export interface SandboxLimitsConfig {
  cpus?: number;
  memory_mb?: number;
  max_processes?: number;
  disk_mb?: number;
  command_timeout_seconds?: number;
  max_output_bytes?: number;
}

export interface SandboxNetworkConfig {
  /** Normalised entries (lower case, no duplicates): `api.example.com`, `*.example.com`, `host:port`, IPs. */
  allow: string[];
}

export interface McpServerConfig {
  name: string;
  url: string;
  tools?: string[] | undefined;
  /**
   * Headers sent with every request to the server. Values may name variables of the deployment's `secrets` map as
   * `${NAME}`: stored (and shown) as written, resolved only when the server connects (mcp/mcp-headers.ts).
   */
  headers?: Record<string, string> | undefined;
}

/** A skill as a request declares it (create, update, the Skills API). */
export type SkillConfig =
  | { name: string; source: 'file'; path: string }
  | { name: string; source: 'inline'; content: string }
  | { name: string; source: 'url'; url: string };

/**
 * A skill as stored in the deployment's `skills` column (JSON): the declaration with its id and creation time.
 * A `url` skill also keeps what was fetched at create/update (`content`, `description`), so runs never fetch;
 * an `inline` one keeps its parsed `description`. A `file` skill is read from the workspace at each run start.
 */
export type StoredSkill = SkillConfig & {
  skill_id: string;
  /** Epoch milliseconds. */
  created_at: number;
  /** `inline` and `url`: the frontmatter's description when the skill was stored. */
  description?: string;
  /** `url` only: the SKILL.md as fetched (the declaration's own `content` for `inline`). */
  fetched_content?: string;
};

export interface FeatureFlags {
  memory: boolean;
  dreaming: boolean;
  automations: boolean;
  steering: boolean;
  filesystem_webhooks: boolean;
}

export type DeploymentStatus = 'provisioning' | 'ready' | 'error';

export interface DeploymentRecord {
  id: string;
  account_id: string;
  customer_id: string;
  name: string;
  runtime: string;
  model: string;
  system_prompt: string;
  sandbox: SandboxConfig;
  mcp_servers: McpServerConfig[];
  skills: StoredSkill[];
  secrets: Record<string, string>;
  features: FeatureFlags;
  /** Tools turned off with the Tools API (built-in names, or MCP tools' `<server>__<tool>` names): never offered to the model. */
  disabled_tools: string[];
  /** Which tool calls wait for a human (steering/steering-policy.ts); in effect while features.steering is on. */
  steering: SteeringPolicy;
  status: DeploymentStatus;
  status_reason: string | null;
  default_thread_id: string;
  event_seq: number;
  created_at: number;
  updated_at: number;
}

/** The fields an update may change. */
export type DeploymentChanges = Partial<
  Pick<DeploymentRecord, 'name' | 'model' | 'system_prompt' | 'sandbox' | 'mcp_servers' | 'skills' | 'secrets' | 'features' | 'disabled_tools' | 'steering'>
>;

/**
 * The stored skills of a deployment. Entries written before skills had ids get one derived from the deployment
 * and the skill's name, so it is the same at every read until the entry is written again (and then kept).
 */
export function storedSkills(deploymentId: string, deploymentCreatedAt: number, column: string): StoredSkill[] {
  return (JSON.parse(column) as Array<SkillConfig & Partial<StoredSkill>>).map((skill) =>
    skill.skill_id !== undefined && skill.created_at !== undefined
      ? (skill as StoredSkill)
      : { ...skill, skill_id: legacySkillId(deploymentId, skill.name), created_at: deploymentCreatedAt },
  );
}

function legacySkillId(deploymentId: string, name: string): string {
  const digest = createHash('sha256').update(`${deploymentId}\0${name}`).digest();
  let id = '';
  for (const byte of digest.subarray(0, 16)) id += BASE62[byte % 62];
  return `skl_${id}`;
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function fromRow(row: Selectable<DeploymentsTable>): DeploymentRecord {
  return {
    id: row.id,
    account_id: row.account_id,
    customer_id: row.customer_id,
    name: row.name,
    runtime: row.runtime,
    model: row.model,
    system_prompt: row.system_prompt,
    sandbox: JSON.parse(row.sandbox) as SandboxConfig,
    mcp_servers: JSON.parse(row.mcp_servers) as McpServerConfig[],
    skills: storedSkills(row.id, Number(row.created_at), row.skills),
    secrets: JSON.parse(row.secrets) as Record<string, string>,
    features: JSON.parse(row.features) as FeatureFlags,
    disabled_tools: JSON.parse(row.disabled_tools ?? '[]') as string[],
    steering: parseSteeringPolicy(row.steering),
    status: row.status as DeploymentStatus,
    status_reason: row.status_reason,
    default_thread_id: row.default_thread_id,
    event_seq: Number(row.event_seq),
    created_at: Number(row.created_at),
    updated_at: Number(row.updated_at),
  };
}

function jsonColumns(changes: DeploymentChanges): Partial<Record<keyof DeploymentChanges, string>> {
  const out: Partial<Record<keyof DeploymentChanges, string>> = {};
  for (const [key, value] of Object.entries(changes) as [keyof DeploymentChanges, unknown][]) {
    out[key] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  return out;
}

// The lookups of a deployment by id are fixed SQL (sql.ts): every message and every run makes one. Their columns
// are named: a prepared `SELECT *` would fail on a node still running while another one migrates the table.
const DEPLOYMENT_COLUMNS =
  'id, account_id, customer_id, name, runtime, model, system_prompt, sandbox, mcp_servers, skills, secrets, features, disabled_tools, steering, status, ' +
  'status_reason, default_thread_id, event_seq, created_at, updated_at, deleted_at';

export class DeploymentRepository {
  readonly #db: Db;
  readonly #dialect: Dialect;

  constructor(db: Db, dialect: Dialect) {
    this.#db = db;
    this.#dialect = dialect;
  }

  /** Inserts the deployment and its default thread together. */
  async create(record: Omit<DeploymentRecord, 'event_seq' | 'disabled_tools'>): Promise<DeploymentRecord> {
    await this.#db.transaction().execute(async (trx) => {
      await trx
        .insertInto('deployments')
        .values({
          id: record.id,
          account_id: record.account_id,
          customer_id: record.customer_id,
          name: record.name,
          runtime: record.runtime,
          model: record.model,
          system_prompt: record.system_prompt,
          sandbox: JSON.stringify(record.sandbox),
          mcp_servers: JSON.stringify(record.mcp_servers),
          skills: JSON.stringify(record.skills),
          secrets: JSON.stringify(record.secrets),
          features: JSON.stringify(record.features),
          steering: JSON.stringify(record.steering),
          status: record.status,
          status_reason: record.status_reason,
          default_thread_id: record.default_thread_id,
          created_at: record.created_at,
          updated_at: record.updated_at,
          deleted_at: null,
        })
        .execute();
      await trx
        .insertInto('threads')
        .values({
          id: record.default_thread_id,
          deployment_id: record.id,
          title: 'Default',
          active_run_id: null,
          summary: null,
          created_at: record.created_at,
          updated_at: record.created_at,
          last_activity_at: null,
          deleted_at: null,
        })
        .execute();
    });
    return { ...record, disabled_tools: [], event_seq: 0 };
  }

  /** A live deployment of this account, or undefined (another account's deployment is invisible). */
  async get(accountId: string, id: string): Promise<DeploymentRecord | undefined> {
    const [row] = await query<Selectable<DeploymentsTable>>(
      this.#db,
      this.#dialect,
      `SELECT ${DEPLOYMENT_COLUMNS} FROM deployments WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL`,
      [id, accountId],
    );
    return row ? fromRow(row) : undefined;
  }

  async getById(id: string): Promise<DeploymentRecord | undefined> {
    const [row] = await query<Selectable<DeploymentsTable>>(
      this.#db,
      this.#dialect,
      `SELECT ${DEPLOYMENT_COLUMNS} FROM deployments WHERE id = $1 AND deleted_at IS NULL`,
      [id],
    );
    return row ? fromRow(row) : undefined;
  }

  async list(
    accountId: string,
    filters: { customer_id?: string | undefined; status?: string | undefined },
    page: PageRequest,
  ): Promise<Page<DeploymentRecord>> {
    let query = this.#db
      .selectFrom('deployments')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('deleted_at', 'is', null);
    if (filters.customer_id !== undefined) query = query.where('customer_id', '=', filters.customer_id);
    if (filters.status !== undefined) query = query.where('status', '=', filters.status);
    const result = await pageNewestFirst(query, 'deployments', page);
    return { data: result.data.map(fromRow), next_cursor: result.next_cursor };
  }

  async update(id: string, changes: DeploymentChanges): Promise<void> {
    await this.#db
      .updateTable('deployments')
      .set({ ...jsonColumns(changes), updated_at: Date.now() })
      .where('id', '=', id)
      .execute();
  }

  /** The live deployment's `skills` column as stored, for compareAndSetSkills; undefined when it is gone. */
  async skillsColumn(id: string): Promise<{ column: string; created_at: number } | undefined> {
    const row = await this.#db
      .selectFrom('deployments')
      .select(['skills', 'created_at'])
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    return row ? { column: row.skills, created_at: Number(row.created_at) } : undefined;
  }

  /**
   * Replaces the skills only if the column still holds `expected` (as skillsColumn returned it): false when another
   * write got there first (or the deployment is gone), so the caller re-reads and tries again. Two concurrent adds
   * therefore never lose one.
   */
  async compareAndSetSkills(id: string, expected: string, skills: StoredSkill[]): Promise<boolean> {
    const result = await this.#db
      .updateTable('deployments')
      .set({ skills: JSON.stringify(skills), updated_at: Date.now() })
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .where('skills', '=', expected)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** The live deployment's `mcp_servers` and `disabled_tools` columns as stored, for compareAndSetTools; undefined when it is gone. */
  async toolColumns(id: string): Promise<{ mcp_servers: string; disabled_tools: string } | undefined> {
    const row = await this.#db
      .selectFrom('deployments')
      .select(['mcp_servers', 'disabled_tools'])
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    return row ? { mcp_servers: row.mcp_servers, disabled_tools: row.disabled_tools } : undefined;
  }

  /**
   * Replaces `mcp_servers` and `disabled_tools` only if both columns still hold `expected` (as toolColumns returned
   * them): false when another write got there first (or the deployment is gone), so the caller re-reads and retries.
   */
  async compareAndSetTools(
    id: string,
    expected: { mcp_servers: string; disabled_tools: string },
    next: { mcp_servers: McpServerConfig[]; disabled_tools: string[] },
  ): Promise<boolean> {
    const result = await this.#db
      .updateTable('deployments')
      .set({ mcp_servers: JSON.stringify(next.mcp_servers), disabled_tools: JSON.stringify(next.disabled_tools), updated_at: Date.now() })
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .where('mcp_servers', '=', expected.mcp_servers)
      .where('disabled_tools', '=', expected.disabled_tools)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async setStatus(id: string, status: DeploymentStatus, reason: string | null): Promise<void> {
    await this.#db
      .updateTable('deployments')
      .set({ status, status_reason: reason, updated_at: Date.now() })
      .where('id', '=', id)
      .execute();
  }

  async markDeleted(id: string): Promise<void> {
    await this.#db.updateTable('deployments').set({ deleted_at: Date.now() }).where('id', '=', id).execute();
  }

  /**
   * The live deployments of this account whose `secrets` map refers to `secretId`, oldest first, each with
   * the variable names that refer to it. The map is a JSON text column on both databases: LIKE finds the
   * candidates (`_` in the id matches any character there), the parsed map decides.
   */
  async referencingSecret(accountId: string, secretId: string): Promise<{ id: string; names: string[] }[]> {
    const rows = await this.#db
      .selectFrom('deployments')
      .select(['id', 'secrets'])
      .where('account_id', '=', accountId)
      .where('deleted_at', 'is', null)
      .where('secrets', 'like', `%${JSON.stringify(secretId)}%`)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    const found: { id: string; names: string[] }[] = [];
    for (const row of rows) {
      const names = Object.entries(JSON.parse(row.secrets) as Record<string, string>)
        .filter(([, ref]) => ref === secretId)
        .map(([name]) => name);
      if (names.length > 0) found.push({ id: row.id, names });
    }
    return found;
  }

  async listProvisioning(): Promise<DeploymentRecord[]> {
    const rows = await this.#db
      .selectFrom('deployments')
      .selectAll()
      .where('status', '=', 'provisioning')
      .where('deleted_at', 'is', null)
      .execute();
    return rows.map(fromRow);
  }
}
