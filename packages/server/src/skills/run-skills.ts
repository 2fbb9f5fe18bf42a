// The skills of one run, prepared as it starts: progressive disclosure, as the Agent Skills format intends. The
// system prompt lists each skill's name and description only (runtime/prompt.ts); the full SKILL.md waits,
// read-only, at /skills/<name>/SKILL.md inside the sandbox, for the agent to open with read_file when a task
// calls for it.
//
// Where each SKILL.md comes from: `inline` from the deployment, `url` from what was fetched when the skill was
// stored (runs never fetch), `file` from the workspace, read now through the sandbox (WorkspaceFiles), so a
// symlink the agent planted cannot lead the server to a host file. A changed file is the new skill; a missing or
// unparsable one leaves that skill out of this run (logged, and noted in the prompt), never failing the run.
//
// The files are written into the skills directory of the run's workspace (DeploymentService.skillsDir: one per
// deployment, or per thread for session workspaces), which the sandboxes of that workspace mount read-only at
// /skills (SandboxSpec.readOnlyMounts). Files are replaced inside it, one
// atomic rename each, and the directory itself stays: a docker container's bind mount keeps seeing it.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { WorkspaceFileError } from '../files/workspace-file-error.ts';
import type { FilesWorkspace, WorkspaceFiles } from '../files/workspace-files.ts';
import type { DeploymentRecord, StoredSkill } from '../store/deployments.ts';
import { MAX_SKILL_BYTES, parseSkill, SkillParseError } from './parse-skill.ts';
import { SKILLS_PATH, storedSkillDocument, workspaceRelativeSkillPath } from './skill-entries.ts';

/** A skill as the run's system prompt lists it. */
export interface PromptSkill {
  name: string;
  description: string;
  /** The SKILL.md as the agent opens it: /skills/<name>/SKILL.md (the host path when unsandboxed). */
  location: string;
  /** `file` skills: the skill's own directory in the workspace, with any files it brings. */
  directory?: string;
  /** A skill a dream learned for this customer (dreams/), not one of the product's. */
  learned?: true;
}

/** What a run's system prompt says about skills. */
export interface PromptSkills {
  skills: PromptSkill[];
  /** Skills left out of this run, each with why (a file skill whose file is missing or unparsable). */
  unavailable: { name: string; reason: string }[];
}

/** Where a run's skills live and how they are read. */
export interface RunSkillsOptions {
  /** The host directory shown at /skills in the sandbox of this deployment and thread (DeploymentService.skillsDir). */
  skillsDir: (deployment: DeploymentRecord, threadId: string) => string;
  /** Workspace reads through the deployment's sandbox. */
  files: Pick<WorkspaceFiles, 'read'>;
  logger: Pick<Logger, 'warn'>;
  /**
   * The skills dreams learned for the deployment (dreams/: from the index, not the workspace), listed after the
   * product's; one named like a product skill is left out (a product skill is never overridden).
   */
  learnedSkills?: (deployment: DeploymentRecord) => Promise<{ name: string; description: string; content: string }[]>;
}

/** Description characters the prompt shows at most per skill (the Agent Skills format's own limit). */
const MAX_DESCRIPTION_CHARACTERS = 1024;
/** Skill names are checked by the API; anything else found in the directory is removed. */
const SKILL_DIRECTORY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** The SKILL.md of a `file` skill, read from the workspace now; or why it cannot be used. */
export async function readFileSkill(
  files: Pick<WorkspaceFiles, 'read'>,
  workspace: FilesWorkspace,
  skill: Extract<StoredSkill, { source: 'file' }>,
  signal?: AbortSignal,
): Promise<{ ok: true; content: string; description: string } | { ok: false; reason: string }> {
  let relative: string;
  try {
    relative = workspaceRelativeSkillPath(skill.path);
  } catch (error) {
    return { ok: false, reason: `its path ${JSON.stringify(skill.path)} ${(error as Error).message}` };
  }
  let content: string;
  try {
    const file = await files.read(workspace, relative, signal);
    if (file.bytes.length > MAX_SKILL_BYTES) return { ok: false, reason: `${relative} in the workspace is larger than ${MAX_SKILL_BYTES} bytes` };
    content = file.bytes.toString('utf8');
  } catch (error) {
    if (error instanceof WorkspaceFileError) {
      if (error.reason === 'not_found') return { ok: false, reason: `${relative} does not exist in the workspace` };
      return { ok: false, reason: error.message };
    }
    throw error;
  }
  try {
    return { ok: true, content, description: parseSkill(content).description };
  } catch (error) {
    if (error instanceof SkillParseError) return { ok: false, reason: `${relative} in the workspace cannot be parsed: ${error.message}` };
    throw error;
  }
}

/**
 * Prepares the skills of a run of `deployment` on `threadId` (whose workspace holds its file skills): writes every
 * usable SKILL.md into the skills directory and returns what the system prompt lists. `sandboxed` false (the
 * 'none' backend, without mount namespaces): the prompt names the host paths instead of /skills.
 */
export async function prepareRunSkills(
  deployment: DeploymentRecord,
  threadId: string,
  sandboxed: boolean,
  options: RunSkillsOptions,
  signal?: AbortSignal,
): Promise<PromptSkills> {
  const learned = (await options.learnedSkills?.(deployment)) ?? [];
  // With dreaming on there may be learned skills to take away (deleted, rolled back): the directory is tidied.
  if (deployment.skills.length === 0 && learned.length === 0 && !deployment.features.dreaming) return { skills: [], unavailable: [] };
  const workspace: FilesWorkspace = { deployment, threadId };
  const loaded = await Promise.all(
    deployment.skills.map(async (skill): Promise<{ skill: StoredSkill; content: string; description: string } | { skill: StoredSkill; reason: string }> => {
      if (skill.source === 'file') {
        try {
          const read = await readFileSkill(options.files, workspace, skill, signal);
          return read.ok ? { skill, content: read.content, description: read.description } : { skill, reason: read.reason };
        } catch (error) {
          signal?.throwIfAborted();
          // The sandbox failed (its message may name host paths): logged, and a plain reason for the prompt.
          options.logger.warn({ err: error, deploymentId: deployment.id, skill: skill.name }, 'could not read a file skill from the workspace');
          return { skill, reason: 'the workspace could not be read' };
        }
      }
      return { skill, ...storedSkillDocument(skill) };
    }),
  );
  const root = options.skillsDir(deployment, threadId);
  await createSkillsDirectory(root);
  const prompt: PromptSkills = { skills: [], unavailable: [] };
  const kept = new Set<string>();
  for (const entry of loaded) {
    const { name } = entry.skill;
    if ('reason' in entry || !SKILL_DIRECTORY_NAME.test(name)) {
      const reason = 'reason' in entry ? entry.reason : 'its name cannot be a directory name';
      options.logger.warn({ deploymentId: deployment.id, skill: name, skillId: entry.skill.skill_id, reason }, 'skill left out of the run');
      prompt.unavailable.push({ name, reason });
      continue;
    }
    await writeSkillFile(path.join(root, name), entry.content);
    kept.add(name);
    const location = sandboxed ? `${SKILLS_PATH}/${name}/SKILL.md` : path.join(root, name, 'SKILL.md');
    const description = oneLine(entry.description);
    prompt.skills.push(
      entry.skill.source === 'file'
        ? { name, description, location, directory: skillWorkspaceDirectory(entry.skill.path) }
        : { name, description, location },
    );
  }
  const productNames = new Set(deployment.skills.map((skill) => skill.name));
  for (const skill of learned) {
    if (productNames.has(skill.name) || !SKILL_DIRECTORY_NAME.test(skill.name)) continue;
    await writeSkillFile(path.join(root, skill.name), skill.content);
    kept.add(skill.name);
    const location = sandboxed ? `${SKILLS_PATH}/${skill.name}/SKILL.md` : path.join(root, skill.name, 'SKILL.md');
    prompt.skills.push({ name: skill.name, description: oneLine(skill.description), location, learned: true });
  }
  // Skills removed since (and leftovers of an interrupted write) go; the directory itself stays.
  for (const existing of await fs.readdir(root)) {
    if (!kept.has(existing)) await fs.rm(path.join(root, existing), { recursive: true, force: true });
  }
  return prompt;
}

/**
 * Creates a deployment's skills directory. Its files must be readable by the sandbox's user (another host user
 * when the server runs as root, a mapped one in a container), so they are world-readable; the directory of all
 * deployments' skills is not listable, so only someone who knows a deployment's id finds its skills.
 */
export function createSkillsDirectorySync(directory: string): void {
  mkdirSync(path.dirname(directory), { recursive: true, mode: 0o711 });
  mkdirSync(directory, { recursive: true, mode: 0o755 });
}

async function createSkillsDirectory(directory: string): Promise<void> {
  await fs.mkdir(path.dirname(directory), { recursive: true, mode: 0o711 });
  await fs.mkdir(directory, { recursive: true, mode: 0o755 });
}

/** Replaces `<directory>/SKILL.md` in one rename, unless it already holds `content`. */
async function writeSkillFile(directory: string, content: string): Promise<void> {
  const file = path.join(directory, 'SKILL.md');
  const current = await fs.readFile(file, 'utf8').catch(() => undefined);
  if (current === content) return;
  await fs.mkdir(directory, { recursive: true, mode: 0o755 });
  const temporary = path.join(directory, `.SKILL.md.${randomBytes(6).toString('hex')}`);
  await fs.writeFile(temporary, content, { mode: 0o644 });
  await fs.rename(temporary, file);
}

/** `/workspace/<the directory of the SKILL.md>/`, as the agent sees the workspace. */
function skillWorkspaceDirectory(skillPath: string): string {
  const directory = path.posix.dirname(workspaceRelativeSkillPath(skillPath));
  return directory === '.' ? '/workspace/' : `/workspace/${directory}/`;
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > MAX_DESCRIPTION_CHARACTERS ? `${flat.slice(0, MAX_DESCRIPTION_CHARACTERS - 1)}…` : flat;
}
