// CPU, memory and process limits of sandboxed commands through the kernel's control groups: one group
// per deployment, shared by its concurrent commands, created on first use and removed a while after
// the last one ends. Handles cgroup v2 (unified) and v1 (one hierarchy per controller, which is what
// hosts in "hybrid" mode offer). Needs root, or a delegated cgroup the server may write to.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

export interface CgroupLimits {
  /** Cores' worth of CPU time per second; undefined or 0: no limit. */
  cpus?: number | undefined;
  memoryBytes?: number | undefined;
  maxProcesses?: number | undefined;
}

/** Events counted by the kernel since the group was created. */
export interface CgroupCounters {
  /** Processes killed because the group ran out of memory. */
  oomKills: number;
  /** Forks refused because the group had reached its process limit. */
  forksRefused: number;
}

export interface CgroupLease {
  /** Files a process writes its pid to, to join the group: one per v1 hierarchy, one on v2. */
  readonly procsFiles: readonly string[];
  counters(): Promise<CgroupCounters>;
  /** Ends this use of the group; the group goes away some time after its last use ends. */
  release(): void;
}

export interface Cgroups {
  readonly version: 1 | 2;
  /** Where the groups are made, for logs. */
  readonly location: string;
  /** Joins the group `name` (created, or its limits rewritten, when needed). */
  acquire(name: string, limits: CgroupLimits): Promise<CgroupLease>;
  /** Removes every group this object made. */
  close(): Promise<void>;
}

export type CgroupsDetection = { ok: true; cgroups: Cgroups } | { ok: false; reason: string };

export interface CgroupsOptions {
  /**
   * The directory, under the server's own group, that holds the groups of every Herm process on the
   * host. Default "herm". Each CommandLimits instance makes its own subdirectory there
   * (`<pid>-<random>`), so two servers (or test processes) never remove each other's groups.
   */
  parentName?: string;
  /** How long a group with no command in it is kept for the next one. Default 10 s. */
  keepIdleMs?: number;
  /** For tests: where /proc/self/mountinfo and /proc/self/cgroup are read from. */
  procSelf?: string;
}

const CONTROLLERS = ['cpu', 'memory', 'pids'] as const;
type Controller = (typeof CONTROLLERS)[number];
const CPU_PERIOD_US = 100_000;
const GROUP_NAME = /^[A-Za-z0-9_.-]{1,128}$/;

/** Finds where this process may create groups with the three controllers, or says why it cannot. */
export async function detectCgroups(options: CgroupsOptions = {}): Promise<CgroupsDetection> {
  const procSelf = options.procSelf ?? '/proc/self';
  let mountinfo: string;
  let membership: string;
  try {
    mountinfo = readFileSync(path.join(procSelf, 'mountinfo'), 'utf8');
    membership = readFileSync(path.join(procSelf, 'cgroup'), 'utf8');
  } catch (error) {
    return { ok: false, reason: `cannot read ${procSelf}/mountinfo or cgroup: ${(error as Error).message}` };
  }
  const mounts = parseCgroupMounts(mountinfo);
  const ownPaths = parseMembership(membership);
  const parentName = options.parentName ?? 'herm';
  const instance = `${process.pid}-${randomBytes(4).toString('hex')}`;

  // v1 wherever all three controllers have their own hierarchy (hybrid hosts mount an empty v2 too).
  const v1Bases = new Map<Controller, string>();
  for (const controller of CONTROLLERS) {
    const mount = mounts.find((entry) => entry.version === 1 && entry.controllers.includes(controller));
    if (!mount) break;
    const own = ownPaths.v1.get(controller) ?? '/';
    v1Bases.set(controller, baseDirectory(mount, own));
  }
  try {
    if (v1Bases.size === CONTROLLERS.length) {
      const parents = new Map<Controller, string>();
      for (const [controller, base] of v1Bases) {
        const shared = path.join(base, parentName);
        await fs.mkdir(shared, { recursive: true });
        await removeAbandoned(shared);
        parents.set(controller, path.join(shared, instance));
      }
      for (const parent of new Set(parents.values())) await fs.mkdir(parent);
      return { ok: true, cgroups: createCgroups(1, parents, options) };
    }
    const unified = mounts.find((entry) => entry.version === 2);
    if (!unified) return { ok: false, reason: 'no cgroup hierarchy with the cpu, memory and pids controllers is mounted' };
    const base = baseDirectory(unified, ownPaths.v2 ?? '/');
    const available = readFileSync(path.join(base, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
    const missing = CONTROLLERS.filter((controller) => !available.includes(controller));
    if (missing.length > 0) {
      return { ok: false, reason: `the server's cgroup (${base}) lacks the ${missing.join(', ')} controller(s); delegate them to it` };
    }
    const shared = path.join(base, parentName);
    await fs.mkdir(shared, { recursive: true });
    const enable = CONTROLLERS.map((controller) => `+${controller}`).join(' ');
    try {
      // Fails (EBUSY) when `base` holds processes and is not the root: cgroup v2's "no internal processes" rule.
      await fs.writeFile(path.join(base, 'cgroup.subtree_control'), enable);
    } catch (error) {
      return {
        ok: false,
        reason: `cannot enable controllers below ${base} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); run the server in a delegated cgroup of its own, e.g. a systemd unit with Delegate=yes`,
      };
    }
    await fs.writeFile(path.join(shared, 'cgroup.subtree_control'), enable);
    await removeAbandoned(shared);
    const parent = path.join(shared, instance);
    await fs.mkdir(parent);
    await fs.writeFile(path.join(parent, 'cgroup.subtree_control'), enable);
    return { ok: true, cgroups: createCgroups(2, new Map(CONTROLLERS.map((controller) => [controller, parent])), options) };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const hint = code === 'EACCES' || code === 'EROFS' || code === 'EPERM' ? ' (the server needs root or a delegated cgroup)' : '';
    return { ok: false, reason: `cannot create cgroups: ${(error as Error).message}${hint}` };
  }
}

/** Removes the (empty) groups left by Herm processes that are gone: killed servers, crashed tests. */
async function removeAbandoned(shared: string): Promise<void> {
  const entries = await fs.readdir(shared, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const owner = /^(\d+)-[0-9a-f]+$/.exec(entry.name);
    if (!entry.isDirectory() || !owner || processAlive(Number(owner[1]))) continue;
    const directory = path.join(shared, entry.name);
    const children = await fs.readdir(directory, { withFileTypes: true }).catch(() => []);
    for (const child of children) if (child.isDirectory()) await fs.rmdir(path.join(directory, child.name)).catch(() => {});
    await fs.rmdir(directory).catch(() => {});
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

interface CgroupMount {
  version: 1 | 2;
  controllers: string[];
  /** The group of the hierarchy that is mounted there ("/" unless it is a bind mount or a namespace view). */
  root: string;
  mountPoint: string;
}

function parseCgroupMounts(mountinfo: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const [before, after] = line.split(' - ');
    if (!before || !after) continue;
    const fields = before.split(' ');
    const [fsType, , superOptions = ''] = after.split(' ');
    const root = unescapeMountPath(fields[3] ?? '/');
    const mountPoint = unescapeMountPath(fields[4] ?? '');
    if (fsType === 'cgroup2') mounts.push({ version: 2, controllers: [], root, mountPoint });
    else if (fsType === 'cgroup') mounts.push({ version: 1, controllers: superOptions.split(','), root, mountPoint });
  }
  return mounts;
}

function unescapeMountPath(value: string): string {
  return value.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

function parseMembership(text: string): { v1: Map<string, string>; v2: string | undefined } {
  const v1 = new Map<string, string>();
  let v2: string | undefined;
  for (const line of text.split('\n')) {
    const match = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!match) continue;
    const [, id, controllers = '', groupPath = '/'] = match;
    if (id === '0' && controllers === '') v2 = groupPath;
    else for (const controller of controllers.split(',')) v1.set(controller, groupPath);
  }
  return { v1, v2 };
}

/** The directory of this process's own group in a mounted hierarchy, or the mount point when it is not visible there. */
function baseDirectory(mount: CgroupMount, ownPath: string): string {
  const relative = path.posix.relative(mount.root, ownPath);
  if (relative.startsWith('..')) return mount.mountPoint;
  const candidate = path.join(mount.mountPoint, relative);
  return existsSync(candidate) ? candidate : mount.mountPoint;
}

interface GroupState {
  users: number;
  limitsKey: string;
  /** Serialises creating, updating and removing the group. */
  pending: Promise<void>;
  removeTimer: NodeJS.Timeout | undefined;
}

function createCgroups(version: 1 | 2, parents: Map<Controller, string>, options: CgroupsOptions): Cgroups {
  const keepIdleMs = options.keepIdleMs ?? 10_000;
  const groups = new Map<string, GroupState>();
  // v1: a directory per hierarchy (cpu, memory and pids may share one); v2: one directory.
  const hierarchyDirectories = (name: string): Map<Controller, string> =>
    new Map([...parents].map(([controller, parent]) => [controller, path.join(parent, name)]));
  const distinct = (name: string): string[] => [...new Set(hierarchyDirectories(name).values())];

  const remove = async (name: string): Promise<void> => {
    for (const directory of distinct(name)) {
      await fs.rmdir(directory).catch((error: NodeJS.ErrnoException) => {
        // EBUSY: a process (a zombie being reaped) is still in it; the next use reuses the group.
        if (error.code !== 'ENOENT' && error.code !== 'EBUSY') throw error;
      });
    }
  };

  const scheduleRemoval = (name: string, state: GroupState): void => {
    clearTimeout(state.removeTimer);
    state.removeTimer = setTimeout(() => {
      state.removeTimer = undefined;
      // Queued behind the group's other changes; an acquire meanwhile queues behind the removal and
      // makes the group again (limitsKey is reset), so nothing joins a group being removed.
      state.pending = state.pending.then(async () => {
        if (state.users > 0 || groups.get(name) !== state) return;
        await remove(name).catch(() => {});
        state.limitsKey = '';
        if (state.users === 0 && groups.get(name) === state) groups.delete(name);
      });
    }, keepIdleMs);
    state.removeTimer.unref();
  };

  return {
    version,
    location: [...new Set(parents.values())].join(', '),
    async acquire(name, limits) {
      if (!GROUP_NAME.test(name)) throw new TypeError(`invalid cgroup name ${JSON.stringify(name)}`);
      const limitsKey = JSON.stringify([limits.cpus ?? 0, limits.memoryBytes ?? 0, limits.maxProcesses ?? 0]);
      let state = groups.get(name);
      if (!state) {
        state = { users: 0, limitsKey: '', pending: Promise.resolve(), removeTimer: undefined };
        groups.set(name, state);
      }
      clearTimeout(state.removeTimer);
      state.users += 1;
      const current = state;
      current.pending = current.pending.then(async () => {
        if (current.limitsKey === limitsKey) return;
        const directories = hierarchyDirectories(name);
        for (const directory of new Set(directories.values())) await fs.mkdir(directory, { recursive: true });
        await writeLimits(version, directories, limits);
        current.limitsKey = limitsKey;
      });
      try {
        await current.pending;
      } catch (error) {
        current.users -= 1;
        current.limitsKey = '';
        current.pending = Promise.resolve();
        if (current.users === 0) scheduleRemoval(name, current);
        throw error;
      }
      const directories = hierarchyDirectories(name);
      let released = false;
      return {
        procsFiles: distinct(name).map((directory) => path.join(directory, 'cgroup.procs')),
        counters: () => readCounters(version, directories),
        release() {
          if (released) return;
          released = true;
          current.users -= 1;
          if (current.users === 0) scheduleRemoval(name, current);
        },
      };
    },
    async close() {
      const names = [...groups.keys()];
      for (const state of groups.values()) clearTimeout(state.removeTimer);
      groups.clear();
      await Promise.allSettled(names.map((name) => remove(name)));
      for (const parent of new Set(parents.values())) await fs.rmdir(parent).catch(() => {});
    },
  };
}

async function writeLimits(version: 1 | 2, directories: Map<Controller, string>, limits: CgroupLimits): Promise<void> {
  const cpu = directories.get('cpu')!;
  const memory = directories.get('memory')!;
  const pids = directories.get('pids')!;
  const quota = limits.cpus ? Math.max(1_000, Math.round(limits.cpus * CPU_PERIOD_US)) : undefined;
  const processes = limits.maxProcesses ? String(limits.maxProcesses) : 'max';
  if (version === 2) {
    await fs.writeFile(path.join(cpu, 'cpu.max'), `${quota ?? 'max'} ${CPU_PERIOD_US}`);
    await fs.writeFile(path.join(memory, 'memory.max'), limits.memoryBytes ? String(limits.memoryBytes) : 'max');
    // Without this, a memory hog would push the rest of the machine into swap instead of being killed.
    await writeIfPresent(path.join(memory, 'memory.swap.max'), limits.memoryBytes ? '0' : 'max');
    await fs.writeFile(path.join(pids, 'pids.max'), processes);
    return;
  }
  await fs.writeFile(path.join(cpu, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
  await fs.writeFile(path.join(cpu, 'cpu.cfs_quota_us'), String(quota ?? -1));
  // memory+swap must stay at or above memory alone: open it up first, then set both.
  const memsw = path.join(memory, 'memory.memsw.limit_in_bytes');
  await writeIfPresent(memsw, '-1');
  await fs.writeFile(path.join(memory, 'memory.limit_in_bytes'), limits.memoryBytes ? String(limits.memoryBytes) : '-1');
  if (limits.memoryBytes) await writeIfPresent(memsw, String(limits.memoryBytes));
  await fs.writeFile(path.join(pids, 'pids.max'), processes);
}

async function writeIfPresent(file: string, value: string): Promise<void> {
  await fs.writeFile(file, value).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}

async function readCounters(version: 1 | 2, directories: Map<Controller, string>): Promise<CgroupCounters> {
  const memoryFile = version === 2 ? 'memory.events' : 'memory.oom_control';
  const [memory, pids] = await Promise.all([
    fs.readFile(path.join(directories.get('memory')!, memoryFile), 'utf8').catch(() => ''),
    fs.readFile(path.join(directories.get('pids')!, 'pids.events'), 'utf8').catch(() => ''),
  ]);
  return { oomKills: counter(memory, 'oom_kill'), forksRefused: counter(pids, 'max') };
}

function counter(text: string, key: string): number {
  const match = new RegExp(`^${key} (\\d+)$`, 'm').exec(text);
  return match ? Number(match[1]) : 0;
}

/**
 * Reads the limit counters of another process's groups (a container's init, as the host sees it), or
 * undefined when they are not visible from here (a remote Docker host, no permission).
 */
export async function countersOfProcess(pid: number, procRoot = '/proc'): Promise<(() => Promise<CgroupCounters>) | undefined> {
  try {
    const [mountinfo, membership] = await Promise.all([
      fs.readFile(path.join(procRoot, 'self', 'mountinfo'), 'utf8'),
      fs.readFile(path.join(procRoot, String(pid), 'cgroup'), 'utf8'),
    ]);
    const mounts = parseCgroupMounts(mountinfo);
    const groups = parseMembership(membership);
    const directories = new Map<Controller, string>();
    let version: 1 | 2 = 1;
    for (const controller of ['memory', 'pids'] as const) {
      const mount = mounts.find((entry) => entry.version === 1 && entry.controllers.includes(controller));
      const own = groups.v1.get(controller);
      if (mount && own) directories.set(controller, path.join(mount.mountPoint, path.posix.relative(mount.root, own)));
    }
    if (directories.size < 2) {
      const unified = mounts.find((entry) => entry.version === 2);
      if (!unified || groups.v2 === undefined) return undefined;
      const directory = path.join(unified.mountPoint, path.posix.relative(unified.root, groups.v2));
      directories.set('memory', directory);
      directories.set('pids', directory);
      version = 2;
    }
    for (const directory of directories.values()) if (!existsSync(directory)) return undefined;
    return () => readCounters(version, directories);
  } catch {
    return undefined;
  }
}
