// Compressed snapshots of deleted deployments' workspaces: captured on delete with retain_filesystem,
// kept HERM_SNAPSHOT_RETENTION_DAYS, downloadable, and restorable into a new deployment.
//
// The archive is written by the system's GNU tar and compressed with node:zlib. tar stores
// symlinks as symlinks and never follows them, so a link the agent planted to /etc or to another
// deployment's workspace is kept as a link, not as what it points at. Extraction is of archives this
// server wrote itself, into an empty directory.
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
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

  /** Archives `workspaceDir` (missing means empty) and records the snapshot. */
  async capture(
    deployment: { id: string; account_id: string; customer_id: string },
    workspaceDir: string,
  ): Promise<SnapshotRecord> {
    const id = newId('snapshot');
    const file = this.file(id);
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    await fs.mkdir(workspaceDir, { recursive: true });
    const partial = `${file}.partial`;
    try {
      await runTar(['--create', '--file', '-', '--directory', workspaceDir, '--numeric-owner', '--ignore-failed-read', '.'], {
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
      created_at: createdAt,
      expires_at: createdAt + this.#options.retentionMs,
    });
  }

  /** The account's live snapshot, or undefined when it does not exist, is another account's, or has expired. */
  get(accountId: string, snapshotId: string): Promise<SnapshotRecord | undefined> {
    return this.#options.store.snapshots.get(accountId, snapshotId, this.#clock.now());
  }

  /** Unpacks a snapshot into `workspaceDir`, which is created and must be empty. */
  async restore(snapshot: SnapshotRecord, workspaceDir: string): Promise<void> {
    await fs.mkdir(workspaceDir, { recursive: true, mode: 0o755 });
    await runTar(['--extract', '--file', '-', '--directory', workspaceDir, '--no-same-owner'], {
      stdin: (input) => pipeline(createReadStream(this.file(snapshot.id)), createGunzip(), input),
    });
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

/** Runs tar with its stdout or stdin piped through `stdout`/`stdin`; rejects with tar's stderr on failure. */
async function runTar(
  args: string[],
  streams: {
    stdout?: (output: NodeJS.ReadableStream) => Promise<void>;
    stdin?: (input: NodeJS.WritableStream) => Promise<void>;
  },
): Promise<void> {
  const child = spawn('tar', args, {
    env: TAR_ENVIRONMENT,
    stdio: [streams.stdin ? 'pipe' : 'ignore', streams.stdout ? 'pipe' : 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < 4096) stderr += chunk.toString('utf8');
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', (error) => reject(new Error(`could not run tar: ${error.message}`, { cause: error })));
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
  if (inputError !== undefined && code !== 0) {
    throw new Error(`tar ${args[0]} failed (exit code ${code}): ${stderr.trim() || (inputError as Error).message}`);
  }
  // GNU tar exits 1 when a file changed while it was read: the archive is still whole.
  if (code !== 0 && !(code === 1 && streams.stdout)) {
    throw new Error(`tar ${args[0]} failed (exit code ${code}): ${stderr.trim()}`);
  }
}
