// Turns a path a Files API client sent into its place under /workspace, or refuses it. Purely lexical, with
// the same rules as the agent's file tools; symlinks are resolved later, inside the sandbox.
import { posix } from 'node:path';
import { resolveWorkspacePath } from '../runtime/tools/workspace-path.ts';
import { WORKSPACE_PATH } from '../sandbox/sandbox.ts';
import { WorkspaceFileError } from './workspace-file-error.ts';
import { UPLOAD_DIRECTORY } from './upload-temporaries.ts';

/** PATH_MAX on Linux: no longer path can name a file. */
export const MAX_PATH_LENGTH = 4096;

export interface WorkspaceFilePath {
  /** Inside the sandbox: `/workspace/briefs/q3.md`, or `/workspace` for the root. */
  absolute: string;
  /** Relative to the workspace root, normalized, without a leading or trailing slash; `''` for the root. */
  relative: string;
}

/** `requested` may be relative to the workspace or absolute under /workspace; `''` means the root. */
export function parseWorkspaceFilePath(requested: string): WorkspaceFilePath {
  if (requested.length > MAX_PATH_LENGTH) {
    throw new WorkspaceFileError('invalid_path', `path is longer than ${MAX_PATH_LENGTH} characters.`);
  }
  const resolved = resolveWorkspacePath(requested === '' ? '.' : requested);
  if (!resolved.ok) {
    const reason = requested.includes('\0')
      ? 'must not contain a NUL character'
      : requested.trim() === ''
        ? 'is blank'
        : `must stay inside the workspace: use a path relative to it, like "briefs/q3-brief.md", or one under ${WORKSPACE_PATH}/`;
    throw new WorkspaceFileError('invalid_path', `Invalid path ${JSON.stringify(requested)}: it ${reason}.`);
  }
  const relative = posix.relative(WORKSPACE_PATH, resolved.path);
  if (relative === UPLOAD_DIRECTORY || relative.startsWith(`${UPLOAD_DIRECTORY}/`)) {
    throw new WorkspaceFileError(
      'invalid_path',
      `Invalid path ${JSON.stringify(requested)}: ${UPLOAD_DIRECTORY} is where the server keeps uploads while they are written, and is not part of the Files API.`,
    );
  }
  return { absolute: resolved.path, relative };
}

/** Like parseWorkspaceFilePath, but refuses the workspace root itself (`operation` names what was attempted). */
export function parseWorkspaceEntryPath(requested: string, operation: string): WorkspaceFilePath {
  const path = parseWorkspaceFilePath(requested);
  if (path.relative === '') {
    throw new WorkspaceFileError('invalid_path', `Invalid path ${JSON.stringify(requested)}: cannot ${operation} the workspace root.`);
  }
  return path;
}
