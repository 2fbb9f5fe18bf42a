// `herm chat <deployment_id>`: an interactive conversation with a deployment's agent in the terminal.
// Each line is sent as a message on one thread; the agent's tokens, tool calls and results stream back
// as they happen, and the prompt returns when the run completes, fails, or waits for a human reply.
import { createInterface } from 'node:readline';
import Herm, { APIError, type HermEvent } from 'herm';

export interface ChatOptions {
  deploymentId: string;
  /** Thread to talk on. Defaults to the deployment's default thread; `new` starts a fresh one. */
  threadId?: string | undefined;
  /** Defaults to `new Herm()`, configured from PRISM_API_KEY and HERM_BASE_URL. */
  client?: Herm | undefined;
  input?: NodeJS.ReadableStream | undefined;
  output?: NodeJS.WritableStream | undefined;
  /** Prints each event of the conversation's runs as one JSON line instead of rendering it. */
  json?: boolean | undefined;
  /** Colours for tool lines; defaults to on for a TTY output unless NO_COLOR is set (FORCE_COLOR forces). */
  color?: boolean | undefined;
}

const PROMPT = 'you> ';
const EXIT_COMMAND = '/exit';
const TOOL_RESULT_PREVIEW_LINES = 3;
const LINE_CHARS = 160;

/** How following the runs of one turn ended. */
type TurnOutcome = 'finished' | 'waiting_on_human' | 'stream_closed';

/**
 * Runs the chat until `/exit`, end of input, or Ctrl-C at the prompt. Ctrl-C during a run cancels it.
 * API errors of a message are printed and the prompt returns; a failing event stream ends the chat
 * with its error.
 */
export async function runChat(options: ChatOptions): Promise<void> {
  const client = options.client ?? new Herm();
  const input = options.input ?? process.stdin;
  const output = options.output ?? process.stdout;
  const { deploymentId } = options;

  const threadId = await resolveThread(client, deploymentId, options.threadId);
  // Opened before the first message is sent, so no event of its run can be missed.
  const stream = await client.deployments.events.stream(deploymentId, { thread_id: threadId });
  const events = stream[Symbol.asyncIterator]();
  const json = options.json === true;
  const transcript = new Transcript(output, { json, color: options.color ?? colorWanted(output) });
  // With --json only events reach the output: no prompt, no echo.
  const readline = json ? createInterface({ input, terminal: false }) : createInterface({ input, output, prompt: PROMPT });
  // Created at once so that lines typed (or piped) while a run streams are queued, not dropped.
  const lines = readline[Symbol.asyncIterator]();
  const activeRuns = new Set<string>();
  let inputEnded = false;
  readline.once('close', () => {
    inputEnded = true;
  });
  // Lines queued before the end of input are still answered, so still prompted for.
  const showPrompt = (): void => {
    if (json) return;
    if (inputEnded) output.write(PROMPT);
    else readline.prompt();
    transcript.promptShown();
  };

  readline.on('SIGINT', () => {
    if (activeRuns.size === 0) {
      readline.close();
      return;
    }
    transcript.line('[cancelling]');
    for (const runId of activeRuns) {
      client.deployments.runs.cancel(deploymentId, runId).catch((error: unknown) => {
        transcript.error(errorMessage(error));
      });
    }
  });

  try {
    if (!json) transcript.line(`Chatting with ${deploymentId} on thread ${threadId}. Type ${EXIT_COMMAND} to quit.`);
    showPrompt();
    while (true) {
      const next = await lines.next();
      if (next.done) break;
      if (!json) transcript.userLine(next.value, readline.terminal);
      const content = next.value.trim();
      if (content === EXIT_COMMAND) break;
      if (content !== '') {
        const runId = await sendMessage(client, deploymentId, threadId, content, transcript);
        if (runId !== undefined) {
          activeRuns.add(runId);
          const outcome = await followRuns(events, activeRuns, transcript);
          if (outcome === 'stream_closed') break;
        }
      }
      showPrompt();
    }
  } finally {
    transcript.endLine();
    readline.close();
    stream.abort();
  }
}

async function resolveThread(client: Herm, deploymentId: string, threadId: string | undefined): Promise<string> {
  if (threadId === 'new') return (await client.threads.create(deploymentId)).thread_id;
  if (threadId !== undefined) return threadId;
  return (await client.deployments.get(deploymentId)).thread_id;
}

/** The run the message started, or undefined when the API refused it (the error is printed). */
async function sendMessage(
  client: Herm,
  deploymentId: string,
  threadId: string,
  content: string,
  transcript: Transcript,
): Promise<string | undefined> {
  try {
    const run = await client.deployments.messages.send(deploymentId, { content, thread_id: threadId });
    return run.run_id;
  } catch (error) {
    if (!(error instanceof APIError)) throw error;
    transcript.error(error.message);
    return undefined;
  }
}

/**
 * Prints the events of the active runs until none is left, or one waits for a human reply. Events of
 * other runs on the thread (automations, other clients) are not part of this conversation turn.
 */
async function followRuns(
  events: AsyncIterator<HermEvent>,
  activeRuns: Set<string>,
  transcript: Transcript,
): Promise<TurnOutcome> {
  while (activeRuns.size > 0) {
    const next = await events.next();
    if (next.done) return 'stream_closed';
    const event = next.value;
    if (!activeRuns.has(event.run_id)) continue;
    if (transcript.json) transcript.event(event);
    switch (event.type) {
      case 'token':
        transcript.text(event.delta);
        break;
      case 'tool_call':
        transcript.toolCall(event.tool, event.arguments);
        break;
      case 'tool_result':
        transcript.toolResult(event.result, event.is_error);
        break;
      case 'steering_request':
        transcript.line(`[steering_request ${event.summary}]`);
        break;
      case 'filesystem':
        transcript.line(`[filesystem ${event.change} ${event.path}]`);
        break;
      case 'run_status':
        if (event.status === 'completed') {
          activeRuns.delete(event.run_id);
        } else if (event.status === 'error') {
          activeRuns.delete(event.run_id);
          transcript.line(`[error: ${event.error?.message ?? 'the run failed'}]`);
        } else if (event.status === 'waiting_on_human') {
          transcript.line('[waiting for your reply]');
          return 'waiting_on_human';
        }
        break;
    }
  }
  transcript.endLine();
  return 'finished';
}

/** Colours only for a terminal, and never with NO_COLOR (https://no-color.org); FORCE_COLOR forces them. */
function colorWanted(output: NodeJS.WritableStream): boolean {
  if (process.env.NO_COLOR) return false;
  if (process.env.FORCE_COLOR && process.env.FORCE_COLOR !== '0') return true;
  return (output as { isTTY?: boolean }).isTTY === true;
}

/** The one argument that says what a call does (the shell command, the path), else compact JSON. */
export function describeToolCall(args: Record<string, unknown>): string {
  for (const key of ['command', 'path', 'file_path', 'url', 'query']) {
    const value = args[key];
    if (typeof value === 'string') return oneLine(value);
  }
  return oneLine(JSON.stringify(args) ?? '');
}

/**
 * A tool result in a few lines: the exit code of a command, the first lines of its output, and how many
 * more there were. Results of other shapes show their text the same way.
 */
export function summarizeToolResult(result: unknown, isError: boolean): { status: string | undefined; lines: string[] } {
  let status: string | undefined = isError ? 'error' : undefined;
  let text: string;
  if (typeof result === 'string') {
    text = result;
  } else if (result !== null && typeof result === 'object' && ('exit_code' in result || 'stdout' in result)) {
    const shell = result as { exit_code?: number | null; stdout?: string; stderr?: string; timed_out?: boolean; error?: string };
    const parts = [`exit ${shell.exit_code ?? '?'}`];
    if (shell.timed_out) parts.push('timed out');
    if (isError) parts.push('error');
    status = parts.join(', ');
    text = [shell.stdout ?? '', shell.stderr ?? '', shell.error ?? ''].filter((part) => part.trim() !== '').join('\n');
  } else if (result !== null && typeof result === 'object' && typeof (result as { content?: unknown }).content === 'string') {
    text = (result as { content: string }).content;
  } else {
    text = JSON.stringify(result, null, 2) ?? String(result);
  }
  const all = text.replace(/\s+$/, '').split(/\r?\n/).filter((line, index, lines) => line !== '' || (index > 0 && index < lines.length - 1));
  const lines = all.slice(0, TOOL_RESULT_PREVIEW_LINES).map(cut);
  const more = all.length - lines.length;
  if (more > 0) lines.push(`… ${more} more line${more === 1 ? '' : 's'}`);
  return { status, lines };
}

function oneLine(text: string): string {
  const lines = text.trim().split(/\r?\n/);
  return cut(lines[0] ?? '') + (lines.length > 1 ? ` … (+${lines.length - 1} lines)` : '');
}

function cut(text: string): string {
  return text.length > LINE_CHARS ? `${text.slice(0, LINE_CHARS)}…` : text;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Writes agent text as it streams and keeps bracketed notes on lines of their own. */
class Transcript {
  readonly #output: NodeJS.WritableStream;
  readonly #color: boolean;
  readonly json: boolean;
  #atLineStart = true;

  constructor(output: NodeJS.WritableStream, options: { json: boolean; color: boolean }) {
    this.#output = output;
    this.json = options.json;
    this.#color = options.color && !options.json;
  }

  #paint(code: string, text: string): string {
    return this.#color ? `\x1b[${code}m${text}\x1b[0m` : text;
  }

  /** An error of the conversation: a bracketed note, or with --json a line on stderr. */
  error(message: string): void {
    if (this.json) process.stderr.write(`herm: ${message}\n`);
    else this.line(`[error: ${message}]`);
  }

  /** --json: the event as it came, one line. */
  event(event: HermEvent): void {
    this.#output.write(`${JSON.stringify(event)}\n`);
  }

  /** `● shell  echo hi && uname -a` */
  toolCall(tool: string, args: Record<string, unknown>): void {
    if (this.json) return;
    this.line(`${this.#paint('36', '●')} ${this.#paint('1', tool)}  ${describeToolCall(args)}`);
  }

  /** `  ⎿ exit 0` and the first lines of the output, indented. */
  toolResult(result: unknown, isError: boolean): void {
    if (this.json) return;
    const { status, lines } = summarizeToolResult(result, isError);
    const bad = isError || (status !== undefined && !status.startsWith('exit 0'));
    const head = status ?? lines.shift() ?? '(no output)';
    this.line(`  ${this.#paint('2', '⎿')} ${bad ? this.#paint('31', head) : head}`);
    for (const line of lines) this.line(`    ${this.#paint('2', line)}`);
  }

  text(delta: string): void {
    if (delta === '' || this.json) return;
    this.#output.write(delta);
    this.#atLineStart = delta.endsWith('\n');
  }

  line(text: string): void {
    if (this.json) return;
    this.endLine();
    this.#output.write(`${text}\n`);
  }

  /** The prompt leaves the cursor at the end of its line. */
  promptShown(): void {
    this.#atLineStart = false;
  }

  /** A terminal echoes what the user typed; piped input is written out so the transcript reads right. */
  userLine(text: string, echoed: boolean): void {
    if (!echoed) this.#output.write(`${text}\n`);
    this.#atLineStart = true;
  }

  endLine(): void {
    if (this.#atLineStart || this.json) return;
    this.#output.write('\n');
    this.#atLineStart = true;
  }
}
