// `herm chat <deployment_id>`: an interactive conversation with a deployment's agent in the terminal.
// Each line is sent as a message on one thread; the agent's tokens, tool calls and results stream back
// as they happen, and the prompt returns when the run completes, fails, or waits for a human reply.
import { createInterface } from 'node:readline';
import Herm, { APIError, type HermEvent, type SteeringRequestEvent, type SteeringRespondParams } from 'herm';
import { colorWanted } from '../color.ts';

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

/** How following the runs of one turn ended; a run waiting on its steering request carries it. */
type TurnOutcome = { kind: 'finished' | 'stream_closed' } | { kind: 'waiting_on_human'; request: SteeringRequestEvent | undefined };

const STEERING_PROMPT = 'answer> ';

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

  // A line read that a Ctrl-C at the steering prompt left waiting: the next read takes it (no line is lost).
  let pendingLine: Promise<IteratorResult<string>> | undefined;
  const nextLine = (): Promise<IteratorResult<string>> => {
    const line = pendingLine ?? lines.next();
    pendingLine = undefined;
    return line;
  };
  /** Set while the steering prompt waits: Ctrl-C then cancels the run and leaves the prompt. */
  let interruptAsk: (() => void) | undefined;

  readline.on('SIGINT', () => {
    if (activeRuns.size === 0) {
      readline.close();
      return;
    }
    interruptAsk?.();
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
      const next = await nextLine();
      if (next.done) break;
      if (!json) transcript.userLine(next.value, readline.terminal);
      const content = next.value.trim();
      if (content === EXIT_COMMAND) break;
      if (content !== '') {
        const runId = await sendMessage(client, deploymentId, threadId, content, transcript);
        if (runId !== undefined) {
          activeRuns.add(runId);
          let outcome = await followRuns(events, activeRuns, transcript);
          // A run waiting on a steering request (one this server can answer: it has a request_id): ask here, send
          // the answer, and keep streaming the run it resumes.
          while (outcome.kind === 'waiting_on_human' && outcome.request?.request_id !== undefined) {
            const request = outcome.request;
            const interrupted = new Promise<'interrupted'>((resolve) => (interruptAsk = () => resolve('interrupted')));
            const read = async (): Promise<IteratorResult<string> | 'interrupted'> => {
              const line = nextLine();
              const first = await Promise.race([line, interrupted]);
              if (first === 'interrupted') pendingLine = line;
              return first;
            };
            const answer = await askSteering(request, read, transcript, readline.terminal, () => {
              if (json) return;
              if (inputEnded) output.write(STEERING_PROMPT);
              else {
                readline.setPrompt(STEERING_PROMPT);
                readline.prompt();
                readline.setPrompt(PROMPT);
              }
              transcript.promptShown();
            });
            interruptAsk = undefined;
            if (answer === undefined) break;
            if (answer === 'interrupted') {
              // Ctrl-C: the run is being cancelled; its end comes on the stream.
              transcript.endLine();
              outcome = await followRuns(events, activeRuns, transcript);
              continue;
            }
            try {
              await client.deployments.runs.steering.respond(deploymentId, request.run_id, request.request_id, answer);
            } catch (error) {
              if (!(error instanceof APIError)) throw error;
              transcript.error(error.message);
              // Answered elsewhere, expired or cancelled meanwhile: the run's events say what happened next.
            }
            outcome = await followRuns(events, activeRuns, transcript);
          }
          if (outcome.kind === 'stream_closed') break;
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
  let request: SteeringRequestEvent | undefined;
  while (activeRuns.size > 0) {
    const next = await events.next();
    if (next.done) return { kind: 'stream_closed' };
    const event = next.value;
    // A Files API call's filesystem event belongs to no run.
    if (event.run_id === null || !activeRuns.has(event.run_id)) continue;
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
        request = event;
        transcript.steeringRequest(event);
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
          // An older server's request cannot be answered here: a message on the thread is the reply.
          if (request?.request_id === undefined) transcript.line('[waiting for your reply]');
          return { kind: 'waiting_on_human', request };
        }
        break;
    }
  }
  transcript.endLine();
  return { kind: 'finished' };
}

/**
 * Reads the answer to a steering request: `a`/`approve`/`y`/`yes`, `d`/`deny`/`n`/`no` (optionally `d: reason`),
 * for a question the number or text of one of its options, anything else is a reply. Undefined when input ended;
 * 'interrupted' on Ctrl-C (the run is being cancelled).
 */
async function askSteering(
  request: SteeringRequestEvent,
  read: () => Promise<IteratorResult<string> | 'interrupted'>,
  transcript: Transcript,
  echoed: boolean,
  prompt: () => void,
): Promise<SteeringRespondParams | 'interrupted' | undefined> {
  for (;;) {
    prompt();
    const next = await read();
    if (next === 'interrupted') return next;
    if (next.done) return undefined;
    transcript.userLine(next.value, echoed, true);
    const answer = parseSteeringAnswer(next.value, request);
    if (answer) return answer;
  }
}

/** The answer a line gives to a steering request; undefined for an empty line. */
export function parseSteeringAnswer(line: string, request: Pick<SteeringRequestEvent, 'kind' | 'options'>): SteeringRespondParams | undefined {
  const text = line.trim();
  if (text === '') return undefined;
  // A question's own options come first: an option may well start with "no".
  if (request.kind === 'ask' && !isDefaultOptions(request.options)) {
    const number = Number(text);
    if (Number.isInteger(number) && number >= 1 && number <= request.options.length) return { decision: 'approve', message: request.options[number - 1]! };
    const option = request.options.find((candidate) => candidate.toLowerCase() === text.toLowerCase());
    if (option !== undefined) return { decision: 'approve', message: option };
  }
  if (/^(a|approve|y|yes)$/i.test(text)) return { decision: 'approve' };
  const deny = /^(?:d|deny|n|no)(?:$|[\s:,-]+([\s\S]*))$/i.exec(text);
  if (deny) {
    const reason = (deny[1] ?? '').trim();
    return reason === '' ? { decision: 'deny' } : { decision: 'deny', message: reason };
  }
  return { decision: 'reply', message: text };
}

function isDefaultOptions(options: string[]): boolean {
  return options.length === 3 && options[0] === 'approve' && options[1] === 'deny' && options[2] === 'reply';
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

  /**
   * A steering request: what the agent asks (or the call waiting for approval) and how to answer.
   * An older server's event (no request_id) shows as one bracketed line.
   */
  steeringRequest(event: SteeringRequestEvent): void {
    if (this.json) return;
    if (event.request_id === undefined) {
      this.line(`[steering_request ${event.summary}]`);
      return;
    }
    if (event.kind === 'ask') {
      this.line(`${this.#paint('33', '?')} ${this.#paint('1', 'The agent asks:')} ${event.summary}`);
      if (!isDefaultOptions(event.options)) this.line(`  ${event.options.map((option, index) => `${index + 1}) ${option}`).join('  ')}`);
      this.line(
        `  ${this.#paint('2', isDefaultOptions(event.options) ? 'type your answer, or approve (a) / deny (d)' : 'pick a number, type your answer, or approve (a) / deny (d)')}`,
      );
      return;
    }
    this.line(`${this.#paint('33', '?')} ${this.#paint('1', 'Approval needed:')} ${event.summary}`);
    if (event.tool_call) {
      const args = event.tool_call.arguments;
      this.line(`  ${this.#paint('36', '●')} ${this.#paint('1', event.tool_call.tool)}  ${describeToolCall(args !== null && typeof args === 'object' ? (args as Record<string, unknown>) : {})}`);
    }
    this.line(`  ${this.#paint('2', 'approve (a), deny (d, or "d: reason"), or type a reply')}`);
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
  userLine(text: string, echoed: boolean, steering = false): void {
    if (steering && this.json) return;
    if (!echoed) this.#output.write(`${text}\n`);
    this.#atLineStart = true;
  }

  endLine(): void {
    if (this.#atLineStart || this.json) return;
    this.#output.write('\n');
    this.#atLineStart = true;
  }
}
