// Creating, provisioning, updating and deleting deployments: the rules of the Deployments API live here.
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { ApiError, notFound, validationError } from '../api/api-error.ts';
import { DEFAULT_MODEL, InvalidModelError, parseModelName } from '../models/index.ts';
import type { SandboxBackends } from '../sandbox/sandbox-backends.ts';
import type { ReadOnlyMount, SandboxLimits, SandboxSpec } from '../sandbox/sandbox.ts';
import { createSkillsDirectorySync } from '../skills/run-skills.ts';
import { checkSkillPath, loadSkillEntry, MAX_SKILLS, SKILLS_PATH, SkillEntryError } from '../skills/skill-entries.ts';
import type {
  DeploymentChanges,
  DeploymentRecord,
  FeatureFlags,
  McpServerConfig,
  SandboxConfig,
  SandboxLimitsConfig,
  SandboxNetworkConfig,
  SkillConfig,
  StoredSkill,
} from '../store/deployments.ts';
import { storedSkills } from '../store/deployments.ts';
import { normalizeAllowList, parseAllowEntry } from '../sandbox/egress/egress-allowlist.ts';
import { internalDestinationsFor, InternalDestinationSet, internalEntryRefusal, type InternalDestination } from '../sandbox/egress/internal-destinations.ts';
import type { OutboundPolicy } from '../net/outbound-fetch.ts';
import { checkMcpServer, checkMcpServers, MAX_MCP_SERVERS, removedReferencedSecret } from '../mcp/mcp-declarations.ts';
import { mcpToolPrefix } from '../mcp/mcp-tool-name.ts';
import { describeReservedEnvironmentNames, isReservedEnvironmentName } from '../sandbox/reserved-environment.ts';
import { clampToCeilings, limitAboveCeiling, type SandboxLimitCeilings } from '../sandbox/limits/limit-ceilings.ts';
import type { QuotaService } from '../quotas/quota-service.ts';
import { SnapshotTooLargeError, type SnapshotService } from '../snapshots/snapshot-service.ts';
import type { SessionWorkspaces } from './session-workspaces.ts';
import type { Store } from '../store/store.ts';
import { newId } from '../util/ids.ts';
import { steeringPolicyFrom, type SteeringPolicyInput } from '../steering/steering-policy.ts';

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
  /** Which tool calls wait for a human; the default (every call allowed) when absent. */
  steering?: SteeringPolicyInput | undefined;
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
  skills?: SkillInput[] | undefined;
  secrets?: Record<string, string | null> | undefined;
  features?: Partial<Record<keyof FeatureFlags, boolean | null>> | undefined;
  /** Replaces the steering policy; null restores the default. */
  steering?: SteeringPolicyInput | null | undefined;
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
  /** HERM_SANDBOX_INTERNAL_DESTINATIONS: the internal hosts a sandbox.network.allow may name, by account. Default none. */
  internalDestinations?: readonly InternalDestination[];
  /** What the server's own requests to tenants' URLs (skills) may reach: HERM_ALLOW_PRIVATE_URLS. Default public addresses only. */
  outboundPolicy?: OutboundPolicy;
  /** HERM_SKILL_FETCH_TIMEOUT_MS: deadline of fetching a url skill. Default 10 s. */
  skillFetchTimeoutMs?: number;
  /** The operator's ceilings on sandbox.limits (HERM_SANDBOX_MAX_*, HERM_MAX_COMMAND_TIMEOUT_MS) and allowlist size. */
  limitCeilings: SandboxLimitCeilings;
  /** Compressed workspace snapshots, kept on delete with retain_filesystem and restored on create. */
  snapshots: SnapshotService;
  /** HERM_SANDBOX_DISK_MB: the disk quota of workspaces whose deployment sets no sandbox.limits.disk_mb; 0: none. */
  defaultDiskMb?: number;
  /** The per-thread workspaces of deployments with sandbox.persistent_filesystem false. */
  sessionWorkspaces: SessionWorkspaces;
  /** Called after a deployment is deleted, to stop its runs. */
  onDeleted?: (deploymentId: string) => Promise<void>;
  /** Per-account quotas: deployments and workspace_bytes are checked at create (and workspace_bytes when disk_mb changes). */
  quotas?: QuotaService;
}

function validateModel(model: string): void {
  try {
    parseModelName(model);
  } catch (error) {
    if (error instanceof InvalidModelError) throw validationError('model', error.message);
    throw error;
  }
}

/** A skill declaration of a create or update, with the id of the skill it keeps (update only). */
export type SkillInput = SkillConfig & { skill_id?: string | undefined };

/** The API error of a declaration that cannot become a skill; `prefix` is how the request names it ("skills.3." or ""). */
function skillEntryError(error: SkillEntryError, skill: SkillConfig, prefix: string): ApiError {
  const param = `${prefix}${error.field}`;
  if (error.invalidPath) return validationError(param, `Invalid ${param}: ${error.message}.`);
  return new ApiError('invalid_skill', `Skill "${skill.name}" is invalid: ${error.message}.`, param);
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

/** Mebibytes, rounded up: "takes 21 MB" for 20.3. */
function mebibytes(bytes: number): number {
  return Math.ceil(bytes / 1_048_576);
}

export class DeploymentService {
  readonly #options: DeploymentServiceOptions;
  readonly #provisioning = new Map<string, Promise<void>>();
  /** Stops the provisioning (a snapshot restore) of a deployment deleted meanwhile. */
  readonly #provisioningAborts = new Map<string, AbortController>();
  /** Set by stop(): interrupted restores are left for the next start to do again. */
  #stopping = false;
  /** Skills directories known to exist (sandboxSpec creates them on first use). */
  readonly #skillsDirs = new Set<string>();

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
    // Its skills directory, if it had one (written again at a run start; an idle-swept thread's stays until then).
    const threadSkills = path.join(this.#skillsRoot(deploymentId), 'threads', threadId);
    this.#skillsDirs.delete(threadSkills);
    await fs.rm(threadSkills, { recursive: true, force: true }).catch(() => {});
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
      network: deployment.sandbox.network ? this.#egressNetwork(deployment.account_id, deployment.sandbox.network.allow) : false,
      ...(deployment.sandbox.limits ? { limits: clampToCeilings(sandboxLimits(deployment.sandbox.limits), this.#options.limitCeilings) } : {}),
      ...(options.env ? { env: options.env } : {}),
      ...(deployment.sandbox.image ? { image: deployment.sandbox.image } : {}),
      // With dreaming on, skills it learned may be there without any of the product's.
      ...(deployment.skills.length > 0 || deployment.features.dreaming ? { readOnlyMounts: [this.#skillsMount(deployment, options.threadId)] } : {}),
    };
  }

  /** The deployment's skills directory (created when missing), read-only at /skills. */
  #skillsMount(deployment: DeploymentRecord, threadId: string | undefined): ReadOnlyMount {
    const hostPath = this.skillsDir(deployment, threadId);
    if (!this.#skillsDirs.has(hostPath)) {
      createSkillsDirectorySync(hostPath);
      this.#skillsDirs.add(hostPath);
    }
    return { hostPath, sandboxPath: SKILLS_PATH };
  }

  /** The disk quota of a deployment's workspace in bytes (its sandbox.limits.disk_mb, else the server's), or undefined for none. */
  #diskQuotaBytes(sandbox: SandboxConfig): number | undefined {
    const megabytes = sandbox.limits?.disk_mb ?? this.#options.defaultDiskMb ?? 0;
    // Held to the ceiling, as the sandbox holds it when commands run (sandboxSpec).
    return megabytes > 0 ? Math.min(megabytes, this.#options.limitCeilings.limits.disk_mb.max) * 1_048_576 : undefined;
  }

  /** A SandboxSpec's network: the allowlist, with the internal destinations open to the account. */
  #egressNetwork(accountId: string, allow: readonly string[]): { allow: readonly string[]; internal?: readonly string[] } {
    const internal = internalDestinationsFor(this.#options.internalDestinations ?? [], accountId);
    return internal.length > 0 ? { allow, internal } : { allow };
  }

  /**
   * Refuses an allowlist entry that names an internal host (an internal IP literal, localhost) at a port
   * the operator has not opened to this account (HERM_SANDBOX_INTERNAL_DESTINATIONS): a 400 naming it.
   */
  #checkInternalEntries(accountId: string, allow: readonly string[]): void {
    const open = new InternalDestinationSet(internalDestinationsFor(this.#options.internalDestinations ?? [], accountId));
    allow.forEach((value, index) => {
      const entry = parseAllowEntry(value);
      if (typeof entry === 'string') return;
      const refusal = internalEntryRefusal(entry, open);
      if (refusal) throw validationError(`sandbox.network.allow.${index}`, `Invalid sandbox.network.allow.${index}: ${refusal}`);
    });
  }

  /**
   * The entries a create or update stores for `inputs` (the whole new array): url skills are fetched now, all at
   * once, and the first failing declaration (in array order) is the error, so nothing is stored half-made. A
   * declaration keeps the id of the current skill it names by `skill_id`, or else of the one with its name.
   */
  async #loadSkills(inputs: SkillInput[], current: StoredSkill[]): Promise<StoredSkill[]> {
    if (inputs.length > MAX_SKILLS) throw validationError('skills', `A deployment has at most ${MAX_SKILLS} skills; got ${inputs.length}.`);
    const seen = new Map<string, number>();
    const claimed = new Map<string, number>();
    inputs.forEach((input, index) => {
      const earlier = seen.get(input.name);
      if (earlier !== undefined) {
        throw validationError(`skills.${index}.name`, `Invalid skills.${index}.name: duplicate name "${input.name}" (skills.${earlier} has it too).`);
      }
      seen.set(input.name, index);
      if (input.skill_id !== undefined) {
        if (!current.some((skill) => skill.skill_id === input.skill_id)) {
          throw validationError(`skills.${index}.skill_id`, `Invalid skills.${index}.skill_id: this deployment has no skill ${input.skill_id}; leave skill_id out to add a new skill.`);
        }
        const other = claimed.get(input.skill_id);
        if (other !== undefined) {
          throw validationError(`skills.${index}.skill_id`, `Invalid skills.${index}.skill_id: skills.${other} keeps ${input.skill_id} already; a skill can be kept once.`);
        }
        claimed.set(input.skill_id, index);
      }
      try {
        checkSkillPath(input);
      } catch (error) {
        if (error instanceof SkillEntryError) throw skillEntryError(error, input, `skills.${index}.`);
        throw error;
      }
    });
    const now = Date.now();
    const results = await Promise.allSettled(
      inputs.map(({ skill_id, ...config }) => {
        // By id when given; else the current skill of the same name, unless another entry keeps that one by id.
        const kept = current.find((skill) =>
          skill_id === undefined ? skill.name === config.name && !claimed.has(skill.skill_id) : skill.skill_id === skill_id,
        );
        const identity = kept ? { skill_id: kept.skill_id, created_at: kept.created_at } : { skill_id: newId('skill'), created_at: now };
        return loadSkillEntry(config as SkillConfig, identity, this.#skillFetching());
      }),
    );
    return results.map((result, index) => {
      if (result.status === 'fulfilled') return result.value;
      if (result.reason instanceof SkillEntryError) throw skillEntryError(result.reason, inputs[index]!, `skills.${index}.`);
      throw result.reason;
    });
  }

  #skillFetching() {
    return { policy: this.#options.outboundPolicy ?? {}, timeoutMs: this.#options.skillFetchTimeoutMs };
  }

  /**
   * Applies `mutate` to the deployment's current skills and stores the result, compare-and-set on the stored
   * column: a concurrent write in between makes it re-read and apply `mutate` again, so none is lost.
   */
  async #mutateSkills<T>(deployment: DeploymentRecord, mutate: (skills: StoredSkill[]) => { skills: StoredSkill[]; result: T }): Promise<T> {
    const repository = this.#options.store.deployments;
    for (let attempt = 0; attempt < 50; attempt++) {
      const stored = await repository.skillsColumn(deployment.id);
      if (!stored) throw notFound('deployment', deployment.id, 'deployment_id');
      const { skills, result } = mutate(storedSkills(deployment.id, stored.created_at, stored.column));
      if (await repository.compareAndSetSkills(deployment.id, stored.column, skills)) return result;
    }
    throw new ApiError('conflict', `The skills of deployment ${deployment.id} kept changing while this request tried to apply its change; retry.`);
  }

  /** The Skills API's add: a new skill at the end of the deployment's skills; its next run has it. */
  async addSkill(deployment: DeploymentRecord, input: SkillConfig): Promise<StoredSkill> {
    const checkRoom = (skills: StoredSkill[]) => {
      const taken = skills.find((skill) => skill.name === input.name);
      if (taken) {
        throw validationError(
          'name',
          `Invalid name: this deployment already has a skill named "${input.name}" (${taken.skill_id}); replace it with PUT /v1/deployments/${deployment.id}/skills/${taken.skill_id}, or pick another name.`,
        );
      }
      if (skills.length >= MAX_SKILLS) {
        throw new ApiError('validation_error', `A deployment has at most ${MAX_SKILLS} skills, and ${deployment.id} has ${skills.length}: remove one first.`);
      }
    };
    // Refused before anything is fetched when it cannot fit now; checked again when it is stored.
    checkRoom(deployment.skills);
    const entry = await this.#loadSkillEntry(input, { skill_id: newId('skill'), created_at: Date.now() });
    return this.#mutateSkills(deployment, (skills) => {
      checkRoom(skills);
      return { skills: [...skills, entry], result: entry };
    });
  }

  /** The Skills API's PUT: replaces a skill's source and content (a url is fetched again), keeping its id. */
  async updateSkill(deployment: DeploymentRecord, skillId: string, input: SkillConfig): Promise<StoredSkill> {
    const current = deployment.skills.find((skill) => skill.skill_id === skillId);
    if (!current) throw notFound('skill', skillId, 'skill_id');
    const entry = await this.#loadSkillEntry(input, { skill_id: current.skill_id, created_at: current.created_at });
    return this.#mutateSkills(deployment, (skills) => {
      const index = skills.findIndex((skill) => skill.skill_id === skillId);
      if (index < 0) throw notFound('skill', skillId, 'skill_id');
      const taken = skills.find((skill) => skill.name === input.name && skill.skill_id !== skillId);
      if (taken) throw validationError('name', `Invalid name: this deployment already has another skill named "${input.name}" (${taken.skill_id}).`);
      return { skills: skills.with(index, entry), result: entry };
    });
  }

  /** The Skills API's delete. */
  async removeSkill(deployment: DeploymentRecord, skillId: string): Promise<StoredSkill> {
    return this.#mutateSkills(deployment, (skills) => {
      const removed = skills.find((skill) => skill.skill_id === skillId);
      if (!removed) throw notFound('skill', skillId, 'skill_id');
      return { skills: skills.filter((skill) => skill !== removed), result: removed };
    });
  }

  async #loadSkillEntry(input: SkillConfig, identity: { skill_id: string; created_at: number }): Promise<StoredSkill> {
    try {
      checkSkillPath(input);
      return await loadSkillEntry(input, identity, this.#skillFetching());
    } catch (error) {
      if (error instanceof SkillEntryError) throw skillEntryError(error, input, '');
      throw error;
    }
  }

  /**
   * Host directory whose files runs show read-only at /skills (skills/run-skills.ts writes them), beside the
   * workspace the sandbox mounts (threadWorkspaceDir): one for a persistent workspace, one per thread for session
   * workspaces, whose `file` skills may differ thread by thread.
   */
  skillsDir(deployment: DeploymentRecord, threadId: string | undefined): string {
    const root = this.#skillsRoot(deployment.id);
    if (deployment.sandbox.persistent_filesystem) return path.join(root, 'workspace');
    if (threadId === undefined) throw new TypeError(`deployment ${deployment.id} has no persistent workspace: a thread is needed to pick its skills`);
    return path.join(root, 'threads', threadId);
  }

  #skillsRoot(deploymentId: string): string {
    return path.join(this.#options.dataDir, 'skills', deploymentId);
  }

  /** `secrets`: the keys a create or update sets (keys it removes with null are never checked, so an old reserved one can go). */
  async #validateSecrets(accountId: string, secrets: Record<string, string>): Promise<void> {
    const entries = Object.entries(secrets);
    const reserved = entries.find(([name]) => isReservedEnvironmentName(name));
    if (reserved) {
      throw validationError(
        `secrets.${reserved[0]}`,
        `Invalid secrets.${reserved[0]}: ${reserved[0]} is reserved: the sandbox sets or uses that variable itself, so it cannot carry a secret. ` +
          `Reserved: ${describeReservedEnvironmentNames()}.`,
      );
    }
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
    // The values asked for now are held to the operator's ceilings; kept ones above a since-lowered ceiling are
    // clamped when commands run (sandboxSpec), so an unrelated sandbox change does not fail on them.
    const aboveCeiling = limitAboveCeiling(
      Object.fromEntries(Object.entries(input ?? {}).filter(([, value]) => value != null)),
      this.#options.limitCeilings,
    );
    if (aboveCeiling) throw validationError(`sandbox.limits.${aboveCeiling.field}`, aboveCeiling.message);
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
    const allowCeiling = this.#options.limitCeilings.allowEntries;
    if (input?.network && input.network.allow.length > allowCeiling.max) {
      throw validationError(
        'sandbox.network.allow',
        `sandbox.network.allow may list at most ${allowCeiling.max} hosts on this server (${allowCeiling.variable}); ${input.network.allow.length} were given.`,
      );
    }
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
    // The account's quotas first (deployments, workspace_bytes): they hold whatever this server can enforce.
    await this.#options.quotas?.checkDeployment(accountId, { diskMb: input.sandbox?.limits?.disk_mb ?? undefined, creating: true });
    const sandbox = await this.#withLimits(await this.#resolveSandbox(input.sandbox), input.sandbox?.limits);
    if (input.sandbox?.network) this.#checkInternalEntries(accountId, input.sandbox.network.allow);
    const secrets = input.secrets ?? {};
    const skills = await this.#loadSkills(input.skills ?? [], []);
    await this.#validateSecrets(accountId, secrets);
    checkMcpServers(input.mcp_servers ?? [], secrets, this.#options.outboundPolicy ?? {});
    const id = newId('deployment');
    if (input.restore_snapshot_id !== undefined && !sandbox.persistent_filesystem) {
      throw validationError(
        'restore_snapshot_id',
        'restore_snapshot_id needs sandbox.persistent_filesystem true: without a persistent workspace every thread starts with an empty one.',
      );
    }
    const now = Date.now();
    if (input.restore_snapshot_id !== undefined) {
      const snapshot = await this.#options.snapshots.get(accountId, input.restore_snapshot_id);
      if (!snapshot) throw notFound('snapshot', input.restore_snapshot_id, 'restore_snapshot_id');
      const quota = this.#diskQuotaBytes(sandbox);
      if (quota !== undefined && snapshot.content_bytes !== null && snapshot.content_bytes > quota) {
        const source = sandbox.limits?.disk_mb === undefined ? "the server's HERM_SANDBOX_DISK_MB" : 'sandbox.limits.disk_mb';
        throw validationError(
          'restore_snapshot_id',
          `Snapshot ${snapshot.id} takes ${mebibytes(snapshot.content_bytes)} MB unpacked, more than the new deployment's disk quota of ` +
            `${mebibytes(quota)} MB (${source}).`,
        );
      }
      // Restored by provisioning, in the background; recorded first, so that a restart finishes it.
      await this.#options.store.snapshots.addRestore(id, snapshot.id, now);
    }
    const record = await this.#options.store.deployments
      .create({
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
      steering: steeringPolicyFrom(input.steering),
      status: 'provisioning',
      status_reason: null,
      default_thread_id: newId('thread'),
      created_at: now,
      updated_at: now,
      })
      .catch(async (error: unknown) => {
        if (input.restore_snapshot_id !== undefined) await this.#options.store.snapshots.deleteRestore(id).catch(() => {});
        throw error;
      });
    const provisioning = this.#provision(record.id, input.restore_snapshot_id ?? null);
    // A snapshot may take a while to unpack: the answer is "provisioning" at once, and clients poll.
    if (input.restore_snapshot_id !== undefined) return record;
    const finishedInTime = await Promise.race([
      provisioning.then(() => true),
      new Promise<false>((resolve) => setTimeout(resolve, this.#options.provisionWaitMs, false).unref()),
    ]);
    return finishedInTime ? ((await this.#options.store.deployments.getById(record.id)) ?? record) : record;
  }

  /**
   * Prepares the workspace (restoring the snapshot the deployment was created from, if any) and checks the
   * sandbox; moves the deployment to ready or error. Idempotent.
   */
  provision(deploymentId: string): Promise<void> {
    return this.#provision(deploymentId, undefined);
  }

  /** `restore`: the snapshot to restore, null for none, undefined to look it up (provisioning a restart interrupted). */
  #provision(deploymentId: string, restore: string | null | undefined): Promise<void> {
    const existing = this.#provisioning.get(deploymentId);
    if (existing) return existing;
    // Shutting down: left provisioning, for the next start.
    if (this.#stopping) return Promise.resolve();
    const abort = new AbortController();
    const job = (async () => {
      const { store, sandboxBackends, logger, provisionDelayMs } = this.#options;
      let snapshotId: string | undefined;
      try {
        if (provisionDelayMs > 0) await sleep(provisionDelayMs, undefined, { signal: abort.signal });
        snapshotId = restore === undefined ? await store.snapshots.pendingRestore(deploymentId) : (restore ?? undefined);
        if (snapshotId === undefined) await fs.mkdir(this.workspaceDir(deploymentId), { recursive: true, mode: 0o755 });
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
        if (snapshotId !== undefined) await this.#restoreSnapshot(deployment, snapshotId, abort.signal);
        await store.deployments.setStatus(deploymentId, 'ready', null);
      } catch (error) {
        // Stopped by delete() or stop(): nothing failed.
        if (abort.signal.aborted) return;
        logger.error({ err: error, deploymentId }, 'provisioning failed');
        await store.deployments.setStatus(deploymentId, 'error', (error as Error).message).catch(() => {});
      } finally {
        // Done, failed or deleted: nothing is left to restore. A crash or a shutdown leaves it for the next start.
        if (snapshotId !== undefined && !this.#stopping) await store.snapshots.deleteRestore(deploymentId).catch(() => {});
      }
    })().finally(() => {
      this.#provisioning.delete(deploymentId);
      this.#provisioningAborts.delete(deploymentId);
    });
    this.#provisioning.set(deploymentId, job);
    this.#provisioningAborts.set(deploymentId, abort);
    return job;
  }

  /**
   * Unpacks a snapshot into the deployment's workspace, from empty (a restore a restart interrupted is
   * started over) and, with a disk quota, into its quota'd file system, so it can never take more.
   */
  async #restoreSnapshot(deployment: DeploymentRecord, snapshotId: string, signal: AbortSignal): Promise<void> {
    const { store, snapshots, sandboxBackends } = this.#options;
    const workspace = this.workspaceDir(deployment.id);
    const quota = this.#diskQuotaBytes(deployment.sandbox);
    try {
      // Expiry is not asked again: the snapshot was live when the create was accepted, and its file stays until swept.
      const snapshot = await store.snapshots.get(deployment.account_id, snapshotId, 0);
      if (!snapshot) throw new Error('it no longer exists');
      await sandboxBackends.removeWorkspace(workspace);
      await sandboxBackends.prepareWorkspace(workspace, quota);
      await snapshots.restore(snapshot, workspace, { signal });
    } catch (error) {
      if (signal.aborted) throw error;
      const { message } = error as Error;
      // tar says "Wrote only 1024 of 10240 bytes" when the file system is full.
      const full = quota !== undefined && /No space left on device|Wrote only \d+ of \d+ bytes/.test(message);
      const reason = full ? `its files do not fit in the workspace's disk quota of ${mebibytes(quota)} MB (${message})` : message;
      throw new Error(`The snapshot ${snapshotId} could not be restored: ${reason}`, { cause: error });
    }
  }

  /**
   * Stops provisioning for a shutdown: a restore in progress stops (tar is killed) and, like one a crash
   * interrupted, is done again from an empty workspace by the next start's resumeProvisioning().
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const abort of this.#provisioningAborts.values()) abort.abort(new Error('the server is stopping'));
    await Promise.allSettled([...this.#provisioning.values()]);
  }

  /** Resumes provisioning that a restart interrupted. */
  async resumeProvisioning(): Promise<void> {
    for (const deployment of await this.#options.store.deployments.listProvisioning()) {
      // In the background; provision() records its own failures on the deployment, and never rejects for them.
      this.provision(deployment.id).catch((error: unknown) => this.#options.logger.error({ err: error, deploymentId: deployment.id }, 'provisioning failed'));
    }
  }

  /**
   * Applies `mutate` to the deployment's current `mcp_servers` and `disabled_tools` and stores the result,
   * compare-and-set on the stored columns: a concurrent write in between makes it re-read and apply `mutate`
   * again, so none is lost (the MCP servers API and the Tools API write through here).
   */
  async #mutateTools<T>(
    deployment: DeploymentRecord,
    mutate: (current: { mcp_servers: McpServerConfig[]; disabled_tools: string[] }) => { mcp_servers: McpServerConfig[]; disabled_tools: string[]; result: T },
  ): Promise<T> {
    const repository = this.#options.store.deployments;
    for (let attempt = 0; attempt < 50; attempt++) {
      const stored = await repository.toolColumns(deployment.id);
      if (!stored) throw notFound('deployment', deployment.id, 'deployment_id');
      const next = mutate({ mcp_servers: JSON.parse(stored.mcp_servers) as McpServerConfig[], disabled_tools: JSON.parse(stored.disabled_tools) as string[] });
      if (await repository.compareAndSetTools(deployment.id, stored, next)) return next.result;
    }
    throw new ApiError('conflict', `The MCP servers and tools of deployment ${deployment.id} kept changing while this request tried to apply its change; retry.`);
  }

  /** The MCP servers API's add: one server at the end of `mcp_servers`; the deployment's next run has it. */
  async addMcpServer(deployment: DeploymentRecord, server: McpServerConfig): Promise<McpServerConfig> {
    checkMcpServer(server, deployment.secrets, this.#options.outboundPolicy ?? {}, '');
    return this.#mutateTools(deployment, (current) => {
      if (current.mcp_servers.some((existing) => existing.name === server.name)) {
        throw validationError(
          'name',
          `Invalid name: this deployment already has an MCP server named "${server.name}"; change it with PATCH /v1/deployments/${deployment.id}/mcp_servers/${server.name}, or pick another name.`,
        );
      }
      if (current.mcp_servers.length >= MAX_MCP_SERVERS) {
        throw validationError('mcp_servers', `A deployment has at most ${MAX_MCP_SERVERS} MCP servers, and ${deployment.id} has ${current.mcp_servers.length}: remove one first.`);
      }
      return { ...current, mcp_servers: [...current.mcp_servers, server], result: server };
    });
  }

  /** The MCP servers API's update: `url`, `tools` and `headers` of one server (null removes `tools` or `headers`). */
  async updateMcpServer(
    deployment: DeploymentRecord,
    name: string,
    patch: { url?: string | undefined; tools?: string[] | null | undefined; headers?: Record<string, string> | null | undefined },
  ): Promise<McpServerConfig> {
    return this.#mutateTools(deployment, (current) => {
      const index = current.mcp_servers.findIndex((server) => server.name === name);
      if (index < 0) throw notFound('MCP server', name, 'name');
      const updated: McpServerConfig = { ...current.mcp_servers[index]! };
      if (patch.url !== undefined) updated.url = patch.url;
      if (patch.tools === null) delete updated.tools;
      else if (patch.tools !== undefined) updated.tools = patch.tools;
      if (patch.headers === null) delete updated.headers;
      else if (patch.headers !== undefined) updated.headers = patch.headers;
      checkMcpServer(updated, deployment.secrets, this.#options.outboundPolicy ?? {}, '');
      return { ...current, mcp_servers: current.mcp_servers.with(index, updated), result: updated };
    });
  }

  /** The MCP servers API's remove; the server's tools leave `disabled_tools` with it. */
  async removeMcpServer(deployment: DeploymentRecord, name: string): Promise<McpServerConfig> {
    return this.#mutateTools(deployment, (current) => {
      const removed = current.mcp_servers.find((server) => server.name === name);
      if (!removed) throw notFound('MCP server', name, 'name');
      const prefix = mcpToolPrefix(name);
      return {
        mcp_servers: current.mcp_servers.filter((server) => server !== removed),
        disabled_tools: current.disabled_tools.filter((tool) => !tool.startsWith(prefix)),
        result: removed,
      };
    });
  }

  /** The Tools API's toggle: a disabled tool is never offered to the model. The caller checks that the tool exists. */
  async setToolEnabled(deployment: DeploymentRecord, name: string, enabled: boolean): Promise<void> {
    await this.#mutateTools(deployment, (current) => {
      const others = current.disabled_tools.filter((tool) => tool !== name);
      return { ...current, disabled_tools: enabled ? others : [...others, name], result: undefined };
    });
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
      if (input.sandbox.network) this.#checkInternalEntries(current.account_id, input.sandbox.network.allow);
      if (changes.sandbox.limits?.disk_mb !== current.sandbox.limits?.disk_mb) {
        await this.#options.quotas?.checkDeployment(current.account_id, { diskMb: changes.sandbox.limits?.disk_mb, creating: false, deploymentId: current.id });
      }
    }
    if (input.mcp_servers !== undefined) changes.mcp_servers = input.mcp_servers;
    if (input.skills !== undefined) changes.skills = await this.#loadSkills(input.skills, current.skills);
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
    if (input.steering !== undefined) changes.steering = steeringPolicyFrom(input.steering);
    if (changes.mcp_servers !== undefined) {
      checkMcpServers(changes.mcp_servers, changes.secrets ?? current.secrets, this.#options.outboundPolicy ?? {});
    } else if (changes.secrets !== undefined) {
      const broken = removedReferencedSecret(current.mcp_servers, changes.secrets);
      if (broken) throw broken;
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
    // A restore still unpacking into the workspace stops first (the workspace keeps what it unpacked).
    const provisioning = this.#provisioning.get(deployment.id);
    if (provisioning) {
      this.#provisioningAborts.get(deployment.id)?.abort(new Error('the deployment was deleted'));
      await provisioning;
    }
    if (deployment.status === 'provisioning') await this.#options.store.snapshots.deleteRestore(deployment.id);
    const skillsRoot = this.#skillsRoot(deployment.id);
    for (const known of this.#skillsDirs) if (known.startsWith(`${skillsRoot}${path.sep}`)) this.#skillsDirs.delete(known);
    await fs.rm(skillsRoot, { recursive: true, force: true }).catch((error: unknown) => {
      this.#options.logger.warn({ err: error, deploymentId: deployment.id }, 'could not remove the skills directory');
    });
    const workspace = this.workspaceDir(deployment.id);
    if (retainFilesystem) {
      try {
        await this.#options.sandboxBackends.attachWorkspace(workspace);
        // Bounded by what the workspace may hold: its disk quota, else the server's ceiling of quotas.
        const limitBytes = this.#diskQuotaBytes(deployment.sandbox) ?? this.#options.limitCeilings.limits.disk_mb.max * 1_048_576;
        await this.#options.snapshots.capture(deployment, workspace, { limitBytes });
      } catch (error) {
        // The deployment is gone already; its files must not be: they stay as a plain directory for the operator.
        const retained = path.join(this.#options.dataDir, 'retained', deployment.id);
        const reason = error instanceof SnapshotTooLargeError ? 'workspace too large to snapshot' : 'workspace snapshot failed';
        this.#options.logger.error({ err: error, deploymentId: deployment.id, retained }, `${reason}; the workspace is kept as a directory`);
        await fs.mkdir(path.dirname(retained), { recursive: true });
        await fs.rename(workspace, retained).catch(() => {});
        return;
      }
    }
    await this.#options.sandboxBackends.removeWorkspace(workspace);
  }
}
