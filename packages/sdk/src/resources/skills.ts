import type { RequestOptions } from '../core/request-options.ts';
import { APIResource, segment } from '../core/resource.ts';
import type { Skill } from './deployments/deployments.ts';

/** A skill of a live deployment, as `herm.skills` shows it. */
export interface SkillMetadata {
  /** `skl_…`; the deployment's `skills` array shows the same id. */
  skill_id: string;
  name: string;
  /** `learned`: written by a dream for this customer (`features.dreaming`); listed after the product's skills, read-only. */
  source: 'file' | 'inline' | 'url' | 'learned';
  /**
   * The SKILL.md frontmatter's description: how the agent decides when the skill applies. `null` when a `file`
   * skill cannot be read now (see `unavailable_reason`).
   */
  description: string | null;
  /** `file` skills: the SKILL.md in the workspace. */
  path?: string;
  /** `url` skills: where the SKILL.md was fetched from (when added, and at each update). */
  url?: string;
  /** `learned` skills: the dream that last wrote it (`herm.dreams.get` shows the change). */
  dream_id?: string;
  /** Where the agent reads it during a run, read-only: `/skills/<name>/SKILL.md`. */
  location: string;
  /** Why the skill cannot be used now (a `file` skill's file missing or unparsable; an old `url` skill until an update fetches it); runs go on without it. */
  unavailable_reason?: string;
  created_at: string;
}

/** A skill with its full SKILL.md. */
export interface SkillWithContent extends SkillMetadata {
  /** The SKILL.md; for a `file` skill as the workspace holds it now, `null` when it cannot be read. */
  content: string | null;
}

/** A new skill: `file` (name, path), `inline` (name, content) or `url` (name, url). */
export type SkillAddParams = Skill;

/** The skill's new source and content; `name` defaults to the current one. A `url` is fetched again. */
export type SkillUpdateParams = Skill extends infer Each ? (Each extends Skill ? Omit<Each, 'name'> & { name?: string } : never) : never;

export interface SkillListResponse {
  data: SkillMetadata[];
}

export interface SkillDeleteResponse {
  skill_id: string;
  deleted: true;
}

/**
 * A live deployment's skills, one at a time: `herm.skills`. Changes apply to the deployment's next run. The agent
 * sees each skill's name and description in its system prompt and reads the full SKILL.md, read-only, at
 * `/skills/<name>/SKILL.md` when a task calls for it.
 */
export class Skills extends APIResource {
  /**
   * Adds a skill. One that cannot be fetched or parsed is a 422 `UnprocessableEntityError` (`invalid_skill`), and
   * nothing is added; at most 20 skills per deployment, with unique names (400 `BadRequestError`).
   *
   * @example
   * const skill = await herm.skills.add('dep_7xK9s2', {
   *   name: 'thumbnail-design',
   *   source: 'inline',
   *   content: '---\nname: thumbnail-design\ndescription: Design high-CTR video thumbnails\n---\n# Thumbnail Design\n...',
   * });
   */
  add(deploymentId: string, body: SkillAddParams, options?: RequestOptions): Promise<SkillMetadata> {
    return this._client.post<SkillMetadata>(`/deployments/${segment(deploymentId)}/skills`, { ...options, body });
  }

  /**
   * Lists the deployment's skills, in the order the agent's system prompt lists them.
   *
   * @example
   * const { data } = await herm.skills.list('dep_7xK9s2');
   */
  list(deploymentId: string, options?: RequestOptions): Promise<SkillListResponse> {
    return this._client.get<SkillListResponse>(`/deployments/${segment(deploymentId)}/skills`, options);
  }

  /**
   * Gets a skill with its full SKILL.md `content`.
   *
   * @example
   * const skill = await herm.skills.get('dep_7xK9s2', 'skl_7vB4n2');
   * console.log(skill.content);
   */
  get(deploymentId: string, skillId: string, options?: RequestOptions): Promise<SkillWithContent> {
    return this._client.get<SkillWithContent>(`/deployments/${segment(deploymentId)}/skills/${segment(skillId)}`, options);
  }

  /**
   * Replaces a skill's content (or source), keeping its id. For url skills this fetches the URL again.
   *
   * @example
   * await herm.skills.update('dep_7xK9s2', 'skl_7vB4n2', {
   *   source: 'inline',
   *   content: '---\nname: thumbnail-design\ndescription: Design high-CTR thumbnails for YouTube\n---\n# Thumbnail Design\n...',
   * });
   */
  update(deploymentId: string, skillId: string, body: SkillUpdateParams, options?: RequestOptions): Promise<SkillMetadata> {
    return this._client.put<SkillMetadata>(`/deployments/${segment(deploymentId)}/skills/${segment(skillId)}`, { ...options, body });
  }

  /**
   * Removes a skill from the deployment.
   *
   * @example
   * await herm.skills.delete('dep_7xK9s2', 'skl_7vB4n2');
   */
  delete(deploymentId: string, skillId: string, options?: RequestOptions): Promise<SkillDeleteResponse> {
    return this._client.delete<SkillDeleteResponse>(`/deployments/${segment(deploymentId)}/skills/${segment(skillId)}`, options);
  }

  /**
   * The same as `delete`.
   *
   * @example
   * await herm.skills.remove('dep_7xK9s2', 'skl_7vB4n2');
   */
  remove(deploymentId: string, skillId: string, options?: RequestOptions): Promise<SkillDeleteResponse> {
    return this.delete(deploymentId, skillId, options);
  }
}
