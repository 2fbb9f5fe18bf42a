// npm run bench — measures Herm against the targets of DESIGN.md, on SQLite and on PostgreSQL, with the server
// in its own process (`herm serve`) and an instant scripted model on loopback. Prints a table, writes
// bench/results/latest.json, docs/benchmarks.md and docs/benchmarks.svg.
// Figures are percentiles of many iterations in one run; these shared 2-core machines are noisy.
// BENCH_SCALE=0.2 shrinks every count (a quick look); BENCH_STORES=sqlite skips PostgreSQL.
// `npm run bench -- --only sandbox` (or sqlite, postgres, langgraph; comma-separated) runs only those groups
// and leaves docs/benchmarks.md as it is: a partial run's figures go to bench/results/only-<groups>.json.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '../packages/server/src/store/open-store.ts';
import { createTestDatabase, postgresBaseUrl, type TestDatabase } from '../packages/server/test/support/databases.ts';
import { startTestServer } from '../packages/server/test/support/test-server.ts';
import { startHerm, type HermProcess } from './lib/herm-process.ts';
import { startModelProcess } from './lib/model-process.ts';
import { RunWatcher } from './lib/run-watcher.ts';
import { benchSandboxes } from './lib/sandbox-bench.ts';
import { readSse, type SseReader } from './lib/sse-reader.ts';
import { summarize, type Summary } from './lib/stats.ts';
import { writeReport, type BenchRow } from './lib/report.ts';

const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const GROUPS = ['sandbox', 'sqlite', 'postgres', 'langgraph'] as const;
type Group = (typeof GROUPS)[number];
const count = (full: number) => Math.max(1, Math.round(full * SCALE));
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

async function createDeployment(herm: HermProcess) {
  return herm.request('POST', '/v1/deployments', {
    customer_id: `cus_bench_${Math.random().toString(36).slice(2)}`,
    name: 'bench',
    system_prompt: 'You are a benchmark agent.',
    model: 'openai-compatible/bench',
  });
}

async function send(herm: HermProcess, deploymentId: string, content: string): Promise<string> {
  return (await herm.request('POST', `/v1/deployments/${deploymentId}/messages`, { content })).run_id;
}

async function inParallel<T>(workers: number, total: number, work: (index: number) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (next < total) {
        const index = next++;
        results[index] = await work(index);
      }
    }),
  );
  return results;
}

async function benchStore(store: 'sqlite' | 'postgres', modelUrl: string): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const row = (name: string, summary: Summary, unit: string, target: string) => {
    rows.push({ store, name, unit, ...summary, target });
    console.error(`  ${store} ${name}: p50 ${summary.p50.toFixed(1)} ${unit}, p99 ${summary.p99.toFixed(1)} ${unit}`);
  };
  const database: TestDatabase = await createTestDatabase(store);
  const herm = await startHerm({
    HERM_DATA_DIR: database.dataDir,
    ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}),
    OPENAI_COMPATIBLE_BASE_URL: modelUrl,
    HERM_SSE_HEARTBEAT_MS: '60000',
  });
  try {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    row('server RSS when idle', { p50: herm.rssMiB(), p99: herm.rssMiB(), samples: 1 }, 'MiB', '≤ 120 MiB');

    const createTimes: number[] = [];
    for (let index = 0; index < count(100); index++) {
      const started = performance.now();
      const deployment = await createDeployment(herm);
      if (deployment.status !== 'ready') throw new Error('not ready at create');
      createTimes.push(performance.now() - started);
    }
    row('create → ready (bubblewrap)', summarize(createTimes), 'ms', 'p50 ≤ 20 ms');

    const deployment = await createDeployment(herm);
    const watcher = await RunWatcher.open(`${herm.url}/v1/deployments/${deployment.deployment_id}/events`, herm.key);
    const firstToken: number[] = [];
    const completed: number[] = [];
    for (let index = 0; index < count(200); index++) {
      const started = performance.now();
      const runId = await send(herm, deployment.deployment_id, `hello ${index}`);
      const times = await watcher.ended(runId);
      firstToken.push(times.firstTokenAt! - started);
      completed.push(times.endedAt! - started);
    }
    row('POST message → first token at SSE client', summarize(firstToken), 'ms', 'p50 ≤ 5 ms, p99 ≤ 25 ms');
    row('POST message → completed, text-only run', summarize(completed), 'ms', 'p50 ≤ 10 ms');

    const toolRun: number[] = [];
    for (let index = 0; index < count(50); index++) {
      const started = performance.now();
      const runId = await send(herm, deployment.deployment_id, `[3-step] ${index}`);
      const times = await watcher.ended(runId);
      if (times.status !== 'completed') throw new Error('3-step run failed');
      toolRun.push(times.endedAt! - started);
    }
    row('POST message → completed, 3-step run with 2 shell calls', summarize(toolRun), 'ms', '');

    const oneTool: number[] = [];
    for (let index = 0; index < count(100); index++) {
      const started = performance.now();
      const runId = await send(herm, deployment.deployment_id, `[1-tool] ${index}`);
      const times = await watcher.ended(runId);
      oneTool.push(times.endedAt! - started);
    }
    row('POST message → completed, run with 1 shell call', summarize(oneTool), 'ms', '');
    watcher.close();

    // Runs per second: 32 clients, each on its own deployment (one thread each), back to back.
    const clients = 32;
    const perClient = count(20);
    const deployments = await inParallel(8, clients, () => createDeployment(herm));
    const watchers = await Promise.all(deployments.map((d) => RunWatcher.open(`${herm.url}/v1/deployments/${d.deployment_id}/events`, herm.key)));
    const started = performance.now();
    await Promise.all(
      deployments.map(async (d, client) => {
        for (let index = 0; index < perClient; index++) await watchers[client]!.ended(await send(herm, d.deployment_id, `hi ${index}`));
      }),
    );
    const runsPerSecond = (clients * perClient) / ((performance.now() - started) / 1000);
    row('runs per second, 32 concurrent clients', { p50: runsPerSecond, p99: runsPerSecond, samples: clients * perClient }, 'runs/s', '≥ 500');

    // Event throughput: events persisted and delivered to an SSE client per second.
    for (const concurrent of [1, 10, 100]) {
      const tokensPerRun = Math.max(20, Math.round(count(20_000) / concurrent));
      const pool = await inParallel(8, concurrent, () => createDeployment(herm));
      const poolWatchers = await Promise.all(pool.map((d) => RunWatcher.open(`${herm.url}/v1/deployments/${d.deployment_id}/events`, herm.key)));
      const throughputStarted = performance.now();
      await Promise.all(
        pool.map(async (d, index) => poolWatchers[index]!.ended(await send(herm, d.deployment_id, `[tokens:${tokensPerRun}]`))),
      );
      const seconds = (performance.now() - throughputStarted) / 1000;
      const events = poolWatchers.reduce((sum, w) => sum + w.eventCount, 0);
      for (const w of poolWatchers) w.close();
      const perSecond = events / seconds;
      row(`events persisted + delivered per second, ${concurrent} concurrent run${concurrent > 1 ? 's' : ''}`, { p50: perSecond, p99: perSecond, samples: events }, 'events/s', '≥ 50,000');
    }
    for (const w of watchers) w.close();

    // Fan-out: 1,000 subscribers on one deployment; latency from commit time (created_at) to arrival.
    const fanDeployment = await createDeployment(herm);
    const latencies: number[] = [];
    const subscribers = count(1_000);
    const readers = await inParallel(50, subscribers, () =>
      readSse(`${herm.url}/v1/deployments/${fanDeployment.deployment_id}/events`, herm.key, (event) => {
        if (event.type === 'token') latencies.push(event.receivedAt - Date.parse(event.data.created_at));
      }),
    );
    const expected = subscribers * 20;
    await send(herm, fanDeployment.deployment_id, '[tokens:20]');
    const deadline = Date.now() + 60_000;
    while (latencies.length < expected && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    for (const reader of readers) reader.close();
    row(`SSE fan-out to ${subscribers} subscribers, delivery latency`, summarize(latencies), 'ms', '');

    // Replay 100,000 events after a Last-Event-ID (appended straight into the store).
    const replayDeployment = await createDeployment(herm);
    const direct = await openStore({ dataDir: database.dataDir, databaseUrl: database.databaseUrl });
    const replayTotal = count(100_000);
    for (let start = 0; start < replayTotal; start += 5_000) {
      await direct.events.append(
        Array.from({ length: Math.min(5_000, replayTotal - start) }, (_, index) => ({
          deploymentId: replayDeployment.deployment_id,
          type: 'token',
          threadId: replayDeployment.thread_id,
          runId: 'run_replay',
          data: { delta: `token ${start + index}` },
        })),
      );
    }
    await direct.close();
    let replayed = 0;
    const replayStarted = performance.now();
    let replayEnded = 0;
    const replay = await readSse(
      `${herm.url}/v1/deployments/${replayDeployment.deployment_id}/events`,
      herm.key,
      () => {
        replayed++;
        if (replayed === replayTotal) replayEnded = performance.now();
      },
      { 'last-event-id': `evt_0000000000${String(replayDeployment.deployment_id).slice(4, 10)}` },
    );
    while (replayed < replayTotal) await new Promise((resolve) => setTimeout(resolve, 20));
    replay.close();
    const replayMs = replayEnded - replayStarted;
    row(`replay ${replayTotal.toLocaleString('en')} events after Last-Event-ID`, { p50: replayMs, p99: replayMs, samples: 1 }, 'ms', '< 1,000 ms');

    // Idle density: many deployments, then how much memory and how many processes the idle server holds.
    for (const target of [1_000, 10_000]) {
      const want = count(target);
      await inParallel(16, want, () => createDeployment(herm).catch(() => undefined));
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      const rss = herm.rssMiB();
      row(`idle with ${want.toLocaleString('en')} more deployments: RSS`, { p50: rss, p99: rss, samples: 1 }, 'MiB', '10,000 in < 300 MB (286 MiB)');
      const processes = herm.childProcessCount();
      row(`idle with ${want.toLocaleString('en')} more deployments: processes`, { p50: processes, p99: processes, samples: 1 }, 'processes', '0');
    }
  } finally {
    await herm.stop();
    await database.drop();
  }
  return rows;
}

/**
 * The event pipeline alone (append in batches, commit, fan out, SSE), without a model stream in front of it:
 * with streamed tokens the AI SDK's per-chunk parsing dominates the cost, which the row above shows.
 */
async function benchEventPipeline(store: 'sqlite' | 'postgres'): Promise<BenchRow> {
  const database = await createTestDatabase(store);
  const herm = await startTestServer({ dataDir: database.dataDir, ...(database.databaseUrl ? { databaseUrl: database.databaseUrl } : {}) });
  try {
    const deployment = await herm.createDeployment();
    const total = count(100_000);
    let delivered = 0;
    let finished = 0;
    // A reader more than 20,000 events behind is disconnected by design and resumes with Last-Event-ID, as
    // the SDK does; the burst below outruns it on PostgreSQL, so this reader resumes too.
    let lastId: string | undefined;
    let reconnects = 0;
    let reader: SseReader | undefined;
    const connect = async (): Promise<void> => {
      const current = await readSse(
        deployment.events.url,
        herm.adminKey,
        (event) => {
          lastId = event.id;
          if (++delivered === total) finished = performance.now();
        },
        lastId ? { 'last-event-id': lastId } : {},
      );
      reader = current;
      void current.done.then(() => {
        if (reader === current && delivered < total) {
          reconnects++;
          void connect();
        }
      });
    };
    await connect();
    const started = performance.now();
    const events = herm.server.services.events;
    for (let index = 0; index < total; index++) {
      void events.emit({ deploymentId: deployment.deployment_id, type: 'token', threadId: deployment.thread_id, runId: 'run_pipeline', data: { delta: `t${index}` } });
      if (index % 1_000 === 999) await new Promise((resolve) => setImmediate(resolve));
    }
    const deadline = Date.now() + 120_000;
    while (delivered < total) {
      if (Date.now() > deadline) throw new Error(`event pipeline: ${delivered} of ${total} events delivered after 120 s`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const last = reader;
    reader = undefined;
    last?.close();
    const perSecond = total / ((finished - started) / 1000);
    console.error(`  ${store} event pipeline alone: ${Math.round(perSecond)} events/s (${reconnects} resumptions with Last-Event-ID)`);
    return { store, name: 'events persisted + delivered per second, event pipeline alone (in-process)', unit: 'events/s', p50: perSecond, p99: perSecond, samples: total, target: '≥ 50,000' };
  } finally {
    await herm.close();
    await database.drop();
  }
}

/** The same workload against LangGraph's JS API server (bench/langgraph), for the side-by-side ratios. */
async function benchLangGraph(): Promise<BenchRow[]> {
  const directory = path.join(ROOT, 'bench/langgraph');
  if (!fs.existsSync(path.join(directory, 'node_modules/@langchain/langgraph-cli'))) {
    console.error('installing the LangGraph comparison (npm ci --prefix bench/langgraph)…');
    execFileSync('npm', ['ci', '--prefix', directory, '--no-audit', '--no-fund', '--loglevel=error'], { stdio: 'inherit' });
  }
  console.error('benchmarking LangGraph JS (langgraphjs dev)…');
  const { measureLangGraph } = await import('./langgraph/compare.ts');
  const result = await measureLangGraph({ iterations: count(200), concurrency: 32, runs: 32 * count(20), toolThroughput: false });
  const single = (value: number) => ({ p50: value, p99: value, samples: 1 });
  return [
    { store: 'langgraph', name: 'server RSS when idle', unit: 'MiB', ...single(result.idleRssMiB), target: '' },
    { store: 'langgraph', name: 'POST message → first token at SSE client', unit: 'ms', ...summarize(result.textOnlyFirstTokenMs), target: '' },
    { store: 'langgraph', name: 'POST message → completed, text-only run', unit: 'ms', ...summarize(result.textOnlyRunMs), target: '' },
    { store: 'langgraph', name: 'POST message → completed, run with 1 tool call', unit: 'ms', ...summarize(result.runMs), target: '' },
    { store: 'langgraph', name: 'runs per second, 32 concurrent clients', unit: 'runs/s', ...single(result.runsPerSecond), target: '' },
  ];
}

/** The groups `--only a,b` (or `--only=a,b`) names, or undefined for a full run. */
function onlyGroups(argv: string[]): Group[] | undefined {
  const index = argv.findIndex((argument) => argument === '--only' || argument.startsWith('--only='));
  if (index === -1) return undefined;
  const value = argv[index]!.startsWith('--only=') ? argv[index]!.slice('--only='.length) : (argv[index + 1] ?? '');
  const groups = value.split(',').filter(Boolean);
  const unknown = groups.filter((group) => !(GROUPS as readonly string[]).includes(group));
  if (groups.length === 0 || unknown.length > 0) {
    console.error(`--only takes one or more of ${GROUPS.join(', ')} (comma-separated); got ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return groups as Group[];
}

const only = onlyGroups(process.argv.slice(2));
const runs = (group: Group) => only === undefined || only.includes(group);
const stores = ((process.env.BENCH_STORES ?? 'sqlite,postgres').split(',') as ('sqlite' | 'postgres')[]).filter(runs);
// The scripted model runs in a process of its own, as a model provider would: in the bench's process it would
// compete with the load generator and the SSE clients for one event loop, and inflate every latency.
const model = stores.length > 0 ? await startModelProcess() : undefined;
const rows: BenchRow[] = [];
try {
  if (runs('sandbox')) {
    console.error('benchmarking the sandboxes…');
    rows.push(...(await benchSandboxes({ count })));
  }
  for (const store of stores) {
    if (store === 'postgres' && !(await postgresBaseUrl())) {
      console.error('PostgreSQL skipped: set HERM_TEST_DATABASE_URL=postgres://… to include it');
      continue;
    }
    console.error(`benchmarking on ${store}…`);
    rows.push(...(await benchStore(store, model!.url)));
    rows.push(await benchEventPipeline(store));
  }
  if (runs('langgraph') && process.env.BENCH_LANGGRAPH !== '0') rows.push(...(await benchLangGraph()));
} finally {
  await model?.close();
}
writeReport(ROOT, rows, { scale: SCALE, ...(only ? { only } : {}) });
process.exit(0);
