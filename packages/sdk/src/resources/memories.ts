import type { PagePromise } from '../core/pagination.ts';
import type { RequestOptions } from '../core/request-options.ts';
import { APIResource, segment } from '../core/resource.ts';

/** How much a memory matters: when memory outgrows its part of the prompt, low-priority, older memories are left out first. */
export type MemoryPriority = 'high' | 'medium' | 'low';

/** Something the agent knows about its customer. */
export interface Memory {
  /** `mem_…` */
  memory_id: string;
  content: string;
  /** `agent`: an observation the agent recorded itself; `api`: a memory your product created. */
  source: 'agent' | 'api';
  priority: MemoryPriority;
  /** The memory's file in the workspace (`.herm/memory/…`), which the agent reads and edits with its file tools. */
  path: string;
  created_at: string;
  updated_at: string;
}

export interface MemoryListParams {
  /** Keeps the memories containing every word of it (case-insensitive). */
  q?: string;
  /** Page size, 1–100. Defaults to 20. */
  limit?: number;
  /** Pagination cursor from a previous response. */
  cursor?: string;
}

export interface MemoryCreateParams {
  content: string;
  /** Defaults to `medium`. */
  priority?: MemoryPriority;
}

/** Give `content`, `priority` or both. */
export interface MemoryUpdateParams {
  content?: string;
  priority?: MemoryPriority;
}

export interface MemoryDeleteResponse {
  memory_id: string;
  deleted: true;
}

/** One change of a memory. */
export interface MemoryVersion {
  /** `memv_…` */
  version_id: string;
  memory_id: string;
  action: 'created' | 'updated' | 'deleted';
  /** Who made the change: your product (`api`), the agent with its file tools, the `observer` after a run, the `reflector` condensing observations, a `dream` run. */
  actor: 'api' | 'agent' | 'observer' | 'reflector' | 'dream';
  /** The text before the change; `null` for a creation. */
  before: string | null;
  /** The text after the change; `null` for a deletion. */
  after: string | null;
  /** The thread an observation came from. */
  thread_id: string | null;
  created_at: string;
}

export interface MemoryVersionListParams {
  limit?: number;
  cursor?: string;
}

/**
 * What a deployment's agent knows about its customer: `herm.memories`. The agent writes memory itself (files in
 * `/workspace/.herm/memory/`, and observations recorded after its runs); these calls let your product read it, seed
 * it, correct it, or honour a deletion request. Changes show in the agent's next run.
 */
export class Memories extends APIResource {
  /**
   * Lists memories, newest first; `for await` goes through every page.
   *
   * @example
   * const { data } = await herm.memories.list('dep_7xK9s2', { q: 'brand' });
   */
  list(deploymentId: string, params: MemoryListParams = {}, options?: RequestOptions): PagePromise<Memory> {
    return this._client.getAPIList<Memory>(`/deployments/${segment(deploymentId)}/memories`, { ...params }, options);
  }

  /**
   * Creates a memory (source `api`), e.g. to seed durable context at onboarding.
   *
   * @example
   * const memory = await herm.memories.create('dep_7xK9s2', {
   *   content: "Acme's brand voice is playful but never sarcastic. Primary color #7C3AED.",
   * });
   */
  create(deploymentId: string, body: MemoryCreateParams, options?: RequestOptions): Promise<Memory> {
    return this._client.post<Memory>(`/deployments/${segment(deploymentId)}/memories`, { ...options, body });
  }

  /**
   * Gets a memory.
   *
   * @example
   * const memory = await herm.memories.get('dep_7xK9s2', 'mem_2dF8h1');
   */
  get(deploymentId: string, memoryId: string, options?: RequestOptions): Promise<Memory> {
    return this._client.get<Memory>(`/deployments/${segment(deploymentId)}/memories/${segment(memoryId)}`, options);
  }

  /**
   * Corrects a memory; the change is kept as a version.
   *
   * @example
   * await herm.memories.update('dep_7xK9s2', 'mem_2dF8h1', {
   *   content: 'End videos with the new Acme logo sting (v2, March 2026).',
   * });
   */
  update(deploymentId: string, memoryId: string, body: MemoryUpdateParams, options?: RequestOptions): Promise<Memory> {
    return this._client.patch<Memory>(`/deployments/${segment(deploymentId)}/memories/${segment(memoryId)}`, { ...options, body });
  }

  /**
   * Deletes a memory. The agent won't re-learn it unless the customer repeats it.
   *
   * @example
   * await herm.memories.delete('dep_7xK9s2', 'mem_2dF8h1');
   */
  delete(deploymentId: string, memoryId: string, options?: RequestOptions): Promise<MemoryDeleteResponse> {
    return this._client.delete<MemoryDeleteResponse>(`/deployments/${segment(deploymentId)}/memories/${segment(memoryId)}`, options);
  }

  /**
   * Lists a memory's versions, newest first: who changed it, when, before and after. A deleted memory keeps them.
   *
   * @example
   * const { data } = await herm.memories.versions('dep_7xK9s2', 'mem_2dF8h1');
   */
  versions(deploymentId: string, memoryId: string, params: MemoryVersionListParams = {}, options?: RequestOptions): PagePromise<MemoryVersion> {
    return this._client.getAPIList<MemoryVersion>(`/deployments/${segment(deploymentId)}/memories/${segment(memoryId)}/versions`, { ...params }, options);
  }
}
