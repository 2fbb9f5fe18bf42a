// Opens the store: the embedded SQLite file by default, PostgreSQL when DATABASE_URL is set.
import fs from 'node:fs';
import path from 'node:path';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database, Db, Dialect } from './database.ts';
import { createNodeSqliteDialect, openSqliteDatabase } from './node-sqlite-dialect.ts';
import { migrate } from './schema.ts';
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
    const pool = new pg.Pool({
      connectionString: location.databaseUrl,
      max: 10,
      // BIGINT columns hold epoch milliseconds and sequence numbers, all well inside 2^53.
      types: {
        getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
          oid === INT8_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text')) as never,
      },
    });
    // Without a listener an idle connection's error would crash the process; the pool reconnects on next use.
    pool.on('error', (error) => location.onConnectionError?.(error));
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    dialect = 'postgres';
  } else {
    // The data directory holds every customer's data: private to the server's user.
    fs.mkdirSync(location.dataDir, { recursive: true, mode: 0o700 });
    const file = path.join(location.dataDir, 'herm.sqlite');
    if (!fs.existsSync(file)) fs.closeSync(fs.openSync(file, 'a', 0o600));
    const database = openSqliteDatabase(file);
    db = new Kysely<Database>({ dialect: createNodeSqliteDialect(database) });
    dialect = 'sqlite';
  }
  await migrate(db);
  return new Store(db, dialect);
}
