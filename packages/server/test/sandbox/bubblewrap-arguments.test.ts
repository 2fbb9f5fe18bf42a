import { describe, expect, it } from 'vitest';
import { buildBubblewrapArguments, type BubblewrapArgumentsInput } from '../../src/sandbox/bubblewrap/bubblewrap-arguments.ts';
import type { HostLayout } from '../../src/sandbox/bubblewrap/bubblewrap-host-layout.ts';

const hostLayout: HostLayout = {
  system: [
    { kind: 'bind', path: '/usr' },
    { kind: 'symlink', path: '/bin', target: 'usr/bin' },
  ],
  etc: [{ kind: 'bind', path: '/etc/ld.so.cache' }],
  networkEtc: [{ kind: 'bind', path: '/etc/resolv.conf' }],
};

function build(overrides: Partial<BubblewrapArgumentsInput> = {}) {
  return buildBubblewrapArguments({
    workspaceDir: '/srv/herm/workspaces/dep_1',
    network: false,
    environment: {},
    command: 'echo "$1"',
    commandArguments: ['a b'],
    workingDirectory: '.',
    hostLayout,
    features: { disableUserNamespaces: true },
    ...overrides,
  });
}

/** The values following each occurrence of `option` in the list. */
function valuesOf(options: string[], option: string, count = 1): string[][] {
  const found: string[][] = [];
  options.forEach((value, index) => {
    if (value === option) found.push(options.slice(index + 1, index + 1 + count));
  });
  return found;
}

describe('buildBubblewrapArguments', () => {
  it('puts only the command on the command line and every option on descriptor 3', () => {
    const invocation = build({ environment: { CONNECTOR_TOKEN: 'secret-value' } });
    expect(invocation.commandLine).toEqual(['--args', '3', '--', '/bin/sh', '-c', 'echo "$1"', 'sh', 'a b']);
    expect(invocation.commandLine.join(' ')).not.toContain('secret-value');
    expect(invocation.descriptorContents[0]).toBe(invocation.options.map((option) => `${option}\0`).join(''));
    expect(invocation.descriptorContents[0]).toContain('CONNECTOR_TOKEN\0secret-value\0');
  });

  it('isolates every namespace, runs as uid 1000 with no capabilities, dies with its parent', () => {
    const { options } = build();
    for (const option of ['--unshare-user', '--disable-userns', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-net']) {
      expect(options).toContain(option);
    }
    expect(options).toContain('--die-with-parent');
    expect(options).toContain('--new-session');
    expect(valuesOf(options, '--uid')).toEqual([['1000']]);
    expect(valuesOf(options, '--gid')).toEqual([['1000']]);
    expect(valuesOf(options, '--cap-drop')).toEqual([['ALL']]);
  });

  it('shares the network only when asked, and then adds the resolver files', () => {
    const offline = build({ network: false }).options;
    const online = build({ network: true }).options;
    expect(online).not.toContain('--unshare-net');
    expect(valuesOf(online, '--ro-bind', 2)).toContainEqual(['/etc/resolv.conf', '/etc/resolv.conf']);
    expect(valuesOf(offline, '--ro-bind', 2)).not.toContainEqual(['/etc/resolv.conf', '/etc/resolv.conf']);
  });

  it('leaves out --disable-userns when the installed bwrap lacks it', () => {
    expect(build({ features: { disableUserNamespaces: false } }).options).not.toContain('--disable-userns');
  });

  it('mounts system dirs read-only, the workspace read-write, and makes the root read-only last', () => {
    const { options } = build();
    const readOnly = valuesOf(options, '--ro-bind', 2);
    expect(readOnly).toContainEqual(['/usr', '/usr']);
    expect(readOnly).toContainEqual(['/etc/ld.so.cache', '/etc/ld.so.cache']);
    expect(readOnly).toContainEqual(['/proc/sys', '/proc/sys']);
    expect(valuesOf(options, '--symlink', 2)).toContainEqual(['usr/bin', '/bin']);
    expect(valuesOf(options, '--bind', 2)).toEqual([['/srv/herm/workspaces/dep_1', '/workspace']]);
    expect(options.indexOf('--remount-ro')).toBeGreaterThan(options.lastIndexOf('--bind'));
    expect(options.indexOf('--remount-ro')).toBeGreaterThan(options.lastIndexOf('--file'));
    expect(options.join(' ')).not.toMatch(/shadow/);
  });

  it('synthesises passwd, group, nsswitch.conf and hosts on descriptors 4 onward', () => {
    const invocation = build();
    const files = valuesOf(invocation.options, '--file', 2);
    expect(files.map(([, path]) => path)).toEqual(['/etc/passwd', '/etc/group', '/etc/nsswitch.conf', '/etc/hosts']);
    files.forEach(([descriptor], index) => expect(descriptor).toBe(String(4 + index)));
    // And one more: the empty /proc/cmdline.
    expect(valuesOf(invocation.options, '--ro-bind-data', 2)).toEqual([[String(4 + files.length), '/proc/cmdline']]);
    expect(invocation.descriptorContents).toHaveLength(2 + files.length);
    expect(invocation.descriptorContents[1]).toContain('sandbox:x:1000:1000:sandbox:/workspace:/bin/sh');
    expect(invocation.descriptorContents.at(-1)).toBe('');
  });

  it('loads a seccomp program from the descriptor after the files, when given one', () => {
    const program = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const invocation = build({ seccomp: program });
    const [descriptor] = valuesOf(invocation.options, '--seccomp')[0]!;
    expect(invocation.descriptorContents[Number(descriptor) - 3]).toBe(program);
    expect(invocation.options.indexOf('--seccomp')).toBeGreaterThan(invocation.options.lastIndexOf('--file'));
    expect(build().options).not.toContain('--seccomp');
  });

  it('clears the environment, then sets connector variables, then the fixed ones', () => {
    const { options } = build({ environment: { CONNECTOR_TOKEN: 'x' } });
    const clearIndex = options.indexOf('--clearenv');
    expect(clearIndex).toBeGreaterThan(-1);
    expect(options.indexOf('--setenv')).toBeGreaterThan(clearIndex);
    expect(valuesOf(options, '--setenv', 2)).toEqual([
      ['CONNECTOR_TOKEN', 'x'],
      ['PATH', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      ['HOME', '/workspace'],
      ['LANG', 'C.UTF-8'],
      ['TERM', 'dumb'],
    ]);
  });

  it('resolves the working directory against /workspace', () => {
    expect(valuesOf(build({ workingDirectory: '.' }).options, '--chdir')).toEqual([['/workspace']]);
    expect(valuesOf(build({ workingDirectory: 'src/lib' }).options, '--chdir')).toEqual([['/workspace/src/lib']]);
    expect(valuesOf(build({ workingDirectory: '/tmp' }).options, '--chdir')).toEqual([['/tmp']]);
  });

  it('refuses a NUL that could smuggle an option through descriptor 3', () => {
    expect(() => build({ environment: { TOKEN: 'x\0--bind\0/\0/host' } })).toThrow(/NUL/);
  });
});
