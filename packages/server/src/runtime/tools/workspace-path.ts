// Turns a path the model wrote into an absolute path under /workspace, or refuses it. Purely
// lexical: symlinks are followed later inside the sandbox, where nothing of the host is visible.
import { posix } from 'node:path';
import { WORKSPACE_PATH } from '../../sandbox/sandbox.ts';

export type WorkspacePathResult = { ok: true; path: string } | { ok: false; message: string };

export function resolveWorkspacePath(requested: string): WorkspacePathResult {
  if (requested.trim() === '') return { ok: false, message: 'path is empty' };
  if (requested.includes('\0')) return { ok: false, message: `path ${JSON.stringify(requested)} contains a NUL character` };
  // HOME is /workspace inside the sandbox, so "~/notes.md" means what the model expects.
  const expanded = requested === '~' ? WORKSPACE_PATH : requested.replace(/^~\//, `${WORKSPACE_PATH}/`);
  const resolved = posix.resolve(WORKSPACE_PATH, expanded);
  if (resolved !== WORKSPACE_PATH && !resolved.startsWith(`${WORKSPACE_PATH}/`)) {
    return {
      ok: false,
      message: `path ${JSON.stringify(requested)} is outside the workspace: file tools only reach ${WORKSPACE_PATH} (use a relative path or one under ${WORKSPACE_PATH}/)`,
    };
  }
  return { ok: true, path: resolved };
}

/**
 * Like resolveWorkspacePath, for reading only: a path under one of `readOnlyRoots` (the sandbox's read-only mounts,
 * such as /skills) is accepted too. Writing tools keep using resolveWorkspacePath, so those stay unwritable.
 */
export function resolveReadablePath(requested: string, readOnlyRoots: readonly string[]): WorkspacePathResult {
  if (requested.trim() !== '' && !requested.includes('\0') && posix.isAbsolute(requested)) {
    const resolved = posix.resolve(requested);
    for (const root of readOnlyRoots) {
      if (resolved === root || resolved.startsWith(`${root}/`)) return { ok: true, path: resolved };
    }
  }
  const workspace = resolveWorkspacePath(requested);
  if (workspace.ok || readOnlyRoots.length === 0) return workspace;
  return { ok: false, message: `${workspace.message}; read-only, it also reads under ${readOnlyRoots.join(', ')}` };
}
