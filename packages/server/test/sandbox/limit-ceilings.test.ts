// The operator's ceilings: defaults taken from the machine when unset, the field and ceiling named when a
// limit is above one, stored limits clamped, and server defaults held to the ceilings.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import {
  clampToCeilings,
  defaultsWithinCeilings,
  limitAboveCeiling,
  sandboxCeilingsFromConfig,
  thisMachine,
  type MachineCapacity,
} from '../../src/sandbox/limits/limit-ceilings.ts';

const smallMachine: MachineCapacity = { cores: 1, memoryMb: 1024, fileSystemMb: () => 8192 };

describe('sandbox limit ceilings', () => {
  it("default to this machine's cores, memory and data file system, 4096 processes and 16 MiB of output", () => {
    const ceilings = sandboxCeilingsFromConfig(loadConfig({ HERM_DATA_DIR: '/tmp/herm-ceilings-missing/data' }), smallMachine);
    expect(ceilings.limits.cpus.max).toBe(1);
    expect(ceilings.limits.memory_mb.max).toBe(1024);
    expect(ceilings.limits.disk_mb.max).toBe(8192);
    expect(ceilings.limits.max_processes.max).toBe(4096);
    expect(ceilings.limits.max_output_bytes.max).toBe(16_777_216);
    expect(ceilings.limits.command_timeout_seconds.max).toBe(600);
    expect(ceilings.allowEntries.max).toBe(100);
    // The real machine: a data directory that does not exist yet is measured by its nearest existing parent.
    expect(thisMachine.fileSystemMb('/tmp/herm-ceilings-missing/a/b')).toBeGreaterThan(0);
  });

  it('take what the operator configures over the machine', () => {
    const config = loadConfig({ HERM_SANDBOX_MAX_CPUS: '8', HERM_SANDBOX_MAX_MEMORY_MB: '65536', HERM_SANDBOX_MAX_DISK_MB: '100' });
    const ceilings = sandboxCeilingsFromConfig(config, smallMachine);
    expect([ceilings.limits.cpus.max, ceilings.limits.memory_mb.max, ceilings.limits.disk_mb.max]).toEqual([8, 65536, 100]);
  });

  it('name the first field above its ceiling and the variable that sets it', () => {
    const ceilings = sandboxCeilingsFromConfig(loadConfig({}), smallMachine);
    expect(limitAboveCeiling({ cpus: 1, memory_mb: 1024 }, ceilings)).toBeUndefined();
    expect(limitAboveCeiling({ cpus: 1, memory_mb: 1025 }, ceilings)).toEqual({
      field: 'memory_mb',
      message: 'sandbox.limits.memory_mb may be at most 1024 MiB on this server (HERM_SANDBOX_MAX_MEMORY_MB); 1025 was asked for.',
    });
    expect(limitAboveCeiling({ command_timeout_seconds: 601 }, ceilings)?.message).toContain('(HERM_MAX_COMMAND_TIMEOUT_MS)');
  });

  it('clamp stored limits and server defaults to the ceilings; a default of none stays none', () => {
    const ceilings = sandboxCeilingsFromConfig(loadConfig({ HERM_SANDBOX_MAX_PROCESSES: '100' }), smallMachine);
    expect(clampToCeilings({ cpus: 4, memoryBytes: 2048 * 1_048_576, maxProcesses: 50, timeoutMs: 900_000 }, ceilings)).toEqual({
      cpus: 1,
      memoryBytes: 1024 * 1_048_576,
      maxProcesses: 50,
      timeoutMs: 600_000,
    });
    const warnings: object[] = [];
    const defaults = defaultsWithinCeilings({ timeoutMs: 120_000, maxOutputBytes: 1_048_576, cpus: 2, maxProcesses: 512 }, ceilings, (fields) => warnings.push(fields));
    expect(defaults).toEqual({ timeoutMs: 120_000, maxOutputBytes: 1_048_576, cpus: 1, maxProcesses: 100 });
    expect(warnings).toEqual([
      { limit: 'cpus', configured: 2, used: 1 },
      { limit: 'maxProcesses', configured: 512, used: 100 },
    ]);
    expect(defaultsWithinCeilings({ timeoutMs: 1000, maxOutputBytes: 1024 }, ceilings)).toEqual({ timeoutMs: 1000, maxOutputBytes: 1024 });
  });
});
