// Usage and credits: what runs and memory model calls use, priced by the operator's table (HERM_MODEL_PRICES) and
// charged to credit budgets. Off by default: with no budget set nothing is ever refused.
import type { Logger } from 'pino';
import type { Db } from '../store/database.ts';
import type { DeploymentRecord } from '../store/deployments.ts';
import type { RunError } from '../store/runs.ts';
import type { PriceTable } from './model-prices.ts';
import { describeBudget, type BudgetRecord, type UsageEntry, type UsageRepository } from './usage-repository.ts';

/** The run error of a run ended by a budget that ran out (its next step did not start). */
export const INSUFFICIENT_CREDITS = 'insufficient_credits';

/** Where a run's journal records the usage of its steps (in the commit that ends the step or the run). */
export interface UsageLedger {
  recordIn(trx: Db, entries: readonly UsageEntry[]): Promise<void>;
}

/** What the token counts of a model call say, as the AI SDK reports them (LanguageModelUsage). */
export interface ModelCallUsage {
  inputTokens?: number | undefined;
  outputTokens?: number | undefined;
  cachedTokens?: number | undefined;
}

export class UsageService implements UsageLedger {
  readonly repository: UsageRepository;
  readonly prices: PriceTable;
  readonly #logger: Logger;

  constructor(options: { repository: UsageRepository; prices: PriceTable; logger: Logger }) {
    this.repository = options.repository;
    this.prices = options.prices;
    this.#logger = options.logger;
  }

  recordIn(trx: Db, entries: readonly UsageEntry[]): Promise<void> {
    return this.repository.recordIn(trx, entries, this.prices);
  }

  /** The budget of the deployment's account or customer that ran out, or undefined. */
  exhaustedBudget(deployment: Pick<DeploymentRecord, 'account_id' | 'customer_id'>): Promise<BudgetRecord | undefined> {
    return this.repository.exhaustedBudget(deployment.account_id, deployment.customer_id);
  }

  /** The run error that ends a run whose budget ran out, or undefined: it may take its next step. */
  async runStop(deployment: Pick<DeploymentRecord, 'account_id' | 'customer_id'>): Promise<RunError | undefined> {
    const budget = await this.exhaustedBudget(deployment);
    if (!budget) return undefined;
    return { type: INSUFFICIENT_CREDITS, message: `The run was stopped: ${describeBudget(budget)}.` };
  }

  /** A memory model call (observer or reflector): recorded in a transaction of its own; a failure is only logged. */
  async recordMemoryCall(deployment: DeploymentRecord, kind: 'observer' | 'reflector', usage: ModelCallUsage): Promise<void> {
    const entry: UsageEntry = {
      accountId: deployment.account_id,
      customerId: deployment.customer_id,
      deploymentId: deployment.id,
      runId: null,
      source: kind,
      model: deployment.model,
      inputTokens: usage.inputTokens ?? 0,
      outputTokens: usage.outputTokens ?? 0,
      cachedTokens: usage.cachedTokens ?? 0,
      modelCalls: 1,
      at: Date.now(),
    };
    await this.repository.record([entry], this.prices).catch((error: unknown) => {
      this.#logger.warn({ err: error, deploymentId: deployment.id, kind }, 'could not record the usage of a memory model call');
    });
  }
}
