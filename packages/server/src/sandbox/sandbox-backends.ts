// The sandbox backends a server offers, and which one a deployment that names none gets. Both
// backends are always offered; whether one can run here is asked of it (check()) when it is needed.
import type { Config } from '../config.ts';
import { createBubblewrapBackend, type SandboxLogger } from './bubblewrap.ts';
import { createDockerBackend } from './docker.ts';
import type { SandboxBackend, SandboxType } from './sandbox.ts';
import { createUnsandboxedBackend } from './unsandboxed.ts';

export interface SandboxBackends {
  /** The backend of deployments that name none. */
  readonly defaultType: SandboxType;
  /** The backend of that type, or undefined when this server has none. */
  get(type: string): SandboxBackend | undefined;
  /** Frees what every backend holds for a deployment (its docker containers). */
  discard(deploymentId: string): Promise<void>;
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
  | 'HERM_ALLOW_UNSANDBOXED'
>;

export interface SandboxBackendsOptions {
  config: SandboxBackendsConfig;
  logger: SandboxLogger & { info(fields: object, message: string): void };
}

/** Builds the configured backends; with HERM_SANDBOX=auto, probes the Docker API to pick the default. */
export async function createSandboxBackends(options: SandboxBackendsOptions): Promise<SandboxBackends> {
  const { config, logger } = options;
  const limits = { timeoutMs: config.HERM_COMMAND_TIMEOUT_MS, maxOutputBytes: config.HERM_MAX_OUTPUT_BYTES };
  const backends: SandboxBackend[] = [
    createBubblewrapBackend({ limits, logger }),
    createDockerBackend({
      limits,
      ...(config.DOCKER_HOST ? { dockerHost: config.DOCKER_HOST } : {}),
      image: config.HERM_DOCKER_IMAGE,
      idleMs: config.HERM_DOCKER_IDLE_MS,
      logger,
    }),
    // Never a default: only deployments that ask for sandbox.enabled false get it.
    ...(config.HERM_ALLOW_UNSANDBOXED ? [createUnsandboxedBackend({ limits, logger })] : []),
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
  return fromBackends(backends, defaultType);
}

/** Offers exactly the given backends; the first is the default unless `defaultType` says otherwise. */
export function fromBackends(backends: readonly SandboxBackend[], defaultType?: SandboxType): SandboxBackends {
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
    async close() {
      await Promise.allSettled(backends.map((backend) => backend.close?.()));
    },
  };
}
