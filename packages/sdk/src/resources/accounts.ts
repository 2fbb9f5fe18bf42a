import type { PagePromise } from '../core/pagination.ts';
import type { RequestOptions } from '../core/request-options.ts';
import { APIResource, segment } from '../core/resource.ts';

/** A tenant: its deployments, secrets and keys are its own. Managed with an `admin`-scoped key. */
export interface Account {
  /** `acct_…` */
  account_id: string;
  name: string;
  created_at: string;
  /** The account's quotas in force (its own, else the server's defaults); 0: no limit. */
  quotas: AccountQuotas;
}

/** Per-account quotas and rate limits (see the README's "Quotas and rate limits"). */
export interface AccountQuotas {
  /** Deployments the account may have. */
  deployments: number;
  /** Runs active at once across its deployments. */
  concurrent_runs: number;
  /** Runs started in any 60 seconds. */
  runs_per_minute: number;
  /** API requests per second per key (token bucket, burst equal to the rate). */
  requests_per_second: number;
  /** Event streams open at once (per node). */
  sse_streams: number;
  /** Workspace disk its deployments may reserve together (sandbox.limits.disk_mb), in bytes. */
  workspace_bytes: number;
}

export interface AccountCreateParams {
  name: string;
}

/** What `update` changes; fields left out stay as they are. */
export interface AccountUpdateParams {
  name?: string;
  /** The account's own quotas, each replacing the server's default (0: no limit; null: the default again). */
  quotas?: { [Name in keyof AccountQuotas]?: number | null };
}

export interface AccountListParams {
  /** Page size, 1–100. Defaults to 20. */
  limit?: number;
  /** `next_cursor` of the previous page. */
  cursor?: string;
}

/** Accounts, for an operator's `admin` key: `herm.accounts`. Other keys get a `PermissionDeniedError` (403). */
export class Accounts extends APIResource {
  /**
   * Creates an account; issue it keys with `herm.keys.create({ account_id, scopes })`.
   *
   * @example
   * const account = await herm.accounts.create({ name: 'Acme' });
   */
  create(body: AccountCreateParams, options?: RequestOptions): Promise<Account> {
    return this._client.post<Account>('/accounts', { ...options, body });
  }

  /**
   * Lists every account, newest first.
   *
   * @example
   * for await (const account of herm.accounts.list()) console.log(account.account_id, account.name);
   */
  list(params: AccountListParams = {}, options?: RequestOptions): PagePromise<Account> {
    return this._client.getAPIList<Account>('/accounts', { ...params }, options);
  }

  /**
   * @example
   * const account = await herm.accounts.get('acct_5Wq2Nc');
   */
  get(accountId: string, options?: RequestOptions): Promise<Account> {
    return this._client.get<Account>(`/accounts/${segment(accountId)}`, options);
  }

  /**
   * @example
   * const account = await herm.accounts.update('acct_5Wq2Nc', { name: 'Acme Inc.' });
   */
  update(accountId: string, body: AccountUpdateParams, options?: RequestOptions): Promise<Account> {
    return this._client.patch<Account>(`/accounts/${segment(accountId)}`, { ...options, body });
  }
}
