// What the kill -9 suites share (run-crash-points, steering-crash, automation-crash, memory-crash): a server that
// died at a failpoint, the API called with the suite's admin key, and the database read directly while no server runs.
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { expect } from 'vitest';
import type { FailpointName } from '../../src/util/failpoints.ts';
import type { TestDatabase } from './databases.ts';
import { withTimeout, type HermProcess } from './herm-process.ts';

/** Waits for the process to kill itself at `failpoint` (SIGKILL, and the line the failpoint logs first). */
export async function diesAt(server: HermProcess, failpoint: FailpointName): Promise<void> {
  const exit = await withTimeout(server.exited, 30_000, `the failpoint ${failpoint}`);
  expect(exit.signal, server.stderr()).toBe('SIGKILL');
  expect(server.stderr()).toContain(`failpoint ${failpoint}: killing the process`);
}

/** `api(url, method, path, body?)` with `adminKey`: the status and the JSON body. */
export function adminApi(adminKey: string) {
  return async (url: string, method: string, urlPath: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const response = await fetch(`${url}${urlPath}`, {
      method,
      headers: { authorization: `Bearer ${adminKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: response.status, body: (await response.json()) as any };
  };
}

/** Runs statements on the test's database directly, in PostgreSQL's form ($1…); whole numbers come back as numbers. */
export async function openDatabase(database: TestDatabase): Promise<{ rows: (text: string, parameters: unknown[]) => Promise<any[]>; close: () => Promise<void> }> {
  if (database.databaseUrl) {
    const client = new pg.Client({ connectionString: database.databaseUrl });
    await client.connect();
    const numeric = (row: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(row).map(([key, value]) => [key, typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value]));
    return { rows: async (text, parameters) => (await client.query(text, parameters)).rows.map(numeric), close: () => client.end() };
  }
  const sqlite = new DatabaseSync(path.join(database.dataDir, 'herm.sqlite'));
  return {
    rows: async (text, parameters) => sqlite.prepare(text.replace(/\$(\d+)/g, '?$1')).all(...(parameters as never[])),
    close: async () => sqlite.close(),
  };
}
