// Workspaces of deployments with `sandbox.persistent_filesystem: false`: one per thread (a session), created
// empty when the thread first needs it and removed when the session ends — the thread or deployment is
// deleted, the deployment becomes persistent, or nothing has used it for HERM_EPHEMERAL_WORKSPACE_IDLE_MS.
//
// Layout: <dataDir>/session-workspaces/<deployment>/<thread>/workspace is what the sandbox mounts at
// /workspace. Its parent, the session directory, is out of the sandbox's reach; its mtime is the session's
// last use (touched when a run or a Files API call starts and ends), so idleness survives restarts. What
// is on disk is the truth: the sweeper walks the directories and asks the store about each.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { SandboxBackends } from '../sandbox/sandbox-backends.ts';
import type { Store } from '../store/store.ts';

export interface SessionWorkspacesOptions {
  store: Store;
  dataDir: string;
  /** HERM_EPHEMERAL_WORKSPACE_IDLE_MS: a session workspace unused this long is removed. */
  idleMs: number;
  /** Deletes a workspace directory after every backend let go of it (containers, quota mounts). */
  sandboxBackends: Pick<SandboxBackends, 'removeWorkspace'>;
  logger: Pick<Logger, 'info' | 'warn'>;
}

/** Names the store gives: anything else found on disk is not ours to interpret (nor to delete). */
const ID = /^[A-Za-z0-9_-]{1,100}$/;

export class SessionWorkspaces {
  readonly #options: SessionWorkspacesOptions;
  /** Runs and Files API calls of this node using a session directory now, by directory. */
  readonly #inUse = new Map<string, number>();
  /** Removals in flight, by session directory: a new use waits for them and starts empty. */
  readonly #removals = new Map<string, Promise<void>>();
  #sweepTimer: NodeJS.Timeout | undefined;
  #sweeping: Promise<number> | undefined;

  constructor(options: SessionWorkspacesOptions) {
    this.#options = options;
  }

  get root(): string {
    return path.join(this.#options.dataDir, 'session-workspaces');
  }

  /** The directory that holds one thread's session (its workspace, and its disk-quota image if any). */
  sessionDir(deploymentId: string, threadId: string): string {
    return path.join(this.root, deploymentId, threadId);
  }

  /** What the sandbox of one thread's session mounts at /workspace. */
  workspaceDir(deploymentId: string, threadId: string): string {
    return path.join(this.sessionDir(deploymentId, threadId), 'workspace');
  }

  /**
   * Marks the thread's workspace in use (the sweeper leaves it alone) and creates it, empty, when it does
   * not exist. Call the returned function when done: the session's idle time starts from then.
   */
  async acquire(deploymentId: string, threadId: string): Promise<() => void> {
    const sessionDir = this.sessionDir(deploymentId, threadId);
    this.#inUse.set(sessionDir, (this.#inUse.get(sessionDir) ?? 0) + 1);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      const count = (this.#inUse.get(sessionDir) ?? 1) - 1;
      if (count > 0) this.#inUse.set(sessionDir, count);
      else this.#inUse.delete(sessionDir);
      // Not recreated here: a workspace removed meanwhile (its thread deleted) stays removed.
      touch(sessionDir).catch(() => {});
    };
    try {
      // A removal in flight finishes first (whatever its outcome): this use then starts with an empty workspace.
      await this.#removals.get(sessionDir)?.catch(() => {});
      await fs.mkdir(this.workspaceDir(deploymentId, threadId), { recursive: true, mode: 0o755 });
      await touch(sessionDir);
    } catch (error) {
      release();
      throw error;
    }
    return release;
  }

  /** Removes one thread's session workspace (its thread was deleted), in use or not. */
  remove(deploymentId: string, threadId: string, reason = 'thread deleted'): Promise<void> {
    return this.#remove(deploymentId, threadId, reason);
  }

  /** Removes every session workspace of a deployment (it was deleted). */
  async removeDeployment(deploymentId: string): Promise<void> {
    const deploymentDir = path.join(this.root, deploymentId);
    for (const threadId of await listIds(deploymentDir)) await this.#remove(deploymentId, threadId, 'deployment deleted');
    await fs.rm(deploymentDir, { recursive: true, force: true });
  }

  #remove(deploymentId: string, threadId: string, reason: string): Promise<void> {
    const sessionDir = this.sessionDir(deploymentId, threadId);
    const pending = this.#removals.get(sessionDir);
    if (pending) return pending;
    const removal = (async () => {
      await this.#options.sandboxBackends.removeWorkspace(this.workspaceDir(deploymentId, threadId));
      await fs.rm(sessionDir, { recursive: true, force: true });
      this.#options.logger.info({ deploymentId, threadId, reason }, 'session workspace removed');
    })().finally(() => {
      if (this.#removals.get(sessionDir) === removal) this.#removals.delete(sessionDir);
    });
    this.#removals.set(sessionDir, removal);
    return removal;
  }

  /**
   * Removes the session workspaces whose session is over: idle for HERM_EPHEMERAL_WORKSPACE_IDLE_MS with no
   * run active in its thread, or left behind by a deleted thread or deployment, or by a deployment that is
   * persistent now. `deploymentId` narrows it to one deployment. Returns how many were removed.
   */
  sweep(deploymentId?: string): Promise<number> {
    if (deploymentId !== undefined) return this.#sweep(deploymentId);
    this.#sweeping ??= this.#sweep().finally(() => {
      this.#sweeping = undefined;
    });
    return this.#sweeping;
  }

  async #sweep(only?: string): Promise<number> {
    const { store, idleMs } = this.#options;
    let removed = 0;
    for (const deploymentId of only === undefined ? await listIds(this.root) : [only]) {
      const deploymentDir = path.join(this.root, deploymentId);
      const threadIds = await listIds(deploymentDir);
      if (threadIds.length === 0) continue;
      const deployment = await store.deployments.getById(deploymentId);
      for (const threadId of threadIds) {
        const sessionDir = this.sessionDir(deploymentId, threadId);
        if (this.#inUse.has(sessionDir)) continue;
        const stats = await fs.stat(sessionDir).catch(() => undefined);
        if (!stats?.isDirectory()) continue;
        const idle = Date.now() - stats.mtimeMs >= idleMs;
        let reason: string;
        if (!deployment) reason = 'deployment deleted';
        else {
          if (deployment.sandbox.persistent_filesystem) reason = 'deployment has a persistent workspace now';
          else if (idle) reason = 'idle';
          else continue;
          const thread = await store.threads.get(deploymentId, threadId);
          // A run still at work (here, or on another node sharing this directory) keeps its workspace.
          if (thread?.active_run_id) continue;
          if (!thread) reason = 'thread deleted';
        }
        // Checked again after the awaits: a run may have started in the thread meanwhile.
        if (this.#inUse.has(sessionDir)) continue;
        try {
          await this.#remove(deploymentId, threadId, reason);
          removed += 1;
        } catch (error) {
          this.#options.logger.warn({ err: error, deploymentId, threadId }, 'could not remove a session workspace');
        }
      }
      if (!deployment) await fs.rmdir(deploymentDir).catch(() => {});
    }
    return removed;
  }

  /** Sweeps now and then periodically (a quarter of the idle time, at most every minute) until stop(). */
  start(): void {
    const sweep = (): void => {
      this.sweep().catch((error: unknown) => this.#options.logger.warn({ err: error }, 'session workspace sweep failed'));
    };
    sweep();
    this.#sweepTimer = setInterval(sweep, Math.min(60_000, Math.max(50, Math.floor(this.#options.idleMs / 4))));
    this.#sweepTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
    await this.#sweeping?.catch(() => {});
    await Promise.allSettled([...this.#removals.values()]);
  }
}

async function touch(directory: string): Promise<void> {
  const now = new Date();
  await fs.utimes(directory, now, now);
}

/** The entries of `directory` named like store ids; none when it does not exist. */
async function listIds(directory: string): Promise<string[]> {
  try {
    return (await fs.readdir(directory)).filter((name) => ID.test(name));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw error;
  }
}
