// File access for the built-in tools, always through the deployment's sandbox: the server never
// opens a workspace path itself, so a symlink planted in the workspace can only lead to what the
// sandbox can see. Paths are passed as $1, never spliced into the command text.
import type { ExecResult, Sandbox } from '../../sandbox/sandbox.ts';

// Exit codes the checks below use to say why a file cannot be read; chosen above the codes
// coreutils and awk use themselves.
const FILE_CHECK_FAILURES: Record<number, string> = {
  65: 'is a directory, not a file (list it with the shell tool, e.g. `ls -la`)',
  66: 'does not exist',
  67: 'is not a regular file',
  68: 'is not readable',
  69: 'looks like a binary file (it contains NUL bytes); inspect it with the shell tool instead',
};

/** Shell lines that exit with one of FILE_CHECK_FAILURES unless "$1" is a readable regular file. */
export const CHECK_READABLE_FILE = [
  '[ -d "$1" ] && exit 65',
  '[ -e "$1" ] || exit 66',
  '[ -f "$1" ] || exit 67',
  '[ -r "$1" ] || exit 68',
].join('\n');

/** Like CHECK_READABLE_FILE, and also refuses files with NUL bytes in their first 8 KB. */
export const CHECK_TEXT_FILE = `${CHECK_READABLE_FILE}
[ "$(head -c 8192 "$1" | tr -d '\\000' | wc -c)" = "$(head -c 8192 "$1" | wc -c)" ] || exit 69`;

/** The reason a file check failed, or undefined when the exit code is not one of the checks'. */
export function describeFileCheckFailure(result: ExecResult, path: string): string | undefined {
  const reason = result.exitCode === null ? undefined : FILE_CHECK_FAILURES[result.exitCode];
  return reason && `${path} ${reason}`;
}

/** A one-line account of a failed command, for tool errors. */
export function describeFailure(result: ExecResult): string {
  if (result.timedOut) return 'the sandbox command timed out';
  if (result.limitExceeded) return result.limitExceeded.message;
  const stderr = result.stderr.trim();
  return stderr || `the sandbox command exited with code ${result.exitCode ?? result.signal}`;
}

/** Writes `content` to `path` (absolute, under /workspace), creating parent directories. */
export function writeSandboxFile(sandbox: Sandbox, path: string, content: string | Uint8Array, signal?: AbortSignal): Promise<ExecResult> {
  return sandbox.exec({
    command: 'mkdir -p "$(dirname "$1")" && cat > "$1"',
    args: [path],
    stdin: content,
    ...(signal ? { signal } : {}),
  });
}
