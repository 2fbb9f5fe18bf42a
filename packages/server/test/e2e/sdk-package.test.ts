// The SDK as a new user gets it: `npm pack` of packages/sdk, the tarball installed into fresh `npm init -y`
// projects, and the docs' quickstart run from them against a real local server, on the machine's Node
// (/usr/bin/node, 20 on the CI machine) and on the Node running the tests (24): CommonJS with require(), ESM
// with import, and TypeScript type-checking the quickstart with tsc (ESM and CommonJS resolution).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, runToExit } from '../support/child-server.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const run = promisify(execFile);
const SDK = path.join(REPO_ROOT, 'packages/sdk');
const QUICKSTART = fs.readFileSync(path.join(REPO_ROOT, 'examples/quickstart.ts'), 'utf8');
const TSC = path.join(REPO_ROOT, 'node_modules/typescript/bin/tsc');
const MACHINE_NODE = '/usr/bin/node';

let herm: TestServer;
let work: string;
let tarball: string;
/** The SDK's runtime dependencies, packed from the repository's node_modules. */
let dependencyTarballs: string[] = [];
/** A clean environment for the fresh projects: nothing of the repo's (NODE_OPTIONS, npm_config_*) leaks in. */
let cleanEnv: Record<string, string>;

async function freshProject(name: string, type?: 'module'): Promise<string> {
  const dir = path.join(work, name);
  fs.mkdirSync(dir);
  await run('npm', ['init', '-y'], { cwd: dir, env: cleanEnv });
  if (type) await run('npm', ['pkg', 'set', `type=${type}`], { cwd: dir, env: cleanEnv });
  // The SDK's own dependencies from tarballs packed from the repository's node_modules, and no registry at all: the
  // package is what is tested here, not the registry (whose stalls on the CI machine made this time out).
  await run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error', ...dependencyTarballs, tarball], { cwd: dir, env: cleanEnv });
  return dir;
}

function runNode(node: string, dir: string, file: string, args = [file]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runToExit(node, args, {
    cwd: dir,
    env: { ...cleanEnv, PRISM_API_KEY: herm.adminKey, HERM_BASE_URL: herm.url },
    timeoutMs: 20_000,
    what: `${file} on ${node}`,
  });
}

const nodes = [
  { label: `the machine's Node (${MACHINE_NODE})`, path: MACHINE_NODE },
  { label: `Node ${process.versions.node}`, path: process.execPath },
  // More Node binaries to try, such as Node 18: HERM_SDK_TEST_NODES=/path/to/node18/bin/node (colon-separated).
  ...(process.env.HERM_SDK_TEST_NODES ?? '').split(':').filter(Boolean).map((node) => ({ label: node, path: node })),
];

/** Bun and Deno run the quickstart too when they are on PATH (`npm install -g bun deno` puts them there). */
function onPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, command);
    if (dir && fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}
const otherRuntimes = [
  { label: 'Bun', command: onPath('bun'), args: (file: string) => ['run', file] },
  { label: 'Deno', command: onPath('deno'), args: (file: string) => ['run', '--allow-env', '--allow-net', '--allow-read', file] },
];

beforeAll(async () => {
  herm = await startTestServer();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-sdk-package-'));
  cleanEnv = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.homedir() };
  if (process.env.npm_config_cache) cleanEnv.npm_config_cache = process.env.npm_config_cache;
  // A copy of the SDK's sources is packed, so the shared tree's package.json and dist/ are left alone.
  const copy = path.join(work, 'sdk');
  fs.mkdirSync(copy);
  for (const entry of ['package.json', 'README.md', 'src', 'scripts', 'tsconfig.build.json', 'tsconfig.build.cjs.json']) {
    fs.cpSync(path.join(SDK, entry), path.join(copy, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(copy, 'node_modules')); // typescript, for prepack
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: copy, env: cleanEnv });
  const [packed] = JSON.parse(stdout) as [{ filename: string; files: { path: string }[] }];
  tarball = path.join(work, packed.filename);
  const dependencies = Object.keys((JSON.parse(fs.readFileSync(path.join(SDK, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {});
  dependencyTarballs = [];
  for (const name of dependencies) {
    const packedDependency = await run('npm', ['pack', '--json', '--pack-destination', work, path.join(REPO_ROOT, 'node_modules', name)], { cwd: work, env: cleanEnv });
    dependencyTarballs.push(path.join(work, (JSON.parse(packedDependency.stdout) as [{ filename: string }])[0].filename));
  }
  expect(fs.readFileSync(path.join(copy, 'package.json'), 'utf8')).toBe(fs.readFileSync(path.join(SDK, 'package.json'), 'utf8'));
}, 60_000);

afterAll(async () => {
  await herm?.close();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

it('packs compiled ESM and CommonJS builds with declarations, and no TypeScript source', async () => {
  const { stdout } = await run('tar', ['tzf', tarball]);
  const files = stdout.trim().split('\n').map((file) => file.replace(/^package\//, ''));
  expect(files).toContain('dist/esm/index.js');
  expect(files).toContain('dist/esm/index.d.ts');
  expect(files).toContain('dist/cjs/index.js');
  expect(files).toContain('dist/cjs/index.d.ts');
  expect(files).toContain('dist/cjs/package.json');
  expect(files.filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))).toEqual([]);
  const manifest = JSON.parse((await run('tar', ['xzf', tarball, '-O', 'package/package.json'])).stdout);
  expect(manifest.name).toBe('herm');
  expect(manifest.exports['.']).toEqual({
    import: { types: './dist/esm/index.d.ts', default: './dist/esm/index.js' },
    require: { types: './dist/cjs/index.d.ts', default: './dist/cjs/index.js' },
    default: './dist/esm/index.js',
  });
  expect(manifest.scripts).toBeUndefined();
  expect(manifest.publishConfig).toBeUndefined();
  // The core is web-platform only: nothing from Node in the compiled code.
  const compiled = (await run('tar', ['xzf', tarball, '-O', '--wildcards', 'package/dist/*.js'], { maxBuffer: 16 * 1024 * 1024 })).stdout;
  const code = compiled.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, ''); // without comments (examples in JSDoc)
  expect(code).toContain('class Herm');
  expect(code).not.toMatch(/from ['"]node:|require\(['"]node:|\bBuffer\b|\bprocess\.|\bglobal\./);
});

describe.each(nodes)('on $label', ({ path: node }) => {
  it.skipIf(!fs.existsSync(node))('runs the docs quickstart from a fresh ESM project (import Herm from "herm")', async () => {
    const dir = fs.existsSync(path.join(work, 'esm')) ? path.join(work, 'esm') : await freshProject('esm', 'module');
    fs.writeFileSync(path.join(dir, 'quickstart.js'), QUICKSTART);
    const { code, stdout, stderr } = await runNode(node, dir, 'quickstart.js');
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    expect(stdout).toMatch(/^dep_\S+ \w+\nrun_\S+ running\n/);
    expect(stdout).toContain('Agent finished.');
  });

  it.skipIf(!fs.existsSync(node))('runs from a fresh CommonJS project (require("herm"))', async () => {
    const dir = fs.existsSync(path.join(work, 'cjs')) ? path.join(work, 'cjs') : await freshProject('cjs');
    fs.writeFileSync(
      path.join(dir, 'index.js'),
      `const Herm = require('herm');
const { APIError, NotFoundError, VERSION } = require('herm');
async function main() {
  const herm = new Herm();
  const deployment = await herm.deployments.create({ customer_id: 'cus_cjs', name: 'CJS', system_prompt: 'Be brief.' });
  while ((await herm.deployments.get(deployment.deployment_id)).status === 'provisioning') await new Promise((r) => setTimeout(r, 100));
  const run = await herm.deployments.messages.sendAndStream(deployment.deployment_id, { content: 'Hi' });
  let text = '';
  for await (const event of run) if (event.type === 'token') text += event.delta;
  const missing = await herm.deployments.get('dep_missing').catch((error) => error);
  console.log(VERSION, Herm.default === Herm, new Herm.Herm() instanceof Herm, missing instanceof NotFoundError && missing instanceof APIError, text.length > 0);
}
main().catch((error) => { console.error(error); process.exit(1); });
`,
    );
    const { code, stdout, stderr } = await runNode(node, dir, 'index.js');
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    expect(stdout.trim()).toBe('0.1.0 true true true true');
  });
});

describe.each(otherRuntimes)('on $label', ({ label, command, args }) => {
  it.skipIf(command === undefined)(`runs the docs quickstart from a fresh ESM project (${label} on PATH)`, async () => {
    const dir = fs.existsSync(path.join(work, 'esm')) ? path.join(work, 'esm') : await freshProject('esm', 'module');
    fs.writeFileSync(path.join(dir, 'quickstart.js'), QUICKSTART);
    const { code, stdout, stderr } = await runNode(command!, dir, 'quickstart.js', args('quickstart.js'));
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    expect(stdout).toMatch(/^dep_\S+ \w+\nrun_\S+ running\n/);
    expect(stdout).toContain('Agent finished.');
  });
});

it('type-checks the docs quickstart in a fresh TypeScript project, with ESM and CommonJS resolution', async () => {
  const dir = await freshProject('ts');
  fs.writeFileSync(path.join(dir, 'quickstart.mts'), QUICKSTART);
  fs.writeFileSync(
    path.join(dir, 'commonjs.cts'),
    `import Herm = require('herm');
export async function main(): Promise<string> {
  const herm = new Herm.Herm();
  const deployment: Herm.Deployment = await herm.deployments.create({ customer_id: 'c', name: 'n', system_prompt: 'p' });
  // @ts-expect-error customer_id is required: the declarations are real types, not any
  await herm.deployments.create({ name: 'n', system_prompt: 'p' });
  return deployment.deployment_id;
}
`,
  );
  fs.writeFileSync(
    path.join(dir, 'types.mts'),
    `import Herm, { type HermEvent, NotFoundError } from 'herm';
const herm = new Herm({ apiKey: 'k' });
export async function tokens(deploymentId: string): Promise<string> {
  let text = '';
  const run = await herm.deployments.messages.sendAndStream(deploymentId, { content: 'Hi' });
  for await (const event of run) if (event.type === 'token') text += event.delta;
  // @ts-expect-error a token event has no status
  const wrong = (null as unknown as Extract<HermEvent, { type: 'token' }>).status;
  return text + String(wrong) + String(NotFoundError.name);
}
`,
  );
  // nodenext and node16 resolution; and a Node project without the DOM library (only @types/node's web globals).
  for (const [resolution, lib] of [['nodenext', undefined], ['node16', undefined], ['nodenext', ['es2022']]] as const) {
    const module = resolution;
    fs.writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'es2022',
          ...(lib ? { lib } : {}),
          module,
          moduleResolution: resolution,
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: ['node'],
          typeRoots: [path.join(REPO_ROOT, 'node_modules/@types')],
        },
        include: ['*.mts', '*.cts'],
      }),
    );
    const result = await run(process.execPath, [TSC, '-p', dir], { cwd: dir }).catch((error: { stdout: string; code: number }) => error);
    expect(result.stdout, `tsc --moduleResolution ${resolution} --lib ${lib ?? 'default'}`).toBe('');
  }
}, 60_000);
