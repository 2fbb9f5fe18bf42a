// The observer and the reflector of observational memory (Mastra's published design). After a run of a thread has
// ended (its end committed, so the run is `completed` before any of this starts, and nothing here can slow or
// fail it), the thread is marked for observation: due at once when its unobserved messages pass a token threshold
// (HERM_MEMORY_OBSERVE_TOKENS, Mastra's 30,000 by default), else once the thread has been quiet for
// HERM_MEMORY_OBSERVE_IDLE_MS (each run end pushes that back). In the background, one node takes the work with a
// lease on the thread's marker row and asks the deployment's model to turn the thread's new messages into dated,
// prioritised observations, written as memories (source `agent`, version actor `observer`). The marker row also says how far
// the thread is observed (`observed_through`, a message seq), so a restart picks up what is pending. When the
// agent's observations together pass their own threshold, the reflector condenses them (actor `reflector`).
//
// "A deleted memory isn't re-learned unless the customer repeats it": the observer is told the memories the
// product or the agent deleted, and an observation like one of them is dropped unless the customer's own new
// messages say it again.
//
// Exactly once across a crash: the memories are written before the marker moves, so a process killed between the two
// would leave the next claim to observe the same messages again and write the same facts twice. The holder records
// in its lease what it is about to write (observation-claims.ts), and the next claim, finding it all written, only
// moves the marker; an embedded (SQLite) start lets the dead process's leases lapse at once.
//
// Failures (the model down, a timeout) are logged and retried later with backoff, a few times; never surfaced to a
// run. The model calls' token counts go to `onUsage` (server.ts records them in the usage ledger, usage/; the default logs them).
import type { LanguageModel } from 'ai';
import type { Logger } from 'pino';
import type { DeploymentRecord } from '../store/deployments.ts';
import type { RunRecord } from '../store/runs.ts';
import type { Store } from '../store/store.ts';
import { failpoint } from '../util/failpoints.ts';
import { MEMORY_PRIORITIES, type MemoryPriority, type MemoryRecord } from './memory-file.ts';
import type { MemoryService } from './memory-service.ts';
import { ObservationClaims, type ObservationWrite } from './observation-claims.ts';

export interface MemoryObserverSettings {
  /** Tokens (≈ characters / 4) of a thread's unobserved messages at which they are observed as soon as a run ends. */
  observeTokens: number;
  /** Otherwise, how long a thread stays without a new run end before what it has is observed; 0: at once. */
  observeIdleMs: number;
  /** Tokens of the agent's observations past which the reflector condenses them. */
  reflectTokens: number;
  /** How often a node looks for pending observation work (work of its own runs starts at once). */
  pollMs: number;
  /** How long a claim of a thread's work lasts before another node may take it. */
  leaseMs: number;
  /** Failed attempts at a thread's observation before it waits for the thread's next run. */
  maxAttempts: number;
}

export const DEFAULT_OBSERVER_SETTINGS: MemoryObserverSettings = {
  observeTokens: 30_000,
  observeIdleMs: 60_000,
  reflectTokens: 40_000,
  pollMs: 5_000,
  leaseMs: 5 * 60_000,
  maxAttempts: 5,
};

/** A model call of the observer or the reflector, billed to the deployment like a run's. */
export interface MemoryModelUsage {
  deploymentId: string;
  kind: 'observer' | 'reflector';
  model: string;
  inputTokens: number | undefined;
  outputTokens: number | undefined;
  /** Input tokens read from the provider's cache. */
  cachedTokens?: number | undefined;
}

export interface MemoryObserverOptions {
  store: Store;
  memory: MemoryService;
  /** The deployment's model (the one its runs use). */
  model: (deployment: DeploymentRecord) => LanguageModel;
  nodeId: string;
  logger: Logger;
  settings?: Partial<MemoryObserverSettings>;
  /** Where the model calls' usage goes; the default logs it. */
  onUsage?: (usage: MemoryModelUsage) => void;
  now?: () => number;
}

/** The system prompt of the observer's model call; tests recognise the call by its first words. */
export const OBSERVER_SYSTEM =
  'You are the memory observer of an AI agent that works for one customer. From the new messages of a conversation, record what the ' +
  'agent should remember in future conversations: the customer\'s preferences and instructions, corrections, facts about them, their ' +
  'business and their projects, conventions and decisions. Skip small talk, one-off task details and anything already in memory. ' +
  'Reply with one observation per line, in the form "- [priority] observation", where priority is high (an explicit instruction, ' +
  'preference or correction), medium (a durable fact) or low (a detail that may help). Write each observation as a self-contained ' +
  'statement about the customer; put a date in it when the fact depends on time. Never record a deleted memory again unless the ' +
  'customer states it again in the new messages. Reply NONE when there is nothing to remember.';

/** The system prompt of the reflector's model call. */
export const REFLECTOR_SYSTEM =
  'You are the memory reflector of an AI agent that works for one customer. Condense the agent\'s observations about the customer ' +
  'into fewer, denser ones: merge duplicates and related notes, keep the newest version of a fact that changed, drop what is stale ' +
  'or trivial, and keep every instruction, preference and correction of the customer. Reply with one observation per line, in the ' +
  'form "- [priority] observation" (priority high, medium or low).';

const RETRY_BASE_MS = 30_000;
const RETRY_MAX_MS = 60 * 60_000;
const MODEL_TIMEOUT_MS = 120_000;
/** Characters of new messages the observer reads at most per call (the newest kept). */
const MAX_TRANSCRIPT_CHARACTERS = 60_000;
const MAX_MESSAGE_CHARACTERS = 4_000;
const MAX_MESSAGES = 500;

export interface Observation {
  priority: MemoryPriority;
  content: string;
}

/** The observations of a reply of the observer or the reflector: lines "- [priority] text"; NONE or prose: none. */
export function parseObservations(text: string): Observation[] {
  const observations: Observation[] = [];
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*(?:[-*•]|\d+[.)])\s+(?:[[(](high|medium|low)[\])]\s*:?\s*)?(.+)$/i.exec(line);
    if (!match) continue;
    const content = match[2]!.trim();
    if (content === '' || /^none\.?$/i.test(content)) continue;
    const priority = (match[1]?.toLowerCase() ?? 'medium') as MemoryPriority;
    observations.push({ priority: MEMORY_PRIORITIES.includes(priority) ? priority : 'medium', content: content.slice(0, 2_000) });
  }
  return observations;
}

function words(text: string): Set<string> {
  return new Set(text.toLowerCase().split(/[^\p{L}\p{N}#]+/u).filter((word) => word.length > 2));
}

/** How alike two texts are, 0 to 1: the words they share over the words of either (Jaccard). */
export function similarity(a: string, b: string): number {
  const left = words(a);
  const right = words(b);
  if (left.size === 0 || right.size === 0) return 0;
  let shared = 0;
  for (const word of left) if (right.has(word)) shared++;
  return shared / (left.size + right.size - shared);
}

/** Whether `text` says most of `statement` (its words mostly appear in it): the customer repeating a fact. */
function repeats(text: string, statement: string): boolean {
  const wanted = words(statement);
  if (wanted.size === 0) return false;
  const said = words(text);
  let found = 0;
  for (const word of wanted) if (said.has(word)) found++;
  return found / wanted.size >= 0.7;
}

const LIKE_DELETED = 0.5;
const LIKE_EXISTING = 0.8;

export class MemoryObserver {
  readonly #options: MemoryObserverOptions;
  readonly #settings: MemoryObserverSettings;
  #timer: NodeJS.Timeout | undefined;
  #working: Promise<void> | undefined;
  #again = false;
  #stopped = false;
  readonly #stopController = new AbortController();
  readonly #claims: ObservationClaims;

  constructor(options: MemoryObserverOptions) {
    this.#options = options;
    this.#settings = { ...DEFAULT_OBSERVER_SETTINGS, ...options.settings };
    this.#claims = new ObservationClaims(options.store.db, options.store.dialect);
  }

  #now(): number {
    return this.#options.now?.() ?? Date.now();
  }

  /** A run ended: its thread's new messages are due for observation (with features.memory on). Never throws. */
  runEnded(run: Pick<RunRecord, 'thread_id' | 'trigger'>, deployment: DeploymentRecord): void {
    // Marked while shutting down too: the next node or start observes it. A dream's thread is the server's prompt
    // (with copies of the conversations), not the customer's words: never observed (the dream edits memory itself).
    if (!deployment.features.memory || run.trigger === 'dream') return;
    const { memories } = this.#options.store;
    memories
      .unobservedCharacters(run.thread_id)
      .then(async (characters) => {
        // Past the token threshold: now. Otherwise once the conversation pauses (each run end pushes it back), so an
        // active conversation is observed in one call, not one per turn.
        const now = this.#now();
        const dueAt = characters / 4 >= this.#settings.observeTokens ? now : now + this.#settings.observeIdleMs;
        await memories.markPending(deployment.id, run.thread_id, dueAt);
        if (dueAt <= now) this.wake();
      })
      .catch((error: unknown) => this.#options.logger.warn({ err: error, deploymentId: deployment.id, threadId: run.thread_id }, 'could not mark a thread for memory observation'));
  }

  /** Looks for due work now (in the background). */
  wake(): void {
    if (this.#stopped) return;
    if (this.#working) {
      this.#again = true;
      return;
    }
    this.#working = (async () => {
      do {
        this.#again = false;
        await this.runDue().catch((error: unknown) => this.#options.logger.warn({ err: error }, 'memory observation sweep failed'));
      } while (this.#again && !this.#stopped);
    })().finally(() => (this.#working = undefined));
  }

  /** Observes every thread whose work is due and not held by another node; returns how many were taken. */
  async runDue(): Promise<number> {
    let taken = 0;
    for (;;) {
      const due = await this.#options.store.memories.dueObservations(this.#now(), 20);
      let claimedAny = false;
      for (const threadId of due) {
        if (this.#stopped) return taken;
        const now = this.#now();
        const claim = await this.#claims.claim(threadId, this.#options.nodeId, now, now + this.#settings.leaseMs);
        if (!claim) continue;
        claimedAny = true;
        taken++;
        await this.#observe(claim.state, claim.writing);
      }
      if (!claimedAny) return taken;
    }
  }

  start(): void {
    this.#timer = setInterval(() => this.wake(), this.#settings.pollMs);
    this.#timer.unref();
    // The embedded SQLite mode is one process: a lease held at its start is a dead process's (killed while it
    // observed), and its work is taken now rather than once the lease expires (runs and webhook deliveries alike).
    if (this.#options.store.dialect !== 'sqlite') return this.wake();
    const { logger } = this.#options;
    this.#claims
      .expireAllLeases()
      .then(
        (expired) => {
          if (expired > 0) logger.info({ expired }, 'memory observation leases of a previous process let go');
        },
        (error: unknown) => logger.warn({ err: error }, 'could not let go of the memory observation leases of a previous process'),
      )
      .finally(() => this.wake());
  }

  /** Stops looking for work and waits for the work in hand: its model call is aborted, and the work handed back, still pending. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#stopController.abort();
    await this.#working;
  }

  /** `interrupted`: what the claim before this one said it was writing (and did not finish). */
  async #observe(
    state: { thread_id: string; deployment_id: string; observed_through: number; due_at: number; attempts: number },
    interrupted?: ObservationWrite,
  ): Promise<void> {
    const { store, memory, logger, nodeId } = this.#options;
    const owner = nodeId;
    const finish = (observedThrough: number, claimedDueAt = state.due_at) =>
      store.memories.finishObservation(state.thread_id, owner, { observedThrough, claimedDueAt });
    let deployment: DeploymentRecord | undefined;
    try {
      deployment = await store.deployments.getById(state.deployment_id);
      if (!deployment || !deployment.features.memory) {
        await store.memories.abandonObservation(state.thread_id, owner);
        return;
      }
      // The claim before this one died writing the observations of the messages through `interrupted.through`. All
      // written: they are the observations of those messages, and only the marker moves (as far as that claim's
      // due time: a run ended since keeps the thread pending, for the messages after). Cut off partway: observed
      // again, and those written are in memory now, which the observer is shown and which no observation like one
      // of them is written over (LIKE_EXISTING).
      if (interrupted && interrupted.through > state.observed_through) {
        const written = await this.#claims.observerCreations(deployment.id, state.thread_id, interrupted.since);
        if (written >= interrupted.count) {
          await finish(interrupted.through, interrupted.dueAt);
          logger.info({ deploymentId: deployment.id, threadId: state.thread_id, observations: written }, 'observations written before the observer died kept; thread marked observed');
          return;
        }
        logger.info({ deploymentId: deployment.id, threadId: state.thread_id, written, of: interrupted.count }, 'the observer died writing observations: observing again');
      }
      const messages = await store.memories.messagesAfter(state.thread_id, state.observed_through, MAX_MESSAGES);
      if (messages.length === 0) {
        await finish(state.observed_through);
        return;
      }
      const current = await memory.all(deployment);
      const deleted = await memory.deletedContents(deployment);
      const observations = await this.#callModel(deployment, 'observer', OBSERVER_SYSTEM, observerPrompt(this.#now(), current, deleted, messages));
      const customerText = messages
        .filter((message) => message.role === 'user')
        .map((message) => message.content)
        .join('\n');
      const known = current.map((entry) => entry.content);
      const accepted: Observation[] = [];
      for (const observation of observations) {
        const wasDeleted = deleted.find((content) => similarity(content, observation.content) >= LIKE_DELETED);
        if (wasDeleted !== undefined && !repeats(customerText, wasDeleted)) {
          logger.info({ deploymentId: deployment.id, threadId: state.thread_id }, 'observation of a deleted memory dropped');
          continue;
        }
        if (known.some((content) => similarity(content, observation.content) >= LIKE_EXISTING)) continue;
        accepted.push(observation);
        known.push(observation.content);
      }
      const through = messages.at(-1)!.seq;
      if (accepted.length > 0) {
        // Said before writing: a process killed from here on leaves the next claim what it needs (see above).
        const now = this.#now();
        if (!(await this.#claims.markWriting(state.thread_id, owner, { through, count: accepted.length, since: now, dueAt: state.due_at }, now))) {
          logger.warn({ deploymentId: deployment.id, threadId: state.thread_id }, 'memory observation lease lapsed before its observations were written: left to the next claim');
          return;
        }
      }
      await memory.createMany(
        deployment,
        accepted.map((observation) => ({ content: observation.content, priority: observation.priority, source: 'agent' as const, actor: 'observer' as const, threadId: state.thread_id })),
      );
      const written = accepted.length;
      failpoint('memory.observe.before_finish');
      await finish(through);
      logger.debug({ deploymentId: deployment.id, threadId: state.thread_id, observations: written }, 'thread observed');
      if (written > 0) await this.#maybeReflect(deployment);
    } catch (error) {
      const attempts = state.attempts + 1;
      if (!this.#stopped) logger.warn({ err: error, deploymentId: state.deployment_id, threadId: state.thread_id, attempts }, 'memory observation failed');
      try {
        if (this.#stopped) {
          // Shutting down: the work goes back, still pending, for the next node or start.
          await store.memories.releaseObservation(state.thread_id, owner);
          return;
        }
        if (attempts >= this.#settings.maxAttempts) await store.memories.abandonObservation(state.thread_id, owner);
        else {
          const retryAt = this.#now() + Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (attempts - 1));
          await store.memories.finishObservation(state.thread_id, owner, { observedThrough: state.observed_through, retryAt, claimedDueAt: state.due_at });
        }
      } catch (recordError) {
        logger.warn({ err: recordError, threadId: state.thread_id }, 'could not record a failed memory observation; its lease lapses');
      }
    }
  }

  /** Condenses the agent's observations once they pass the reflector's threshold (one node per deployment at a time). */
  async #maybeReflect(deployment: DeploymentRecord): Promise<void> {
    const { store, memory, nodeId, logger } = this.#options;
    const agentMemories = (await memory.all(deployment)).filter((entry) => entry.source === 'agent');
    const tokens = Math.ceil(agentMemories.reduce((total, entry) => total + entry.content.length, 0) / 4);
    if (tokens <= this.#settings.reflectTokens || agentMemories.length < 2) return;
    const now = this.#now();
    if (!(await store.memories.claimReflection(deployment.id, nodeId, now, now + this.#settings.leaseMs))) return;
    try {
      const condensed = await this.#callModel(deployment, 'reflector', REFLECTOR_SYSTEM, reflectorPrompt(agentMemories));
      // A reply with nothing in it would erase the memory: it is taken for a failure instead.
      if (condensed.length === 0) {
        logger.warn({ deploymentId: deployment.id }, 'the memory reflector replied with no observation; memory left as it was');
        return;
      }
      await memory.createMany(
        deployment,
        condensed.map((observation) => ({ content: observation.content, priority: observation.priority, source: 'agent' as const, actor: 'reflector' as const })),
      );
      for (const entry of agentMemories) {
        await memory.delete(deployment, entry.memory_id, 'reflector').catch(() => {});
      }
      logger.info({ deploymentId: deployment.id, before: agentMemories.length, after: condensed.length }, 'memory reflected');
    } catch (error) {
      logger.warn({ err: error, deploymentId: deployment.id }, 'memory reflection failed');
    } finally {
      await store.memories.finishReflection(deployment.id, nodeId, this.#now()).catch(() => {});
    }
  }

  async #callModel(deployment: DeploymentRecord, kind: MemoryModelUsage['kind'], system: string, prompt: string): Promise<Observation[]> {
    const { generateText } = await import('ai');
    const result = await generateText({
      model: this.#options.model(deployment),
      system,
      messages: [{ role: 'user', content: prompt }],
      maxRetries: 1,
      abortSignal: AbortSignal.any([this.#stopController.signal, AbortSignal.timeout(MODEL_TIMEOUT_MS)]),
    });
    const usage: MemoryModelUsage = {
      deploymentId: deployment.id,
      kind,
      model: deployment.model,
      inputTokens: result.usage.inputTokens,
      outputTokens: result.usage.outputTokens,
      cachedTokens: result.usage.inputTokenDetails?.cacheReadTokens,
    };
    if (this.#options.onUsage) this.#options.onUsage(usage);
    else this.#options.logger.info({ usage }, 'memory model call');
    return parseObservations(result.text);
  }
}

function day(time: number): string {
  return new Date(time).toISOString().slice(0, 10);
}

function minute(time: number): string {
  return new Date(time).toISOString().slice(0, 16).replace('T', ' ');
}

/** The observer's request: today, the memory now, what was deleted, and the new messages. */
export function observerPrompt(
  now: number,
  current: readonly MemoryRecord[],
  deleted: readonly string[],
  messages: readonly { role: string; content: string; created_at: number }[],
): string {
  const sections = [`Today is ${day(now)}.`];
  sections.push(
    current.length > 0
      ? `## Memory now (do not record these again)\n${current.map((entry) => `- [${entry.priority}] ${oneLine(entry.content)}`).join('\n')}`
      : '## Memory now\n(empty)',
  );
  if (deleted.length > 0) {
    sections.push(
      `## Deleted memories (deleted on purpose: do not record these again unless the customer states them again in the new messages)\n${deleted
        .map((content) => `- ${oneLine(content)}`)
        .join('\n')}`,
    );
  }
  const lines: string[] = [];
  let size = 0;
  for (const message of [...messages].reverse()) {
    const text = message.content.length > MAX_MESSAGE_CHARACTERS ? `${message.content.slice(0, MAX_MESSAGE_CHARACTERS)}…` : message.content;
    const line = `[${minute(message.created_at)}] ${message.role === 'user' ? 'customer' : 'agent'}: ${text}`;
    if (size + line.length > MAX_TRANSCRIPT_CHARACTERS && lines.length > 0) break;
    lines.push(line);
    size += line.length;
  }
  sections.push(`## New messages\n${lines.reverse().join('\n')}`);
  return sections.join('\n\n');
}

function reflectorPrompt(memories: readonly MemoryRecord[]): string {
  return `## The agent's observations (oldest first)\n${memories.map((entry) => `- [${entry.priority}] (${day(entry.created_at)}) ${oneLine(entry.content)}`).join('\n')}`;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}
