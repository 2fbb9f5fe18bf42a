// Shared by the sandbox and tool tests: whether real bubblewrap works here, and throwaway dirs.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBubblewrapBackend } from '../../src/sandbox/bubblewrap/bubblewrap.ts';
import type { SandboxLimits } from '../../src/sandbox/sandbox.ts';

export const TEST_LIMITS: SandboxLimits = { timeoutMs: 20_000, maxOutputBytes: 1024 * 1024 };

const availability = await createBubblewrapBackend({ limits: TEST_LIMITS }).check();

/** Null when bubblewrap works on this machine; otherwise why the sandbox tests are skipped. */
export const bubblewrapUnavailable: string | null = availability.ok
  ? null
  : `bubblewrap sandbox tests skipped: ${availability.reason}` +
    (availability.reason.includes('apt-get install bubblewrap') ? '' : ' (apt-get install bubblewrap)');

if (bubblewrapUnavailable) console.warn(bubblewrapUnavailable);

/** A fresh directory under the system temp dir; remove it with removeDirectory. */
export async function makeTemporaryDirectory(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `herm-test-${prefix}-`));
}

export async function removeDirectory(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}
