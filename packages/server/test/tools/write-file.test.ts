import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBuiltinTools } from '../../src/runtime/tools/builtin-tools.ts';
import { makeTemporaryDirectory, removeDirectory } from '../sandbox/bubblewrap-test-support.ts';
import { bubblewrapUnavailable, createToolHarness, type ToolHarness } from './tool-test-support.ts';

describe.skipIf(bubblewrapUnavailable !== null)('write_file tool', () => {
  const { write_file } = createBuiltinTools();
  let harness: ToolHarness;

  beforeAll(async () => {
    harness = await createToolHarness();
  });

  afterAll(async () => {
    await harness.cleanup();
  });

  it('creates parent directories and returns the bytes written', async () => {
    const content = 'héllo wörld 😀\nsecond line\n';
    const output = await write_file.execute({ path: 'deep/er/note.md', content }, harness.context());
    expect(output).toEqual({
      isError: false,
      result: { path: '/workspace/deep/er/note.md', bytes_written: Buffer.byteLength(content) },
    });
    expect(await readFile(join(harness.workspaceDir, 'deep/er/note.md'), 'utf8')).toBe(content);
  });

  it('replaces an existing file completely, and writes empty files', async () => {
    await write_file.execute({ path: '/workspace/replace.txt', content: 'a much longer first version\n' }, harness.context());
    await write_file.execute({ path: '/workspace/replace.txt', content: 'short\n' }, harness.context());
    expect(await readFile(join(harness.workspaceDir, 'replace.txt'), 'utf8')).toBe('short\n');
    expect((await write_file.execute({ path: 'empty.txt', content: '' }, harness.context())).result).toMatchObject({ bytes_written: 0 });
    expect(await readFile(join(harness.workspaceDir, 'empty.txt'), 'utf8')).toBe('');
  });

  it('refuses paths outside the workspace before running anything', async () => {
    for (const path of ['/etc/passwd', '../escape.txt', '/workspace/../tmp/x', '/root/.bashrc']) {
      const before = harness.execCalls.length;
      const output = await write_file.execute({ path, content: 'x' }, harness.context());
      expect(output.isError, path).toBe(true);
      expect(String(output.result)).toContain(JSON.stringify(path));
      expect(harness.execCalls.length, path).toBe(before);
    }
  });

  it('cannot write through a symlink to a host file', async () => {
    const outside = await makeTemporaryDirectory('outside');
    try {
      const target = join(outside, 'victim.txt');
      await writeFile(target, 'original');
      await symlink(target, join(harness.workspaceDir, 'to-host-file'));
      await symlink('/etc/passwd', join(harness.workspaceDir, 'to-etc-passwd'));
      await symlink(outside, join(harness.workspaceDir, 'to-host-dir'));
      await write_file.execute({ path: 'to-host-file', content: 'overwritten' }, harness.context());
      await write_file.execute({ path: 'to-host-dir/new.txt', content: 'planted' }, harness.context());
      const passwd = await write_file.execute({ path: 'to-etc-passwd', content: 'root::0:0::/:/bin/sh\n' }, harness.context());
      expect(passwd.isError).toBe(true);
      expect(String(passwd.result)).toContain('Read-only file system');
      expect(await readFile(target, 'utf8')).toBe('original');
      expect(await readFile('/etc/passwd', 'utf8')).not.toContain('root::0:0::/:/bin/sh');
      await expect(readFile(join(outside, 'new.txt'))).rejects.toThrow(/ENOENT/);
    } finally {
      await removeDirectory(outside);
    }
  });

  it('reports a failure to write, e.g. onto a directory', async () => {
    await mkdir(join(harness.workspaceDir, 'a-directory'));
    const output = await write_file.execute({ path: 'a-directory', content: 'x' }, harness.context());
    expect(output.isError).toBe(true);
    expect(String(output.result)).toMatch(/\/workspace\/a-directory.*Is a directory/);
  });
});
