// Creating, provisioning, updating and deleting deployments: the rules of the Deployments API live here.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { ApiError, notFound, validationError } from '../api/api-error.ts';
import { DEFAULT_MODEL, InvalidModelError, parseModelName } from '../models/index.ts';
import type { SandboxBackends } from '../sandbox/sandbox-backends.ts';
import type { SandboxSpec } from '../sandbox/sandbox.ts';
import { fetchSkill, parseSkill, SkillParseError } from '../skills/parse-skill.ts';
import type {
  DeploymentChanges,
  DeploymentRecord,
  FeatureFlags,
  McpServerConfig,
  SandboxConfig,
  SkillConfig,
} from '../store/deployments.ts';
import type { SnapshotService } from '../snapshots/snapshot-service.ts';
import type { Store } from '../store/store.ts';
import { newId } from '../util/ids.ts';

export const DEFAULT_FEATURES: FeatureFlags = {
  memory: true,
  dreaming: false,
  automations: true,
  steering: true,
  filesystem_webhooks: false,
};

export interface CreateDeploymentInput {
  customer_id: string;
  name: string;
  runtime?: 'hermes' | undefined;
  model?: string | undefined;
  system_prompt: string;
  sandbox?: SandboxInput | undefined;
  mcp_servers?: McpServerConfig[] | undefined;
  skills?: SkillConfig[] | undefined;
  secrets?: Record<string, string> | undefined;
  features?: Partial<FeatureFlags> | undefined;
  /** A snapshot of this account whose files the new workspace starts with. */
  restore_snapshot_id?: string | undefined;
}

export interface UpdateDeploymentInput {
  customer_id?: string | undefined;
  runtime?: string | undefined;
  name?: string | undefined;
  model?: string | undefined;
  system_prompt?: string | undefined;
  sandbox?: SandboxInput | undefined;
  mcp_servers?: McpServerConfig[] | undefined;
  skills?: SkillConfig[] | undefined;
  secrets?: Record<string, string | null> | undefined;
  features?: Partial<Record<keyof FeatureFlags, boolean | null>> | undefined;
}

/** The sandbox fields of a create or update; `image: null` returns to the server's image. */
export type SandboxInput = Partial<Omit<SandboxConfig, 'image'>> & { image?: string | null | undefined };

export interface DeploymentServiceOptions {
  store: Store;
  sandboxBackends: SandboxBackends;
  dataDir: string;
  logger: Logger;
  provisionWaitMs: number;
  provisionDelayMs: number;
  /** HERM_ALLOW_UNSANDBOXED: whether deployments may set sandbox.enabled false. */
  allowUnsandboxed: boolean;
  /** Compressed workspace snapshots, kept on delete with retain_filesystem and restored on create. */
  snapshots: SnapshotService;
  /** Called after a deployment is deleted, to stop its runs. */
  onDeleted?: (deploymentId: string) => Promise<void>;
}

function validateModel(model: string): void {
  try {
    parseModelName(model);
  } catch (error) {
    if (error instanceof InvalidModelError) throw validationError('model', error.message);
    throw error;
  }
}

/** A workspace-relative path that stays inside /workspace. */
function validateWorkspacePath(value: string, param: string): void {
  const relative = value.startsWith('/workspace/') ? value.slice('/workspace/'.length) : value;
  const normalized = path.posix.normalize(relative);
  if (path.posix.isAbsolute(relative) || normalized === '..' || normalized.startsWith('../') || normalized === '.') {
    throw validationError(param, `Invalid ${param}: must be a path inside the workspace, like "skills/x/SKILL.md".`);
  }
}

export class DeploymentService {
  readonly #options: DeploymentServiceOptions;
  readonly #provisioning = new Map<string, Promise<void>>();

  constructor(options: DeploymentServiceOptions) {
    this.#options = options;
  }

  workspaceDir(deploymentId: string): string {
    return path.join(this.#options.dataDir, 'workspaces', deploymentId);
  }

  /**
   * What a deployment's commands run in: its workspace, network policy and limits. The one place
   * that turns a deployment's `sandbox` settings into a SandboxSpec, for runs and the Files API alike.
   */
  sandboxSpec(deployment: DeploymentRecord, options: { env?: Record<string, string> } = {}): SandboxSpec {
    return {
      deploymentId: deployment.id,
      workspaceDir: this.workspaceDir(deployment.id),
      network: false,
      ...(options.env ? { env: options.env } : {}),
      ...(deployment.sandbox.image ? { image: deployment.sandbox.image } : {}),
    };
  }

  async #validateSkills(skills: SkillConfig[]): Promise<void> {
    await Promise.all(
      skills.map(async (skill, index) => {
        try {
          if (skill.source === 'inline') parseSkill(skill.content);
          else if (skill.source === 'url') await fetchSkill(skill.url);
          else validateWorkspacePath(skill.path, `skills.${index}.path`);
        } catch (error) {
          if (error instanceof SkillParseError) {
            const field = skill.source === 'inline' ? 'content' : 'url';
            throw new ApiError('invalid_skill', `Skill "${skill.name}" is invalid: ${error.message}.`, `skills.${index}.${field}`);
          }
          throw error;
        }
      }),
    );
  }

  async #validateSecrets(accountId: string, secrets: Record<string, string>): Promise<void> {
    const entries = Object.entries(secrets);
    const missing = new Set(await this.#options.store.secrets.missing(accountId, [...new Set(entries.map(([, ref]) => ref))]));
    for (const [name, ref] of entries) {
      if (missing.has(ref)) {
        throw new ApiError('invalid_secret_ref', `Secret reference ${ref} does not exist or is not accessible.`, `secrets.${name}`);
      }
    }
  }

  async #resolveSandbox(input: SandboxInput | undefined, current?: SandboxConfig): Promise<SandboxConfig> {
    const { sandboxBackends } = this.#options;
    const enabled = input?.enabled ?? current?.enabled ?? true;
    const persistent = input?.persistent_filesystem ?? current?.persistent_filesystem ?? true;
    if (!enabled) {
      if (!this.#options.allowUnsandboxed) {
        throw validationError(
          'sandbox.enabled',
          'This server does not allow deployments without a sandbox (its operator can allow them with HERM_ALLOW_UNSANDBOXED=true; commands then run with no isolation).',
        );
      }
      if (input?.type !== undefined) throw validationError('sandbox.type', 'sandbox.type applies only when sandbox.enabled is true.');
      if (typeof input?.image === 'string') throw validationError('sandbox.image', 'sandbox.image applies to the docker sandbox only.');
      if (!persistent) {
        throw validationError('sandbox.persistent_filesystem', 'Non-persistent workspaces are not supported by this server yet.');
      }
      return { enabled: false, type: 'none', persistent_filesystem: true };
    }
    // A deployment that leaves unsandboxed mode goes back to the server's default backend.
    const currentType = current?.type === 'none' ? undefined : current?.type;
    const type = input?.type ?? currentType ?? sandboxBackends.defaultType;
    // An image chosen for a docker sandbox does not carry over to another type.
    const image = input?.image === null ? undefined : (input?.image ?? (type === current?.type ? current.image : undefined));
    const sandbox: SandboxConfig = {
      enabled: true,
      type,
      persistent_filesystem: persistent,
      ...(image === undefined ? {} : { image }),
    };
    const backend = sandboxBackends.get(sandbox.type);
    if (!backend) {
      throw validationError('sandbox.type', `The ${sandbox.type} sandbox backend is not available on this server; use "${sandboxBackends.defaultType}".`);
    }
    if (image !== undefined && sandbox.type !== 'docker') {
      throw validationError('sandbox.image', 'sandbox.image applies to the docker sandbox only.');
    }
    // Docker is a service that may be down or lack the image: asked whenever a deployment chooses it.
    // (Bubblewrap needs nothing beyond this machine; provisioning checks it.)
    if (sandbox.type === 'docker' && (!current || input?.type !== undefined || input?.image !== undefined)) {
      const check = await backend.check(image === undefined ? undefined : { image });
      if (!check.ok) {
        const param = check.field === 'image' && image !== undefined ? 'sandbox.image' : 'sandbox.type';
        throw validationError(param, `The docker sandbox is not available on this server: ${check.reason}.`);
      }
    }
    if (!sandbox.persistent_filesystem) {
      throw validationError('sandbox.persistent_filesystem', 'Non-persistent workspaces are not supported by this server yet.');
    }
    return sandbox;
  }

  async create(accountId: string, input: CreateDeploymentInput): Promise<DeploymentRecord> {
    const model = input.model ?? DEFAULT_MODEL;
    validateModel(model);
    const sandbox = await this.#resolveSandbox(input.sandbox);
    const skills = input.skills ?? [];
    const secrets = input.secrets ?? {};
    await this.#validateSkills(skills);
    await this.#validateSecrets(accountId, secrets);
    const id = newId('deployment');
    if (input.restore_snapshot_id !== undefined) {
      const snapshot = await this.#options.snapshots.get(accountId, input.restore_snapshot_id);
      if (!snapshot) throw notFound('snapshot', input.restore_snapshot_id, 'restore_snapshot_id');
      // Unpacked before the deployment exists, so its first run already sees the files.
      try {
        await this.#options.snapshots.restore(snapshot, this.workspaceDir(id));
      } catch (error) {
        await fs.rm(this.workspaceDir(id), { recursive: true, force: true });
        throw error;
      }
    }
    const now = Date.now();
    const record = await this.#options.store.deployments.create({
      id,
      account_id: accountId,
      customer_id: input.customer_id,
      name: input.name,
      runtime: input.runtime ?? 'hermes',
      model,
      system_prompt: input.system_prompt,
      sandbox,
      mcp_servers: input.mcp_servers ?? [],
      skills,
      secrets,
      features: { ...DEFAULT_FEATURES, ...input.features },
      status: 'provisioning',
      status_reason: null,
      default_thread_id: newId('thread'),
      created_at: now,
      updated_at: now,
    });
    const provisioning = this.provision(record.id);
    const finishedInTime = await Promise.race([
      provisioning.then(() => true),
      new Promise<false>((resolve) => setTimeout(resolve, this.#options.provisionWaitMs, false).unref()),
    ]);
    return finishedInTime ? ((await this.#options.store.deployments.getById(record.id)) ?? record) : record;
  }

  /** Prepares the workspace and checks the sandbox; moves the deployment to ready or error. Idempotent. */
  provision(deploymentId: string): Promise<void> {
    const existing = this.#provisioning.get(deploymentId);
    if (existing) return existing;
    const job = (async () => {
      const { store, sandboxBackends, logger, provisionDelayMs } = this.#options;
      try {
        if (provisionDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, provisionDelayMs));
        await fs.mkdir(this.workspaceDir(deploymentId), { recursive: true, mode: 0o755 });
        const deployment = await store.deployments.getById(deploymentId);
        if (!deployment) return;
        const sandboxBackend = sandboxBackends.get(deployment.sandbox.type);
        if (!sandboxBackend) {
          await store.deployments.setStatus(deploymentId, 'error', `The ${deployment.sandbox.type} sandbox backend is not available on this server.`);
          return;
        }
        const image = deployment.sandbox.image;
        const check = await sandboxBackend.check(image === undefined ? undefined : { image });
        if (!check.ok) {
          await store.deployments.setStatus(deploymentId, 'error', check.reason);
          return;
        }
        await store.deployments.setStatus(deploymentId, 'ready', null);
      } catch (error) {
        logger.error({ err: error, deploymentId }, 'provisioning failed');
        await store.deployments.setStatus(deploymentId, 'error', (error as Error).message).catch(() => {});
      }
    })().finally(() => this.#provisioning.delete(deploymentId));
    this.#provisioning.set(deploymentId, job);
    return job;
  }

  /** Resumes provisioning that a restart interrupted. */
  async resumeProvisioning(): Promise<void> {
    for (const deployment of await this.#options.store.deployments.listProvisioning()) void this.provision(deployment.id);
  }

  /** Applies the documented update semantics; returns the deployment unchanged when nothing changes. */
  async update(current: DeploymentRecord, input: UpdateDeploymentInput): Promise<DeploymentRecord> {
    if (input.customer_id !== undefined && input.customer_id !== current.customer_id) {
      throw validationError('customer_id', 'customer_id is immutable: create a new deployment instead.');
    }
    if (input.runtime !== undefined && input.runtime !== current.runtime) {
      throw validationError('runtime', 'runtime is immutable: create a new deployment instead.');
    }
    const changes: DeploymentChanges = {};
    if (input.name !== undefined) changes.name = input.name;
    if (input.system_prompt !== undefined) changes.system_prompt = input.system_prompt;
    if (input.model !== undefined) {
      validateModel(input.model);
      changes.model = input.model;
    }
    if (input.sandbox !== undefined) changes.sandbox = await this.#resolveSandbox(input.sandbox, current.sandbox);
    if (input.mcp_servers !== undefined) changes.mcp_servers = input.mcp_servers;
    if (input.skills !== undefined) {
      await this.#validateSkills(input.skills);
      changes.skills = input.skills;
    }
    if (input.secrets !== undefined) {
      const merged = { ...current.secrets };
      for (const [key, value] of Object.entries(input.secrets)) {
        if (value === null) delete merged[key];
        else merged[key] = value;
      }
      const added = Object.fromEntries(Object.entries(input.secrets).filter((entry): entry is [string, string] => entry[1] !== null));
      await this.#validateSecrets(current.account_id, added);
      changes.secrets = merged;
    }
    if (input.features !== undefined) {
      const merged: FeatureFlags = { ...current.features };
      for (const [key, value] of Object.entries(input.features) as [keyof FeatureFlags, boolean | null | undefined][]) {
        if (value === undefined) continue;
        merged[key] = value === null ? DEFAULT_FEATURES[key] : value;
      }
      changes.features = merged;
    }
    for (const key of Object.keys(changes) as (keyof DeploymentChanges)[]) {
      if (JSON.stringify(changes[key]) === JSON.stringify(current[key])) delete changes[key];
    }
    if (Object.keys(changes).length === 0) return current;
    await this.#options.store.deployments.update(current.id, changes);
    return (await this.#options.store.deployments.getById(current.id)) ?? current;
  }

  async delete(deployment: DeploymentRecord, retainFilesystem: boolean): Promise<void> {
    await this.#options.store.deployments.markDeleted(deployment.id);
    await this.#options.onDeleted?.(deployment.id);
    // Before the workspace moves: a container must not keep writing into it.
    await this.#options.sandboxBackends.discard(deployment.id);
    const workspace = this.workspaceDir(deployment.id);
    if (retainFilesystem) {
      try {
        await this.#options.snapshots.capture(deployment, workspace);
      } catch (error) {
        // The deployment is gone already; its files must not be: they stay as a plain directory for the operator.
        const retained = path.join(this.#options.dataDir, 'retained', deployment.id);
        this.#options.logger.error({ err: error, deploymentId: deployment.id, retained }, 'workspace snapshot failed; the workspace is kept as a directory');
        await fs.mkdir(path.dirname(retained), { recursive: true });
        await fs.rename(workspace, retained).catch(() => {});
        return;
      }
    }
    await fs.rm(workspace, { recursive: true, force: true });
  }
}
