// Accounts and their API keys. Keys are stored as SHA-256 hashes; the secret is shown once.
import { createHash } from 'node:crypto';
import type { Selectable } from 'kysely';
import { newId, randomBase62 } from '../util/ids.ts';
import type { AccountsTable, ApiKeysTable, Db } from './database.ts';

export type AccountRecord = Selectable<AccountsTable>;
export type ApiKeyRecord = Omit<Selectable<ApiKeysTable>, 'scopes'> & { scopes: string[] };

export const DEFAULT_ACCOUNT_ID = 'acct_default';

export function hashApiKey(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

function toKeyRecord(row: Selectable<ApiKeysTable>): ApiKeyRecord {
  return { ...row, scopes: JSON.parse(row.scopes) as string[] };
}

export class AccountRepository {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async ensureAccount(id: string, name: string): Promise<AccountRecord> {
    const existing = await this.#db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirst();
    if (existing) return existing;
    const row = { id, name, created_at: Date.now() };
    await this.#db.insertInto('accounts').values(row).onConflict((oc) => oc.column('id').doNothing()).execute();
    return row;
  }

  async createAccount(name: string): Promise<AccountRecord> {
    const row = { id: newId('account'), name, created_at: Date.now() };
    await this.#db.insertInto('accounts').values(row).execute();
    return row;
  }

  async getAccount(id: string): Promise<AccountRecord | undefined> {
    return this.#db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async countKeys(): Promise<number> {
    const row = await this.#db
      .selectFrom('api_keys')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  /** Creates a key and returns its secret, which is not stored anywhere. */
  async createKey(input: { accountId: string; scopes: string[]; name?: string | undefined; secret?: string }): Promise<{
    key: ApiKeyRecord;
    secret: string;
  }> {
    const secret = input.secret ?? `herm_sk_${randomBase62(40)}`;
    const row = {
      id: newId('apiKey'),
      account_id: input.accountId,
      name: input.name ?? null,
      key_hash: hashApiKey(secret),
      key_hint: `${secret.slice(0, 8)}…${secret.slice(-4)}`,
      scopes: JSON.stringify(input.scopes),
      created_at: Date.now(),
      last_used_at: null,
      revoked_at: null,
    };
    await this.#db.insertInto('api_keys').values(row).execute();
    return { key: toKeyRecord(row), secret };
  }

  /** Makes sure a key supplied by configuration exists with these scopes (idempotent across restarts). */
  async ensureKey(input: { accountId: string; scopes: string[]; name: string; secret: string }): Promise<ApiKeyRecord> {
    const existing = await this.findKeyBySecret(input.secret);
    if (existing) {
      await this.#db
        .updateTable('api_keys')
        .set({ scopes: JSON.stringify(input.scopes), revoked_at: null })
        .where('id', '=', existing.id)
        .execute();
      return { ...existing, scopes: input.scopes, revoked_at: null };
    }
    return (await this.createKey(input)).key;
  }

  async findKeyBySecret(secret: string): Promise<ApiKeyRecord | undefined> {
    const row = await this.#db
      .selectFrom('api_keys')
      .selectAll()
      .where('key_hash', '=', hashApiKey(secret))
      .executeTakeFirst();
    return row ? toKeyRecord(row) : undefined;
  }

  async listKeys(accountId?: string): Promise<ApiKeyRecord[]> {
    let query = this.#db.selectFrom('api_keys').selectAll().orderBy('created_at', 'asc');
    if (accountId) query = query.where('account_id', '=', accountId);
    return (await query.execute()).map(toKeyRecord);
  }

  async revokeKey(id: string): Promise<boolean> {
    const result = await this.#db
      .updateTable('api_keys')
      .set({ revoked_at: Date.now() })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
}
