// `./herm` runs the sources compiled to JavaScript (scripts/build.sh), so the build must follow the sources:
// built when missing, left alone when up to date, rebuilt when a source changes, and switched to atomically.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, startChildServer, type ChildServer } from '../support/child-server.ts';

describe('the compiled build', () => {
  let copy: string;
  let server: ChildServer | undefined;

  beforeAll(() => {
    // A checkout of its own (sources, manifests, configs; node_modules shared), so rebuilding here leaves the
    // repository's build alone.
    copy = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-build-'));
    for (const name of ['tsconfig.json', 'tsconfig.build.json', 'scripts/build.sh']) {
      fs.mkdirSync(path.dirname(path.join(copy, name)), { recursive: true });
      fs.copyFileSync(path.join(REPO_ROOT, name), path.join(copy, name));
    }
    for (const pkg of ['server', 'cli', 'sdk']) {
      fs.cpSync(path.join(REPO_ROOT, 'packages', pkg, 'src'), path.join(copy, 'packages', pkg, 'src'), { recursive: true });
      fs.copyFileSync(path.join(REPO_ROOT, 'packages', pkg, 'package.json'), path.join(copy, 'packages', pkg, 'package.json'));
    }
    fs.symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(copy, 'node_modules'));
  });

  afterAll(async () => {
    await server?.kill();
    fs.rmSync(copy, { recursive: true, force: true });
  });

  const buildLog = () => {
    try {
      return { stderr: execFileSync('bash', ['-c', `"${copy}/scripts/build.sh" 2>&1`], { encoding: 'utf8' }) };
    } catch (error) {
      throw new Error(`build failed: ${(error as { stdout?: string }).stdout}`);
    }
  };
  const current = () => fs.readlinkSync(path.join(copy, '.herm-build/current'));
  const builds = () => fs.readdirSync(path.join(copy, '.herm-build')).filter((name) => name.startsWith('build-')).sort();

  it('builds when missing, skips when up to date, rebuilds after a change and keeps only the previous build', { timeout: 120_000 }, () => {
    expect(buildLog().stderr).toMatch(/compiling the sources/);
    const first = current();
    expect(buildLog().stderr).toBe('');
    expect(current()).toBe(first);

    // The compiled CLI resolves the other packages inside the build, not their TypeScript sources.
    const main = path.join(copy, '.herm-build/current/cli/src/main.js');
    expect(execFileSync(process.execPath, [main, '--help'], { encoding: 'utf8' })).toMatch(/Usage: herm <command>/);
    expect(fs.realpathSync(path.join(copy, '.herm-build/current/node_modules/@herm/server'))).toBe(fs.realpathSync(path.join(copy, '.herm-build', first, 'server')));

    const source = path.join(copy, 'packages/server/src/config.ts');
    const later = new Date(Date.now() + 2_000);
    fs.utimesSync(source, later, later);
    expect(buildLog().stderr).toMatch(/compiling the sources/);
    const second = current();
    expect(second).not.toBe(first);
    expect(builds()).toEqual([first, second].sort());

    const latest = new Date(Date.now() + 4_000);
    fs.utimesSync(source, latest, latest);
    expect(buildLog().stderr).toMatch(/compiling the sources/);
    expect(builds()).toEqual([second, current()].sort());
  });

  it('is what `./herm serve` runs', async () => {
    server = await startChildServer({ HERM_DATA_DIR: fs.mkdtempSync(path.join(copy, 'data-')) });
    const commandLine = fs.readFileSync(`/proc/${server.process.pid}/cmdline`, 'utf8').split('\0');
    expect(commandLine).toContain(path.join(REPO_ROOT, '.herm-build/current/cli/src/main.js'));
    expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({ status: 'ok' });
  });
});
