// Where the Files API keeps an upload while it is written, and the sweep of what an interrupted one left.
//
// An upload is written to a temporary file in UPLOAD_DIRECTORY, then renamed onto its name (see WRITE_FILE in
// workspace-files.ts). The directory is inside the workspace, so on the workspace's own file system (a disk
// quota's loop mount included): the rename is atomic and the quota counts the bytes. The Files API never
// shows it (listings leave it out, paths into it are refused). A server killed during the write leaves the
// temporary file behind; sweepUploadTemporaries removes those at start, and each upload removes the ones
// older than UPLOAD_STALE_MINUTES in its workspace (covering workspaces the start-up sweep could not see,
// such as a quota image that was not mounted then).
import type { Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

/** Relative to the workspace root. */
export const UPLOAD_DIRECTORY = '.herm/uploads';
/** Every temporary file's name starts with it (mktemp adds six characters). */
export const UPLOAD_TEMPORARY_PREFIX = '.herm-upload.';
/** A temporary file untouched this long belongs to no upload in progress (an upload's bytes are all in memory before it is written). */
export const UPLOAD_STALE_MINUTES = 60;

const TEMPORARY_NAME = /^\.herm-upload\.[A-Za-z0-9]{6,}$/;

export interface SweepUploadTemporariesOptions {
  dataDir: string;
  /**
   * Only files last modified this long ago are removed; 0 removes every one. A single process (SQLite) sweeps
   * everything; nodes sharing a data directory (PostgreSQL) must spare the uploads other nodes are writing.
   */
  olderThanMs: number;
  logger: { warn(fields: object, message: string): void; info(fields: object, message: string): void };
}

/**
 * Removes the temporary files of interrupted uploads from every workspace on disk: the deployments'
 * (`<data>/workspaces/<deployment>`) and the threads' session workspaces
 * (`<data>/session-workspaces/<deployment>/<thread>/workspace`). Returns how many were removed.
 *
 * It runs on the host, in directories the agent can write to, so it never follows a symlink: `.herm` and
 * the upload directory must be directories themselves (lstat), and only regular files with a temporary
 * file's name are unlinked (unlink removes a symlink, never its target).
 */
export async function sweepUploadTemporaries(options: SweepUploadTemporariesOptions): Promise<number> {
  const workspaces: string[] = [];
  const workspacesRoot = path.join(options.dataDir, 'workspaces');
  for (const entry of await directories(workspacesRoot)) workspaces.push(path.join(workspacesRoot, entry));
  const sessionsRoot = path.join(options.dataDir, 'session-workspaces');
  for (const deployment of await directories(sessionsRoot)) {
    for (const thread of await directories(path.join(sessionsRoot, deployment))) {
      workspaces.push(path.join(sessionsRoot, deployment, thread, 'workspace'));
    }
  }
  const cutoff = Date.now() - options.olderThanMs;
  let removed = 0;
  for (const workspace of workspaces) {
    try {
      removed += await sweepWorkspace(workspace, options.olderThanMs > 0 ? cutoff : undefined);
    } catch (error) {
      options.logger.warn({ err: error, workspace }, 'could not remove the temporary files of interrupted uploads');
    }
  }
  if (removed > 0) options.logger.info({ removed }, 'removed the temporary files of interrupted uploads');
  return removed;
}

async function sweepWorkspace(workspace: string, cutoff: number | undefined): Promise<number> {
  // The workspace's `.herm`, then `.herm/uploads`.
  const parents: string[] = [];
  let directory = workspace;
  for (const part of UPLOAD_DIRECTORY.split('/')) {
    directory = path.join(directory, part);
    const stats = await fs.lstat(directory).catch(ignoreMissing);
    if (!stats?.isDirectory()) return 0;
    parents.unshift(directory);
  }
  let removed = 0;
  for (const entry of await fs.readdir(directory, { withFileTypes: true }).catch(ignoreMissing) ?? []) {
    if (!entry.isFile() || !TEMPORARY_NAME.test(entry.name)) continue;
    const file = path.join(directory, entry.name);
    if (cutoff !== undefined) {
      const stats = await fs.lstat(file).catch(ignoreMissing);
      if (!stats?.isFile() || stats.mtimeMs > cutoff) continue;
    }
    await fs.unlink(file).then(() => removed++, ignoreMissing);
  }
  // Emptied, the directories go as an upload's own tidying would have removed them (`.herm` only when empty).
  for (const parent of parents) {
    if (!(await fs.rmdir(parent).then(() => true, () => false))) break;
  }
  return removed;
}

/** The names of the subdirectories of `directory` (none when it is missing), symlinks left out. */
async function directories(directory: string): Promise<string[]> {
  const entries: Dirent[] = (await fs.readdir(directory, { withFileTypes: true }).catch(ignoreMissing)) ?? [];
  return entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name);
}

function ignoreMissing(error: NodeJS.ErrnoException): undefined {
  if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
  throw error;
}
