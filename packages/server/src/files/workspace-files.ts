// The Files API's access to a deployment's workspace. Every operation runs as a command in the
// deployment's sandbox, like the agent's own file tools: the server never opens a workspace path itself.
//
// Why: the agent can plant symlinks (`ln -s /etc/shadow x`, or one into the server's data directory), and
// Node has no openat2(RESOLVE_BENEATH); checking each component with lstat and then opening the path would
// race with the agent swapping a directory for a symlink in between. Inside the sandbox the kernel resolves
// paths in a mount namespace that holds only /workspace, read-only system directories and a private /tmp,
// so whatever a symlink points at, nothing of the host's data or other deployments can be reached.
//
// On top of that the commands refuse paths that resolve outside /workspace (into /usr, say), and they
// decide that on what was actually opened — an open descriptor (/proc/self/fd) or a directory the shell
// has entered (`cd -P` then `pwd -P`) — not on a name that could change afterwards. Paths always travel
// as positional parameters ($1, $2), never inside the command text.
//
// The commands use GNU coreutils and findutils (realpath -m, find -printf, base64 -w 0, mv -T), which the
// bubblewrap sandbox gets from the host and scripts/build-sandbox-image.sh copies into the docker image.
import type { Logger } from 'pino';
import type { ExecResult, Sandbox } from '../sandbox/sandbox.ts';
import type { DeploymentRecord } from '../store/deployments.ts';
import { toIso } from '../util/time.ts';
import type { WorkspaceChange, WorkspaceChangeTracker } from './workspace-changes.ts';
import { WorkspaceFileError } from './workspace-file-error.ts';
import { parseWorkspaceEntryPath, parseWorkspaceFilePath, type WorkspaceFilePath } from './workspace-file-path.ts';
import { UPLOAD_DIRECTORY, UPLOAD_STALE_MINUTES, UPLOAD_TEMPORARY_PREFIX } from './upload-temporaries.ts';

export interface FileEntry {
  name: string;
  type: 'file' | 'directory';
  /** Bytes; files only. */
  size?: number;
  modified_at: string;
}

export interface DirectoryListing {
  /** The directory, relative to the workspace root with a trailing slash; `''` for the root. */
  path: string;
  entries: FileEntry[];
}

export interface FileContent {
  /** Relative to the workspace root. */
  path: string;
  bytes: Buffer;
  /** Epoch milliseconds, whole seconds. */
  modifiedAt: number;
}

export interface WrittenFile {
  path: string;
  size: number;
  modified_at: string;
}

/** The workspace a file operation works on: the deployment's, or for one without a persistent workspace, a thread's. */
export interface FilesWorkspace {
  deployment: DeploymentRecord;
  /** Picks the session workspace of a deployment with `sandbox.persistent_filesystem: false`. */
  threadId?: string | undefined;
}

export interface WorkspaceFilesOptions {
  /**
   * Opens the sandbox of the workspace (its deployment's backend) for file operations. No network and no
   * connector secrets are needed: these commands only move bytes.
   */
  openSandbox: (workspace: FilesWorkspace) => Sandbox;
  /** Largest file uploaded or read, in bytes. */
  maxFileBytes: number;
  /** Bytes of stdout the sandbox keeps per command (HERM_MAX_OUTPUT_BYTES): reads are cut into chunks that fit. */
  maxOutputBytes: number;
  logger?: Pick<Logger, 'warn'>;
  /**
   * Filesystem events of uploads and deletes, for deployments with `features.filesystem_webhooks`: `tracker` finds
   * what the command changed, `record` commits the events (through the event log, without a run) before the call returns.
   */
  changes?: {
    tracker: WorkspaceChangeTracker;
    record(workspace: FilesWorkspace, changes: readonly WorkspaceChange[]): Promise<void>;
  };
}

// Exit codes of the commands below, chosen clear of the ones shells and coreutils use themselves.
const EXIT_NOT_FOUND = 80;
const EXIT_OUTSIDE = 81;
const EXIT_IS_DIRECTORY = 82;
const EXIT_NOT_DIRECTORY = 83;
const EXIT_NOT_REGULAR = 84;
const EXIT_PERMISSION = 85;
const EXIT_CHANGED = 86;

// realpath -m resolves every symlink that exists and keeps the rest of the path as written, so a link
// to a missing target outside still counts as outside. This first check is only for a clear error; the
// checks on the descriptor or working directory further down are the ones that cannot be raced.
const PRELUDE = `inside() { case "$1" in /workspace|/workspace/*) return 0 ;; esac; return 1; }
check_resolves_inside() {
  resolved=$(realpath -m -- "$1" 2>/dev/null) || exit ${EXIT_NOT_FOUND}
  inside "$resolved" || exit ${EXIT_OUTSIDE}
}`;

const UPLOAD_PARENT = UPLOAD_DIRECTORY.slice(0, UPLOAD_DIRECTORY.lastIndexOf('/'));
const UPLOAD_DIRECTORY_NAME = UPLOAD_DIRECTORY.slice(UPLOAD_DIRECTORY.lastIndexOf('/') + 1);

// $1: the directory. Prints "<type> <size> <mtime> <name>\\0" per entry that is a file or directory.
// Symlinks are listed as what they point at, and only when that is inside the workspace. (An agent racing
// that check could at most get the size and time of a read-only system file shown: nothing of the host's
// data is visible in the sandbox to begin with.) The uploads in progress (UPLOAD_DIRECTORY) are left out.
const LIST_DIRECTORY = `${PRELUDE}
check_resolves_inside "$1"
[ -e "$1" ] || exit ${EXIT_NOT_FOUND}
[ -d "$1" ] || exit ${EXIT_NOT_DIRECTORY}
cd -P -- "$1" 2>/dev/null || exit ${EXIT_PERMISSION}
inside "$(pwd -P)" || exit ${EXIT_OUTSIDE}
[ -r . ] || exit ${EXIT_PERMISSION}
hidden=
[ "$(pwd -P)" = /workspace/${UPLOAD_PARENT} ] && hidden=${UPLOAD_DIRECTORY_NAME}
find . -mindepth 1 -maxdepth 1 ! -name "$hidden" \\( -type f -o -type d \\) -printf '%y %s %T@ %P\\0'
find . -mindepth 1 -maxdepth 1 ! -name "$hidden" -type l -exec sh -c '
for link do
  target=$(realpath -e -- "$link" 2>/dev/null) || continue
  case "$target" in /workspace|/workspace/*) ;; *) continue ;; esac
  if [ -d "$link" ]; then type=d; elif [ -f "$link" ]; then type=f; else continue; fi
  info=$(stat -L -c "%s %Y" -- "$link" 2>/dev/null) || continue
  printf "%s %s %s\\0" "$type" "$info" "\${link#./}"
done' sh {} +`;

// $1: the file, $2: byte offset, $3: byte count, $4: the identity the first chunk reported ('' for the
// first chunk). Prints "<dev>:<inode>:<size>:<mtime s>:<mtime ns>" on a line, then the chunk in base64.
const READ_CHUNK = `${PRELUDE}
check_resolves_inside "$1"
[ -e "$1" ] || exit ${EXIT_NOT_FOUND}
[ -d "$1" ] && exit ${EXIT_IS_DIRECTORY}
[ -f "$1" ] || exit ${EXIT_NOT_REGULAR}
[ -r "$1" ] || exit ${EXIT_PERMISSION}
command exec 3< "$1" 2>/dev/null || exit ${EXIT_NOT_FOUND}
inside "$(readlink /proc/self/fd/3)" || exit ${EXIT_OUTSIDE}
[ -f /proc/self/fd/3 ] || exit ${EXIT_NOT_REGULAR}
identity=$(stat -L -c '%d:%i:%s:%Y:%y' /proc/self/fd/3) || exit ${EXIT_NOT_FOUND}
[ -z "$4" ] || [ "$identity" = "$4" ] || exit ${EXIT_CHANGED}
printf '%s\\n' "$identity"
tail -c +"$(($2 + 1))" <&3 | head -c "$3" | base64 -w 0`;

// $1: the parent directory (created when missing), $2: the file name, $3: the content's size in bytes; the
// content comes on stdin. Written to a temporary file and renamed over the name, so readers never see half
// a file; a symlink at the name is replaced, not followed. Content shorter than $3 (the server died while
// sending it) is never renamed into place. Prints "<size> <mtime>".
//
// The temporary file is made in UPLOAD_DIRECTORY: inside the workspace, so on its file system (the rename
// stays atomic, and a disk quota counts the bytes), but out of the Files API's view. Only when that
// directory cannot be used as itself (the agent replaced .herm or it with a file or a symlink) does the
// temporary file go next to the target, as a hidden name. Temporary files an interrupted upload left behind
// are removed here after UPLOAD_STALE_MINUTES, and at server start (upload-temporaries.ts).
const WRITE_FILE = `${PRELUDE}
check_resolves_inside "$1"
[ -e "$1" ] || mkdir -p -- "$1" 2>/dev/null || exit ${EXIT_NOT_DIRECTORY}
cd -P -- "$1" 2>/dev/null || exit ${EXIT_NOT_DIRECTORY}
inside "$(pwd -P)" || exit ${EXIT_OUTSIDE}
if [ -d "./$2" ] && [ ! -L "./$2" ]; then exit ${EXIT_IS_DIRECTORY}; fi
[ -w . ] || exit ${EXIT_PERMISSION}
uploads=/workspace/${UPLOAD_DIRECTORY}
herm=\${uploads%/*}
[ -e "$herm" ] || [ -L "$herm" ] || made_herm=1
# The upload directory goes when empty (no other upload in progress), and .herm with it if this upload made it.
tidy() { rmdir -- "$uploads" 2>/dev/null && [ -n "$made_herm" ] && rmdir -- "$herm" 2>/dev/null; return 0; }
tmp=
trap 'rm -f -- "$tmp"; tidy' EXIT
# Three tries: another upload that just finished may remove the (then empty) directory in between.
for try in 1 2 3; do
  mkdir -p -- "$uploads" 2>/dev/null && [ "$(cd -P -- "$uploads" 2>/dev/null && pwd -P)" = "$uploads" ] || break
  find "$uploads" -mindepth 1 -maxdepth 1 -type f -name '${UPLOAD_TEMPORARY_PREFIX}*' -mmin +${UPLOAD_STALE_MINUTES} -delete 2>/dev/null
  tmp=$(mktemp "$uploads/${UPLOAD_TEMPORARY_PREFIX}XXXXXX" 2>/dev/null) && break
  tmp=
done
[ -n "$tmp" ] || tmp=$(mktemp ./${UPLOAD_TEMPORARY_PREFIX}XXXXXX 2>/dev/null) || { [ -w . ] && exit ${EXIT_CHANGED}; exit ${EXIT_PERMISSION}; }
# A temporary file that vanished means the directory was removed meanwhile: a change, not a server fault.
fail() { [ -e "$tmp" ] || exit ${EXIT_CHANGED}; exit "$1"; }
cat > "$tmp" || fail 1
[ "$(stat -c %s -- "$tmp")" = "$3" ] || fail 1
if [ -f "./$2" ] && [ ! -L "./$2" ]; then chmod "$(stat -c %a -- "./$2")" "$tmp"; else chmod 644 "$tmp"; fi || fail 1
if ! mv -f -T -- "$tmp" "./$2" 2>/dev/null; then
  [ -d "./$2" ] && [ ! -L "./$2" ] && exit ${EXIT_IS_DIRECTORY}
  # The temporary file or the directory (getcwd fails once it is removed) gone: a change, not a fault.
  [ -e "$tmp" ] && pwd -P >/dev/null 2>&1 || exit ${EXIT_CHANGED}
  [ -w . ] || exit ${EXIT_PERMISSION}
  exit ${EXIT_IS_DIRECTORY}
fi
trap - EXIT
tidy
stat -c '%s %Y' -- "./$2" || exit ${EXIT_CHANGED}`;

// $1: the parent directory, $2: the name. A symlink is removed itself, never what it points at; rm -r
// does not follow symlinks inside the tree either.
const DELETE_ENTRY = `${PRELUDE}
check_resolves_inside "$1"
cd -P -- "$1" 2>/dev/null || exit ${EXIT_NOT_FOUND}
inside "$(pwd -P)" || exit ${EXIT_OUTSIDE}
[ -e "./$2" ] || [ -L "./$2" ] || exit ${EXIT_NOT_FOUND}
rm -rf -- "./$2" || exit ${EXIT_PERMISSION}`;

const CHUNK_HEADER = /^(\d+):(\d+):(\d+):(\d+):/;
const LIST_RECORD = /^([fd]) (\d+) (\d+)(?:\.\d*)? ([^]*)$/;
// Attempts at reading a file that keeps changing between chunks before giving up.
const READ_ATTEMPTS = 3;

export class WorkspaceFiles {
  readonly #options: WorkspaceFilesOptions;
  /** Bytes of file per read command: its base64 form plus the header line must fit the output cap. */
  readonly #chunkBytes: number;

  constructor(options: WorkspaceFilesOptions) {
    this.#options = options;
    this.#chunkBytes = Math.max(3, Math.floor((options.maxOutputBytes - 512) / 4) * 3);
  }

  get maxFileBytes(): number {
    return this.#options.maxFileBytes;
  }

  async list(workspace: FilesWorkspace, requestedPath: string, signal?: AbortSignal): Promise<DirectoryListing> {
    const path = parseWorkspaceFilePath(requestedPath);
    const result = await this.#options.openSandbox(workspace).exec({ command: LIST_DIRECTORY, args: [path.absolute], ...(signal ? { signal } : {}) });
    if (result.exitCode !== 0) throw this.#failure(result, path, 'list');
    if (result.truncated) {
      throw new WorkspaceFileError(
        'too_large',
        `The directory ${describePath(path)} has too many entries to list in one response; list its subdirectories instead.`,
      );
    }
    const entries: FileEntry[] = [];
    for (const record of result.stdout.split('\0')) {
      const match = LIST_RECORD.exec(record);
      if (!match) continue;
      const [, type, size, mtime, name] = match as unknown as [string, 'f' | 'd', string, string, string];
      const modified_at = toIso(Number(mtime) * 1000)!;
      entries.push(type === 'f' ? { name, type: 'file', size: Number(size), modified_at } : { name, type: 'directory', modified_at });
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { path: path.relative === '' ? '' : `${path.relative}/`, entries };
  }

  async read(workspace: FilesWorkspace, requestedPath: string, signal?: AbortSignal): Promise<FileContent> {
    const path = parseWorkspaceFilePath(requestedPath);
    const sandbox = this.#options.openSandbox(workspace);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#readOnce(sandbox, path, signal);
      } catch (error) {
        if (!(error instanceof WorkspaceFileError) || error.reason !== 'changed' || attempt >= READ_ATTEMPTS) throw error;
      }
    }
  }

  /** Reads the file in chunks from one identity (device, inode, size, mtime); a change in between aborts. */
  async #readOnce(sandbox: Sandbox, path: WorkspaceFilePath, signal: AbortSignal | undefined): Promise<FileContent> {
    const chunks: Buffer[] = [];
    let identity = '';
    let size = 0;
    let modifiedAt = 0;
    let offset = 0;
    do {
      const result = await sandbox.exec({
        command: READ_CHUNK,
        args: [path.absolute, String(offset), String(this.#chunkBytes), identity],
        ...(signal ? { signal } : {}),
      });
      if (result.exitCode !== 0) throw this.#failure(result, path, 'read');
      if (result.truncated) throw new Error(`a read chunk of ${this.#chunkBytes} bytes exceeded the sandbox output limit`);
      const newline = result.stdout.indexOf('\n');
      const header = CHUNK_HEADER.exec(result.stdout.slice(0, newline));
      if (newline < 0 || !header) throw new Error(`unexpected output from the read command: ${JSON.stringify(result.stdout.slice(0, 200))}`);
      if (identity === '') {
        identity = result.stdout.slice(0, newline);
        size = Number(header[3]);
        modifiedAt = Number(header[4]) * 1000;
        if (size > this.#options.maxFileBytes) {
          throw new WorkspaceFileError(
            'too_large',
            `The file ${describePath(path)} is ${size} bytes, larger than this server's limit of ${this.#options.maxFileBytes} bytes (HERM_MAX_FILE_BYTES).`,
          );
        }
      }
      const bytes = Buffer.from(result.stdout.slice(newline + 1), 'base64');
      // Shorter than asked before the end: the file was cut while being read.
      if (bytes.length === 0 && offset < size) throw changedError(path);
      chunks.push(bytes);
      offset += bytes.length;
    } while (offset < size);
    if (offset !== size) throw changedError(path);
    return { path: path.relative, bytes: Buffer.concat(chunks, size), modifiedAt };
  }

  async write(workspace: FilesWorkspace, requestedPath: string, content: Uint8Array): Promise<WrittenFile> {
    const path = parseWorkspaceEntryPath(requestedPath, 'write to');
    if (content.byteLength > this.#options.maxFileBytes) {
      throw new WorkspaceFileError('too_large', fileTooLargeMessage(content.byteLength, this.#options.maxFileBytes));
    }
    const { parent, name } = splitPath(path);
    // No abort signal: killing the command midway would leave its temporary file behind.
    const result = await this.#changing(workspace, (sandbox) =>
      sandbox.exec({ command: WRITE_FILE, args: [parent, name, String(content.byteLength)], stdin: content }),
    );
    if (result.exitCode !== 0) throw this.#failure(result, path, 'write');
    const [size, mtime] = result.stdout.trim().split(' ').map(Number);
    return { path: path.relative, size: size ?? content.byteLength, modified_at: toIso((mtime ?? Date.now() / 1000) * 1000)! };
  }

  async delete(workspace: FilesWorkspace, requestedPath: string): Promise<{ path: string }> {
    const path = parseWorkspaceEntryPath(requestedPath, 'delete');
    const { parent, name } = splitPath(path);
    const result = await this.#changing(workspace, (sandbox) => sandbox.exec({ command: DELETE_ENTRY, args: [parent, name] }));
    if (result.exitCode !== 0) throw this.#failure(result, path, 'delete');
    return { path: path.relative };
  }

  /** Runs a command that changes the workspace; with filesystem events on, records what it changed (also when it failed). */
  async #changing(workspace: FilesWorkspace, command: (sandbox: Sandbox) => Promise<ExecResult>): Promise<ExecResult> {
    const sandbox = this.#options.openSandbox(workspace);
    const changes = this.#options.changes;
    if (!changes || !workspace.deployment.features.filesystem_webhooks) return command(sandbox);
    let made: readonly WorkspaceChange[] = [];
    try {
      const tracked = await changes.tracker.track(sandbox.spec.workspaceDir, () => command(sandbox), (partial) => (made = partial));
      made = tracked.changes;
      return tracked.value;
    } finally {
      // The file is written (or deleted) either way: an event that cannot be committed is logged, not the call's failure.
      if (made.length > 0) {
        await changes.record(workspace, made).catch((error: unknown) => this.#options.logger?.warn({ err: error, deploymentId: workspace.deployment.id }, 'could not record filesystem events'));
      }
    }
  }

  #failure(result: ExecResult, path: WorkspaceFilePath, operation: string): Error {
    const what = describePath(path);
    switch (result.exitCode) {
      case EXIT_NOT_FOUND:
        return new WorkspaceFileError('not_found', `No file or directory at ${what}.`);
      case EXIT_OUTSIDE:
        return new WorkspaceFileError('outside_workspace', `The path ${what} leads outside the workspace through a symlink.`);
      case EXIT_IS_DIRECTORY:
        return new WorkspaceFileError(
          'is_a_directory',
          operation === 'read' ? `${capitalize(what)} is a directory; list it with GET /files.` : `${capitalize(what)} is a directory.`,
        );
      case EXIT_NOT_DIRECTORY:
        return new WorkspaceFileError(
          'not_a_directory',
          operation === 'list'
            ? `${capitalize(what)} is a file, not a directory; read it with GET /files/content.`
            : `A parent of ${what} is not a directory, or cannot be created.`,
        );
      case EXIT_NOT_REGULAR:
        return new WorkspaceFileError('not_a_regular_file', `${capitalize(what)} is not a regular file (a FIFO, socket or device).`);
      case EXIT_PERMISSION:
        return new WorkspaceFileError('permission_denied', `The workspace's file permissions do not allow to ${operation} ${what}.`);
      case EXIT_CHANGED:
        return changedError(path, operation);
      default: {
        if (result.limitExceeded?.limit === 'disk') {
          return new WorkspaceFileError('too_large', `The workspace's disk quota is full: ${what} does not fit. Delete files, or raise sandbox.limits.disk_mb.`);
        }
        // stderr can name host paths (bwrap's own errors): it goes to the log, not to the client.
        this.#options.logger?.warn({ exitCode: result.exitCode, timedOut: result.timedOut, stderr: result.stderr.slice(0, 2000) }, `workspace ${operation} failed`);
        return new Error(`Could not ${operation} ${what} in the workspace.`);
      }
    }
  }
}

/** The 413 message for an upload over the limit (the API layer uses it too, before reading the body). */
export function fileTooLargeMessage(size: number | undefined, limit: number): string {
  const actual = size === undefined ? 'The file is' : `The file is ${size} bytes,`;
  return `${actual} larger than this server's limit of ${limit} bytes (HERM_MAX_FILE_BYTES).`;
}

function changedError(path: WorkspaceFilePath, operation = 'read'): WorkspaceFileError {
  const message =
    operation === 'read'
      ? `The file ${describePath(path)} kept changing while it was being read; retry.`
      : `The directory of ${describePath(path)} changed while the file was being written; retry.`;
  return new WorkspaceFileError('changed', message);
}

function describePath(path: WorkspaceFilePath): string {
  return path.relative === '' ? 'the workspace root' : JSON.stringify(path.relative);
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function splitPath(path: WorkspaceFilePath): { parent: string; name: string } {
  const slash = path.absolute.lastIndexOf('/');
  return { parent: path.absolute.slice(0, slash) || '/', name: path.absolute.slice(slash + 1) };
}
