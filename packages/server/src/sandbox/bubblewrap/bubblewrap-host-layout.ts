// What of the host's system directories a sandbox gets to see, found once per backend.
// Kept apart from the argument builder so that builder stays a pure function of its input.
import { existsSync, lstatSync, readlinkSync } from 'node:fs';

/** One entry of the host file system made visible read-only inside the sandbox. */
export type SystemMount =
  | { kind: 'bind'; path: string }
  /** Recreated as a symlink with the same target, so nothing beyond the link text is exposed. */
  | { kind: 'symlink'; path: string; target: string };

export interface HostLayout {
  /** /usr and the top-level program and library directories (bin, lib, …), in mount order. */
  system: SystemMount[];
  /** The allow-listed parts of /etc that exist on this host. */
  etc: SystemMount[];
  /** Extra /etc entries used only when the sandbox has network access (DNS resolution). */
  networkEtc: SystemMount[];
}

// Merged-/usr distributions (Debian ≥ 12, Ubuntu, Fedora) make these symlinks into /usr;
// older ones keep them as directories. Either way they are mirrored as the host has them.
const ROOT_PROGRAM_DIRECTORIES = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

// Only what ordinary programs read at start-up. Deliberately absent: shadow, gshadow, ssl/private,
// sudoers, ssh, machine-id, gitconfig, and anything else holding secrets or host identity.
// passwd, group, nsswitch.conf and (offline) hosts are synthesised by the argument builder instead.
// Kept short on purpose: every bind mount costs bwrap a pass over /proc/self/mountinfo (about
// 0.3 ms each here), and this list is paid on every command.
const ETC_ALLOW_LIST = ['/etc/ld.so.cache', '/etc/alternatives', '/etc/localtime', '/etc/os-release', '/etc/mtab'];

// Useful only with network access: name resolution, service names and TLS trust roots.
const NETWORK_ETC_ALLOW_LIST = [
  '/etc/resolv.conf',
  '/etc/hosts',
  '/etc/host.conf',
  '/etc/gai.conf',
  '/etc/services',
  '/etc/protocols',
  '/etc/ssl/certs',
  '/etc/ssl/openssl.cnf',
  '/etc/pki/tls/certs',
  '/etc/pki/ca-trust',
];

/** Reads the host's directory layout. Synchronous and cheap (a few lstat calls); run once per backend. */
export function detectHostLayout(): HostLayout {
  const system: SystemMount[] = [{ kind: 'bind', path: '/usr' }];
  for (const path of ROOT_PROGRAM_DIRECTORIES) {
    const mount = describeHostPath(path);
    if (mount) system.push(mount);
  }
  return {
    system,
    etc: ETC_ALLOW_LIST.map(describeHostPath).filter((mount) => mount !== null),
    // Bound through any symlink: systemd-resolved links resolv.conf into /run, which the sandbox lacks.
    networkEtc: NETWORK_ETC_ALLOW_LIST.filter((path) => existsSync(path)).map((path) => ({ kind: 'bind', path })),
  };
}

function describeHostPath(path: string): SystemMount | null {
  try {
    const stats = lstatSync(path);
    if (stats.isSymbolicLink()) return { kind: 'symlink', path, target: readlinkSync(path) };
    return { kind: 'bind', path };
  } catch {
    return null;
  }
}
