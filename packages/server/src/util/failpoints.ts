// Failpoints: named places, just before and just after each commit of a run's state (and of the background work
// that starts runs or writes memory), where a test can make the process die as a crash would (kill -9), to prove
// that a restart or another node picks up from what was committed and nothing is lost, doubled or left unanswered.
// Off unless HERM_FAILPOINTS names them (comma-separated), in the spirit of TiKV's fail-rs and FoundationDB's
// buggify; off, a failpoint is one Set lookup.

/** Every failpoint, in the order a run meets them. `*.before_commit` fires inside the transaction, after its writes. */
export const FAILPOINTS = [
  // POST …/messages: the thread ("new"), the run, its input and the visible message (store/runs.ts submitMessage).
  'submit.before_commit',
  'submit.after_commit',
  // Taking over a run whose lease expired, or every running run at an embedded start (attempt + 1).
  'run.claim.before_commit',
  'run.claim.after_commit',
  // A resumed run answers the tool calls its last attempt left unanswered.
  'run.close_interrupted.before_commit',
  'run.close_interrupted.after_commit',
  // A model step begins: pending inputs enter the history, the step is counted, the first sends "running".
  'run.step.before_commit',
  'run.step.after_commit',
  // The model's message with its tool calls, and the first tool_call event.
  'run.tool_calls.before_commit',
  'run.tool_calls.after_commit',
  // A tool's result in the history, its tool_result event and the next call's tool_call event.
  'run.tool_result.before_commit',
  'run.tool_result.after_commit',
  // The end of a run: its status, last messages, agent message and final run_status event.
  'run.finish.before_commit',
  'run.finish.after_commit',
  // A run that cannot start (configuration error) ends with its final run_status event.
  'run.fail_before_start.before_commit',
  'run.fail_before_start.after_commit',
  // A run past HERM_RUN_MAX_ATTEMPTS ends in error.
  'run.abandon.before_commit',
  'run.abandon.after_commit',
  // Graceful shutdown hands a run still at work back (its lease released for the next node or start).
  'run.handoff.before_commit',
  'run.handoff.after_commit',
  // Steering (runs/run-journal.ts pauseForHuman, takeApproval): a run pausing for a human, and an approved run taking
  // its approval before the call runs. Driven by test/e2e/steering-crash.test.ts.
  'steering.pause.before_commit',
  'steering.pause.after_commit',
  'steering.approval.before_commit',
  'steering.approval.after_commit',
  // A scheduled automation firing (automations/automation-service.ts #fireScheduled): the claim of its due time, the
  // firing's record, its message and run and the automation_fired event, in one commit; then the run starts. Not
  // places of a run of their own: driven by test/e2e/automation-crash.test.ts.
  'automation.fire.before_commit',
  'automation.fire.after_commit',
  // The memory observer (memory/memory-observer.ts): a thread's observations written as memories, the thread's
  // marker not yet moved past the messages they came from. Driven by test/memory/memory-crash.test.ts.
  'memory.observe.before_finish',
  // Not places of a run: faults `herm serve` injects into itself once it listens, to prove its process-level
  // handlers (util/process-handlers.ts): a promise rejection nobody handles (logged, the server serves on) and an
  // exception nobody catches (logged, the process exits 1). They do not kill the process like the others.
  'process.unhandled_rejection',
  'process.uncaught_exception',
] as const;

export type FailpointName = (typeof FAILPOINTS)[number];

const known = new Set<string>(FAILPOINTS);

function parse(value: string | undefined): Set<string> {
  return new Set(
    (value ?? '')
      .split(',')
      .map((name) => name.trim())
      .filter(Boolean),
  );
}

const enabled = parse(process.env.HERM_FAILPOINTS);

/** The failpoints HERM_FAILPOINTS switched on; throws naming any that does not exist (a typo would test nothing). */
export function enabledFailpoints(): string[] {
  const unknown = [...enabled].filter((name) => !known.has(name));
  if (unknown.length > 0) {
    throw new Error(`HERM_FAILPOINTS names unknown failpoints: ${unknown.join(', ')} (known: ${FAILPOINTS.join(', ')})`);
  }
  return [...enabled];
}

/** Whether HERM_FAILPOINTS switched `name` on (for failpoints that do something other than kill the process). */
export function failpointEnabled(name: FailpointName): boolean {
  return enabled.size > 0 && enabled.has(name);
}

/** Kills this process at once (SIGKILL: no handler, no cleanup, no flush) when `name` is switched on. */
export function failpoint(name: FailpointName): void {
  if (enabled.size === 0 || !enabled.has(name)) return;
  // Synchronous on Linux for files and pipes, so the line is out before the process dies.
  process.stderr.write(`herm: failpoint ${name}: killing the process\n`);
  process.kill(process.pid, 'SIGKILL');
}
