// The 'none' sandbox backend: commands run as plain child processes of the server, as the server's user.
// There is NO isolation: a command can read and write anything that user can. It exists for operators
// who already isolate the whole server (a VM or container per customer) and opt in with
// HERM_ALLOW_UNSANDBOXED=true.
//
// What it still does: the working directory is the deployment's workspace, the environment is cleared
// to PATH/HOME/LANG/TERM plus the deployment's secrets, the whole process group is killed on timeout (and
// when the command ends, so background processes do not linger), and output is capped.
//
// The built-in tools and the Files API speak of the workspace as /workspace. Here /workspace is mapped to
// the real directory: in the working directory, in positional arguments that are /workspace or start with
// /workspace/, and in the server-written command text. The text of a model's shell command travels as an
// argument and is not rewritten: a command that names /workspace/x itself will not find it (relative
// paths and $HOME work).
import { spawn } from 'node:child_process';
import { isAbsolute } from 'node:path';
import { BASE_ENVIRONMENT } from './bubblewrap/bubblewrap-arguments.ts';
import type { SandboxLogger } from './bubblewrap/bubblewrap.ts';
import { createBoundedOutput } from './bounded-output.ts';
import { createCommandLimits, execResult, type CommandLimits } from './limits/command-limits.ts';
import { createWorkspaceQuotas, type WorkspaceQuotas } from './limits/workspace-quotas.ts';
import { isReservedEnvironmentName } from './reserved-environment.ts';
import {
  effectiveLimits,
  WORKSPACE_PATH,
  type ExecRequest,
  type ExecResult,
  type Sandbox,
  type SandboxBackend,
  type SandboxLimits,
  type SandboxSpec,
} from './sandbox.ts';

export interface UnsandboxedBackendOptions {
  limits: SandboxLimits;
  logger?: SandboxLogger;
  /** Control groups for CPU, memory and process limits; default: the backend's own, found on first use. */
  commandLimits?: CommandLimits;
  /** Disk quotas of workspaces; default: the backend's own. */
  workspaceQuotas?: WorkspaceQuotas;
}

const ENVIRONMENT_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
// The workspace path is spliced into server-written command text (case patterns, unquoted): only
// characters that mean nothing to the shell are accepted.
const SHELL_SAFE_PATH = /^\/[A-Za-z0-9._/-]+$/;
const WORKSPACE_IN_TEXT = /\/workspace(?![A-Za-z0-9_.-])/g;
const PIPE_CLOSE_GRACE_MS = 1_000;

export function createUnsandboxedBackend(options: UnsandboxedBackendOptions): SandboxBackend {
  const commandLimits = options.commandLimits ?? createCommandLimits(options.logger ? { logger: options.logger } : {});
  const workspaceQuotas = options.workspaceQuotas ?? createWorkspaceQuotas(options.logger ? { logger: options.logger } : {});
  const context = { ...options, commandLimits, workspaceQuotas };
  return {
    type: 'none',
    check: async () => ({ ok: true }),
    open: (spec) => openUnsandboxed(spec, context),
    limitsUnavailableReason: () => commandLimits.unavailableReason(),
    async close() {
      if (!options.commandLimits) await commandLimits.close();
      if (!options.workspaceQuotas) await workspaceQuotas.close();
    },
  };
}

type UnsandboxedContext = UnsandboxedBackendOptions & { commandLimits: CommandLimits; workspaceQuotas: WorkspaceQuotas };

/** `value` with a leading /workspace replaced by the real workspace directory. */
export function mapWorkspacePath(value: string, workspaceDir: string): string {
  if (value === WORKSPACE_PATH) return workspaceDir;
  if (value.startsWith(`${WORKSPACE_PATH}/`)) return workspaceDir + value.slice(WORKSPACE_PATH.length);
  return value;
}

function openUnsandboxed(spec: SandboxSpec, options: UnsandboxedContext): Sandbox {
  if (!isAbsolute(spec.workspaceDir) || !SHELL_SAFE_PATH.test(spec.workspaceDir)) {
    throw new TypeError(`workspaceDir must be an absolute path of letters, digits, ".", "_", "-" and "/", got ${JSON.stringify(spec.workspaceDir)}`);
  }
  for (const [name, value] of Object.entries(spec.env ?? {})) {
    if (!ENVIRONMENT_NAME.test(name)) throw new TypeError(`env: ${JSON.stringify(name)} is not a valid variable name`);
    if (isReservedEnvironmentName(name)) throw new TypeError(`env: ${name} is reserved by the sandbox and cannot be set`);
    if (value.includes('\0')) throw new TypeError(`env: the value of ${name} contains a NUL character`);
  }
  const frozenSpec: SandboxSpec = Object.freeze({ ...spec, env: Object.freeze({ ...spec.env }) });
  return { spec: frozenSpec, exec: (request) => execUnsandboxed(frozenSpec, request, options) };
}

async function execUnsandboxed(spec: SandboxSpec, request: ExecRequest, options: UnsandboxedContext): Promise<ExecResult> {
  request.signal?.throwIfAborted();
  const limits = effectiveLimits(options.limits, spec);
  const timeoutMs = request.timeoutMs ?? limits.timeoutMs;
  if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be a positive number, got ${timeoutMs}`);
  const workspace = spec.workspaceDir;
  const requestedCwd = request.cwd ?? WORKSPACE_PATH;
  // Relative working directories are taken from the workspace, as in the other backends.
  const cwd = isAbsolute(requestedCwd) ? mapWorkspacePath(requestedCwd, workspace) : `${workspace}/${requestedCwd}`;
  const command = request.command.replace(WORKSPACE_IN_TEXT, workspace);
  const args = (request.args ?? []).map((argument) => mapWorkspacePath(argument, workspace));

  await options.workspaceQuotas.prepare(workspace, limits.diskBytes);
  const limitScope = await options.commandLimits.begin(spec.deploymentId, limits);
  const shell = ['-c', command, 'sh', ...args];
  const launch = limitScope ? limitScope.wrap('/bin/sh', shell) : { file: '/bin/sh', args: shell };
  const startedAt = performance.now();
  const child = spawn(launch.file, launch.args, {
    cwd,
    env: { ...BASE_ENVIRONMENT, HOME: workspace, ...spec.env },
    stdio: [request.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    // Its own process group, so a timeout kills everything the command started.
    detached: true,
  });
  if (request.stdin !== undefined && child.stdin) {
    child.stdin.on('error', () => {});
    child.stdin.end(request.stdin);
  }
  const stdout = createBoundedOutput(limits.maxOutputBytes);
  const stderr = createBoundedOutput(limits.maxOutputBytes);
  child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));

  const killGroup = (): void => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // the group is gone already
    }
  };
  let timedOut = false;
  let aborted = false;
  const timer = setTimeout(
    () => {
      timedOut = true;
      killGroup();
    },
    Math.min(timeoutMs, 2 ** 31 - 1),
  );
  const onAbort = (): void => {
    aborted = true;
    killGroup();
  };
  if (request.signal?.aborted) onAbort();
  else request.signal?.addEventListener('abort', onAbort, { once: true });
  let graceTimer: NodeJS.Timeout | undefined;
  child.on('exit', () => {
    // Background processes would otherwise outlive the command and hold its pipes open.
    killGroup();
    graceTimer = setTimeout(() => {
      for (const stream of child.stdio) stream?.destroy();
    }, PIPE_CLOSE_GRACE_MS);
  });

  try {
    const [exitCode, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once('error', (error) => reject(new Error(`could not start /bin/sh: ${error.message}`, { cause: error })));
      child.once('close', (code, signalName) => resolve([code, signalName]));
    });
    const kernelLimit = await limitScope?.finish();
    if (aborted) throw request.signal?.reason ?? new DOMException('The operation was aborted', 'AbortError');
    const result = execResult({ exitCode, signal, timedOut, startedAt, stdout, stderr }, limits, kernelLimit);
    options.logger?.debug({ deploymentId: spec.deploymentId, exitCode, signal, timedOut }, 'unsandboxed command finished');
    return result;
  } finally {
    limitScope?.release();
    clearTimeout(timer);
    clearTimeout(graceTimer);
    request.signal?.removeEventListener('abort', onAbort);
    if (child.exitCode === null && child.signalCode === null) killGroup();
  }
}
