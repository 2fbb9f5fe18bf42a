// Runs `herm serve` as a separate process, the way a user starts it, for restart and crash tests.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
export const CLI_MAIN = path.join(REPO_ROOT, 'packages/cli/src/main.ts');

export interface ChildServer {
  url: string;
  process: ChildProcess;
  stdout: string;
  stderr: string;
  /** SIGKILL: no cleanup runs, as in a crash. */
  kill(): Promise<void>;
  /** SIGTERM: graceful shutdown. */
  stop(): Promise<void>;
}

export function runCli(args: string[], env: Record<string, string>, input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_MAIN, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

export function startChildServer(env: Record<string, string>): Promise<ChildServer> {
  return new Promise((resolve, reject) => {
    // Through ./herm, the README's command: its Node flags and allocator settings are part of what is measured.
    const child = spawn(path.join(REPO_ROOT, 'herm'), ['serve'], {
      // HERM_SANDBOX pinned like startTestServer's: a Docker API on the test machine must not change the sandbox.
      env: { ...process.env, PORT: '0', LOG_LEVEL: 'warn', HERM_SANDBOX: 'bubblewrap', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const server: ChildServer = {
      url: '',
      process: child,
      stdout: '',
      stderr: '',
      kill: () =>
        new Promise((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          child.once('exit', () => done());
          child.kill('SIGKILL');
        }),
      stop: () =>
        new Promise((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          child.once('exit', () => done());
          child.kill('SIGTERM');
        }),
    };
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${server.stderr}`)), 20_000);
    child.stdout.on('data', (chunk) => (server.stdout += chunk));
    child.stderr.on('data', (chunk) => {
      server.stderr += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(server.stderr);
      if (match && !server.url) {
        server.url = match[1]!;
        clearTimeout(timer);
        resolve(server);
      }
    });
    child.on('exit', (code) => {
      if (!server.url) {
        clearTimeout(timer);
        reject(new Error(`server exited with ${code}:\n${server.stderr}`));
      }
    });
  });
}

/**
 * Runs a program to its end and resolves with its exit code and output; kills it and rejects, naming `what` and
 * what it printed, when it has not exited within `timeoutMs` (a script that never ends: a stream left open).
 */
export function runToExit(
  command: string,
  args: readonly string[],
  options: { env: NodeJS.ProcessEnv; cwd?: string; timeoutMs: number; what: string },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(command, args, { env: options.env, ...(options.cwd ? { cwd: options.cwd } : {}), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${options.what} did not exit within ${options.timeoutMs / 1000} s:\n${stdout}\n${stderr}`));
    }, options.timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
