// Filesystem events (deployments with `features.filesystem_webhooks`): what a command changed in a workspace,
// found by comparing a stat snapshot of the workspace tree taken before it with one taken after it.
//
// Why snapshots rather than inotify/fanotify: every backend (bubblewrap, docker, unsandboxed) sees the workspace
// as a host directory (bubblewrap and docker bind it, the unsandboxed backend works in it), so one host-side walk
// serves them all; inotify needs a watch per directory held between commands (an idle deployment would cost a
// descriptor per directory, and changes made while nothing watches would be lost), and fanotify needs
// CAP_SYS_ADMIN. The two walks and the comparison of a small workspace (24 files) cost ~0.15-0.2 ms, ~6 ms at
// 1,000 files (docs/benchmarks.md). The walk never follows a symlink, and reads each directory through a
// descriptor checked to be inside the workspace, so an agent swapping a directory for a link while it runs
// cannot make it report anything of the host.
//
// What is reported, and what is not:
// - Files (regular files and symlinks, never followed), by path relative to the workspace root, as the Files API
//   names them. Directories themselves are not reported: a file in a new directory is "created", a directory
//   deleted with its files gives one "deleted" per file, and an empty directory made or removed gives nothing.
// - Coalesced per command: several writes to one file are one "modified" (or one "created"); a file created and
//   deleted within the command is nothing; a rename is "deleted" (old path) + "created" (new path).
// - Herm's own files are left out: `.herm/` at the workspace root (tool output, uploads in progress) and the
//   temporary files of uploads (`.herm-upload.*`) wherever they are.
// - At most `maxEventsPerCommand` changes per command; beyond, the rest are summed up in one event with
//   `truncated: true` for their closest common directory (`omitted`: how many it stands for).
// - A workspace of more than `maxEntries` files and directories is not walked past that: its commands are
//   reported as one `truncated` event for the whole workspace (path "", `omitted` null: not known).
// - Several commands at work in one workspace at once (two threads' runs, a run and a Files API upload) share
//   one baseline: each change is reported once, by whichever of them finishes first after it.
import fs, { type Dirent } from 'node:fs';

export type WorkspaceChangeKind = 'created' | 'modified' | 'deleted';

/** One change as a `filesystem` event carries it (its payload, without the envelope). */
export interface WorkspaceChange {
  change: WorkspaceChangeKind;
  /** Relative to the workspace root (`briefs/q3.md`); on a truncated summary, a directory ending in "/" (`""` for the whole workspace). */
  path: string;
  /** Bytes after the change (for a symlink, the length of its target); null when deleted, or on a truncated summary. */
  size: number | null;
  /** Set on the one event of a command that stands for changes not listed one by one. */
  truncated?: true;
  /** With `truncated`: how many changes the event stands for; null when not known (the workspace was too large to compare). */
  omitted?: number | null;
}

export interface WorkspaceChangeSettings {
  /** Files and directories walked per snapshot at most; a larger workspace is reported as one truncated event per command. */
  maxEntries: number;
  /** Changes reported one by one per command at most; the rest become one truncated summary. */
  maxEventsPerCommand: number;
}

export const DEFAULT_WORKSPACE_CHANGE_SETTINGS: WorkspaceChangeSettings = { maxEntries: 10_000, maxEventsPerCommand: 100 };

/** Herm's own directory at the workspace root (large tool output, uploads in progress). */
const HERM_DIRECTORY = '.herm';
const UPLOAD_TEMPORARY = /^\.herm-upload\./;
// Entries walked between turns of the event loop: a large workspace must not hold the server up for long.
const ENTRIES_PER_SLICE = 1_000;

interface FileState {
  size: number;
  mtimeMs: number;
  ino: number;
  symlink: boolean;
}

/** path (relative) → what it was. */
interface WorkspaceSnapshot {
  /** The device of the workspace root: a disk-quota file system mounted on it meanwhile makes two snapshots incomparable. */
  device: number;
  files: Map<string, FileState>;
  /** False when the walk stopped at maxEntries (or the root could not be read). */
  complete: boolean;
  /** Directories that could not be read (permissions, or replaced meanwhile): what lies under them is neither reported created nor deleted. */
  unreadable: string[];
}

const EMPTY: WorkspaceSnapshot = { device: -1, files: new Map(), complete: false, unreadable: [] };

// Where a directory opened by this process can be named without resolving its path again (Linux).
const OPEN_DIRECTORIES = fs.existsSync('/proc/self/fd') ? '/proc/self/fd' : undefined;

/**
 * Opens a directory of the workspace for reading, refusing one reached through a symlink: the agent may swap a
 * directory for a link into the host (or another workspace) while the server walks, and a path would follow it.
 * The directory is opened with O_NOFOLLOW and then checked by what was opened (its path as the kernel names it),
 * and read and stat'ed through that descriptor only. Undefined when it is gone, unreadable or not what it was.
 */
export function openDirectory(realRoot: string, relative: string): number | undefined {
  const expected = relative === '' ? realRoot : `${realRoot}/${relative}`;
  let descriptor: number;
  try {
    descriptor = fs.openSync(expected, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | (relative === '' ? 0 : fs.constants.O_NOFOLLOW));
  } catch {
    return undefined;
  }
  if (OPEN_DIRECTORIES) {
    let opened: string | undefined;
    try {
      opened = fs.readlinkSync(`${OPEN_DIRECTORIES}/${descriptor}`);
    } catch {
      // checked below
    }
    if (opened !== expected) {
      fs.closeSync(descriptor);
      return undefined;
    }
  }
  return descriptor;
}

/** Walks `root` without following symlinks; stops at `maxEntries`. */
export async function snapshotWorkspace(root: string, maxEntries: number): Promise<WorkspaceSnapshot> {
  let device: number;
  let realRoot: string;
  try {
    device = fs.statSync(root).dev;
    realRoot = fs.realpathSync(root);
  } catch {
    return EMPTY;
  }
  const files = new Map<string, FileState>();
  const unreadable: string[] = [];
  const pending: string[] = [''];
  let entries = 0;
  let sliceEntries = 0;
  while (pending.length > 0) {
    const relativeDirectory = pending.pop()!;
    const descriptor = openDirectory(realRoot, relativeDirectory);
    if (descriptor === undefined) {
      if (relativeDirectory === '') return EMPTY;
      // Deleted or replaced meanwhile, or not readable by the server: neither counts as a change of what is under it.
      unreadable.push(`${relativeDirectory}/`);
      continue;
    }
    try {
      // Through the descriptor when the system can name it: what was checked is what is read.
      const directory = OPEN_DIRECTORIES ? `${OPEN_DIRECTORIES}/${descriptor}` : relativeDirectory === '' ? realRoot : `${realRoot}/${relativeDirectory}`;
      let dirents: Dirent[];
      try {
        dirents = fs.readdirSync(directory, { withFileTypes: true });
      } catch {
        if (relativeDirectory === '') return EMPTY;
        unreadable.push(`${relativeDirectory}/`);
        continue;
      }
      for (const dirent of dirents) {
        const name = dirent.name;
        if (relativeDirectory === '' && name === HERM_DIRECTORY) continue;
        if (UPLOAD_TEMPORARY.test(name)) continue;
        if (++entries > maxEntries) return { device, files, complete: false, unreadable };
        const relative = relativeDirectory === '' ? name : `${relativeDirectory}/${name}`;
        if (dirent.isDirectory()) {
          pending.push(relative);
        } else if (dirent.isFile() || dirent.isSymbolicLink()) {
          // lstat: a symlink is a file of the workspace, what it points at is never looked at.
          let stats: fs.Stats | undefined;
          try {
            stats = fs.lstatSync(`${directory}/${name}`, { throwIfNoEntry: false });
          } catch {
            // not readable: left out like a file that is not there
          }
          if (stats && !stats.isDirectory()) {
            files.set(relative, { size: stats.size, mtimeMs: stats.mtimeMs, ino: stats.ino, symlink: stats.isSymbolicLink() });
          }
        }
        // FIFOs, sockets and devices are not files anyone syncs.
        if (++sliceEntries >= ENTRIES_PER_SLICE) {
          sliceEntries = 0;
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
    } finally {
      fs.closeSync(descriptor);
    }
  }
  return { device, files, complete: true, unreadable };
}

function sameFile(a: FileState, b: FileState): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino && a.symlink === b.symlink;
}

function under(unreadable: string[], relative: string): boolean {
  return unreadable.some((directory) => relative.startsWith(directory));
}

/** The whole workspace changed in ways not known: one summary. */
const UNKNOWN_CHANGES: WorkspaceChange[] = [{ change: 'modified', path: '', size: null, truncated: true, omitted: null }];

/** The changes from `before` to `after`, in path order, at most `maxEvents` (the last a summary of the rest). */
export function diffSnapshots(before: WorkspaceSnapshot, after: WorkspaceSnapshot, maxEvents: number): WorkspaceChange[] {
  if (!before.complete || !after.complete || before.device !== after.device) return UNKNOWN_CHANGES;
  const changes: WorkspaceChange[] = [];
  for (const [relative, state] of after.files) {
    const previous = before.files.get(relative);
    if (!previous) {
      if (!under(before.unreadable, relative)) changes.push({ change: 'created', path: relative, size: state.size });
    } else if (!sameFile(previous, state)) {
      changes.push({ change: 'modified', path: relative, size: state.size });
    }
  }
  for (const relative of before.files.keys()) {
    if (!after.files.has(relative) && !under(after.unreadable, relative)) changes.push({ change: 'deleted', path: relative, size: null });
  }
  changes.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.change === 'deleted' ? -1 : 1));
  return capChanges(changes, maxEvents);
}

/** `changes` as they are when there are at most `maxEvents`; else the first `maxEvents - 1` and one summary of the rest. */
export function capChanges(changes: WorkspaceChange[], maxEvents: number): WorkspaceChange[] {
  if (changes.length <= maxEvents) return changes;
  const kept = changes.slice(0, Math.max(0, maxEvents - 1));
  const rest = changes.slice(kept.length);
  return [...kept, { change: 'modified', path: commonDirectory(rest.map((change) => change.path)), size: null, truncated: true, omitted: rest.length }];
}

/** The deepest directory holding every path, with a trailing "/" (`""`: the workspace root). */
function commonDirectory(paths: string[]): string {
  let prefix = paths[0] ?? '';
  for (const candidate of paths) {
    let length = 0;
    while (length < prefix.length && length < candidate.length && prefix[length] === candidate[length]) length++;
    prefix = prefix.slice(0, length);
  }
  return prefix.slice(0, prefix.lastIndexOf('/') + 1);
}

export interface WorkspaceChangeTrackerOptions {
  settings?: Partial<WorkspaceChangeSettings>;
  /**
   * Makes the workspace's files visible on the host before the first snapshot (SandboxBackends.attachWorkspace:
   * mounts a disk-quota image), so that a command's own mounting does not look like every file appearing.
   */
  attachWorkspace?: (workspaceDir: string) => Promise<void>;
  logger?: { warn(fields: object, message: string): void };
}

interface WorkspaceState {
  /** What the workspace looked like at the last begin (with nothing at work) or end. */
  baseline: WorkspaceSnapshot;
  /** Commands at work in it. */
  active: number;
  /** Serialises the begins and ends in this workspace. */
  queue: Promise<unknown>;
}

/**
 * Tracks what commands change in workspaces. One per server: it is what lets concurrent commands in one workspace
 * report each change once. Only used for deployments with `features.filesystem_webhooks`: nothing is walked
 * otherwise, and a workspace with no command at work holds no state here.
 */
export class WorkspaceChangeTracker {
  readonly settings: WorkspaceChangeSettings;
  readonly #options: WorkspaceChangeTrackerOptions;
  readonly #workspaces = new Map<string, WorkspaceState>();
  readonly #warnedTooLarge = new Set<string>();
  #snapshotsTaken = 0;

  constructor(options: WorkspaceChangeTrackerOptions = {}) {
    this.#options = options;
    this.settings = { ...DEFAULT_WORKSPACE_CHANGE_SETTINGS, ...withoutUndefined(options.settings ?? {}) };
    for (const [name, value] of Object.entries(this.settings)) {
      if (!Number.isInteger(value) || value <= 0) throw new RangeError(`${name} must be a positive integer, got ${value}`);
    }
  }

  /**
   * Runs `operation` (one command, or one tool call) in `workspaceDir` and returns what it changed there, coalesced.
   * Also when `operation` throws: the changes it made before it failed are given to `onFailure`, then it rethrows.
   */
  async track<T>(workspaceDir: string, operation: () => Promise<T>, onFailure?: (changes: WorkspaceChange[]) => void): Promise<{ value: T; changes: WorkspaceChange[] }> {
    const state = await this.#begin(workspaceDir);
    let value: T;
    try {
      value = await operation();
    } catch (error) {
      const changes = await this.#end(workspaceDir, state);
      if (changes.length > 0) onFailure?.(changes);
      throw error;
    }
    return { value, changes: await this.#end(workspaceDir, state) };
  }

  /** Workspace walks so far (for tests: a deployment without filesystem events costs none). */
  get snapshotsTaken(): number {
    return this.#snapshotsTaken;
  }

  /** Workspaces with a command at work (for tests: an idle workspace holds nothing). */
  get activeWorkspaces(): number {
    return this.#workspaces.size;
  }

  #begin(workspaceDir: string): Promise<WorkspaceState> {
    let state = this.#workspaces.get(workspaceDir);
    if (!state) {
      state = { baseline: EMPTY, active: 0, queue: Promise.resolve() };
      this.#workspaces.set(workspaceDir, state);
    }
    const current = state;
    current.active++;
    return this.#serialise(current, async () => {
      // A command already at work keeps the baseline: what changes from here is reported once, by the first to end.
      if (current.active === 1 || current.baseline === EMPTY) {
        await this.#options.attachWorkspace?.(workspaceDir).catch(() => {});
        current.baseline = await this.#snapshot(workspaceDir);
      }
      return current;
    });
  }

  #end(workspaceDir: string, state: WorkspaceState): Promise<WorkspaceChange[]> {
    return this.#serialise(state, async () => {
      try {
        const after = await this.#snapshot(workspaceDir);
        const changes = diffSnapshots(state.baseline, after, this.settings.maxEventsPerCommand);
        state.baseline = after;
        return changes;
      } finally {
        if (--state.active === 0 && this.#workspaces.get(workspaceDir) === state) this.#workspaces.delete(workspaceDir);
      }
    });
  }

  #serialise<T>(state: WorkspaceState, work: () => Promise<T>): Promise<T> {
    const next = state.queue.then(work);
    state.queue = next.catch(() => {});
    return next;
  }

  async #snapshot(workspaceDir: string): Promise<WorkspaceSnapshot> {
    this.#snapshotsTaken++;
    let snapshot: WorkspaceSnapshot;
    try {
      snapshot = await snapshotWorkspace(workspaceDir, this.settings.maxEntries);
    } catch (error) {
      // Tracking must never fail the command it watches: its changes are then reported as unknown.
      this.#options.logger?.warn({ err: error, workspaceDir }, 'could not walk a workspace to find its changes');
      return EMPTY;
    }
    if (!snapshot.complete && snapshot.device !== -1 && !this.#warnedTooLarge.has(workspaceDir)) {
      this.#warnedTooLarge.add(workspaceDir);
      this.#options.logger?.warn(
        { workspaceDir, maxEntries: this.settings.maxEntries },
        'workspace too large to track file changes one by one (HERM_FILESYSTEM_EVENTS_MAX_FILES): its commands are reported as one truncated filesystem event each',
      );
    }
    return snapshot;
  }
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as Partial<T>;
}
