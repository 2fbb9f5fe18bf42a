// The invariants a run keeps whatever kills its server (issue 10), as checks on what a client receives: the
// Last-Event-ID replay of a deployment has every id once, in order, without gaps; each run has exactly one final
// run_status, its last event; every tool_call has exactly one tool_result after it. Each check returns what is
// wrong (empty when all holds), so a test with many runs can report them all at once.
import { parseEventId } from '../../src/events/event-id.ts';
import type { WireEvent } from './sse-client.ts';

export const isFinalStatus = (event: WireEvent): boolean =>
  event.type === 'run_status' && (event.data.status === 'completed' || event.data.status === 'error');

/** One line per event, for failure messages. */
export function describeEvents(events: WireEvent[]): string {
  return events
    .map((event) => `${event.id} ${event.data.run_id ?? ''} ${event.type} ${event.data.status ?? event.data.tool_call_id ?? ''}`.trimEnd())
    .join('\n');
}

/**
 * A replay of a deployment's stream after `afterSeq` (0: from the start): ids of this deployment, numbered
 * afterSeq + 1, afterSeq + 2, … without a gap, a duplicate or a reordering.
 */
export function replayProblems(deploymentId: string, events: WireEvent[], afterSeq = 0): string[] {
  const problems: string[] = [];
  for (const [index, event] of events.entries()) {
    const seq = parseEventId(deploymentId, event.id);
    if (seq === undefined) problems.push(`event ${index}: ${event.id} is not an id of ${deploymentId}`);
    else if (seq !== afterSeq + index + 1) {
      problems.push(`event ${index}: ${event.id} is seq ${seq}, expected ${afterSeq + index + 1} (lost, duplicated or out of order)`);
    }
    if (problems.length >= 5) break;
  }
  return problems;
}

/**
 * One run's events in stream order: exactly one final run_status and it is the last; every tool_call id once,
 * answered by exactly one tool_result after it; no tool_result without its call.
 */
export function runEventProblems(runId: string, events: WireEvent[]): string[] {
  const problems: string[] = [];
  const foreign = events.filter((event) => event.data.run_id !== runId);
  if (foreign.length > 0) problems.push(`${runId}: ${foreign.length} events of other runs among its own`);
  const finals = events.filter(isFinalStatus);
  if (finals.length !== 1) problems.push(`${runId}: ${finals.length} final run_status events, expected exactly 1`);
  else if (events.at(-1) !== finals[0]) problems.push(`${runId}: its final run_status is not its last event`);
  const callAt = new Map<string, number>();
  for (const [index, event] of events.entries()) {
    if (event.type === 'tool_call') {
      const id = event.data.tool_call_id as string;
      if (callAt.has(id)) problems.push(`${runId}: tool_call ${id} announced twice`);
      callAt.set(id, index);
    }
  }
  const answered = new Map<string, number>();
  for (const [index, event] of events.entries()) {
    if (event.type !== 'tool_result') continue;
    const id = event.data.tool_call_id as string;
    const call = callAt.get(id);
    if (call === undefined) problems.push(`${runId}: tool_result ${id} without its tool_call`);
    else if (call > index) problems.push(`${runId}: tool_result ${id} before its tool_call`);
    answered.set(id, (answered.get(id) ?? 0) + 1);
  }
  for (const id of callAt.keys()) {
    const count = answered.get(id) ?? 0;
    if (count !== 1) problems.push(`${runId}: tool_call ${id} answered ${count} times, expected exactly once`);
  }
  return problems;
}
