// The boundary between the agent loop (in the server) and the commands it runs for a deployment.
// One Sandbox object per deployment; backends (bubblewrap, docker) implement SandboxBackend.

/** Where a deployment's commands run and what they may touch. */
export interface SandboxSpec {
  deploymentId: string;
  /** Host directory mounted read-write at /workspace inside the sandbox. Must exist. */
  workspaceDir: string;
  /** Network access for commands. Default false: no network at all. */
  network?: boolean;
  /** Extra environment variables for the tool processes only (connector secrets). */
  env?: Record<string, string>;
  /** Container image (docker backend); default the backend's configured image. Other backends ignore it. */
  image?: string;
}

export interface SandboxLimits {
  /** Wall time per command before it is killed. */
  timeoutMs: number;
  /** Bytes of stdout and of stderr kept each; the rest is dropped and `truncated` is set. */
  maxOutputBytes: number;
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
      /** The spec field at fault, when it is one (an image missing on the Docker host). */
      field?: 'image';
    };

export interface SandboxBackend {
  readonly type: SandboxType;
  /**
   * Whether this backend can run commands on this machine (bubblewrap: binary present, namespaces
   * allowed; docker: API reachable, image present). `spec` narrows the check to one deployment's settings.
   */
  check(spec?: Pick<SandboxSpec, 'image'>): Promise<SandboxCheckResult>;
  open(spec: SandboxSpec): Sandbox;
  /** Frees what the backend holds for a deployment now (docker: its containers), e.g. when it is deleted. */
  discard?(deploymentId: string): Promise<void>;
  /** Releases what the backend holds (docker: removes its containers). */
  close?(): Promise<void>;
}

/** The path of the workspace inside every sandbox. */
export const WORKSPACE_PATH = '/workspace';
