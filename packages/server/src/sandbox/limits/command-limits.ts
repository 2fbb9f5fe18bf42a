// Puts each sandboxed command into its deployment's control group (CPU, memory, process count) and
// tells afterwards whether it ran into one of those limits. Used by the process-based backends
// (bubblewrap, unsandboxed); the docker backend gives the same limits to its containers instead.
import { detectCgroups, type CgroupLease, type CgroupsDetection } from './cgroups.ts';
import type { BoundedOutput } from '../bounded-output.ts';
import type { ExecResult, LimitExceeded, SandboxLimits } from '../sandbox.ts';

export interface CommandLimits {
  /**
   * Joins the deployment's group for one command. Undefined when its limits set none of CPU, memory
   * and processes, or when this machine cannot enforce them (logged once: deployments that set limits
   * of their own are refused up front, see unavailableReason, so only server defaults go unenforced).
   */
  begin(deploymentId: string, limits: SandboxLimits): Promise<CommandLimitScope | undefined>;
  /** Why CPU, memory and process limits cannot be enforced here; undefined when they can. */
  unavailableReason(): Promise<string | undefined>;
  close(): Promise<void>;
}

export interface CommandLimitScope {
  /** The program and arguments that run `file args` inside the group. */
  wrap(file: string, args: readonly string[]): { file: string; args: string[] };
  /** After the command has ended: the limit it ran into, if any. Ends the scope. */
  finish(): Promise<LimitExceeded | undefined>;
  /** Ends the scope without looking (the command never started). */
  release(): void;
}

export interface CommandLimitsOptions {
  /** Default: detectCgroups() on first use. */
  detect?: () => Promise<CgroupsDetection>;
  logger?: { warn(fields: object, message: string): void };
}

// Writes its pid into every group file it is given, then becomes the sandbox process: everything the
// command starts is born inside the groups. Exit 125 (as env(1) does) when it cannot join.
const JOIN_SCRIPT = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n - 1)); done; exec "$@"';

export function needsCgroup(limits: SandboxLimits): boolean {
  return Boolean(limits.cpus || limits.memoryBytes || limits.maxProcesses);
}

export function createCommandLimits(options: CommandLimitsOptions = {}): CommandLimits {
  let detection: Promise<CgroupsDetection> | undefined;
  const detect = (): Promise<CgroupsDetection> => (detection ??= (options.detect ?? detectCgroups)());
  let warned = false;

  return {
    async begin(deploymentId, limits) {
      if (!needsCgroup(limits)) return undefined;
      const detected = await detect();
      if (!detected.ok) {
        if (!warned) {
          warned = true;
          options.logger?.warn({ reason: detected.reason }, 'sandbox CPU, memory and process limits cannot be enforced on this machine');
        }
        return undefined;
      }
      const lease = await detected.cgroups.acquire(deploymentId, {
        cpus: limits.cpus,
        memoryBytes: limits.memoryBytes,
        maxProcesses: limits.maxProcesses,
      });
      return createScope(lease, limits);
    },
    async unavailableReason() {
      const detected = await detect();
      return detected.ok ? undefined : detected.reason;
    },
    async close() {
      const detected = await detection;
      if (detected?.ok) await detected.cgroups.close();
    },
  };
}

async function createScope(lease: CgroupLease, limits: SandboxLimits): Promise<CommandLimitScope> {
  let before: Awaited<ReturnType<CgroupLease['counters']>>;
  try {
    before = await lease.counters();
  } catch (error) {
    lease.release();
    throw error;
  }
  return {
    wrap: (file, args) => ({
      file: '/bin/sh',
      args: ['-c', JOIN_SCRIPT, 'herm-join', String(lease.procsFiles.length), ...lease.procsFiles, file, ...args],
    }),
    async finish() {
      try {
        const after = await lease.counters();
        if (after.oomKills > before.oomKills) return limitExceeded('memory', limits);
        if (after.forksRefused > before.forksRefused) return limitExceeded('processes', limits);
        return undefined;
      } finally {
        lease.release();
      }
    },
    release: () => lease.release(),
  };
}

const NO_SPACE = /No space left on device|Disk quota exceeded|ENOSPC/;

/** How a command ended, as a backend saw it. */
export interface FinishedCommand {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  /** performance.now() when the command was started. */
  startedAt: number;
  stdout: BoundedOutput;
  stderr: BoundedOutput;
}

/**
 * The ExecResult of a finished command, the same for every backend: its output read once, and the limit it
 * ran into — `kernelLimit` (memory, processes) when the backend's counters showed one, else a write that
 * failed on the workspace's disk quota. That one is told by the error the write got, as the command may
 * have deleted what filled the disk before it ended (a failed upload removes its temporary file); the
 * workspace is the only file system with a size limit in a sandbox.
 */
export function execResult(command: FinishedCommand, limits: SandboxLimits, kernelLimit?: LimitExceeded): ExecResult {
  const stdout = command.stdout.text();
  const stderr = command.stderr.text();
  const diskFull = limits.diskBytes !== undefined && limits.diskBytes > 0 && (NO_SPACE.test(stderr) || NO_SPACE.test(stdout));
  const limit = kernelLimit ?? (diskFull ? limitExceeded('disk', limits) : undefined);
  return {
    exitCode: command.exitCode,
    signal: command.signal,
    stdout,
    stderr,
    timedOut: command.timedOut,
    truncated: command.stdout.truncated || command.stderr.truncated,
    durationMs: performance.now() - command.startedAt,
    ...(limit ? { limitExceeded: limit } : {}),
  };
}

/** The tool error an agent sees when its command ran into a limit. */
export function limitExceeded(limit: LimitExceeded['limit'], limits: Pick<SandboxLimits, 'memoryBytes' | 'maxProcesses' | 'diskBytes'>): LimitExceeded {
  switch (limit) {
    case 'memory':
      return {
        limit,
        message: `The sandbox's memory limit (${formatMebibytes(limits.memoryBytes)}) was reached and the kernel killed a process of this command. Use less memory (smaller inputs, streaming instead of loading everything) or ask for a higher sandbox.limits.memory_mb.`,
      };
    case 'processes':
      return {
        limit,
        message: `The sandbox's process limit (${limits.maxProcesses ?? '?'} processes and threads) was reached, so starting another one failed. Run fewer processes at once.`,
      };
    case 'disk':
      return {
        limit,
        message: `The workspace's disk quota (${formatMebibytes(limits.diskBytes)}) is full, so a write failed. Delete files you no longer need, or ask for a higher sandbox.limits.disk_mb.`,
      };
  }
}

function formatMebibytes(bytes: number | undefined): string {
  return bytes === undefined ? 'unknown' : `${Math.round(bytes / 1_048_576)} MB`;
}
