import { describe, expect, it } from 'vitest';
import { resolveWorkspacePath } from '../../src/runtime/tools/workspace-path.ts';

describe('resolveWorkspacePath', () => {
  it('takes relative paths from /workspace and keeps absolute ones under it', () => {
    expect(resolveWorkspacePath('notes.md')).toEqual({ ok: true, path: '/workspace/notes.md' });
    expect(resolveWorkspacePath('./src/../docs/a.md')).toEqual({ ok: true, path: '/workspace/docs/a.md' });
    expect(resolveWorkspacePath('/workspace/src/index.ts')).toEqual({ ok: true, path: '/workspace/src/index.ts' });
    expect(resolveWorkspacePath('~/todo.txt')).toEqual({ ok: true, path: '/workspace/todo.txt' });
    expect(resolveWorkspacePath('/workspace')).toEqual({ ok: true, path: '/workspace' });
  });

  it('refuses anything that resolves outside the workspace, naming the path', () => {
    for (const path of ['/etc/passwd', '../x', '/workspace/../etc/shadow', 'a/../../x', '/workspace-other/x', '/', '~root/x/../../../etc']) {
      const result = resolveWorkspacePath(path);
      expect(result.ok, path).toBe(false);
      if (!result.ok) expect(result.message).toContain(JSON.stringify(path));
    }
  });

  it('refuses empty paths and NUL characters', () => {
    expect(resolveWorkspacePath('').ok).toBe(false);
    expect(resolveWorkspacePath('a\0b').ok).toBe(false);
  });
});
