// Turning a skill declaration into the entry a deployment stores: an `inline` skill is parsed, a `url` skill is
// fetched and parsed now (create, update, PUT; never when a run starts), a `file` skill's path is checked only
// (its file may not exist yet: the workspace starts empty; runs read it from the workspace).
import path from 'node:path';
import type { OutboundPolicy } from '../net/outbound-fetch.ts';
import type { SkillConfig, StoredSkill } from '../store/deployments.ts';
import { fetchSkill, parseSkill, SkillParseError } from './parse-skill.ts';

/** Skills a deployment may have. */
export const MAX_SKILLS = 20;

/** Where skills are visible inside every sandbox, read-only: `/skills/<name>/SKILL.md`. */
export const SKILLS_PATH = '/skills';

/** The declaration's path is not a path inside the workspace; `message` says so for the field. */
export class SkillPathError extends Error {}

/** A declaration could not become a skill: `field` is its own field at fault (`path`, `content`, `url`). */
export class SkillEntryError extends Error {
  readonly field: 'path' | 'content' | 'url';
  /** true: a path that is no workspace path (a 400); false: a skill that cannot be fetched or parsed (a 422). */
  readonly invalidPath: boolean;

  constructor(field: 'path' | 'content' | 'url', message: string, invalidPath: boolean) {
    super(message);
    this.name = 'SkillEntryError';
    this.field = field;
    this.invalidPath = invalidPath;
  }
}

/**
 * The workspace-relative form of a file skill's path ("skills/x/SKILL.md"; a leading "/workspace/" is dropped),
 * or a SkillPathError when it leaves the workspace.
 */
export function workspaceRelativeSkillPath(value: string): string {
  const relative = value.startsWith('/workspace/') ? value.slice('/workspace/'.length) : value;
  const normalized = path.posix.normalize(relative);
  if (relative.includes('\0') || path.posix.isAbsolute(relative) || normalized === '..' || normalized.startsWith('../') || normalized === '.') {
    throw new SkillPathError('must be a path inside the workspace, like "skills/x/SKILL.md"');
  }
  return normalized;
}

/** The skill's declaration alone, as the deployment's `skills` array shows it and as a PUT replaces it. */
export function skillDeclaration(skill: StoredSkill): SkillConfig {
  if (skill.source === 'file') return { name: skill.name, source: 'file', path: skill.path };
  if (skill.source === 'inline') return { name: skill.name, source: 'inline', content: skill.content };
  return { name: skill.name, source: 'url', url: skill.url };
}

/** The SKILL.md the server holds for an `inline` or `url` skill (a `file` skill lives in the workspace). */
export function storedSkillContent(skill: StoredSkill): string | undefined {
  if (skill.source === 'inline') return skill.content;
  if (skill.source === 'url') return skill.fetched_content;
  return undefined;
}

/**
 * The SKILL.md and description the server holds for an `inline` or `url` skill, or why it holds none: a url skill
 * stored before skills were fetched at create has nothing until it is updated. (Entries stored before descriptions
 * were kept are parsed now.)
 */
export function storedSkillDocument(skill: StoredSkill): { content: string; description: string } | { reason: string } {
  const content = storedSkillContent(skill);
  if (content === undefined) return { reason: 'it was stored before url skills were fetched when saved: update it (PUT) to fetch it' };
  if (skill.description !== undefined) return { content, description: skill.description };
  try {
    return { content, description: parseSkill(content).description };
  } catch (error) {
    if (error instanceof SkillParseError) return { reason: `it cannot be parsed: ${error.message}` };
    throw error;
  }
}

/**
 * The entry to store for `config`, keeping `identity` (a new skill's fresh id, or the id and creation time of the
 * skill it replaces). Throws SkillEntryError naming the declaration's field at fault.
 */
export async function loadSkillEntry(
  config: SkillConfig,
  identity: { skill_id: string; created_at: number },
  fetching: { policy: OutboundPolicy; timeoutMs?: number | undefined },
): Promise<StoredSkill> {
  try {
    if (config.source === 'file') {
      return { name: config.name, source: 'file', path: config.path, ...identity };
    }
    if (config.source === 'inline') {
      const parsed = parseSkill(config.content);
      return { name: config.name, source: 'inline', content: config.content, ...identity, description: parsed.description };
    }
    const fetched = await fetchSkill(config.url, fetching.policy, { timeoutMs: fetching.timeoutMs });
    return { name: config.name, source: 'url', url: config.url, ...identity, description: fetched.parsed.description, fetched_content: fetched.content };
  } catch (error) {
    if (error instanceof SkillParseError) throw new SkillEntryError(config.source === 'inline' ? 'content' : 'url', error.message, false);
    throw error;
  }
}

/** Checks a file skill's path before anything is fetched: a SkillEntryError (a 400) when it leaves the workspace. */
export function checkSkillPath(config: SkillConfig): void {
  if (config.source !== 'file') return;
  try {
    workspaceRelativeSkillPath(config.path);
  } catch (error) {
    if (error instanceof SkillPathError) throw new SkillEntryError('path', error.message, true);
    throw error;
  }
}
