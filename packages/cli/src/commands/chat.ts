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
}

const PROMPT = 'you> ';
const EXIT_COMMAND = '/exit';
const TOOL_RESULT_PREVIEW_CHARS = 120;

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
  const transcript = new Transcript(output);
  const readline = createInterface({ input, output, prompt: PROMPT });
  // Created at once so that lines typed (or piped) while a run streams are queued, not dropped.
  const lines = readline[Symbol.asyncIterator]();
  const activeRuns = new Set<string>();
  let inputEnded = false;
  readline.once('close', () => {
    inputEnded = true;
  });
  // Lines queued before the end of input are still answered, so still prompted for.
  const showPrompt = (): void => {
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
        transcript.line(`[error: ${errorMessage(error)}]`);
      });
    }
  });

  try {
    transcript.line(`Chatting with ${deploymentId} on thread ${threadId}. Type ${EXIT_COMMAND} to quit.`);
    showPrompt();
    while (true) {
      const next = await lines.next();
      if (next.done) break;
      transcript.userLine(next.value, readline.terminal);
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
    transcript.line(`[error: ${error.message}]`);
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
    switch (event.type) {
      case 'token':
        transcript.text(event.delta);
        break;
      case 'tool_call':
        transcript.line(`[tool_call ${event.tool} ${JSON.stringify(event.arguments)}]`);
        break;
      case 'tool_result':
        transcript.line(`[tool_result ${event.tool}${event.is_error ? ' error' : ''}: ${preview(event.result)}]`);
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

/** One line of a tool result: whitespace collapsed, cut to a preview length. */
function preview(result: unknown): string {
  const text = (typeof result === 'string' ? result : (JSON.stringify(result) ?? String(result))).replace(/\s+/g, ' ').trim();
  return text.length > TOOL_RESULT_PREVIEW_CHARS ? `${text.slice(0, TOOL_RESULT_PREVIEW_CHARS)}…` : text;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Writes agent text as it streams and keeps bracketed notes on lines of their own. */
class Transcript {
  readonly #output: NodeJS.WritableStream;
  #atLineStart = true;

  constructor(output: NodeJS.WritableStream) {
    this.#output = output;
  }

  text(delta: string): void {
    if (delta === '') return;
    this.#output.write(delta);
    this.#atLineStart = delta.endsWith('\n');
  }

  line(text: string): void {
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
    if (this.#atLineStart) return;
    this.#output.write('\n');
    this.#atLineStart = true;
  }
}
