// API commands: deployments, threads, events. They talk to a Herm server through the SDK, configured from
// PRISM_API_KEY / HERM_BASE_URL or --api-key / --base-url. Tables for people, --json (one JSON object a
// line) for scripts.
import Herm, { DEFAULT_BASE_URL, HermError, type Deployment, type Thread } from 'herm';
import { CliError, EXIT, UsageError } from '../cli-errors.ts';
import { colorWanted, paint } from '../color.ts';
import { failFastFetch } from '../fail-fast-fetch.ts';

export interface ClientFlags {
  'api-key'?: string | undefined;
  'base-url'?: string | undefined;
}

/** Options every API command takes, for parseArgs. */
export const CLIENT_OPTIONS = {
  'api-key': { type: 'string' },
  'base-url': { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** The base URL the command will use (as given), for error hints even before the client exists. */
export function resolveBaseURL(flags: ClientFlags): string {
  return flags['base-url'] ?? (process.env.HERM_BASE_URL || undefined) ?? DEFAULT_BASE_URL;
}

export function createClient(flags: ClientFlags): Herm {
  const apiKey = flags['api-key'] ?? (process.env.PRISM_API_KEY || undefined);
  if (!apiKey) {
    throw new CliError('no API key', 'set PRISM_API_KEY (or pass --api-key); create one with: herm keys create --scopes …', EXIT.auth);
  }
  const baseURL = resolveBaseURL(flags);
  try {
    // A server that is not running is said at once, not after the SDK's retries (fail-fast-fetch.ts).
    return new Herm({ apiKey, baseURL, fetch: failFastFetch() });
  } catch (error) {
    if (!(error instanceof HermError)) throw error;
    throw new CliError(`invalid base URL '${baseURL}'`, `expected an http(s) URL such as ${DEFAULT_BASE_URL} (HERM_BASE_URL or --base-url)`, EXIT.usage);
  }
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

function jsonLine(value: unknown): void {
  out(JSON.stringify(value));
}

function table(rows: string[][]): void {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, index) => (widths[index] = Math.max(widths[index] ?? 0, cell.length)));
  for (const row of rows) out(row.map((cell, index) => (index === row.length - 1 ? cell : cell.padEnd(widths[index] ?? 0))).join('  ').trimEnd());
}

export interface DeploymentsArgs {
  action: string;
  positionals: string[];
  values: ClientFlags & { json?: boolean | undefined; customer?: string | undefined; name?: string | undefined; 'system-prompt'?: string | undefined; model?: string | undefined; 'retain-filesystem'?: boolean | undefined };
}

export async function deploymentsCommand(client: Herm, { action, positionals, values }: DeploymentsArgs): Promise<void> {
  if (action === 'list') {
    const rows: string[][] = [['ID', 'NAME', 'CUSTOMER', 'STATUS', 'MODEL']];
    for await (const deployment of client.deployments.list(values.customer ? { customer_id: values.customer } : {})) {
      if (values.json) jsonLine(deployment);
      else rows.push([deployment.deployment_id, deployment.name, deployment.customer_id, deployment.status, deployment.model]);
    }
    if (!values.json) table(rows);
  } else if (action === 'get') {
    const deployment = await client.deployments.get(requireId(positionals, 'herm deployments get'));
    if (values.json) jsonLine(deployment);
    else printDeployment(deployment);
  } else if (action === 'create') {
    const missing = (['name', 'customer', 'system-prompt'] as const).filter((flag) => !values[flag]);
    if (missing.length > 0) throw new UsageError(`missing ${missing.map((flag) => `--${flag}`).join(', ')}`, 'herm deployments create');
    const deployment = await client.deployments.create({
      name: values.name!,
      customer_id: values.customer!,
      system_prompt: values['system-prompt']!,
      ...(values.model ? { model: values.model } : {}),
    });
    if (values.json) jsonLine(deployment);
    else out(`Created ${deployment.deployment_id} (${deployment.status}); default thread ${deployment.thread_id}`);
  } else if (action === 'delete') {
    const id = requireId(positionals, 'herm deployments delete');
    const result = await client.deployments.delete(id, values['retain-filesystem'] ? { retain_filesystem: true } : {});
    if (values.json) jsonLine(result);
    else out(`Deleted ${id}`);
  }
}

function printDeployment(deployment: Deployment): void {
  table([
    ['id', deployment.deployment_id],
    ['name', deployment.name],
    ['customer', deployment.customer_id],
    ['status', deployment.status],
    ['model', deployment.model],
    ['thread', deployment.thread_id],
    ['sandbox', `${deployment.sandbox.enabled ? deployment.sandbox.type : 'off'}${deployment.filesystem.persistent ? ', persistent' : ''}`],
  ]);
}

export interface ThreadsArgs {
  action: string;
  positionals: string[];
  values: ClientFlags & { json?: boolean | undefined };
}

export async function threadsCommand(client: Herm, { action, positionals, values }: ThreadsArgs): Promise<void> {
  const deploymentId = requireId(positionals, `herm threads ${action}`);
  if (action === 'list') {
    const rows: string[][] = [['ID', 'STATUS', 'MESSAGES', 'LAST ACTIVITY', 'TITLE']];
    for await (const thread of client.threads.list(deploymentId)) {
      if (values.json) jsonLine(thread);
      else rows.push(threadRow(thread));
    }
    if (!values.json) table(rows);
  } else if (action === 'get') {
    const threadId = positionals[1];
    if (!threadId) throw new UsageError('missing <thread_id>', 'herm threads get');
    const thread = await client.threads.get(deploymentId, threadId);
    if (values.json) {
      jsonLine(thread);
      return;
    }
    out(`${thread.thread_id}  ${thread.status}${thread.title ? `  ${thread.title}` : ''}`);
    for (const message of thread.messages ?? []) out(`${message.role === 'user' ? 'you' : 'agent'}> ${message.content}`);
  }
}

function threadRow(thread: Thread): string[] {
  return [thread.thread_id, thread.status, String(thread.message_count ?? ''), thread.last_activity_at ?? '', thread.title ?? ''];
}

export interface EventsArgs {
  positionals: string[];
  values: ClientFlags & { json?: boolean | undefined; thread?: string | undefined };
}

/** Follows a deployment's events until interrupted (or the server ends the stream). */
export async function eventsTailCommand(client: Herm, { positionals, values }: EventsArgs): Promise<void> {
  const deploymentId = requireId(positionals, 'herm events tail');
  const stream = await client.deployments.events.stream(deploymentId, values.thread ? { thread_id: values.thread } : {});
  process.stderr.write(`Following the events of ${deploymentId}${values.thread ? ` on ${values.thread}` : ''}; Ctrl-C stops.\n`);
  const stop = (): void => stream.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const color = !values.json && colorWanted(process.stdout);
  try {
    for await (const event of stream) {
      if (values.json) jsonLine(event);
      else {
        const type = paint(color, EVENT_COLORS[event.type] ?? '1', event.type);
        out(`${paint(color, '2', event.created_at)}  ${paint(color, '2', event.run_id ?? '-')}  ${type}  ${summary(event as unknown as Record<string, unknown>)}`);
      }
    }
  } catch (error) {
    if ((error as Error).name === 'APIUserAbortError' || (error as Error).name === 'AbortError') return;
    throw error;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/** The colour of each event type's name on a terminal: the agent's text green, tools cyan and magenta, status yellow. */
const EVENT_COLORS: Record<string, string> = {
  token: '32',
  tool_call: '1;36',
  tool_result: '35',
  run_status: '1;33',
  filesystem: '34',
  steering_request: '1;31',
};

function summary(event: Record<string, unknown>): string {
  const { type, run_id: _run, thread_id: _thread, created_at: _created, id: _id, ...rest } = event;
  void type;
  return JSON.stringify(rest);
}

function requireId(positionals: string[], command: string): string {
  const id = positionals[0];
  if (!id) throw new UsageError('missing <deployment_id>', command);
  return id;
}

export interface FilesArgs {
  action: string;
  positionals: string[];
  values: ClientFlags & { json?: boolean | undefined; thread?: string | undefined; output?: string | undefined };
  /** Reads stdin, for `files put` without a local file. */
  readStdin: () => Promise<Uint8Array>;
}

/** `files ls|get|put`: a deployment's workspace (a thread's, with --thread, when it has one per thread). */
export async function filesCommand(client: Herm, { action, positionals, values, readStdin }: FilesArgs): Promise<void> {
  const deploymentId = requireId(positionals, `herm files ${action}`);
  const thread = values.thread ? { thread_id: values.thread } : {};
  if (action === 'ls') {
    const listing = await client.files.list(deploymentId, { ...thread, ...(positionals[1] ? { path: positionals[1] } : {}) });
    if (values.json) {
      for (const entry of listing.entries) jsonLine(entry);
      return;
    }
    const rows = [['TYPE', 'SIZE', 'MODIFIED', 'NAME']];
    for (const entry of listing.entries) {
      rows.push([entry.type === 'directory' ? 'dir' : 'file', entry.size === undefined ? '-' : String(entry.size), entry.modified_at, entry.type === 'directory' ? `${entry.name}/` : entry.name]);
    }
    table(rows);
  } else if (action === 'get') {
    const filePath = positionals[1];
    if (!filePath) throw new UsageError('missing <path>', 'herm files get');
    const file = await client.files.read(deploymentId, { ...thread, path: filePath });
    const bytes = await file.bytes();
    if (values.output) {
      const { writeFile } = await import('node:fs/promises');
      await writeFile(values.output, bytes);
      process.stderr.write(`Wrote ${values.output} (${bytes.byteLength} bytes)\n`);
    } else {
      await new Promise<void>((resolve, reject) => process.stdout.write(bytes, (error) => (error ? reject(error) : resolve())));
    }
  } else if (action === 'put') {
    const filePath = positionals[1];
    if (!filePath) throw new UsageError('missing <path>', 'herm files put');
    const local = positionals[2];
    let content: Uint8Array;
    if (local === undefined || local === '-') {
      content = await readStdin();
    } else {
      const { readFile } = await import('node:fs/promises');
      try {
        content = await readFile(local);
      } catch (error) {
        throw new CliError(`cannot read ${local}: ${(error as Error).message}`, undefined, EXIT.usage);
      }
    }
    const written = await client.files.write(deploymentId, { ...thread, path: filePath, content });
    if (values.json) jsonLine(written);
    else out(`Wrote ${written.path} (${written.size} bytes)`);
  }
}
