// What the host sees of sandboxed processes: the host sees every pid namespace, so a command line found here
// is a process that outlived its sandbox. (With a remote Docker daemon it finds nothing.)
import { readdir, readFile } from 'node:fs/promises';

/** Host processes whose command line contains `marker`. */
export async function hostProcessesMatching(marker: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const commandLine = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).replaceAll('\0', ' ');
      if (commandLine.includes(marker)) found.push(`${entry}: ${commandLine}`);
    } catch {
      // exited while we looked
    }
  }
  return found;
}

/** A `sleep` duration no other process is likely to use: a command line to find again with hostProcessesMatching. */
export function uniqueSleepSeconds(): string {
  return `${40 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 1e6)}`;
}
