// The README's "Try it", followed literally on a fresh machine: the commands of its sh block run, unchanged, in a
// fresh copy of the repository with a fresh HOME, an environment holding nothing but PATH, and a data directory that
// does not exist yet. Only what the README tells the reader to fill in is filled in: the provider key (`sk-ant-…`),
// the admin key the first start printed (`herm_sk_…`) and the deployment id curl printed (`dep_…`).
//
// What differs from a reader's machine, and why:
// - ANTHROPIC_BASE_URL (README, "Models") points the server at the scripted model, because no model runs here;
//   the reader's server talks to api.anthropic.com. The provider key still has to reach the server as the README
//   says (exported in terminal 1), and the test checks the scripted model received it.
// - The copy holds the files git would commit (tracked and new ones, not ignored: `git ls-files --cached --others
//   --exclude-standard`), so it tests this work tree as CI's clean clone would, without touching git's state.
// - node_modules is this clone's, hard-linked into the copy with its timestamps (cp -al), so scripts/env.sh finds the
//   dependencies of package-lock.json installed and skips `npm ci` (which would fetch ~150 MB with a cold npm
//   cache); everything else, the build to .herm-build/ included, happens as on a fresh clone.
// - PATH has the Node this test runs on (>= 22.18, a README prerequisite) and the system's directories.
// - When port 8787 is taken on this machine (another server, a developer's), PORT names a free one and the
//   block's 8787 becomes that port; on a clean machine (CI) the block runs with 8787 as written.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/child-server.ts';
import { DEFAULT_SCRIPTED_TEXT, startScriptedModelServer, type ScriptedModelServer } from '../support/scripted-model-server.ts';

/** The placeholders the README asks the reader to replace, and what this test puts there. */
const PROVIDER_KEY = 'sk-ant-try-it-scripted';
const MESSAGE = 'Hello, Herm!';

let model: ScriptedModelServer;
let root: string;
let home: string;
let server: ChildProcess | undefined;
let serverExited: Promise<number | null> | undefined;

beforeAll(async () => {
  model = await startScriptedModelServer();
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-try-it-'));
  root = path.join(base, 'herm');
  home = path.join(base, 'home');
  fs.mkdirSync(home);
  copyWorkTree(REPO_ROOT, root);
});

afterAll(async () => {
  if (server && server.exitCode === null && server.signalCode === null) {
    process.kill(-server.pid!, 'SIGKILL');
    await serverExited;
  }
  await model?.close();
  if (root) fs.rmSync(path.dirname(root), { recursive: true, force: true });
});

/** The files git would commit, copied with their modes and times, and node_modules hard-linked (see above). */
function copyWorkTree(from: string, to: string): void {
  const listed = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: from, encoding: 'utf8' });
  expect(listed.status, listed.stderr).toBe(0);
  for (const file of listed.stdout.split('\0')) {
    // A tracked file deleted in the work tree is not part of what would be committed.
    if (file === '' || !fs.existsSync(path.join(from, file))) continue;
    fs.mkdirSync(path.dirname(path.join(to, file)), { recursive: true });
    fs.cpSync(path.join(from, file), path.join(to, file), { preserveTimestamps: true, verbatimSymlinks: true });
  }
  const modules = ['node_modules', ...fs.readdirSync(path.join(from, 'packages')).map((name) => path.join('packages', name, 'node_modules'))];
  for (const directory of modules) {
    if (!fs.existsSync(path.join(from, directory))) continue;
    const linked = spawnSync('cp', ['-al', path.join(from, directory), path.join(to, directory)], { encoding: 'utf8' });
    if (linked.status !== 0) {
      const copied = spawnSync('cp', ['-a', path.join(from, directory), path.join(to, directory)], { encoding: 'utf8' });
      expect(copied.status, copied.stderr).toBe(0);
    }
  }
}

/** The first ```sh block of the README's "## Try it", split into its terminals' commands (continuations joined). */
function tryItTerminals(readme: string): Map<number, string[]> {
  const section = /^## Try it\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1];
  if (!section) throw new Error('README has no "## Try it" section');
  const block = /^```sh\n([\s\S]*?)^```/m.exec(section)?.[1];
  if (!block) throw new Error('"## Try it" has no sh block');
  const terminals = new Map<number, string[]>();
  let current: string[] | undefined;
  let pending = '';
  for (const line of block.split('\n')) {
    const terminal = /^#\s*terminal (\d+)/.exec(line);
    if (terminal) {
      current = [];
      terminals.set(Number(terminal[1]), current);
      continue;
    }
    if (pending === '' && (line.trim() === '' || line.trimStart().startsWith('#'))) continue;
    if (!current) throw new Error(`a command before the first "# terminal N" line: ${line}`);
    if (line.endsWith('\\')) {
      pending += `${line}\n`;
      continue;
    }
    current.push(pending + line);
    pending = '';
  }
  return terminals;
}

/** The `…` placeholders of a command, its comment left out. */
function placeholders(command: string): string[] {
  const code = command.replace(/(^|\s)#.*$/gm, '');
  return [...code.matchAll(/[\w-]*…/g)].map((match) => match[0]);
}

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

async function portIsFree(port: number): Promise<boolean> {
  const probe = net.createServer();
  return new Promise((resolve) => {
    probe.once('error', () => resolve(false));
    probe.listen({ port, host: '127.0.0.1', exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

function runShell(script: string, env: NodeJS.ProcessEnv, input: string, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], { cwd: root, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not finish within ${timeoutMs / 1000} s:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

it('shows a chat and the event stream in pictures that exist (scripts/readme-pictures.ts makes them)', () => {
  const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const images = [...readme.matchAll(/!\[[^\]]*\]\(([^)\s]+)\)/g)].map((match) => match[1]!);
  expect(images).toEqual(expect.arrayContaining(['docs/images/chat.png', 'docs/images/event-stream.png']));
  for (const image of images) {
    const bytes = fs.readFileSync(path.join(REPO_ROOT, image));
    // A PNG (its signature) of a real size, not a placeholder.
    expect(bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), image).toBe(true);
    expect(bytes.readUInt32BE(16), `${image} width`).toBeGreaterThan(400);
  }
  // Both in the "Try it" section, after its commands.
  const tryIt = /^## Try it\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1] ?? '';
  expect(tryIt).toContain('docs/images/chat.png');
  expect(tryIt).toContain('docs/images/event-stream.png');
});

it("follows the README's Try it: serve, curl create, herm chat with the agent's reply", { timeout: 180_000 }, async () => {
  const terminals = tryItTerminals(fs.readFileSync(path.join(root, 'README.md'), 'utf8'));
  const serverCommands = terminals.get(1);
  const clientCommands = terminals.get(2);
  expect(serverCommands, 'terminal 1: the server').toBeDefined();
  expect(clientCommands, 'terminal 2: a client').toBeDefined();
  expect([...terminals.keys()]).toEqual([1, 2]);
  // The README asks the reader to fill in exactly these; a new placeholder needs this test to learn what it means.
  expect([...new Set([...serverCommands!, ...clientCommands!].flatMap(placeholders))].sort()).toEqual(['dep_…', 'herm_sk_…', 'sk-ant-…']);
  expect(serverCommands!.at(-1)).toBe('./herm serve');

  const machine: NodeJS.ProcessEnv = {
    HOME: home,
    PATH: `${path.dirname(process.execPath)}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    ANTHROPIC_BASE_URL: model.url,
  };
  let port = '8787';
  if (!(await portIsFree(8787))) {
    port = String(await freePort());
    machine.PORT = port;
  }
  const literal = (command: string) => command.replaceAll('8787', port);

  // Terminal 1, in the background (its own process group, stopped by its pid at the end).
  const serverScript = serverCommands!.map((command) => literal(command).replaceAll('sk-ant-…', PROVIDER_KEY)).join('\n');
  const child = spawn('bash', ['-c', serverScript], { cwd: root, env: machine, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  server = child;
  serverExited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  let serverOutput = '';
  child.stdout!.on('data', (chunk) => (serverOutput += chunk));
  child.stderr!.on('data', (chunk) => (serverOutput += chunk));
  const deadline = Date.now() + 150_000;
  while (!/listening on http/.test(serverOutput)) {
    if (child.exitCode !== null) throw new Error(`./herm serve exited with ${child.exitCode}:\n${serverOutput}`);
    if (Date.now() > deadline) throw new Error(`./herm serve did not start:\n${serverOutput}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const adminKey = /Created an admin API key \(shown once, store it now\): (herm_sk_\S+)/.exec(serverOutput)?.[1];
  expect(adminKey, serverOutput).toBeDefined();
  // A fresh clone: it compiled itself to .herm-build (./herm falls back to the sources when tsc fails: a failure
  // here), and its data directory is the default ./.herm.
  expect(serverOutput).not.toContain('the build failed');
  expect(fs.existsSync(path.join(root, '.herm-build/current/cli/src/main.js')), serverOutput).toBe(true);
  expect(fs.readdirSync(path.join(root, '.herm')).length).toBeGreaterThan(0);

  // Terminal 2: its exports hold for every command after them, as in one shell.
  const exports: string[] = [];
  let deploymentId: string | undefined;
  let chat: { code: number | null; stdout: string; stderr: string } | undefined;
  for (const command of clientCommands!) {
    let filled = literal(command).replaceAll('herm_sk_…', adminKey!);
    if (/^export\s/.test(command)) {
      exports.push(filled);
      continue;
    }
    if (filled.includes('dep_…')) {
      expect(deploymentId, `${command}: no deployment id was printed before it`).toBeDefined();
      filled = filled.replaceAll('dep_…', deploymentId!);
    }
    const isChat = /^\.\/herm chat\b/.test(command);
    const result = await runShell([...exports, filled].join('\n'), machine, isChat ? `${MESSAGE}\n` : '', 60_000);
    expect(result.code, `${command}\n${result.stdout}\n${result.stderr}`).toBe(0);
    deploymentId = /"deployment_id":"(dep_[^"]+)"/.exec(result.stdout)?.[1] ?? deploymentId;
    if (isChat) chat = result;
  }

  expect(deploymentId).toBeDefined();
  expect(chat, 'the block ends in ./herm chat dep_…').toBeDefined();
  expect(chat!.stdout).toContain(`you> ${MESSAGE}\n${DEFAULT_SCRIPTED_TEXT.join('')}\nyou> `);
  expect(chat!.stderr).toBe('');
  // The default model, with the key exported before ./herm serve (README: the key belongs to the server's environment).
  const request = model.requests.at(-1);
  expect(request).toMatchObject({ api: 'anthropic-messages', model: 'claude-sonnet-4-5' });
  expect(request!.headers['x-api-key']).toBe(PROVIDER_KEY);
  expect(request!.lastUserText).toBe(MESSAGE);

  // Stopped like Ctrl-C in terminal 1; the output pipes close once the server's process has gone too.
  process.kill(-child.pid!, 'SIGTERM');
  await serverExited;
  expect(await portIsFree(Number(port))).toBe(true);
});
