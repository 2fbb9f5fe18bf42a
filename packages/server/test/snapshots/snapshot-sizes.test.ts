// The walks behind snapshot bounds and modes: what a tree takes on disk (allocated blocks, not apparent
// sizes; symlinks not followed; hard links once) and clearing setuid/setgid bits without following links.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allocatedBytes, clearSetIdBits } from '../../src/snapshots/snapshot-service.ts';

const MIB = 1024 * 1024;
let root: string;
let outside: string;

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-sizes-'));
  outside = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-sizes-outside-'));
});

afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(outside, { recursive: true, force: true });
});

describe('allocatedBytes', () => {
  it('counts blocks in use: a sparse file is nearly free, a link is not followed, a hard link counts once', async () => {
    const empty = await allocatedBytes(root);
    fs.closeSync(fs.openSync(path.join(root, 'sparse.bin'), 'w'));
    fs.truncateSync(path.join(root, 'sparse.bin'), 8 * 1024 * MIB);
    expect(await allocatedBytes(root)).toBeLessThan(empty + MIB);

    fs.writeFileSync(path.join(outside, 'big.bin'), Buffer.alloc(4 * MIB, 1));
    fs.symlinkSync(path.join(outside, 'big.bin'), path.join(root, 'link-to-big'));
    fs.symlinkSync(outside, path.join(root, 'link-to-dir'));
    expect(await allocatedBytes(root)).toBeLessThan(empty + MIB);

    fs.mkdirSync(path.join(root, 'nested', 'deeper'), { recursive: true });
    fs.writeFileSync(path.join(root, 'nested', 'deeper', 'data.bin'), Buffer.alloc(2 * MIB, 1));
    fs.linkSync(path.join(root, 'nested', 'deeper', 'data.bin'), path.join(root, 'hard-link.bin'));
    const total = await allocatedBytes(root);
    expect(total).toBeGreaterThanOrEqual(empty + 2 * MIB);
    expect(total).toBeLessThan(empty + 3 * MIB);
  });

  it('stops once past the bound', async () => {
    for (let index = 0; index < 4; index++) fs.writeFileSync(path.join(root, `f${index}`), Buffer.alloc(MIB, 1));
    const bounded = await allocatedBytes(root, MIB);
    expect(bounded).toBeGreaterThan(MIB);
    expect(bounded).toBeLessThan(4 * MIB);
  });

  it('is 0 for a missing directory', async () => {
    expect(await allocatedBytes(path.join(root, 'missing'))).toBe(0);
  });
});

describe('clearSetIdBits', () => {
  it('clears setuid and setgid bits on files and directories, and leaves what symlinks point at alone', async () => {
    fs.writeFileSync(path.join(root, 'suid'), 'x');
    fs.chmodSync(path.join(root, 'suid'), 0o4755);
    fs.mkdirSync(path.join(root, 'dir'));
    fs.chmodSync(path.join(root, 'dir'), 0o2775);
    fs.writeFileSync(path.join(root, 'dir', 'sgid'), 'x');
    fs.chmodSync(path.join(root, 'dir', 'sgid'), 0o2710);
    fs.writeFileSync(path.join(root, 'sticky'), 'x');
    fs.chmodSync(path.join(root, 'sticky'), 0o1644);
    const target = path.join(outside, 'target');
    fs.writeFileSync(target, 'x');
    fs.chmodSync(target, 0o4755);
    fs.symlinkSync(target, path.join(root, 'link'));
    fs.symlinkSync(outside, path.join(root, 'dir-link'));

    await clearSetIdBits(root);

    expect(fs.statSync(path.join(root, 'suid')).mode & 0o7777).toBe(0o755);
    expect(fs.statSync(path.join(root, 'dir')).mode & 0o7777).toBe(0o775);
    expect(fs.statSync(path.join(root, 'dir', 'sgid')).mode & 0o7777).toBe(0o710);
    expect(fs.statSync(path.join(root, 'sticky')).mode & 0o7777).toBe(0o1644);
    expect(fs.statSync(target).mode & 0o7777).toBe(0o4755);
  });
});
