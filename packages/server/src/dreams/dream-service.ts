// Dreaming (features.dreaming): idle-time self-learning, as Letta's sleep-time agents, Claude's Dreams and Hermes
// Agent's curator do it. When a deployment has been idle for HERM_DREAM_IDLE_MS after activity, a dream run reviews
// the conversations since the last dream and the memory, consolidates the memory (its files), and writes or sharpens
// learned skills in the workspace's learned-skills area. A dream is an ordinary run with trigger "dream" on the
// deployment's dream thread, so its tokens, tool calls and status stream like any run's, and its model calls are the
// deployment's usage.
//
// The promises, and where each is kept:
// - Once per idle period, on one node: the claim (dream_state.dreamed_through moved to the activity it covers), the
//   dream's record, its run and the `dream_started` event commit together (dream-repository.ts).
// - Never while a run of the customer is active: none may be active when the dream starts (checked in that commit),
//   and a run of the customer that starts during a dream cancels it (runStarting).
// - Reviewable, and undone on request: the dream's record keeps the memory and learned skills it started from; when
//   its run ends, what differs is recorded as its changes (`dream_completed`), and rollback puts each back, unless
//   something changed it since (then nothing is rolled back, and the conflict names what).
// - The product's skills are never overwritten: they are not in the workspace's learned-skills area, and a learned
//   skill named like one of them is not indexed (the dream's changes list it as skipped).
import type { Logger } from 'pino';
import type { EventLog, JobOutcome } from '../events/event-log.ts';
import { WorkspaceFileError } from '../files/workspace-file-error.ts';
import type { WorkspaceFiles } from '../files/workspace-files.ts';
import type { MemoryRecord } from '../memory/memory-file.ts';
import { MemoryConflictError, type MemoryService } from '../memory/memory-service.ts';
import { QuotaExceededError, type QuotaService } from '../quotas/quota-service.ts';
import type { RunManager } from '../runs/run-manager.ts';
import type { UsageService } from '../usage/usage-service.ts';
import { MAX_SKILL_BYTES, parseSkill, SkillParseError } from '../skills/parse-skill.ts';
import type { DeploymentRecord } from '../store/deployments.ts';
import type { NewEvent } from '../store/events.ts';
import type { Page, PageRequest } from '../store/pagination.ts';
import type { RunRecord } from '../store/runs.ts';
import type { Store } from '../store/store.ts';
import { newId } from '../util/ids.ts';
import type { Clock } from '../util/time.ts';
import { DREAM_THREAD_TITLE, dreamPrompt, LEARNED_SKILLS_DIRECTORY, reviewWindow } from './dream-prompt.ts';
import type { DreamChange, DreamReason, DreamRecord, LearnedSkillRecord } from './dream-repository.ts';

export interface DreamSettings {
  /** HERM_DREAM_IDLE_MS: how long a deployment is idle after activity before it dreams. */
  idleMs: number;
  /** HERM_DREAM_REVIEW_TOKENS × 4: characters of conversation a dream reviews at most (the newest). */
  reviewCharacters: number;
}

export interface DreamServiceOptions {
  store: Store;
  events: EventLog;
  runs: Pick<RunManager, 'startTaken' | 'cancel' | 'draining'>;
  memory: Pick<MemoryService, 'all' | 'revert'>;
  files: Pick<WorkspaceFiles, 'list' | 'read' | 'write' | 'delete'>;
  nodeId: string;
  leaseMs: number;
  clock: Clock;
  logger: Logger;
  settings: DreamSettings;
  quotas?: QuotaService | undefined;
  /** Credit budgets (usage/): an idle period whose account or customer has used up its budget goes without a dream. */
  usage?: Pick<UsageService, 'exhaustedBudget'> | undefined;
}

/** Messages a dream reads at most (the newest), before the character budget. */
const REVIEW_MESSAGES = 400;
/** Learned skills a deployment keeps at most; more files in the area are left out (and listed as skipped). */
export const MAX_LEARNED_SKILLS = 50;
const SKILL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The deployment cannot dream: features.dreaming off, or no persistent workspace to keep what a dream learns. */
export class DreamingDisabledError extends Error {
  /** The deployment field that says so. */
  readonly field: 'features.dreaming' | 'sandbox.persistent_filesystem';

  constructor(field: 'features.dreaming' | 'sandbox.persistent_filesystem') {
    super(
      field === 'features.dreaming'
        ? 'Dreaming is turned off for this deployment (features.dreaming is false): turn it on to dream.'
        : 'This deployment has no persistent workspace (sandbox.persistent_filesystem is false): a dream would keep nothing it learns.',
    );
    this.name = 'DreamingDisabledError';
    this.field = field;
  }
}

/** A dream cannot start now: a run is active on the deployment (a dream never runs beside the customer's). */
export class DreamBusyError extends Error {
  constructor(what: string) {
    super(`No dream was started: ${what}. Retry once it has ended.`);
    this.name = 'DreamBusyError';
  }
}

/** A rollback that cannot be done: the dream is still at work, was rolled back, or what it changed changed since. */
export class DreamRollbackError extends Error {
  /** What changed since the dream (memory ids, skill names), when that is why. */
  readonly conflicts: string[];

  constructor(message: string, conflicts: string[] = []) {
    super(message);
    this.name = 'DreamRollbackError';
    this.conflicts = conflicts;
  }
}

/** A learned skill as the workspace's learned-skills area holds it. */
interface LearnedSkillFile {
  name: string;
  content: string;
}

export class DreamService {
  readonly #options: DreamServiceOptions;

  constructor(options: DreamServiceOptions) {
    this.#options = options;
  }

  get clock(): Clock {
    return this.#options.clock;
  }

  /** A run's attempt here ended it: a dream's end is recorded; a customer's run starts a new idle period. */
  runEnded(run: Pick<RunRecord, 'id' | 'trigger'>, deployment: DeploymentRecord): void {
    const { store, logger, clock } = this.#options;
    if (run.trigger === 'dream') {
      void this.finish(run.id).catch((error: unknown) => logger.warn({ err: error, runId: run.id, deploymentId: deployment.id }, 'could not record the end of a dream; the next scheduler pass does'));
      return;
    }
    if (!deployment.features.dreaming) return;
    void store.dreams.markActivity(deployment.id, clock.now()).catch((error: unknown) => logger.warn({ err: error, deploymentId: deployment.id }, 'could not record activity for dreaming'));
  }

  /** A run of the customer's starts: a dream at work on the deployment stops (it never runs beside one). */
  runStarting(run: Pick<RunRecord, 'id' | 'trigger'>, deployment: DeploymentRecord): void {
    if (run.trigger === 'dream' || !deployment.features.dreaming) return;
    const { store, runs, logger } = this.#options;
    void (async () => {
      const dream = await store.dreams.running(deployment.id);
      if (!dream) return;
      const dreamRun = await store.runs.get(deployment.id, dream.run_id);
      if (!dreamRun || (dreamRun.status !== 'running' && dreamRun.status !== 'waiting_on_human')) return;
      logger.info({ deploymentId: deployment.id, dreamId: dream.id, runId: run.id }, 'a run of the customer started: the dream stops');
      await runs.cancel(dreamRun);
    })().catch((error: unknown) => logger.warn({ err: error, deploymentId: deployment.id }, 'could not stop a dream for a run of the customer'));
  }

  /** Starts the dreams of deployments idle long enough (up to `limit`); returns how many started. */
  async dreamDue(limit = 10): Promise<number> {
    const { store, clock, settings, logger } = this.#options;
    if (this.#options.runs.draining) return 0;
    const due = await store.dreams.due(clock.now() - settings.idleMs, limit);
    let started = 0;
    for (const candidate of due) {
      if (this.#options.runs.draining) break;
      try {
        const deployment = await store.deployments.getById(candidate.deployment_id);
        if (!deployment) {
          await store.dreams.deleteState(candidate.deployment_id);
          continue;
        }
        if (await this.#start(deployment, 'idle', candidate.last_activity_at)) started++;
      } catch (error) {
        logger.warn({ err: error, deploymentId: candidate.deployment_id }, 'could not start a dream; the next pass tries again');
      }
    }
    return started;
  }

  /**
   * Dreams now (POST …/dreams), covering the activity so far.
   * @throws DreamingDisabledError, DreamBusyError, QuotaExceededError (the account's run quotas).
   */
  async dreamNow(deployment: DeploymentRecord): Promise<DreamRecord> {
    if (!deployment.features.dreaming) throw new DreamingDisabledError('features.dreaming');
    if (!deployment.sandbox.persistent_filesystem) throw new DreamingDisabledError('sandbox.persistent_filesystem');
    const dream = await this.#start(deployment, 'manual', undefined);
    if (!dream) throw new DreamBusyError('a run is active on the deployment');
    return dream;
  }

  /**
   * Starts a dream: the memory and learned skills it starts from are read first, then one commit claims the idle
   * period (for `idle`: only while the activity is still `through`, i.e. nothing happened since it was found due),
   * records the dream and posts its run. Undefined when nothing started (claimed elsewhere, or a run active).
   */
  async #start(deployment: DeploymentRecord, reason: DreamReason, through: number | undefined): Promise<DreamRecord | undefined> {
    const { store, events, clock, logger } = this.#options;
    /** Lets this idle period go (a dream cannot or need not run for it): the next activity starts another. */
    const letGo = async (why: string) => {
      if (reason === 'idle' && through !== undefined) {
        await events.transact(deployment.id, async (trx) => {
          const state = await store.dreams.stateIn(trx, deployment.id);
          if (state && state.last_activity_at === through && state.dreamed_through < through) await store.dreams.claimIn(trx, deployment.id, through);
          return { result: undefined };
        });
      }
      logger.debug({ deploymentId: deployment.id, reason: why }, 'no dream for this idle period');
      return undefined;
    };
    if (!deployment.features.dreaming) return letGo('features.dreaming is off');
    if (!deployment.sandbox.persistent_filesystem) return letGo('no persistent workspace');
    if (deployment.status !== 'ready') return letGo('the deployment is not ready');
    if (reason === 'idle' && (await this.#options.usage?.exhaustedBudget(deployment))) return letGo('a credit budget is used up');
    // A run still active (one waiting hours for a human, say): its end is new activity, and a new idle period then.
    if (await store.dreams.activeRunIn(store.db, deployment.id)) return reason === 'idle' ? letGo('a run is active') : undefined;
    const readAt = Date.now();
    const before = {
      memories: deployment.features.memory ? await this.#options.memory.all(deployment) : [],
      skills: await store.dreams.learnedSkills(deployment.id),
      read_at: readAt,
    };
    const since = (await store.dreams.latestCompletedStart(deployment.id)) ?? 0;
    const recent = await store.dreams.recentMessages(deployment.id, since, REVIEW_MESSAGES);
    const window = reviewWindow(recent, this.#options.settings.reviewCharacters);
    const content = dreamPrompt({
      messages: window.messages,
      omitted: window.omitted,
      learnedSkills: before.skills,
      productSkills: deployment.skills.map((skill) => skill.name),
      memory: deployment.features.memory,
    });
    const now = clock.now();
    type Started = { dream: DreamRecord; run: RunRecord } | 'busy' | 'quota' | undefined;
    const { result } = await events.transact(deployment.id, async (trx): Promise<JobOutcome<Started>> => {
      // The row exists before it is locked: two nodes starting a deployment's first dream wait for each other.
      await store.dreams.ensureStateIn(trx, deployment.id);
      const current = await store.dreams.stateIn(trx, deployment.id);
      if (reason === 'idle' && (!current || current.last_activity_at !== through || current.dreamed_through >= (through ?? 0))) return { result: undefined };
      if (await store.dreams.activeRunIn(trx, deployment.id)) return { result: 'busy' };
      const quotas = this.#options.quotas;
      if (quotas && (await quotas.limitsRuns(deployment.account_id, trx))) {
        try {
          await quotas.checkRunStart(deployment.account_id, { db: trx });
        } catch (error) {
          // A person's dream-now gets the 429 itself; an idle period past the account's run quotas goes without.
          if (error instanceof QuotaExceededError && reason === 'idle') return { result: 'quota' };
          throw error;
        }
      }
      // Each dream on a thread of its own: no dream carries the earlier ones as its history.
      const { run } = await store.runs.submitDreamIn(trx, {
        deploymentId: deployment.id,
        threadId: newId('thread'),
        createThread: { title: `${DREAM_THREAD_TITLE} ${new Date(now).toISOString().slice(0, 16).replace('T', ' ')} UTC` },
        content,
        nodeId: this.#options.nodeId,
        leaseMs: this.#options.leaseMs,
      });
      const activity = current?.last_activity_at ?? 0;
      await store.dreams.claimIn(trx, deployment.id, Math.max(activity, current?.dreamed_through ?? 0));
      const dream: DreamRecord = {
        id: newId('dream'),
        deployment_id: deployment.id,
        run_id: run.id,
        thread_id: run.thread_id,
        status: 'running',
        reason,
        activity_through: activity,
        before,
        changes: null,
        error: null,
        created_at: now,
        completed_at: null,
        rolled_back_at: null,
      };
      await store.dreams.insertIn(trx, dream);
      const event: NewEvent = {
        deploymentId: deployment.id,
        type: 'dream_started',
        threadId: run.thread_id,
        runId: run.id,
        data: { dream_id: dream.id, reason },
      };
      return { result: { dream, run }, events: [event] };
    });
    if (result === 'busy') return reason === 'idle' ? letGo('a run is active') : undefined;
    if (result === 'quota') return letGo("the account is at its run quotas");
    if (!result) return undefined;
    logger.info({ deploymentId: deployment.id, dreamId: result.dream.id, runId: result.run.id, reason }, 'dream started');
    this.#options.runs.startTaken(result.run, deployment);
    // A customer's run committed just after this commit's check looks for a dream as it starts, which may be before
    // this commit: so the dream looks again after it. One of the two sees the other, and the dream stops.
    if (await store.dreams.activeRunIn(store.db, deployment.id, result.run.id)) {
      logger.info({ deploymentId: deployment.id, dreamId: result.dream.id }, 'a run of the customer started with the dream: the dream stops');
      await this.#options.runs.cancel(result.run);
    }
    return result.dream;
  }

  /**
   * Records the end of the dream whose run `runId` ended: the memory (changes to its files kept as the dream's
   * versions) and the learned-skills area compared with what the dream started from, the learned skills' index
   * brought up to date, and `dream_completed`, in one commit. Does nothing for a dream already ended.
   */
  async finish(runId: string): Promise<DreamRecord | undefined> {
    const { store, events, clock, logger } = this.#options;
    const dream = await store.dreams.byRun(runId);
    if (!dream || dream.status !== 'running') return undefined;
    const [deployment, run] = await Promise.all([store.deployments.getById(dream.deployment_id), store.runs.get(dream.deployment_id, runId)]);
    if (!deployment || !run || run.status === 'running' || run.status === 'waiting_on_human') return undefined;
    // First: what the dream run left in the memory files is recorded as the dream's.
    const memories = deployment.features.memory || dream.before.memories.length > 0 ? await this.#options.memory.all(deployment, 'dream') : [];
    // Memories the product, the observer or the reflector changed while the dream ran are theirs, not the dream's.
    const others = dream.before.read_at === undefined ? new Set<string>() : await store.dreams.changedByOthers(deployment.id, dream.before.read_at);
    const changes: DreamChange[] = memoryChanges(dream.before.memories, memories).filter((change) => change.kind !== 'memory' || !others.has(change.memory_id));
    const area = await this.#readLearnedSkills(deployment);
    const index = new Map(dream.before.skills.map((skill) => [skill.name, skill]));
    const productNames = new Set(deployment.skills.map((skill) => skill.name));
    const now = clock.now();
    const puts: LearnedSkillRecord[] = [];
    const removals: string[] = [];
    if ('unreadable' in area) {
      // Not what the dream meant (the agent made the area unreadable, or the sandbox failed): the index stays.
      changes.push({ kind: 'skill', name: LEARNED_SKILLS_DIRECTORY, action: 'skipped', reason: `the learned-skills area could not be read: ${area.unreadable}`, after: null });
    } else {
      for (const file of area.files) {
        const prior = index.get(file.name);
        if ('unreadable' in file) {
          // Kept as it was: only a SKILL.md that is gone is a deletion.
          if (prior) changes.push({ kind: 'skill', name: file.name, action: 'skipped', reason: `its SKILL.md could not be read (${file.unreadable}); the earlier one is kept`, after: null });
          continue;
        }
        if (prior && prior.content === file.content) continue;
        if (productNames.has(file.name)) {
          changes.push({ kind: 'skill', name: file.name, action: 'skipped', reason: `a product skill is named ${file.name}; it is never overwritten`, after: file.content });
          continue;
        }
        let description: string;
        try {
          description = parseSkill(file.content).description;
        } catch (error) {
          if (!(error instanceof SkillParseError)) throw error;
          changes.push({ kind: 'skill', name: file.name, action: 'skipped', reason: `its SKILL.md cannot be parsed: ${error.message}`, after: file.content });
          continue;
        }
        if (!prior && index.size + puts.filter((skill) => !index.has(skill.name)).length >= MAX_LEARNED_SKILLS) {
          changes.push({ kind: 'skill', name: file.name, action: 'skipped', reason: `a deployment keeps at most ${MAX_LEARNED_SKILLS} learned skills`, after: file.content });
          continue;
        }
        const skill: LearnedSkillRecord = {
          skill_id: prior?.skill_id ?? newId('skill'),
          name: file.name,
          description,
          content: file.content,
          dream_id: dream.id,
          created_at: prior?.created_at ?? now,
          updated_at: now,
        };
        puts.push(skill);
        changes.push({ kind: 'skill', name: file.name, skill_id: skill.skill_id, action: prior ? 'updated' : 'created', before: prior?.content ?? null, after: file.content });
      }
      const present = new Set(area.files.map((file) => file.name));
      for (const prior of dream.before.skills) {
        if (present.has(prior.name)) continue;
        removals.push(prior.name);
        changes.push({ kind: 'skill', name: prior.name, skill_id: prior.skill_id, action: 'deleted', before: prior.content, after: null });
      }
    }
    const status = run.status === 'completed' ? 'completed' : 'failed';
    const error = run.status === 'completed' ? null : (run.error?.message ?? 'the dream run ended in error');
    const { result } = await events.transact(deployment.id, async (trx): Promise<JobOutcome<boolean>> => {
      if (!(await store.dreams.finishIn(trx, dream.id, { status, changes, error, now }))) return { result: false };
      for (const skill of puts) await store.dreams.putLearnedSkillIn(trx, deployment.id, skill);
      for (const name of removals) await store.dreams.deleteLearnedSkillIn(trx, deployment.id, name);
      const event: NewEvent = {
        deploymentId: deployment.id,
        type: 'dream_completed',
        threadId: dream.thread_id,
        runId: dream.run_id,
        data: { dream_id: dream.id, status, ...changeCounts(changes), ...(error ? { error } : {}) },
      };
      return { result: true, events: [event] };
    });
    if (!result) return undefined;
    logger.info({ deploymentId: deployment.id, dreamId: dream.id, status, changes: changes.length }, 'dream ended');
    return { ...dream, status, changes, error, completed_at: now };
  }

  /**
   * Records the ends of dreams whose node stopped before it could (their runs ended elsewhere or after a restart).
   * One that cannot be recorded now is logged and tried again at the next pass; it holds up no other.
   */
  async finishOrphans(limit = 10): Promise<number> {
    let finished = 0;
    for (const dream of await this.#options.store.dreams.unfinished(limit)) {
      try {
        if (await this.finish(dream.run_id)) finished++;
      } catch (error) {
        this.#options.logger.warn({ err: error, dreamId: dream.id, deploymentId: dream.deployment_id }, 'could not record the end of a dream; trying again at the next pass');
      }
    }
    return finished;
  }

  list(deployment: DeploymentRecord, page: PageRequest): Promise<Page<DreamRecord>> {
    return this.#options.store.dreams.list(deployment.id, page);
  }

  get(deployment: DeploymentRecord, dreamId: string): Promise<DreamRecord | undefined> {
    return this.#options.store.dreams.get(deployment.id, dreamId);
  }

  /** The deployment's learned skills (the index), for the Skills API and for runs. */
  learnedSkills(deployment: DeploymentRecord): Promise<LearnedSkillRecord[]> {
    return this.#options.store.dreams.learnedSkills(deployment.id);
  }

  /**
   * Removes a learned skill (the Skills API's DELETE): its file and its index entry. Undefined when there was none.
   * @throws DreamBusyError while a dream is at work on the deployment.
   */
  async deleteLearnedSkill(deployment: DeploymentRecord, skillId: string): Promise<LearnedSkillRecord | undefined> {
    const skill = (await this.learnedSkills(deployment)).find((candidate) => candidate.skill_id === skillId);
    if (!skill) return undefined;
    // A dream at work compares the area with what it started from when it ends: a deletion now would be taken for its.
    if (await this.#options.store.dreams.running(deployment.id)) throw new DreamBusyError('a dream is at work on the deployment');
    await this.#removeSkillFile(deployment, skill.name);
    await this.#options.store.db.transaction().execute((trx) => this.#options.store.dreams.deleteLearnedSkillIn(trx, deployment.id, skill.name));
    return skill;
  }

  /**
   * Undoes a dream: each memory and learned skill it changed goes back to what it was, then the dream is marked
   * rolled back (`dream_rolled_back`). All or nothing: when something the dream changed has changed since (by a run,
   * the API or a later dream), nothing is rolled back and the error names what. A retry after a failure midway
   * finishes the job: what is already as it was before the dream counts as done.
   * @throws DreamRollbackError, DreamBusyError (a run is active on the deployment). Undefined: no such dream.
   */
  async rollback(deployment: DeploymentRecord, dreamId: string): Promise<DreamRecord | undefined> {
    const { store, events, clock, logger, memory } = this.#options;
    const dream = await this.get(deployment, dreamId);
    if (!dream) return undefined;
    if (dream.status === 'running' || dream.changes === null) throw new DreamRollbackError('The dream is still at work: roll it back once it has ended (dream_completed).');
    if (dream.status === 'rolled_back') throw new DreamRollbackError('The dream was rolled back already.');
    // Nothing may change the memory or the skills meanwhile: not the customer's run, not another dream.
    if (await store.dreams.activeRunIn(store.db, deployment.id)) throw new DreamBusyError('a run is active on the deployment');
    const changes = dream.changes;
    const skillChanges = changes.filter((change): change is Extract<DreamChange, { kind: 'skill'; skill_id: string }> => change.kind === 'skill' && change.action !== 'skipped');
    const skillsNow = new Map((await store.dreams.learnedSkills(deployment.id)).map((skill) => [skill.name, skill]));
    const skillConflicts = skillChanges
      .filter((change) => {
        const now = skillsNow.get(change.name)?.content ?? null;
        return now !== change.before && now !== change.after;
      })
      .map((change) => `skill ${change.name}`);
    const priorMemories = new Map(dream.before.memories.map((record) => [record.memory_id, record]));
    const memoryItems = changes.flatMap((change) =>
      change.kind === 'memory' ? [{ memory_id: change.memory_id, before: change.action === 'created' ? null : priorMemories.get(change.memory_id)!, after: change.after }] : [],
    );
    if (skillConflicts.length > 0) throw rollbackConflict(skillConflicts);
    try {
      // Checked and applied as the deployment's only memory writer: all or nothing.
      if (memoryItems.length > 0) await memory.revert(deployment, memoryItems, 'api');
    } catch (error) {
      if (error instanceof MemoryConflictError) throw rollbackConflict(error.memoryIds);
      throw error;
    }
    for (const change of skillChanges) {
      if ((skillsNow.get(change.name)?.content ?? null) === change.before) continue;
      if (change.before === null) await this.#removeSkillFile(deployment, change.name);
      else await this.#writeSkillFile(deployment, change.name, change.before);
    }
    const priorSkills = new Map(dream.before.skills.map((skill) => [skill.name, skill]));
    const now = clock.now();
    const { result } = await events.transact(deployment.id, async (trx): Promise<JobOutcome<boolean>> => {
      if (!(await store.dreams.markRolledBackIn(trx, dream.id, now))) return { result: false };
      for (const change of skillChanges) {
        const prior = priorSkills.get(change.name);
        if (change.before === null || !prior) await store.dreams.deleteLearnedSkillIn(trx, deployment.id, change.name);
        else await store.dreams.putLearnedSkillIn(trx, deployment.id, { ...prior, updated_at: now });
      }
      const event: NewEvent = {
        deploymentId: deployment.id,
        type: 'dream_rolled_back',
        threadId: dream.thread_id,
        runId: dream.run_id,
        data: { dream_id: dream.id, ...changeCounts(changes) },
      };
      return { result: true, events: [event] };
    });
    if (!result) throw new DreamRollbackError('The dream was rolled back already.');
    logger.info({ deploymentId: deployment.id, dreamId }, 'dream rolled back');
    return { ...dream, status: 'rolled_back', rolled_back_at: now };
  }

  /**
   * The learned skills the workspace's area holds now: `<name>/SKILL.md` each (read through the sandbox). A skill
   * whose SKILL.md is there but cannot be read is listed as unreadable (kept as it was), one without a SKILL.md is
   * not listed (gone); an area that cannot be listed at all is unreadable as a whole.
   */
  async #readLearnedSkills(deployment: DeploymentRecord): Promise<{ files: (LearnedSkillFile | { name: string; unreadable: string })[] } | { unreadable: string }> {
    if (!deployment.sandbox.persistent_filesystem) return { files: [] };
    const { files } = this.#options;
    let entries;
    try {
      entries = (await files.list({ deployment }, LEARNED_SKILLS_DIRECTORY)).entries;
    } catch (error) {
      if (error instanceof WorkspaceFileError && error.reason === 'not_found') return { files: [] };
      return { unreadable: error instanceof WorkspaceFileError ? error.message : 'the workspace could not be read' };
    }
    const found: (LearnedSkillFile | { name: string; unreadable: string })[] = [];
    for (const entry of entries) {
      if (entry.type !== 'directory' || !SKILL_NAME.test(entry.name)) continue;
      try {
        const file = await files.read({ deployment }, `${LEARNED_SKILLS_DIRECTORY}/${entry.name}/SKILL.md`);
        if (file.bytes.length > MAX_SKILL_BYTES) found.push({ name: entry.name, unreadable: `it is larger than ${MAX_SKILL_BYTES} bytes` });
        else found.push({ name: entry.name, content: file.bytes.toString('utf8') });
      } catch (error) {
        if (error instanceof WorkspaceFileError && error.reason === 'not_found') continue;
        found.push({ name: entry.name, unreadable: error instanceof WorkspaceFileError ? error.message : 'the workspace could not be read' });
      }
    }
    return { files: found };
  }

  async #writeSkillFile(deployment: DeploymentRecord, name: string, content: string): Promise<void> {
    if (!deployment.sandbox.persistent_filesystem) return;
    await this.#options.files.write({ deployment }, `${LEARNED_SKILLS_DIRECTORY}/${name}/SKILL.md`, Buffer.from(content, 'utf8'));
  }

  async #removeSkillFile(deployment: DeploymentRecord, name: string): Promise<void> {
    if (!deployment.sandbox.persistent_filesystem) return;
    await this.#options.files.delete({ deployment }, `${LEARNED_SKILLS_DIRECTORY}/${name}`).catch((error: unknown) => {
      if (!(error instanceof WorkspaceFileError && error.reason === 'not_found')) throw error;
    });
  }
}

function rollbackConflict(conflicts: string[]): DreamRollbackError {
  return new DreamRollbackError(
    `Nothing was rolled back: changed since the dream: ${conflicts.join(', ')}. Roll back later dreams first, or change these by hand.`,
    conflicts,
  );
}

/** How the memory changed from `before` to `after`, by memory id. */
function memoryChanges(before: readonly MemoryRecord[], after: readonly MemoryRecord[]): DreamChange[] {
  const prior = new Map(before.map((record) => [record.memory_id, record]));
  const changes: DreamChange[] = [];
  const seen = new Set<string>();
  for (const record of after) {
    seen.add(record.memory_id);
    const was = prior.get(record.memory_id);
    if (!was) changes.push({ kind: 'memory', memory_id: record.memory_id, action: 'created', before: null, after: record.content, priority: record.priority });
    else if (was.content !== record.content) changes.push({ kind: 'memory', memory_id: record.memory_id, action: 'updated', before: was.content, after: record.content, priority: record.priority });
  }
  for (const was of before) {
    if (!seen.has(was.memory_id)) changes.push({ kind: 'memory', memory_id: was.memory_id, action: 'deleted', before: was.content, after: null, priority: was.priority });
  }
  return changes;
}

/** How many memories and learned skills a dream changed (its events' summary). */
function changeCounts(changes: readonly DreamChange[]): { memories_changed: number; skills_changed: number } {
  return {
    memories_changed: changes.filter((change) => change.kind === 'memory').length,
    skills_changed: changes.filter((change) => change.kind === 'skill' && change.action !== 'skipped').length,
  };
}
