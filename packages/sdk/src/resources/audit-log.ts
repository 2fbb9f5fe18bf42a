import type { PagePromise } from '../core/pagination.ts';
import type { RequestOptions } from '../core/request-options.ts';
import { APIResource } from '../core/resource.ts';

export type AuditAction = 'account.created' | 'account.updated' | 'key.created' | 'key.revoked' | 'budget.set' | 'budget.deleted';

/** One administrative action: who, what, when, under which request; the summary never holds a secret. */
export interface AuditEntry {
  /** `aud_…` */
  entry_id: string;
  action: AuditAction;
  /** `api_key`: a request made with `key_id`; `cli`: `herm keys` run at the server. */
  actor: { type: 'api_key' | 'cli'; key_id: string | null; account_id: string | null };
  target: { type: 'account' | 'api_key'; id: string; account_id: string };
  request_id: string | null;
  summary: Record<string, unknown>;
  created_at: string;
}

export interface AuditLogListParams {
  action?: AuditAction;
  /** Only entries about this account or key. */
  target_id?: string;
  /** Only entries whose target belongs to this account. */
  account_id?: string;
  /** Page size, 1–100. Defaults to 20. */
  limit?: number;
  /** `next_cursor` of the previous page. */
  cursor?: string;
}

/** The audit log, for an operator's `admin` key: `herm.auditLog`. */
export class AuditLog extends APIResource {
  /**
   * Lists entries, newest first.
   *
   * @example
   * for await (const entry of herm.auditLog.list({ action: 'key.revoked' })) console.log(entry.created_at, entry.target.id);
   */
  list(params: AuditLogListParams = {}, options?: RequestOptions): PagePromise<AuditEntry> {
    return this._client.getAPIList<AuditEntry>('/audit_log', { ...params }, options);
  }
}
