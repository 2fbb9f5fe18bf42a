// What the memory tests share: recognising the memory observer's model calls, and waiting for background work.
import { OBSERVER_SYSTEM } from '../../src/memory/memory-observer.ts';
import type { ScriptedRequest } from '../support/scripted-model-server.ts';

/** Whether a model request's system prompt starts with `text` (OBSERVER_SYSTEM, REFLECTOR_SYSTEM). */
export const systemStarts = (request: ScriptedRequest, text: string): boolean => request.messages[0]?.role === 'system' && request.messages[0].text.startsWith(text);

/** The memory observer's model call (memory/memory-observer.ts), not a run's. */
export const isObserverRequest = (request: ScriptedRequest): boolean => systemStarts(request, OBSERVER_SYSTEM);

/** Polls `probe` every 25 ms until it returns something other than undefined or false. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
