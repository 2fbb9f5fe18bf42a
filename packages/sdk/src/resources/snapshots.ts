import type { PagePromise } from '../core/pagination.ts';
import type { RequestOptions } from '../core/request-options.ts';
import { APIResource, segment } from '../core/resource.ts';

/** A compressed copy of a deleted deployment's workspace, kept until `expires_at`. */
export interface Snapshot {
  /** `snap_…`: pass it as `restore_snapshot_id` when creating a deployment. */
  snapshot_id: string;
  deployment_id: string;
  customer_id: string;
  /** Bytes of the compressed archive. */
  size_bytes: number;
  /** Disk space the workspace's files took (holes of sparse files take none); a restore needs a disk quota at least this big. null for old snapshots. */
  content_bytes: number | null;
  created_at: string;
  expires_at: string;
}

export interface SnapshotListParams {
  /** Only this customer's snapshots. */
  customer_id?: string;
  /** Page size, 1–100. Defaults to 20. */
  limit?: number;
  /** `next_cursor` of the previous page. */
  cursor?: string;
}

/** Workspace snapshots: `herm.snapshots`. */
export class Snapshots extends APIResource {
  /**
   * Lists snapshots, newest first.
   *
   * @example
   * for await (const snapshot of herm.snapshots.list({ customer_id: 'cus_123' })) console.log(snapshot.snapshot_id);
   */
  list(params: SnapshotListParams = {}, options?: RequestOptions): PagePromise<Snapshot> {
    return this._client.getAPIList<Snapshot>('/snapshots', { ...params }, options);
  }

  /**
   * Gets one snapshot.
   *
   * @example
   * const snapshot = await herm.snapshots.get('snap_4kQ9');
   */
  get(snapshotId: string, options?: RequestOptions): Promise<Snapshot> {
    return this._client.get<Snapshot>(`/snapshots/${segment(snapshotId)}`, options);
  }

  /**
   * Downloads the snapshot: a gzip-compressed tar of the workspace.
   *
   * @example
   * await fs.promises.writeFile('workspace.tar.gz', await herm.snapshots.download('snap_4kQ9'));
   */
  async download(snapshotId: string, options?: RequestOptions): Promise<Uint8Array> {
    const response = await this._client.requestBinary({ ...options, method: 'GET', path: `/snapshots/${segment(snapshotId)}/content` });
    return response.bytes;
  }
}
