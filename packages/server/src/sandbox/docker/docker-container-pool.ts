// The containers of one docker backend: one per deployment (and image/network/workspace, so a changed
// deployment gets a fresh one while the old one idles out), started on first use and removed once no
// command has used it for `idleMs` — an idle deployment holds no container and no process.
import { createHash } from 'node:crypto';
import { lstat, lchown, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { buildContainerConfig, type ContainerLimits } from './docker-container-config.ts';
import { DockerApiError, type DockerApi } from './docker-api.ts';
import type { ReadOnlyMount } from '../sandbox.ts';

export interface ContainerKey {
  deploymentId: string;
  image: string;
  network: boolean;
  /** A network allowlist and its proxy's socket directory: a changed allowlist gets a new container. */
  egress?: { socketDirectory: string; allow: readonly string[]; trustBundle?: string | undefined } | undefined;
  /** Absent only for the backend's self-check container. */
  workspaceDir?: string;
  /** Read-only bind mounts (the deployment's skills): part of the container's identity. */
  readOnlyMounts?: readonly ReadOnlyMount[] | undefined;
  /** Part of the container's identity: changed limits get a new container. */
  limits?: ContainerLimits;
}

/** A container in use by one command; release it when the command is done. */
export interface ContainerLease {
  readonly id: string;
  readonly name: string;
  release(): void;
  /** The container is gone or wedged: remove it now; the next acquire starts a new one. */
  discard(): Promise<void>;
}

export interface ContainerPoolLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface ContainerPoolOptions {
  api: DockerApi;
  idleMs: number;
  /** How long a container waits without commands before it stops itself (see KEEP_ALIVE_SCRIPT). */
  selfStopMs: number;
  /** uid:gid of the container's processes. */
  user: string;
  /** When set, a workspace is chowned to it (recursively, once) before its first container starts. */
  workspaceOwner?: { uid: number; gid: number };
  logger?: ContainerPoolLogger;
}

interface Slot {
  name: string;
  key: ContainerKey;
  config: Record<string, unknown>;
  /** The running container's id, while one is started or starting. */
  container: Promise<string> | undefined;
  active: number;
  idleTimer: NodeJS.Timeout | undefined;
}

const REMOVE_TIMEOUT_MS = 30_000;

export class DockerContainerPool {
  readonly #options: ContainerPoolOptions;
  readonly #slots = new Map<string, Slot>();
  /** Removals in flight, by container name: a new container of that name waits for them. */
  readonly #removals = new Map<string, Promise<void>>();
  #closed = false;

  constructor(options: ContainerPoolOptions) {
    this.#options = options;
  }

  /**
   * The name of a container: readable, and different whenever anything of its configuration differs
   * (image, network, workspace, and the isolation settings of this version of Herm). So a container of
   * that name found running was made exactly so, and can be adopted.
   */
  static containerName(deploymentId: string, config: Record<string, unknown>): string {
    const fingerprint = createHash('sha256').update(JSON.stringify(config)).digest('hex').slice(0, 10);
    return `herm-${deploymentId.replace(/[^A-Za-z0-9_.-]/g, '-')}-${fingerprint}`;
  }

  /** Number of containers this pool holds (running or starting). */
  get size(): number {
    let count = 0;
    for (const slot of this.#slots.values()) if (slot.container) count++;
    return count;
  }

  async acquire(key: ContainerKey): Promise<ContainerLease> {
    if (this.#closed) throw new Error('the docker sandbox backend is closed');
    const engine = await this.#options.api.engine();
    if (this.#closed) throw new Error('the docker sandbox backend is closed');
    const config = buildContainerConfig({ ...key, engine, user: this.#options.user, selfStopSeconds: Math.ceil(this.#options.selfStopMs / 1000) });
    const name = DockerContainerPool.containerName(key.deploymentId, config);
    let slot = this.#slots.get(name);
    if (!slot) {
      slot = { name, key, config, container: undefined, active: 0, idleTimer: undefined };
      this.#slots.set(name, slot);
    }
    slot.active++;
    clearTimeout(slot.idleTimer);
    slot.idleTimer = undefined;
    const current = slot;
    if (!current.container) {
      const starting = this.#start(current);
      current.container = starting;
      starting.catch(() => {
        if (current.container === starting) current.container = undefined;
      });
    }
    let id: string;
    try {
      id = await current.container;
    } catch (error) {
      this.#release(current);
      throw error;
    }
    let released = false;
    return {
      id,
      name,
      release: () => {
        if (released) return;
        released = true;
        this.#release(current);
      },
      discard: async () => {
        if (current.container) current.container = undefined;
        await this.#remove(name, 'discarded');
      },
    };
  }

  /** Removes a deployment's containers now, commands running in them included. */
  async discardDeployment(deploymentId: string): Promise<void> {
    await this.#discardWhere((key) => key.deploymentId === deploymentId, 'deployment deleted');
  }

  /** Removes the containers that bind one workspace directory (before it is deleted), commands running in them included. */
  async discardWorkspace(workspaceDir: string): Promise<void> {
    await this.#discardWhere((key) => key.workspaceDir === workspaceDir, 'workspace removed');
  }

  async #discardWhere(matches: (key: ContainerKey) => boolean, reason: string): Promise<void> {
    const removals: Promise<void>[] = [];
    for (const slot of [...this.#slots.values()]) {
      if (!matches(slot.key)) continue;
      clearTimeout(slot.idleTimer);
      this.#slots.delete(slot.name);
      if (slot.container) removals.push(this.#remove(slot.name, reason));
      slot.container = undefined;
    }
    await Promise.all(removals);
  }

  /** Removes every container of this pool; later acquires fail. */
  async close(): Promise<void> {
    this.#closed = true;
    const removals: Promise<void>[] = [];
    for (const slot of this.#slots.values()) {
      clearTimeout(slot.idleTimer);
      if (slot.container) removals.push(this.#remove(slot.name, 'server stopping'));
      slot.container = undefined;
    }
    this.#slots.clear();
    await Promise.allSettled([...removals, ...this.#removals.values()]);
  }

  #release(slot: Slot): void {
    slot.active--;
    if (slot.active > 0 || this.#closed) return;
    if (!slot.container) {
      if (this.#slots.get(slot.name) === slot) this.#slots.delete(slot.name);
      return;
    }
    slot.idleTimer = setTimeout(() => {
      if (slot.active > 0 || this.#slots.get(slot.name) !== slot) return;
      this.#slots.delete(slot.name);
      slot.container = undefined;
      void this.#remove(slot.name, 'idle');
    }, this.#options.idleMs);
    slot.idleTimer.unref();
  }

  async #start(slot: Slot): Promise<string> {
    const { api, logger } = this.#options;
    const startedAt = performance.now();
    await this.#removals.get(slot.name);
    if (slot.key.workspaceDir && this.#options.workspaceOwner) await ensureOwner(slot.key.workspaceDir, this.#options.workspaceOwner);
    const create = () => api.request<{ Id: string }>('POST', `/containers/create?name=${encodeURIComponent(slot.name)}`, slot.config);
    let created: { Id: string };
    try {
      created = await create();
    } catch (error) {
      if (!isNameConflict(error)) throw containerError('create', slot, error);
      // A container of this name exists: left by a server that crashed, or run by another server on
      // this Docker host. Its name says it was made exactly as this one would be, so a running one is
      // adopted; a stopped one is replaced.
      const existing = await api
        .request<{ Id: string; State?: { Running?: boolean } }>('GET', `/containers/${encodeURIComponent(slot.name)}/json`)
        .catch(() => undefined);
      if (existing?.State?.Running) {
        logger?.info({ deploymentId: slot.key.deploymentId, container: slot.name }, 'sandbox container adopted');
        return this.#stillWanted(slot, existing.Id);
      }
      await this.#remove(slot.name, 'left over');
      created = await create().catch((retryError: unknown) => {
        throw containerError('create', slot, retryError);
      });
    }
    try {
      await api.request('POST', `/containers/${created.Id}/start`);
    } catch (error) {
      await this.#remove(slot.name, 'failed to start');
      throw containerError('start', slot, error);
    }
    logger?.info(
      { deploymentId: slot.key.deploymentId, container: slot.name, image: slot.key.image, startMs: Math.round(performance.now() - startedAt) },
      'sandbox container started',
    );
    return this.#stillWanted(slot, created.Id);
  }

  /** A container that finished starting after its deployment was discarded (or the pool closed) goes at once. */
  async #stillWanted(slot: Slot, id: string): Promise<string> {
    if (!this.#closed && this.#slots.get(slot.name) === slot) return id;
    await this.#remove(slot.name, 'discarded while starting');
    throw new Error('the sandbox was discarded while its container started');
  }

  #remove(name: string, reason: string): Promise<void> {
    const previous = this.#removals.get(name) ?? Promise.resolve();
    const removal = previous
      .then(async () => {
        try {
          await this.#options.api.request('DELETE', `/containers/${encodeURIComponent(name)}?force=true&v=true`, undefined, {
            timeoutMs: REMOVE_TIMEOUT_MS,
          });
          this.#options.logger?.info({ container: name, reason }, 'sandbox container removed');
        } catch (error) {
          if (error instanceof DockerApiError && error.status === 404) return;
          this.#options.logger?.warn({ err: error, container: name, reason }, 'could not remove a sandbox container');
        }
      })
      .finally(() => {
        if (this.#removals.get(name) === removal) this.#removals.delete(name);
      });
    this.#removals.set(name, removal);
    return removal;
  }
}

/** Docker answers 409 when a name is taken; Podman 4 answers 500 with "already in use". */
function isNameConflict(error: unknown): boolean {
  return error instanceof DockerApiError && (error.status === 409 || (error.status === 500 && /already in use/i.test(error.message)));
}

function containerError(step: 'create' | 'start', slot: Slot, error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  return new Error(`could not ${step} the sandbox container (image ${slot.key.image}): ${message}`, { cause: error });
}

/**
 * The container's user must be able to write the workspace. Its top directory's owner says whether
 * that was arranged: when it is not the container user, the whole tree is handed over once (files
 * made before, e.g. under another sandbox backend, included). Symlinks are changed, never followed.
 */
async function ensureOwner(workspaceDir: string, owner: { uid: number; gid: number }): Promise<void> {
  const stats = await lstat(workspaceDir);
  if (stats.uid === owner.uid && stats.gid === owner.gid) return;
  const walk = async (path: string): Promise<void> => {
    const entry = await lstat(path);
    if (entry.isDirectory()) {
      for (const name of await readdir(path)) await walk(join(path, name));
    }
    await lchown(path, owner.uid, owner.gid);
  };
  await walk(workspaceDir);
}
