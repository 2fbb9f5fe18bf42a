// Compressed snapshots of deleted deployments' workspaces: captured on delete with retain_filesystem,
// kept HERM_SNAPSHOT_RETENTION_DAYS, downloadable, and restorable into a new deployment.
//
// The archive is written by the system's GNU tar and compressed with node:zlib. tar stores
// symlinks as symlinks and never follows them, so a link the agent planted to /etc or to another
// deployment's workspace is kept as a link, not as what it points at. Extraction is of archives this
// server wrote itself, into an empty directory.
//
// Sizes are what the files take on disk, not what they claim: a snapshot is refused when its workspace's
// allocated blocks exceed a bound (the deployment's disk quota), holes of sparse files are archived and
// restored as holes (`--sparse`), and the allocated size is recorded (`content_bytes`) so that a restore
// into a smaller quota is refused up front. Setuid and setgid bits never survive: they are left out of the
// archive and cleared again after extraction (for archives of older versions).
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import type { Logger } from 'pino';
import type { SnapshotRecord } from '../store/snapshots.ts';
import type { Store } from '../store/store.ts';
import { newId } from '../util/ids.ts';
import { systemClock, type Clock } from '../util/time.ts';

export interface SnapshotServiceOptions {
  store: Store;
  dataDir: string;
  /** How long a snapshot is kept, in milliseconds. */
  retentionMs: number;
  logger: Pick<Logger, 'warn' | 'info'>;
  clock?: Clock;
}

/** A workspace that takes more disk than a snapshot may hold: it is not archived. */
export class SnapshotTooLargeError extends Error {
  /** What the workspace was found to take (at least), in bytes. */
  readonly contentBytes: number;
  readonly limitBytes: number;

  constructor(contentBytes: number, limitBytes: number) {
    super(`the workspace takes at least ${formatBytes(contentBytes)} on disk, more than the ${formatBytes(limitBytes)} a snapshot of it may hold`);
    this.contentBytes = contentBytes;
    this.limitBytes = limitBytes;
  }
}

export interface CaptureOptions {
  /** The most the workspace may take on disk (its disk quota); when undefined, the size of the data directory's file system. */
  limitBytes?: number | undefined;
}

export interface RestoreOptions {
  /** Stops the extraction (tar is killed); the half-restored workspace is the caller's to clear. */
  signal?: AbortSignal | undefined;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const SWEEP_INTERVAL_MS = 60 * 60 * 1000;
const TAR_ENVIRONMENT = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };

export function retentionMsFromDays(days: number): number {
  return Math.round(days * DAY_MS);
}

export class SnapshotService {
  readonly #options: SnapshotServiceOptions;
  readonly #clock: Clock;
  #sweepTimer: NodeJS.Timeout | undefined;
  #sweeping: Promise<number> | undefined;
  #defaultLimit: Promise<number> | undefined;

  constructor(options: SnapshotServiceOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** The archive file of a snapshot. */
  file(snapshotId: string): string {
    return path.join(this.#options.dataDir, 'snapshots', `${snapshotId}.tar.gz`);
  }

  now(): number {
    return this.#clock.now();
  }

  /** The bound of a capture told none: the size of the data directory's file system. */
  #defaultLimitBytes(): Promise<number> {
    this.#defaultLimit ??= fs.statfs(this.#options.dataDir).then(
      (stats) => Number(stats.blocks) * Number(stats.bsize),
      () => Number.MAX_SAFE_INTEGER,
    );
    return this.#defaultLimit;
  }

  /**
   * Archives `workspaceDir` (missing means empty) and records the snapshot. Throws SnapshotTooLargeError,
   * archiving nothing, when the workspace takes more than `limitBytes` on disk.
   */
  async capture(
    deployment: { id: string; account_id: string; customer_id: string },
    workspaceDir: string,
    options: CaptureOptions = {},
  ): Promise<SnapshotRecord> {
    const id = newId('snapshot');
    const file = this.file(id);
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    await fs.mkdir(workspaceDir, { recursive: true });
    const limitBytes = options.limitBytes !== undefined && options.limitBytes > 0 ? options.limitBytes : await this.#defaultLimitBytes();
    const contentBytes = await allocatedBytes(workspaceDir, limitBytes);
    if (contentBytes > limitBytes) throw new SnapshotTooLargeError(contentBytes, limitBytes);
    const partial = `${file}.partial`;
    try {
      // --sparse: holes are found with SEEK_DATA/SEEK_HOLE and stored as holes, so a 4 GiB file of nothing
      // costs nothing. --mode=ug-s: no setuid or setgid bit in the archive. Uploads in flight are not files yet.
      const args = ['--create', '--file', '-', '--directory', workspaceDir, '--numeric-owner', '--ignore-failed-read', '--sparse', '--mode=ug-s', '--exclude=./.herm/uploads', '.'];
      await runTar(args, {
        stdout: (output) => pipeline(output, createGzip(), createWriteStream(partial, { mode: 0o600 })),
      });
      await fs.rename(partial, file);
    } catch (error) {
      await fs.rm(partial, { force: true });
      throw error;
    }
    const { size } = await fs.stat(file);
    const createdAt = this.#clock.now();
    return this.#options.store.snapshots.create({
      id,
      account_id: deployment.account_id,
      deployment_id: deployment.id,
      customer_id: deployment.customer_id,
      size_bytes: size,
      content_bytes: contentBytes,
      created_at: createdAt,
      expires_at: createdAt + this.#options.retentionMs,
    });
  }

  /** The account's live snapshot, or undefined when it does not exist, is another account's, or has expired. */
  get(accountId: string, snapshotId: string): Promise<SnapshotRecord | undefined> {
    return this.#options.store.snapshots.get(accountId, snapshotId, this.#clock.now());
  }

  /**
   * Unpacks a snapshot into `workspaceDir`, which is created and must be empty. Sparse files come back
   * sparse; no file keeps a setuid or setgid bit.
   */
  async restore(snapshot: Pick<SnapshotRecord, 'id'>, workspaceDir: string, options: RestoreOptions = {}): Promise<void> {
    options.signal?.throwIfAborted();
    await fs.mkdir(workspaceDir, { recursive: true, mode: 0o755 });
    // Opened first: a missing archive (swept meanwhile) is an error of its own, not tar's.
    const archive = await fs.open(this.file(snapshot.id), 'r');
    await runTar(['--extract', '--file', '-', '--directory', workspaceDir, '--no-same-owner'], {
      stdin: (input) => pipeline(archive.createReadStream(), createGunzip(), input),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    // Archives of older versions kept the bits: cleared here, whatever wrote the archive.
    await clearSetIdBits(workspaceDir);
  }

  /** Deletes expired snapshots (rows and files); returns how many. */
  sweepExpired(): Promise<number> {
    this.#sweeping ??= (async () => {
      let removed = 0;
      try {
        for (;;) {
          const expired = await this.#options.store.snapshots.listExpired(this.#clock.now());
          if (expired.length === 0) return removed;
          for (const snapshot of expired) {
            await fs.rm(this.file(snapshot.id), { force: true });
            await this.#options.store.snapshots.delete(snapshot.id);
            removed += 1;
          }
        }
      } finally {
        if (removed > 0) this.#options.logger.info({ removed }, 'expired workspace snapshots deleted');
      }
    })().finally(() => {
      this.#sweeping = undefined;
    });
    return this.#sweeping;
  }

  /** Sweeps now and then every hour until stop(). */
  start(intervalMs = SWEEP_INTERVAL_MS): void {
    const sweep = (): void => {
      this.sweepExpired().catch((error: unknown) => this.#options.logger.warn({ err: error }, 'snapshot sweep failed'));
    };
    sweep();
    this.#sweepTimer = setInterval(sweep, intervalMs);
    this.#sweepTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
    await this.#sweeping?.catch(() => {});
  }
}

function formatBytes(bytes: number): string {
  return bytes >= 1_048_576 ? `${Math.ceil(bytes / 1_048_576)} MB` : `${bytes} bytes`;
}

/**
 * What a directory tree takes on disk: the allocated blocks of everything in it (lstat, so symlinks are
 * never followed and sparse files count what they use, not their apparent size), hard links once.
 * Stops counting once past `stopAbove`: the result is then only known to exceed it.
 */
export async function allocatedBytes(directory: string, stopAbove = Number.POSITIVE_INFINITY): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const pending = [directory];
  while (pending.length > 0) {
    const current = pending.pop()!;
    const stats = await fs.lstat(current, { bigint: true }).catch(() => undefined);
    if (!stats) continue;
    if (stats.nlink > 1n && !stats.isDirectory()) {
      const key = `${stats.dev}:${stats.ino}`;
      if (seen.has(key)) continue;
      seen.add(key);
    }
    total += Number(stats.blocks) * 512;
    if (total > stopAbove) return total;
    if (!stats.isDirectory()) continue;
    const entries = await fs.readdir(current).catch(() => [] as string[]);
    for (const entry of entries) pending.push(path.join(current, entry));
  }
  return total;
}

/**
 * Clears setuid and setgid bits throughout a directory tree, never following a symlink (lstat, and
 * symlinks are skipped: chmod would change what they point at). Called while nothing else writes there.
 */
export async function clearSetIdBits(directory: string): Promise<void> {
  const pending = [directory];
  while (pending.length > 0) {
    const current = pending.pop()!;
    const stats = await fs.lstat(current);
    if (stats.isSymbolicLink()) continue;
    if (stats.mode & 0o6000) await fs.chmod(current, stats.mode & 0o1777);
    if (!stats.isDirectory()) continue;
    // Unreadable only to a server that is not root, whose files' set-id bits give nobody more than it has.
    const entries = await fs.readdir(current).catch(() => [] as string[]);
    for (const entry of entries) pending.push(path.join(current, entry));
  }
}

/** Runs tar with its stdout or stdin piped through `stdout`/`stdin`; rejects with tar's stderr on failure. */
async function runTar(
  args: string[],
  streams: {
    stdout?: (output: NodeJS.ReadableStream) => Promise<void>;
    stdin?: (input: NodeJS.WritableStream) => Promise<void>;
    signal?: AbortSignal;
  },
): Promise<void> {
  const child = spawn('tar', args, {
    env: TAR_ENVIRONMENT,
    stdio: [streams.stdin ? 'pipe' : 'ignore', streams.stdout ? 'pipe' : 'ignore', 'pipe'],
    ...(streams.signal ? { signal: streams.signal, killSignal: 'SIGKILL' as const } : {}),
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < 4096) stderr += chunk.toString('utf8');
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', (error) =>
      reject(streams.signal?.aborted ? streams.signal.reason : new Error(`could not run tar: ${error.message}`, { cause: error })),
    );
    child.once('close', (code) => resolve(code));
  });
  // tar stops reading at the archive's end marker and may close its input before the zero padding after
  // it has been written: a failed write into tar counts only when tar itself failed too.
  const piping = streams.stdout
    ? streams.stdout(child.stdout!)
    : streams.stdin!(child.stdin!).then(
        () => undefined,
        (error: unknown) => error,
      );
  const [code, inputError] = await Promise.all([exited, piping]);
  streams.signal?.throwIfAborted();
  if (inputError !== undefined && code !== 0) {
    throw new Error(`tar ${args[0]} failed (exit code ${code}): ${stderr.trim() || (inputError as Error).message}`);
  }
  // GNU tar exits 1 when a file changed while it was read: the archive is still whole.
  if (code !== 0 && !(code === 1 && streams.stdout)) {
    throw new Error(`tar ${args[0]} failed (exit code ${code}): ${stderr.trim()}`);
  }
}
