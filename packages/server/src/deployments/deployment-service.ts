// Creating, provisioning, updating and deleting deployments: the rules of the Deployments API live here.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { ApiError, notFound, validationError } from '../api/api-error.ts';
import { DEFAULT_MODEL, InvalidModelError, parseModelName } from '../models/index.ts';
import type { SandboxBackends } from '../sandbox/sandbox-backends.ts';
import type { SandboxLimits, SandboxSpec } from '../sandbox/sandbox.ts';
import { fetchSkill, parseSkill, SkillParseError } from '../skills/parse-skill.ts';
import type {
  DeploymentChanges,
  DeploymentRecord,
  FeatureFlags,
  McpServerConfig,
  SandboxConfig,
  SandboxLimitsConfig,
  SandboxNetworkConfig,
  SkillConfig,
} from '../store/deployments.ts';
import { normalizeAllowList } from '../sandbox/egress-allowlist.ts';
import type { SnapshotService } from '../snapshots/snapshot-service.ts';
import type { SessionWorkspaces } from './session-workspaces.ts';
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
export type SandboxInput = Partial<Omit<SandboxConfig, 'image' | 'limits' | 'network'>> & {
  image?: string | null | undefined;
  /** Replaces the allowlist; null removes it (no network). */
  network?: SandboxNetworkConfig | null | undefined;
  /** Merged by key into the current limits; null removes a key, or every override. */
  limits?: { [Name in keyof SandboxLimitsConfig]?: number | null | undefined } | null | undefined;
};

export interface DeploymentServiceOptions {
  store: Store;
  sandboxBackends: SandboxBackends;
  dataDir: string;
  logger: Logger;
  provisionWaitMs: number;
  provisionDelayMs: number;
  /** HERM_ALLOW_UNSANDBOXED: whether deployments may set sandbox.enabled false. */
  allowUnsandboxed: boolean;
  /** HERM_MAX_COMMAND_TIMEOUT_MS: the longest sandbox.limits.command_timeout_seconds may be. */
  maxCommandTimeoutMs: number;
  /** Compressed workspace snapshots, kept on delete with retain_filesystem and restored on create. */
  snapshots: SnapshotService;
  /** The per-thread workspaces of deployments with sandbox.persistent_filesystem false. */
  sessionWorkspaces: SessionWorkspaces;
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

/** A deployment's `sandbox.limits` as the backends take them. */
function sandboxLimits(config: SandboxLimitsConfig): Partial<SandboxLimits> {
  return {
    ...(config.cpus === undefined ? {} : { cpus: config.cpus }),
    ...(config.memory_mb === undefined ? {} : { memoryBytes: config.memory_mb * 1_048_576 }),
    ...(config.max_processes === undefined ? {} : { maxProcesses: config.max_processes }),
    ...(config.disk_mb === undefined ? {} : { diskBytes: config.disk_mb * 1_048_576 }),
    ...(config.command_timeout_seconds === undefined ? {} : { timeoutMs: Math.round(config.command_timeout_seconds * 1000) }),
    ...(config.max_output_bytes === undefined ? {} : { maxOutputBytes: config.max_output_bytes }),
  };
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
   * The workspace a thread's commands see: the deployment's persistent one, shared by its threads, or
   * with `sandbox.persistent_filesystem: false` the thread's own session workspace (see SessionWorkspaces).
   */
  threadWorkspaceDir(deployment: DeploymentRecord, threadId: string | undefined): string {
    if (deployment.sandbox.persistent_filesystem) return this.workspaceDir(deployment.id);
    if (threadId === undefined) throw new TypeError(`deployment ${deployment.id} has no persistent workspace: a thread is needed to pick one`);
    return this.#options.sessionWorkspaces.workspaceDir(deployment.id, threadId);
  }

  /**
   * Holds the thread's workspace while a run or Files API call uses it: a session workspace is created
   * (empty) when missing and is not swept meanwhile. Call the returned function when done.
   */
  async acquireWorkspace(deployment: DeploymentRecord, threadId: string): Promise<() => void> {
    if (deployment.sandbox.persistent_filesystem) return () => {};
    return this.#options.sessionWorkspaces.acquire(deployment.id, threadId);
  }

  /** Removes a deleted thread's session workspace, if it has one (on failure, the sweeper tries again). */
  async removeThreadWorkspace(deploymentId: string, threadId: string): Promise<void> {
    await this.#options.sessionWorkspaces.remove(deploymentId, threadId).catch((error: unknown) => {
      this.#options.logger.warn({ err: error, deploymentId, threadId }, 'could not remove a session workspace; the sweeper will retry');
    });
  }

  /**
   * What a deployment's commands run in: its workspace, network policy and limits. The one place
   * that turns a deployment's `sandbox` settings into a SandboxSpec, for runs and the Files API alike.
   * `threadId` picks the workspace of a deployment without a persistent one (threadWorkspaceDir).
   */
  sandboxSpec(deployment: DeploymentRecord, options: { env?: Record<string, string>; threadId?: string } = {}): SandboxSpec {
    return {
      deploymentId: deployment.id,
      workspaceDir: this.threadWorkspaceDir(deployment, options.threadId),
      network: deployment.sandbox.network ? { allow: deployment.sandbox.network.allow } : false,
      ...(deployment.sandbox.limits ? { limits: sandboxLimits(deployment.sandbox.limits) } : {}),
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

  /** `sandbox` with its limits: the current ones with the input's merged in, checked against what this server can enforce. */
  async #withLimits(sandbox: SandboxConfig, input: SandboxInput['limits'], current?: SandboxLimitsConfig): Promise<SandboxConfig> {
    const limits: SandboxLimitsConfig = { ...(input === null ? {} : current) };
    for (const [name, value] of Object.entries(input ?? {}) as [keyof SandboxLimitsConfig, number | null | undefined][]) {
      if (value === null) delete limits[name];
      else if (value !== undefined) limits[name] = value;
    }
    const maxTimeoutSeconds = this.#options.maxCommandTimeoutMs / 1000;
    if (limits.command_timeout_seconds !== undefined && limits.command_timeout_seconds > maxTimeoutSeconds) {
      throw validationError(
        'sandbox.limits.command_timeout_seconds',
        `sandbox.limits.command_timeout_seconds may be at most ${maxTimeoutSeconds} on this server (HERM_MAX_COMMAND_TIMEOUT_MS).`,
      );
    }
    // A limit the deployment asks for must hold: refused here when this machine cannot enforce it.
    const kernelLimit = (['cpus', 'memory_mb', 'max_processes'] as const).find((name) => input?.[name] != null);
    const backend = this.#options.sandboxBackends.get(sandbox.type);
    if (kernelLimit && backend?.limitsUnavailableReason) {
      const reason = await backend.limitsUnavailableReason();
      if (reason) {
        throw validationError(`sandbox.limits.${kernelLimit}`, `This server cannot enforce CPU, memory and process limits on its ${sandbox.type} sandbox: ${reason}.`);
      }
    }
    if (input?.disk_mb != null) {
      const reason = await this.#options.sandboxBackends.diskQuotaUnavailableReason();
      if (reason) throw validationError('sandbox.limits.disk_mb', `This server cannot enforce workspace disk quotas: ${reason}.`);
    }
    const { limits: _previous, ...rest } = sandbox;
    return Object.keys(limits).length > 0 ? { ...rest, limits } : rest;
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
      if (input?.network) {
        throw validationError('sandbox.network', 'sandbox.network applies only when sandbox.enabled is true (unsandboxed commands have the host\'s whole network).');
      }
      return { enabled: false, type: 'none', persistent_filesystem: persistent };
    }
    // A deployment that leaves unsandboxed mode goes back to the server's default backend.
    const currentType = current?.type === 'none' ? undefined : current?.type;
    const type = input?.type ?? currentType ?? sandboxBackends.defaultType;
    // An image chosen for a docker sandbox does not carry over to another type.
    const image = input?.image === null ? undefined : (input?.image ?? (type === current?.type ? current.image : undefined));
    // Replaced as a whole; null removes it. It does not survive unsandboxed mode (current.network is then unset).
    const network: SandboxNetworkConfig | undefined =
      input?.network === null ? undefined : input?.network ? { allow: normalizeAllowList(input.network.allow) } : current?.network;
    const sandbox: SandboxConfig = {
      enabled: true,
      type,
      persistent_filesystem: persistent,
      ...(image === undefined ? {} : { image }),
      ...(network === undefined ? {} : { network }),
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
    // A network allowlist needs socat in the sandbox (the bridge to the egress proxy): asked whenever one is set.
    const networkChanged = network !== undefined && (!current || input?.network != null || input?.type !== undefined || input?.image !== undefined);
    if (sandbox.type === 'docker' && (!current || input?.type !== undefined || input?.image !== undefined || networkChanged)) {
      const check = await backend.check({ ...(image === undefined ? {} : { image }), ...(network === undefined ? {} : { network }) });
      if (!check.ok) {
        const param = check.field === 'network' ? 'sandbox.network' : check.field === 'image' && image !== undefined ? 'sandbox.image' : 'sandbox.type';
        throw validationError(param, `The docker sandbox is not available on this server: ${check.reason}.`);
      }
    } else if (network !== undefined && networkChanged) {
      const check = await backend.check({ network });
      if (!check.ok && check.field === 'network') {
        throw validationError('sandbox.network', `sandbox.network cannot be used on this server: ${check.reason}.`);
      }
    }
    return sandbox;
  }

  async create(accountId: string, input: CreateDeploymentInput): Promise<DeploymentRecord> {
    const model = input.model ?? DEFAULT_MODEL;
    validateModel(model);
    const sandbox = await this.#withLimits(await this.#resolveSandbox(input.sandbox), input.sandbox?.limits);
    const skills = input.skills ?? [];
    const secrets = input.secrets ?? {};
    await this.#validateSkills(skills);
    await this.#validateSecrets(accountId, secrets);
    const id = newId('deployment');
    if (input.restore_snapshot_id !== undefined && !sandbox.persistent_filesystem) {
      throw validationError(
        'restore_snapshot_id',
        'restore_snapshot_id needs sandbox.persistent_filesystem true: without a persistent workspace every thread starts with an empty one.',
      );
    }
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
        const network = deployment.sandbox.network;
        const check = await sandboxBackend.check({ ...(image === undefined ? {} : { image }), ...(network === undefined ? {} : { network }) });
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
    if (input.sandbox !== undefined) {
      changes.sandbox = await this.#withLimits(await this.#resolveSandbox(input.sandbox, current.sandbox), input.sandbox.limits, current.sandbox.limits);
    }
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
    if (!current.sandbox.persistent_filesystem && changes.sandbox?.persistent_filesystem) {
      // Back to one persistent workspace: the session workspaces go (those of runs still at work, once they end).
      void this.#options.sessionWorkspaces.sweep(current.id).catch((error: unknown) => {
        this.#options.logger.warn({ err: error, deploymentId: current.id }, 'could not remove session workspaces');
      });
    }
    return (await this.#options.store.deployments.getById(current.id)) ?? current;
  }

  async delete(deployment: DeploymentRecord, retainFilesystem: boolean): Promise<void> {
    await this.#options.store.deployments.markDeleted(deployment.id);
    await this.#options.onDeleted?.(deployment.id);
    // Before the workspace moves: a container must not keep writing into it.
    await this.#options.sandboxBackends.discard(deployment.id);
    // Session workspaces end with their deployment; retain_filesystem keeps the persistent workspace only.
    await this.#options.sessionWorkspaces.removeDeployment(deployment.id).catch((error: unknown) => {
      this.#options.logger.warn({ err: error, deploymentId: deployment.id }, 'could not remove session workspaces; the sweeper will retry');
    });
    const workspace = this.workspaceDir(deployment.id);
    if (retainFilesystem) {
      try {
        await this.#options.sandboxBackends.attachWorkspace(workspace);
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
    await this.#options.sandboxBackends.removeWorkspace(workspace);
  }
}
