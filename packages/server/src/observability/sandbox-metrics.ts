// Counts the commands running in sandboxes (herm_sandbox_commands_active) and the sandboxes running any
// (herm_sandboxes_active), by wrapping what the backends open: every command of a run or of the Files API goes
// through a Sandbox's exec, whichever backend runs it.
import type { SandboxBackends } from '../sandbox/sandbox-backends.ts';
import type { Sandbox, SandboxBackend } from '../sandbox/sandbox.ts';
import type { HermMetrics } from './metrics.ts';

/** Makes `backends.get()` hand out backends whose sandboxes are counted; returns the same object. */
export function countSandboxCommands(backends: SandboxBackends, metrics: HermMetrics): SandboxBackends {
  const get = backends.get.bind(backends);
  const counted = new Map<SandboxBackend, SandboxBackend>();
  /** Commands running per workspace directory, per backend type. */
  const running = new Map<string, Map<string, number>>();
  const track = (backend: string, workspaceDir: string, delta: 1 | -1) => {
    let workspaces = running.get(backend);
    if (!workspaces) running.set(backend, (workspaces = new Map()));
    const count = (workspaces.get(workspaceDir) ?? 0) + delta;
    if (count > 0) workspaces.set(workspaceDir, count);
    else workspaces.delete(workspaceDir);
    metrics.sandboxCommandsActive.inc({ backend }, delta);
    metrics.sandboxesActive.set({ backend }, workspaces.size);
  };
  const wrapSandbox = (backend: string, sandbox: Sandbox): Sandbox => ({
    spec: sandbox.spec,
    async exec(request) {
      track(backend, sandbox.spec.workspaceDir, 1);
      try {
        return await sandbox.exec(request);
      } finally {
        track(backend, sandbox.spec.workspaceDir, -1);
      }
    },
  });
  backends.get = (type: string) => {
    const backend = get(type);
    if (!backend) return undefined;
    let wrapped = counted.get(backend);
    if (!wrapped) {
      // The backend itself, with open() counting; its other members are its own, called on it (private fields work).
      const open: SandboxBackend['open'] = (spec) => wrapSandbox(backend.type, backend.open(spec));
      wrapped = new Proxy(backend, {
        get(target, property) {
          if (property === 'open') return open;
          const value: unknown = Reflect.get(target, property, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      counted.set(backend, wrapped);
    }
    return wrapped;
  };
  return backends;
}
