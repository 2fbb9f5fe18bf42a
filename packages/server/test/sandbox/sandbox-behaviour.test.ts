// What every sandbox backend does with a command, the same on each: exit codes and output, arguments,
// stdin, working directory, connector variables, timeouts and cancellation (nothing left running), the
// output cap, logging. Isolation is sandbox-security.test.ts; what is particular to one backend is in its
// own file (bubblewrap.test.ts, docker.test.ts).
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Sandbox, SandboxBackend } from '../../src/sandbox/sandbox.ts';
import { hostProcessesMatching, uniqueSleepSeconds } from '../support/host-processes.ts';
import { captureLogs } from '../support/log-capture.ts';
import { ALL_BACKENDS, describeEachBackend, uniqueDeploymentId } from './backends-under-test.ts';
import { makeTemporaryDirectory, removeDirectory, TEST_LIMITS } from './bubblewrap-test-support.ts';

describeEachBackend(ALL_BACKENDS, 'sandbox behaviour', (backendUnderTest) => {
  const deploymentA = uniqueDeploymentId(`behaviour_${backendUnderTest.name}_a`);
  const deploymentB = uniqueDeploymentId(`behaviour_${backendUnderTest.name}_b`);
  let backend: SandboxBackend;
  let workspaceA: string;
  let workspaceB: string;
  let sandboxA: Sandbox;
  let sandboxB: Sandbox;
  /** The workspace as commands of deployment A name it. */
  let workspace: string;

  beforeAll(async () => {
    backend = backendUnderTest.create();
    workspaceA = await makeTemporaryDirectory(`behaviour-${backendUnderTest.name}-a`);
    workspaceB = await makeTemporaryDirectory(`behaviour-${backendUnderTest.name}-b`);
    sandboxA = backend.open({ deploymentId: deploymentA, workspaceDir: workspaceA, env: { CONNECTOR_TOKEN: 'connector-a' } });
    sandboxB = backend.open({ deploymentId: deploymentB, workspaceDir: workspaceB });
    workspace = backendUnderTest.workspacePath(workspaceA);
  });

  afterAll(async () => {
    await backend?.close?.();
    for (const directory of [workspaceA, workspaceB]) if (directory) await removeDirectory(directory);
  });

  it('passes check() on this machine', async () => {
    expect(await backend.check()).toEqual({ ok: true });
  });

  it('reports exit code and stderr separately; a non-zero exit is a normal result', async () => {
    const result = await sandboxA.exec({ command: 'echo out; echo err >&2; exit 7' });
    expect(result).toMatchObject({ exitCode: 7, signal: null, stdout: 'out\n', stderr: 'err\n', timedOut: false, truncated: false });
    expect(result.durationMs).toBeGreaterThan(0);
  });

  it('passes args as $1… without any shell interpretation', async () => {
    const args = ['a  b', '$(touch pwned)', '*', '; touch pwned2', "'quoted'", '`id`', '', 'line\nbreak'];
    const result = await sandboxA.exec({ command: 'printf "[%s]\\n" "$@"', args });
    expect(result.stdout).toBe(args.map((argument) => `[${argument}]\n`).join(''));
    expect(existsSync(join(workspaceA, 'pwned'))).toBe(false);
    expect(existsSync(join(workspaceA, 'pwned2'))).toBe(false);
  });

  it('feeds stdin as text or bytes, then closes it', async () => {
    expect((await sandboxA.exec({ command: 'cat', stdin: 'hello\nworld' })).stdout).toBe('hello\nworld');
    const bytes = new Uint8Array(200_000).fill(120);
    expect((await sandboxA.exec({ command: 'wc -c', stdin: bytes })).stdout.trim()).toBe('200000');
    // Without stdin the command reads end-of-file at once instead of waiting.
    expect((await sandboxA.exec({ command: 'cat; echo done' })).stdout).toBe('done\n');
  });

  it('honours cwd, relative to the workspace or absolute, and writes land in the host workspace', async () => {
    expect((await sandboxA.exec({ command: 'mkdir -p sub/deeper' })).exitCode).toBe(0);
    expect((await sandboxA.exec({ command: 'pwd; echo made > here.txt', cwd: 'sub' })).stdout).toBe(`${workspace}/sub\n`);
    expect(await readFile(join(workspaceA, 'sub', 'here.txt'), 'utf8')).toBe('made\n');
    expect((await sandboxA.exec({ command: 'pwd', cwd: '/workspace/sub/deeper' })).stdout).toBe(`${workspace}/sub/deeper\n`);
    const missing = sandboxA.exec({ command: 'pwd', cwd: 'does-not-exist' });
    if (backendUnderTest.rejectsMissingCwd) {
      await expect(missing).rejects.toThrow(/ENOENT|could not start/);
    } else {
      expect((await missing).exitCode).not.toBe(0);
      expect((await missing).stdout).toBe('');
    }
  });

  it('keeps deployments apart when they run at the same time; their files belong to the sandbox user', async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, index) => {
        const sandbox = index % 2 === 0 ? sandboxA : sandboxB;
        return sandbox.exec({ command: 'echo "$1" > "run-$1.txt"; ls /workspace', args: [String(index)] });
      }),
    );
    results.forEach((result, index) => {
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toContain(`run-${index}.txt`);
    });
    expect(existsSync(join(workspaceA, 'run-0.txt'))).toBe(true);
    expect(existsSync(join(workspaceA, 'run-1.txt'))).toBe(false);
    expect(existsSync(join(workspaceB, 'run-1.txt'))).toBe(true);
    expect((await stat(join(workspaceA, 'run-0.txt'))).uid).toBe(backendUnderTest.fileOwnerUid);
  });

  it('refuses connector variables that are malformed or would replace the fixed ones', () => {
    const workspaceDir = workspaceA;
    expect(() => backend.open({ deploymentId: 'x', workspaceDir, env: { PATH: '/evil' } })).toThrow(/PATH/);
    expect(() => backend.open({ deploymentId: 'x', workspaceDir, env: { 'A=B': 'x' } })).toThrow(/not a valid/);
    expect(() => backend.open({ deploymentId: 'x', workspaceDir, env: { TOKEN: 'a\0b' } })).toThrow(/NUL/);
    expect(() => backend.open({ deploymentId: 'x', workspaceDir: 'relative/dir' })).toThrow(/absolute/);
  });

  it('keeps a connector variable named like one a container engine adds', async () => {
    const sandbox = backend.open({ deploymentId: deploymentA, workspaceDir: workspaceA, env: { HOSTNAME: 'chosen' } });
    expect((await sandbox.exec({ command: 'echo "$HOSTNAME"' })).stdout).toBe('chosen\n');
  });

  it('kills the whole process tree at the timeout, returns promptly, and runs the next command', async () => {
    const seconds = [uniqueSleepSeconds(), uniqueSleepSeconds(), uniqueSleepSeconds(), uniqueSleepSeconds()];
    const setsid = backendUnderTest.killsDetachedProcesses ? 'setsid ' : '';
    const started = performance.now();
    const result = await sandboxA.exec({
      // A background child, a grandchild (in a session of its own where the backend can kill that), a
      // double-forked daemon, and the foreground sleep the timeout interrupts.
      command: `sleep "$1" & sh -c "${setsid}sleep $2 &" ; (nohup sleep "$3" >/dev/null 2>&1 &) ; echo started; sleep "$4"`,
      args: seconds,
      timeoutMs: 1_000,
    });
    expect(performance.now() - started).toBeLessThan(backendUnderTest.promptMs);
    expect(result).toMatchObject({ timedOut: true, exitCode: null, signal: 'SIGKILL', stdout: 'started\n' });
    for (const marker of seconds) expect(await hostProcessesMatching(`sleep ${marker}`)).toEqual([]);
    expect((await sandboxA.exec({ command: 'echo alive' })).stdout).toBe('alive\n');
  });

  it('does not let background children outlive a command that exits normally', async () => {
    const markers = [uniqueSleepSeconds(), uniqueSleepSeconds()];
    const setsid = backendUnderTest.killsDetachedProcesses ? 'setsid ' : '';
    const started = performance.now();
    const result = await sandboxA.exec({ command: `sleep "$1" & (${setsid}sleep "$2" >/dev/null 2>&1 &); echo left-behind`, args: markers });
    expect(result).toMatchObject({ exitCode: 0, timedOut: false, stdout: 'left-behind\n' });
    expect(performance.now() - started).toBeLessThan(backendUnderTest.promptMs);
    for (const marker of markers) expect(await hostProcessesMatching(`sleep ${marker}`)).toEqual([]);
  });

  it('does not touch what another command of the deployment is running meanwhile', async () => {
    const marker = uniqueSleepSeconds();
    const long = sandboxA.exec({ command: 'sleep 1.5; echo "$1"', args: [marker] });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await sandboxA.exec({ command: 'echo quick' })).stdout).toBe('quick\n');
    expect((await long).stdout).toBe(`${marker}\n`);
  });

  it('cancels through an AbortSignal and leaves nothing running', async () => {
    const marker = uniqueSleepSeconds();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 500);
    const started = performance.now();
    await expect(sandboxA.exec({ command: 'sleep "$1"', args: [marker], signal: controller.signal })).rejects.toMatchObject({
      name: 'AbortError',
    });
    expect(performance.now() - started).toBeLessThan(backendUnderTest.promptMs);
    expect(await hostProcessesMatching(`sleep ${marker}`)).toEqual([]);
  });

  it('rejects at once when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(sandboxA.exec({ command: 'touch never-created', signal: controller.signal })).rejects.toMatchObject({
      name: 'AbortError',
    });
    expect(existsSync(join(workspaceA, 'never-created'))).toBe(false);
  });

  it('keeps at most maxOutputBytes of stdout from 50 MB and still finishes normally', async () => {
    const result = await sandboxA.exec({ command: 'yes | head -c 50000000; echo done >&2' });
    expect(result).toMatchObject({ exitCode: 0, timedOut: false, truncated: true, stderr: 'done\n' });
    expect(Buffer.byteLength(result.stdout)).toBe(TEST_LIMITS.maxOutputBytes);
    expect(result.stdout.startsWith('y\ny\n')).toBe(true);
  });

  it('caps stderr on its own', async () => {
    const result = await sandboxA.exec({ command: 'yes error | head -c 5000000 >&2; echo fine' });
    expect(result).toMatchObject({ exitCode: 0, truncated: true, stdout: 'fine\n' });
    expect(Buffer.byteLength(result.stderr)).toBe(TEST_LIMITS.maxOutputBytes);
  });

  it('does not cut a UTF-8 character in half at the limit', async () => {
    const small = backendUnderTest.create({ limits: { timeoutMs: 10_000, maxOutputBytes: 10 } });
    try {
      const sandbox = small.open({ deploymentId: uniqueDeploymentId(`behaviour_${backendUnderTest.name}_small`), workspaceDir: workspaceA });
      expect(await sandbox.exec({ command: 'printf "aéééééé"' })).toMatchObject({ truncated: true, stdout: 'aéééé' });
    } finally {
      await small.close?.();
    }
  });

  it('logs each command to a pino logger at debug level, without its text or environment', async () => {
    const logs = captureLogs();
    const logged = backendUnderTest.create({ logger: logs.logger });
    const deploymentId = uniqueDeploymentId(`behaviour_${backendUnderTest.name}_logged`);
    try {
      await logged.open({ deploymentId, workspaceDir: workspaceA, env: { CONNECTOR_TOKEN: 'connector-a' } }).exec({ command: 'echo command-text; exit 3' });
    } finally {
      await logged.close?.();
    }
    expect(logs.entries().find((entry) => entry['msg'] === backendUnderTest.finishedMessage)).toMatchObject({ deploymentId, exitCode: 3, timedOut: false });
    expect(logs.text()).not.toContain('command-text');
    expect(logs.text()).not.toContain('connector-a');
  });
});
