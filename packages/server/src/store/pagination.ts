// Opaque cursors for newest-first lists ordered by (created_at, id).
import { type ExpressionBuilder, type SelectQueryBuilder } from 'kysely';
import { validationError } from '../api/api-error.ts';

export interface PageRequest {
  limit: number;
  cursor?: string | undefined;
}

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

interface CursorPosition {
  createdAt: number;
  id: string;
}

export function encodeCursor(position: CursorPosition): string {
  return Buffer.from(JSON.stringify([position.createdAt, position.id])).toString('base64url');
}

export function decodeCursor(cursor: string): CursorPosition {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && typeof value[0] === 'number' && typeof value[1] === 'string') {
      return { createdAt: value[0], id: value[1] };
    }
  } catch {
    // fall through to the typed error
  }
  throw validationError('cursor', 'Invalid cursor: pass the next_cursor of a previous response unchanged.');
}

/** Newest first, strictly after the cursor; fetches one extra row to know whether a next page exists. */
export async function pageNewestFirst<DB, TB extends keyof DB, Row extends { created_at: number; id: string }>(
  query: SelectQueryBuilder<DB, TB, Row>,
  table: string,
  page: PageRequest,
): Promise<Page<Row>> {
  let builder = query;
  if (page.cursor) {
    const position = decodeCursor(page.cursor);
    const createdAt = `${table}.created_at`;
    const id = `${table}.id`;
    builder = builder.where((eb: ExpressionBuilder<any, any>) =>
      eb.or([
        eb(createdAt, '<', position.createdAt),
        eb.and([eb(createdAt, '=', position.createdAt), eb(id, '<', position.id)]),
      ]),
    ) as typeof builder;
  }
  const rows = await (builder as SelectQueryBuilder<any, any, Row>)
    .orderBy(`${table}.created_at`, 'desc')
    .orderBy(`${table}.id`, 'desc')
    .limit(page.limit + 1)
    .execute();
  const hasMore = rows.length > page.limit;
  const data = hasMore ? rows.slice(0, page.limit) : rows;
  const last = data[data.length - 1];
  return {
    data,
    next_cursor: hasMore && last ? encodeCursor({ createdAt: Number(last.created_at), id: last.id }) : null,
  };
}
