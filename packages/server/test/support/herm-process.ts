// `./herm serve` as a child process that may die at any moment, before it listens too: for the crash tests
// (run-crash-points, fault-loop), which kill it with SIGKILL or let a failpoint kill it. child-server.ts is the
// simpler helper for a server expected to start.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from './child-server.ts';

export interface HermProcess {
  process: ChildProcess;
  stderr: () => string;
  /** The URL once it listens; undefined when it died first. */
  listening: Promise<string | undefined>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Spawns `./herm serve` with `env` over the test's environment (PORT 0, LOG_LEVEL warn and the bubblewrap sandbox
 * unless `env` says otherwise). Its stdout is ignored; its stderr is kept.
 */
export function spawnHerm(env: Record<string, string>): HermProcess {
  const child = spawn(path.join(REPO_ROOT, 'herm'), ['serve'], {
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'warn', HERM_SANDBOX: 'bubblewrap', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const listening = new Promise<string | undefined>((resolve) => {
    child.stderr!.on('data', (chunk) => {
      stderr += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(stderr);
      if (match) resolve(match[1]);
    });
    void exited.then(() => resolve(undefined));
  });
  return { process: child, stderr: () => stderr, listening, exited };
}

/** Waits for a spawned server to listen; throws with its stderr when it died first. */
export async function hermListening(server: HermProcess, timeoutMs = 30_000): Promise<string> {
  const url = await withTimeout(server.listening, timeoutMs, 'the server to listen');
  if (!url) throw new Error(`the server died before it listened:\n${server.stderr()}`);
  return url;
}

/** SIGKILL, as a crash: no handler, no cleanup. Resolves once the process is gone. */
export async function killHerm(server: HermProcess): Promise<void> {
  if (server.process.exitCode === null && server.process.signalCode === null) server.process.kill('SIGKILL');
  await server.exited;
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
