// One error handler for every command: a single `herm: <message>` line, a hint line when one helps,
// and an exit code that says what kind of failure it was. No stack traces.
import { APIConnectionError, APIError, AuthenticationError, HermError, NotFoundError, PermissionDeniedError } from 'herm';

/** Exit codes of the herm command (README, "Exit codes"). */
export const EXIT = {
  ok: 0,
  /** Anything else: a server error, a failed run, a bug. */
  generic: 1,
  /** The command line is wrong: unknown command or flag, missing argument. */
  usage: 2,
  /** The API key is missing, invalid, revoked (401) or lacks a scope (403). */
  auth: 3,
  /** The deployment, thread or key does not exist (404). */
  notFound: 4,
  /** The server could not be reached (connection refused, DNS, timeout). */
  connection: 5,
} as const;

/** A wrong command line; exits 2 after the message and a pointer to `--help`. */
export class UsageError extends Error {
  readonly helpCommand: string;
  constructor(message: string, helpCommand = 'herm') {
    super(message);
    this.helpCommand = helpCommand;
  }
}

/** An error the CLI itself detected, with its hint and exit code. */
export class CliError extends Error {
  readonly hint: string | undefined;
  readonly exitCode: number;
  constructor(message: string, hint: string | undefined, exitCode: number) {
    super(message);
    this.hint = hint;
    this.exitCode = exitCode;
  }
}

export interface ErrorContext {
  /** The API base URL the command talked to, for the connection hint. */
  baseURL?: string | undefined;
}

export interface ErrorReport {
  message: string;
  hint?: string | undefined;
  exitCode: number;
}

export function describeError(error: unknown, context: ErrorContext = {}): ErrorReport {
  if (error instanceof UsageError) {
    return { message: error.message, hint: `run '${error.helpCommand} --help' for usage`, exitCode: EXIT.usage };
  }
  if (error instanceof CliError) return { message: error.message, hint: error.hint, exitCode: error.exitCode };
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
    return { message: (error as Error).message, hint: "run 'herm --help' for usage", exitCode: EXIT.usage };
  }
  if (error instanceof APIConnectionError) {
    const cause = causeCode(error);
    const where = context.baseURL ?? 'the configured URL';
    return {
      message: `could not reach the Herm server at ${where} (${cause ?? error.message.replace(/\.$/, '')})`,
      hint: `is the server running at ${where}? (set HERM_BASE_URL or --base-url)`,
      exitCode: EXIT.connection,
    };
  }
  if (error instanceof AuthenticationError) {
    return {
      message: `the API key was refused (401${error.error ? ` ${error.error.message}` : ''})`,
      hint: 'check PRISM_API_KEY (or --api-key)',
      exitCode: EXIT.auth,
    };
  }
  if (error instanceof PermissionDeniedError) {
    return {
      message: `the API key lacks a scope for this (403${error.error ? ` ${error.error.message}` : ''})`,
      hint: "create a key with the scope: herm keys create --scopes …",
      exitCode: EXIT.auth,
    };
  }
  if (error instanceof NotFoundError) {
    return { message: error.error?.message ?? error.message, hint: requestHint(error), exitCode: EXIT.notFound };
  }
  if (error instanceof APIError) {
    const detail = error.error ? `${error.error.message} (${error.status} ${error.error.type})` : error.message;
    return { message: detail, hint: requestHint(error), exitCode: EXIT.generic };
  }
  if (error instanceof HermError) return { message: error.message, exitCode: EXIT.generic };
  const message = error instanceof Error ? error.message : String(error);
  return { message, exitCode: EXIT.generic };
}

/** Writes the report to stderr and returns the exit code. */
export function reportError(error: unknown, context: ErrorContext = {}, stderr: NodeJS.WritableStream = process.stderr): number {
  const report = describeError(error, context);
  stderr.write(`herm: ${report.message}\n`);
  if (report.hint) stderr.write(`hint: ${report.hint}\n`);
  if (process.env.HERM_DEBUG && error instanceof Error && error.stack) stderr.write(`${error.stack}\n`);
  return report.exitCode;
}

function requestHint(error: APIError): string | undefined {
  return error.request_id ? `request id ${error.request_id}` : undefined;
}

function causeCode(error: Error): string | undefined {
  let cause: unknown = error.cause;
  for (let depth = 0; depth < 4 && cause; depth++) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    cause = (cause as { cause?: unknown }).cause;
  }
  return undefined;
}
