// /v1/deployments/:deployment_id/skills — the Skills API: add, list, get, replace and remove a live deployment's
// skills one at a time. The deployment's `skills` array shows the same skills (same ids); every write goes through
// DeploymentService, and applies to the deployment's next run.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { readFileSkill } from '../skills/run-skills.ts';
import { MAX_SKILLS, SKILLS_PATH, storedSkillDocument } from '../skills/skill-entries.ts';
import type { DeploymentRecord, SkillConfig, StoredSkill } from '../store/deployments.ts';
import { toIso } from '../util/time.ts';
import { ApiError, notFound } from './api-error.ts';
import { LEARNED_SKILLS_DIRECTORY } from '../dreams/dream-prompt.ts';
import { DreamBusyError } from '../dreams/dream-service.ts';
import type { LearnedSkillRecord } from '../dreams/dream-repository.ts';
import type { AppEnv } from './app-env.ts';
import { bearerSecurity, errorResponses, json, jsonBody, loadDeployment } from './route-helpers.ts';
import { ErrorResponse, idParam, SkillInput, skillSourceFields } from './schemas.ts';

const skillName = z.string().min(1).max(64).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must use letters, digits, ".", "_" or "-"');

const ReplaceSkillBody = z
  .discriminatedUnion('source', [
    z.strictObject({ name: skillName.optional(), source: z.literal('file'), path: skillSourceFields.file }),
    z.strictObject({ name: skillName.optional(), source: z.literal('inline'), content: skillSourceFields.inline }),
    z.strictObject({ name: skillName.optional(), source: z.literal('url'), url: skillSourceFields.url }),
  ])
  .openapi('ReplaceSkillRequest');

const Skill = z
  .object({
    skill_id: z.string(),
    name: z.string(),
    source: z
      .enum(['file', 'inline', 'url', 'learned'])
      .describe("learned: written by a dream for this customer (features.dreaming), in the workspace's learned-skills area; listed after the product's skills"),
    description: z
      .string()
      .nullable()
      .describe("The SKILL.md frontmatter's description: how the agent decides when the skill applies. null when a file skill cannot be read now"),
    path: z.string().optional().describe('file skills: the SKILL.md in the workspace'),
    url: z.string().optional().describe('url skills: where the SKILL.md was fetched from (at create and at each PUT)'),
    dream_id: z.string().optional().describe('learned skills: the dream that last wrote it (GET …/dreams/{dream_id} shows the change, and can roll it back)'),
    location: z.string().describe(`Where the agent reads it during a run, read-only: ${SKILLS_PATH}/<name>/SKILL.md`),
    unavailable_reason: z
      .string()
      .optional()
      .describe(
        "Why the skill cannot be used now (a file skill's file missing or unparsable; a url skill stored by an older version, until a PUT fetches it); " +
          'a run then goes on without it',
      ),
    created_at: z.string(),
  })
  .openapi('Skill');

const SkillWithContent = Skill.extend({
  content: z.string().nullable().describe('The full SKILL.md; for a file skill, as the workspace holds it now (null when it cannot be read)'),
}).openapi('SkillWithContent');

const SkillList = z.object({ data: z.array(Skill) }).openapi('SkillList');

const DeploymentParams = z.strictObject({ deployment_id: idParam('deployment_id', 'dep') });
const SkillParams = z.strictObject({ deployment_id: idParam('deployment_id', 'dep'), skill_id: idParam('skill_id', 'skl') });

const writeErrors = {
  ...errorResponses,
  422: { description: 'invalid_skill: the skill could not be fetched or parsed', content: { 'application/json': { schema: ErrorResponse } } },
} as const;

/** A skill with its description and, on request, its content; a file skill is read from the workspace now. */
async function describeSkill(c: Context<AppEnv>, deployment: DeploymentRecord, skill: StoredSkill) {
  let description: string | null = null;
  let content: string | null = null;
  let unavailable: string | undefined;
  if (skill.source !== 'file') {
    const stored = storedSkillDocument(skill);
    if ('reason' in stored) unavailable = stored.reason;
    else ({ description, content } = stored);
  } else {
    if (!deployment.sandbox.persistent_filesystem) {
      unavailable =
        'this deployment has no persistent workspace (sandbox.persistent_filesystem false): the file is read from each thread\'s own workspace when a run starts';
    } else {
      const services = c.get('services');
      try {
        const read = await readFileSkill(services.files, { deployment }, skill);
        if (read.ok) ({ description, content } = read);
        else unavailable = read.reason;
      } catch (error) {
        services.logger.warn({ err: error, deploymentId: deployment.id, skillId: skill.skill_id }, 'could not read a file skill');
        unavailable = 'the workspace could not be read right now; retry';
      }
    }
  }
  const metadata = {
    skill_id: skill.skill_id,
    name: skill.name,
    source: skill.source,
    description,
    ...(skill.source === 'file' ? { path: skill.path } : {}),
    ...(skill.source === 'url' ? { url: skill.url } : {}),
    location: `${SKILLS_PATH}/${skill.name}/SKILL.md`,
    ...(unavailable === undefined ? {} : { unavailable_reason: unavailable }),
    created_at: toIso(skill.created_at)!,
  };
  return { metadata, content };
}

function findSkill(deployment: DeploymentRecord, skillId: string): StoredSkill {
  const skill = deployment.skills.find((candidate) => candidate.skill_id === skillId);
  if (!skill) throw notFound('skill', skillId, 'skill_id');
  return skill;
}

/** A learned skill as the Skills API shows it (dreams/: the index a dream's end brought up to date). */
function describeLearnedSkill(skill: LearnedSkillRecord) {
  return {
    skill_id: skill.skill_id,
    name: skill.name,
    source: 'learned' as const,
    description: skill.description,
    path: `${LEARNED_SKILLS_DIRECTORY}/${skill.name}/SKILL.md`,
    ...(skill.dream_id ? { dream_id: skill.dream_id } : {}),
    location: `${SKILLS_PATH}/${skill.name}/SKILL.md`,
    created_at: toIso(skill.created_at)!,
  };
}

const learnedSkillReadOnly = (skillId: string) =>
  new ApiError('conflict', `${skillId} is a learned skill: dreams write it. Delete it, or add a product skill (which a learned one never overrides).`, 'skill_id');

/** The learned skill `skillId` of the deployment, if it is one (product skills are looked up first: ids never collide). */
async function learnedSkill(c: Context<AppEnv>, deployment: DeploymentRecord, skillId: string): Promise<LearnedSkillRecord | undefined> {
  if (deployment.skills.some((skill) => skill.skill_id === skillId)) return undefined;
  return (await c.get('services').dreams.learnedSkills(deployment)).find((skill) => skill.skill_id === skillId);
}

export function skillRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'post',
      path: '/deployments/{deployment_id}/skills',
      summary: 'Add a skill',
      description:
        `Adds a skill to a live deployment; its next run has it, no restart needed. Sources: \`file\` (name, path: a SKILL.md in the ` +
        'workspace; it may not exist yet, and is read at the start of each run), `inline` (name, content) and `url` (name, url: fetched now, ' +
        `at most 1 MiB and within HERM_SKILL_FETCH_TIMEOUT_MS). At most ${MAX_SKILLS} skills per deployment, with unique names (400). A skill ` +
        'that cannot be fetched or parsed is a 422 invalid_skill, and nothing is added. During runs the agent finds it read-only at ' +
        `${SKILLS_PATH}/<name>/SKILL.md; its system prompt lists only each skill's name and description.`,
      tags: ['Skills'],
      security: bearerSecurity,
      request: { params: DeploymentParams, ...jsonBody(SkillInput) },
      responses: { 201: json(Skill, 'The new skill'), ...writeErrors },
    }),
    async (c) => {
      const deployment = await loadDeployment(c, c.req.valid('param').deployment_id);
      const skill = await c.get('services').deployments.addSkill(deployment, c.req.valid('json') as SkillConfig);
      // As the deployment is now (its sandbox mounts /skills once it has a skill), for a file skill's read.
      return c.json((await describeSkill(c, { ...deployment, skills: [...deployment.skills, skill] }, skill)).metadata, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/deployments/{deployment_id}/skills',
      summary: "List a deployment's skills",
      description:
        "The deployment's skills in its order (the order the system prompt lists them in), with their descriptions; a file skill is read from the workspace now. " +
        'Skills dreams learned for this customer follow, with source `learned` (runs use them while features.dreaming is on).',
      tags: ['Skills'],
      security: bearerSecurity,
      request: { params: DeploymentParams },
      responses: { 200: json(SkillList, 'The skills'), ...errorResponses },
    }),
    async (c) => {
      const deployment = await loadDeployment(c, c.req.valid('param').deployment_id);
      const data = await Promise.all(deployment.skills.map(async (skill) => (await describeSkill(c, deployment, skill)).metadata));
      const learned = await c.get('services').dreams.learnedSkills(deployment);
      return c.json({ data: [...data, ...learned.map(describeLearnedSkill)] }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/deployments/{deployment_id}/skills/{skill_id}',
      summary: 'Get a skill',
      description:
        'The skill with its full SKILL.md `content`: as stored for inline skills, as last fetched for url skills, and as the workspace holds it ' +
        'now for file skills (a missing or unparsable file is `content: null` with `unavailable_reason`).',
      tags: ['Skills'],
      security: bearerSecurity,
      request: { params: SkillParams },
      responses: { 200: json(SkillWithContent, 'The skill and its content'), ...errorResponses },
    }),
    async (c) => {
      const { deployment_id, skill_id } = c.req.valid('param');
      const deployment = await loadDeployment(c, deployment_id);
      const learned = await learnedSkill(c, deployment, skill_id);
      if (learned) return c.json({ ...describeLearnedSkill(learned), content: learned.content }, 200);
      const { metadata, content } = await describeSkill(c, deployment, findSkill(deployment, skill_id));
      return c.json({ ...metadata, content }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/deployments/{deployment_id}/skills/{skill_id}',
      summary: 'Replace a skill',
      description:
        "Replaces the skill's source and content, keeping its id (and, unless `name` is given, its name). A url skill is fetched again. " +
        'Applies to the next run. A skill that cannot be fetched or parsed is a 422 invalid_skill, and the skill stays as it was.',
      tags: ['Skills'],
      security: bearerSecurity,
      request: { params: SkillParams, ...jsonBody(ReplaceSkillBody) },
      responses: { 200: json(Skill, 'The replaced skill'), ...writeErrors },
    }),
    async (c) => {
      const { deployment_id, skill_id } = c.req.valid('param');
      const deployment = await loadDeployment(c, deployment_id);
      if (await learnedSkill(c, deployment, skill_id)) throw learnedSkillReadOnly(skill_id);
      const current = findSkill(deployment, skill_id);
      const body = c.req.valid('json');
      const skill = await c.get('services').deployments.updateSkill(deployment, skill_id, { ...body, name: body.name ?? current.name } as SkillConfig);
      return c.json((await describeSkill(c, deployment, skill)).metadata, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/deployments/{deployment_id}/skills/{skill_id}',
      summary: 'Remove a skill',
      description:
        "Removes the skill from the deployment; its next run no longer lists it. A file skill's file stays in the workspace; a learned skill's " +
        'file goes from the learned-skills area.',
      tags: ['Skills'],
      security: bearerSecurity,
      request: { params: SkillParams },
      responses: { 200: json(z.object({ skill_id: z.string(), deleted: z.literal(true) }), 'Removed'), ...errorResponses },
    }),
    async (c) => {
      const { deployment_id, skill_id } = c.req.valid('param');
      const deployment = await loadDeployment(c, deployment_id);
      if (!deployment.skills.some((skill) => skill.skill_id === skill_id)) {
        // A learned skill: its file in the learned-skills area and its index entry go.
        const learned = await c
          .get('services')
          .dreams.deleteLearnedSkill(deployment, skill_id)
          .catch((error: unknown) => {
            throw error instanceof DreamBusyError ? new ApiError('conflict', error.message, 'skill_id') : error;
          });
        if (!learned) throw notFound('skill', skill_id, 'skill_id');
        return c.json({ skill_id: learned.skill_id, deleted: true as const }, 200);
      }
      const removed = await c.get('services').deployments.removeSkill(deployment, skill_id);
      return c.json({ skill_id: removed.skill_id, deleted: true as const }, 200);
    },
  );

  return app;
}
