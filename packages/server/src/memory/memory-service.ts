// A deployment's observational memory: the files under /workspace/.herm/memory/ (memory-file.ts), as the agent,
// the Memory API, the observer and the reflector see and change them. Every read first compares the files with
// the index (memory-repository.ts), so a change the agent made with its own file tools is kept as a version of
// its own (actor `agent`) before anything else touches the memory; every write here changes the file, then the
// index and its version together.
//
// Files are read and written through the deployment's sandbox (files/workspace-files.ts): a symlink the agent
// planted in the memory directory cannot lead the server to a host file.
//
// A deployment without a persistent workspace (sandbox.persistent_filesystem false) has no workspace that
// outlives a conversation, so its memory lives in the index alone: the prompt of every run carries it, the
// observer and the API change it, and the agent is told it cannot edit it with its file tools.
import type { Logger } from 'pino';
import { WorkspaceFileError } from '../files/workspace-file-error.ts';
import type { WorkspaceFiles } from '../files/workspace-files.ts';
import type { DeploymentRecord } from '../store/deployments.ts';
import type { Page, PageRequest } from '../store/pagination.ts';
import { encodeCursor, decodeCursor } from '../store/pagination.ts';
import { randomBase62 } from '../util/ids.ts';
import {
  fileMemoryId,
  isMemoryId,
  MAX_MEMORY_FILE_BYTES,
  MEMORY_DIRECTORY,
  memoryFilePath,
  parseMemoryFile,
  serializeMemoryFile,
  type MemoryPriority,
  type MemoryRecord,
  type MemorySource,
} from './memory-file.ts';
import type { MemoryActor, MemoryRepository, MemoryVersionRecord } from './memory-repository.ts';

export interface MemoryServiceOptions {
  repository: MemoryRepository;
  files: Pick<WorkspaceFiles, 'list' | 'read' | 'write' | 'delete'>;
  logger: Pick<Logger, 'warn'>;
  now?: () => number;
  /**
   * What the host sees of the deployment's memory directory without entering the sandbox: null when there is none,
   * a fingerprint of its files (names, sizes, modification times) when there is, undefined when the host cannot
   * tell (a disk_mb workspace mounted on demand, a symlink on the way). Listing and reading the directory through
   * the sandbox starts sandboxed processes, which at every run start cost more than the rest of a text-only run
   * (bench: 91 runs/s instead of ~300); with an unchanged fingerprint the files read last time are used again.
   */
  memoryDirectoryFingerprint?: (deployment: DeploymentRecord) => Promise<string | null | undefined>;
  /**
   * Who made the changes found in the files with file tools, asked only when there are some: `agent`, or `dream`
   * while a dream is at work on the deployment (dreams/). Default `agent`.
   */
  fileActor?: (deployment: DeploymentRecord) => Promise<MemoryActor>;
}

/** Memory files read at most per deployment (by file name); more are left out, and logged. */
export const MAX_MEMORY_FILES = 500;
/** Deployments whose memory files are kept between reads (the most recently read), and the most text kept for one. */
const CACHED_DEPLOYMENTS = 256;
const MAX_CACHED_CHARACTERS = 1_048_576;

type MemoryFileText = { name: string; text: string; modifiedAt: number };
const READ_CONCURRENCY = 8;

/** A memory to create, and who creates it. */
export interface NewMemory {
  content: string;
  priority?: MemoryPriority | undefined;
  source: MemorySource;
  actor: MemoryActor;
  /** The thread an observation came from. */
  threadId?: string | null | undefined;
}

export class MemoryNotFoundError extends Error {
  readonly memoryId: string;

  constructor(memoryId: string) {
    super(`No memory ${memoryId}.`);
    this.memoryId = memoryId;
  }
}

/** Memories changed since the state a revert expected: nothing was changed. */
export class MemoryConflictError extends Error {
  readonly memoryIds: string[];

  constructor(memoryIds: string[]) {
    super(`Changed since: ${memoryIds.join(', ')}.`);
    this.memoryIds = memoryIds;
  }
}

export class MemoryService {
  readonly #options: MemoryServiceOptions;
  /** One memory operation at a time per deployment on this node, so a sync never sees half of an API write. */
  readonly #queues = new Map<string, Promise<unknown>>();
  /** The memory files last read through the sandbox, per deployment, with the host's fingerprint taken before. */
  readonly #read = new Map<string, { fingerprint: string; files: MemoryFileText[] }>();

  constructor(options: MemoryServiceOptions) {
    this.#options = options;
  }

  #now(): number {
    return this.#options.now?.() ?? Date.now();
  }

  /** Runs `work` after the deployment's earlier memory operations on this node. */
  #serial<T>(deploymentId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(deploymentId) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(work);
    const tail = next.catch(() => {});
    this.#queues.set(deploymentId, tail);
    void tail.then(() => {
      if (this.#queues.get(deploymentId) === tail) this.#queues.delete(deploymentId);
    });
    return next;
  }

  /**
   * The deployment's memories, oldest first, with changes made to the files with file tools recorded (as the
   * agent's, or as `actor`'s: a dream run's edits are the dream's).
   */
  all(deployment: DeploymentRecord, actor?: MemoryActor): Promise<MemoryRecord[]> {
    return this.#serial(deployment.id, async () => {
      // Most reads find nothing changed: they compare without the cross-node lock. A difference is recorded under
      // it, compared again (another node may have been between writing a file and indexing it).
      const { repository } = this.#options;
      const first = await this.#compare(repository, deployment);
      if (first.changes.length === 0) return first.current;
      return repository.exclusive(deployment.id, (locked) => this.#sync(locked, deployment, actor));
    });
  }

  /** Runs a write as the deployment's only memory writer (on this node and across nodes), the files compared first. */
  #write<T>(deployment: DeploymentRecord, work: (repository: MemoryRepository, current: MemoryRecord[]) => Promise<T>): Promise<T> {
    return this.#serial(deployment.id, () =>
      this.#options.repository.exclusive(deployment.id, async (repository) => work(repository, await this.#sync(repository, deployment))),
    );
  }

  /** A page of memories, newest first; `q` keeps those containing every word of it (case-insensitive). */
  async list(deployment: DeploymentRecord, filters: { q?: string | undefined }, page: PageRequest): Promise<Page<MemoryRecord>> {
    let memories = (await this.all(deployment)).reverse();
    const words = filters.q?.toLowerCase().split(/\s+/).filter(Boolean) ?? [];
    if (words.length > 0) memories = memories.filter((memory) => words.every((word) => memory.content.toLowerCase().includes(word)));
    if (page.cursor) {
      const position = decodeCursor(page.cursor);
      memories = memories.filter(
        (memory) => memory.created_at < position.createdAt || (memory.created_at === position.createdAt && memory.memory_id < position.id),
      );
    }
    const data = memories.slice(0, page.limit);
    const last = data.at(-1);
    return { data, next_cursor: memories.length > page.limit && last ? encodeCursor({ createdAt: last.created_at, id: last.memory_id }) : null };
  }

  async get(deployment: DeploymentRecord, memoryId: string): Promise<MemoryRecord> {
    const memory = (await this.all(deployment)).find((candidate) => candidate.memory_id === memoryId);
    if (!memory) throw new MemoryNotFoundError(memoryId);
    return memory;
  }

  async create(deployment: DeploymentRecord, input: NewMemory): Promise<MemoryRecord> {
    return (await this.createMany(deployment, [input]))[0]!;
  }

  /** Creates memories in one go (one read of the files before, as for one). */
  async createMany(deployment: DeploymentRecord, inputs: readonly NewMemory[]): Promise<MemoryRecord[]> {
    return this.#write(deployment, async (repository) => {
      const created: MemoryRecord[] = [];
      for (const input of inputs) created.push(await this.#create(repository, deployment, input));
      return created;
    });
  }

  async #create(repository: MemoryRepository, deployment: DeploymentRecord, input: NewMemory): Promise<MemoryRecord> {
    const now = this.#now();
    const memoryId = `mem_${randomBase62(14)}`;
    const memory: MemoryRecord = {
      memory_id: memoryId,
      content: input.content.trim(),
      source: input.source,
      priority: input.priority ?? 'medium',
      path: memoryFilePath(memoryId),
      created_at: now,
      updated_at: now,
    };
    await this.#writeFile(deployment, memory);
    await repository.record(deployment.id, { action: 'created', actor: input.actor, memory, before: null, versionId: versionId(), threadId: input.threadId, now });
    return memory;
  }

  async update(
    deployment: DeploymentRecord,
    memoryId: string,
    changes: { content?: string | undefined; priority?: MemoryPriority | undefined },
    actor: MemoryActor,
  ): Promise<MemoryRecord> {
    return this.#write(deployment, async (repository, memories) => {
      const current = memories.find((candidate) => candidate.memory_id === memoryId);
      if (!current) throw new MemoryNotFoundError(memoryId);
      const now = this.#now();
      const memory: MemoryRecord = {
        ...current,
        content: changes.content === undefined ? current.content : changes.content.trim(),
        priority: changes.priority ?? current.priority,
        updated_at: now,
      };
      await this.#writeFile(deployment, memory);
      if (memory.content === current.content) await repository.touch(deployment.id, memory);
      else await repository.record(deployment.id, { action: 'updated', actor, memory, before: current.content, versionId: versionId(), now });
      return memory;
    });
  }

  async delete(deployment: DeploymentRecord, memoryId: string, actor: MemoryActor): Promise<MemoryRecord> {
    return this.#write(deployment, async (repository, memories) => {
      const current = memories.find((candidate) => candidate.memory_id === memoryId);
      if (!current) throw new MemoryNotFoundError(memoryId);
      if (deployment.sandbox.persistent_filesystem) {
        await this.#options.files.delete({ deployment }, current.path).catch((error: unknown) => {
          if (!(error instanceof WorkspaceFileError && error.reason === 'not_found')) throw error;
        });
      }
      await repository.record(deployment.id, { action: 'deleted', actor, memory: current, before: current.content, versionId: versionId(), now: this.#now() });
      return current;
    });
  }

  /**
   * Puts memories back as they were (a dream's rollback), all or nothing, as the deployment's only memory writer:
   * each item goes from `after` (its text now, null: absent) back to `before` (null: absent). An item already as
   * `before` is done (a retry); one that is neither is a conflict, and then nothing changes.
   * @throws MemoryConflictError naming the memories that changed since.
   */
  async revert(deployment: DeploymentRecord, items: readonly { memory_id: string; before: MemoryRecord | null; after: string | null }[], actor: MemoryActor): Promise<void> {
    await this.#write(deployment, async (repository, memories) => {
      const current = new Map(memories.map((memory) => [memory.memory_id, memory]));
      const pending = items.filter((item) => (current.get(item.memory_id)?.content ?? null) !== (item.before?.content ?? null));
      const conflicts = pending.filter((item) => (current.get(item.memory_id)?.content ?? null) !== item.after).map((item) => item.memory_id);
      if (conflicts.length > 0) throw new MemoryConflictError(conflicts);
      for (const item of pending) {
        const now = this.#now();
        const present = current.get(item.memory_id);
        if (!item.before) {
          if (deployment.sandbox.persistent_filesystem) {
            await this.#options.files.delete({ deployment }, present!.path).catch((error: unknown) => {
              if (!(error instanceof WorkspaceFileError && error.reason === 'not_found')) throw error;
            });
          }
          await repository.record(deployment.id, { action: 'deleted', actor, memory: present!, before: present!.content, versionId: versionId(), now });
        } else if (present) {
          const memory: MemoryRecord = { ...present, content: item.before.content, priority: item.before.priority, updated_at: now };
          await this.#writeFile(deployment, memory);
          await repository.record(deployment.id, { action: 'updated', actor, memory, before: present.content, versionId: versionId(), now });
        } else {
          const memory: MemoryRecord = { ...item.before, updated_at: now };
          await this.#writeFile(deployment, memory);
          await repository.record(deployment.id, { action: 'created', actor, memory, before: null, versionId: versionId(), now });
        }
      }
    });
  }

  /** A memory's versions, newest first; known as long as a version is (a deleted memory's too). */
  async versions(deployment: DeploymentRecord, memoryId: string, page: PageRequest): Promise<Page<MemoryVersionRecord>> {
    await this.all(deployment);
    const versions = await this.#options.repository.versions(deployment.id, memoryId, page);
    if (versions.data.length === 0 && !page.cursor) throw new MemoryNotFoundError(memoryId);
    return versions;
  }

  /** Texts of memories the product or the agent deleted, newest first: the observer must not learn them again. */
  deletedContents(deployment: DeploymentRecord, limit = 50): Promise<string[]> {
    return this.#options.repository.deletedContents(deployment.id, limit);
  }

  async #writeFile(deployment: DeploymentRecord, memory: MemoryRecord): Promise<void> {
    if (!deployment.sandbox.persistent_filesystem) return;
    await this.#options.files.write({ deployment }, memory.path, Buffer.from(serializeMemoryFile(memory), 'utf8'));
  }

  /** The memory as its files hold it now, the index brought up to date (file-tool changes kept as `actor`'s versions). */
  async #sync(repository: MemoryRepository, deployment: DeploymentRecord, actor?: MemoryActor): Promise<MemoryRecord[]> {
    const { current, changes } = await this.#compare(repository, deployment);
    if (changes.length === 0) return current;
    const changedBy = actor ?? (await this.#options.fileActor?.(deployment)) ?? 'agent';
    const now = this.#now();
    for (const change of changes) {
      if (change.action === 'touched') await repository.touch(deployment.id, change.memory);
      else await repository.record(deployment.id, { action: change.action, actor: changedBy, memory: change.memory, before: change.before, versionId: versionId(), now });
    }
    return current;
  }

  /** The memory as its files hold it now, and how the index differs from it. */
  async #compare(repository: MemoryRepository, deployment: DeploymentRecord): Promise<{ current: MemoryRecord[]; changes: IndexChange[] }> {
    const indexed = await repository.index(deployment.id);
    if (!deployment.sandbox.persistent_filesystem) return { current: indexed, changes: [] };
    const files = await this.#readFiles(deployment);
    const known = new Map(indexed.map((memory) => [memory.memory_id, memory]));
    const seen = new Set<string>();
    const current: MemoryRecord[] = [];
    for (const file of files) {
      const parsed = parseMemoryFile(file.text);
      if (parsed.content === '') continue;
      // No id in the front matter (the agent rewrote the file as plain text): a file named after a memory id keeps it.
      const stem = file.name.slice(0, -'.md'.length);
      const named = isMemoryId(stem) && !seen.has(stem) ? stem : fileMemoryId(file.name);
      const memoryId = parsed.id && !seen.has(parsed.id) ? parsed.id : named;
      if (seen.has(memoryId)) continue;
      seen.add(memoryId);
      const prior = known.get(memoryId);
      current.push({
        memory_id: memoryId,
        content: parsed.content,
        source: parsed.source ?? prior?.source ?? 'agent',
        priority: parsed.priority ?? prior?.priority ?? 'medium',
        path: `${MEMORY_DIRECTORY}/${file.name}`,
        created_at: parsed.created ?? prior?.created_at ?? file.modifiedAt,
        updated_at: parsed.updated ?? (prior && prior.content === parsed.content ? prior.updated_at : file.modifiedAt),
      });
    }
    const changes: IndexChange[] = [];
    for (const memory of current) {
      const prior = known.get(memory.memory_id);
      if (!prior) changes.push({ action: 'created', memory, before: null });
      else if (prior.content !== memory.content) changes.push({ action: 'updated', memory, before: prior.content });
      else if (
        prior.path !== memory.path ||
        prior.priority !== memory.priority ||
        prior.source !== memory.source ||
        prior.created_at !== memory.created_at ||
        prior.updated_at !== memory.updated_at
      ) {
        changes.push({ action: 'touched', memory, before: prior.content });
      }
    }
    for (const prior of indexed) {
      if (!seen.has(prior.memory_id)) changes.push({ action: 'deleted', memory: prior, before: prior.content });
    }
    current.sort((a, b) => a.created_at - b.created_at || (a.memory_id < b.memory_id ? -1 : a.memory_id > b.memory_id ? 1 : 0));
    return { current, changes };
  }

  async #readFiles(deployment: DeploymentRecord): Promise<MemoryFileText[]> {
    // What the sandboxed listing would answer (not_found: no memory), or what it answered last time, without
    // starting a process.
    const fingerprint = await this.#options.memoryDirectoryFingerprint?.(deployment).catch(() => undefined);
    if (fingerprint === null) {
      this.#read.delete(deployment.id);
      return [];
    }
    const cached = this.#read.get(deployment.id);
    if (fingerprint !== undefined && cached?.fingerprint === fingerprint) {
      // Most recently used last: the map's first entry is the one to drop.
      this.#read.delete(deployment.id);
      this.#read.set(deployment.id, cached);
      return cached.files;
    }
    const files = await this.#readThroughSandbox(deployment);
    this.#read.delete(deployment.id);
    // Taken before the read: a file changed meanwhile changes the next fingerprint, and is read again then.
    if (fingerprint !== undefined && files.reduce((total, file) => total + file.text.length, 0) <= MAX_CACHED_CHARACTERS) {
      this.#read.set(deployment.id, { fingerprint, files });
      if (this.#read.size > CACHED_DEPLOYMENTS) this.#read.delete(this.#read.keys().next().value!);
    }
    return files;
  }

  async #readThroughSandbox(deployment: DeploymentRecord): Promise<MemoryFileText[]> {
    const { files, logger } = this.#options;
    let entries;
    try {
      entries = (await files.list({ deployment }, MEMORY_DIRECTORY)).entries;
    } catch (error) {
      // No memory yet; or the agent made the directory something else (a file): no memory either.
      if (error instanceof WorkspaceFileError && (error.reason === 'not_found' || error.reason === 'not_a_directory')) return [];
      // A symlink out of the workspace: never followed; no memory until the agent puts the directory back.
      if (error instanceof WorkspaceFileError && error.reason === 'outside_workspace') {
        logger.warn({ deploymentId: deployment.id }, `${MEMORY_DIRECTORY} leads outside the workspace: memory is read as empty`);
        return [];
      }
      throw error;
    }
    const candidates = entries.filter((entry) => entry.type === 'file' && entry.name.endsWith('.md') && !entry.name.startsWith('.'));
    if (candidates.length > MAX_MEMORY_FILES) {
      logger.warn({ deploymentId: deployment.id, files: candidates.length }, `more than ${MAX_MEMORY_FILES} memory files: the rest are left out`);
    }
    const wanted = candidates.filter((entry) => (entry.size ?? 0) <= MAX_MEMORY_FILE_BYTES).slice(0, MAX_MEMORY_FILES);
    const read: (MemoryFileText | undefined)[] = new Array(wanted.length);
    let next = 0;
    const worker = async () => {
      while (next < wanted.length) {
        const index = next++;
        const entry = wanted[index]!;
        try {
          const file = await files.read({ deployment }, `${MEMORY_DIRECTORY}/${entry.name}`);
          if (file.bytes.length <= MAX_MEMORY_FILE_BYTES) read[index] = { name: entry.name, text: file.bytes.toString('utf8'), modifiedAt: file.modifiedAt };
        } catch (error) {
          // Removed, or swapped for something else, since it was listed: not a memory now.
          if (!(error instanceof WorkspaceFileError)) throw error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, wanted.length) }, worker));
    return read.filter((file) => file !== undefined);
  }
}

/** How the index differs from the files: a version to record, or (touched) metadata to bring up to date. */
interface IndexChange {
  action: 'created' | 'updated' | 'deleted' | 'touched';
  memory: MemoryRecord;
  before: string | null;
}

function versionId(): string {
  return `memv_${randomBase62(16)}`;
}
