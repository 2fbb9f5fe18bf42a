// Makes the README's pictures, docs/images/chat.png and docs/images/event-stream.png: a real `herm serve` (a scripted
// model behind ANTHROPIC_BASE_URL, since the pictures must not depend on a model's mood), the real `./herm chat` and
// `./herm events tail` with colours forced, their output rendered as a terminal in HTML and photographed by headless
// Chromium through playwright-core (never a downloaded browser: /usr/bin/chromium, or HERM_CHROMIUM).
//
//   node scripts/readme-pictures.ts          (Node >= 22.18, e.g. after `source scripts/env.sh`)
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { REPO_ROOT, startChildServer } from '../packages/server/test/support/child-server.ts';
import { startScriptedModelServer } from '../packages/server/test/support/scripted-model-server.ts';

const CHROMIUM = process.env.HERM_CHROMIUM ?? '/usr/bin/chromium';
const OUTPUT_DIR = path.join(REPO_ROOT, 'docs/images');
const HERM = path.join(REPO_ROOT, 'herm');
const ADMIN_KEY = 'herm_sk_readme_pictures_0000000000000000';

/** The customer's project in the workspace, uploaded through the Files API before the chat. */
const PROJECT: Record<string, string> = {
  'api/server.py': lines(31, (n) => `# server line ${n}`),
  'api/models.py': lines(20, (n) => `# model line ${n}`),
  'web/app.ts': lines(12, (n) => `// app line ${n}`),
  'README.md': '# Shop\n',
};
const QUESTION = 'How big is the project I uploaded? Lines per language, please.';
const COMMAND = "find . -name '*.py' -o -name '*.ts' | xargs wc -l | sort -n";
const ANSWER = ['63 lines', ' of code in all: 51 of Python', ' (server.py 31, models.py 20)', ' and 12 of TypeScript', ' (app.ts).'];

function lines(count: number, line: (n: number) => string): string {
  return Array.from({ length: count }, (_, index) => `${line(index + 1)}\n`).join('');
}

async function main(): Promise<void> {
  const model = await startScriptedModelServer();
  // First the command, then the answer once its result is in.
  model.setHandler((request) =>
    request.messages.at(-1)?.role === 'tool'
      ? { text: ANSWER, delayMs: 40 }
      : { text: ['Let me', ' count.'], toolCalls: [{ name: 'shell', arguments: { command: COMMAND } }] },
  );
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-pictures-'));
  const server = await startChildServer({
    HERM_DATA_DIR: dataDir,
    HERM_ADMIN_KEY: ADMIN_KEY,
    ANTHROPIC_API_KEY: 'sk-ant-scripted',
    ANTHROPIC_BASE_URL: model.url,
  });
  const clientEnv: NodeJS.ProcessEnv = { ...process.env, PRISM_API_KEY: ADMIN_KEY, HERM_BASE_URL: server.url, FORCE_COLOR: '1' };
  delete clientEnv.NO_COLOR;
  try {
    const deployment = await api(server.url, 'POST', '/v1/deployments', { customer_id: 'cus_acme', name: 'Acme Shop', system_prompt: 'You help Acme with its code.' });
    for (const [file, content] of Object.entries(PROJECT)) {
      const response = await fetch(`${server.url}/v1/deployments/${deployment.deployment_id}/files?path=${encodeURIComponent(file)}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/octet-stream' },
        body: content,
      });
      if (!response.ok) throw new Error(`upload ${file}: ${response.status} ${await response.text()}`);
    }

    const tail = startProcess(HERM, ['events', 'tail', deployment.deployment_id], clientEnv);
    await tail.until((output) => output.includes('Following the events'));
    const chat = startProcess(HERM, ['chat', deployment.deployment_id], clientEnv, `${QUESTION}\n`);
    const chatCode = await chat.exited;
    if (chatCode !== 0) throw new Error(`herm chat exited with ${chatCode}:\n${chat.output}`);
    await tail.until((output) => output.includes('"status":"completed"'));
    tail.process.kill('SIGINT');
    await tail.exited;

    const id = deployment.deployment_id as string;
    const browser = await chromium.launch({ executablePath: CHROMIUM });
    try {
      await screenshot(browser, terminalPage(`$ ./herm chat ${id}\n${chat.output}`, 'terminal 2 — herm chat'), path.join(OUTPUT_DIR, 'chat.png'), 860);
      await screenshot(browser, terminalPage(`$ ./herm events tail ${id}\n${tail.output}`, 'terminal 3 — herm events tail'), path.join(OUTPUT_DIR, 'event-stream.png'), 1180);
    } finally {
      await browser.close();
    }
    process.stdout.write(`wrote ${path.join(OUTPUT_DIR, 'chat.png')} and ${path.join(OUTPUT_DIR, 'event-stream.png')}\n`);
  } finally {
    await server.stop();
    await model.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function api(baseURL: string, method: string, urlPath: string, body: unknown): Promise<any> {
  const response = await fetch(`${baseURL}${urlPath}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method} ${urlPath}: ${response.status} ${await response.text()}`);
  return response.json();
}

interface RunningProcess {
  process: ChildProcess;
  /** stdout and stderr interleaved as they came, as a terminal shows them. */
  readonly output: string;
  exited: Promise<number | null>;
  until(condition: (output: string) => boolean): Promise<void>;
}

function startProcess(command: string, args: string[], env: NodeJS.ProcessEnv, input?: string): RunningProcess {
  const child = spawn(command, args, { env, cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  // The build's notice is not part of the picture.
  child.stderr!.on('data', (chunk) => (output += String(chunk).replace(/^herm: compiling.*\n/m, '')));
  if (input === undefined) child.stdin!.end();
  else child.stdin!.end(input);
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  return {
    process: child,
    get output() {
      return output;
    },
    exited,
    async until(condition) {
      const deadline = Date.now() + 60_000;
      while (!condition(output)) {
        if (child.exitCode !== null) throw new Error(`${args.join(' ')} exited with ${child.exitCode}:\n${output}`);
        if (Date.now() > deadline) throw new Error(`${args.join(' ')}: timed out:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
  };
}

const PALETTE: Record<number, string> = {
  30: '#45475a', 31: '#f38ba8', 32: '#a6e3a1', 33: '#f9e2af', 34: '#89b4fa', 35: '#f5c2e7', 36: '#94e2d5', 37: '#bac2de',
  90: '#585b70', 91: '#f38ba8', 92: '#a6e3a1', 93: '#f9e2af', 94: '#89b4fa', 95: '#f5c2e7', 96: '#94e2d5', 97: '#a6adc8',
};

/** Terminal output with SGR colour codes as HTML spans (bold, dim, the 16 foreground colours). */
function ansiToHtml(text: string): string {
  let bold = false;
  let dim = false;
  let color: string | undefined;
  let html = '';
  const parts = text.replace(/\r/g, '').split(/\x1b\[([0-9;]*)m/);
  parts.forEach((part, index) => {
    if (index % 2 === 1) {
      for (const code of (part === '' ? '0' : part).split(';').map(Number)) {
        if (code === 0) [bold, dim, color] = [false, false, undefined];
        else if (code === 1) bold = true;
        else if (code === 2) dim = true;
        else if (code === 22) [bold, dim] = [false, false];
        else if (code === 39) color = undefined;
        else if (PALETTE[code]) color = PALETTE[code];
      }
      return;
    }
    if (part === '') return;
    const styles = [bold ? 'font-weight:bold' : '', dim ? 'opacity:0.6' : '', color ? `color:${color}` : ''].filter(Boolean).join(';');
    // No installed monospace font has U+23BF (⎿): drawn with CSS in its place.
    const escaped = escapeHtml(part).replaceAll('⎿', '<span class="corner"></span>');
    html += styles ? `<span style="${styles}">${escaped}</span>` : escaped;
  });
  return html;
}

function escapeHtml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/** The first line (the command typed) in the prompt's colours, the rest as the program wrote it. */
function terminalPage(transcript: string, title: string): string {
  const [command = '', ...rest] = transcript.replace(/\n+$/, '').split('\n');
  const body = `<span class="prompt">${escapeHtml(command.slice(0, 2))}</span><span class="command">${escapeHtml(command.slice(2))}</span>\n${ansiToHtml(rest.join('\n'))}<span class="cursor"> </span>`;
  return `<!doctype html><html><head><meta charset="utf-8"><style>
  body { margin: 0; padding: 28px; background: #e9ecf2; font-family: 'DejaVu Sans Mono', 'Liberation Mono', monospace; }
  .window { display: inline-block; min-width: 640px; border-radius: 10px; overflow: hidden; background: #1e1e2e;
    box-shadow: 0 12px 32px rgba(30, 30, 46, 0.35); }
  .bar { position: relative; height: 34px; background: #313244; }
  .dot { position: absolute; top: 11px; width: 12px; height: 12px; border-radius: 50%; }
  .title { text-align: center; color: #a6adc8; font: 13px/34px 'DejaVu Sans', sans-serif; }
  pre { margin: 0; padding: 16px 20px 20px; color: #cdd6f4; font: 14px/1.5 'DejaVu Sans Mono', monospace;
    white-space: pre-wrap; word-break: break-all; }
  .prompt { color: #a6e3a1; } .command { color: #f5e0dc; font-weight: bold; }
  .corner { display: inline-block; width: 0.55em; height: 0.7em; margin: 0 0.225em 0 0.225em; vertical-align: 0.2em;
    border-left: 1.5px solid currentColor; border-bottom: 1.5px solid currentColor; opacity: 0.6; }
  .cursor { background: #cdd6f4; }
</style></head><body><div class="window"><div class="bar">
  <span class="dot" style="left:14px;background:#f38ba8"></span><span class="dot" style="left:34px;background:#f9e2af"></span>
  <span class="dot" style="left:54px;background:#a6e3a1"></span><div class="title">${escapeHtml(title)}</div>
</div><pre>${body}</pre></div></body></html>`;
}

async function screenshot(browser: Awaited<ReturnType<typeof chromium.launch>>, html: string, file: string, width: number): Promise<void> {
  const page = await browser.newPage({ viewport: { width: width + 56, height: 400 }, deviceScaleFactor: 2 });
  try {
    await page.setContent(html);
    await page.evaluate(`document.querySelector('.window').style.width = '${width}px'`);
    await page.locator('body').screenshot({ path: file, animations: 'disabled' });
  } finally {
    await page.close();
  }
}

await main();
