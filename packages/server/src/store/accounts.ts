// Accounts and their API keys. Keys are stored as SHA-256 hashes; the secret is shown once.
import { createHash } from 'node:crypto';
import type { Selectable } from 'kysely';
import { newId, randomBase62 } from '../util/ids.ts';
import type { AccountsTable, ApiKeysTable, Db, Dialect } from './database.ts';
import { query } from './sql.ts';
import { pageNewestFirst, type Page, type PageRequest } from './pagination.ts';

export type AccountRecord = Selectable<AccountsTable>;
export type ApiKeyRecord = Omit<Selectable<ApiKeysTable>, 'scopes'> & { scopes: string[] };

export const DEFAULT_ACCOUNT_ID = 'acct_default';

/** The PostgreSQL channel on which a revoked key's id is announced, by the revoking transaction itself. */
export const KEYS_CHANNEL = 'herm_keys';

/**
 * One statement: the key is revoked and its id announced at commit to every node that LISTENs, whichever
 * process revoked it (a server, or `herm keys revoke`).
 */
const POSTGRES_REVOKE =
  'WITH revoked AS (UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING id) ' +
  'SELECT id, pg_notify($3, id) FROM revoked';

/** Id of the admin key the first start creates (AccountRepository.createFirstKey). */
export const FIRST_KEY_ID = 'key_first_start';

export function hashApiKey(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

function toKeyRecord(row: Selectable<ApiKeysTable>): ApiKeyRecord {
  return { ...row, scopes: JSON.parse(row.scopes) as string[] };
}

function newKeyRow(input: { accountId: string; scopes: string[]; name?: string | undefined; secret?: string }): {
  row: Selectable<ApiKeysTable>;
  secret: string;
} {
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
  return { row, secret };
}

export class AccountRepository {
  readonly #db: Db;
  readonly #dialect: Dialect;

  constructor(db: Db, dialect: Dialect) {
    this.#db = db;
    this.#dialect = dialect;
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

  /** Newest first. */
  async listAccounts(page: PageRequest): Promise<Page<AccountRecord>> {
    return pageNewestFirst(this.#db.selectFrom('accounts').selectAll(), 'accounts', page);
  }

  /** The account as renamed; undefined when there is none. */
  async renameAccount(id: string, name: string): Promise<AccountRecord | undefined> {
    await this.#db.updateTable('accounts').set({ name }).where('id', '=', id).execute();
    return this.getAccount(id);
  }

  async getKey(id: string): Promise<ApiKeyRecord | undefined> {
    const row = await this.#db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toKeyRecord(row) : undefined;
  }

  /** Newest first; only this account's keys when one is given. */
  async listKeysPage(accountId: string | undefined, page: PageRequest): Promise<Page<ApiKeyRecord>> {
    let query = this.#db.selectFrom('api_keys').selectAll();
    if (accountId) query = query.where('account_id', '=', accountId);
    const result = await pageNewestFirst(query, 'api_keys', page);
    return { data: result.data.map(toKeyRecord), next_cursor: result.next_cursor };
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
    const { row, secret } = newKeyRow(input);
    await this.#db.insertInto('api_keys').values(row).execute();
    return { key: toKeyRecord(row), secret };
  }

  /**
   * The first start's admin key, when there is no key at all; undefined otherwise. Nodes starting together on a
   * fresh database may all find none: the key has a fixed id, so exactly one insert lands and only the process
   * that made it gets (and shows) the secret.
   */
  async createFirstKey(input: { accountId: string; scopes: string[]; name: string }): Promise<string | undefined> {
    if ((await this.countKeys()) > 0) return undefined;
    const { row, secret } = newKeyRow(input);
    const inserted = await this.#db
      .insertInto('api_keys')
      .values({ ...row, id: FIRST_KEY_ID })
      .onConflict((conflict) => conflict.column('id').doNothing())
      .executeTakeFirst();
    return Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0 ? secret : undefined;
  }

  /** Makes sure a key supplied by configuration exists with these scopes (idempotent across restarts and nodes). */
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
    // Another node starting with the same HERM_ADMIN_KEY may insert it first: theirs stands.
    const { row } = newKeyRow(input);
    await this.#db
      .insertInto('api_keys')
      .values(row)
      .onConflict((conflict) => conflict.column('key_hash').doNothing())
      .execute();
    return (await this.findKeyBySecret(input.secret)) ?? toKeyRecord(row);
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

  /** Revokes a key; on PostgreSQL the same statement announces it on KEYS_CHANNEL. False when it was not active. */
  async revokeKey(id: string): Promise<boolean> {
    if (this.#dialect === 'postgres') {
      return (await query(this.#db, 'postgres', POSTGRES_REVOKE, [Date.now(), id, KEYS_CHANNEL])).length > 0;
    }
    const result = await this.#db
      .updateTable('api_keys')
      .set({ revoked_at: Date.now() })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Whether the key exists and is not revoked, read from the store (no cache). */
  async isKeyActive(id: string): Promise<boolean> {
    const row = await this.#db.selectFrom('api_keys').select('revoked_at').where('id', '=', id).executeTakeFirst();
    return row !== undefined && row.revoked_at === null;
  }

  /** Which of these keys are revoked (or gone). */
  async inactiveKeys(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const active = new Set<string>();
    for (let start = 0; start < ids.length; start += 500) {
      const rows = await this.#db
        .selectFrom('api_keys')
        .select('id')
        .where('id', 'in', ids.slice(start, start + 500))
        .where('revoked_at', 'is', null)
        .execute();
      for (const row of rows) active.add(row.id);
    }
    return ids.filter((id) => !active.has(id));
  }

  /**
   * A value that changes whenever a key is revoked (or un-revoked by ensureKey): how many are revoked, and when
   * the latest was. Cheap enough to poll: one aggregate over the keys table.
   */
  async revocationMark(): Promise<string> {
    const row = await this.#db
      .selectFrom('api_keys')
      .select((eb) => [eb.fn.countAll<number | string>().as('revoked'), eb.fn.max('revoked_at').as('latest')])
      .where('revoked_at', 'is not', null)
      .executeTakeFirst();
    return `${Number(row?.revoked ?? 0)}:${Number(row?.latest ?? 0)}`;
  }
}
