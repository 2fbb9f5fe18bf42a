import type { PagePromise } from '../core/pagination.ts';
import type { RequestOptions } from '../core/request-options.ts';
import { APIResource, segment } from '../core/resource.ts';

/**
 * A dream: idle-time self-learning of a deployment with `features.dreaming`. Once the deployment has been idle for a
 * while after its customer's runs, a dream run (trigger `dream`, on the deployment's dream thread) reviews the recent
 * conversations, consolidates memory and writes learned skills; what it changed is listed and can be rolled back.
 */
export interface Dream {
  /** `drm_…` */
  dream_id: string;
  deployment_id: string;
  /** The dream's run: its events are on the deployment's stream. */
  run_id: string;
  thread_id: string;
  /** `failed`: its run ended in error (stopped by a run of the customer, for one); what it changed is still listed. */
  status: 'running' | 'completed' | 'failed' | 'rolled_back';
  /** `idle`: the deployment was idle long enough; `manual`: `herm.dreams.create`. */
  reason: 'idle' | 'manual';
  /** `null` while it runs. */
  memories_changed: number | null;
  /** `null` while it runs. */
  skills_changed: number | null;
  error: string | null;
  created_at: string;
  completed_at: string | null;
  rolled_back_at: string | null;
}

/** One change a dream made: a memory, or a learned skill (`skipped`: written but not taken, `reason` says why). */
export interface DreamChange {
  kind: 'memory' | 'skill';
  action: 'created' | 'updated' | 'deleted' | 'skipped';
  /** `memory`: the memory changed. */
  memory_id?: string;
  priority?: 'high' | 'medium' | 'low';
  /** `skill`: the learned skill's name, and its id in `herm.skills`. */
  name?: string;
  skill_id?: string;
  /** The text before the dream; `null` when it did not exist. */
  before?: string | null;
  /** The text after it; `null` when the dream deleted it. */
  after: string | null;
  reason?: string;
}

/** A dream with what it changed. */
export interface DreamWithChanges extends Dream {
  /** `null` while it runs. */
  changes: DreamChange[] | null;
}

export interface DreamListParams {
  /** Page size, 1–100. Defaults to 20. */
  limit?: number;
  cursor?: string;
}

/** A deployment's dreams: `herm.dreams`. */
export class Dreams extends APIResource {
  /**
   * Lists the deployment's dreams, newest first.
   *
   * @example
   * for await (const dream of herm.dreams.list('dep_7xK9s2')) console.log(dream.created_at, dream.status);
   */
  list(deploymentId: string, params: DreamListParams = {}, options?: RequestOptions): PagePromise<Dream> {
    return this._client.getAPIList<Dream>(`/deployments/${segment(deploymentId)}/dreams`, { ...params }, options);
  }

  /**
   * Dreams now instead of waiting for the deployment to be idle. A 409 `ConflictError` while a run is active on the
   * deployment, or with `features.dreaming` off.
   *
   * @example
   * const dream = await herm.dreams.create('dep_7xK9s2');
   */
  create(deploymentId: string, options?: RequestOptions): Promise<Dream> {
    return this._client.post<Dream>(`/deployments/${segment(deploymentId)}/dreams`, options);
  }

  /**
   * Gets a dream with what it changed, before and after.
   *
   * @example
   * const dream = await herm.dreams.get('dep_7xK9s2', 'drm_9aQ2xW');
   * for (const change of dream.changes ?? []) console.log(change.kind, change.action, change.after);
   */
  get(deploymentId: string, dreamId: string, options?: RequestOptions): Promise<DreamWithChanges> {
    return this._client.get<DreamWithChanges>(`/deployments/${segment(deploymentId)}/dreams/${segment(dreamId)}`, options);
  }

  /**
   * Rolls a dream back: every memory and learned skill it changed is put back. All or nothing: a 409
   * `ConflictError` names what changed since (roll back later dreams first).
   *
   * @example
   * await herm.dreams.rollback('dep_7xK9s2', 'drm_9aQ2xW');
   */
  rollback(deploymentId: string, dreamId: string, options?: RequestOptions): Promise<DreamWithChanges> {
    return this._client.post<DreamWithChanges>(`/deployments/${segment(deploymentId)}/dreams/${segment(dreamId)}/rollback`, options);
  }
}
