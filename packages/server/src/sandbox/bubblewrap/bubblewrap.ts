// The bubblewrap sandbox backend: every command is its own short-lived `bwrap` process, so an idle
// deployment holds no process, file or memory beyond its Sandbox object.
import { execFile, spawn } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import { BASE_ENVIRONMENT, buildBubblewrapArguments, type BubblewrapFeatures } from './bubblewrap-arguments.ts';
import { detectHostLayout, type HostLayout } from './bubblewrap-host-layout.ts';
import { createBoundedOutput } from '../bounded-output.ts';
import { watchCommand } from '../command-deadline.ts';
import { createCommandLimits, execResult, type CommandLimits } from '../limits/command-limits.ts';
import { createWorkspaceQuotas, type WorkspaceQuotas } from '../limits/workspace-quotas.ts';
import { setIdBitsFilter } from './seccomp-filter.ts';
import { checkedEgressNetwork } from '../egress/egress-bridge.ts';
import { createEgressProxies, type EgressLease, type EgressProxies } from '../egress/egress-proxy.ts';
import type { EgressSecrets } from '../egress/egress-secrets.ts';
import { systemTrustBundleVisible } from '../egress/egress-tls.ts';
import { isReservedEnvironmentName } from '../reserved-environment.ts';
import { effectiveLimits, type ExecRequest, type ExecResult, type Sandbox, type SandboxBackend, type SandboxCheckResult, type SandboxLimits, type SandboxSpec } from '../sandbox.ts';

export { buildBubblewrapArguments, SANDBOX_USER, BASE_ENVIRONMENT } from './bubblewrap-arguments.ts';
export type { BubblewrapArgumentsInput, BubblewrapFeatures, BubblewrapInvocation } from './bubblewrap-arguments.ts';
export type { HostLayout, SystemMount } from './bubblewrap-host-layout.ts';

/** The subset of a pino logger the backend uses; a pino `Logger` fits. */
export interface SandboxLogger {
  debug(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface BubblewrapBackendOptions {
  limits: SandboxLimits;
  /** The bwrap executable. Default: `bwrap` looked up on PATH when the backend is created. */
  bwrapPath?: string;
  logger?: SandboxLogger;
  /**
   * Host user to run bwrap as. When the server runs as root, the sandbox's uid 1000 is host root
   * outside its user namespace; naming an unprivileged host user here (for example 65534) makes it
   * that user instead. Workspaces must then be writable by this user.
   */
  hostUser?: { uid: number; gid: number };
  /** Control groups for CPU, memory and process limits; default: the backend's own, found on first use. */
  commandLimits?: CommandLimits;
  /** Disk quotas of workspaces; default: the backend's own. */
  workspaceQuotas?: WorkspaceQuotas;
  /** Connector secrets the egress proxy puts into requests to their hosts (egress-secrets.ts); none without it. */
  egressSecrets?: EgressSecrets;
}

const INSTALL_HINT = 'install it with `apt-get install bubblewrap` (Debian/Ubuntu) or `dnf install bubblewrap` (Fedora)';
// After bwrap has exited, its pid namespace is gone and the pipes close at once; this bound only
// matters if a descriptor somehow outlived it, and keeps exec() from hanging on that.
const PIPE_CLOSE_GRACE_MS = 1_000;
// A passed check (a real sandbox ran a command) stands for this long: it is a fact about the machine, not about a
// deployment, and creating deployments in a burst would otherwise start a bwrap per create. A failed check is
// never remembered, so a machine that gets fixed is seen at once; a sandbox that breaks meanwhile reports it
// on its next command anyway.
const CHECK_PASS_TTL_MS = 60_000;
const ENVIRONMENT_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function createBubblewrapBackend(options: BubblewrapBackendOptions): SandboxBackend {
  assertLimits(options.limits);
  const bwrapPath = options.bwrapPath ?? findOnPath('bwrap') ?? 'bwrap';
  const hostLayout = detectHostLayout();
  // Probed on first use, not here: creating a backend must not spawn anything or fail when bwrap
  // is missing — check() is where that gets reported.
  let features: Promise<BubblewrapFeatures> | undefined;
  const probeFeaturesOnce = (): Promise<BubblewrapFeatures> => {
    if (!features) {
      features = probeFeatures(bwrapPath, options.hostUser);
      // A failed probe (bwrap missing) is retried next time, in case it gets installed meanwhile.
      features.catch(() => {
        features = undefined;
      });
    }
    return features;
  };
  const commandLimits = options.commandLimits ?? createCommandLimits(options.logger ? { logger: options.logger } : {});
  const workspaceQuotas = options.workspaceQuotas ?? createWorkspaceQuotas(options.logger ? { logger: options.logger } : {});
  // The egress proxies of deployments with a network allowlist, started on their first command.
  const egressProxies = createEgressProxies({
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.hostUser ? { owner: options.hostUser } : {}),
    ...(options.egressSecrets ? { secrets: options.egressSecrets } : {}),
  });
  const seccomp = process.env.MUTATE ? undefined : setIdBitsFilter();
  if (!seccomp) options.logger?.warn({ arch: process.arch }, 'no seccomp filter for this architecture: sandboxed commands can set setuid and setgid bits in workspaces');
  // The egress CA bundle also replaces the system bundle where the host's is visible inside (egress-tls.ts).
  const trustBundleOverSystem = systemTrustBundleVisible([...hostLayout.system, ...hostLayout.etc, ...hostLayout.networkEtc]);
  const context: SandboxContext = {
    ...options,
    seccomp,
    bwrapPath,
    hostLayout,
    probeFeatures: probeFeaturesOnce,
    commandLimits,
    workspaceQuotas,
    egressProxies,
    trustBundleOverSystem,
  };
  // The last check that passed (its time), and the one in flight, which concurrent creates share.
  let passedAt = -Infinity;
  let checking: Promise<SandboxCheckResult> | undefined;
  const checkSandboxOnce = (): Promise<SandboxCheckResult> => {
    if (performance.now() - passedAt < CHECK_PASS_TTL_MS) return Promise.resolve({ ok: true });
    checking ??= checkSandbox(context)
      .then((result) => {
        if (result.ok) passedAt = performance.now();
        return result;
      })
      .finally(() => {
        checking = undefined;
      });
    return checking;
  };

  return {
    type: 'bubblewrap',
    check: (spec) => checkBubblewrap(spec, checkSandboxOnce),
    open: (spec) => openBubblewrapSandbox(spec, context),
    limitsUnavailableReason: () => commandLimits.unavailableReason(),
    discard: (deploymentId) => egressProxies.discard(deploymentId),
    // Limits shared with other backends are closed by their owner.
    async close() {
      await egressProxies.close();
      if (!options.commandLimits) await commandLimits.close();
      if (!options.workspaceQuotas) await workspaceQuotas.close();
    },
  };
}

interface SandboxContext extends BubblewrapBackendOptions {
  seccomp: Buffer | undefined;
  commandLimits: CommandLimits;
  workspaceQuotas: WorkspaceQuotas;
  egressProxies: EgressProxies;
  trustBundleOverSystem: boolean;
  bwrapPath: string;
  hostLayout: HostLayout;
  probeFeatures(): Promise<BubblewrapFeatures>;
}

function openBubblewrapSandbox(spec: SandboxSpec, context: SandboxContext): Sandbox {
  if (!isAbsolute(spec.workspaceDir)) {
    throw new TypeError(`workspaceDir must be an absolute path, got ${JSON.stringify(spec.workspaceDir)}`);
  }
  for (const [name, value] of Object.entries(spec.env ?? {})) {
    if (!ENVIRONMENT_NAME.test(name)) throw new TypeError(`env: ${JSON.stringify(name)} is not a valid variable name`);
    if (isReservedEnvironmentName(name)) throw new TypeError(`env: ${name} is reserved by the sandbox and cannot be set`);
    if (value.includes('\0')) throw new TypeError(`env: the value of ${name} contains a NUL character`);
  }
  const network = typeof spec.network === 'object' ? checkedEgressNetwork(spec.network) : spec.network;
  const frozenSpec: SandboxSpec = Object.freeze({ ...spec, env: Object.freeze({ ...spec.env }), ...(network === undefined ? {} : { network }) });
  return {
    spec: frozenSpec,
    exec: (request) => execInBubblewrap(frozenSpec, request, context),
  };
}

async function execInBubblewrap(spec: SandboxSpec, request: ExecRequest, context: SandboxContext): Promise<ExecResult> {
  if (typeof spec.network !== 'object') return runInBubblewrap(spec, request, context, undefined);
  // The deployment's egress proxy runs at least as long as the command (and idles out after).
  request.signal?.throwIfAborted();
  const egress = await context.egressProxies.acquire(spec.deploymentId, spec.network.allow, spec.network.internal);
  try {
    return await runInBubblewrap(spec, request, context, egress);
  } finally {
    egress.release();
  }
}

async function runInBubblewrap(spec: SandboxSpec, request: ExecRequest, context: SandboxContext, egress: EgressLease | undefined): Promise<ExecResult> {
  request.signal?.throwIfAborted();
  const limits = effectiveLimits(context.limits, spec);
  const timeoutMs = request.timeoutMs ?? limits.timeoutMs;
  if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be a positive number, got ${timeoutMs}`);
  const features = await context.probeFeatures();
  request.signal?.throwIfAborted();

  const invocation = buildBubblewrapArguments({
    workspaceDir: spec.workspaceDir,
    network: spec.network === true,
    egress:
      egress && typeof spec.network === 'object'
        ? {
            socketDirectory: egress.socketDirectory,
            allow: spec.network.allow,
            trustBundle: context.egressSecrets?.tls.trustBundleFile,
            trustBundleOverSystem: context.trustBundleOverSystem,
          }
        : undefined,
    environment: spec.env ?? {},
    readOnlyMounts: spec.readOnlyMounts,
    command: request.command,
    commandArguments: request.args ?? [],
    workingDirectory: request.cwd ?? '.',
    hostLayout: context.hostLayout,
    features,
    seccomp: context.seccomp,
  });

  await context.workspaceQuotas.prepare(spec.workspaceDir, limits.diskBytes);
  const limitScope = await context.commandLimits.begin(spec.deploymentId, limits);
  const launch = limitScope ? limitScope.wrap(context.bwrapPath, invocation.commandLine) : { file: context.bwrapPath, args: invocation.commandLine };
  const startedAt = performance.now();
  const child = spawn(launch.file, launch.args, {
    stdio: [
      request.stdin === undefined ? 'ignore' : 'pipe',
      'pipe',
      'pipe',
      ...invocation.descriptorContents.map(() => 'pipe' as const),
    ],
    // bwrap itself needs no environment, and --clearenv already hides it from the command. A copy of bwrap is
    // pid 1 in the sandbox, and the command can read its /proc/1/environ: nothing of the server's, not even PWD.
    env: {},
    cwd: '/',
    ...(context.hostUser ? { uid: context.hostUser.uid, gid: context.hostUser.gid } : {}),
  });

  // Errors on input pipes (EPIPE when bwrap refuses to start or the command ignores its input)
  // surface through the exit status and stderr, so they are deliberately swallowed here.
  invocation.descriptorContents.forEach((content, index) => {
    const pipe = child.stdio[3 + index];
    if (pipe && 'end' in pipe) {
      pipe.on('error', () => {});
      pipe.end(content);
    }
  });
  if (request.stdin !== undefined && child.stdin) {
    child.stdin.on('error', () => {});
    child.stdin.end(request.stdin);
  }

  const stdout = createBoundedOutput(limits.maxOutputBytes);
  const stderr = createBoundedOutput(limits.maxOutputBytes);
  child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));

  const kill = (): void => {
    // SIGKILL on bwrap kills pid 1 of the sandbox's pid namespace (--die-with-parent), and the
    // kernel then kills everything else in it.
    child.kill('SIGKILL');
  };
  const deadline = watchCommand({ timeoutMs, signal: request.signal, kill });
  let graceTimer: NodeJS.Timeout | undefined;
  child.on('exit', () => {
    // 'close' waits for every pipe, including the ones that feed bwrap its arguments and files (fd 3 and up).
    // When bwrap is killed before it has read them, nothing ever closes them: destroy them all, or the call
    // never returns (seen when a run was cancelled on a loaded machine).
    graceTimer = setTimeout(() => {
      for (const stream of child.stdio) stream?.destroy();
    }, PIPE_CLOSE_GRACE_MS);
  });

  try {
    const [exitCode, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once('error', (error) => reject(spawnError(error, context.bwrapPath)));
      child.once('close', (code, signalName) => resolve([code, signalName]));
    });
    const kernelLimit = await limitScope?.finish();
    if (deadline.aborted) throw request.signal?.reason ?? new DOMException('The operation was aborted', 'AbortError');
    const result = execResult({ exitCode, signal, timedOut: deadline.timedOut, startedAt, stdout, stderr }, limits, kernelLimit);
    context.logger?.debug(
      {
        deploymentId: spec.deploymentId,
        exitCode,
        signal,
        timedOut: result.timedOut,
        truncated: result.truncated,
        limitExceeded: result.limitExceeded?.limit,
        durationMs: Math.round(result.durationMs * 10) / 10,
      },
      'sandbox command finished',
    );
    return result;
  } finally {
    limitScope?.release();
    deadline.dispose();
    clearTimeout(graceTimer);
    if (child.exitCode === null && child.signalCode === null) kill();
  }
}

function spawnError(error: Error & { code?: string | number | null }, bwrapPath: string): Error {
  if (error.code === 'ENOENT') {
    return new Error(`bubblewrap was not found at ${bwrapPath}; ${INSTALL_HINT}`, { cause: error });
  }
  return new Error(`could not start bubblewrap (${bwrapPath}): ${error.message}`, { cause: error });
}

async function probeFeatures(bwrapPath: string, hostUser: BubblewrapBackendOptions['hostUser']): Promise<BubblewrapFeatures> {
  const output = await new Promise<string>((resolve, reject) => {
    execFile(
      bwrapPath,
      ['--version'],
      { env: {}, timeout: 10_000, ...(hostUser ? { uid: hostUser.uid, gid: hostUser.gid } : {}) },
      (error, stdout) => (error ? reject(spawnError(error, bwrapPath)) : resolve(stdout)),
    );
  });
  const match = /(\d+)\.(\d+)\.(\d+)/.exec(output);
  const major = Number(match?.[1] ?? 0);
  const minor = Number(match?.[2] ?? 0);
  return { disableUserNamespaces: major > 0 || minor >= 8 };
}

async function checkBubblewrap(spec: Pick<SandboxSpec, 'network'> | undefined, sandboxWorks: () => Promise<SandboxCheckResult>): Promise<SandboxCheckResult> {
  // A network allowlist needs socat for the bridge to the egress proxy. The directories of the sandbox's
  // PATH are the host's own, bound read-only, so looking on the host is looking inside.
  if (typeof spec?.network === 'object' && !findOnPath('socat', BASE_ENVIRONMENT['PATH'])) {
    return {
      ok: false,
      field: 'network',
      reason:
        `a network allowlist needs socat inside the sandbox (it bridges to the egress proxy), and this machine has none in ${BASE_ENVIRONMENT['PATH']}: ` +
        'install it with `apt-get install socat` (Debian/Ubuntu) or `dnf install socat` (Fedora)',
    };
  }
  return sandboxWorks();
}

async function checkSandbox(context: SandboxContext): Promise<SandboxCheckResult> {
  try {
    await context.probeFeatures();
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
  // The probe runs a real command through the same code path as every exec, so a pass here means
  // namespaces, mounts and the uid mapping all work on this machine.
  const workspaceDir = await mkdtemp(join(tmpdir(), 'herm-bwrap-check-'));
  try {
    if (context.hostUser) await chown(workspaceDir, context.hostUser.uid, context.hostUser.gid);
    // No control group and no disk quota: the check is about bubblewrap, and must stay cheap.
    const sandbox = openBubblewrapSandbox(
      { deploymentId: 'bubblewrap-check', workspaceDir, limits: { cpus: 0, memoryBytes: 0, maxProcesses: 0, diskBytes: 0 } },
      context,
    );
    const result = await sandbox.exec({ command: 'test -w /workspace', timeoutMs: 10_000 });
    if (result.exitCode === 0) return { ok: true };
    const detail = result.timedOut ? 'timed out' : result.stderr.trim() || `exit code ${result.exitCode}`;
    return {
      ok: false,
      reason:
        `bubblewrap (${context.bwrapPath}) cannot create a sandbox here: ${detail}. ` +
        'It needs user namespaces: check that sysctl user.max_user_namespaces is above 0, ' +
        'kernel.unprivileged_userns_clone is 1 (older Debian), kernel.apparmor_restrict_unprivileged_userns is 0 ' +
        "(Ubuntu ≥ 23.10), and, inside a container, that its seccomp profile allows unshare/clone with namespace flags" +
        (context.hostUser ? `; and that host uid ${context.hostUser.uid} may use them` : ''),
    };
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  } finally {
    await rm(workspaceDir, { recursive: true, force: true });
  }
}

function findOnPath(executable: string, path = process.env['PATH'] ?? ''): string | undefined {
  for (const directory of path.split(delimiter)) {
    if (!directory) continue;
    const candidate = join(directory, executable);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

function assertLimits(limits: SandboxLimits): void {
  if (!(limits.timeoutMs > 0)) throw new RangeError(`limits.timeoutMs must be a positive number, got ${limits.timeoutMs}`);
  if (!Number.isInteger(limits.maxOutputBytes) || limits.maxOutputBytes < 0) {
    throw new RangeError(`limits.maxOutputBytes must be a non-negative integer, got ${limits.maxOutputBytes}`);
  }
}
