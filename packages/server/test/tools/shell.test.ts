import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBuiltinTools } from '../../src/runtime/tools/builtin-tools.ts';
import type { ShellResult } from '../../src/runtime/tools/shell.ts';
import { bubblewrapUnavailable, createToolHarness, type ToolHarness } from './tool-test-support.ts';

describe.skipIf(bubblewrapUnavailable !== null)('shell tool', () => {
  const { shell } = createBuiltinTools({ largeOutputThreshold: 1_000, previewCharacters: 200, maxShellTimeoutSeconds: 60 });
  let harness: ToolHarness;

  beforeAll(async () => {
    harness = await createToolHarness();
  });

  afterAll(async () => {
    await harness.cleanup();
  });

  it('returns exit code, stdout and stderr of a bash command run in /workspace', async () => {
    const output = await shell.execute({ command: 'echo "$PWD"; [[ -n "$BASH_VERSION" ]] && echo bash; echo oops >&2' }, harness.context());
    expect(output).toEqual({
      isError: false,
      result: { exit_code: 0, stdout: '/workspace\nbash\n', stderr: 'oops\n', timed_out: false },
    });
  });

  it('treats a non-zero exit as a normal result', async () => {
    const output = await shell.execute({ command: 'ls /no/such/dir' }, harness.context());
    expect(output.isError).toBe(false);
    const result = output.result as ShellResult;
    expect(result.exit_code).toBe(2);
    expect(result.stderr).toContain('No such file or directory');
  });

  it('passes the command text through untouched: quotes, $ and backslashes', async () => {
    const output = await shell.execute({ command: `printf '%s|' "a b" '$HOME' "\\\\n"; echo` }, harness.context());
    expect((output.result as ShellResult).stdout).toBe('a b|$HOME|\\n|\n');
  });

  it('reports a timeout as an error, promptly', async () => {
    const started = performance.now();
    const output = await shell.execute({ command: 'echo before; sleep 20', timeout: 0.5 }, harness.context());
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(output.isError).toBe(true);
    expect(output.result).toMatchObject({ timed_out: true, exit_code: null, stdout: 'before\n' });
  });

  it('saves very large output in the workspace and previews its head and tail', async () => {
    const output = await shell.execute({ command: 'seq 1 5000; echo short-error >&2' }, harness.context('call_big/../1'));
    const result = output.result as ShellResult;
    expect(output.isError).toBe(false);
    expect(result.stdout_file).toBe('/workspace/.herm/tool-output/call_big____1.txt');
    expect(result.stderr).toBe('short-error\n');
    expect(result.stderr_file).toBeUndefined();
    expect(result.stdout.startsWith('1\n2\n3\n')).toBe(true);
    expect(result.stdout.endsWith('4999\n5000\n')).toBe(true);
    expect(result.stdout).toContain('characters omitted');
    expect(result.stdout).toContain(result.stdout_file);
    expect(result.stdout.length).toBeLessThan(600);
    const saved = await readFile(join(harness.workspaceDir, '.herm/tool-output/call_big____1.txt'), 'utf8');
    expect(saved).toBe(Array.from({ length: 5000 }, (_, index) => `${index + 1}\n`).join(''));
  });

  it('rejects timeouts beyond the configured maximum at the schema', () => {
    expect(shell.inputSchema.safeParse({ command: 'true', timeout: 61 }).success).toBe(false);
    expect(shell.inputSchema.safeParse({ command: 'true', timeout: -1 }).success).toBe(false);
    expect(shell.inputSchema.safeParse({ command: 'true', timeout: 1.5 }).success).toBe(true);
    expect(shell.inputSchema.safeParse({ command: '' }).success).toBe(false);
  });

  it('stops when the run is cancelled', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const started = performance.now();
    await expect(
      shell.execute({ command: 'sleep 20' }, { ...harness.context(), signal: controller.signal }),
    ).rejects.toMatchObject({ name: 'AbortError' });
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
