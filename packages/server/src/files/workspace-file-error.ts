// Why a Files API operation on a workspace failed; the API layer turns each reason into a status and code.

export type WorkspaceFileErrorReason =
  /** Empty, NUL, `..` above the root, absolute outside /workspace, or the root where a file is needed. */
  | 'invalid_path'
  /** The path leads out of the workspace through a symlink. */
  | 'outside_workspace'
  | 'not_found'
  /** A directory where a file is needed. */
  | 'is_a_directory'
  /** A file where a directory is needed (listing a file, or a file as a parent). */
  | 'not_a_directory'
  /** A FIFO, socket or device: nothing the API reads. */
  | 'not_a_regular_file'
  /** Permissions in the workspace deny the operation. */
  | 'permission_denied'
  | 'too_large'
  /** The file kept changing while it was read in chunks. */
  | 'changed';

export class WorkspaceFileError extends Error {
  readonly reason: WorkspaceFileErrorReason;

  constructor(reason: WorkspaceFileErrorReason, message: string) {
    super(message);
    this.name = 'WorkspaceFileError';
    this.reason = reason;
  }
}
