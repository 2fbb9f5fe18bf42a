// Disk quotas of workspaces. A workspace with a quota is an ext4 file system of exactly that size, in a
// sparse image file next to the workspace directory (`<workspace>.img`) and loop-mounted on it, so a
// command that fills it gets "No space left on device" and the host's disk is untouched. Every backend
// sees it the same way: bubblewrap and docker bind the directory, which is then the mounted file
// system. Workspaces without a quota stay plain directories and cost nothing here.
//
// Mounting needs root (or CAP_SYS_ADMIN), mkfs.ext4 (e2fsprogs) and loop devices; without them quotas
// are unavailable, which a deployment asking for one is told up front.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

export interface WorkspaceQuotas {
  /**
   * Makes `workspaceDir` hold at most `bytes` (mounting, creating, converting or resizing its image as
   * needed), or a plain directory when `bytes` is undefined. Returns true when the workspace changed
   * from one to the other or was resized: holders of the old directory (containers) must let go of it.
   */
  prepare(workspaceDir: string, bytes: number | undefined): Promise<boolean>;
  /** Mounts the workspace's image, if it has one, at the size it has: for reading it from the host (snapshots). */
  attach(workspaceDir: string): Promise<void>;
  /** Unmounts (if mounted) and deletes the workspace with its image. */
  remove(workspaceDir: string): Promise<void>;
  /** Why quotas cannot be enforced here; undefined when they can. */
  unavailableReason(): Promise<string | undefined>;
  /** Unmounts every workspace this object mounted (their images stay). */
  close(): Promise<void>;
}

export interface WorkspaceQuotasOptions {
  logger?: { warn(fields: object, message: string): void; debug?(fields: object, message: string): void };
}

interface WorkspaceState {
  /** Size of the mounted file system, or undefined for a plain directory. */
  bytes: number | undefined;
  /** Serialises changes to this workspace. */
  pending: Promise<unknown>;
}

const MKFS = 'mkfs.ext4';
const MOUNT_OPTIONS = 'loop,nosuid,nodev,noatime';

export class QuotaError extends Error {}

export function createWorkspaceQuotas(options: WorkspaceQuotasOptions = {}): WorkspaceQuotas {
  const states = new Map<string, WorkspaceState>();
  let availability: Promise<string | undefined> | undefined;
  const unavailableReason = (): Promise<string | undefined> => (availability ??= probe());
  let warned = false;

  const stateOf = async (workspaceDir: string): Promise<WorkspaceState> => {
    let state = states.get(workspaceDir);
    if (!state) {
      // A server killed without unmounting leaves the image mounted: found again here.
      const mounted = await isMountPoint(workspaceDir);
      const bytes = mounted ? (await fs.stat(imagePath(workspaceDir))).size : undefined;
      state = states.get(workspaceDir) ?? { bytes, pending: Promise.resolve() };
      states.set(workspaceDir, state);
    }
    return state;
  };

  const serialise = async <T>(state: WorkspaceState, work: () => Promise<T>): Promise<T> => {
    const result = state.pending.then(work);
    state.pending = result.catch(() => {});
    return result;
  };

  return {
    async prepare(workspaceDir, requested) {
      // 0 is no quota, as in HERM_SANDBOX_DISK_MB.
      const bytes = requested || undefined;
      const known = states.get(workspaceDir);
      // The common case, a workspace without a quota seen before: nothing to do, nothing awaited.
      if (bytes === undefined && known && known.bytes === undefined) return false;
      if (bytes === undefined && !known && !existsSync(imagePath(workspaceDir))) {
        states.set(workspaceDir, { bytes: undefined, pending: Promise.resolve() });
        return false;
      }
      if (bytes !== undefined) {
        const reason = await unavailableReason();
        if (reason) {
          if (!warned) {
            warned = true;
            options.logger?.warn({ reason }, 'workspace disk quotas cannot be enforced on this machine');
          }
          return false;
        }
      }
      const state = await stateOf(workspaceDir);
      return serialise(state, async () => {
        if (state.bytes === bytes) return false;
        if (bytes === undefined) {
          await unmountToDirectory(workspaceDir);
        } else if (state.bytes === undefined) {
          await mountNewImage(workspaceDir, bytes);
        } else {
          await resizeImage(workspaceDir, state.bytes, bytes);
        }
        state.bytes = bytes;
        return true;
      });
    },

    async attach(workspaceDir) {
      if (!existsSync(imagePath(workspaceDir))) return;
      const state = await stateOf(workspaceDir);
      await serialise(state, async () => {
        if (state.bytes !== undefined) return;
        await run('mount', ['-o', MOUNT_OPTIONS, imagePath(workspaceDir), workspaceDir]);
        state.bytes = (await fs.stat(imagePath(workspaceDir))).size;
      });
    },


    async remove(workspaceDir) {
      const state = await stateOf(workspaceDir);
      await serialise(state, async () => {
        if (await isMountPoint(workspaceDir)) await run('umount', [workspaceDir]);
        await fs.rm(workspaceDir, { recursive: true, force: true });
        await fs.rm(imagePath(workspaceDir), { force: true });
        state.bytes = undefined;
      });
      states.delete(workspaceDir);
    },

    unavailableReason,

    async close() {
      const mounted = [...states].filter(([, state]) => state.bytes !== undefined);
      states.clear();
      await Promise.allSettled(
        mounted.map(async ([workspaceDir, state]) => {
          await state.pending;
          if (await isMountPoint(workspaceDir)) await run('umount', [workspaceDir]);
        }),
      );
    },
  };
}

/** The image file of a workspace: beside it, so the workspace's own files never include it. */
export function imagePath(workspaceDir: string): string {
  return `${workspaceDir}.img`;
}

async function probe(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'workspace disk quotas loop-mount a file system image per workspace, which needs the server to run as root';
  if (!existsSync('/dev/loop-control')) return 'this machine has no loop devices (/dev/loop-control is missing)';
  try {
    await run(MKFS, ['-V']);
  } catch {
    return `${MKFS} was not found; install e2fsprogs (apt-get install e2fsprogs)`;
  }
  return undefined;
}

/** Creates the image, moves the directory's files into it and mounts it on the directory. */
async function mountNewImage(workspaceDir: string, bytes: number): Promise<void> {
  const image = imagePath(workspaceDir);
  await fs.mkdir(workspaceDir, { recursive: true });
  const owner = await fs.stat(workspaceDir);
  if (!existsSync(image)) {
    const handle = await fs.open(image, 'wx', 0o600);
    try {
      await handle.truncate(bytes);
    } finally {
      await handle.close();
    }
    // No journal and no blocks reserved for root: all of the quota is the agent's, and the image stays sparse.
    await run(MKFS, ['-q', '-F', '-O', '^has_journal', '-m', '0', '-E', `root_owner=${owner.uid}:${owner.gid}`, image]);
  }
  const entries = await fs.readdir(workspaceDir);
  if (entries.length === 0) {
    await run('mount', ['-o', MOUNT_OPTIONS, image, workspaceDir]);
  } else {
    // Files already there (a quota added later, a restored snapshot): copied into the new file system.
    const previous = `${workspaceDir}.migrating`;
    await fs.rm(previous, { recursive: true, force: true });
    await fs.rename(workspaceDir, previous);
    await fs.mkdir(workspaceDir, { mode: owner.mode & 0o7777 });
    await fs.chown(workspaceDir, owner.uid, owner.gid);
    await run('mount', ['-o', MOUNT_OPTIONS, image, workspaceDir]);
    try {
      await run('cp', ['-a', '--', `${previous}/.`, `${workspaceDir}/`]);
    } catch (error) {
      await run('umount', [workspaceDir]).catch(() => {});
      await fs.rm(workspaceDir, { recursive: true, force: true });
      await fs.rename(previous, workspaceDir);
      await fs.rm(image, { force: true });
      throw new QuotaError(`the workspace's files do not fit in a disk quota of ${Math.round(bytes / 1_048_576)} MB: ${(error as Error).message}`);
    }
    await fs.rm(previous, { recursive: true, force: true });
  }
  await fs.rmdir(path.join(workspaceDir, 'lost+found')).catch(() => {});
  await fs.chown(workspaceDir, owner.uid, owner.gid);
  await fs.chmod(workspaceDir, owner.mode & 0o7777);
}

async function resizeImage(workspaceDir: string, from: number, to: number): Promise<void> {
  const image = imagePath(workspaceDir);
  await run('umount', [workspaceDir]);
  try {
    await run('e2fsck', ['-f', '-y', '-q', image]).catch(() => {});
    if (to > from) await fs.truncate(image, to);
    // Sizes in KiB: resize2fs refuses a size smaller than the files need, and nothing is lost then.
    await run('resize2fs', [image, `${Math.floor(to / 1024)}K`]);
    if (to < from) await fs.truncate(image, to);
  } catch (error) {
    if (to > from) await fs.truncate(image, from).catch(() => {});
    throw new QuotaError(`the workspace could not be resized to ${Math.round(to / 1_048_576)} MB (it may hold more than that): ${(error as Error).message}`);
  } finally {
    await run('mount', ['-o', MOUNT_OPTIONS, image, workspaceDir]);
  }
}

/** Copies the files out of the image into a plain directory and deletes the image. */
async function unmountToDirectory(workspaceDir: string): Promise<void> {
  const image = imagePath(workspaceDir);
  const owner = await fs.stat(workspaceDir);
  const staging = `${workspaceDir}.migrating`;
  await fs.rm(staging, { recursive: true, force: true });
  await fs.mkdir(staging, { mode: owner.mode & 0o7777 });
  await run('cp', ['-a', '--', `${workspaceDir}/.`, `${staging}/`]);
  await fs.chown(staging, owner.uid, owner.gid);
  await run('umount', [workspaceDir]);
  await fs.rmdir(workspaceDir);
  await fs.rename(staging, workspaceDir);
  await fs.rm(image, { force: true });
}

async function isMountPoint(directory: string): Promise<boolean> {
  const mountinfo = await fs.readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const escaped = directory.replace(/[ \t\n\\]/g, (character) => `\\${character.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return mountinfo.split('\n').some((line) => line.split(' ')[4] === escaped);
}

function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args.join(' ')}: ${(stderr || error.message).trim()}`));
      else resolve(stdout);
    });
  });
}
