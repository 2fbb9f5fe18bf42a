// The usage ledger (usage_records) and credit budgets (credit_budgets). A run's usage is written in the fenced
// commit that ends its step or the run (runs/run-journal.ts), together with the charge to its budgets, so a run
// lost to another node records nothing twice and a budget is never charged for usage that was not recorded.
import type { Db, Dialect } from '../store/database.ts';
import { query } from '../store/sql.ts';
import { randomBase62 } from '../util/ids.ts';
import { MICRO_CREDITS, priceMicro, type PriceTable } from './model-prices.ts';

/** Where a usage entry comes from: a run's model steps and tools, or a memory model call. */
export type UsageSource = 'run' | 'observer' | 'reflector';

/** One entry of usage, as it is measured. */
export interface UsageEntry {
  accountId: string;
  customerId: string;
  deploymentId: string;
  runId: string | null;
  source: UsageSource;
  /** The model of a model call; null for tool time. */
  model: string | null;
  inputTokens?: number;
  outputTokens?: number;
  cachedTokens?: number;
  modelCalls?: number;
  toolMs?: number;
  sandboxCpuMs?: number;
  at: number;
}

/** A budget: `customer_id` null is the account's own, charged for all its usage. */
export interface BudgetRecord {
  account_id: string;
  customer_id: string | null;
  credits: number;
  spent: number;
  remaining: number;
  created_at: number;
  updated_at: number;
}

export const USAGE_GROUPS = ['account', 'customer_id', 'deployment', 'day', 'model', 'source'] as const;
export type UsageGroup = (typeof USAGE_GROUPS)[number];

const GROUP_COLUMNS: Record<UsageGroup, string> = {
  account: 'account_id',
  customer_id: 'customer_id',
  deployment: 'deployment_id',
  day: 'day',
  model: 'model',
  source: 'source',
};

export interface UsageFilter {
  /** Undefined: every account (an admin key's view). */
  accountId?: string | undefined;
  customerId?: string | undefined;
  deploymentId?: string | undefined;
  /** Days, YYYY-MM-DD (UTC), both included. */
  startDay: string;
  endDay: string;
}

export interface UsageTotals {
  input_tokens: number;
  output_tokens: number;
  cached_tokens: number;
  model_calls: number;
  tool_seconds: number;
  sandbox_cpu_seconds: number;
  credits: number;
}

export type UsageRow = Partial<Record<'account_id' | 'customer_id' | 'deployment_id' | 'day' | 'model' | 'source', string | null>> & UsageTotals;

interface SumRow {
  input_tokens: number | string | null;
  output_tokens: number | string | null;
  cached_tokens: number | string | null;
  model_calls: number | string | null;
  tool_ms: number | string | null;
  sandbox_cpu_ms: number | string | null;
  credits_micro: number | string | null;
  [column: string]: unknown;
}

interface BudgetRow {
  account_id: string;
  customer_id: string;
  credits_micro: number | string;
  spent_micro: number | string;
  created_at: number | string;
  updated_at: number | string;
}

/** The account-wide budget's customer_id in the table (the primary key cannot hold NULL). */
const ACCOUNT_WIDE = '';

export function usageDay(time: number): string {
  return new Date(time).toISOString().slice(0, 10);
}

function credits(micro: number): number {
  return Math.round(micro) / MICRO_CREDITS;
}

function budgetFromRow(row: BudgetRow): BudgetRecord {
  const limit = Number(row.credits_micro);
  const spent = Number(row.spent_micro);
  return {
    account_id: row.account_id,
    customer_id: row.customer_id === ACCOUNT_WIDE ? null : row.customer_id,
    credits: credits(limit),
    spent: credits(spent),
    remaining: credits(Math.max(0, limit - spent)),
    created_at: Number(row.created_at),
    updated_at: Number(row.updated_at),
  };
}

/** What the `insufficient_credits` error says about a budget that ran out. */
export function describeBudget(budget: BudgetRecord): string {
  const owner = budget.customer_id === null ? `account ${budget.account_id}` : `customer_id "${budget.customer_id}" of account ${budget.account_id}`;
  return `the credit budget of ${owner} is used up (${budget.spent} of ${budget.credits} credits spent)`;
}

export class UsageRepository {
  readonly #db: Db;
  readonly #dialect: Dialect;

  constructor(db: Db, dialect: Dialect) {
    this.#db = db;
    this.#dialect = dialect;
  }

  /**
   * Records entries in `trx` (a run's fenced commit, or a transaction of its own) and charges their price to the
   * budgets of their account and customer. Entries with nothing measured are skipped.
   */
  async recordIn(trx: Db, entries: readonly UsageEntry[], prices: PriceTable): Promise<void> {
    for (const entry of entries) {
      const measured = (entry.inputTokens ?? 0) + (entry.outputTokens ?? 0) + (entry.modelCalls ?? 0) + (entry.toolMs ?? 0) + (entry.sandboxCpuMs ?? 0);
      if (measured === 0) continue;
      const price = priceMicro(prices, entry);
      await query(
        trx,
        this.#dialect,
        `INSERT INTO usage_records (id, account_id, customer_id, deployment_id, run_id, source, model, input_tokens, output_tokens,
          cached_tokens, model_calls, tool_ms, sandbox_cpu_ms, credits_micro, day, created_at)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
        [
          `usage_${randomBase62(20)}`,
          entry.accountId,
          entry.customerId,
          entry.deploymentId,
          entry.runId,
          entry.source,
          entry.model,
          Math.round(entry.inputTokens ?? 0),
          Math.round(entry.outputTokens ?? 0),
          Math.round(entry.cachedTokens ?? 0),
          Math.round(entry.modelCalls ?? 0),
          Math.round(entry.toolMs ?? 0),
          Math.round(entry.sandboxCpuMs ?? 0),
          price,
          usageDay(entry.at),
          entry.at,
        ],
      );
      if (price > 0) {
        await query(
          trx,
          this.#dialect,
          `UPDATE credit_budgets SET spent_micro = spent_micro + $3, updated_at = $4 WHERE account_id = $1 AND (customer_id = '' OR customer_id = $2)`,
          [entry.accountId, entry.customerId, price, entry.at],
        );
      }
    }
  }

  /** Records entries in a transaction of their own (memory model calls, which belong to no run). */
  async record(entries: readonly UsageEntry[], prices: PriceTable): Promise<void> {
    await this.#db.transaction().execute((trx) => this.recordIn(trx, entries, prices));
  }

  /** The budget that ran out for this account and customer (the customer's first), or undefined: runs may go on. */
  async exhaustedBudget(accountId: string, customerId: string): Promise<BudgetRecord | undefined> {
    const rows = await query<BudgetRow>(
      this.#db,
      this.#dialect,
      `SELECT account_id, customer_id, credits_micro, spent_micro, created_at, updated_at FROM credit_budgets
        WHERE account_id = $1 AND (customer_id = '' OR customer_id = $2) AND spent_micro >= credits_micro ORDER BY customer_id DESC LIMIT 1`,
      [accountId, customerId],
    );
    return rows[0] ? budgetFromRow(rows[0]) : undefined;
  }

  /** Sets a budget's credits (creating it with nothing spent); `resetSpent` starts its count again. */
  async setBudget(accountId: string, customerId: string | null, creditAmount: number, resetSpent: boolean, now: number): Promise<BudgetRecord> {
    const key = customerId ?? ACCOUNT_WIDE;
    const limit = Math.round(creditAmount * MICRO_CREDITS);
    const rows = await query<BudgetRow>(
      this.#db,
      this.#dialect,
      `INSERT INTO credit_budgets (account_id, customer_id, credits_micro, spent_micro, created_at, updated_at) VALUES ($1, $2, $3, 0, $4, $4)
        ON CONFLICT (account_id, customer_id) DO UPDATE SET credits_micro = $3, updated_at = $4,
          spent_micro = CASE WHEN $5 = 1 THEN 0 ELSE credit_budgets.spent_micro END
        RETURNING account_id, customer_id, credits_micro, spent_micro, created_at, updated_at`,
      [accountId, key, limit, now, resetSpent ? 1 : 0],
    );
    return budgetFromRow(rows[0]!);
  }

  /** Removes a budget: its usage is no longer limited. False when there was none. */
  async deleteBudget(accountId: string, customerId: string | null): Promise<boolean> {
    const rows = await query<{ account_id: string }>(
      this.#db,
      this.#dialect,
      `DELETE FROM credit_budgets WHERE account_id = $1 AND customer_id = $2 RETURNING account_id`,
      [accountId, customerId ?? ACCOUNT_WIDE],
    );
    return rows.length > 0;
  }

  /** The budgets of an account (every account's when undefined), account-wide first. */
  async listBudgets(accountId: string | undefined): Promise<BudgetRecord[]> {
    const rows = accountId
      ? await query<BudgetRow>(this.#db, this.#dialect, `SELECT account_id, customer_id, credits_micro, spent_micro, created_at, updated_at FROM credit_budgets WHERE account_id = $1 ORDER BY customer_id`, [accountId])
      : await query<BudgetRow>(this.#db, this.#dialect, `SELECT account_id, customer_id, credits_micro, spent_micro, created_at, updated_at FROM credit_budgets ORDER BY account_id, customer_id`, []);
    return rows.map(budgetFromRow);
  }

  /** Usage summed over the filter's days, one row per combination of the groups (one row in all without groups). */
  async aggregate(filter: UsageFilter, groups: readonly UsageGroup[]): Promise<UsageRow[]> {
    const conditions = ['day >= $1', 'day <= $2'];
    const parameters: unknown[] = [filter.startDay, filter.endDay];
    const where = (column: string, value: string | undefined) => {
      if (value === undefined) return;
      parameters.push(value);
      conditions.push(`${column} = $${parameters.length}`);
    };
    where('account_id', filter.accountId);
    where('customer_id', filter.customerId);
    where('deployment_id', filter.deploymentId);
    const columns = groups.map((group) => GROUP_COLUMNS[group]);
    const select = [
      ...columns,
      'SUM(input_tokens) AS input_tokens',
      'SUM(output_tokens) AS output_tokens',
      'SUM(cached_tokens) AS cached_tokens',
      'SUM(model_calls) AS model_calls',
      'SUM(tool_ms) AS tool_ms',
      'SUM(sandbox_cpu_ms) AS sandbox_cpu_ms',
      'SUM(credits_micro) AS credits_micro',
    ];
    const grouping = columns.length > 0 ? ` GROUP BY ${columns.join(', ')} ORDER BY ${columns.join(', ')}` : '';
    const rows = await query<SumRow>(this.#db, this.#dialect, `SELECT ${select.join(', ')} FROM usage_records WHERE ${conditions.join(' AND ')}${grouping}`, parameters);
    return rows
      .filter((row) => columns.length > 0 || row.input_tokens !== null)
      .map((row) => {
        const out: UsageRow = {
          input_tokens: Number(row.input_tokens ?? 0),
          output_tokens: Number(row.output_tokens ?? 0),
          cached_tokens: Number(row.cached_tokens ?? 0),
          model_calls: Number(row.model_calls ?? 0),
          tool_seconds: Number(row.tool_ms ?? 0) / 1000,
          sandbox_cpu_seconds: Number(row.sandbox_cpu_ms ?? 0) / 1000,
          credits: credits(Number(row.credits_micro ?? 0)),
        };
        for (const column of columns) (out as unknown as Record<string, unknown>)[column] = (row[column] as string | null) ?? null;
        return out;
      });
  }
}
