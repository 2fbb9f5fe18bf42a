// Accounts, API keys and credit budgets managed by an admin key (the /v1/accounts, /v1/keys and /v1/budgets routes,
// the CLI's --api mode through them): each action and its audit entry commit in one transaction, so the log misses none. The entry's summary is
// redacted: names, scopes and the key's hint, never its secret or hash.
import type { AccountRecord, ApiKeyRecord } from '../store/accounts.ts';
import { AccountRepository } from '../store/accounts.ts';
import { AuditLogRepository, type AuditAction } from '../store/audit-log.ts';
import type { Store } from '../store/store.ts';
import type { Db } from '../store/database.ts';
import type { QuotaService } from '../quotas/quota-service.ts';
import type { QuotaOverridesPatch } from '../quotas/quota-settings.ts';
import { UsageRepository, type BudgetRecord } from '../usage/usage-repository.ts';

/** Who acts: the admin key of the request and the request's id, or the server's command line (keyId null). */
export interface Actor {
  keyId: string | null;
  accountId: string | null;
  requestId: string | null;
}

/** The actor of `herm keys` run against the database: the operator at the server's command line. */
export const COMMAND_LINE_ACTOR: Actor = { keyId: null, accountId: null, requestId: null };

export class AccountAdministration {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  async createAccount(actor: Actor, name: string): Promise<AccountRecord> {
    const account = await this.#audited(actor, 'account.created', async (accounts) => {
      const created = await accounts.createAccount(name);
      return { result: created, target: { type: 'account', id: created.id, accountId: created.id }, summary: { name } };
    });
    return account!;
  }

  /** Undefined when there is no such account. */
  async renameAccount(actor: Actor, id: string, name: string): Promise<AccountRecord | undefined> {
    return this.#audited(actor, 'account.updated', async (accounts) => {
      const before = await accounts.getAccount(id);
      if (!before) return undefined;
      const account = (await accounts.renameAccount(id, name))!;
      return { result: account, target: { type: 'account', id, accountId: id }, summary: { name: { from: before.name, to: name } } };
    });
  }

  /**
   * Changes the account's quota overrides (null: back to the server's default); undefined when there is no such
   * account. Logged as account.updated with the overrides before and after.
   */
  async setQuotas(actor: Actor, id: string, patch: QuotaOverridesPatch, quotas: QuotaService): Promise<AccountRecord | undefined> {
    const account = await this.#audited(actor, 'account.updated', async (accounts, trx) => {
      const account = await accounts.getAccount(id);
      if (!account) return undefined;
      const before = await quotas.overrides(id, trx);
      const after = await quotas.setOverrides(id, patch, trx);
      return { result: account, target: { type: 'account', id, accountId: id }, summary: { quotas: { from: before, to: after } } };
    });
    // Dropped again after the commit: a request between the write and the commit must not keep the old ones cached.
    quotas.forget(id);
    return account;
  }

  /** The key and its secret (shown once, kept nowhere); undefined when the account does not exist. */
  async createKey(
    actor: Actor,
    input: { accountId: string; scopes: string[]; name?: string | undefined },
  ): Promise<{ key: ApiKeyRecord; secret: string } | undefined> {
    return this.#audited(actor, 'key.created', async (accounts) => {
      if (!(await accounts.getAccount(input.accountId))) return undefined;
      const created = await accounts.createKey(input);
      const { key } = created;
      return {
        result: created,
        target: { type: 'api_key', id: key.id, accountId: key.account_id },
        summary: { name: key.name, scopes: key.scopes, key_hint: key.key_hint },
      };
    });
  }

  /**
   * Revokes a key (on PostgreSQL the same statement announces it to every node). `revoked` is false when it
   * already was (nothing is logged then); undefined when there is no such key.
   */
  async revokeKey(actor: Actor, id: string): Promise<{ key: ApiKeyRecord; revoked: boolean } | undefined> {
    let already: ApiKeyRecord | undefined;
    const result = await this.#audited(actor, 'key.revoked', async (accounts) => {
      const key = await accounts.getKey(id);
      if (!key) return undefined;
      if (key.revoked_at !== null || !(await accounts.revokeKey(id))) {
        already = key;
        return undefined;
      }
      const revoked = (await accounts.getKey(id))!;
      return {
        result: revoked,
        target: { type: 'api_key', id, accountId: key.account_id },
        summary: { name: key.name, scopes: key.scopes, key_hint: key.key_hint },
      };
    });
    if (result) return { key: result, revoked: true };
    return already ? { key: already, revoked: false } : undefined;
  }

  /**
   * Sets a credit budget of an account (customerId null: the account's own) and logs budget.set with the credits
   * before (null: there was none) and after; undefined when there is no such account.
   */
  async setBudget(
    actor: Actor,
    input: { accountId: string; customerId: string | null; credits: number; resetSpent: boolean },
  ): Promise<BudgetRecord | undefined> {
    return this.#audited(actor, 'budget.set', async (accounts, trx) => {
      if (!(await accounts.getAccount(input.accountId))) return undefined;
      const budgets = new UsageRepository(trx, this.#store.dialect);
      const before = (await budgets.listBudgets(input.accountId)).find((budget) => budget.customer_id === input.customerId);
      const budget = await budgets.setBudget(input.accountId, input.customerId, input.credits, input.resetSpent, Date.now());
      return {
        result: budget,
        target: { type: 'account', id: input.accountId, accountId: input.accountId },
        summary: { customer_id: input.customerId, credits: { from: before?.credits ?? null, to: budget.credits }, reset_spent: input.resetSpent },
      };
    });
  }

  /** Removes a credit budget and logs budget.deleted with its credits; false when there was none (nothing is logged). */
  async deleteBudget(actor: Actor, accountId: string, customerId: string | null): Promise<boolean> {
    const deleted = await this.#audited(actor, 'budget.deleted', async (_accounts, trx) => {
      const budgets = new UsageRepository(trx, this.#store.dialect);
      const before = (await budgets.listBudgets(accountId)).find((budget) => budget.customer_id === customerId);
      if (!before || !(await budgets.deleteBudget(accountId, customerId))) return undefined;
      return {
        result: true,
        target: { type: 'account', id: accountId, accountId },
        summary: { customer_id: customerId, credits: { from: before.credits, to: null }, spent: before.spent },
      };
    });
    return deleted ?? false;
  }

  /** Runs an action and records it in one transaction; an action that returns undefined did nothing and is not logged. */
  async #audited<T>(
    actor: Actor,
    action: AuditAction,
    work: (accounts: AccountRepository, trx: Db) => Promise<
      { result: T; target: { type: 'account' | 'api_key'; id: string; accountId: string }; summary: Record<string, unknown> } | undefined
    >,
  ): Promise<T | undefined> {
    const dialect = this.#store.dialect;
    return this.#store.db.transaction().execute(async (trx) => {
      const done = await work(new AccountRepository(trx, dialect), trx);
      if (!done) return undefined;
      await new AuditLogRepository(trx).record({
        actorKeyId: actor.keyId,
        actorAccountId: actor.accountId,
        action,
        targetType: done.target.type,
        targetId: done.target.id,
        targetAccountId: done.target.accountId,
        requestId: actor.requestId,
        summary: done.summary,
      });
      return done.result;
    });
  }
}
