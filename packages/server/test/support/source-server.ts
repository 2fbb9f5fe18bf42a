// `herm serve` from the CLI's TypeScript sources, as a process of its own: for tests that start several at the same
// moment, or that read how one ends. (child-server.ts goes through ./herm, which first compiles the tree when a
// source changed, one process at a time.)
import { spawn } from 'node:child_process';
import { CLI_MAIN } from './child-server.ts';

export interface SourceServer {
  url: string;
  stdout: string;
  stderr: string;
  /** Resolves with the exit code (null after a signal) once the process has ended. */
  exited: Promise<number | null>;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
}

export function startSourceServer(env: Record<string, string>, startTimeoutMs = 60_000): Promise<SourceServer> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_MAIN, 'serve'], {
      env: { ...process.env, PORT: '0', LOG_LEVEL: 'warn', HERM_SANDBOX: 'bubblewrap', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    const server: SourceServer = {
      url: '',
      stdout: '',
      stderr: '',
      exited,
      stop: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        await exited;
      },
    };
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${server.stderr}`)), startTimeoutMs);
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
    void exited.then((code) => {
      if (!server.url) {
        clearTimeout(timer);
        reject(new Error(`server exited with ${code}:\n${server.stderr}`));
      }
    });
  });
}
