// Opens the store: the embedded SQLite file by default, PostgreSQL when DATABASE_URL is set.
import fs from 'node:fs';
import path from 'node:path';
import { Kysely, PostgresDialect } from 'kysely';
import type { Database, Db, Dialect } from './database.ts';
import { createNodeSqliteDialect, openSqliteDatabase } from './node-sqlite-dialect.ts';
import { migrate } from './schema.ts';
import { NAMED_STATEMENTS } from './sql.ts';
import { Store } from './store.ts';

export interface StoreLocation {
  dataDir: string;
  databaseUrl?: string | undefined;
  /** Errors of idle PostgreSQL connections (server restart, admin termination); the pool replaces them. */
  onConnectionError?: (error: Error) => void;
}

const INT8_OID = 20;

export async function openStore(location: StoreLocation): Promise<Store> {
  let db: Db;
  let dialect: Dialect;
  if (location.databaseUrl) {
    // Loaded only for PostgreSQL: the embedded SQLite mode never needs the client.
    const { default: pg } = await import('pg');
    const pool = new pg.Pool({
      connectionString: location.databaseUrl,
      max: 10,
      // A connection whose peer vanished without a reset (a cut network path) is found by TCP keep-alive, not
      // left to hang its queries until the kernel gives up; a new one that cannot connect fails within 10 s.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      connectionTimeoutMillis: 10_000,
      // BIGINT columns hold epoch milliseconds and sequence numbers, all well inside 2^53.
      types: {
        getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
          oid === INT8_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text')) as never,
      },
    });
    // Without a listener an idle connection's error would crash the process; the pool reconnects on next use.
    pool.on('error', (error) => location.onConnectionError?.(error));
    // The fixed statements of the hot paths (store/sql.ts) run as named prepared statements: parsed and planned
    // once per connection instead of on every call.
    pool.on('connect', (client) => {
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      client.query = ((config: unknown, values?: unknown, callback?: unknown) => {
        if (typeof config === 'string' && Array.isArray(values) && callback === undefined) {
          const name = NAMED_STATEMENTS.get(config);
          if (name) return query({ name, text: config, values });
        }
        return callback === undefined ? query(config, values) : query(config, values, callback);
      }) as typeof client.query;
    });
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    dialect = 'postgres';
  } else {
    // The data directory holds every customer's data: private to the server's user.
    fs.mkdirSync(location.dataDir, { recursive: true, mode: 0o700 });
    const file = path.join(location.dataDir, 'herm.sqlite');
    if (!fs.existsSync(file)) fs.closeSync(fs.openSync(file, 'a', 0o600));
    const database = openSqliteDatabase(file);
    db = new Kysely<Database>({ dialect: createNodeSqliteDialect(database, file) });
    dialect = 'sqlite';
  }
  try {
    await migrate(db, dialect);
  } catch (error) {
    await db.destroy().catch(() => {});
    throw error;
  }
  return new Store(db, dialect);
}
