// The audit log of administrative actions (accounts, keys and credit budgets through the API): who did what to which object, when,
// under which request, with a summary that never holds a secret. Entries are written in the transaction of the
// action they record (AccountAdministration), so no action lands without its entry.
import type { Selectable } from 'kysely';
import { newId } from '../util/ids.ts';
import type { AuditLogTable, Db } from './database.ts';
import { pageNewestFirst, type Page, type PageRequest } from './pagination.ts';

export type AuditLogRecord = Omit<Selectable<AuditLogTable>, 'summary'> & { summary: Record<string, unknown> };

/** The actions recorded; the API's `action` filter takes these. */
export const AUDIT_ACTIONS = ['account.created', 'account.updated', 'key.created', 'key.revoked', 'budget.set', 'budget.deleted'] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface AuditEntryInput {
  /** The key that acted; null: the server's command line (`herm keys` on the database, no key). */
  actorKeyId: string | null;
  /** The account of the key that acted. */
  actorAccountId: string | null;
  action: AuditAction;
  targetType: 'account' | 'api_key';
  targetId: string;
  /** The account the target belongs to (an account is its own). */
  targetAccountId: string;
  requestId: string | null;
  /** What changed, redacted: names, scopes, hints; never a secret or a hash. */
  summary: Record<string, unknown>;
}

export interface AuditLogFilter {
  action?: string | undefined;
  targetId?: string | undefined;
  /** Entries whose target belongs to this account. */
  accountId?: string | undefined;
}

function toRecord(row: Selectable<AuditLogTable>): AuditLogRecord {
  return { ...row, summary: JSON.parse(row.summary) as Record<string, unknown> };
}

export class AuditLogRepository {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async record(entry: AuditEntryInput): Promise<AuditLogRecord> {
    const row = {
      id: newId('auditEntry'),
      actor_key_id: entry.actorKeyId,
      actor_account_id: entry.actorAccountId,
      action: entry.action,
      target_type: entry.targetType,
      target_id: entry.targetId,
      target_account_id: entry.targetAccountId,
      request_id: entry.requestId,
      summary: JSON.stringify(entry.summary),
      created_at: Date.now(),
    };
    await this.#db.insertInto('audit_log').values(row).execute();
    return toRecord(row);
  }

  /** Newest first. */
  async list(filter: AuditLogFilter, page: PageRequest): Promise<Page<AuditLogRecord>> {
    let query = this.#db.selectFrom('audit_log').selectAll();
    if (filter.action) query = query.where('action', '=', filter.action);
    if (filter.targetId) query = query.where('target_id', '=', filter.targetId);
    if (filter.accountId) query = query.where('target_account_id', '=', filter.accountId);
    const result = await pageNewestFirst(query, 'audit_log', page);
    return { data: result.data.map(toRecord), next_cursor: result.next_cursor };
  }
}
