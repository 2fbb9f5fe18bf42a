// What ./herm sets up before the server starts: bubblewrap and socat (sandbox-tools.sh), and Node (env.sh) —
// each run in a shell whose PATH holds only stand-ins, so the decision is tested without installing anything.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/child-server.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** A bin directory with the real bash and dirname, and stand-ins: `uid` for id -u, the named package managers. */
function fakeBin(options: { uid: number; packageManagers?: string[]; present?: string[] }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-bin-'));
  dirs.push(dir);
  for (const tool of ['bash', 'dirname']) {
    const found = spawnSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
    fs.symlinkSync(found, path.join(dir, tool));
  }
  const stub = (name: string, body: string) => fs.writeFileSync(path.join(dir, name), `#!${path.join(dir, 'bash')}\n${body}\n`, { mode: 0o755 });
  stub('id', `echo ${options.uid}`);
  for (const name of [...(options.packageManagers ?? []), ...(options.present ?? [])]) stub(name, 'exit 0');
  return dir;
}

function sandboxTools(bin: string, env: Record<string, string> = {}) {
  return spawnSync(path.join(bin, 'bash'), ['--norc', '--noprofile', '-c', `source "${REPO_ROOT}/scripts/sandbox-tools.sh"; herm_sandbox_tools`], {
    env: { PATH: bin, HERM_SANDBOX_INSTALL: 'dry-run', ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

describe('./herm serve: bubblewrap and socat', () => {
  it('as root, installs them with the package manager it finds', () => {
    for (const [manager, command] of [
      ['apt-get', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap socat'],
      ['dnf', 'dnf install -y -q bubblewrap socat'],
      ['apk', 'apk add --no-cache bubblewrap socat'],
    ] as const) {
      const result = sandboxTools(fakeBin({ uid: 0, packageManagers: [manager] }));
      expect(result.status).toBe(0);
      expect(result.stderr).toBe(`herm: would install bubblewrap socat: ${command}\n`);
    }
    // Only what is missing.
    const onlySocat = sandboxTools(fakeBin({ uid: 0, packageManagers: ['apt-get'], present: ['bwrap'] }));
    expect(onlySocat.stderr).toBe('herm: would install socat: apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq socat\n');
  });

  it('otherwise says the exact command in one line, and what is refused until then', () => {
    const user = sandboxTools(fakeBin({ uid: 1000, packageManagers: ['dnf'] }));
    expect(user.status).toBe(0);
    const lines = user.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('bubblewrap (bwrap) is not installed: deployments on the bubblewrap sandbox are refused (status error)');
    expect(lines[0]).toContain('Install: sudo dnf install -y bubblewrap socat');
    expect(lines[0]).toContain('HERM_ALLOW_UNSANDBOXED=true');
    // HERM_SANDBOX_INSTALL=no: never installs, even as root.
    const optedOut = sandboxTools(fakeBin({ uid: 0, packageManagers: ['apt-get'] }), { HERM_SANDBOX_INSTALL: 'no' });
    expect(optedOut.stderr).toContain('Install: apt-get install -y bubblewrap socat');
    expect(optedOut.stderr).not.toContain('would install');
    const socatOnly = sandboxTools(fakeBin({ uid: 1000, packageManagers: ['apk'], present: ['bwrap'] }));
    expect(socatOnly.stderr).toContain('socat is not installed');
    expect(socatOnly.stderr).toContain('Install: sudo apk add socat');
  });

  it('says nothing when both are there, or when docker is the sandbox', () => {
    expect(sandboxTools(fakeBin({ uid: 1000, present: ['bwrap', 'socat'] })).stderr).toBe('');
    expect(sandboxTools(fakeBin({ uid: 1000 }), { HERM_SANDBOX: 'docker' }).stderr).toBe('');
  });
});

describe('./herm: Node', () => {
  it('without node and npm, stops with what to install, one line per package manager', () => {
    // A copy of env.sh in a root of its own: no .tools/ with a Node installed earlier.
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-root-'));
    dirs.push(root);
    fs.mkdirSync(path.join(root, 'scripts'));
    fs.copyFileSync(path.join(REPO_ROOT, 'scripts/env.sh'), path.join(root, 'scripts/env.sh'));
    const bin = fakeBin({ uid: 1000, packageManagers: ['apt-get'] });
    const result = spawnSync(path.join(bin, 'bash'), ['--norc', '--noprofile', '-c', `source "${root}/scripts/env.sh"; echo started`], { env: { PATH: bin }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('Node.js >= 22.18 (or npm, to fetch Node 24 from the npm registry) is needed and neither is installed');
    expect(result.stderr).toContain('Debian/Ubuntu: sudo apt-get install -y nodejs npm');
    expect(result.stderr).toContain('Fedora/RHEL:   sudo dnf install -y nodejs npm');
    expect(result.stderr).toContain('Alpine:        sudo apk add nodejs npm');
  });
});
