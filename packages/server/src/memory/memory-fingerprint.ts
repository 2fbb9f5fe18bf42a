// The memory directory as the host sees it, without entering the sandbox: how MemoryService tells that the files it
// read last time are still what the workspace holds (memory-service.ts). Only metadata is read here (names, sizes,
// modification times, inodes), never content: content is read through the sandbox, so a symlink the agent planted
// cannot lead the server to a host file. The host cannot tell when a path component is not a plain directory (a
// symlink, say) or when the workspace is a disk_mb image mounted on demand (its unmounted directory looks empty):
// then the answer is undefined and the caller reads through the sandbox.
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { imagePath } from '../sandbox/limits/workspace-quotas.ts';
import { MEMORY_DIRECTORY } from './memory-file.ts';
import { MAX_MEMORY_FILES } from './memory-service.ts';

/** null: no memory directory; a fingerprint of its files; undefined: the host cannot tell. */
export async function memoryDirectoryFingerprint(workspace: string): Promise<string | null | undefined> {
  if (existsSync(imagePath(workspace)) || !existsSync(workspace)) return undefined;
  let directory = workspace;
  let directoryStat;
  for (const part of MEMORY_DIRECTORY.split('/')) {
    directory = path.join(directory, part);
    try {
      directoryStat = await fs.lstat(directory, { bigint: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      return undefined;
    }
    if (!directoryStat.isDirectory()) return undefined;
  }
  let names: string[];
  try {
    names = await fs.readdir(directory);
  } catch {
    return undefined;
  }
  // More than the service reads: the fingerprint covers what it would list, and a few more.
  if (names.length > MAX_MEMORY_FILES * 2) return undefined;
  names.sort();
  const parts = [`${directoryStat!.ino}:${directoryStat!.mtimeNs}`];
  for (const name of names) {
    try {
      const stat = await fs.lstat(path.join(directory, name), { bigint: true });
      // A symlink's target may change without the link changing: only the sandbox can tell what it reads.
      if (stat.isSymbolicLink()) return undefined;
      parts.push(`${name}:${stat.mode}:${stat.ino}:${stat.size}:${stat.mtimeNs}:${stat.ctimeNs}`);
    } catch {
      // Removed since the listing: the directory's own time changed too.
      parts.push(`${name}:gone`);
    }
  }
  return parts.join('\n');
}
