// Herm ÷ LangGraph (issue #3 item 2): runs the scripted workload of bench/run.ts against LangGraph's open-source JS API
// server (`langgraphjs dev`, the in-memory dev server of @langchain/langgraph-cli) and measures it with the official
// client (@langchain/langgraph-sdk). The graph is graph.mts beside this file; its config is langgraph.json.
//
//   npm ci --prefix bench/langgraph          # once; LangGraph's deps stay out of the product's workspaces
//   node bench/langgraph/compare.ts          # prints p50/p99 and runs/s; LG_ITERATIONS, LG_CONCURRENCY, LG_RUNS
//
// The server runs on a free 127.0.0.1 port with no browser, no CLI analytics and no LangSmith tracing, from a copy of
// langgraph.json in a temporary directory (so its .langgraph_api/ persistence starts empty and is removed after).
//
// This file is type-checked by the root tsconfig (bench/**/*.ts) on clones that have not installed bench/langgraph's
// deps, so it imports nothing from them statically: the SDK is loaded with a computed import and typed by the small
// interfaces below.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export interface LangGraphOptions {
  /** Sequential runs measured for each latency figure (each on a new thread). */
  iterations: number;
  /** Parallel clients for runs per second, each on its own thread, back to back. */
  concurrency: number;
  /** Total runs for runs per second (default concurrency × 20, as bench/run.ts does for Herm). */
  runs?: number;
  /** The dev server's queue workers (`langgraphjs dev -n`, default 10: its own default). */
  workers?: number;
  /** The server's LOG_LEVEL (default 'warn': its default, 'debug', logs every request and run). */
  logLevel?: string;
  /** Discarded runs of each graph before measuring (default 5). */
  warmup?: number;
  /** Also measure runs per second of the tool workload (default true). */
  toolThroughput?: boolean;
}

export interface LangGraphResult {
  /** Tool workload: request (POST /threads/{id}/runs/stream) → first model chunk at the client (the tool-call chunk). */
  firstTokenMs: number[];
  /** Tool workload: request → end of the stream (model → tool → model streaming the answer). */
  runMs: number[];
  /** Tool workload: request → the answer's last token at the client (the run's work done; its stream ends ~500 ms later). */
  runLastTokenMs: number[];
  /** Text-only workload, `concurrency` parallel clients, each on its own thread, back to back: runs whose stream ended, per second. */
  runsPerSecond: number;
  /** As runsPerSecond, but each client moves on at the answer's last token instead of waiting for the stream's end. */
  runsPerSecondToLastToken: number;
  /** Text-only workload: request → end of the stream ("POST → completed"). */
  textOnlyRunMs: number[];
  /** Text-only workload: request → first text token at the client (the figure bench/run.ts takes for Herm). */
  textOnlyFirstTokenMs: number[];
  /** Text-only workload: request → the answer's last token at the client. */
  textOnlyLastTokenMs: number[];
  /** Tool workload, same clients as runsPerSecond (NaN when toolThroughput is false). */
  toolRunsPerSecond: number;
  /** VmRSS of the API server process (the one that serves HTTP and runs the graphs) once started, idle. */
  idleRssMiB: number;
  /** VmRSS summed over the whole dev-server tree: CLI, tsx watch, API server, esbuild service. */
  idleTreeRssMiB: number;
  /** Spawn of `langgraphjs dev` → GET /ok answers 200 (graphs registered, workers started). */
  startupMs: number;
  /** The versions measured. */
  versions: Record<string, string>;
}

// --- the slice of @langchain/langgraph-sdk used here -------------------------------------------------------------
interface SdkStreamPart {
  event: string;
  data: unknown;
}
interface SdkClient {
  threads: { create(): Promise<{ thread_id: string }> };
  runs: {
    stream(
      threadId: string,
      assistantId: string,
      payload: { input: unknown; streamMode: string | string[]; multitaskStrategy?: string },
    ): AsyncIterable<SdkStreamPart>;
  };
}
type SdkClientConstructor = new (config: { apiUrl: string }) => SdkClient;

async function loadSdk(): Promise<SdkClientConstructor> {
  const specifier: string = '@langchain/langgraph-sdk';
  let module: { Client: SdkClientConstructor };
  try {
    module = await import(specifier);
  } catch (error) {
    throw new Error(`@langchain/langgraph-sdk is not installed: run \`npm ci --prefix bench/langgraph\` (${String(error)})`);
  }
  return module.Client;
}

// --- the dev server -------------------------------------------------------------------------------------------------
interface DevServer {
  url: string;
  child: ChildProcess;
  startupMs: number;
  output: () => string;
  stop: () => Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Writes langgraph.json to a fresh directory with the graph paths made absolute. */
function projectCopy(): string {
  const config = JSON.parse(fs.readFileSync(path.join(HERE, 'langgraph.json'), 'utf8')) as { graphs: Record<string, string> };
  for (const [id, spec] of Object.entries(config.graphs)) {
    const [file, symbol] = spec.split(':');
    config.graphs[id] = `${path.resolve(HERE, file!)}:${symbol}`;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-bench-langgraph-'));
  fs.writeFileSync(path.join(dir, 'langgraph.json'), JSON.stringify(config, null, 2));
  // The CLI appends `.langgraph_api` to the project's .gitignore unless it is there: keep it from touching ours.
  fs.writeFileSync(path.join(dir, '.gitignore'), '.langgraph_api\n');
  // The server resolves @langchain/langgraph from the project directory: give it ours.
  fs.symlinkSync(path.join(HERE, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  return dir;
}

async function startDevServer(options: { workers: number; logLevel: string }): Promise<DevServer> {
  const cli = path.join(HERE, 'node_modules/@langchain/langgraph-cli/dist/cli/cli.mjs');
  if (!fs.existsSync(cli)) throw new Error('@langchain/langgraph-cli is not installed: run `npm ci --prefix bench/langgraph`');
  const port = await freePort();
  const project = projectCopy();
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) if (/^(LANGSMITH_|LANGCHAIN_)/.test(name)) delete env[name];
  Object.assign(env, {
    LANGSMITH_TRACING: 'false', // no tracing to LangSmith, no tenant lookup at startup
    LANGCHAIN_TRACING_V2: 'false',
    LANGGRAPH_CLI_NO_ANALYTICS: '1', // the CLI otherwise posts a usage record per command
    BROWSER: 'none', // with --no-browser: never open LangSmith Studio
    LOG_LEVEL: options.logLevel,
    NO_COLOR: '1',
    TSX_TSCONFIG_PATH: path.join(HERE, 'tsconfig.json'),
  });
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [cli, 'dev', '--no-browser', '--host', '127.0.0.1', '--port', String(port), '--n-jobs-per-worker', String(options.workers), '--config', path.join(project, 'langgraph.json')],
    { cwd: HERE, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true }, // its own process group, stopped whole
  );
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {}
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {}
      }, 5_000);
      await exited;
      clearTimeout(timer);
    }
    // Anything of the group still alive (tsx watch, the server, esbuild) goes too.
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {}
    fs.rmSync(project, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    // tsx watch outlives a server that crashed while loading, so look at the output too.
    if (child.exitCode !== null || /triggerUncaughtException|Failed to launch server/.test(output)) {
      await stop();
      throw new Error(`langgraphjs dev failed to start (exit ${child.exitCode}):\n${output}`);
    }
    const ok = await fetch(`${url}/ok`).then((response) => response.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`langgraphjs dev did not answer /ok within 60 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { url, child, startupMs: performance.now() - started, output: () => output, stop };
}

// --- processes ------------------------------------------------------------------------------------------------------
function descendants(pid: number): number[] {
  const all: number[] = [pid];
  for (let index = 0; index < all.length; index++) {
    const tasks = fs.readdirSync(`/proc/${all[index]}/task`, { withFileTypes: true });
    for (const task of tasks) {
      const children = fs.readFileSync(`/proc/${all[index]}/task/${task.name}/children`, 'utf8').trim();
      if (children) all.push(...children.split(/\s+/).map(Number));
    }
  }
  return all;
}

function rssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

function serverPid(rootPid: number): number {
  for (const pid of descendants(rootPid)) {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (cmdline.includes('entrypoint.mjs') && !cmdline.includes('watch')) return pid;
  }
  throw new Error('could not find the LangGraph API server process');
}

// --- the workload ---------------------------------------------------------------------------------------------------
interface RunTimes {
  firstChunkMs: number;
  firstTextMs: number;
  /** The answer's last token at the client: the run's work is done, though its stream stays open (see below). */
  lastTextMs: number;
  endMs: number;
}

const ANSWER = 'Hello! How can I help?';

function isAiChunk(data: unknown): { text: boolean } | undefined {
  if (!Array.isArray(data)) return undefined;
  const message = data[0] as { type?: string; content?: unknown } | undefined;
  if (!message || (message.type !== 'ai' && message.type !== 'AIMessageChunk')) return undefined;
  const content = message.content;
  const text = typeof content === 'string' ? content.length > 0 : Array.isArray(content) && content.length > 0;
  return { text };
}

/** One streamed run: the user's message in, `messages-tuple` events out as the model produces them. */
// The in-memory server ends a run's stream only when its queue read times out (500 ms) and it then finds the run
// finished: it publishes no "done" for a run that ends normally. So "end of stream" is the last event + up to 500 ms.
// With `leaveAtLastToken` the client closes the stream once the whole answer arrived instead (the server keeps the
// run going on disconnect: on_disconnect defaults to "continue"), and the next run on the thread is enqueued.
async function streamRun(
  client: SdkClient,
  threadId: string,
  assistant: 'agent' | 'text',
  content: string,
  leaveAtLastToken = false,
): Promise<RunTimes> {
  const started = performance.now();
  let firstChunkMs = NaN;
  let firstTextMs = NaN;
  let lastTextMs = NaN;
  let text = '';
  for await (const part of client.runs.stream(threadId, assistant, {
    input: { messages: [{ role: 'user', content }] },
    streamMode: 'messages-tuple',
    ...(leaveAtLastToken ? { multitaskStrategy: 'enqueue' } : {}),
  })) {
    if (part.event === 'error') throw new Error(`run failed: ${JSON.stringify(part.data)}`);
    if (part.event !== 'messages') continue;
    const chunk = isAiChunk(part.data);
    if (!chunk) continue;
    const now = performance.now() - started;
    if (Number.isNaN(firstChunkMs)) firstChunkMs = now;
    if (chunk.text) {
      if (Number.isNaN(firstTextMs)) firstTextMs = now;
      text += String((part.data as [{ content: string }])[0].content);
      lastTextMs = now;
      if (leaveAtLastToken && text === ANSWER) break;
    }
  }
  const endMs = performance.now() - started;
  if (text !== ANSWER) throw new Error(`unexpected answer ${JSON.stringify(text)}`);
  return { firstChunkMs, firstTextMs, lastTextMs, endMs };
}

async function throughput(
  Client: SdkClientConstructor,
  url: string,
  assistant: 'agent' | 'text',
  clients: number,
  total: number,
  leaveAtLastToken = false,
): Promise<number> {
  const perClient = Array.from({ length: clients }, (_, index) => Math.floor(total / clients) + (index < total % clients ? 1 : 0));
  const setups = await Promise.all(
    perClient.map(async () => {
      const client = new Client({ apiUrl: url });
      return { client, threadId: (await client.threads.create()).thread_id };
    }),
  );
  const started = performance.now();
  await Promise.all(
    setups.map(async ({ client, threadId }, index) => {
      for (let run = 0; run < perClient[index]!; run++) await streamRun(client, threadId, assistant, `hi ${run}`, leaveAtLastToken);
    }),
  );
  return total / ((performance.now() - started) / 1000);
}

export async function measureLangGraph(options: LangGraphOptions): Promise<LangGraphResult> {
  const Client = await loadSdk();
  const server = await startDevServer({ workers: options.workers ?? 10, logLevel: options.logLevel ?? 'warn' });
  try {
    // Idle RSS once started, after a second's rest, before any run (as bench/run.ts reads Herm's).
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const apiPid = serverPid(server.child.pid!);
    const idleRssMiB = rssMiB(apiPid);
    const idleTreeRssMiB = descendants(server.child.pid!).reduce((sum, pid) => sum + rssMiB(pid), 0);

    const client = new Client({ apiUrl: server.url });
    for (let index = 0; index < (options.warmup ?? 5); index++) {
      for (const assistant of ['agent', 'text'] as const) {
        await streamRun(client, (await client.threads.create()).thread_id, assistant, `warm-up ${index}`);
      }
    }

    // The tool workload: a new thread, a message in, one tool call, streamed text out.
    const firstTokenMs: number[] = [];
    const runMs: number[] = [];
    const runLastTokenMs: number[] = [];
    for (let index = 0; index < options.iterations; index++) {
      const thread = await client.threads.create();
      const times = await streamRun(client, thread.thread_id, 'agent', `hello ${index}`);
      firstTokenMs.push(times.firstChunkMs);
      runLastTokenMs.push(times.lastTextMs);
      runMs.push(times.endMs);
    }

    // The text-only workload.
    const textOnlyFirstTokenMs: number[] = [];
    const textOnlyRunMs: number[] = [];
    const textOnlyLastTokenMs: number[] = [];
    for (let index = 0; index < options.iterations; index++) {
      const thread = await client.threads.create();
      const times = await streamRun(client, thread.thread_id, 'text', `hello ${index}`);
      textOnlyFirstTokenMs.push(times.firstTextMs);
      textOnlyLastTokenMs.push(times.lastTextMs);
      textOnlyRunMs.push(times.endMs);
    }

    const total = options.runs ?? options.concurrency * 20;
    const runsPerSecond = await throughput(Client, server.url, 'text', options.concurrency, total);
    const runsPerSecondToLastToken = await throughput(Client, server.url, 'text', options.concurrency, total, true);
    const toolRunsPerSecond = options.toolThroughput === false ? NaN : await throughput(Client, server.url, 'agent', options.concurrency, total);

    const versions: Record<string, string> = {};
    for (const name of ['@langchain/langgraph-cli', '@langchain/langgraph-api', '@langchain/langgraph', '@langchain/langgraph-sdk', '@langchain/core']) {
      versions[name] = (JSON.parse(fs.readFileSync(path.join(HERE, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
    }
    return {
      firstTokenMs,
      runMs,
      runLastTokenMs,
      runsPerSecond,
      runsPerSecondToLastToken,
      textOnlyRunMs,
      textOnlyFirstTokenMs,
      textOnlyLastTokenMs,
      toolRunsPerSecond,
      idleRssMiB,
      idleTreeRssMiB,
      startupMs: server.startupMs,
      versions,
    };
  } catch (error) {
    throw new Error(`${String(error)}\n--- langgraphjs dev output (last 20 kB) ---\n${server.output()}`);
  } finally {
    await server.stop();
  }
}

// --- CLI ------------------------------------------------------------------------------------------------------------
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const iterations = Number(process.env.LG_ITERATIONS ?? 200);
  const concurrency = Number(process.env.LG_CONCURRENCY ?? 32);
  const runs = process.env.LG_RUNS ? Number(process.env.LG_RUNS) : undefined;
  const result = await measureLangGraph({
    iterations,
    concurrency,
    ...(runs ? { runs } : {}),
    ...(process.env.LG_WORKERS ? { workers: Number(process.env.LG_WORKERS) } : {}),
    ...(process.env.LG_LOG_LEVEL ? { logLevel: process.env.LG_LOG_LEVEL } : {}),
  });
  const line = (name: string, values: number[]) =>
    console.log(`${name.padEnd(58)} p50 ${percentile(values, 50).toFixed(1).padStart(7)} ms   p99 ${percentile(values, 99).toFixed(1).padStart(7)} ms   (n=${values.length})`);
  console.log(`LangGraph JS dev server (${Object.entries(result.versions).map(([name, version]) => `${name}@${version}`).join(', ')})`);
  console.log(`${'startup: spawn → GET /ok 200'.padEnd(58)} ${result.startupMs.toFixed(0)} ms`);
  console.log(`${'idle RSS: API server process / whole dev-server tree'.padEnd(58)} ${result.idleRssMiB.toFixed(1)} MiB / ${result.idleTreeRssMiB.toFixed(1)} MiB`);
  line('tool run: request → first model chunk', result.firstTokenMs);
  line('tool run: request → last token', result.runLastTokenMs);
  line('tool run: request → end of stream', result.runMs);
  line('text-only run: request → first token', result.textOnlyFirstTokenMs);
  line('text-only run: request → last token', result.textOnlyLastTokenMs);
  line('text-only run: request → end of stream (POST → completed)', result.textOnlyRunMs);
  const total = runs ?? concurrency * 20;
  console.log(`${`runs/s, text-only, ${concurrency} clients, ${total} runs`.padEnd(58)} ${result.runsPerSecond.toFixed(1)}`);
  console.log(`${`runs/s, text-only, client leaves at last token`.padEnd(58)} ${result.runsPerSecondToLastToken.toFixed(1)}`);
  console.log(`${`runs/s, tool run, ${concurrency} clients, ${total} runs`.padEnd(58)} ${result.toolRunsPerSecond.toFixed(1)}`);
  if (process.env.LG_JSON) fs.writeFileSync(process.env.LG_JSON, JSON.stringify(result, null, 2));
}
