// The sandbox backends a server offers, and which one a deployment that names none gets. Both
// backends are always offered; whether one can run here is asked of it (check()) when it is needed.
import type { Config } from '../config.ts';
import { createBubblewrapBackend, type SandboxLogger } from './bubblewrap/bubblewrap.ts';
import { createCommandLimits } from './limits/command-limits.ts';
import { createDockerBackend } from './docker/docker.ts';
import { defaultsWithinCeilings, sandboxCeilingsFromConfig, type CeilingsConfig } from './limits/limit-ceilings.ts';
import type { EgressSecrets } from './egress/egress-secrets.ts';
import type { SandboxBackend, SandboxLimits, SandboxType } from './sandbox.ts';
import { createUnsandboxedBackend } from './unsandboxed.ts';
import { createWorkspaceQuotas, type WorkspaceQuotas } from './limits/workspace-quotas.ts';

export interface SandboxBackends {
  /** The backend of deployments that name none. */
  readonly defaultType: SandboxType;
  /** The backend of that type, or undefined when this server has none. */
  get(type: string): SandboxBackend | undefined;
  /** Frees what every backend holds for a deployment (its docker containers). */
  discard(deploymentId: string): Promise<void>;
  /** Deletes a workspace directory, unmounting its disk-quota file system first when it has one. */
  removeWorkspace(workspaceDir: string): Promise<void>;
  /** Makes a workspace's files readable from the host: mounts its disk-quota file system if it has one. */
  attachWorkspace(workspaceDir: string): Promise<void>;
  /**
   * Gives a workspace the disk quota `diskBytes` (none when undefined or 0), as a deployment's first command
   * would: files then written into it (a restored snapshot) can never exceed it.
   */
  prepareWorkspace(workspaceDir: string, diskBytes: number | undefined): Promise<void>;
  /** Why workspace disk quotas cannot be enforced here; undefined when they can. */
  diskQuotaUnavailableReason(): Promise<string | undefined>;
  /** Releases what the backends hold (the docker backend's containers). */
  close(): Promise<void>;
}

export type SandboxBackendsConfig = Pick<
  Config,
  | 'HERM_SANDBOX'
  | 'DOCKER_HOST'
  | 'HERM_DOCKER_IMAGE'
  | 'HERM_DOCKER_IDLE_MS'
  | 'HERM_COMMAND_TIMEOUT_MS'
  | 'HERM_MAX_OUTPUT_BYTES'
  | 'HERM_SANDBOX_CPUS'
  | 'HERM_SANDBOX_MEMORY_MB'
  | 'HERM_SANDBOX_DISK_MB'
  | 'HERM_SANDBOX_PROCESSES'
  | 'HERM_ALLOW_UNSANDBOXED'
> &
  CeilingsConfig;

/** The server's default limits of every sandboxed command (deployments override them in sandbox.limits). */
export function sandboxLimitsFromConfig(
  config: Pick<
    Config,
    'HERM_COMMAND_TIMEOUT_MS' | 'HERM_MAX_OUTPUT_BYTES' | 'HERM_SANDBOX_CPUS' | 'HERM_SANDBOX_MEMORY_MB' | 'HERM_SANDBOX_DISK_MB' | 'HERM_SANDBOX_PROCESSES'
  >,
): SandboxLimits {
  return {
    timeoutMs: config.HERM_COMMAND_TIMEOUT_MS,
    maxOutputBytes: config.HERM_MAX_OUTPUT_BYTES,
    ...(config.HERM_SANDBOX_CPUS > 0 ? { cpus: config.HERM_SANDBOX_CPUS } : {}),
    ...(config.HERM_SANDBOX_MEMORY_MB > 0 ? { memoryBytes: config.HERM_SANDBOX_MEMORY_MB * 1_048_576 } : {}),
    ...(config.HERM_SANDBOX_PROCESSES > 0 ? { maxProcesses: config.HERM_SANDBOX_PROCESSES } : {}),
    ...(config.HERM_SANDBOX_DISK_MB > 0 ? { diskBytes: config.HERM_SANDBOX_DISK_MB * 1_048_576 } : {}),
  };
}

export interface SandboxBackendsOptions {
  config: SandboxBackendsConfig;
  /** Connector secrets the egress proxies put into requests to the hosts they are bound to. */
  egressSecrets?: EgressSecrets;
  logger: SandboxLogger & { info(fields: object, message: string): void };
}

/** Builds the configured backends; with HERM_SANDBOX=auto, probes the Docker API to pick the default. */
export async function createSandboxBackends(options: SandboxBackendsOptions): Promise<SandboxBackends> {
  const { config, logger } = options;
  const limits = defaultsWithinCeilings(sandboxLimitsFromConfig(config), sandboxCeilingsFromConfig(config), (fields, message) => logger.warn(fields, message));
  // One set of control groups for the process-based backends.
  const commandLimits = createCommandLimits({ logger });
  const workspaceQuotas = createWorkspaceQuotas({ logger });
  const backends: SandboxBackend[] = [
    createBubblewrapBackend({ limits, logger, commandLimits, workspaceQuotas, ...(options.egressSecrets ? { egressSecrets: options.egressSecrets } : {}) }),
    createDockerBackend({
      limits,
      ...(config.DOCKER_HOST ? { dockerHost: config.DOCKER_HOST } : {}),
      image: config.HERM_DOCKER_IMAGE,
      idleMs: config.HERM_DOCKER_IDLE_MS,
      logger,
      workspaceQuotas,
      ...(options.egressSecrets ? { egressSecrets: options.egressSecrets } : {}),
    }),
    // Never a default: only deployments that ask for sandbox.enabled false get it.
    ...(config.HERM_ALLOW_UNSANDBOXED ? [createUnsandboxedBackend({ limits, logger, commandLimits, workspaceQuotas })] : []),
  ];
  let defaultType: SandboxType = config.HERM_SANDBOX === 'docker' ? 'docker' : 'bubblewrap';
  if (config.HERM_SANDBOX !== 'bubblewrap') {
    const docker = backends.find((backend) => backend.type === 'docker')!;
    const check = await docker.check();
    if (check.ok) defaultType = 'docker';
    if (config.HERM_SANDBOX === 'docker' && !check.ok) {
      logger.warn({ reason: check.reason }, 'HERM_SANDBOX=docker, but the docker sandbox cannot run here yet; deployments on it will fail');
    } else if (!check.ok) {
      logger.info({ reason: check.reason }, 'docker sandbox unavailable; bubblewrap is the default sandbox');
    }
  }
  const offered = fromBackends(backends, defaultType, workspaceQuotas);
  return {
    ...offered,
    async close() {
      await offered.close();
      await commandLimits.close();
      // After the backends: their containers no longer hold the mounted workspaces.
      await workspaceQuotas.close();
    },
  };
}

/** Offers exactly the given backends; the first is the default unless `defaultType` says otherwise. */
export function fromBackends(
  backends: readonly SandboxBackend[],
  defaultType?: SandboxType,
  workspaceQuotas: WorkspaceQuotas = createWorkspaceQuotas(),
): SandboxBackends {
  const first = backends[0];
  if (!first) throw new TypeError('at least one sandbox backend is needed');
  const byType = new Map(backends.map((backend) => [backend.type as string, backend]));
  const chosenDefault = defaultType ?? first.type;
  return {
    defaultType: chosenDefault,
    get: (type) => byType.get(type),
    async discard(deploymentId) {
      await Promise.allSettled(backends.map((backend) => backend.discard?.(deploymentId)));
    },
    async removeWorkspace(workspaceDir) {
      // Containers binding the directory go first: they must not keep writing into a deleted one.
      await Promise.allSettled(backends.map((backend) => backend.discardWorkspace?.(workspaceDir)));
      await workspaceQuotas.remove(workspaceDir);
    },
    attachWorkspace: (workspaceDir) => workspaceQuotas.attach(workspaceDir),
    async prepareWorkspace(workspaceDir, diskBytes) {
      // Containers binding the old directory let go of it when it became (or stopped being) a mounted file system.
      if (await workspaceQuotas.prepare(workspaceDir, diskBytes)) {
        await Promise.allSettled(backends.map((backend) => backend.discardWorkspace?.(workspaceDir)));
      }
    },
    diskQuotaUnavailableReason: () => workspaceQuotas.unavailableReason(),
    async close() {
      await Promise.allSettled(backends.map((backend) => backend.close?.()));
    },
  };
}
