// The docker sandbox backend: a deployment's commands run in a container of its own, reached through
// the Docker Engine API (Docker, or Podman's compatible service). The container starts on first use
// and is removed after an idle period; each command is a Docker exec in it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { createBoundedOutput } from '../bounded-output.ts';
import { watchCommand } from '../command-deadline.ts';
import { SANDBOX_USER } from '../bubblewrap/bubblewrap-arguments.ts';
import type { SandboxLogger } from '../bubblewrap/bubblewrap.ts';
import { createDockerApi, describeEndpoint, DockerApiError, type DockerApi } from './docker-api.ts';
import {
  buildExecConfig,
  buildExecWrapper,
  buildKillExecConfig,
  DROPPED_VARIABLES,
  IMAGE_REFERENCE,
} from './docker-container-config.ts';
import { DockerContainerPool, type ContainerKey, type ContainerLease, type ContainerPoolLogger } from './docker-container-pool.ts';
import { createMultiplexedStreamParser } from './docker-multiplexed-stream.ts';
import { countersOfProcess, type CgroupCounters } from '../limits/cgroups.ts';
import { execResult, limitExceeded } from '../limits/command-limits.ts';
import { createWorkspaceQuotas, type WorkspaceQuotas } from '../limits/workspace-quotas.ts';
import { checkedEgressNetwork, EGRESS_ENVIRONMENT } from '../egress/egress-bridge.ts';
import { createEgressProxies, type EgressProxies } from '../egress/egress-proxy.ts';
import type { EgressSecrets } from '../egress/egress-secrets.ts';
import { TRUST_ENVIRONMENT } from '../egress/egress-tls.ts';
import { isReservedEnvironmentName } from '../reserved-environment.ts';
import {
  effectiveLimits,
  type ExecRequest,
  type ExecResult,
  type LimitExceeded,
  type Sandbox,
  type SandboxBackend,
  type SandboxCheckResult,
  type SandboxLimits,
  type SandboxSpec,
} from '../sandbox.ts';

export const DEFAULT_DOCKER_IMAGE = 'herm-sandbox:latest';

export interface DockerBackendOptions {
  limits: SandboxLimits;
  /** The Docker Engine API: `unix:///path` or `tcp://host:port`. Default unix:///var/run/docker.sock. */
  dockerHost?: string;
  /** Image of deployments whose spec names none. Never pulled: it must be on the Docker host. */
  image?: string;
  /** A deployment's container is removed after this long without a command. Default 5 minutes. */
  idleMs?: number;
  /**
   * A container that ran no command for this long stops (and is removed) by itself, even when no
   * server is left to remove it: a crashed server leaves nothing running for long. Default: twice
   * idleMs, and at least idleMs + 1 minute, so a live server always removes its containers first.
   */
  selfStopMs?: number;
  logger?: SandboxLogger & Partial<ContainerPoolLogger>;
  /** Disk quotas of workspaces; default: the backend's own. */
  workspaceQuotas?: WorkspaceQuotas;
  /** Connector secrets the egress proxy puts into requests to their hosts (egress-secrets.ts); none without it. */
  egressSecrets?: EgressSecrets;
}

export interface DockerBackend extends SandboxBackend {
  readonly type: 'docker';
  /** Where the Docker Engine API was looked for, e.g. `unix:///var/run/docker.sock`. */
  readonly endpoint: string;
  /** The image used when a spec names none. */
  readonly defaultImage: string;
  /** Containers currently held (running or starting). */
  readonly containerCount: number;
  discard(deploymentId: string): Promise<void>;
  discardWorkspace(workspaceDir: string): Promise<void>;
  /** Removes every container this backend started. */
  close(): Promise<void>;
}

const ENVIRONMENT_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DEFAULT_IDLE_MS = 5 * 60_000;
// Exit code of the self-check command when the image lacks socat.
const SOCAT_MISSING = 97;
const PING_TIMEOUT_MS = 3_000;
// After the kill exec, the command's output pipes close at once; these bound the wait if the
// container is wedged, and then the container is removed instead.
const KILL_EXEC_TIMEOUT_MS = 10_000;
const STREAM_CLOSE_GRACE_MS = 5_000;
const EXIT_CODE_WAIT_MS = 5_000;

const DOCKER_HOST_HINT =
  'set DOCKER_HOST to the API socket of Docker or Podman (for Podman: `podman system service --time=0 unix:///run/herm-podman.sock` ' +
  'and DOCKER_HOST=unix:///run/herm-podman.sock)';

export function createDockerBackend(options: DockerBackendOptions): DockerBackend {
  assertLimits(options.limits);
  const api = createDockerApi(options.dockerHost);
  const isRoot = process.getuid?.() === 0;
  // As root, the sandbox user (as with bubblewrap) owns the workspaces. Otherwise the server's own
  // (non-root) uid runs the commands, so the workspace stays the server's to read and delete.
  const serverUid = process.getuid?.();
  const user =
    isRoot || serverUid === undefined ? `${SANDBOX_USER.uid}:${SANDBOX_USER.gid}` : `${serverUid}:${process.getgid?.() ?? serverUid}`;
  const idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
  const pool = new DockerContainerPool({
    api,
    idleMs,
    selfStopMs: options.selfStopMs ?? Math.max(2 * idleMs, idleMs + 60_000),
    user,
    ...(isRoot ? { workspaceOwner: { uid: SANDBOX_USER.uid, gid: SANDBOX_USER.gid } } : {}),
    ...(options.logger ? { logger: withInfo(options.logger) } : {}),
  });
  const context: DockerContext = {
    ...options,
    api,
    pool,
    user,
    image: options.image ?? DEFAULT_DOCKER_IMAGE,
    verifiedImages: new Map(),
    containerCounters: new Map(),
    workspaceQuotas: options.workspaceQuotas ?? createWorkspaceQuotas(options.logger ? { logger: options.logger } : {}),
    // The egress proxies of deployments with a network allowlist, started on their first command.
    egressProxies: createEgressProxies({
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.egressSecrets ? { secrets: options.egressSecrets } : {}),
    }),
  };
  return {
    type: 'docker',
    endpoint: describeEndpoint(api.endpoint),
    defaultImage: context.image,
    get containerCount() {
      return pool.size;
    },
    check: (spec) => checkDocker(context, spec?.image ?? context.image, typeof spec?.network === 'object'),
    open: (spec) => openDockerSandbox(spec, context),
    async discard(deploymentId) {
      await pool.discardDeployment(deploymentId);
      await context.egressProxies.discard(deploymentId);
    },
    discardWorkspace: (workspaceDir) => pool.discardWorkspace(workspaceDir),
    async close() {
      await pool.close();
      await context.egressProxies.close();
      api.close();
      if (!options.workspaceQuotas) await context.workspaceQuotas.close();
    },
  };
}

interface DockerContext extends DockerBackendOptions {
  api: DockerApi;
  pool: DockerContainerPool;
  user: string;
  image: string;
  /** Images a container was started from and ran a command in: checked once per backend. */
  verifiedImages: Map<string, Promise<SandboxCheckResult>>;
  /** Readers of each container's memory and process limit counters, by container id (see limitHit). */
  containerCounters: Map<string, Promise<(() => Promise<CgroupCounters>) | undefined>>;
  workspaceQuotas: WorkspaceQuotas;
  egressProxies: EgressProxies;
}

function openDockerSandbox(spec: SandboxSpec, context: DockerContext): Sandbox {
  if (!isAbsolute(spec.workspaceDir)) {
    throw new TypeError(`workspaceDir must be an absolute path, got ${JSON.stringify(spec.workspaceDir)}`);
  }
  if (spec.image !== undefined && !IMAGE_REFERENCE.test(spec.image)) throw new TypeError(`image: ${JSON.stringify(spec.image)} is not an image reference`);
  for (const [name, value] of Object.entries(spec.env ?? {})) {
    if (!ENVIRONMENT_NAME.test(name)) throw new TypeError(`env: ${JSON.stringify(name)} is not a valid variable name`);
    if (isReservedEnvironmentName(name)) throw new TypeError(`env: ${name} is reserved by the sandbox and cannot be set`);
    if (value.includes('\0')) throw new TypeError(`env: the value of ${name} contains a NUL character`);
  }
  const network = typeof spec.network === 'object' ? checkedEgressNetwork(spec.network) : undefined;
  const allow = network?.allow;
  const frozenSpec: SandboxSpec = Object.freeze({ ...spec, env: Object.freeze({ ...spec.env }), ...(network ? { network } : {}) });
  const limits = effectiveLimits(context.limits, spec);
  // With an allowlist, the proxy variables come after the connector variables, so they always point at the bridge.
  const trustBundle = allow ? context.egressSecrets?.tls.trustBundleFile : undefined;
  const environment = allow ? { ...frozenSpec.env, ...EGRESS_ENVIRONMENT, ...(trustBundle ? TRUST_ENVIRONMENT : {}) } : (frozenSpec.env ?? {});
  const wrapper = buildExecWrapper(
    DROPPED_VARIABLES.filter((name) => !(name in environment)),
    allow,
  );
  const key: ContainerKey = {
    deploymentId: spec.deploymentId,
    image: spec.image ?? context.image,
    network: spec.network === true,
    workspaceDir: spec.workspaceDir,
    ...(spec.readOnlyMounts?.length ? { readOnlyMounts: spec.readOnlyMounts } : {}),
    limits: { cpus: limits.cpus, memoryBytes: limits.memoryBytes, maxProcesses: limits.maxProcesses },
  };
  return {
    spec: frozenSpec,
    exec: async (request) => {
      if (!allow) return execInContainer(key, environment, wrapper, request, { ...context, limits });
      // The deployment's egress proxy runs at least as long as the command (and idles out after); its
      // socket directory is part of the container's identity, so a changed allowlist gets a new container.
      request.signal?.throwIfAborted();
      const egress = await context.egressProxies.acquire(spec.deploymentId, allow, network?.internal);
      try {
        const egressKey: ContainerKey = { ...key, egress: { socketDirectory: egress.socketDirectory, allow, ...(trustBundle ? { trustBundle } : {}) } };
        return await execInContainer(egressKey, environment, wrapper, request, { ...context, limits });
      } finally {
        egress.release();
      }
    },
  };
}

async function execInContainer(
  key: ContainerKey,
  environment: Readonly<Record<string, string>>,
  wrapper: string,
  request: ExecRequest,
  context: DockerContext,
): Promise<ExecResult> {
  request.signal?.throwIfAborted();
  const timeoutMs = request.timeoutMs ?? context.limits.timeoutMs;
  if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be a positive number, got ${timeoutMs}`);
  const execConfig = buildExecConfig({
    wrapper,
    command: request.command,
    commandArguments: request.args ?? [],
    workingDirectory: request.cwd ?? '.',
    environment,
    user: context.user,
    attachStdin: request.stdin !== undefined,
  });
  // The container binds the workspace directory: when a quota turned it into a mounted file system (or
  // back), containers holding the old directory are replaced.
  if (key.workspaceDir && (await context.workspaceQuotas.prepare(key.workspaceDir, context.limits.diskBytes))) {
    // Only those: another thread's session workspace (persistent_filesystem false) has containers of its own.
    await context.pool.discardWorkspace(key.workspaceDir);
  }
  // A container removed or stopped behind our back (by an operator, a restarted daemon, its own processes
  // killing its keep-alive) is started again once.
  for (let attempt = 1; ; attempt++) {
    const lease = await context.pool.acquire(key);
    try {
      request.signal?.throwIfAborted();
      return await runExec(lease, execConfig, key, request, timeoutMs, context);
    } catch (error) {
      if (!containerNotRunning(error) || attempt > 1) throw error;
      await lease.discard();
    } finally {
      lease.release();
    }
  }
}

/**
 * The container is gone or not running: Docker answers 404 or 409; Podman answers an exec into a stopped
 * container (before AutoRemove has removed it) with a 500 naming its "container state improper" error.
 */
function containerNotRunning(error: unknown): boolean {
  if (!(error instanceof DockerApiError)) return false;
  return error.status === 404 || error.status === 409 || (error.status === 500 && /container state improper/i.test(error.message));
}

async function runExec(
  lease: ContainerLease,
  execConfig: Record<string, unknown>,
  key: ContainerKey,
  request: Pick<ExecRequest, 'stdin' | 'signal'>,
  timeoutMs: number,
  context: DockerContext,
): Promise<ExecResult> {
  const { api } = context;
  const readCounters = key.limits?.memoryBytes || key.limits?.maxProcesses ? await containerCounters(lease.id, context) : undefined;
  const countersBefore = await readCounters?.().catch(() => undefined);
  request.signal?.throwIfAborted();
  const startedAt = performance.now();
  const { Id: execId } = await api.request<{ Id: string }>('POST', `/containers/${lease.id}/exec`, execConfig);
  const stream = await api.hijack(`/exec/${execId}/start`, { Detach: false, Tty: false });

  const stdout = createBoundedOutput(context.limits.maxOutputBytes);
  const stderr = createBoundedOutput(context.limits.maxOutputBytes);
  // The wrapper's first stdout line is "pid start-time", for the kill exec; it is not the command's.
  let header: Buffer | undefined = Buffer.alloc(0);
  let wrapperProcess: { pid: number; start: string } | undefined;
  const parser = createMultiplexedStreamParser((type, payload) => {
    if (type === 'stderr') return stderr.push(payload);
    if (type !== 'stdout') return;
    if (header === undefined) return stdout.push(payload);
    const newline = payload.indexOf(0x0a);
    if (newline === -1) {
      header = Buffer.concat([header, payload]);
      return;
    }
    const [pid, start] = Buffer.concat([header, payload.subarray(0, newline)]).toString('latin1').split(' ');
    header = undefined;
    if (pid && start && /^\d+$/.test(pid) && /^\d+$/.test(start)) wrapperProcess = { pid: Number(pid), start };
    if (newline + 1 < payload.length) stdout.push(payload.subarray(newline + 1));
  });

  let streamError: Error | undefined;
  const ended = new Promise<void>((resolve) => {
    stream.on('data', (chunk: Buffer) => {
      try {
        parser.push(chunk);
      } catch (error) {
        streamError = error as Error;
        stream.destroy();
      }
    });
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', (error) => {
      streamError ??= error;
      resolve();
    });
  });
  stream.on('error', () => {});
  if (request.stdin !== undefined) stream.end(typeof request.stdin === 'string' ? request.stdin : Buffer.from(request.stdin));

  let killing: Promise<void> | undefined;
  const kill = (): void => {
    killing ??= killCommand(lease, wrapperProcess, ended, context).catch((error: unknown) => {
      context.logger?.warn({ err: error, deploymentId: key.deploymentId }, 'could not kill a sandbox command');
    });
  };
  const deadline = watchCommand({ timeoutMs, signal: request.signal, kill });

  try {
    await ended;
    await killing;
    const { timedOut } = deadline;
    if (deadline.aborted) throw request.signal?.reason ?? new DOMException('The operation was aborted', 'AbortError');
    if (streamError && !timedOut) throw new Error(`lost the command's output stream from the Docker API: ${streamError.message}`, { cause: streamError });
    const exitCode = timedOut ? null : await waitForExitCode(api, execId);
    const kernelLimit = countersBefore && readCounters ? await limitHit(countersBefore, readCounters, context.limits) : undefined;
    const result = execResult({ exitCode, signal: timedOut ? 'SIGKILL' : null, timedOut, startedAt, stdout, stderr }, context.limits, kernelLimit);
    context.logger?.debug(
      {
        deploymentId: key.deploymentId,
        exitCode,
        signal: result.signal,
        timedOut,
        truncated: result.truncated,
        durationMs: Math.round(result.durationMs * 10) / 10,
      },
      'sandbox command finished',
    );
    return result;
  } finally {
    deadline.dispose();
    stream.destroy();
  }
}

/**
 * The container's memory and pids counters, read from the host's cgroup file system through its init
 * process: cheap enough to read around every command. Undefined when the Docker host is another
 * machine (or hides its processes); limits are still enforced then, only not named in the result.
 */
function containerCounters(containerId: string, context: DockerContext): Promise<(() => Promise<CgroupCounters>) | undefined> {
  let reader = context.containerCounters.get(containerId);
  if (!reader) {
    if (context.containerCounters.size >= 10_000) context.containerCounters.clear();
    reader = context.api
      .request<{ State?: { Pid?: number } }>('GET', `/containers/${containerId}/json`)
      .then((inspected) => (inspected.State?.Pid ? countersOfProcess(inspected.State.Pid) : undefined))
      .catch(() => undefined);
    context.containerCounters.set(containerId, reader);
  }
  return reader;
}

async function limitHit(before: CgroupCounters, read: () => Promise<CgroupCounters>, limits: SandboxLimits): Promise<LimitExceeded | undefined> {
  const after = await read().catch(() => undefined);
  if (!after) return undefined;
  if (after.oomKills > before.oomKills) return limitExceeded('memory', limits);
  if (after.forksRefused > before.forksRefused) return limitExceeded('processes', limits);
  return undefined;
}

/**
 * Kills a running command and everything it started, from a second exec in the same container.
 * If that cannot be done (the wrapper never reported its pid, or the container is wedged), the
 * container itself is removed: the next command gets a new one, with the same workspace.
 */
async function killCommand(
  lease: ContainerLease,
  wrapperProcess: { pid: number; start: string } | undefined,
  ended: Promise<void>,
  context: DockerContext,
): Promise<void> {
  const { api } = context;
  if (wrapperProcess) {
    try {
      const { Id } = await api.request<{ Id: string }>(
        'POST',
        `/containers/${lease.id}/exec`,
        buildKillExecConfig(wrapperProcess.pid, wrapperProcess.start, context.user),
        { timeoutMs: KILL_EXEC_TIMEOUT_MS },
      );
      const killer = await api.hijack(`/exec/${Id}/start`, { Detach: false, Tty: false }, { timeoutMs: KILL_EXEC_TIMEOUT_MS });
      killer.resume();
      await Promise.race([new Promise((resolve) => killer.once('close', resolve)), delay(KILL_EXEC_TIMEOUT_MS)]);
      killer.destroy();
    } catch (error) {
      context.logger?.warn({ err: error, container: lease.name }, 'the kill exec failed; removing the container');
    }
    if (await settlesWithin(ended, STREAM_CLOSE_GRACE_MS)) return;
  }
  await lease.discard();
}

async function waitForExitCode(api: DockerApi, execId: string): Promise<number | null> {
  const deadline = performance.now() + EXIT_CODE_WAIT_MS;
  for (;;) {
    const inspected = await api.request<{ Running?: boolean; ExitCode?: number | null }>('GET', `/exec/${execId}/json`);
    if (!inspected.Running || performance.now() > deadline) return typeof inspected.ExitCode === 'number' ? inspected.ExitCode : null;
    await delay(5);
  }
}

async function checkDocker(context: DockerContext, image: string, needsSocat = false): Promise<SandboxCheckResult> {
  const endpoint = describeEndpoint(context.api.endpoint);
  if (!IMAGE_REFERENCE.test(image)) return { ok: false, field: 'image', reason: `${JSON.stringify(image)} is not an image reference` };
  try {
    // Not /version: Podman answers it by running its runtimes, which takes a good part of a second.
    await context.api.request('GET', '/_ping', undefined, { timeoutMs: PING_TIMEOUT_MS });
  } catch (error) {
    return { ok: false, reason: `cannot reach the Docker Engine API at ${endpoint} (${(error as Error).message}); ${DOCKER_HOST_HINT}` };
  }
  try {
    await context.api.request('GET', `/images/${image}/json`, undefined, { timeoutMs: PING_TIMEOUT_MS });
  } catch (error) {
    if (error instanceof DockerApiError && error.status === 404) {
      return {
        ok: false,
        field: 'image',
        reason:
          `the image ${image} is not on the Docker host (${endpoint}); Herm never pulls images: ` +
          `build one with scripts/build-sandbox-image.sh ${image}`,
      };
    }
    return { ok: false, reason: `could not inspect the image ${image} on ${endpoint}: ${(error as Error).message}` };
  }
  const checked = needsSocat ? `${image} with socat` : image;
  let verified = context.verifiedImages.get(checked);
  if (!verified) {
    verified = runSelfCheck(context, image, needsSocat);
    context.verifiedImages.set(checked, verified);
    // A failure is tried again next time, in case the host gets fixed meanwhile. (runSelfCheck answers its
    // failures; a rejection all the same is the caller's, through `verified`, and forgets the result too.)
    const forget = () => {
      if (context.verifiedImages.get(checked) === verified) context.verifiedImages.delete(checked);
    };
    verified.then((result) => {
      if (!result.ok) forget();
    }, forget);
  }
  return verified;
}

/**
 * Starts a container from `image` with the sandbox's settings and runs a command in it, once per image. Never
 * rejects: every failure, the temporary workspace's and the clean-up's included, is an answer.
 */
async function runSelfCheck(context: DockerContext, image: string, needsSocat: boolean): Promise<SandboxCheckResult> {
  const deploymentId = `check-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  let workspaceDir: string | undefined;
  let lease: ContainerLease | undefined;
  try {
    // A workspace can only be mounted from this machine when the daemon runs on it too.
    if (context.api.endpoint.kind === 'unix') workspaceDir = await mkdtemp(join(tmpdir(), 'herm-docker-check-'));
    const key: ContainerKey = { deploymentId, image, network: false, ...(workspaceDir ? { workspaceDir } : {}) };
    lease = await context.pool.acquire(key);
    const execConfig = buildExecConfig({
      wrapper: buildExecWrapper(DROPPED_VARIABLES),
      // A network allowlist needs socat in the image too, for the bridge to the egress proxy.
      command: `${workspaceDir ? 'test -w /workspace' : 'true'}${needsSocat ? ` || exit 1; command -v socat >/dev/null 2>&1 || exit ${SOCAT_MISSING}` : ''}`,
      commandArguments: [],
      workingDirectory: '.',
      environment: {},
      user: context.user,
      attachStdin: false,
    });
    const result = await runExec(lease, execConfig, key, {}, 20_000, context);
    if (result.exitCode === 0) return { ok: true };
    if (needsSocat && result.exitCode === SOCAT_MISSING) {
      return {
        ok: false,
        field: 'network',
        reason:
          `the image ${image} has no socat, which a network allowlist needs inside the sandbox (it bridges to the egress proxy): ` +
          'add it to the image, or rebuild it with scripts/build-sandbox-image.sh on a machine with socat (apt-get install socat)',
      };
    }
    const detail = result.timedOut ? 'timed out' : result.stderr.trim() || `exit code ${result.exitCode}`;
    return { ok: false, reason: `a sandbox container from ${image} cannot run commands: ${detail} (the image needs /bin/sh)` };
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  } finally {
    await lease?.discard().catch((error: unknown) => context.logger?.warn({ err: error, image }, 'could not remove the self-check container'));
    lease?.release();
    if (workspaceDir) {
      await rm(workspaceDir, { recursive: true, force: true }).catch((error: unknown) =>
        context.logger?.warn({ err: error, workspaceDir }, 'could not remove the self-check workspace'),
      );
    }
  }
}

function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return Promise.race([promise.then(() => true), delay(ms).then(() => false)]);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function withInfo(logger: SandboxLogger & Partial<ContainerPoolLogger>): ContainerPoolLogger {
  return {
    debug: (fields, message) => logger.debug(fields, message),
    info: (fields, message) => (logger.info ? logger.info(fields, message) : logger.debug(fields, message)),
    warn: (fields, message) => logger.warn(fields, message),
  };
}

function assertLimits(limits: SandboxLimits): void {
  if (!(limits.timeoutMs > 0)) throw new RangeError(`limits.timeoutMs must be a positive number, got ${limits.timeoutMs}`);
  if (!Number.isInteger(limits.maxOutputBytes) || limits.maxOutputBytes < 0) {
    throw new RangeError(`limits.maxOutputBytes must be a non-negative integer, got ${limits.maxOutputBytes}`);
  }
}
