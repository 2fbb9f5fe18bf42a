// The sandbox rows: a `shell` tool call of `true`, from the call to its result, on bubblewrap and on docker
// (in a running container), and the cold start of a docker deployment (its first call, container included).
// Docker rows are left out, saying why, when no Docker API with the sandbox image answers.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WorkspaceChangeTracker } from '../../packages/server/src/files/workspace-changes.ts';
import { createBuiltinTools } from '../../packages/server/src/runtime/tools/builtin-tools.ts';
import { createBubblewrapBackend } from '../../packages/server/src/sandbox/bubblewrap/bubblewrap.ts';
import { createDockerBackend, DEFAULT_DOCKER_IMAGE, type DockerBackend } from '../../packages/server/src/sandbox/docker/docker.ts';
import type { Sandbox, SandboxLimits } from '../../packages/server/src/sandbox/sandbox.ts';
import type { BenchRow } from './report.ts';
import { summarize, type Summary } from './stats.ts';

const LIMITS: SandboxLimits = { timeoutMs: 10_000, maxOutputBytes: 1_048_576 };
const WARM_UP_CALLS = 10;
const { shell } = createBuiltinTools();

export interface SandboxBenchOptions {
  /** Scales a full-run iteration count (BENCH_SCALE). */
  count(full: number): number;
}

/** Milliseconds from a `shell` tool call of `true` to its result. */
async function timeShellTrue(sandbox: Sandbox): Promise<number> {
  const started = performance.now();
  const output = await shell.execute({ command: 'true' }, { sandbox, toolCallId: 'call_bench', signal: new AbortController().signal });
  const elapsed = performance.now() - started;
  if (output.isError || (output.result as { exit_code: number | null }).exit_code !== 0) {
    throw new Error(`the shell tool failed to run true: ${JSON.stringify(output.result)}`);
  }
  return elapsed;
}

/** `calls` timed shell calls after WARM_UP_CALLS untimed ones. */
async function timeWarmCalls(sandbox: Sandbox, calls: number): Promise<Summary> {
  const times: number[] = [];
  for (let index = 0; index < calls + WARM_UP_CALLS; index++) {
    const elapsed = await timeShellTrue(sandbox);
    if (index >= WARM_UP_CALLS) times.push(elapsed);
  }
  return summarize(times);
}

function makeWorkspace(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'herm-bench-'));
}

function report(name: string, summary: Summary, target: string): BenchRow {
  console.error(`  ${name}: p50 ${summary.p50.toFixed(1)} ms, p99 ${summary.p99.toFixed(1)} ms (${summary.samples} samples)`);
  return { store: '-', name, unit: 'ms', ...summary, target };
}

export async function benchSandboxes(options: SandboxBenchOptions): Promise<BenchRow[]> {
  return [...(await benchBubblewrap(options)), ...(await benchDocker(options))];
}

async function benchBubblewrap({ count }: SandboxBenchOptions): Promise<BenchRow[]> {
  const backend = createBubblewrapBackend({ limits: LIMITS });
  const workspace = makeWorkspace();
  const smallWorkspace = makeSmallWorkspace();
  try {
    const summary = await timeWarmCalls(backend.open({ deploymentId: 'dep_bench', workspaceDir: workspace }), count(200));
    return [report('`shell` tool call of `true` → result (bubblewrap)', summary, 'p50 ≤ 10 ms'), ...(await benchFilesystemEvents(backend.open({ deploymentId: 'dep_bench_fs', workspaceDir: smallWorkspace }), count(200)))];
  } finally {
    await backend.close?.();
    fs.rmSync(workspace, { recursive: true, force: true });
    fs.rmSync(smallWorkspace, { recursive: true, force: true });
  }
}

/** A small project's workspace: SMALL_WORKSPACE_FILES files of a few hundred bytes in 4 directories. */
const SMALL_WORKSPACE_FILES = 24;
function makeSmallWorkspace(): string {
  const workspace = makeWorkspace();
  for (let index = 0; index < SMALL_WORKSPACE_FILES; index++) {
    const directory = path.join(workspace, ['', 'notes', 'briefs', 'out/drafts'][index % 4]!);
    fs.mkdirSync(directory, { recursive: true });
    fs.writeFileSync(path.join(directory, `file-${index}.md`), 'x'.repeat(200 + index));
  }
  return workspace;
}

/**
 * The cost of filesystem events (features.filesystem_webhooks) on a `shell` call of `true` in a small workspace: the
 * same call without and with the workspace walked before and after it, alternated so both see the same machine,
 * and the walks and comparison alone (what the feature adds), in microseconds.
 */
async function benchFilesystemEvents(sandbox: Sandbox, calls: number): Promise<BenchRow[]> {
  const tracker = new WorkspaceChangeTracker();
  const off: number[] = [];
  const on: number[] = [];
  const walks: number[] = [];
  for (let index = 0; index < calls + WARM_UP_CALLS; index++) {
    const plain = await timeShellTrue(sandbox);
    let started = performance.now();
    await tracker.track(sandbox.spec.workspaceDir, () => timeShellTrue(sandbox));
    const tracked = performance.now() - started;
    started = performance.now();
    await tracker.track(sandbox.spec.workspaceDir, async () => {});
    const walk = performance.now() - started;
    if (index < WARM_UP_CALLS) continue;
    off.push(plain);
    on.push(tracked);
    walks.push(walk * 1000);
  }
  const label = `small workspace, ${SMALL_WORKSPACE_FILES} files`;
  const walkSummary = summarize(walks);
  console.error(`  filesystem events, walks and comparison alone: p50 ${walkSummary.p50.toFixed(0)} µs, p99 ${walkSummary.p99.toFixed(0)} µs`);
  return [
    report(`\`shell\` call of \`true\` (bubblewrap, ${label}), filesystem events off`, summarize(off), ''),
    report(`\`shell\` call of \`true\` (bubblewrap, ${label}), filesystem events on`, summarize(on), ''),
    { store: '-', name: `filesystem events: workspace walked before and after a command and compared (${label})`, unit: 'µs', ...walkSummary, target: '< 1,000 µs' },
  ];
}

async function benchDocker({ count }: SandboxBenchOptions): Promise<BenchRow[]> {
  const backend: DockerBackend = createDockerBackend({
    limits: LIMITS,
    image: process.env.HERM_DOCKER_IMAGE || DEFAULT_DOCKER_IMAGE,
    ...(process.env.DOCKER_HOST ? { dockerHost: process.env.DOCKER_HOST } : {}),
  });
  const workspaces: string[] = [];
  try {
    const check = await backend.check();
    if (!check.ok) {
      console.error(`  docker rows skipped: ${check.reason}`);
      return [];
    }
    const rows: BenchRow[] = [];
    // A running container: the first call starts it and is not counted.
    const warmWorkspace = makeWorkspace();
    workspaces.push(warmWorkspace);
    const warm = backend.open({ deploymentId: `dep_bench_docker_${process.pid}`, workspaceDir: warmWorkspace });
    rows.push(report('`shell` tool call of `true` → result (docker, running container)', await timeWarmCalls(warm, count(200)), ''));

    // Cold: a new deployment (and workspace) each time, with no container until its first call; the
    // container is removed, and the removal awaited, before the next start.
    const coldTimes: number[] = [];
    for (let index = 0; index < count(20); index++) {
      const deploymentId = `dep_bench_cold_${process.pid}_${index}`;
      const workspaceDir = makeWorkspace();
      workspaces.push(workspaceDir);
      coldTimes.push(await timeShellTrue(backend.open({ deploymentId, workspaceDir })));
      await backend.discard(deploymentId);
    }
    rows.push(report('docker cold start: first `shell` call of a new deployment, container start included', summarize(coldTimes), ''));
    return rows;
  } finally {
    await backend.close();
    for (const workspace of workspaces) fs.rmSync(workspace, { recursive: true, force: true });
  }
}
