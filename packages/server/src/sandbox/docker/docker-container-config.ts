// The single place that decides what a docker sandbox looks like: the container a deployment gets and
// the process every command runs as. Pure functions of their input, like bubblewrap-arguments.ts, so
// the isolation policy can be read in one screen and unit-tested without a Docker daemon.
import { posix } from 'node:path';
import { BASE_ENVIRONMENT, SANDBOX_USER } from '../bubblewrap/bubblewrap-arguments.ts';
import { bridgeProcessCount, buildBridgeSupervisor, buildBridgeWait, EGRESS_SOCKET_DIRECTORY } from '../egress/egress-bridge.ts';
import { SANDBOX_TRUST_BUNDLE, SYSTEM_TRUST_BUNDLE } from '../egress/egress-tls.ts';
import { checkReadOnlyMount, WORKSPACE_PATH, type ReadOnlyMount } from '../sandbox.ts';

/**
 * Image references as Docker prints them (`name:tag`, `registry:5000/team/name@sha256:…`, an image
 * id). The reference becomes part of an API path, so `..` and `//` are refused.
 */
export const IMAGE_REFERENCE = /^(?!.*\.\.)(?!.*\/\/)[A-Za-z0-9][A-Za-z0-9._\-/:@]{0,254}$/;

/** Labels on every sandbox container, so an operator (or a restarted server) can find them. */
export const CONTAINER_LABEL = 'herm.sandbox';
export const DEPLOYMENT_LABEL = 'herm.deployment';
/** The network allowlist of a container that has one (comma-separated): part of its identity. */
export const NETWORK_LABEL = 'herm.network.allow';

/**
 * Variables a command would otherwise find in its environment: added by the engine to every process
 * of a container (Docker: HOSTNAME; Podman: `container`) or by the wrapper's own `cd` (OLDPWD). The
 * exec wrapper unsets them, except those the deployment sets itself.
 */
export const DROPPED_VARIABLES = ['HOSTNAME', 'container', 'OLDPWD'] as const;

export interface ContainerConfigInput {
  image: string;
  /** Host directory bind-mounted read-write at /workspace; absent only for the backend's self-check. */
  workspaceDir?: string;
  /** Host directories bind-mounted read-only (SandboxSpec.readOnlyMounts: the deployment's skills at /skills). */
  readOnlyMounts?: readonly ReadOnlyMount[] | undefined;
  network: boolean;
  deploymentId: string;
  /** `uid:gid` the container's processes run as. Never 0. */
  user: string;
  /** The container stops itself (and is removed) after this long without a command: see KEEP_ALIVE_SCRIPT. */
  selfStopSeconds: number;
  /**
   * A network allowlist (`network` false): the host directory of the egress proxy's socket, mounted
   * read-only at /run/herm-egress, and the allowlist, for the bridge the container's main process runs.
   */
  egress?: { socketDirectory: string; allow: readonly string[]; trustBundle?: string | undefined } | undefined;
  /** CPU, memory and process limits of the whole container, shared by its commands. */
  limits?: ContainerLimits;
  /** The engine behind the API (DockerApi.engine); default docker. */
  engine?: 'docker' | 'podman';
}

export interface ContainerLimits {
  cpus?: number | undefined;
  memoryBytes?: number | undefined;
  maxProcesses?: number | undefined;
}

/** The body of `POST /containers/create`. */
export function buildContainerConfig(input: ContainerConfigInput): Record<string, unknown> {
  // Full network wins over an allowlist (the spec cannot ask for both).
  const egress = input.network ? undefined : input.egress;
  return {
    Image: input.image,
    Entrypoint: [
      '/bin/sh',
      '-c',
      egress ? `${buildBridgeSupervisor(egress.allow)}\n${KEEP_ALIVE_SCRIPT}` : KEEP_ALIVE_SCRIPT,
      'herm-keep-alive',
      String(input.selfStopSeconds),
      String(selfStopCheckSeconds(input.selfStopSeconds)),
      // Processes of an idle container: init and this shell (the script's default), and the bridge's.
      ...(egress ? [String(2 + bridgeProcessCount(egress.allow))] : []),
    ],
    Cmd: [],
    User: input.user,
    WorkingDir: WORKSPACE_PATH,
    Env: environmentList(BASE_ENVIRONMENT),
    Hostname: 'sandbox',
    Labels: {
      [CONTAINER_LABEL]: 'docker',
      [DEPLOYMENT_LABEL]: input.deploymentId,
      ...(egress ? { [NETWORK_LABEL]: egress.allow.join(',') } : {}),
    },
    NetworkDisabled: !input.network,
    HostConfig: {
      Mounts: [
        ...(input.workspaceDir ? [{ Type: 'bind', Source: input.workspaceDir, Target: WORKSPACE_PATH, ReadOnly: false }] : []),
        ...(input.readOnlyMounts ?? []).map((mount) => {
          checkReadOnlyMount(mount);
          return { Type: 'bind', Source: mount.hostPath, Target: mount.sandboxPath, ReadOnly: true };
        }),
        // The directory, not the socket: a proxy restarted after idling makes a new socket in it.
        ...(egress ? [{ Type: 'bind', Source: egress.socketDirectory, Target: EGRESS_SOCKET_DIRECTORY, ReadOnly: true }] : []),
        // The system's CAs and the egress proxy's (egress-tls.ts), over the image's bundle.
        ...(egress?.trustBundle
          ? [SANDBOX_TRUST_BUNDLE, SYSTEM_TRUST_BUNDLE].map((target) => ({ Type: 'bind', Source: egress.trustBundle, Target: target, ReadOnly: true }))
          : []),
      ],
      NetworkMode: input.network ? 'bridge' : 'none',
      // No capabilities, no way to gain any (setuid binaries of the image included), and nothing of
      // the image writable: the workspace and a private /tmp are the only writable places.
      CapDrop: ['ALL'],
      // Podman's API ignores MaskedPaths (below) but takes its own mask option.
      SecurityOpt: ['no-new-privileges', ...(input.engine === 'podman' ? [`mask=${MASKED_PATHS.join(':')}`] : [])],
      ReadonlyRootfs: true,
      Tmpfs: { '/tmp': 'rw,nosuid,nodev,mode=1777' },
      // A real init as pid 1 reaps the orphans commands leave behind and forwards the stop signal.
      Init: true,
      // Gone once stopped, whoever stops it: the backend when idle, or the container itself.
      AutoRemove: true,
      IpcMode: 'private',
      // Docker's own list (it is replaced, not added to, when given) plus the host kernel's command line.
      MaskedPaths: MASKED_PATHS,
      Privileged: false,
      RestartPolicy: { Name: 'no' },
      ...containerLimits(input.limits),
    },
  };
}

/** Paths of /proc and /sys a container sees as empty: Docker's defaults and /proc/cmdline (boot parameters of the host). */
export const MASKED_PATHS: readonly string[] = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/cmdline',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

function containerLimits(limits: ContainerLimits | undefined): Record<string, number> {
  const fields: Record<string, number> = {};
  if (limits?.cpus) fields.NanoCpus = Math.round(limits.cpus * 1e9);
  if (limits?.memoryBytes) {
    fields.Memory = limits.memoryBytes;
    // Equal to Memory: no swap on top, so a memory hog is killed instead of slowing the host down.
    fields.MemorySwap = limits.memoryBytes;
  }
  if (limits?.maxProcesses) fields.PidsLimit = limits.maxProcesses;
  return fields;
}

// Shell functions shared by the exec wrapper and the kill script. herm_fields reads field 4 (parent
// pid) and field 22 (start time, clock ticks after boot) of /proc/PID/stat without a fork: `read` and
// parameter expansion are builtins. The command name (field 2) may hold spaces and parentheses, so
// the fields are taken after its last ')'.
//
// herm_kill_tree ROOT START SPARE kills a command's processes: the descendants of its wrapper ROOT,
// and the orphans (re-parented to the container's init, pid 1) that started at or after START —
// background jobs, setsid'd and double-forked daemons. A pid that no longer has START as its start
// time is not the wrapper any more (reused), and then only orphans are looked for. Zombies are skipped:
// they cannot be killed and init reaps them. Rounds repeat until nothing is left, in case a process
// forked while the table was read. The script travels on the command line (visible to `ps`), so it
// carries no comments.
const PROCESS_TABLE_FUNCTIONS = String.raw`
herm_fields() { herm_state=$1 herm_ppid=$2 herm_start=${'$'}{20}; }
herm_kill_tree() {
  herm_round=0
  while [ "$herm_round" -lt 50 ]; do
    herm_round=$((herm_round + 1))
    herm_table=
    for herm_dir in /proc/[0-9]*; do
      { read -r herm_line < "$herm_dir/stat"; } 2>/dev/null || continue
      herm_fields ${'$'}{herm_line##*)}
      [ "$herm_state" = Z ] && continue
      herm_pid=${'$'}{herm_dir#/proc/}
      [ "$herm_pid" = "$1" ] && [ "$herm_start" != "$2" ] && continue
      herm_table="$herm_table $herm_pid:$herm_ppid:$herm_start"
    done
    herm_tree=" $1 "
    herm_victims=
    case "$herm_table" in *" $1:"*) [ "$1" = "$3" ] || herm_victims=" $1" ;; *) herm_tree=" " ;; esac
    herm_grew=1
    while [ -n "$herm_grew" ]; do
      herm_grew=
      for herm_entry in $herm_table; do
        herm_pid=${'$'}{herm_entry%%:*} herm_rest=${'$'}{herm_entry#*:}
        herm_ppid=${'$'}{herm_rest%%:*} herm_start=${'$'}{herm_rest#*:}
        case "$herm_tree" in *" $herm_pid "*) continue ;; esac
        case "$herm_tree" in
          *" $herm_ppid "*) ;;
          *) [ "$herm_ppid" = 1 ] && [ "$herm_start" -ge "$2" ] || continue ;;
        esac
        herm_tree="$herm_tree$herm_pid "
        herm_grew=1
        [ "$herm_pid" = "$3" ] || herm_victims="$herm_victims $herm_pid"
      done
    done
    [ -n "$herm_victims" ] || return 0
    kill -KILL $herm_victims 2>/dev/null
  done
}
`;

/**
 * The container's main process: keeps it alive between commands, and ends it after $1 seconds in which
 * no command ran (checked every $2 seconds: a command is running when the pid namespace holds more than
 * $3 processes — init and this shell, and the egress bridge's if any — or ran since the last check when
 * the wrapper's marker file is newer). The
 * backend removes idle containers itself, much sooner; this is for a server that crashed or was
 * killed, so that it leaves nothing running for long. Builtins only, besides `sleep`.
 */
export const KEEP_ALIVE_SCRIPT = String.raw`herm_limit=$1 herm_every=$2 herm_base=${'$'}{3:-2} herm_idle=0
true 2>/dev/null >/tmp/.herm-seen
while :; do
sleep "$herm_every"
set -- /proc/[0-9]*
if [ "$#" -gt "$herm_base" ] || [ /tmp/.herm-used -nt /tmp/.herm-seen ]; then
herm_idle=0
true 2>/dev/null >/tmp/.herm-seen
else
herm_idle=$((herm_idle + herm_every))
[ "$herm_idle" -lt "$herm_limit" ] || exit 0
fi
done`;

function selfStopCheckSeconds(selfStopSeconds: number): number {
  return Math.min(30, Math.max(1, Math.floor(selfStopSeconds / 10)));
}

/**
 * Runs one command: prints "pid start-time" as the first line of stdout (the backend strips it and
 * uses it to kill the command at its timeout), changes to the working directory, runs the command as
 * `/bin/sh -c command sh args…`, then kills whatever the command left running — as with bubblewrap,
 * where the command's pid namespace dies with it. Arguments: $1 working directory, $2 command, $3… args.
 * With a network allowlist, it first waits for the container's egress bridge to listen.
 */
export function buildExecWrapper(unsetVariables: readonly string[], allow?: readonly string[]): string {
  return [
    PROCESS_TABLE_FUNCTIONS,
    `{ read -r herm_line < /proc/self/stat; } 2>/dev/null; herm_fields ${'$'}{herm_line##*)}; herm_self_start=$herm_start`,
    `printf '%s %s\\n' "$$" "$herm_self_start"`,
    // Tells KEEP_ALIVE_SCRIPT the container is in use; `true`, not `:`, so a failure cannot end the shell.
    'true 2>/dev/null >/tmp/.herm-used',
    ...(allow ? [buildBridgeWait(allow)] : []),
    'cd -- "$1" || exit 1',
    ...(unsetVariables.length > 0 ? [`unset ${unsetVariables.join(' ')}`] : []),
    'herm_command=$2',
    'shift 2',
    // Not `exec`: the wrapper stays, as the root of the command's process tree.
    '/bin/sh -c "$herm_command" sh "$@"',
    'herm_status=$?',
    'herm_kill_tree "$$" "$herm_self_start" "$$"',
    'exit "$herm_status"',
  ].join('\n');
}

/** Kills a running command's processes from a second exec. Arguments: $1 wrapper pid, $2 its start time. */
export const KILL_COMMAND_SCRIPT = `${PROCESS_TABLE_FUNCTIONS}\nherm_kill_tree "$1" "$2" ""\n`;

export interface ExecConfigInput {
  wrapper: string;
  command: string;
  commandArguments: readonly string[];
  /** Relative paths are taken from /workspace. */
  workingDirectory: string;
  /** The deployment's connector variables; names never collide with BASE_ENVIRONMENT. */
  environment: Readonly<Record<string, string>>;
  user: string;
  attachStdin: boolean;
}

/** The body of `POST /containers/{id}/exec`. */
export function buildExecConfig(input: ExecConfigInput): Record<string, unknown> {
  const workingDirectory = posix.resolve(WORKSPACE_PATH, input.workingDirectory);
  const argv = ['/bin/sh', '-c', input.wrapper, 'herm-exec', workingDirectory, input.command, ...input.commandArguments];
  for (const argument of argv) {
    if (argument.includes('\0')) throw new TypeError(`sandbox argument contains a NUL character: ${JSON.stringify(argument)}`);
  }
  return {
    AttachStdin: input.attachStdin,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    User: input.user,
    WorkingDir: WORKSPACE_PATH,
    // Base variables last, so a connector variable can never replace them.
    Env: environmentList({ ...input.environment, ...BASE_ENVIRONMENT }),
    Cmd: argv,
  };
}

/** The body of the exec that kills a timed-out or cancelled command. */
export function buildKillExecConfig(wrapperPid: number, wrapperStart: string, user: string): Record<string, unknown> {
  return {
    AttachStdin: false,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    User: user,
    Env: environmentList(BASE_ENVIRONMENT),
    Cmd: ['/bin/sh', '-c', KILL_COMMAND_SCRIPT, 'herm-kill', String(wrapperPid), wrapperStart],
  };
}

/** The uid:gid the container runs as: the sandbox user, as with bubblewrap. */
export const CONTAINER_USER = `${SANDBOX_USER.uid}:${SANDBOX_USER.gid}`;

function environmentList(variables: Readonly<Record<string, string>>): string[] {
  return Object.entries(variables).map(([name, value]) => `${name}=${value}`);
}
