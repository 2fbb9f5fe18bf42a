// read_file's paths: the workspace, and the sandbox's read-only mounts (the skills at /skills); `..` cannot leave them.
import { describe, expect, it } from 'vitest';
import { resolveReadablePath, resolveWorkspacePath } from '../../src/runtime/tools/workspace-path.ts';

describe('resolveReadablePath', () => {
  it('reads under /workspace and under the read-only roots, nowhere else', () => {
    expect(resolveReadablePath('notes.md', ['/skills'])).toEqual({ ok: true, path: '/workspace/notes.md' });
    expect(resolveReadablePath('/skills/storyboarding/SKILL.md', ['/skills'])).toEqual({ ok: true, path: '/skills/storyboarding/SKILL.md' });
    expect(resolveReadablePath('/skills/a/../b/SKILL.md', ['/skills'])).toEqual({ ok: true, path: '/skills/b/SKILL.md' });
    for (const path of ['/skills/../etc/passwd', '/skillsx/SKILL.md', '/etc/passwd', '/skills\0/x']) {
      const result = resolveReadablePath(path, ['/skills']);
      expect(result.ok, path).toBe(false);
    }
    expect(resolveReadablePath('/etc/passwd', ['/skills'])).toMatchObject({ ok: false, message: expect.stringContaining('/skills') });
    expect(resolveReadablePath('/skills/x/SKILL.md', [])).toMatchObject({ ok: false });
  });

  it('leaves the writing tools to the workspace alone', () => {
    expect(resolveWorkspacePath('/skills/storyboarding/SKILL.md')).toMatchObject({ ok: false });
  });
});
