// The store suites run once per dialect: SQLite always, PostgreSQL when one is reachable. Each PostgreSQL
// suite gets a database of its own, created here and dropped afterwards.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { randomBase62 } from '../../src/util/ids.ts';

export interface TestDatabase {
  dialect: 'sqlite' | 'postgres';
  dataDir: string;
  databaseUrl: string | undefined;
  drop(): Promise<void>;
}

const DEFAULT_POSTGRES = 'postgres://postgres@127.0.0.1:5432/test';

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(500);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** The PostgreSQL server tests may use: HERM_TEST_DATABASE_URL or DATABASE_URL, else the local default if it answers. */
export async function postgresBaseUrl(): Promise<string | undefined> {
  const configured = process.env.HERM_TEST_DATABASE_URL ?? process.env.DATABASE_URL;
  if (configured) return configured;
  return (await portOpen('127.0.0.1', 5432)) ? DEFAULT_POSTGRES : undefined;
}

export const POSTGRES_SKIP_MESSAGE =
  'PostgreSQL tests skipped: no server on 127.0.0.1:5432; set HERM_TEST_DATABASE_URL=postgres://user@host:port/db to run them';

export async function createTestDatabase(dialect: 'sqlite' | 'postgres'): Promise<TestDatabase> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-test-'));
  if (dialect === 'sqlite') {
    return { dialect, dataDir, databaseUrl: undefined, drop: async () => fs.rmSync(dataDir, { recursive: true, force: true }) };
  }
  const baseUrl = await postgresBaseUrl();
  if (!baseUrl) throw new Error(POSTGRES_SKIP_MESSAGE);
  const name = `herm_test_${randomBase62(10).toLowerCase()}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    dialect,
    dataDir,
    databaseUrl: url.toString(),
    async drop() {
      fs.rmSync(dataDir, { recursive: true, force: true });
      const client = new pg.Client({ connectionString: baseUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

/** The dialects to run: PostgreSQL is included only when a server is reachable (the suite logs why otherwise). */
export async function availableDialects(): Promise<('sqlite' | 'postgres')[]> {
  if (await postgresBaseUrl()) return ['sqlite', 'postgres'];
  console.warn(POSTGRES_SKIP_MESSAGE);
  return ['sqlite'];
}
