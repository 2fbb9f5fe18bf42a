// The docs' quickstart, verbatim (examples/quickstart.ts), run as its own process with the herm SDK against a
// real local server; the SDK's stream survives a dropped connection without a gap or a duplicate.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Herm from 'herm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REPO_ROOT, runCli } from '../support/child-server.ts';
import { openSse } from '../support/sse-client.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

let herm: TestServer;

beforeAll(async () => {
  herm = await startTestServer();
});

afterAll(async () => {
  await herm?.close();
});

it('runs the quickstart unchanged: create, wait for ready, stream, send, watch the agent work', async () => {
  herm.model.enqueue(
    {
      text: "I'll draft the storyboard scene by scene",
      toolCalls: [{ name: 'write_file', arguments: { path: 'storyboard.md', content: '# Storyboard\n1. Opening shot\n' } }],
    },
    { text: 'Saved storyboard.md.' },
  );
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'examples/quickstart.ts')], {
    env: { ...process.env, PRISM_API_KEY: herm.adminKey, HERM_BASE_URL: herm.url },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`quickstart did not finish:\n${stdout}\n${stderr}`)), 20_000);
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      if (stdout.includes('Agent finished.')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (!stdout.includes('Agent finished.')) reject(new Error(`quickstart exited with ${code}:\n${stdout}\n${stderr}`));
    });
  });
  child.kill();
  const lines = stdout.split('\n');
  expect(lines[0]).toMatch(/^dep_\S+ ready$/);
  expect(lines[1]).toMatch(/^run_\S+ running$/);
  expect(stdout).toContain("I'll draft the storyboard scene by scene\n[Using tool: write_file]");
  expect(stdout).toContain('Saved storyboard.md.\n\nAgent finished.');
  const deploymentId = lines[0]!.split(' ')[0]!;
  expect(herm.model.requests.at(-1)!.model).toBe('claude-sonnet-4-5');
  const saved = fs.readFileSync(path.join(herm.dataDir, 'workspaces', deploymentId, 'storyboard.md'), 'utf8');
  expect(saved).toContain('Opening shot');
});

it('resumes the SDK stream after the server drops the connection, with no gap and no duplicate', async () => {
  const client = new Herm({ apiKey: herm.adminKey, baseURL: herm.url });
  const deployment = await client.deployments.create({ customer_id: 'cus_sdk', name: 'SDK', system_prompt: 'p', model: 'openai-compatible/m' });
  const stream = await client.deployments.events.stream(deployment.deployment_id);
  herm.model.enqueue({ text: ['one ', 'two ', 'three ', 'four ', 'five'], delayMs: 150 });
  const run = await client.deployments.messages.send(deployment.deployment_id, { content: 'count' });
  const received: { id: string; type: string }[] = [];
  let dropped = false;
  for await (const event of stream) {
    received.push({ id: event.id, type: event.type });
    if (event.type === 'token' && !dropped) {
      dropped = true;
      // Cut every open connection under the SDK's feet; it must reconnect with Last-Event-ID.
      await dropConnections();
    }
    if (event.type === 'run_status' && event.run_id === run.run_id && event.status !== 'running') break;
  }
  stream.abort();
  const fromStore = await openSse(`${herm.url}/v1/deployments/${deployment.deployment_id}/events`, herm.adminKey, {
    'last-event-id': `evt_0000000000${deployment.deployment_id.slice(4, 10)}`,
  });
  await fromStore.waitFor((event) => event.type === 'run_status' && event.data.status === 'completed');
  fromStore.close();
  expect(received.map((event) => event.id)).toEqual(fromStore.events.map((event) => event.id));
  expect(received.map((event) => event.type)).toEqual(['run_status', 'token', 'token', 'token', 'token', 'token', 'run_status']);
  expect(new Set(received.map((event) => event.id)).size).toBe(received.length);
});

async function dropConnections(): Promise<void> {
  (herm.server.httpServer as import('node:http').Server).closeAllConnections();
}

it('herm chat: a typed message streams tokens and tool calls in the terminal', async () => {
  const deployment = await herm.createDeployment();
  herm.model.enqueue(
    { text: 'Listing files.', toolCalls: [{ name: 'shell', arguments: { command: 'echo hi > hello.txt && ls' } }] },
    { text: ' There is hello.txt.' },
  );
  const result = await runCli(['chat', deployment.deployment_id], { PRISM_API_KEY: herm.adminKey, HERM_BASE_URL: herm.url }, 'what files are there?\n/exit\n');
  expect(result.code, result.stderr).toBe(0);
  expect(result.stdout).toContain('Listing files.');
  // The tool call as one line, its result summarised (not a TTY: no colour).
  expect(result.stdout).toContain('● shell  echo hi > hello.txt && ls');
  expect(result.stdout).toMatch(/⎿ exit 0\n\s+hello\.txt/);
  expect(result.stdout).toContain('hello.txt');
  expect(result.stdout).toContain('There is hello.txt.');
  const thread = await herm.request('GET', `/v1/deployments/${deployment.deployment_id}/threads/${deployment.thread_id}`);
  expect(thread.body.messages.map((message: any) => message.role)).toEqual(['user', 'agent']);
});
