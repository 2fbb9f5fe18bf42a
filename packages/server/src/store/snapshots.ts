// Workspace snapshots kept when a deployment is deleted with retain_filesystem; the archive itself is a
// file in the data directory (snapshots/<id>.tar.gz), this table says whose it is and until when.
import type { Selectable } from 'kysely';
import type { Db, SnapshotsTable } from './database.ts';
import { pageNewestFirst, type Page, type PageRequest } from './pagination.ts';

export type SnapshotRecord = Selectable<SnapshotsTable>;

function fromRow(row: SnapshotRecord): SnapshotRecord {
  // PostgreSQL returns BIGINT columns as numbers already (see open-store.ts); SQLite may not.
  return {
    ...row,
    size_bytes: Number(row.size_bytes),
    content_bytes: row.content_bytes === null ? null : Number(row.content_bytes),
    created_at: Number(row.created_at),
    expires_at: Number(row.expires_at),
  };
}

export class SnapshotRepository {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async create(row: SnapshotRecord): Promise<SnapshotRecord> {
    await this.#db.insertInto('snapshots').values(row).execute();
    return row;
  }

  /** The account's snapshot, unless it has expired (expired ones wait only for the sweep). */
  async get(accountId: string, id: string, now: number): Promise<SnapshotRecord | undefined> {
    const row = await this.#db
      .selectFrom('snapshots')
      .selectAll()
      .where('id', '=', id)
      .where('account_id', '=', accountId)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return row && fromRow(row);
  }

  async list(accountId: string, filter: { customer_id?: string | undefined }, page: PageRequest, now: number): Promise<Page<SnapshotRecord>> {
    let query = this.#db.selectFrom('snapshots').selectAll().where('account_id', '=', accountId).where('expires_at', '>', now);
    if (filter.customer_id !== undefined) query = query.where('customer_id', '=', filter.customer_id);
    const result = await pageNewestFirst(query, 'snapshots', page);
    return { data: result.data.map(fromRow), next_cursor: result.next_cursor };
  }

  async listExpired(now: number, limit = 500): Promise<SnapshotRecord[]> {
    const rows = await this.#db.selectFrom('snapshots').selectAll().where('expires_at', '<=', now).limit(limit).execute();
    return rows.map(fromRow);
  }

  async delete(id: string): Promise<void> {
    await this.#db.deleteFrom('snapshots').where('id', '=', id).execute();
  }

  /** Records that `snapshotId` is to be restored into the workspace of `deploymentId` (done by provisioning). */
  async addRestore(deploymentId: string, snapshotId: string, now: number): Promise<void> {
    await this.#db.insertInto('deployment_restores').values({ deployment_id: deploymentId, snapshot_id: snapshotId, created_at: now }).execute();
  }

  /** The snapshot still to be restored into a deployment's workspace, if any. */
  async pendingRestore(deploymentId: string): Promise<string | undefined> {
    const row = await this.#db.selectFrom('deployment_restores').select('snapshot_id').where('deployment_id', '=', deploymentId).executeTakeFirst();
    return row?.snapshot_id;
  }

  async deleteRestore(deploymentId: string): Promise<void> {
    await this.#db.deleteFrom('deployment_restores').where('deployment_id', '=', deploymentId).execute();
  }

  /** Moves a snapshot's expiry (tests and operators). */
  async setExpiresAt(id: string, expiresAt: number): Promise<void> {
    await this.#db.updateTable('snapshots').set({ expires_at: expiresAt }).where('id', '=', id).execute();
  }
}
