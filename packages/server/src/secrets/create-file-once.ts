// Files created once per data directory (the secret key, the egress CA): nodes sharing the directory may start
// together, and exactly one of them may create the file while every other one reads what it wrote.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** Link errors of file systems without hard links: the file is then created in place (see below). */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOSYS', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV']);

/**
 * Creates `file` with `content` unless it exists (mode 0600). The content is written whole (and fsynced) to a
 * temporary file that is then hard-linked to `file`; link() fails when `file` exists, so exactly one process's
 * content lands. Where the file system has no hard links, the file is created with O_EXCL and written in place:
 * readers there must allow for a file still being written. Returns whether this call created it.
 */
export function createFileOnce(file: string, content: string): boolean {
  const temporary = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  writeDurably(temporary, content);
  try {
    fs.linkSync(temporary, file);
    syncDirectory(path.dirname(file));
    return true;
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    if (code === 'EEXIST') return false; // another process was first: its file is the file
    if (!code || !NO_HARD_LINKS.has(code)) throw error;
    try {
      writeDurably(file, content);
      return true;
    } catch (fallbackError) {
      if ((fallbackError as NodeJS.ErrnoException).code !== 'EEXIST') throw fallbackError;
      return false;
    }
  } finally {
    fs.rmSync(temporary, { force: true });
  }
}

/** Creates `file` (never replacing one) with `content`, fsynced before it is closed. */
function writeDurably(file: string, content: string): void {
  const descriptor = fs.openSync(file, 'wx', 0o600);
  try {
    fs.writeFileSync(descriptor, content);
    fs.fsyncSync(descriptor);
  } finally {
    fs.closeSync(descriptor);
  }
}

function syncDirectory(directory: string): void {
  let descriptor: number | undefined;
  try {
    descriptor = fs.openSync(directory, 'r');
    fs.fsyncSync(descriptor);
  } catch {
    // Not every file system lets a directory be fsynced; the file itself is.
  } finally {
    if (descriptor !== undefined) fs.closeSync(descriptor);
  }
}
