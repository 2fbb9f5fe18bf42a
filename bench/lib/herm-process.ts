// Herm as the user runs it (`herm serve` in its own process), so its memory and process count are its own.
import fs from 'node:fs';
import { startChildServer, type ChildServer } from '../../packages/server/test/support/child-server.ts';

export interface HermProcess {
  url: string;
  key: string;
  child: ChildServer;
  /** Resident memory of the server process, in MiB. */
  rssMiB(): number;
  /** Processes the server has started (sandboxes, helpers) that are alive now. */
  childProcessCount(): number;
  request(method: string, urlPath: string, body?: unknown): Promise<any>;
  stop(): Promise<void>;
}

function processStatus(pid: number): string {
  return fs.readFileSync(`/proc/${pid}/status`, 'utf8');
}

export async function startHerm(env: Record<string, string>): Promise<HermProcess> {
  const key = 'herm_sk_bench_admin_key_0123456789';
  const child = await startChildServer({ HERM_ADMIN_KEY: key, LOG_LEVEL: 'error', ...env });
  const pid = child.process.pid!;
  const request = async (method: string, urlPath: string, body?: unknown) => {
    const response = await fetch(`${child.url}${urlPath}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await response.json()) as any;
    if (!response.ok) throw new Error(`${method} ${urlPath}: ${response.status} ${JSON.stringify(json)}`);
    return json;
  };
  return {
    url: child.url,
    key,
    child,
    rssMiB: () => Number(/VmRSS:\s+(\d+)/.exec(processStatus(pid))?.[1] ?? 0) / 1024,
    childProcessCount: () => {
      let count = 0;
      for (const entry of fs.readdirSync('/proc')) {
        if (!/^\d+$/.test(entry)) continue;
        try {
          if (/PPid:\s+(\d+)/.exec(processStatus(Number(entry)))?.[1] === String(pid)) count++;
        } catch {
          // the process ended while we looked
        }
      }
      return count;
    },
    request,
    stop: () => child.stop(),
  };
}
