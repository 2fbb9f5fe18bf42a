// The environment variable names a deployment cannot use for its connector secrets: the sandbox sets them
// itself, or its own shell scripts depend on them. One list for every backend and for the Deployments API,
// which refuses such a `secrets` key at create and update (a run would otherwise fail, or silently see
// another value than the secret).
import { BASE_ENVIRONMENT } from './bubblewrap/bubblewrap-arguments.ts';
import { EGRESS_ENVIRONMENT } from './egress/egress-bridge.ts';
import { TRUST_ENVIRONMENT } from './egress/egress-tls.ts';

/**
 * Variables the POSIX shell running every command (`/bin/sh -c`, with the docker backend's wrapper around
 * it) manages itself: it replaces PWD, OLDPWD (the wrapper's `cd`), PPID and IFS with values of its own,
 * and refuses to start at all with an OPTIND that is not a number.
 */
const SHELL_VARIABLES = ['IFS', 'OLDPWD', 'OPTIND', 'PPID', 'PWD'] as const;

/**
 * Every reserved name: the base environment (PATH, HOME, LANG, TERM), the egress proxy variables set when
 * the deployment has a network allowlist (upper and lower case, so a deployment can gain an allowlist
 * later) with the CA bundle variables that come with them (SSL_CERT_FILE, …), and the shell's own variables. Sorted.
 */
export const RESERVED_ENVIRONMENT_NAMES: readonly string[] = Object.freeze(
  [...new Set([...Object.keys(BASE_ENVIRONMENT), ...Object.keys(EGRESS_ENVIRONMENT), ...Object.keys(TRUST_ENVIRONMENT), ...SHELL_VARIABLES])].sort(),
);

/** The sandbox's shell scripts name their variables `herm_…`: an inherited one would be overwritten. */
export const RESERVED_ENVIRONMENT_PREFIX = 'herm_';

const RESERVED = new Set(RESERVED_ENVIRONMENT_NAMES);

export function isReservedEnvironmentName(name: string): boolean {
  return RESERVED.has(name) || name.startsWith(RESERVED_ENVIRONMENT_PREFIX);
}

/** "PATH, HOME, …, and names starting with herm_": for error messages and documentation. */
export function describeReservedEnvironmentNames(): string {
  return `${RESERVED_ENVIRONMENT_NAMES.join(', ')}, and names starting with ${RESERVED_ENVIRONMENT_PREFIX}`;
}
