// The operator's ceilings on what a deployment's `sandbox.limits` (and allowlist) may ask for. A tenant
// choosing its own limits must never lift the operator's: every field has a server maximum, and the
// maxima that are not configured default to what holds on the machine the server runs on (its cores,
// its memory, the size of its data directory's file system), so a fresh install is bounded too.
import { statfsSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import path from 'node:path';
import type { Config } from '../../config.ts';
import type { SandboxLimits } from '../sandbox.ts';

const MIB = 1_048_576;

/** The fields of `sandbox.limits`, as the API names them. */
export interface SandboxLimitFields {
  cpus?: number | undefined;
  memory_mb?: number | undefined;
  max_processes?: number | undefined;
  disk_mb?: number | undefined;
  command_timeout_seconds?: number | undefined;
  max_output_bytes?: number | undefined;
}

export type SandboxLimitField = keyof SandboxLimitFields;

export interface LimitCeiling {
  /** The most the field may be. */
  max: number;
  /** The environment variable that sets it, for messages. */
  variable: string;
}

export interface SandboxLimitCeilings {
  limits: Record<SandboxLimitField, LimitCeiling>;
  /** Most entries one `sandbox.network.allow` may list. */
  allowEntries: LimitCeiling;
}

export type CeilingsConfig = Pick<
  Config,
  | 'dataDir'
  | 'HERM_SANDBOX_MAX_CPUS'
  | 'HERM_SANDBOX_MAX_MEMORY_MB'
  | 'HERM_SANDBOX_MAX_PROCESSES'
  | 'HERM_SANDBOX_MAX_DISK_MB'
  | 'HERM_SANDBOX_MAX_OUTPUT_BYTES'
  | 'HERM_SANDBOX_MAX_ALLOW_ENTRIES'
  | 'HERM_MAX_COMMAND_TIMEOUT_MS'
>;

/** What this machine can give, for the ceilings left unset. Injectable for tests. */
export interface MachineCapacity {
  cores: number;
  memoryMb: number;
  /** Size of the file system holding `directory` (the nearest existing ancestor), MiB. */
  fileSystemMb(directory: string): number;
}

export const thisMachine: MachineCapacity = {
  cores: availableParallelism(),
  memoryMb: Math.floor(totalmem() / MIB),
  fileSystemMb(directory) {
    let current = path.resolve(directory);
    for (;;) {
      try {
        const stats = statfsSync(current);
        return Math.floor((stats.blocks * stats.bsize) / MIB);
      } catch (error) {
        const parent = path.dirname(current);
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || parent === current) throw error;
        current = parent;
      }
    }
  },
};

export function sandboxCeilingsFromConfig(config: CeilingsConfig, machine: MachineCapacity = thisMachine): SandboxLimitCeilings {
  return {
    limits: {
      cpus: { max: config.HERM_SANDBOX_MAX_CPUS ?? machine.cores, variable: 'HERM_SANDBOX_MAX_CPUS' },
      memory_mb: { max: config.HERM_SANDBOX_MAX_MEMORY_MB ?? machine.memoryMb, variable: 'HERM_SANDBOX_MAX_MEMORY_MB' },
      max_processes: { max: config.HERM_SANDBOX_MAX_PROCESSES, variable: 'HERM_SANDBOX_MAX_PROCESSES' },
      disk_mb: { max: config.HERM_SANDBOX_MAX_DISK_MB ?? machine.fileSystemMb(config.dataDir), variable: 'HERM_SANDBOX_MAX_DISK_MB' },
      command_timeout_seconds: { max: config.HERM_MAX_COMMAND_TIMEOUT_MS / 1000, variable: 'HERM_MAX_COMMAND_TIMEOUT_MS' },
      max_output_bytes: { max: config.HERM_SANDBOX_MAX_OUTPUT_BYTES, variable: 'HERM_SANDBOX_MAX_OUTPUT_BYTES' },
    },
    allowEntries: { max: config.HERM_SANDBOX_MAX_ALLOW_ENTRIES, variable: 'HERM_SANDBOX_MAX_ALLOW_ENTRIES' },
  };
}

const UNITS: Record<SandboxLimitField, string> = {
  cpus: ' CPUs',
  memory_mb: ' MiB',
  max_processes: ' processes',
  disk_mb: ' MiB',
  command_timeout_seconds: ' seconds',
  max_output_bytes: ' bytes',
};

/** The first field above its ceiling, with a message stating the ceiling; undefined when all are within. */
export function limitAboveCeiling(
  limits: SandboxLimitFields,
  ceilings: SandboxLimitCeilings,
): { field: SandboxLimitField; message: string } | undefined {
  for (const [field, value] of Object.entries(limits) as [SandboxLimitField, number | undefined][]) {
    const ceiling = ceilings.limits[field];
    if (value === undefined || !ceiling || value <= ceiling.max) continue;
    return {
      field,
      message: `sandbox.limits.${field} may be at most ${ceiling.max}${UNITS[field]} on this server (${ceiling.variable}); ${value} was asked for.`,
    };
  }
  return undefined;
}

/**
 * Limits as the backends get them, each held to its ceiling: a deployment stored before the operator
 * lowered a ceiling gets the new one on its next command.
 */
export function clampToCeilings(limits: Partial<SandboxLimits>, ceilings: SandboxLimitCeilings): Partial<SandboxLimits> {
  const clamped: Partial<SandboxLimits> = { ...limits };
  const hold = (name: keyof SandboxLimits, max: number): void => {
    const value = clamped[name];
    if (value !== undefined && value > max) clamped[name] = max;
  };
  hold('cpus', ceilings.limits.cpus.max);
  hold('memoryBytes', ceilings.limits.memory_mb.max * MIB);
  hold('maxProcesses', ceilings.limits.max_processes.max);
  hold('diskBytes', ceilings.limits.disk_mb.max * MIB);
  hold('timeoutMs', ceilings.limits.command_timeout_seconds.max * 1000);
  hold('maxOutputBytes', ceilings.limits.max_output_bytes.max);
  return clamped;
}

/**
 * The server's default limits held to the ceilings: a default above its ceiling (HERM_SANDBOX_CPUS=2 on a
 * one-core machine) becomes the ceiling, and `warn` says so once. A default of none (0) stays none.
 */
export function defaultsWithinCeilings(
  defaults: SandboxLimits,
  ceilings: SandboxLimitCeilings,
  warn?: (fields: object, message: string) => void,
): SandboxLimits {
  const clamped = clampToCeilings(defaults, ceilings) as SandboxLimits;
  for (const name of Object.keys(defaults) as (keyof SandboxLimits)[]) {
    if (clamped[name] !== defaults[name]) {
      warn?.({ limit: name, configured: defaults[name], used: clamped[name] }, 'a default sandbox limit is above its ceiling (HERM_SANDBOX_MAX_*); the ceiling is used');
    }
  }
  return clamped;
}
