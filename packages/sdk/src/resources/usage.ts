import type { RequestOptions } from '../core/request-options.ts';
import { APIResource } from '../core/resource.ts';

/** What `GET /v1/usage` can group by. */
export type UsageGroup = 'account' | 'customer_id' | 'deployment' | 'day' | 'model' | 'source';

/** Usage summed over a range of days. */
export interface UsageTotals {
  /** Input tokens the provider reported (cached ones included). */
  input_tokens: number;
  output_tokens: number;
  /** Input tokens read from the provider's prompt cache. */
  cached_tokens: number;
  /** Model calls: run steps, and memory observer/reflector calls. */
  model_calls: number;
  /** Wall time of tool calls. */
  tool_seconds: number;
  /** Sandbox time of built-in tool calls (wall time: no sandbox backend reports per-command CPU time). */
  sandbox_cpu_seconds: number;
  /** Credits charged by the operator's price table. */
  credits: number;
}

/** One row of a usage report: the totals of one combination of the groups asked for. */
export interface UsageRow extends UsageTotals {
  account_id?: string | null;
  customer_id?: string | null;
  deployment_id?: string | null;
  /** YYYY-MM-DD (UTC). */
  day?: string | null;
  /** null: tool time. */
  model?: string | null;
  /** `run`, `observer` or `reflector`. */
  source?: string | null;
}

export interface UsageReport {
  object: 'usage';
  start_date: string;
  end_date: string;
  group_by: UsageGroup[];
  data: UsageRow[];
  total: UsageTotals;
}

export interface UsageRetrieveParams {
  /** First day (YYYY-MM-DD, UTC, included); default: the first day of the current month. */
  start_date?: string;
  /** Last day (included); default: the last day of the current month. */
  end_date?: string;
  /** One row per combination of these; none: one row of totals. */
  group_by?: UsageGroup[];
  customer_id?: string;
  deployment_id?: string;
  /** Another account than the key's own takes the `admin` scope. */
  account_id?: string;
}

/** A credit budget: `customer_id` null is the account's own, charged for all its usage. */
export interface Budget {
  account_id: string;
  customer_id: string | null;
  credits: number;
  spent: number;
  remaining: number;
  /** New runs are refused (402 `insufficient_credits`) and runs in flight end at their next step. */
  exhausted: boolean;
  updated_at: string;
}

export interface BudgetSetParams {
  /** Default: the key's own account. */
  account_id?: string;
  /** A customer_id of the account; null or absent: the account as a whole. */
  customer_id?: string | null;
  /** Credits granted (the unit of the operator's price table). */
  credits: number;
  /** Start counting what is spent from zero again. */
  reset_spent?: boolean;
}

export interface BudgetKeyParams {
  account_id?: string;
  /** Absent: the account's own budget. */
  customer_id?: string;
}

export interface BudgetDeleteResponse {
  account_id: string;
  customer_id: string | null;
  deleted: true;
}

/** Credit budgets: `herm.usage.budgets`. Setting and removing one takes the `admin` scope. */
export class Budgets extends APIResource {
  /**
   * Lists the budgets of your account (every account's with the `admin` scope).
   *
   * @example
   * const { data } = await herm.usage.budgets.list();
   */
  list(params: { account_id?: string } = {}, options?: RequestOptions): Promise<{ data: Budget[] }> {
    return this._client.get<{ data: Budget[] }>('/budgets', { ...options, query: { ...params } });
  }

  /**
   * Grants an account, or one customer of it, a number of credits. Once used up, new runs are refused with a 402
   * `insufficient_credits` and runs in flight end at their next step.
   *
   * @example
   * await herm.usage.budgets.set({ customer_id: 'cus_acme', credits: 50 });
   */
  set(body: BudgetSetParams, options?: RequestOptions): Promise<Budget> {
    return this._client.put<Budget>('/budgets', { ...options, body });
  }

  /**
   * Removes a budget: the usage it covered is no longer limited.
   *
   * @example
   * await herm.usage.budgets.delete({ customer_id: 'cus_acme' });
   */
  delete(params: BudgetKeyParams = {}, options?: RequestOptions): Promise<BudgetDeleteResponse> {
    return this._client.delete<BudgetDeleteResponse>('/budgets', { ...options, query: { ...params } });
  }
}

/** Usage and credits: `herm.usage`. */
export class Usage extends APIResource {
  readonly budgets: Budgets = new Budgets(this._client);

  /**
   * Model tokens, tool and sandbox time and credits, summed over a range of days (default: the current calendar
   * month, UTC) and grouped as asked.
   *
   * @example
   * const usage = await herm.usage.retrieve({ group_by: ['customer_id', 'day'] });
   * for (const row of usage.data) console.log(row.customer_id, row.day, row.input_tokens, row.credits);
   */
  retrieve(params: UsageRetrieveParams = {}, options?: RequestOptions): Promise<UsageReport> {
    const { group_by, ...rest } = params;
    return this._client.get<UsageReport>('/usage', { ...options, query: { ...rest, ...(group_by ? { group_by: group_by.join(',') } : {}) } });
  }
}
