// npm run bench: measures Herm against the targets of DESIGN.md on this machine (first slice of issue #3).
// Prints a table and writes bench/results/latest.json. Figures are medians over many iterations in one run;
// these shared 2-core machines are noisy, so compare figures from the same run.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBubblewrapBackend } from '../packages/server/src/sandbox/bubblewrap.ts';
import { openSse } from '../packages/server/test/support/sse-client.ts';
import { startTestServer } from '../packages/server/test/support/test-server.ts';

interface Result {
  name: string;
  unit: string;
  p50: number;
  p99: number;
  samples: number;
  target?: string;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function summarize(name: string, values: number[], target?: string): Result {
  return { name, unit: 'ms', p50: percentile(values, 50), p99: percentile(values, 99), samples: values.length, ...(target ? { target } : {}) };
}

const iterations = Number(process.env.BENCH_ITERATIONS ?? 200);
const results: Result[] = [];
const herm = await startTestServer({ env: { HERM_SSE_HEARTBEAT_MS: '60000' } });
try {
  // create → ready (bubblewrap): create answers once provisioning is done.
  const createTimes: number[] = [];
  for (let index = 0; index < iterations; index++) {
    const started = performance.now();
    const deployment = await herm.createDeployment();
    if (deployment.status !== 'ready') throw new Error('deployment not ready');
    createTimes.push(performance.now() - started);
  }
  results.push(summarize('create → ready (bubblewrap, SQLite)', createTimes, 'p50 ≤ 20 ms'));

  // POST message → first token at an SSE client, and → completed, with an instant model.
  const deployment = await herm.createDeployment();
  const stream = await openSse(deployment.events.url, herm.adminKey);
  const firstToken: number[] = [];
  const completed: number[] = [];
  for (let index = 0; index < iterations; index++) {
    const seen = stream.events.length;
    const started = performance.now();
    const response = await herm.request('POST', `/v1/deployments/${deployment.deployment_id}/messages`, { content: `hi ${index}` });
    const runId = response.body.run_id as string;
    await stream.waitFor((event) => event.type === 'token' && event.data.run_id === runId);
    firstToken.push(performance.now() - started);
    await stream.waitFor((event) => event.type === 'run_status' && event.data.run_id === runId && event.data.status === 'completed');
    completed.push(performance.now() - started);
    stream.events.splice(0, seen); // keep the waiters' scan short
  }
  stream.close();
  results.push(summarize('POST message → first token (SSE, instant model)', firstToken, 'p50 ≤ 5 ms, p99 ≤ 25 ms'));
  results.push(summarize('POST message → completed, text-only run', completed, 'p50 ≤ 10 ms'));

  // Replay 100,000 events after a Last-Event-ID.
  const replayDeployment = await herm.createDeployment();
  const store = herm.server.services.store;
  for (let start = 0; start < 100_000; start += 5_000) {
    await store.events.append(
      Array.from({ length: 5_000 }, (_, index) => ({
        deploymentId: replayDeployment.deployment_id,
        type: 'token',
        threadId: replayDeployment.thread_id,
        runId: 'run_bench',
        data: { delta: `token ${start + index}` },
      })),
    );
  }
  const replayStarted = performance.now();
  const replay = await openSse(replayDeployment.events.url, herm.adminKey, {
    'last-event-id': `evt_0000000000${replayDeployment.deployment_id.slice(4, 10)}`,
  });
  await replay.waitFor((event) => event.data.delta === 'token 99999', 60_000);
  const replayMs = performance.now() - replayStarted;
  replay.close();
  results.push({ name: 'replay 100,000 events after Last-Event-ID', unit: 'ms', p50: replayMs, p99: replayMs, samples: 1, target: '< 1 s' });
} finally {
  await herm.close();
}

// Sandboxed `true`, straight through the backend.
const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-bench-'));
const sandbox = createBubblewrapBackend({ limits: { timeoutMs: 10_000, maxOutputBytes: 1_048_576 } }).open({ deploymentId: 'dep_bench', workspaceDir: workspace });
const shellTimes: number[] = [];
for (let index = 0; index < iterations + 10; index++) {
  const started = performance.now();
  await sandbox.exec({ command: 'true' });
  if (index >= 10) shellTimes.push(performance.now() - started);
}
fs.rmSync(workspace, { recursive: true, force: true });
results.push(summarize('sandboxed `true` (bubblewrap)', shellTimes, 'p50 ≤ 10 ms'));

const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.release()}` };
console.log(`\nHerm benchmarks — ${machine.cpus} cores, ${machine.memoryGiB} GiB, Node ${machine.node}, ${iterations} iterations\n`);
console.log('| measurement | p50 | p99 | target |\n|---|---|---|---|');
for (const result of results) console.log(`| ${result.name} | ${result.p50.toFixed(1)} ms | ${result.p99.toFixed(1)} ms | ${result.target ?? ''} |`);
const outputDirectory = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
fs.mkdirSync(outputDirectory, { recursive: true });
fs.writeFileSync(path.join(outputDirectory, 'latest.json'), JSON.stringify({ date: new Date().toISOString(), machine, results }, null, 2));
process.exit(0);
