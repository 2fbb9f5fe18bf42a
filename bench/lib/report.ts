// The bench's outputs: a table on stdout, bench/results/latest.json, docs/benchmarks.md and docs/benchmarks.svg.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface BenchRow {
  store: string;
  name: string;
  unit: string;
  p50: number;
  p99: number;
  samples: number;
  target: string;
}

function format(value: number, unit: string): string {
  if (!Number.isFinite(value)) return '–';
  if (unit === 'ms') return `${value.toFixed(1)} ms`;
  if (unit === 'MiB') return `${value.toFixed(0)} MiB`;
  return `${Math.round(value).toLocaleString('en')} ${unit}`;
}

export function markdownTable(rows: BenchRow[]): string {
  const lines = ['| store | measurement | p50 | p99 | target |', '|---|---|---|---|---|'];
  for (const row of rows) {
    const single = row.samples <= 1 || row.p50 === row.p99;
    lines.push(`| ${row.store} | ${row.name} | ${format(row.p50, row.unit)} | ${single ? '' : format(row.p99, row.unit)} | ${row.target} |`);
  }
  return lines.join('\n');
}

// Single long measurements that would squash every other bar of the chart; they stay in the table.
const OFF_CHART = ['replay', 'docker cold start'];

/** Latency rows as horizontal bars (p50 solid, p99 light), one group per measurement, SQLite and PostgreSQL side by side. */
export function latencyChart(rows: BenchRow[]): string {
  const latency = rows.filter((row) => row.unit === 'ms' && !OFF_CHART.some((prefix) => row.name.startsWith(prefix)) && row.store !== 'langgraph');
  const max = Math.max(...latency.map((row) => row.p99), 1);
  const barWidth = 420;
  const rowHeight = 22;
  const left = 420;
  const height = latency.length * rowHeight + 60;
  const colors: Record<string, string> = { sqlite: '#2a7ab8', postgres: '#8a4fbf', '-': '#3a9a5b' };
  const bars = latency
    .map((row, index) => {
      const y = 40 + index * rowHeight;
      const p99 = (row.p99 / max) * barWidth;
      const p50 = (row.p50 / max) * barWidth;
      const color = colors[row.store] ?? '#555';
      return (
        `<text x="${left - 8}" y="${y + 14}" text-anchor="end" font-size="12">${row.store} · ${row.name.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</text>` +
        `<rect x="${left}" y="${y + 3}" width="${p99.toFixed(1)}" height="14" fill="${color}" opacity="0.3"/>` +
        `<rect x="${left}" y="${y + 3}" width="${p50.toFixed(1)}" height="14" fill="${color}"/>` +
        `<text x="${left + p99 + 6}" y="${y + 14}" font-size="11">${row.p50.toFixed(1)} / ${row.p99.toFixed(1)} ms</text>`
      );
    })
    .join('');
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${left + barWidth + 140}" height="${height}" font-family="sans-serif">` +
    `<rect width="100%" height="100%" fill="white"/>` +
    `<text x="12" y="22" font-size="14" font-weight="bold">Herm latencies, p50 (solid) and p99 (light), ms — lower is better</text>${bars}</svg>`
  );
}

/** Herm (SQLite, the embedded default) ÷ LangGraph for the figures both measure. */
export function comparisonTable(rows: BenchRow[]): string {
  const find = (store: string, name: string) => rows.find((row) => row.store === store && row.name === name);
  const pairs: [string, string, string][] = [
    ['time to first token (p50)', 'POST message → first token at SSE client', 'POST message → first token at SSE client'],
    ['text-only run, POST → completed (p50)', 'POST message → completed, text-only run', 'POST message → completed, text-only run'],
    ['run with one tool call, POST → completed (p50)', 'POST message → completed, run with 1 shell call', 'POST message → completed, run with 1 tool call'],
    ['runs per second, 32 clients', 'runs per second, 32 concurrent clients', 'runs per second, 32 concurrent clients'],
    ['server RSS when idle', 'server RSS when idle', 'server RSS when idle'],
  ];
  const lines = ['| measurement | Herm (SQLite) | LangGraph JS | Herm ÷ LangGraph |', '|---|---|---|---|'];
  for (const [label, hermName, langGraphName] of pairs) {
    const herm = find('sqlite', hermName);
    const langGraph = find('langgraph', langGraphName);
    if (!herm || !langGraph) continue;
    lines.push(`| ${label} | ${format(herm.p50, herm.unit)} | ${format(langGraph.p50, langGraph.unit)} | ${(herm.p50 / langGraph.p50).toFixed(2)} |`);
  }
  return lines.length > 2 ? lines.join('\n') : '_LangGraph was not measured in this run (BENCH_LANGGRAPH=0)._';
}

/**
 * A full run writes bench/results/latest.json, docs/benchmarks.md and its chart. A partial one (`only`) prints
 * the same table and writes bench/results/only-<groups>.json, leaving the full run's report as it is.
 */
export function writeReport(root: string, rows: BenchRow[], options: { scale: number; only?: readonly string[] }): void {
  const machine = {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    kernel: os.release(),
  };
  const date = new Date().toISOString();
  const table = markdownTable(rows.filter((row) => row.store !== 'langgraph'));
  const comparison = comparisonTable(rows);
  const results = path.join(root, 'bench/results');
  fs.mkdirSync(results, { recursive: true });
  if (options.only) {
    const file = path.join(results, `only-${options.only.join('-')}.json`);
    process.stdout.write(`\nHerm benchmarks (only ${options.only.join(', ')}) — ${machine.cpus} cores, ${machine.memoryGiB} GiB, Node ${machine.node}, scale ${options.scale}\n\n${table}\n`);
    fs.writeFileSync(file, JSON.stringify({ date, machine, scale: options.scale, only: options.only, rows }, null, 2));
    process.stdout.write(`\nwritten to ${path.relative(root, file)}; docs/benchmarks.md is left as it is (a full run rewrites it)\n`);
    return;
  }
  process.stdout.write(`\nHerm benchmarks — ${machine.cpus} cores, ${machine.memoryGiB} GiB, Node ${machine.node}, scale ${options.scale}\n\n${table}\n\n${comparison}\n`);
  fs.writeFileSync(path.join(results, 'latest.json'), JSON.stringify({ date, machine, scale: options.scale, rows }, null, 2));
  fs.mkdirSync(path.join(root, 'docs'), { recursive: true });
  fs.writeFileSync(path.join(root, 'docs/benchmarks.svg'), latencyChart(rows));
  const document = fs.readFileSync(path.join(root, 'bench/benchmarks-template.md'), 'utf8')
    .replace('{{DATE}}', date)
    .replace('{{MACHINE}}', `${machine.cpus} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB, Node ${machine.node}, Linux ${machine.kernel}`)
    .replace('{{SCALE}}', String(options.scale))
    .replace('{{TABLE}}', table)
    .replace('{{COMPARISON}}', comparison);
  fs.writeFileSync(path.join(root, 'docs/benchmarks.md'), document);
}
