// Statements of the hot paths (a run's start, steps and end; event appends and replay) as fixed SQL text.
// Building and compiling them with the query builder on every call was about a quarter of a short run's CPU;
// a fixed text is converted once per dialect, and its prepared form is reused: node:sqlite's StatementSync
// per text (see node-sqlite-dialect.ts), a named prepared statement per connection on PostgreSQL.
import { RawNode, type CompiledQuery, type RootOperationNode } from 'kysely';
import type { Db, Dialect } from './database.ts';

interface Prepared {
  sql: string;
  node: RootOperationNode;
}

const prepared: Record<Dialect, Map<string, Prepared>> = { sqlite: new Map(), postgres: new Map() };

/** PostgreSQL texts that are run as named prepared statements (see open-store.ts). */
export const NAMED_STATEMENTS = new Map<string, string>();

const QUERY_ID = { queryId: 'herm-sql' };

/** Longest text run as a named statement: long generated texts (many-row inserts) stay unnamed. */
const MAX_NAMED_LENGTH = 4_000;

/**
 * The text for a dialect. Texts are written with PostgreSQL's numbered placeholders ($1, $2…), which SQLite
 * reads as ?1, ?2…: the same numbering, and a placeholder may appear twice.
 */
function prepare(dialect: Dialect, text: string): Prepared {
  const cache = prepared[dialect];
  let entry = cache.get(text);
  if (!entry) {
    const sql = dialect === 'sqlite' ? text.replace(/\$(\d+)/g, '?$1') : text;
    entry = { sql, node: RawNode.createWithSql(sql) };
    if (cache.size > 5_000) cache.clear();
    cache.set(text, entry);
    if (dialect === 'postgres' && text.length <= MAX_NAMED_LENGTH && !NAMED_STATEMENTS.has(sql)) {
      NAMED_STATEMENTS.set(sql, `herm_${NAMED_STATEMENTS.size}`);
    }
  }
  return entry;
}

/** Runs one statement on `db` (the store or a transaction) and returns its rows (RETURNING rows for writes). */
export async function query<Row>(db: Db, dialect: Dialect, text: string, parameters: readonly unknown[]): Promise<Row[]> {
  const { sql, node } = prepare(dialect, text);
  const compiled: CompiledQuery<Row> = { sql, parameters, query: node, queryId: QUERY_ID };
  return (await db.executeQuery(compiled)).rows;
}
