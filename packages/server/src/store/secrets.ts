// Connector secrets: stored encrypted, referenced from deployments by their sec_ id.
import type { Selectable } from 'kysely';
import { newId } from '../util/ids.ts';
import type { Db, SecretsTable } from './database.ts';
import { pageNewestFirst, type Page, type PageRequest } from './pagination.ts';

export type SecretRecord = Selectable<SecretsTable>;

/** The hosts of a stored secret (`allowed_hosts`, a JSON array); none when unreadable. */
export function allowedHostsOf(record: Pick<SecretRecord, 'allowed_hosts'>): string[] {
  try {
    const hosts = JSON.parse(record.allowed_hosts ?? '[]') as unknown;
    return Array.isArray(hosts) ? hosts.filter((host): host is string => typeof host === 'string') : [];
  } catch {
    return [];
  }
}

export class SecretRepository {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async create(accountId: string, name: string, ciphertext: string, allowedHosts: readonly string[] = []): Promise<SecretRecord> {
    const row = { id: newId('secret'), account_id: accountId, name, ciphertext, allowed_hosts: JSON.stringify(allowedHosts), created_at: Date.now(), deleted_at: null };
    await this.#db.insertInto('secrets').values(row).execute();
    return row;
  }

  async get(accountId: string, id: string): Promise<SecretRecord | undefined> {
    return this.#db
      .selectFrom('secrets')
      .selectAll()
      .where('id', '=', id)
      .where('account_id', '=', accountId)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
  }

  async list(accountId: string, page: PageRequest): Promise<Page<SecretRecord>> {
    const query = this.#db
      .selectFrom('secrets')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('deleted_at', 'is', null);
    return pageNewestFirst(query, 'secrets', page);
  }

  /** The ids among `ids` that do not name a live secret of this account. */
  async missing(accountId: string, ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await this.#db
      .selectFrom('secrets')
      .select('id')
      .where('account_id', '=', accountId)
      .where('deleted_at', 'is', null)
      .where('id', 'in', ids)
      .execute();
    const found = new Set(rows.map((row) => row.id));
    return ids.filter((id) => !found.has(id));
  }

  async getMany(accountId: string, ids: string[]): Promise<SecretRecord[]> {
    if (ids.length === 0) return [];
    return this.#db
      .selectFrom('secrets')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('deleted_at', 'is', null)
      .where('id', 'in', ids)
      .execute();
  }

  /** Replaces the value and/or the hosts of a live secret; the record as it is now, or undefined when there is none. */
  async update(accountId: string, id: string, changes: { ciphertext?: string; allowedHosts?: readonly string[] }): Promise<SecretRecord | undefined> {
    const set: { ciphertext?: string; allowed_hosts?: string } = {};
    if (changes.ciphertext !== undefined) set.ciphertext = changes.ciphertext;
    if (changes.allowedHosts !== undefined) set.allowed_hosts = JSON.stringify(changes.allowedHosts);
    if (Object.keys(set).length > 0) {
      await this.#db.updateTable('secrets').set(set).where('id', '=', id).where('account_id', '=', accountId).where('deleted_at', 'is', null).execute();
    }
    return this.get(accountId, id);
  }

  async delete(accountId: string, id: string): Promise<boolean> {
    const result = await this.#db
      .updateTable('secrets')
      .set({ deleted_at: Date.now() })
      .where('id', '=', id)
      .where('account_id', '=', accountId)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }
}
