// The `shell` built-in: one command line in the deployment's sandbox.
import { z } from 'zod';
import { limitLargeOutput, type LargeOutputSettings } from './large-output.ts';
import type { BuiltinTool } from './tool.ts';

export interface ShellToolSettings extends LargeOutputSettings {
  /** The longest timeout the model may ask for, in seconds. */
  maxTimeoutSeconds: number;
}

export interface ShellInput {
  command: string;
  timeout?: number | undefined;
}

export interface ShellResult {
  exit_code: number | null;
  stdout: string;
  stderr: string;
  timed_out: boolean;
  /** Present when the sandbox's output cap cut stdout or stderr; the rest was discarded. */
  output_truncated?: true;
  /** Where the full stdout was saved when it was too long to return. */
  stdout_file?: string;
  /** Where the full stderr was saved when it was too long to return. */
  stderr_file?: string;
  /** The sandbox limit the command ran into (memory, processes); `error` says what happened. */
  limit_exceeded?: 'memory' | 'processes' | 'disk';
  error?: string;
}

// Models write bash far more often than POSIX sh; images without bash still get a shell. The
// command text travels as $1, so no quoting of it is ever needed.
const RUN_IN_BASH = 'command -v bash >/dev/null 2>&1 && exec bash -c "$1" bash; exec sh -c "$1" sh';

export function createShellTool(settings: ShellToolSettings): BuiltinTool<ShellInput> {
  return {
    name: 'shell',
    description: [
      "Run a shell command (bash) in this deployment's sandbox and get its exit code, stdout and stderr.",
      'Use it to run programs and scripts, list or search files (ls, find, grep), move or delete files, and inspect the system.',
      'To read, create or change a file prefer read_file, write_file and edit_file: they are exact and need no quoting.',
      'Each call starts a fresh shell in /workspace, your workspace: files you write there stay for later calls, but shell state (cd, variables) does not carry over, and background processes are stopped when the command ends. The sandbox has CPU, memory, process and disk limits: a command that runs into one ends with limit_exceeded and an error saying what to do.',
      'The command runs as an unprivileged user with no access outside /workspace except read-only system directories and a private /tmp; the network is usually disabled (when HTTP_PROXY is set, only the hosts the deployment allows are reachable, through it).',
      'A non-zero exit code is reported, not treated as a failure of the tool.',
      `Long output is cut: beyond about ${settings.thresholdCharacters.toLocaleString('en-US')} characters you get the beginning and end plus the path of a file in /workspace/.herm/tool-output holding the rest.`,
      'Commands that run past the timeout are killed; avoid interactive programs, which would wait for input that never comes.',
    ].join(' '),
    inputSchema: z.object({
      command: z
        .string()
        .min(1)
        .describe('The command line to run with bash, e.g. "npm test 2>&1 | tail -50". Pipes, redirections and && work.'),
      timeout: z
        .number()
        .positive()
        .max(settings.maxTimeoutSeconds)
        .optional()
        .describe(
          `Seconds to let the command run before it is killed (at most ${settings.maxTimeoutSeconds}). Leave out for the deployment's default; raise it for builds or test suites.`,
        ),
    }),
    async execute(input, context) {
      const timeoutMs = input.timeout === undefined ? undefined : Math.round(input.timeout * 1000);
      const result = await context.sandbox.exec({
        command: RUN_IN_BASH,
        args: [input.command],
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
        signal: context.signal,
      });
      const stdout = await limitLargeOutput(result.stdout, context, settings);
      const stderr = await limitLargeOutput(result.stderr, context, settings, '.stderr');
      const output: ShellResult = {
        exit_code: result.exitCode,
        stdout: stdout.text,
        stderr: stderr.text,
        timed_out: result.timedOut,
        ...(result.truncated ? { output_truncated: true as const } : {}),
        ...(stdout.savedPath ? { stdout_file: stdout.savedPath } : {}),
        ...(stderr.savedPath ? { stderr_file: stderr.savedPath } : {}),
        ...(result.limitExceeded ? { limit_exceeded: result.limitExceeded.limit, error: result.limitExceeded.message } : {}),
        ...(result.timedOut && !result.limitExceeded
          ? { error: `The command ran past its time limit and was killed after ${Math.round(result.durationMs / 1000)} s; give it a larger timeout if it needs longer.` }
          : {}),
      };
      return { result: output, isError: result.timedOut || result.limitExceeded !== undefined };
    },
  };
}
