// The single place that decides what a bubblewrap sandbox looks like. A pure function of its input,
// so the isolation policy can be read in one screen and unit-tested without running bwrap.
import { posix } from 'node:path';
import type { HostLayout, SystemMount } from './bubblewrap-host-layout.ts';
import { buildBridgeCommandScript, EGRESS_ENVIRONMENT, EGRESS_SOCKET_DIRECTORY } from '../egress/egress-bridge.ts';
import { SANDBOX_TRUST_BUNDLE, SYSTEM_TRUST_BUNDLE, TRUST_ENVIRONMENT } from '../egress/egress-tls.ts';
import { checkReadOnlyMount, WORKSPACE_PATH, type ReadOnlyMount } from '../sandbox.ts';

/** The unprivileged identity commands run as inside the sandbox. */
export const SANDBOX_USER = { name: 'sandbox', uid: 1000, gid: 1000 } as const;

/** The only variables a command sees besides the deployment's connector variables. */
export const BASE_ENVIRONMENT: Readonly<Record<string, string>> = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: WORKSPACE_PATH,
  LANG: 'C.UTF-8',
  TERM: 'dumb',
};

/** Options of the installed bwrap that differ between releases. */
export interface BubblewrapFeatures {
  /** `--disable-userns` (bubblewrap ≥ 0.8): the command cannot create nested user namespaces. */
  disableUserNamespaces: boolean;
}

export interface BubblewrapArgumentsInput {
  /** Host directory bound read-write at /workspace. Absolute. */
  workspaceDir: string;
  network: boolean;
  /**
   * An allowlist (`network` false): the host directory of the egress proxy's socket, bound read-only
   * into the sandbox, and the allowlist, whose loopback ports the in-sandbox bridge also forwards.
   */
  egress?:
    | {
        socketDirectory: string;
        allow: readonly string[];
        /** The egress CA bundle (egress-tls.ts): at SANDBOX_TRUST_BUNDLE, and over SYSTEM_TRUST_BUNDLE with `trustBundleOverSystem`. */
        trustBundle?: string | undefined;
        trustBundleOverSystem?: boolean | undefined;
      }
    | undefined;
  /** Connector variables of the deployment; never a reserved name (reserved-environment.ts). */
  environment: Readonly<Record<string, string>>;
  /** Host directories bound read-only (SandboxSpec.readOnlyMounts: the deployment's skills at /skills). */
  readOnlyMounts?: readonly ReadOnlyMount[] | undefined;
  /** Run as `/bin/sh -c command sh ...commandArguments`. */
  command: string;
  commandArguments: readonly string[];
  /** Working directory inside the sandbox; relative paths are taken from /workspace. */
  workingDirectory: string;
  hostLayout: HostLayout;
  features: BubblewrapFeatures;
  /** A seccomp program (seccomp-filter.ts) loaded before the command runs; none when undefined. */
  seccomp?: Buffer | undefined;
}

export interface BubblewrapInvocation {
  /**
   * bwrap's command line. It names only the command: every option travels through descriptor 3
   * (`--args 3`), because a process's command line is readable by every user of the host and the
   * options include the deployment's connector secrets.
   */
  commandLine: string[];
  /**
   * What the caller must write to pipes opened as descriptors 3, 4, 5, …, in order: first the
   * NUL-separated options, then the content of each synthesised file.
   */
  descriptorContents: Array<string | Buffer>;
  /** The options descriptor 3 carries, as a list: for tests and debugging. */
  options: string[];
}

const OPTIONS_FILE_DESCRIPTOR = 3;

export function buildBubblewrapArguments(input: BubblewrapArgumentsInput): BubblewrapInvocation {
  const args: string[] = [];
  const fileContents: Array<string | Buffer> = [];
  /** `option descriptor [path]`, where the descriptor carries `content`. */
  const addDescriptor = (option: string, content: string | Buffer, path?: string): void => {
    args.push(option, String(OPTIONS_FILE_DESCRIPTOR + 1 + fileContents.length), ...(path === undefined ? [] : [path]));
    fileContents.push(content);
  };
  // --file writes into the root tmpfs (made read-only below) instead of adding a bind mount,
  // which is noticeably cheaper for bwrap than --ro-bind-data.
  const addFile = (path: string, content: string): void => addDescriptor('--file', content, path);

  // Lifetime: the sandbox dies with the server, and killing bwrap kills pid 1 of the new pid
  // namespace, which takes every process in it along (background jobs and their children too).
  // A new session keeps commands from injecting input into a controlling terminal (TIOCSTI).
  args.push('--die-with-parent', '--new-session');

  // Namespaces. The user namespace is what makes the uid below unprivileged; nested ones are
  // refused where bwrap can, so a command cannot regain capabilities in a namespace of its own.
  args.push('--unshare-user');
  if (input.features.disableUserNamespaces) args.push('--disable-userns');
  args.push('--unshare-ipc', '--unshare-pid', '--unshare-uts', '--unshare-cgroup-try');
  if (!input.network) args.push('--unshare-net');
  args.push('--hostname', 'sandbox');
  args.push('--uid', String(SANDBOX_USER.uid), '--gid', String(SANDBOX_USER.gid));
  args.push('--cap-drop', 'ALL');

  // File system: read-only system directories, a synthesised /etc, private /proc /dev /tmp,
  // and the workspace. Nothing else of the host exists inside.
  for (const mount of input.hostLayout.system) pushSystemMount(args, mount);
  for (const mount of input.hostLayout.etc) pushSystemMount(args, mount);
  addFile('/etc/passwd', passwdFile());
  addFile('/etc/group', groupFile());
  // The host's may name NSS modules (systemd, sss, ldap) that would look for daemons outside.
  addFile('/etc/nsswitch.conf', 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n');
  if (input.network) {
    for (const mount of input.hostLayout.networkEtc) pushSystemMount(args, mount);
  } else {
    // Through the egress proxy: TLS trust roots and service names, but no resolver (the proxy resolves names).
    for (const mount of input.egress ? input.hostLayout.networkEtc : []) {
      if (mount.path !== '/etc/resolv.conf' && mount.path !== '/etc/hosts') pushSystemMount(args, mount);
    }
    addFile('/etc/hosts', '127.0.0.1\tlocalhost sandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n');
  }
  args.push('--proc', '/proc');
  // bwrap leaves /proc/sys writable when it runs as root (its own check thinks the directory is
  // already read-only); there, a command would be host root to the sysctl permission checks.
  args.push('--ro-bind', '/proc/sys', '/proc/sys');
  // The host kernel's command line (boot parameters, sometimes root= paths and tokens) is the host's business.
  addDescriptor('--ro-bind-data', '', '/proc/cmdline');
  args.push('--dev', '/dev');
  args.push('--tmpfs', '/tmp');
  args.push('--bind', input.workspaceDir, WORKSPACE_PATH);
  for (const mount of input.readOnlyMounts ?? []) {
    checkReadOnlyMount(mount);
    args.push('--ro-bind', mount.hostPath, mount.sandboxPath);
  }
  // Read-only: the command can connect to the proxy's socket, not replace it.
  if (input.egress && !input.network) args.push('--ro-bind', input.egress.socketDirectory, EGRESS_SOCKET_DIRECTORY);
  // The system's CAs and the egress proxy's (egress-tls.ts), over the system bundle: TLS to hosts a secret is bound to.
  const trustBundle = input.egress && !input.network ? input.egress.trustBundle : undefined;
  if (trustBundle) args.push('--ro-bind', trustBundle, SANDBOX_TRUST_BUNDLE);
  if (trustBundle && input.egress?.trustBundleOverSystem) args.push('--ro-bind', trustBundle, SYSTEM_TRUST_BUNDLE);
  // bwrap builds the root on a writable tmpfs; without this, / and /etc would accept new files.
  args.push('--remount-ro', '/');
  args.push('--chdir', posix.resolve(WORKSPACE_PATH, input.workingDirectory));

  // Setuid and setgid bits are refused in the sandbox (see seccomp-filter.ts).
  if (input.seccomp) addDescriptor('--seccomp', input.seccomp);

  args.push('--clearenv');
  for (const [name, value] of Object.entries(input.environment)) args.push('--setenv', name, value);
  if (input.egress && !input.network) for (const [name, value] of Object.entries(EGRESS_ENVIRONMENT)) args.push('--setenv', name, value);
  if (trustBundle) for (const [name, value] of Object.entries(TRUST_ENVIRONMENT)) args.push('--setenv', name, value);
  // Set last so a connector variable can never replace them.
  for (const [name, value] of Object.entries(BASE_ENVIRONMENT)) args.push('--setenv', name, value);

  // NUL separates options on descriptor 3, so one inside a value could smuggle in another option.
  for (const argument of args) {
    if (argument.includes('\0')) throw new TypeError(`sandbox argument contains a NUL character: ${JSON.stringify(argument)}`);
  }
  // `sh` becomes $0, so the caller's arguments are $1, $2, … and are never parsed by a shell.
  // With an allowlist, a script first starts the proxy bridge, then execs the same `/bin/sh -c command sh …`.
  const shell =
    input.egress && !input.network
      ? ['/bin/sh', '-c', buildBridgeCommandScript(input.egress.allow), 'herm-egress', input.command]
      : ['/bin/sh', '-c', input.command, 'sh'];
  const commandLine = ['--args', String(OPTIONS_FILE_DESCRIPTOR), '--', ...shell, ...input.commandArguments];
  return { commandLine, descriptorContents: [args.map((argument) => `${argument}\0`).join(''), ...fileContents], options: args };
}

function pushSystemMount(args: string[], mount: SystemMount): void {
  if (mount.kind === 'symlink') args.push('--symlink', mount.target, mount.path);
  else args.push('--ro-bind', mount.path, mount.path);
}

// Inside the user namespace only the sandbox uid is mapped; the other entries just give names to
// ids that programs print (root-owned files show as the sandbox user or as nobody).
function passwdFile(): string {
  return [
    'root:x:0:0:root:/root:/usr/sbin/nologin',
    `${SANDBOX_USER.name}:x:${SANDBOX_USER.uid}:${SANDBOX_USER.gid}:sandbox:${WORKSPACE_PATH}:/bin/sh`,
    'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
    '',
  ].join('\n');
}

function groupFile(): string {
  return ['root:x:0:', `${SANDBOX_USER.name}:x:${SANDBOX_USER.gid}:`, 'nogroup:x:65534:', ''].join('\n');
}
