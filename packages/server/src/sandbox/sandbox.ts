// The boundary between the agent loop (in the server) and the commands it runs for a deployment.
// One Sandbox object per deployment; backends (bubblewrap, docker) implement SandboxBackend.

/** Where a deployment's commands run and what they may touch. */
export interface SandboxSpec {
  deploymentId: string;
  /** Host directory mounted read-write at /workspace inside the sandbox. Must exist. */
  workspaceDir: string;
  /**
   * Network access for commands. Default false: no network at all. `{ allow }`: only these hosts
   * (`api.example.com`, `*.example.com`, `host:port`), through the host's egress proxy (egress-proxy.ts);
   * `internal`: the internal destinations (`host:port`) the operator opened to this deployment's account
   * (HERM_SANDBOX_INTERNAL_DESTINATIONS; none when omitted): no other internal address is reachable;
   * true: the host's network, unfiltered (tests only).
   */
  network?: boolean | { allow: readonly string[]; internal?: readonly string[] };
  /** Extra environment variables for the tool processes only (connector secrets). */
  env?: Record<string, string>;
  /** Container image (docker backend); default the backend's configured image. Other backends ignore it. */
  image?: string;
  /** This deployment's overrides of the backend's limits (`sandbox.limits`). */
  limits?: Partial<SandboxLimits>;
  /**
   * Host directories shown read-only inside the sandbox (the deployment's skills at /skills). Each host path
   * must exist; its contents may change between commands (files are rewritten inside it, the directory stays).
   * The 'none' backend has no mount namespace: there the host path itself is what commands use.
   */
  readOnlyMounts?: readonly ReadOnlyMount[];
}

/** A host directory shown read-only at `sandboxPath` (absolute, outside /workspace). */
export interface ReadOnlyMount {
  hostPath: string;
  sandboxPath: string;
}

/** Refuses a read-only mount that is not absolute, would cover the root, or would touch /workspace. */
export function checkReadOnlyMount(mount: ReadOnlyMount): void {
  const { hostPath, sandboxPath } = mount;
  if (!hostPath.startsWith('/') || !sandboxPath.startsWith('/') || /(^|\/)\.\.?(\/|$)/.test(sandboxPath) || sandboxPath === '/') {
    throw new TypeError(`readOnlyMounts: ${JSON.stringify(mount)} must map an absolute host path to an absolute path other than /`);
  }
  if (sandboxPath === WORKSPACE_PATH || sandboxPath.startsWith(`${WORKSPACE_PATH}/`) || WORKSPACE_PATH.startsWith(`${sandboxPath.replace(/\/$/, '')}/`)) {
    throw new TypeError(`readOnlyMounts: ${sandboxPath} would cover or sit inside ${WORKSPACE_PATH}`);
  }
  if (hostPath.includes('\0') || sandboxPath.includes('\0')) throw new TypeError('readOnlyMounts: a path contains a NUL character');
}

export interface SandboxLimits {
  /** Wall time per command before it is killed. */
  timeoutMs: number;
  /** Bytes of stdout and of stderr kept each; the rest is dropped and `truncated` is set. */
  maxOutputBytes: number;
  /** CPU time per wall-clock second the sandbox's processes may use together (1.5 = one and a half cores). */
  cpus?: number;
  /** Memory (RAM, no swap) the sandbox's processes may use together; the kernel kills one when it is exceeded. */
  memoryBytes?: number;
  /** Processes and threads that may exist in the sandbox at once; fork fails beyond it. */
  maxProcesses?: number;
  /** Size of the workspace's file system (a disk quota; see workspace-quotas.ts); writes fail beyond it. */
  diskBytes?: number;
}

/** The limits a deployment's commands get: the backend's defaults with the spec's overrides. */
export function effectiveLimits(defaults: SandboxLimits, spec: Pick<SandboxSpec, 'limits'>): SandboxLimits {
  const limits: SandboxLimits = { ...defaults };
  for (const [name, value] of Object.entries(spec.limits ?? {}) as [keyof SandboxLimits, number | undefined][]) {
    if (value !== undefined) limits[name] = value;
  }
  return limits;
}

/** A resource limit a command ran into; the shell tool reports it to the agent as a tool error. */
export interface LimitExceeded {
  limit: 'memory' | 'processes' | 'disk';
  /** For the agent: what happened and what to do about it. */
  message: string;
}

export interface ExecRequest {
  /** Shell command line, run with /bin/sh -c inside the sandbox. */
  command: string;
  /** Positional parameters for the command ($1, $2, …), passed without shell interpretation. */
  args?: string[];
  /** Written to the command's standard input, then closed. */
  stdin?: string | Uint8Array;
  /** Overrides the backend's default timeout for this command. */
  timeoutMs?: number;
  /** Working directory inside the sandbox; defaults to /workspace. */
  cwd?: string;
  signal?: AbortSignal;
}

export interface ExecResult {
  /** Exit code, or null when the command was killed by a signal. */
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** True when stdout or stderr exceeded maxOutputBytes and was cut. */
  truncated: boolean;
  durationMs: number;
  /** Set when the command hit one of the sandbox's resource limits (it was killed, or a fork or write failed). */
  limitExceeded?: LimitExceeded;
}

export interface Sandbox {
  readonly spec: SandboxSpec;
  exec(request: ExecRequest): Promise<ExecResult>;
}

export type SandboxType = 'bubblewrap' | 'docker' | 'none';

export type SandboxCheckResult =
  | { ok: true }
  | {
      ok: false;
      /** What is wrong and how to fix it, for operators and deployment status reasons. */
      reason: string;
      /** The spec field at fault, when it is one (an image missing on the Docker host; no socat for a network allowlist). */
      field?: 'image' | 'network';
    };

export interface SandboxBackend {
  readonly type: SandboxType;
  /**
   * Whether this backend can run commands on this machine (bubblewrap: binary present, namespaces
   * allowed; docker: API reachable, image present). `spec` narrows the check to one deployment's settings.
   */
  check(spec?: Pick<SandboxSpec, 'image' | 'network'>): Promise<SandboxCheckResult>;
  open(spec: SandboxSpec): Sandbox;
  /**
   * Why this backend cannot enforce CPU, memory and process limits here (undefined when it can); a
   * deployment that sets such limits itself is then refused. Backends without it enforce them always.
   */
  limitsUnavailableReason?(): Promise<string | undefined>;
  /** Frees what the backend holds for a deployment now (docker: its containers), e.g. when it is deleted. */
  discard?(deploymentId: string): Promise<void>;
  /** Lets go of one workspace directory before it is deleted (docker: removes the containers that bind it). */
  discardWorkspace?(workspaceDir: string): Promise<void>;
  /** Releases what the backend holds (docker: removes its containers). */
  close?(): Promise<void>;
}

/** The path of the workspace inside every sandbox. */
export const WORKSPACE_PATH = '/workspace';
