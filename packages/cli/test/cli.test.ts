// The herm command as a user runs it: a child process of packages/cli/src/main.ts against a real Herm
// server (the scripted model behind it). Help, errors and exit codes, the API commands, and chat.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Herm, { APIConnectionError } from 'herm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test/support/test-server.ts';
import { failFastFetch } from '../src/fail-fast-fetch.ts';

const CLI_MAIN = path.resolve(import.meta.dirname, '../src/main.ts');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

let herm: TestServer;

beforeAll(async () => {
  herm = await startTestServer();
});

afterAll(async () => {
  await herm?.close();
});

/** Runs `herm <args>` with the server's URL and admin key unless env overrides them. */
function cli(args: string[], options: { env?: Record<string, string | undefined>; input?: string } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string | undefined> = { ...process.env, HERM_BASE_URL: herm.url, PRISM_API_KEY: herm.adminKey, NO_COLOR: undefined, FORCE_COLOR: undefined, ...options.env };
    for (const name of Object.keys(env)) if (env[name] === undefined) delete env[name];
    const child = spawn(process.execPath, [CLI_MAIN, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function expectNoStack(result: Result): void {
  expect(result.stderr).not.toMatch(/\n\s+at /);
  expect(result.stderr).not.toMatch(/Error:/);
}

async function readyDeployment(): Promise<any> {
  const deployment = await herm.createDeployment();
  const deadline = Date.now() + 30_000;
  for (;;) {
    const current = await herm.request('GET', `/v1/deployments/${deployment.deployment_id}`);
    if (current.body.status === 'ready') return current.body;
    if (Date.now() > deadline) throw new Error(`deployment stayed ${current.body.status}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('help', () => {
  const topics = [
    [],
    ['serve'],
    ['keys'],
    ['keys', 'create'],
    ['keys', 'list'],
    ['keys', 'revoke'],
    ['secrets'],
    ['secrets', 'create'],
    ['deployments'],
    ['deployments', 'list'],
    ['deployments', 'get'],
    ['deployments', 'create'],
    ['deployments', 'delete'],
    ['threads'],
    ['threads', 'list'],
    ['threads', 'get'],
    ['events'],
    ['events', 'tail'],
    ['files'],
    ['files', 'ls'],
    ['files', 'get'],
    ['files', 'put'],
    ['chat'],
  ];

  it.each(topics.map((words) => [words.join(' ') || '(none)', words]))('herm %s --help starts with Usage:', async (_name, words) => {
    const results = await Promise.all(['--help', '-h'].map((flag) => cli([...(words as string[]), flag])));
    for (const result of results) {
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`^Usage: herm ${(words as string[]).join(' ')}`.trimEnd()));
    }
  });

  it('herm help <command> is the same text', async () => {
    expect((await cli(['help', 'deployments', 'get'])).stdout).toBe((await cli(['deployments', 'get', '--help'])).stdout);
  });

  it('an unknown command, subcommand or flag is a usage error, exit 2', async () => {
    for (const args of [['bogus'], ['deployments', 'bogus'], ['deployments'], ['deployments', 'list', '--bogus'], ['chat']]) {
      const result = await cli(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(/^herm: .+\nhint: run 'herm.*--help' for usage\n$/);
      expect(result.stdout).toBe('');
    }
  });
});

describe('errors', () => {
  it('a refused key: one line, a hint naming PRISM_API_KEY, exit 3', async () => {
    const result = await cli(['deployments', 'list'], { env: { PRISM_API_KEY: 'herm_sk_wrong' } });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^herm: the API key was refused \(401.*\)\nhint: check PRISM_API_KEY \(or --api-key\)\n$/);
    expectNoStack(result);
  });

  it('no key at all: exit 3 with how to set one', async () => {
    const result = await cli(['deployments', 'list'], { env: { PRISM_API_KEY: undefined } });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('herm: no API key\nhint: set PRISM_API_KEY (or pass --api-key)');
    expectNoStack(result);
  });

  it('the server down: the URL it tried, exit 5', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    for (const args of [['deployments', 'list'], ['chat', 'dep_x']]) {
      const result = await cli(args, { env: { HERM_BASE_URL: url } });
      expect(result.code).toBe(5);
      expect(result.stderr).toContain(`herm: could not reach the Herm server at ${url}`);
      expect(result.stderr).toContain(`hint: is the server running at ${url}? (set HERM_BASE_URL or --base-url)`);
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(2);
      expectNoStack(result);
    }
  });

  it('a refused connection is not retried until the server has answered once; after that the SDK retries', async () => {
    let calls = 0;
    const counting = (input: string | URL | Request, init?: RequestInit) => {
      calls++;
      return fetch(input, init);
    };
    const down = new Herm({ apiKey: 'k', baseURL: `http://127.0.0.1:${await closedPort()}`, fetch: failFastFetch(counting) });
    const error = await down.deployments.list().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(APIConnectionError);
    expect((error as Error).message).toBe('Connection error: ECONNREFUSED');
    expect(calls).toBe(1);

    // A server that answered, then went away (restarting): the SDK's retries (2) go on as usual.
    const server = http.createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"data":[],"has_more":false}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    calls = 0;
    const restarting = new Herm({ apiKey: 'k', baseURL: `http://127.0.0.1:${port}`, fetch: failFastFetch(counting) });
    await restarting.deployments.list();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    expect(calls).toBe(1);
    const later = await restarting.deployments.list().catch((caught: unknown) => caught);
    expect(later).toBeInstanceOf(APIConnectionError);
    expect(calls).toBe(4);
  });

  it('--base-url and --api-key override the environment', async () => {
    const result = await cli(['deployments', 'list', '--base-url', herm.url, '--api-key', herm.adminKey], {
      env: { HERM_BASE_URL: 'http://127.0.0.1:1', PRISM_API_KEY: 'herm_sk_wrong' },
    });
    expect(result.code, result.stderr).toBe(0);
  });

  it('a missing deployment: exit 4', async () => {
    for (const args of [['deployments', 'get', 'dep_missing'], ['threads', 'list', 'dep_missing'], ['chat', 'dep_missing']]) {
      const result = await cli(args);
      expect(result.code, result.stderr).toBe(4);
      expect(result.stderr).toMatch(/^herm: .*dep_missing/);
      expectNoStack(result);
    }
  });
});

describe('deployments and threads', () => {
  it('create, list, get, delete, with tables and --json', async () => {
    const created = await cli(['deployments', 'create', '--name', 'CLI agent', '--customer', 'cus_cli', '--system-prompt', 'Be brief.', '--model', 'openai-compatible/scripted-model', '--json']);
    expect(created.code, created.stderr).toBe(0);
    const deployment = JSON.parse(created.stdout);
    expect(deployment).toMatchObject({ name: 'CLI agent', customer_id: 'cus_cli', system_prompt: 'Be brief.' });
    const id: string = deployment.deployment_id;

    const listed = await cli(['deployments', 'list', '--customer', 'cus_cli', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout.trimEnd().split('\n').map((line) => JSON.parse(line).deployment_id)).toEqual([id]);

    const table = await cli(['deployments', 'list', '--customer', 'cus_cli']);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+CUSTOMER\s+STATUS\s+MODEL$/);
    expect(table.stdout).toMatch(new RegExp(`${id}\\s+CLI agent\\s+cus_cli`));

    const shown = await cli(['deployments', 'get', id]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`^id\\s+${id}\\nname\\s+CLI agent\\n`));
    expect(JSON.parse((await cli(['deployments', 'get', id, '--json'])).stdout).deployment_id).toBe(id);

    const missing = await cli(['deployments', 'create', '--name', 'x']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('herm: missing --customer, --system-prompt');

    const deleted = await cli(['deployments', 'delete', id]);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stdout).toBe(`Deleted ${id}\n`);
    expect((await cli(['deployments', 'get', id])).code).toBe(4);
  });

  it('threads list and get show the conversation', async () => {
    const deployment = await readyDeployment();
    herm.model.enqueue({ text: ['Hi', ' there.'] });
    await herm.sendAndWait(deployment.deployment_id, { content: 'Hello?' });

    const listed = await cli(['threads', 'list', deployment.deployment_id, '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const threads = listed.stdout.trimEnd().split('\n').map((line) => JSON.parse(line));
    expect(threads.map((thread) => thread.thread_id)).toContain(deployment.thread_id);

    const table = await cli(['threads', 'list', deployment.deployment_id]);
    expect(table.stdout).toMatch(/^ID\s+STATUS\s+MESSAGES/);
    expect(table.stdout).toContain(deployment.thread_id);

    const shown = await cli(['threads', 'get', deployment.deployment_id, deployment.thread_id]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain('you> Hello?\nagent> Hi there.\n');
    const json = JSON.parse((await cli(['threads', 'get', deployment.deployment_id, deployment.thread_id, '--json'])).stdout);
    expect(json.messages.map((message: { role: string }) => message.role)).toEqual(['user', 'agent']);
  });
});

describe('keys and secrets (on the local store)', () => {
  const local = () => ({ env: { HERM_DATA_DIR: herm.dataDir, LOG_LEVEL: 'silent' } });

  it('keys create, list and revoke with --json', async () => {
    const created = await cli(['keys', 'create', '--scopes', 'deployments:read', '--name', 'ci', '--json'], local());
    expect(created.code, created.stderr).toBe(0);
    const key = JSON.parse(created.stdout);
    expect(created.stdout.trimEnd().split('\n')).toHaveLength(1);
    expect(key).toMatchObject({ key_id: expect.stringMatching(/^key_/), name: 'ci', scopes: ['deployments:read'], state: 'active', revoked_at: null });
    expect(key.secret).toMatch(/^herm_sk_/);
    expect(key.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    // The secret works against the server, with its scope.
    expect((await herm.request('GET', '/v1/deployments', undefined, key.secret)).status).toBe(200);

    const listed = await cli(['keys', 'list', '--json'], local());
    expect(listed.code, listed.stderr).toBe(0);
    const keys = listed.stdout.trimEnd().split('\n').map((line) => JSON.parse(line));
    const mine = keys.find((entry) => entry.key_id === key.key_id);
    expect(mine).toMatchObject({ name: 'ci', state: 'active', key_hint: expect.any(String) });
    // Never the secret, nor its hash.
    expect(listed.stdout).not.toContain(key.secret);
    expect(keys.every((entry) => !('secret' in entry) && !('key_hash' in entry))).toBe(true);

    const revoked = await cli(['keys', 'revoke', key.key_id, '--json'], local());
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(JSON.parse(revoked.stdout)).toEqual({ key_id: key.key_id, revoked: true });
    const after = (await cli(['keys', 'list', '--json'], local())).stdout.trimEnd().split('\n').map((line) => JSON.parse(line));
    expect(after.find((entry) => entry.key_id === key.key_id)).toMatchObject({ state: 'revoked', revoked_at: expect.stringMatching(/Z$/) });

    const missing = await cli(['keys', 'revoke', key.key_id, '--json'], local());
    expect(missing.code).toBe(4);
    expect(missing.stdout).toBe('');
  });

  it('secrets create --json prints the reference as the API returns it', async () => {
    const created = await cli(['secrets', 'create', '--name', 'crm_token', '--json'], { ...local(), input: 'tok_12345\n' });
    expect(created.code, created.stderr).toBe(0);
    const secret = JSON.parse(created.stdout);
    expect(secret).toMatchObject({ secret_id: expect.stringMatching(/^sec_/), name: 'crm_token' });
    const fromApi = await herm.request('GET', '/v1/secrets?limit=100');
    expect(fromApi.status).toBe(200);
    expect(fromApi.body.data.find((entry: { secret_id: string }) => entry.secret_id === secret.secret_id)).toEqual(secret);
    expect(created.stdout).not.toContain('tok_12345');

    const plain = await cli(['secrets', 'create', '--name', 'other', '--value', 'other-value'], local());
    expect(plain.stdout).toMatch(/^sec_\S+\n$/);
  });
});

describe('files', () => {
  it('put from stdin and from a file, ls, get to stdout and to a file', async () => {
    const deployment = await readyDeployment();
    const id: string = deployment.deployment_id;
    const put = await cli(['files', 'put', id, 'notes/hello.txt'], { input: 'hello\nworld\n' });
    expect(put.code, put.stderr).toBe(0);
    expect(put.stdout).toBe('Wrote notes/hello.txt (12 bytes)\n');

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-cli-'));
    try {
      fs.writeFileSync(path.join(dir, 'local.bin'), Buffer.from([0, 1, 2, 255]));
      const putFile = await cli(['files', 'put', id, 'data.bin', path.join(dir, 'local.bin'), '--json']);
      expect(putFile.code, putFile.stderr).toBe(0);
      expect(JSON.parse(putFile.stdout)).toMatchObject({ path: 'data.bin', size: 4 });

      const listed = await cli(['files', 'ls', id]);
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout).toMatch(/^TYPE\s+SIZE\s+MODIFIED\s+NAME\n/);
      expect(listed.stdout).toMatch(/dir\s+-\s+\S+\s+notes\/\n/);
      expect(listed.stdout).toMatch(/file\s+4\s+\S+\s+data\.bin\n/);
      const inside = (await cli(['files', 'ls', id, 'notes', '--json'])).stdout.trimEnd().split('\n').map((line) => JSON.parse(line));
      expect(inside).toEqual([expect.objectContaining({ name: 'hello.txt', type: 'file', size: 12 })]);

      const got = await cli(['files', 'get', id, 'notes/hello.txt']);
      expect(got.code, got.stderr).toBe(0);
      expect(got.stdout).toBe('hello\nworld\n');
      const saved = path.join(dir, 'copy.bin');
      expect((await cli(['files', 'get', id, 'data.bin', '-o', saved])).code).toBe(0);
      expect([...fs.readFileSync(saved)]).toEqual([0, 1, 2, 255]);

      const missing = await cli(['files', 'get', id, 'nope.txt']);
      expect(missing.code).toBe(4);
      expectNoStack(missing);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('events tail', () => {
  it('prints the events as they happen, --json as JSON lines, coloured on a terminal, until Ctrl-C', async () => {
    const deployment = await readyDeployment();
    for (const mode of ['json', 'plain', 'color'] as const) {
      const json = mode === 'json';
      const env: Record<string, string> = { ...(process.env as Record<string, string>), HERM_BASE_URL: herm.url, PRISM_API_KEY: herm.adminKey };
      delete env.FORCE_COLOR;
      delete env.NO_COLOR;
      // FORCE_COLOR stands in for a terminal (the output is a pipe here).
      if (mode === 'color') env.FORCE_COLOR = '1';
      const args = ['events', 'tail', deployment.deployment_id, '--thread', deployment.thread_id, ...(json ? ['--json'] : [])];
      const child = spawn(process.execPath, [CLI_MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk) => (stdout += chunk));
      child.stderr.on('data', (chunk) => (stderr += chunk));
      const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
      const until = async (condition: () => boolean, what: string): Promise<void> => {
        const deadline = Date.now() + 20_000;
        while (!condition()) {
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stderr: ${stderr}`);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      };
      await until(() => stderr.includes('Following the events of'), 'the stream to open');
      herm.model.enqueue({ text: ['Tail', 'ed.'] });
      const run = await herm.sendAndWait(deployment.deployment_id, { content: 'Tail me.' });
      await until(() => stdout.includes('completed'), 'the run to complete');
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      if (json) {
        const events = stdout.trimEnd().split('\n').map((line) => JSON.parse(line));
        expect(events.filter((event) => event.type === 'token').map((event) => event.delta).join('')).toBe('Tailed.');
        expect(events.every((event) => event.run_id === run.run_id)).toBe(true);
      } else if (mode === 'plain') {
        expect(stdout).toMatch(new RegExp(`${run.run_id}  token  \\{"delta":"Tail"\\}`));
        expect(stdout).not.toContain('\x1b[');
      } else {
        expect(stdout).toContain(`\x1b[2m${run.run_id}\x1b[0m  \x1b[32mtoken\x1b[0m  {"delta":"Tail"}`);
        expect(stdout).toContain('\x1b[1;33mrun_status\x1b[0m  {"status":"completed"}');
      }
    }
  });
});

describe('chat', () => {
  it('renders tokens, a tool call as one line and its result summarised', async () => {
    const deployment = await readyDeployment();
    herm.model.enqueue(
      { text: 'Looking.', toolCalls: [{ name: 'shell', arguments: { command: 'echo hi && seq 1 6' } }] },
      { text: ['All ', 'done.'] },
    );
    const result = await cli(['chat', deployment.deployment_id], { input: 'count please\n' });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(
      ['you> count please', 'Looking.', '● shell  echo hi && seq 1 6', '  ⎿ exit 0', '    hi', '    1', '    2', '    … 4 more lines', 'All done.', 'you> '].join('\n'),
    );
    expect(result.stdout).not.toContain('\x1b[');
  });

  it('asks for approval of a held call in the terminal, sends the answer and keeps streaming the run', async () => {
    const deployment = await herm.createDeployment({ steering: { tools: { shell: 'always_ask' } }, features: { memory: false } });
    herm.model.enqueue(
      { text: 'Posting.', toolCalls: [{ id: 'call_post', name: 'shell', arguments: { command: 'echo posted' } }] },
      { text: 'Posted the ads.' },
    );
    const result = await cli(['chat', deployment.deployment_id], { input: 'post the ads\n\na\n' });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(
      [
        'you> post the ads',
        'Posting.',
        '● shell  echo posted',
        '? Approval needed: Run the shell command: echo posted',
        '  ● shell  echo posted',
        '  approve (a), deny (d, or "d: reason"), or type a reply',
        'answer> ',
        'answer> a',
        '  ⎿ exit 0',
        '    posted',
        'Posted the ads.',
        'you> ',
      ].join('\n'),
    );
    const runs = await herm.request('GET', `/v1/deployments/${deployment.deployment_id}/runs`);
    expect(runs.body.data[0].status).toBe('completed');
    const requests = await herm.request('GET', `/v1/deployments/${deployment.deployment_id}/steering_requests`);
    expect(requests.body.data.map((request: any) => [request.status, request.decision])).toEqual([['approved', 'approve']]);
  });

  it("answers the agent's question with an option, and a denial with its reason", async () => {
    const deployment = await herm.createDeployment({ steering: { tools: { shell: 'always_ask' } }, features: { memory: false } });
    herm.model.enqueue(
      { toolCalls: [{ id: 'call_ask', name: 'ask_human', arguments: { summary: 'Which colour?', options: ['blue', 'green'] } }] },
      { toolCalls: [{ id: 'call_rm', name: 'shell', arguments: { command: 'rm -rf drafts' } }] },
      { text: 'Green, and I kept the drafts.' },
    );
    const result = await cli(['chat', deployment.deployment_id], { input: 'make ads\n2\nd: keep the drafts\n' });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(['? The agent asks: Which colour?', '  1) blue  2) green'].join('\n'));
    expect(result.stdout).toContain('answer> 2');
    expect(result.stdout).toContain('answer> d: keep the drafts');
    expect(result.stdout).toContain('Green, and I kept the drafts.');
    const requests = await herm.request('GET', `/v1/deployments/${deployment.deployment_id}/steering_requests`);
    expect(requests.body.data.map((request: any) => [request.kind, request.decision, request.message])).toEqual([
      ['tool', 'deny', 'keep the drafts'],
      ['ask', 'approve', 'green'],
    ]);
    const tools = herm.model.requests.at(-1)!.messages.filter((message) => message.role === 'tool').map((message) => message.text);
    expect(tools[0]).toContain('green');
    expect(tools[1]).toContain('keep the drafts');
  });

  it('--json prints the events of the conversation as JSON lines', async () => {
    const deployment = await readyDeployment();
    herm.model.enqueue({ toolCalls: [{ name: 'shell', arguments: { command: 'echo hi' } }] }, { text: 'Done.' });
    const result = await cli(['chat', deployment.deployment_id, '--json'], { input: 'go\n' });
    expect(result.code, result.stderr).toBe(0);
    const events = result.stdout.trimEnd().split('\n').map((line) => JSON.parse(line));
    const call = events.find((event) => event.type === 'tool_call');
    expect(call).toMatchObject({ tool: 'shell', arguments: { command: 'echo hi' } });
    expect(events.find((event) => event.type === 'tool_result')?.result).toMatchObject({ exit_code: 0, stdout: 'hi\n' });
    expect(events.at(-1)).toMatchObject({ type: 'run_status', status: 'completed' });
  });
});
