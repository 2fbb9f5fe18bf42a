// The sandbox's side of `sandbox.network.allow`. The sandbox keeps no network of its own (bubblewrap:
// a new network namespace; docker: NetworkMode none), only loopback. The host's egress proxy
// (egress-proxy.ts) listens on a unix socket in a directory bind-mounted read-only into the sandbox, and
// `socat` inside bridges 127.0.0.1:3128 to that socket, so every tool that honours HTTP_PROXY and
// HTTPS_PROXY reaches the allowed hosts and nothing else. Pure functions: the scripts and variables
// both backends add.
import { parseAllowList } from './egress-allowlist.ts';
import { InternalDestinationSet } from './internal-destinations.ts';

/** Where the proxy's socket directory is mounted inside the sandbox. */
export const EGRESS_SOCKET_DIRECTORY = '/run/herm-egress';
/** The proxy's socket, in its directory (on the host and inside). */
export const EGRESS_SOCKET_NAME = 'proxy.sock';
/** The sandbox-local port of the proxy bridge: HTTP_PROXY is http://127.0.0.1:3128. */
export const EGRESS_PROXY_PORT = 3128;

const PROXY_URL = `http://127.0.0.1:${EGRESS_PROXY_PORT}`;

/**
 * The proxy variables a command gets. NO_PROXY keeps the sandbox's own loopback local (a server a
 * command starts and then queries); allowed loopback ports of the host are forwarded onto the same
 * addresses inside (see loopbackForwards), so `curl http://127.0.0.1:8080` reaches the host's port when
 * the allowlist names it.
 */
export const EGRESS_ENVIRONMENT: Readonly<Record<string, string>> = {
  HTTP_PROXY: PROXY_URL,
  HTTPS_PROXY: PROXY_URL,
  ALL_PROXY: PROXY_URL,
  http_proxy: PROXY_URL,
  https_proxy: PROXY_URL,
  all_proxy: PROXY_URL,
  NO_PROXY: 'localhost,127.0.0.1,::1',
  no_proxy: 'localhost,127.0.0.1,::1',
  // Node.js (≥ 24, 22.21) uses these variables for fetch and http only when asked to.
  NODE_USE_ENV_PROXY: '1',
};

export interface LoopbackForward {
  /** The sandbox-local address it listens on (an IPv4 loopback address). */
  address: string;
  port: number;
  /** The host the proxy is asked to CONNECT to: the entry's host, `localhost` or the address. */
  target: string;
}

/**
 * Allowlist entries naming a loopback port of the host (`localhost:8080`, `127.0.0.1:8080`) are also
 * listened on at that address inside the sandbox and tunnelled through the proxy, so the port looks the
 * same from inside as from the host. Ports below 1024 cannot be bound by the sandbox's user, and the
 * bridge's own port is taken: those stay reachable through the proxy only.
 */
export function loopbackForwards(allow: readonly string[]): LoopbackForward[] {
  const forwards = new Map<string, LoopbackForward>();
  for (const entry of parseAllowList(allow)) {
    if (!entry.local || entry.port === undefined || entry.port < 1024 || entry.port === EGRESS_PROXY_PORT) continue;
    const address = entry.kind === 'name' ? '127.0.0.1' : entry.host;
    if (!/^127\.\d+\.\d+\.\d+$/.test(address)) continue;
    const key = `${address}:${entry.port}`;
    if (!forwards.has(key)) forwards.set(key, { address, port: entry.port, target: entry.host });
  }
  return [...forwards.values()];
}

/** The socat command lines of the bridge: the proxy port, then each loopback forward. */
function listenerCommands(allow: readonly string[]): string[] {
  const socket = `${EGRESS_SOCKET_DIRECTORY}/${EGRESS_SOCKET_NAME}`;
  return [
    `socat TCP-LISTEN:${EGRESS_PROXY_PORT},bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:${socket}`,
    ...loopbackForwards(allow).map(
      (forward) =>
        `socat TCP-LISTEN:${forward.port},bind=${forward.address},fork,reuseaddr PROXY:127.0.0.1:${forward.target}:${forward.port},proxyport=${EGRESS_PROXY_PORT}`,
    ),
  ];
}

/** The ports the bridge listens on, as /proc/net/tcp prints them (4 upper-case hex digits). */
function listenerPorts(allow: readonly string[]): string[] {
  const ports = [EGRESS_PROXY_PORT, ...loopbackForwards(allow).map((forward) => forward.port)];
  return [...new Set(ports)].map((port) => port.toString(16).toUpperCase().padStart(4, '0'));
}

// herm_wait_listening PORT… returns once every port (hex) has a listening TCP socket in this network
// namespace (state 0A in /proc/net/tcp), or fails after 2000 tries (5 to 10 seconds). Builtins only,
// besides sleep: socat listens within a few milliseconds, so the first tries are quick.
const WAIT_FOR_LISTENERS = String.raw`herm_wait_listening() {
  herm_tries=0
  while :; do
    herm_open=' '
    while read -r herm_sl herm_local herm_remote herm_state herm_rest; do
      [ "$herm_state" = 0A ] && herm_open="$herm_open${'$'}{herm_local#*:} "
    done < /proc/net/tcp
    herm_ready=1
    for herm_port in "$@"; do
      case "$herm_open" in *" $herm_port "*) ;; *) herm_ready= ;; esac
    done
    [ -n "$herm_ready" ] && return 0
    herm_tries=$((herm_tries + 1))
    [ "$herm_tries" -lt 2000 ] || return 1
    sleep 0.002 2>/dev/null || sleep 1
  done
}`;

const BRIDGE_FAILED_MESSAGE =
  "printf '%s\\n' 'herm: the network proxy bridge (socat) did not start in the sandbox; allowed hosts are unreachable' >&2";

/** Shell lines that wait for the bridge's listeners (a command must not connect before they listen). */
export function buildBridgeWait(allow: readonly string[]): string {
  return `${WAIT_FOR_LISTENERS}\nherm_wait_listening ${listenerPorts(allow).join(' ')} || ${BRIDGE_FAILED_MESSAGE}`;
}

/**
 * bubblewrap: the sandbox's /bin/sh script that starts the bridge in the background, waits for it, then
 * replaces itself with `/bin/sh -c "$1" sh "$2"…` — the command, with its own $0 and arguments. The
 * listeners die with the sandbox's pid namespace when the command ends.
 */
export function buildBridgeCommandScript(allow: readonly string[]): string {
  return [
    ...listenerCommands(allow).map((command) => `${command} </dev/null >/dev/null 2>&1 &`),
    buildBridgeWait(allow),
    'herm_command=$1',
    'shift',
    'exec /bin/sh -c "$herm_command" sh "$@"',
  ].join('\n');
}

/**
 * docker: lines for the container's main process that keep the bridge running for the container's life
 * (restarted a second after it exits, should a command kill it). Each listener is two processes (the
 * loop and socat): see bridgeProcessCount.
 */
export function buildBridgeSupervisor(allow: readonly string[]): string {
  return listenerCommands(allow)
    .map((command) => `while :; do ${command}; sleep 1; done </dev/null >/dev/null 2>&1 &`)
    .join('\n');
}

/** Processes buildBridgeSupervisor keeps running. */
export function bridgeProcessCount(allow: readonly string[]): number {
  return 2 * listenerCommands(allow).length;
}

/** Checks the allowlist of a SandboxSpec; throws a TypeError naming what is wrong. */
export function assertAllowList(allow: unknown): asserts allow is readonly string[] {
  if (!Array.isArray(allow) || !allow.every((entry) => typeof entry === 'string')) {
    throw new TypeError('network.allow must be an array of host names');
  }
  if (allow.length === 0) throw new TypeError('network.allow must name at least one host');
  parseAllowList(allow);
}

/**
 * A SandboxSpec's `network` object, checked (throws a TypeError naming what is wrong) and frozen: the
 * allowlist, and the internal destinations open to the deployment (`host:port`), which travel with it
 * to the egress proxy.
 */
export function checkedEgressNetwork(network: { allow: unknown; internal?: unknown }): Readonly<{ allow: readonly string[]; internal?: readonly string[] }> {
  assertAllowList(network.allow);
  const internal = network.internal;
  if (internal === undefined) return Object.freeze({ allow: Object.freeze([...network.allow]) });
  if (!Array.isArray(internal) || !internal.every((entry) => typeof entry === 'string')) {
    throw new TypeError('network.internal must be an array of host:port');
  }
  new InternalDestinationSet(internal);
  return Object.freeze({ allow: Object.freeze([...network.allow]), internal: Object.freeze([...internal]) });
}
