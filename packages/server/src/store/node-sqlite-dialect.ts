// Kysely's SqliteDialect speaks to a better-sqlite3-shaped object; this adapts Node's built-in node:sqlite
// (no native addon to compile, which matters on machines that cannot download prebuilt binaries).
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { SqliteDialect, type SqliteDatabase, type SqliteStatement } from 'kysely';

function bindable(value: unknown): unknown {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value instanceof Date) return value.getTime();
  return value;
}

class NodeSqliteStatement implements SqliteStatement {
  readonly reader: boolean;
  readonly #statement: StatementSync;

  constructor(statement: StatementSync) {
    this.#statement = statement;
    this.reader = statement.columns().length > 0;
  }

  all(parameters: ReadonlyArray<unknown>): unknown[] {
    return this.#statement.all(...(parameters.map(bindable) as never[]));
  }

  run(parameters: ReadonlyArray<unknown>): { changes: number | bigint; lastInsertRowid: number | bigint } {
    return this.#statement.run(...(parameters.map(bindable) as never[]));
  }

  iterate(parameters: ReadonlyArray<unknown>): IterableIterator<unknown> {
    return this.#statement.iterate(...(parameters.map(bindable) as never[])) as IterableIterator<unknown>;
  }
}

export function openSqliteDatabase(filename: string): DatabaseSync {
  const database = new DatabaseSync(filename);
  // WAL lets the CLI (keys, secrets) write while the server runs; NORMAL sync is durable across process
  // crashes (the WAL is fsynced at checkpoints), which is the failure this embedded mode guards against.
  database.exec('PRAGMA journal_mode = WAL');
  database.exec('PRAGMA synchronous = NORMAL');
  database.exec('PRAGMA busy_timeout = 5000');
  database.exec('PRAGMA foreign_keys = ON');
  return database;
}

export function createNodeSqliteDialect(database: DatabaseSync): SqliteDialect {
  const statements = new Map<string, NodeSqliteStatement>();
  const adapter: SqliteDatabase = {
    close: () => database.close(),
    prepare(sqlText: string) {
      // Prepared statements are cached: the same few hundred queries run over and over.
      let statement = statements.get(sqlText);
      if (!statement) {
        statement = new NodeSqliteStatement(database.prepare(sqlText));
        if (statements.size > 2000) statements.clear();
        statements.set(sqlText, statement);
      }
      return statement;
    },
  };
  return new SqliteDialect({ database: adapter });
}
