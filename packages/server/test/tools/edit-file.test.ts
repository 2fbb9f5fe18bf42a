import { readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBuiltinTools } from '../../src/runtime/tools/builtin-tools.ts';
import { makeTemporaryDirectory, removeDirectory } from '../sandbox/bubblewrap-test-support.ts';
import { bubblewrapUnavailable, createToolHarness, type ToolHarness } from './tool-test-support.ts';

describe.skipIf(bubblewrapUnavailable !== null)('edit_file tool', () => {
  const { edit_file } = createBuiltinTools();
  let harness: ToolHarness;
  const file = (name: string) => join(harness.workspaceDir, name);

  beforeAll(async () => {
    harness = await createToolHarness();
  });

  afterAll(async () => {
    await harness.cleanup();
  });

  it('replaces a unique occurrence and reports one replacement', async () => {
    await writeFile(file('app.ts'), 'const a = 1;\nconst b = 2;\n', { mode: 0o640 });
    const output = await edit_file.execute({ path: 'app.ts', old_string: 'const b = 2;', new_string: 'const b = 3;' }, harness.context());
    expect(output).toEqual({ isError: false, result: { path: '/workspace/app.ts', replacements: 1 } });
    expect(await readFile(file('app.ts'), 'utf8')).toBe('const a = 1;\nconst b = 3;\n');
    // Written in place: the file keeps its mode.
    expect((await stat(file('app.ts'))).mode & 0o777).toBe(0o640);
  });

  it('refuses an ambiguous edit without replace_all, and changes nothing', async () => {
    await writeFile(file('dup.txt'), 'foo bar foo baz foo\n');
    const output = await edit_file.execute({ path: 'dup.txt', old_string: 'foo', new_string: 'qux' }, harness.context());
    expect(output.isError).toBe(true);
    expect(output.result).toMatch(/occurs 3 times in \/workspace\/dup.txt.*replace_all/);
    expect(await readFile(file('dup.txt'), 'utf8')).toBe('foo bar foo baz foo\n');
  });

  it('replaces every occurrence with replace_all and counts them', async () => {
    await writeFile(file('all.txt'), 'foo bar foo baz foo\n');
    const output = await edit_file.execute({ path: 'all.txt', old_string: 'foo', new_string: 'qux', replace_all: true }, harness.context());
    expect(output).toEqual({ isError: false, result: { path: '/workspace/all.txt', replacements: 3 } });
    expect(await readFile(file('all.txt'), 'utf8')).toBe('qux bar qux baz qux\n');
  });

  it('fails clearly when old_string is not there', async () => {
    await writeFile(file('miss.txt'), 'hello\n');
    const output = await edit_file.execute({ path: 'miss.txt', old_string: 'goodbye', new_string: 'x' }, harness.context());
    expect(output.isError).toBe(true);
    expect(output.result).toMatch(/old_string was not found in \/workspace\/miss.txt/);
  });

  it('inserts new_string literally, multi-line and with $-patterns, and keeps non-ASCII intact', async () => {
    await writeFile(file('literal.txt'), 'naïve → café\nTOKEN\nend\n');
    const replacement = "$& $1 $$ $' \\n\nsecond line";
    await edit_file.execute({ path: 'literal.txt', old_string: 'TOKEN', new_string: replacement }, harness.context());
    expect(await readFile(file('literal.txt'), 'utf8')).toBe(`naïve → café\n${replacement}\nend\n`);
    await edit_file.execute({ path: 'literal.txt', old_string: `${replacement}\n`, new_string: '' }, harness.context());
    expect(await readFile(file('literal.txt'), 'utf8')).toBe('naïve → café\nend\n');
  });

  it('refuses files that are missing, not UTF-8, or edits that change nothing', async () => {
    expect(await edit_file.execute({ path: 'nope.txt', old_string: 'a', new_string: 'b' }, harness.context())).toEqual({
      isError: true,
      result: '/workspace/nope.txt does not exist',
    });
    await writeFile(file('latin1.txt'), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]));
    const latin1 = await edit_file.execute({ path: 'latin1.txt', old_string: 'caf', new_string: 'x' }, harness.context());
    expect(latin1).toEqual({ isError: true, result: '/workspace/latin1.txt is not UTF-8 text; change it with the shell tool instead' });
    expect(await readFile(file('latin1.txt'))).toEqual(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]));
    const same = await edit_file.execute({ path: 'latin1.txt', old_string: 'a', new_string: 'a' }, harness.context());
    expect(same.isError).toBe(true);
  });

  it('refuses paths outside the workspace before running anything', async () => {
    for (const path of ['/etc/hosts', '../../etc/passwd']) {
      const before = harness.execCalls.length;
      const output = await edit_file.execute({ path, old_string: 'a', new_string: 'b' }, harness.context());
      expect(output.isError).toBe(true);
      expect(String(output.result)).toContain(JSON.stringify(path));
      expect(harness.execCalls.length).toBe(before);
    }
  });

  it('cannot edit a host file through a symlink', async () => {
    const outside = await makeTemporaryDirectory('edit-outside');
    try {
      await writeFile(join(outside, 'config.txt'), 'admin=false\n');
      await symlink(join(outside, 'config.txt'), file('config-link'));
      const output = await edit_file.execute({ path: 'config-link', old_string: 'false', new_string: 'true' }, harness.context());
      expect(output).toEqual({ isError: true, result: '/workspace/config-link does not exist' });
      expect(await readFile(join(outside, 'config.txt'), 'utf8')).toBe('admin=false\n');
    } finally {
      await removeDirectory(outside);
    }
  });
});
