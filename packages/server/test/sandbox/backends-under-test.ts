// The sandbox backends the parameterized suites (sandbox-behaviour, sandbox-security) run against, what
// differs between them, and why one is skipped on this machine.
import { networkInterfaces } from 'node:os';
import { describe } from 'vitest';
import { createBubblewrapBackend, type SandboxLogger } from '../../src/sandbox/bubblewrap/bubblewrap.ts';
import { createDockerBackend } from '../../src/sandbox/docker/docker.ts';
import type { SandboxBackend, SandboxLimits } from '../../src/sandbox/sandbox.ts';
import { createUnsandboxedBackend } from '../../src/sandbox/unsandboxed.ts';
import { bubblewrapUnavailable, TEST_LIMITS } from './bubblewrap-test-support.ts';
import { dockerHost, dockerImage, dockerUnavailable } from './docker-test-support.ts';

export interface BackendUnderTest {
  readonly name: 'bubblewrap' | 'docker' | 'none';
  /** Null when the backend runs here; otherwise why its suites are skipped (and how to fix that). */
  readonly unavailable: string | null;
  /** A new backend; close it with `backend.close?.()`. */
  create(options?: { limits?: SandboxLimits; logger?: SandboxLogger }): SandboxBackend;
  /** The path a command sees the workspace at: /workspace, or the host directory itself when unsandboxed. */
  workspacePath(workspaceDir: string): string;
  /** The host uid that owns the files a command makes in the workspace. */
  readonly fileOwnerUid: number;
  /** Whether processes a command moves out of its process group (setsid) die with it too. */
  readonly killsDetachedProcesses: boolean;
  /** exec() rejects, instead of returning a failed command, when `cwd` does not exist. */
  readonly rejectsMissingCwd: boolean;
  /** How long a killed or cancelled command may take to come back: a docker kill is a second exec. */
  readonly promptMs: number;
  /** The message logged at debug level for every finished command. */
  readonly finishedMessage: string;
}

const serverUid = process.getuid?.() ?? 0;

/** What the security suite needs to know besides. */
export interface SandboxedBackendUnderTest extends BackendUnderTest {
  /** What stderr says when a command writes to the read-only system. */
  readonly readOnlyError: RegExp;
  /**
   * Where a command reaches a server of the host listening on all addresses when its spec turns the network
   * on (bubblewrap shares the host's network; a docker container is on a bridge), or undefined if nowhere.
   */
  hostAddressWithNetwork(): string | undefined;
}

export const bubblewrap: SandboxedBackendUnderTest = {
  name: 'bubblewrap',
  unavailable: bubblewrapUnavailable,
  create: ({ limits = TEST_LIMITS, logger } = {}) => createBubblewrapBackend({ limits, ...(logger ? { logger } : {}) }),
  workspacePath: () => '/workspace',
  // The sandbox's uid 1000 is the server's own uid outside its user namespace.
  fileOwnerUid: serverUid,
  killsDetachedProcesses: true,
  rejectsMissingCwd: false,
  promptMs: 5_000,
  finishedMessage: 'sandbox command finished',
  readOnlyError: /Read-only file system/,
  hostAddressWithNetwork: () => '127.0.0.1',
};

export const docker: SandboxedBackendUnderTest = {
  name: 'docker',
  unavailable: dockerUnavailable,
  create: ({ limits = TEST_LIMITS, logger } = {}) =>
    createDockerBackend({ limits, image: dockerImage, ...(dockerHost ? { dockerHost } : {}), ...(logger ? { logger } : {}) }),
  workspacePath: () => '/workspace',
  // A root server hands workspaces to the sandbox user; any other runs containers as itself.
  fileOwnerUid: serverUid === 0 ? 1000 : serverUid,
  killsDetachedProcesses: true,
  rejectsMissingCwd: false,
  promptMs: 6_000,
  finishedMessage: 'sandbox command finished',
  readOnlyError: /Read-only file system|Permission denied/,
  hostAddressWithNetwork: () => hostAddresses()[0],
};

/** Documented unsafe: it shares the behaviour suite, never the security suite. */
export const unsandboxed: BackendUnderTest = {
  name: 'none',
  unavailable: null,
  create: ({ limits = TEST_LIMITS, logger } = {}) => createUnsandboxedBackend({ limits, ...(logger ? { logger } : {}) }),
  workspacePath: (workspaceDir) => workspaceDir,
  fileOwnerUid: serverUid,
  // It kills the command's process group; a process that starts a session of its own leaves that group.
  killsDetachedProcesses: false,
  // The working directory is the child process's own, so a missing one fails the spawn.
  rejectsMissingCwd: true,
  promptMs: 5_000,
  finishedMessage: 'unsandboxed command finished',
};

export const SANDBOXED_BACKENDS: readonly SandboxedBackendUnderTest[] = [bubblewrap, docker];
export const ALL_BACKENDS: readonly BackendUnderTest[] = [bubblewrap, docker, unsandboxed];

/** One `describe` per backend, skipped (the title saying why) where the backend cannot run here. */
export function describeEachBackend<Backend extends BackendUnderTest>(backends: readonly Backend[], title: string, body: (backend: Backend) => void): void {
  for (const backend of backends) {
    const name = `${title} (${backend.name})`;
    describe.skipIf(backend.unavailable !== null)(backend.unavailable === null ? name : `${name} — ${backend.unavailable}`, () => body(backend));
  }
}

/** The host's own IPv4 addresses, loopback excepted. */
export function hostAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((address) => address !== undefined && address.family === 'IPv4' && !address.internal)
    .map((address) => address!.address);
}

/** Deployment ids unique to this test process: docker containers are named after them on a shared Docker host. */
export function uniqueDeploymentId(label: string): string {
  return `dep_${label}_${process.pid}`;
}
