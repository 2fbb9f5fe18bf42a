import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBuiltinTools } from '../../src/runtime/tools/builtin-tools.ts';
import { bubblewrapUnavailable, createToolHarness, type ToolHarness } from './tool-test-support.ts';

function numbered(from: number, to: number, line = (n: number) => `line ${n}`): string {
  let text = '';
  for (let n = from; n <= to; n++) text += `${String(n).padStart(6)}\t${line(n)}\n`;
  return text;
}

describe.skipIf(bubblewrapUnavailable !== null)('read_file tool', () => {
  const { read_file } = createBuiltinTools({ defaultReadLineLimit: 50, largeOutputThreshold: 2_000, previewCharacters: 500, maxReadLineLength: 100 });
  let harness: ToolHarness;

  beforeAll(async () => {
    harness = await createToolHarness();
    const lines = Array.from({ length: 120 }, (_, index) => `line ${index + 1}`).join('\n');
    await writeFile(join(harness.workspaceDir, 'lines.txt'), `${lines}\n`);
    await writeFile(join(harness.workspaceDir, 'short.txt'), 'first\n\tindented wörd\nno newline at end');
    await writeFile(join(harness.workspaceDir, 'empty.txt'), '');
    await writeFile(join(harness.workspaceDir, 'image.bin'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 1]));
    await writeFile(join(harness.workspaceDir, 'long-line.txt'), `${'x'.repeat(500)}\nafter\n`);
    await mkdir(join(harness.workspaceDir, 'folder'));
  });

  afterAll(async () => {
    await harness.cleanup();
  });

  it('returns the file numbered like cat -n', async () => {
    const output = await read_file.execute({ path: 'short.txt' }, harness.context());
    expect(output).toEqual({ isError: false, result: '     1\tfirst\n     2\t\tindented wörd\n     3\tno newline at end\n' });
  });

  it('reads a window with offset and limit, and says where to continue', async () => {
    const output = await read_file.execute({ path: '/workspace/lines.txt', offset: 10, limit: 3 }, harness.context());
    expect(output.isError).toBe(false);
    expect(output.result).toBe(
      `${numbered(10, 12)}\n[Showing lines 10–12 of /workspace/lines.txt. More lines follow: call read_file with offset 13 to continue.]`,
    );
    const tail = await read_file.execute({ path: 'lines.txt', offset: 118, limit: 10 }, harness.context());
    expect(tail.result).toBe(numbered(118, 120));
  });

  it('returns the default number of lines when no limit is given', async () => {
    const output = await read_file.execute({ path: 'lines.txt' }, harness.context());
    expect(String(output.result).startsWith(numbered(1, 50))).toBe(true);
    expect(String(output.result)).toContain('call read_file with offset 51');
  });

  it('stops at whole lines before the character budget', async () => {
    const { read_file: small } = createBuiltinTools({ largeOutputThreshold: 200, previewCharacters: 100 });
    const output = await small.execute({ path: 'lines.txt' }, harness.context());
    const text = String(output.result);
    const body = text.slice(0, text.indexOf('\n['));
    expect(body.length).toBeLessThanOrEqual(200);
    // Lines 1–9 take 14 characters with their prefix and newline, lines 10–13 take 15: 186 in all.
    expect(body).toBe(numbered(1, 13));
    expect(text).toContain('offset 14');
  });

  it("keeps whole lines when the sandbox's output cap is the tighter limit", async () => {
    const tight = await createToolHarness({ timeoutMs: 10_000, maxOutputBytes: 100 });
    try {
      await writeFile(join(tight.workspaceDir, 'lines.txt'), Array.from({ length: 50 }, (_, index) => `line ${index + 1}\n`).join(''));
      const output = await read_file.execute({ path: 'lines.txt' }, tight.context());
      // 100 bytes hold lines 1–7 (14 bytes each) and part of line 8, which is dropped.
      expect(output).toEqual({
        isError: false,
        result: `${numbered(1, 7)}\n[Showing lines 1–7 of /workspace/lines.txt. More lines follow: call read_file with offset 8 to continue.]`,
      });
    } finally {
      await tight.cleanup();
    }
  });

  it('cuts overlong lines', async () => {
    const output = await read_file.execute({ path: 'long-line.txt' }, harness.context());
    expect(output.result).toBe(`     1\t${'x'.repeat(100)} [… line cut at 100 characters]\n     2\tafter\n`);
  });

  it('reports empty files, and offsets past the end as errors', async () => {
    expect(await read_file.execute({ path: 'empty.txt' }, harness.context())).toEqual({ isError: false, result: '/workspace/empty.txt is empty.' });
    const past = await read_file.execute({ path: 'lines.txt', offset: 500 }, harness.context());
    expect(past).toEqual({ isError: true, result: 'offset 500 is past the end of /workspace/lines.txt, which has 120 lines.' });
  });

  it('fails clearly for missing files, directories and binary files', async () => {
    expect(await read_file.execute({ path: 'missing.txt' }, harness.context())).toEqual({
      isError: true,
      result: '/workspace/missing.txt does not exist',
    });
    const folder = await read_file.execute({ path: 'folder' }, harness.context());
    expect(folder.isError).toBe(true);
    expect(folder.result).toMatch(/^\/workspace\/folder is a directory/);
    const binary = await read_file.execute({ path: 'image.bin' }, harness.context());
    expect(binary.isError).toBe(true);
    expect(binary.result).toMatch(/binary/);
  });

  it('refuses paths outside the workspace before running anything', async () => {
    for (const path of ['/etc/passwd', '../secret', '/workspace/../etc/shadow', '/proc/self/environ']) {
      const before = harness.execCalls.length;
      const output = await read_file.execute({ path }, harness.context());
      expect(output.isError, path).toBe(true);
      expect(String(output.result)).toContain(JSON.stringify(path));
      expect(harness.execCalls.length, path).toBe(before);
    }
  });

  it('reveals nothing through symlinks to host files', async () => {
    await symlink('/etc/shadow', join(harness.workspaceDir, 'shadow-link'));
    await symlink(join(import.meta.dirname, 'read-file.test.ts'), join(harness.workspaceDir, 'source-link'));
    for (const path of ['shadow-link', 'source-link']) {
      const output = await read_file.execute({ path }, harness.context());
      expect(output, path).toEqual({ isError: true, result: `/workspace/${path} does not exist` });
    }
  });
});
