// What the tracker makes of real file system changes in a real directory: coalescing per command, renames,
// Herm's own files left out, symlinks never followed, the caps, and commands at work side by side.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { capChanges, openDirectory, WorkspaceChangeTracker, type WorkspaceChange } from '../../src/files/workspace-changes.ts';

let workspace: string;
let outside: string;

beforeEach(() => {
  workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-test-changes-'));
  outside = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-test-outside-'));
});

afterEach(() => {
  fs.rmSync(workspace, { recursive: true, force: true });
  fs.rmSync(outside, { recursive: true, force: true });
});

const file = (relative: string) => path.join(workspace, relative);

function write(relative: string, content: string): void {
  fs.mkdirSync(path.dirname(file(relative)), { recursive: true });
  fs.writeFileSync(file(relative), content);
}

/** What `command` changes in the workspace, as one tracked command. */
async function changesOf(tracker: WorkspaceChangeTracker, command: () => void | Promise<void>): Promise<WorkspaceChange[]> {
  const { changes } = await tracker.track(workspace, async () => command());
  return changes;
}

describe('WorkspaceChangeTracker', () => {
  it('reports created, modified and deleted files with their sizes, coalesced per command', async () => {
    const tracker = new WorkspaceChangeTracker();
    expect(
      await changesOf(tracker, () => {
        write('notes/plan.md', 'v1');
        // Several writes to one file: one event, with the final size.
        fs.appendFileSync(file('notes/plan.md'), '++');
        fs.appendFileSync(file('notes/plan.md'), '!!');
        // Created and deleted within the command: nothing.
        write('scratch.tmp', 'gone soon');
        fs.rmSync(file('scratch.tmp'));
      }),
    ).toEqual([{ change: 'created', path: 'notes/plan.md', size: 6 }]);

    expect(await changesOf(tracker, () => fs.appendFileSync(file('notes/plan.md'), 'more'))).toEqual([{ change: 'modified', path: 'notes/plan.md', size: 10 }]);
    // Rewritten through a temporary file and a rename (as editors and the Files API do): the same path, modified.
    expect(
      await changesOf(tracker, () => {
        fs.writeFileSync(file('notes/.plan.md.swp'), 'x');
        fs.renameSync(file('notes/.plan.md.swp'), file('notes/plan.md'));
      }),
    ).toEqual([{ change: 'modified', path: 'notes/plan.md', size: 1 }]);
    // A rename is the old path deleted and the new one created.
    expect(await changesOf(tracker, () => fs.renameSync(file('notes'), file('archive')))).toEqual([
      { change: 'created', path: 'archive/plan.md', size: 1 },
      { change: 'deleted', path: 'notes/plan.md', size: null },
    ]);
    // Nothing changed: nothing reported. Directories themselves are not files.
    expect(await changesOf(tracker, () => fs.mkdirSync(file('empty-dir')))).toEqual([]);
    expect(await changesOf(tracker, () => fs.rmSync(file('archive'), { recursive: true }))).toEqual([{ change: 'deleted', path: 'archive/plan.md', size: null }]);
  });

  it("leaves out Herm's own .herm directory and upload temporaries, and never follows symlinks", async () => {
    const tracker = new WorkspaceChangeTracker();
    fs.writeFileSync(path.join(outside, 'secret.txt'), 'host file');
    const changes = await changesOf(tracker, () => {
      write('.herm/tool-output/call_1.txt', 'large output');
      write('.herm/uploads/.herm-upload.Ab12Cd', 'half an upload');
      write('docs/.herm-upload.Zz99Yy', 'a temporary next to its target');
      write('docs/.hidden-but-yours', 'reported');
      // A link into a directory outside: the link is a file of the workspace; what it points at is never walked.
      fs.symlinkSync(outside, file('link-out'));
    });
    expect(changes).toEqual([
      { change: 'created', path: 'docs/.hidden-but-yours', size: 8 },
      { change: 'created', path: 'link-out', size: Buffer.byteLength(outside) },
    ]);
    // Changing what a link points at changes nothing in the workspace.
    expect(await changesOf(tracker, () => fs.writeFileSync(path.join(outside, 'secret.txt'), 'changed host file'))).toEqual([]);
  });

  it('opens a directory of the walk only when no symlink leads to it, last component or any before it', () => {
    // What a walk meets when the agent swaps a directory it has listed for a link out of the workspace.
    fs.mkdirSync(path.join(outside, 'sub'));
    fs.mkdirSync(file('real/sub'), { recursive: true });
    fs.symlinkSync(outside, file('link'));
    const root = fs.realpathSync(workspace);
    const opened = openDirectory(root, 'real/sub');
    expect(opened).toBeTypeOf('number');
    fs.closeSync(opened!);
    expect(openDirectory(root, 'link')).toBeUndefined();
    expect(openDirectory(root, 'link/sub')).toBeUndefined();
    expect(openDirectory(root, 'missing')).toBeUndefined();
  });

  it('sums up the changes beyond maxEventsPerCommand in one truncated event for their common directory', async () => {
    const tracker = new WorkspaceChangeTracker({ settings: { maxEventsPerCommand: 5 } });
    const changes = await changesOf(tracker, () => {
      write('a.txt', 'a');
      for (let index = 0; index < 20; index++) write(`node_modules/pkg-${String(index).padStart(2, '0')}/index.js`, 'x');
    });
    expect(changes).toHaveLength(5);
    expect(changes.slice(0, 4)).toEqual([
      { change: 'created', path: 'a.txt', size: 1 },
      { change: 'created', path: 'node_modules/pkg-00/index.js', size: 1 },
      { change: 'created', path: 'node_modules/pkg-01/index.js', size: 1 },
      { change: 'created', path: 'node_modules/pkg-02/index.js', size: 1 },
    ]);
    expect(changes[4]).toEqual({ change: 'modified', path: 'node_modules/', size: null, truncated: true, omitted: 17 });
    // Changes spread over the workspace are summed up at its root.
    expect(capChanges([{ change: 'created', path: 'a/x', size: 1 }, { change: 'created', path: 'b/y', size: 1 }, { change: 'deleted', path: 'c', size: null }], 2)[1]).toEqual({
      change: 'modified',
      path: '',
      size: null,
      truncated: true,
      omitted: 2,
    });
    // A common prefix that is not a whole directory name does not count as one.
    expect(capChanges([{ change: 'created', path: 'x', size: 1 }, { change: 'created', path: 'dir/ab', size: 1 }, { change: 'created', path: 'dir/ac', size: 1 }], 2)[1]).toMatchObject({ path: 'dir/', omitted: 2 });
  });

  it('reports a workspace larger than maxEntries as one truncated event of unknown extent, and warns once', async () => {
    const warnings: string[] = [];
    const tracker = new WorkspaceChangeTracker({ settings: { maxEntries: 10 }, logger: { warn: (_fields, message) => warnings.push(message) } });
    for (let index = 0; index < 12; index++) write(`f${index}.txt`, 'x');
    const unknown = [{ change: 'modified', path: '', size: null, truncated: true, omitted: null }];
    expect(await changesOf(tracker, () => write('new.txt', 'y'))).toEqual(unknown);
    expect(await changesOf(tracker, () => {})).toEqual(unknown);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('HERM_FILESYSTEM_EVENTS_MAX_FILES');
  });

  it('reports each change once when commands overlap in one workspace, and holds nothing once they are done', async () => {
    const tracker = new WorkspaceChangeTracker();
    let releaseFirst!: () => void;
    const firstMayEnd = new Promise<void>((resolve) => (releaseFirst = resolve));
    const first = tracker.track(workspace, async () => {
      write('first.txt', '1');
      await firstMayEnd;
    });
    // Let the first command's baseline be taken before the second begins.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const second = await tracker.track(workspace, async () => write('second.txt', '22'));
    releaseFirst();
    const firstChanges = (await first).changes;
    // The second ended first: it reports what had changed by then; the first reports only what came after.
    expect(second.changes.map((change) => change.path).sort()).toEqual(['first.txt', 'second.txt']);
    expect(firstChanges).toEqual([]);
    expect(tracker.activeWorkspaces).toBe(0);
  });

  it('reports what a failing command changed before it failed, and rethrows', async () => {
    const tracker = new WorkspaceChangeTracker();
    let reported: WorkspaceChange[] = [];
    await expect(
      tracker.track(
        workspace,
        async () => {
          write('partial.txt', 'half');
          throw new Error('the command failed');
        },
        (changes) => (reported = [...changes]),
      ),
    ).rejects.toThrow('the command failed');
    expect(reported).toEqual([{ change: 'created', path: 'partial.txt', size: 4 }]);
    expect(tracker.activeWorkspaces).toBe(0);
  });

  it('refuses settings that are not positive integers', () => {
    expect(() => new WorkspaceChangeTracker({ settings: { maxEntries: 0 } })).toThrow(/maxEntries must be a positive integer/);
    expect(() => new WorkspaceChangeTracker({ settings: { maxEventsPerCommand: 1.5 } })).toThrow(/maxEventsPerCommand/);
  });
});
