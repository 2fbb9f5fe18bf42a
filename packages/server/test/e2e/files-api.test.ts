// The Files API over real HTTP against a real server: every operation runs in the deployment's real
// bubblewrap sandbox. Symlink escapes are planted by the agent itself (`ln -s` through the shell tool) and
// raced from the host while the API reads and writes.
import fs from 'node:fs';
import path from 'node:path';
import Herm, { APIError, BadRequestError, NotFoundError, PermissionDeniedError } from 'herm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const MAX_FILE_BYTES = 256 * 1024;

let herm: TestServer;
let sdk: Herm;

beforeAll(async () => {
  herm = await startTestServer({
    // A small output cap makes reads of a few hundred KB go through the sandbox in several chunks.
    env: { HERM_MAX_FILE_BYTES: String(MAX_FILE_BYTES), HERM_MAX_OUTPUT_BYTES: String(32 * 1024) },
  });
  sdk = new Herm({ apiKey: herm.adminKey, baseURL: herm.url, maxRetries: 0 });
});

afterAll(async () => {
  await herm?.close();
});

function workspaceOf(deploymentId: string): string {
  return path.join(herm.dataDir, 'workspaces', deploymentId);
}

function filesUrl(deploymentId: string, suffix = '', query: Record<string, string> = {}): string {
  const search = new URLSearchParams(query).toString();
  return `${herm.url}/v1/deployments/${deploymentId}/files${suffix}${search ? `?${search}` : ''}`;
}

async function rawRequest(method: string, url: string, options: { body?: BodyInit; headers?: Record<string, string>; key?: string } = {}) {
  const response = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${options.key ?? herm.adminKey}`, ...options.headers },
    ...(options.body === undefined ? {} : { body: options.body, duplex: 'half' }),
  } as RequestInit);
  const bytes = new Uint8Array(await response.arrayBuffer());
  const text = new TextDecoder().decode(bytes);
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, bytes, text, json };
}

/** Runs the scripted turns as one agent run and waits for it to finish. */
async function runAgent(deploymentId: string, ...turns: Parameters<TestServer['model']['enqueue']>) {
  herm.model.enqueue(...turns);
  const sent = await sdk.deployments.messages.send(deploymentId, { content: 'Go.' });
  const deadline = Date.now() + 20_000;
  for (;;) {
    const run = await sdk.deployments.runs.get(deploymentId, sent.run_id);
    if (run.status === 'completed' || run.status === 'error') {
      expect(run.status, JSON.stringify(run.error)).toBe('completed');
      return run;
    }
    if (Date.now() > deadline) throw new Error(`run ${sent.run_id} did not finish`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The text of the tool results the model received in its latest request. */
function lastToolResults(): string[] {
  return herm.model.requests.at(-1)!.messages.filter((message) => message.role === 'tool').map((message) => message.text);
}

async function expectApiError(promise: Promise<unknown>, status: number, type: string): Promise<APIError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(APIError);
  expect((error as APIError).status).toBe(status);
  expect((error as APIError).type).toBe(type);
  expect((error as APIError).request_id).toMatch(/^req_/);
  return error as APIError;
}

describe('list, read, write and delete', () => {
  it('writes files (parents created), lists directories, reads them back and deletes recursively', async () => {
    const { deployment_id: id } = await herm.createDeployment();

    const written = await sdk.files.write(id, { path: 'briefs/q3-brief.md', content: '# Q3 brief\nLaunch in July.\n' });
    expect(written).toEqual({ path: 'briefs/q3-brief.md', size: 27, modified_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/) });
    await sdk.files.write(id, { path: '/workspace/videos/drafts/take-1.txt', content: 'draft' });
    await sdk.files.write(id, { path: 'videos/variation-1.mp4', content: new Uint8Array([0, 0, 0, 24, 102, 116, 121, 112]) });
    expect(fs.readFileSync(path.join(workspaceOf(id), 'briefs/q3-brief.md'), 'utf8')).toBe('# Q3 brief\nLaunch in July.\n');

    const root = await sdk.files.list(id);
    expect(root.path).toBe('');
    expect(root.entries.map((entry) => [entry.name, entry.type])).toEqual([
      ['briefs', 'directory'],
      ['videos', 'directory'],
    ]);
    const videos = await sdk.files.list(id, { path: 'videos/' });
    expect(videos).toEqual({
      path: 'videos/',
      entries: [
        { name: 'drafts', type: 'directory', modified_at: expect.stringMatching(/Z$/) },
        { name: 'variation-1.mp4', type: 'file', size: 8, modified_at: expect.stringMatching(/Z$/) },
      ],
    });
    expect((await sdk.files.list(id, { path: '/workspace/videos' })).path).toBe('videos/');
    expect((await sdk.files.list(id, { path: 'videos/drafts/../drafts' })).entries.map((entry) => entry.name)).toEqual(['take-1.txt']);

    const file = await sdk.files.read(id, { path: 'briefs/q3-brief.md' });
    expect(await file.text()).toBe('# Q3 brief\nLaunch in July.\n');
    expect(await file.bytes()).toEqual(new TextEncoder().encode('# Q3 brief\nLaunch in July.\n'));
    expect(file.contentType).toBe('text/markdown; charset=utf-8');
    expect(file.size).toBe(27);
    expect(file.modified_at).toBe(written.modified_at);

    const raw = await rawRequest('GET', filesUrl(id, '/content', { path: 'videos/variation-1.mp4' }));
    expect(raw.status).toBe(200);
    expect(raw.headers.get('content-type')).toBe('video/mp4');
    expect(raw.headers.get('content-length')).toBe('8');
    expect(raw.headers.get('x-content-type-options')).toBe('nosniff');
    expect(raw.headers.get('content-disposition')).toBe(`attachment; filename="variation-1.mp4"; filename*=UTF-8''variation-1.mp4`);
    expect(raw.headers.get('last-modified')).toMatch(/GMT$/);
    expect(raw.headers.get('x-request-id')).toMatch(/^req_/);

    // Overwrite replaces the content and keeps the file's mode.
    fs.chmodSync(path.join(workspaceOf(id), 'briefs/q3-brief.md'), 0o640);
    await sdk.files.write(id, { path: 'briefs/q3-brief.md', content: 'v2' });
    expect(await (await sdk.files.read(id, { path: 'briefs/q3-brief.md' })).text()).toBe('v2');
    expect(fs.statSync(path.join(workspaceOf(id), 'briefs/q3-brief.md')).mode & 0o777).toBe(0o640);
    // Empty files are files too.
    await sdk.files.write(id, { path: 'empty.txt', content: '' });
    expect(await (await sdk.files.read(id, { path: 'empty.txt' })).bytes()).toEqual(new Uint8Array(0));

    expect(await sdk.files.delete(id, { path: 'briefs/q3-brief.md' })).toEqual({ path: 'briefs/q3-brief.md', deleted: true });
    await expectApiError(sdk.files.read(id, { path: 'briefs/q3-brief.md' }), 404, 'not_found');
    expect(await sdk.files.delete(id, { path: 'videos/' })).toEqual({ path: 'videos', deleted: true });
    expect(fs.existsSync(path.join(workspaceOf(id), 'videos'))).toBe(false);
    expect((await sdk.files.list(id)).entries.map((entry) => entry.name)).toEqual(['briefs', 'empty.txt']);
    // No temporary upload file is left behind.
    expect(fs.readdirSync(workspaceOf(id)).filter((name) => name.startsWith('.herm-upload'))).toEqual([]);
  });

  it('round-trips binary content byte for byte, from Uint8Array, Blob and a raw body, across read chunks', async () => {
    const { deployment_id: id } = await herm.createDeployment();
    const everyByte = Uint8Array.from({ length: 512 }, (_, index) => index % 256);
    await sdk.files.write(id, { path: 'bytes.bin', content: everyByte });
    expect(await (await sdk.files.read(id, { path: 'bytes.bin' })).bytes()).toEqual(everyByte);

    // ~200 KB of noise: several sandbox read chunks with HERM_MAX_OUTPUT_BYTES at 32 KB.
    const noise = new Uint8Array(200_003);
    let state = 12345;
    for (let index = 0; index < noise.length; index++) {
      state = (state * 1103515245 + 12345) >>> 0;
      noise[index] = state >>> 24;
    }
    const written = await sdk.files.write(id, { path: 'media/noise.raw', content: new Blob([noise], { type: 'application/octet-stream' }) });
    expect(written.size).toBe(noise.length);
    expect(Buffer.compare(fs.readFileSync(path.join(workspaceOf(id), 'media/noise.raw')), Buffer.from(noise))).toBe(0);
    const read = await sdk.files.read(id, { path: 'media/noise.raw' });
    expect(read.size).toBe(noise.length);
    expect(Buffer.compare(Buffer.from(await read.bytes()), Buffer.from(noise))).toBe(0);

    // curl --data-binary sends application/x-www-form-urlencoded: the body is still the file.
    const invalidUtf8 = new Uint8Array([0xff, 0xfe, 0x00, 0xc3, 0x28, 0x0a]);
    const put = await rawRequest('PUT', filesUrl(id, '', { path: 'odd.dat' }), {
      body: invalidUtf8,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(put.status).toBe(200);
    expect(put.json).toMatchObject({ path: 'odd.dat', size: 6 });
    const got = await rawRequest('GET', filesUrl(id, '/content', { path: 'odd.dat' }));
    expect(got.bytes).toEqual(invalidUtf8);
    expect(got.headers.get('content-type')).toBe('application/octet-stream');

    // Non-ASCII names survive the path, the listing and the Content-Disposition header.
    await sdk.files.write(id, { path: 'notes/résumé "final".md', content: 'ok' });
    expect((await sdk.files.list(id, { path: 'notes' })).entries.map((entry) => entry.name)).toEqual(['résumé "final".md']);
    const named = await rawRequest('GET', filesUrl(id, '/content', { path: 'notes/résumé "final".md' }));
    expect(named.headers.get('content-disposition')).toBe(`attachment; filename="r_sum_ _final_.md"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.md`);
  });

  it('answers 404 for missing paths and deployments, 400 for invalid paths and ids', async () => {
    const { deployment_id: id } = await herm.createDeployment();
    await sdk.files.write(id, { path: 'dir/file.txt', content: 'x' });

    const missing = await expectApiError(sdk.files.read(id, { path: 'nope.md' }), 404, 'not_found');
    expect(missing).toBeInstanceOf(NotFoundError);
    expect(missing.param).toBe('path');
    await expectApiError(sdk.files.list(id, { path: 'nope/' }), 404, 'not_found');
    await expectApiError(sdk.files.delete(id, { path: 'nope.md' }), 404, 'not_found');
    await expectApiError(sdk.files.delete(id, { path: 'dir/file.txt/deeper' }), 404, 'not_found');
    const unknownDeployment = await expectApiError(sdk.files.list('dep_doesnotexist'), 404, 'not_found');
    expect(unknownDeployment.param).toBe('deployment_id');
    await expectApiError(sdk.files.write('dep_doesnotexist', { path: 'a.txt', content: 'x' }), 404, 'not_found');

    for (const bad of ['../x', '../../etc/passwd', 'a/../../x', '/etc/passwd', '/workspace/../etc/passwd', '/workspacex/a', 'a\0b']) {
      for (const attempt of [
        () => sdk.files.read(id, { path: bad }),
        () => sdk.files.list(id, { path: bad }),
        () => sdk.files.write(id, { path: bad, content: 'x' }),
        () => sdk.files.delete(id, { path: bad }),
      ]) {
        const error = await expectApiError(attempt(), 400, 'validation_error');
        expect(error).toBeInstanceOf(BadRequestError);
        expect(error.param, bad).toBe('path');
      }
    }
    expect(fs.readdirSync(path.dirname(workspaceOf(id)))).not.toContain('x');

    const rootDelete = await expectApiError(sdk.files.delete(id, { path: '/workspace' }), 400, 'validation_error');
    expect(rootDelete.message).toContain('workspace root');
    await expectApiError(sdk.files.delete(id, { path: '.' }), 400, 'validation_error');
    await expectApiError(sdk.files.write(id, { path: '', content: 'x' }), 400, 'validation_error');
    expect((await expectApiError(sdk.files.read(id, { path: 'dir' }), 400, 'validation_error')).message).toContain('is a directory');
    expect((await expectApiError(sdk.files.list(id, { path: 'dir/file.txt' }), 400, 'validation_error')).message).toContain('not a directory');
    await expectApiError(sdk.files.write(id, { path: 'dir', content: 'x' }), 400, 'validation_error');
    await expectApiError(sdk.files.write(id, { path: 'dir/file.txt/child', content: 'x' }), 400, 'validation_error');
    expect(fs.readFileSync(path.join(workspaceOf(id), 'dir/file.txt'), 'utf8')).toBe('x');

    // Query and id validation.
    const noPath = await rawRequest('GET', filesUrl(id, '/content'));
    expect(noPath.status).toBe(400);
    expect(noPath.json.error).toMatchObject({ type: 'validation_error', param: 'path', message: 'Missing required parameter: path.' });
    const extra = await rawRequest('GET', filesUrl(id, '', { path: 'dir', recursive: 'true' }));
    expect(extra.status).toBe(400);
    expect(extra.json.error.param).toBe('recursive');
    const wrongPrefix = await rawRequest('GET', `${herm.url}/v1/deployments/thr_${id.slice(4)}/files`);
    expect(wrongPrefix.status).toBe(400);
    expect(wrongPrefix.json.error).toMatchObject({ type: 'validation_error', param: 'deployment_id' });
    const form = await rawRequest('PUT', filesUrl(id, '', { path: 'form.txt' }), {
      body: new FormData(),
    });
    expect(form.status).toBe(400);
    expect(form.json.error.param).toBe('body');
  });

  it(`refuses uploads over HERM_MAX_FILE_BYTES (${MAX_FILE_BYTES}) with 413 validation_error and writes nothing`, async () => {
    const { deployment_id: id } = await herm.createDeployment();
    const atLimit = new Uint8Array(MAX_FILE_BYTES).fill(7);
    expect((await sdk.files.write(id, { path: 'at-limit.bin', content: atLimit })).size).toBe(MAX_FILE_BYTES);
    expect((await sdk.files.read(id, { path: 'at-limit.bin' })).size).toBe(MAX_FILE_BYTES);

    const over = new Uint8Array(MAX_FILE_BYTES + 1);
    const error = await expectApiError(sdk.files.write(id, { path: 'over.bin', content: over }), 413, 'validation_error');
    expect(error.param).toBe('body');
    expect(error.message).toContain('HERM_MAX_FILE_BYTES');

    // Without a Content-Length (a streamed body), the limit is enforced while reading.
    const streamed = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let sent = 0; sent <= MAX_FILE_BYTES; sent += 64 * 1024) controller.enqueue(new Uint8Array(64 * 1024));
        controller.close();
      },
    });
    const chunked = await rawRequest('PUT', filesUrl(id, '', { path: 'streamed.bin' }), {
      body: streamed,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(chunked.status).toBe(413);
    expect(chunked.json.error).toMatchObject({ type: 'validation_error', param: 'body' });
    expect(fs.readdirSync(workspaceOf(id))).toEqual(['at-limit.bin']);

    // A file the agent made bigger than the limit cannot be downloaded either.
    fs.writeFileSync(path.join(workspaceOf(id), 'render.mp4'), Buffer.alloc(MAX_FILE_BYTES + 10));
    const tooBig = await expectApiError(sdk.files.read(id, { path: 'render.mp4' }), 413, 'validation_error');
    expect(tooBig.param).toBe('path');
    // … but it is listed, and can be deleted.
    expect((await sdk.files.list(id)).entries.find((entry) => entry.name === 'render.mp4')?.size).toBe(MAX_FILE_BYTES + 10);
    await sdk.files.delete(id, { path: 'render.mp4' });
  });

  it('says a path over 4096 characters is too long, on all four routes', async () => {
    const { deployment_id: id } = await herm.createDeployment();
    const long = `${'d/'.repeat(2048)}x`;
    expect(long.length).toBe(4097);
    for (const [method, suffix] of [
      ['GET', ''],
      ['GET', '/content'],
      ['PUT', ''],
      ['DELETE', ''],
    ] as const) {
      const response = await rawRequest(method, filesUrl(id, suffix, { path: long }), method === 'PUT' ? { body: 'x' } : {});
      expect(response.status, `${method} ${suffix}`).toBe(400);
      expect(response.json.error).toMatchObject({ type: 'validation_error', param: 'path', message: 'Invalid path: must be at most 4096 characters.' });
    }
    // At the limit it is the file system's answer (a name over 255 bytes), not the length check.
    const atLimit = await rawRequest('GET', filesUrl(id, '/content', { path: long.slice(0, 4096) }));
    expect(atLimit.json.error.message).not.toContain('4096');
    const repeated = await rawRequest('GET', `${filesUrl(id, '/content')}?path=a&path=b`);
    expect(repeated.status).toBe(400);
    expect(repeated.json.error).toMatchObject({ param: 'path', message: 'Invalid path: must be a string.' });
  });

  it('keeps uploads in progress out of sight: not listed, not addressable, nothing left after a write', async () => {
    const { deployment_id: id } = await herm.createDeployment();
    const workspace = workspaceOf(id);
    await sdk.files.write(id, { path: 'notes/a.txt', content: 'a' });
    // The temporary file's directory goes with the upload: the workspace holds only what was written.
    expect(fs.readdirSync(workspace)).toEqual(['notes']);

    // What an interrupted upload leaves (the server killed mid-write): invisible to the Files API.
    const uploads = path.join(workspace, '.herm', 'uploads');
    fs.mkdirSync(uploads, { recursive: true });
    fs.writeFileSync(path.join(uploads, '.herm-upload.Ab12Cd'), 'half a file');
    fs.writeFileSync(path.join(uploads, '.herm-upload.Old123'), 'an older half');
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    fs.utimesSync(path.join(uploads, '.herm-upload.Old123'), twoHoursAgo, twoHoursAgo);
    fs.mkdirSync(path.join(workspace, '.herm', 'tool-output'));
    expect((await sdk.files.list(id, { path: '.herm' })).entries.map((entry) => entry.name)).toEqual(['tool-output']);
    expect((await sdk.files.list(id, { path: '/workspace/.herm/' })).entries.map((entry) => entry.name)).toEqual(['tool-output']);
    for (const hidden of ['.herm/uploads', '.herm/uploads/.herm-upload.Ab12Cd', '/workspace/.herm/uploads/', '.herm/x/../uploads/new.txt']) {
      for (const attempt of [
        () => sdk.files.read(id, { path: hidden }),
        () => sdk.files.list(id, { path: hidden }),
        () => sdk.files.write(id, { path: hidden, content: 'x' }),
        () => sdk.files.delete(id, { path: hidden }),
      ]) {
        const error = await expectApiError(attempt(), 400, 'validation_error');
        expect(error.param, hidden).toBe('path');
        expect(error.message).toContain('uploads while they are written');
      }
    }

    // An upload removes the leftovers older than an hour (a recent one may be another upload's, in progress).
    await sdk.files.write(id, { path: 'notes/b.txt', content: 'b' });
    expect(fs.readdirSync(uploads)).toEqual(['.herm-upload.Ab12Cd']);
    expect(fs.readFileSync(path.join(workspace, 'notes/b.txt'), 'utf8')).toBe('b');
    // .herm was there before the upload: it stays.
    expect(fs.existsSync(path.join(workspace, '.herm', 'tool-output'))).toBe(true);

    // The agent replacing the upload directory with a symlink elsewhere only costs the hiding: the write
    // still lands, and nothing is written through the link.
    fs.rmSync(uploads, { recursive: true });
    fs.mkdirSync(path.join(workspace, 'elsewhere'));
    fs.symlinkSync('../elsewhere', uploads);
    await sdk.files.write(id, { path: 'notes/c.txt', content: 'c' });
    expect(fs.readFileSync(path.join(workspace, 'notes/c.txt'), 'utf8')).toBe('c');
    expect(fs.readdirSync(path.join(workspace, 'elsewhere'))).toEqual([]);
    expect(fs.readdirSync(path.join(workspace, 'notes')).sort()).toEqual(['a.txt', 'b.txt', 'c.txt']);
  });
});

describe('symlinks planted by the agent', () => {
  it('never reads, lists, writes or deletes anything outside the workspace through a symlink', async () => {
    const { deployment_id: id } = await herm.createDeployment();
    const secretPath = path.join(herm.dataDir, 'server-secret.txt');
    fs.writeFileSync(secretPath, 'TOP-SECRET');
    await sdk.files.write(id, { path: 'real/inside.txt', content: 'inside' });
    await runAgent(
      id,
      {
        toolCalls: [
          {
            name: 'shell',
            arguments: {
              command: [
                'ln -s /etc/shadow shadow',
                'ln -s /etc etc-link',
                `ln -s ${herm.dataDir} data-link`,
                `ln -s ${secretPath} secret-link`,
                'ln -s /usr/bin usr-bin',
                'ln -s real inner-link',
                'ln -s /workspace/real/inside.txt inner-file',
                'ln -s loop-b loop-a && ln -s loop-a loop-b',
                'mkfifo pipe',
                'ls -la',
              ].join(' && '),
            },
          },
        ],
      },
      { text: 'Done.' },
    );
    expect(lastToolResults()[0]).toContain('shadow -> /etc/shadow');

    // Listing: links to inside the workspace show as what they point at; the rest are left out.
    const listing = await sdk.files.list(id);
    expect(listing.entries.map((entry) => [entry.name, entry.type])).toEqual([
      ['inner-file', 'file'],
      ['inner-link', 'directory'],
      ['real', 'directory'],
    ]);
    expect((await sdk.files.list(id, { path: 'inner-link' })).entries.map((entry) => entry.name)).toEqual(['inside.txt']);
    expect(await (await sdk.files.read(id, { path: 'inner-link/inside.txt' })).text()).toBe('inside');
    expect(await (await sdk.files.read(id, { path: 'inner-file' })).text()).toBe('inside');

    // Reads and listings through escaping links: 400, and never a byte of what is behind them.
    for (const escaping of ['shadow', 'etc-link/passwd', 'etc-link/shadow', 'data-link/herm.sqlite', 'secret-link', 'usr-bin/env']) {
      const read = await rawRequest('GET', filesUrl(id, '/content', { path: escaping }));
      expect(read.status, escaping).toBe(400);
      expect(read.json.error).toMatchObject({ type: 'validation_error', param: 'path' });
      expect(read.text).not.toContain('TOP-SECRET');
      expect(read.text).not.toContain('root:');
    }
    for (const escaping of ['etc-link', 'data-link', 'usr-bin']) {
      const list = await rawRequest('GET', filesUrl(id, '', { path: escaping }));
      expect(list.status, escaping).toBe(400);
      expect(list.text).not.toContain('herm.sqlite');
    }
    expect((await rawRequest('GET', filesUrl(id, '/content', { path: 'loop-a' }))).status).toBe(404);
    expect((await rawRequest('GET', filesUrl(id, '/content', { path: 'pipe' }))).status).toBe(400);

    // Writes through an escaping directory link are refused and create nothing on the host.
    for (const target of ['data-link/planted.txt', 'etc-link/planted.txt', 'data-link/workspaces/new/planted.txt']) {
      const write = await rawRequest('PUT', filesUrl(id, '', { path: target }), { body: 'planted' });
      expect(write.status, target).toBe(400);
    }
    expect(fs.existsSync(path.join(herm.dataDir, 'planted.txt'))).toBe(false);
    expect(fs.existsSync(path.join(herm.dataDir, 'workspaces', 'new'))).toBe(false);
    // Writing over a link replaces the link itself; its target is untouched.
    await sdk.files.write(id, { path: 'secret-link', content: 'replaced' });
    expect(fs.lstatSync(path.join(workspaceOf(id), 'secret-link')).isSymbolicLink()).toBe(false);
    expect(fs.readFileSync(secretPath, 'utf8')).toBe('TOP-SECRET');

    // Deleting through an escaping link is refused; deleting the link removes only the link.
    expect((await rawRequest('DELETE', filesUrl(id, '', { path: 'data-link/server-secret.txt' }))).status).toBe(400);
    expect((await rawRequest('DELETE', filesUrl(id, '', { path: 'data-link/herm.sqlite' }))).status).toBe(400);
    expect(await sdk.files.delete(id, { path: 'data-link' })).toEqual({ path: 'data-link', deleted: true });
    expect(await sdk.files.delete(id, { path: 'etc-link' })).toEqual({ path: 'etc-link', deleted: true });
    expect(fs.readFileSync(secretPath, 'utf8')).toBe('TOP-SECRET');
    expect(fs.existsSync(path.join(herm.dataDir, 'herm.sqlite'))).toBe(true);
    expect(fs.existsSync(workspaceOf(id))).toBe(true);
    // A recursive delete of a directory holding links does not follow them.
    fs.symlinkSync(herm.dataDir, path.join(workspaceOf(id), 'real', 'data-link'));
    await sdk.files.delete(id, { path: 'real' });
    expect(fs.readFileSync(secretPath, 'utf8')).toBe('TOP-SECRET');
    expect(fs.existsSync(path.join(herm.dataDir, 'herm.sqlite'))).toBe(true);
  });

  it('stays inside the workspace while a path flips between a real file and an escaping symlink', async () => {
    const { deployment_id: id } = await herm.createDeployment();
    const workspace = workspaceOf(id);
    const secretPath = path.join(herm.dataDir, 'race-secret.txt');
    fs.writeFileSync(secretPath, 'TOP-SECRET');
    fs.mkdirSync(path.join(workspace, 'real-dir'));
    fs.writeFileSync(path.join(workspace, 'safe.txt'), 'safe');

    // Host-side flipping of `flip` (file ↔ link to the secret) and `flip-dir` (directory ↔ link to the data
    // directory), as fast as the event loop allows, while the API reads and writes through them.
    const flip = (round: number): void => {
      const staging = path.join(workspace, `.staging-${round % 2}`);
      fs.rmSync(staging, { force: true, recursive: true });
      if (round % 2 === 0) fs.symlinkSync(secretPath, staging);
      else fs.copyFileSync(path.join(workspace, 'safe.txt'), staging);
      fs.renameSync(staging, path.join(workspace, 'flip'));
      const stagingDir = path.join(workspace, `.staging-dir-${round % 2}`);
      fs.rmSync(stagingDir, { force: true, recursive: true });
      if (round % 2 === 0) fs.symlinkSync(herm.dataDir, stagingDir);
      else fs.mkdirSync(stagingDir);
      fs.rmSync(path.join(workspace, 'flip-dir'), { force: true, recursive: true });
      fs.renameSync(stagingDir, path.join(workspace, 'flip-dir'));
    };
    let flipping = true;
    const flipper = (async () => {
      for (let round = 0; flipping; round++) {
        try {
          flip(round);
        } catch {
          // The API's writes create `flip-dir` and files in it meanwhile; the next round flips again.
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    try {
      for (let attempt = 0; attempt < 40; attempt++) {
        const [read, written] = await Promise.all([
          rawRequest('GET', filesUrl(id, '/content', { path: 'flip' })),
          rawRequest('PUT', filesUrl(id, '', { path: `flip-dir/planted-${attempt}.txt` }), { body: 'planted' }),
        ]);
        expect(read.text).not.toContain('TOP-SECRET');
        // Whatever the interleaving: the file's own content, or a clean refusal (403 when the sandbox user may not
        // touch what the host swapped in); never a 5xx.
        if (read.status === 200) expect(read.text).toBe('safe');
        else expect([400, 403, 404, 409], read.text).toContain(read.status);
        expect([200, 400, 403, 404, 409], written.text).toContain(written.status);
      }
    } finally {
      flipping = false;
      await flipper;
    }
    expect(fs.readFileSync(secretPath, 'utf8')).toBe('TOP-SECRET');
    expect(fs.readdirSync(herm.dataDir).filter((name) => name.startsWith('planted'))).toEqual([]);
  });
});

describe('the agent and the API share the workspace', () => {
  it('reads with read_file what the API uploaded, and the API reads what the agent wrote with write_file', async () => {
    const { deployment_id: id } = await herm.createDeployment();
    await sdk.files.write(id, { path: 'briefs/q3-brief.md', content: '# Q3 brief\nAudience: runners.\n' });
    await runAgent(
      id,
      { toolCalls: [{ name: 'read_file', arguments: { path: 'briefs/q3-brief.md' } }] },
      { toolCalls: [{ name: 'write_file', arguments: { path: 'storyboard.md', content: '# Storyboard\n1. A runner at dawn.\n' } }] },
      { text: 'Saved storyboard.md.' },
    );
    const toolResults = lastToolResults();
    expect(toolResults[0]).toContain('Audience: runners.');
    expect(toolResults[1]).toContain('storyboard.md');

    const storyboard = await sdk.files.read(id, { path: 'storyboard.md' });
    expect(await storyboard.text()).toBe('# Storyboard\n1. A runner at dawn.\n');
    const { entries } = await sdk.files.list(id);
    expect(entries.map((entry) => entry.name)).toEqual(['briefs', 'storyboard.md']);
    // The agent sees the API's deletes too.
    await sdk.files.delete(id, { path: 'briefs' });
    await runAgent(id, { toolCalls: [{ name: 'shell', arguments: { command: 'ls -A' } }] }, { text: 'Done.' });
    expect(lastToolResults()[0]).not.toContain('briefs');
  });
});

describe('access control', () => {
  async function createKey(scopes: string[], accountName?: string) {
    const accounts = herm.server.services.store.accounts;
    const accountId = accountName ? (await accounts.createAccount(accountName)).id : 'acct_default';
    return (await accounts.createKey({ accountId, scopes })).secret;
  }

  it('needs deployments:read to list and read, deployments:write to write and delete', async () => {
    const { deployment_id: id } = await herm.createDeployment();
    await sdk.files.write(id, { path: 'a.txt', content: 'a' });
    const reader = sdk.withOptions({ apiKey: await createKey(['deployments:read']) });
    const writer = sdk.withOptions({ apiKey: await createKey(['deployments:write']) });

    expect((await reader.files.list(id)).entries.map((entry) => entry.name)).toEqual(['a.txt']);
    expect(await (await reader.files.read(id, { path: 'a.txt' })).text()).toBe('a');
    const forbiddenWrite = await expectApiError(reader.files.write(id, { path: 'b.txt', content: 'b' }), 403, 'forbidden');
    expect(forbiddenWrite).toBeInstanceOf(PermissionDeniedError);
    expect(forbiddenWrite.message).toContain('deployments:write');
    await expectApiError(reader.files.delete(id, { path: 'a.txt' }), 403, 'forbidden');

    expect((await writer.files.write(id, { path: 'b.txt', content: 'b' })).size).toBe(1);
    await expectApiError(writer.files.list(id), 403, 'forbidden');
    await expectApiError(writer.files.read(id, { path: 'a.txt' }), 403, 'forbidden');
    expect(await writer.files.delete(id, { path: 'b.txt' })).toEqual({ path: 'b.txt', deleted: true });

    const anonymous = await rawRequest('GET', filesUrl(id), { key: 'herm_sk_unknown' });
    expect(anonymous.status).toBe(401);
  });

  it("hides another account's workspace behind 404", async () => {
    const { deployment_id: id } = await herm.createDeployment();
    await sdk.files.write(id, { path: 'private.txt', content: 'mine' });
    const stranger = sdk.withOptions({ apiKey: await createKey(['deployments:read', 'deployments:write'], 'Other team') });
    for (const attempt of [
      () => stranger.files.list(id),
      () => stranger.files.read(id, { path: 'private.txt' }),
      () => stranger.files.write(id, { path: 'private.txt', content: 'stolen' }),
      () => stranger.files.delete(id, { path: 'private.txt' }),
    ]) {
      const error = await expectApiError(attempt(), 404, 'not_found');
      expect(error.param).toBe('deployment_id');
    }
    expect(await (await sdk.files.read(id, { path: 'private.txt' })).text()).toBe('mine');
  });
});

it('documents the routes in the OpenAPI document', async () => {
  const document = (await herm.request('GET', '/v1/openapi.json')).body;
  const files = document.paths['/v1/deployments/{deployment_id}/files'];
  expect(Object.keys(files).sort()).toEqual(['delete', 'get', 'put']);
  expect(files.put.requestBody.content).toHaveProperty('application/octet-stream');
  expect(files.put.responses).toHaveProperty('413');
  expect(files.get.parameters.map((parameter: any) => parameter.name)).toEqual(expect.arrayContaining(['deployment_id', 'path']));
  expect(document.paths['/v1/deployments/{deployment_id}/files/content'].get.responses['200'].content).toHaveProperty('application/octet-stream');
  expect(document.components.schemas.FileList.properties.entries.items.$ref).toBe('#/components/schemas/FileEntry');
});
