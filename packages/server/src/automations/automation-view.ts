// An automation and its firings as the Automations API and the agent's `automations` tool show them.
import type { AutomationRecord, FiringRecord } from '../store/automations.ts';
import { toIso } from '../util/time.ts';
import type { SkipReason } from './automation-service.ts';

export function renderAutomation(automation: AutomationRecord) {
  return {
    automation_id: automation.id,
    deployment_id: automation.deployment_id,
    name: automation.name,
    schedule: automation.schedule,
    schedule_text: automation.schedule_text,
    instructions: automation.instructions,
    thread_id: automation.thread_id,
    enabled: automation.enabled,
    last_run_id: automation.last_run_id,
    last_run_at: toIso(automation.last_run_at),
    last_run_status: automation.last_run_status,
    next_run_at: toIso(automation.next_run_at),
    created_at: toIso(automation.created_at)!,
    updated_at: toIso(automation.updated_at)!,
  };
}

/** One firing: a run it started (with the run's status now) or a due time it skipped (status `skipped`, with why). */
export function renderFiring(firing: FiringRecord) {
  return {
    run_id: firing.run_id,
    status: firing.status === 'skipped' ? ('skipped' as const) : (firing.run_status ?? 'error'),
    trigger: firing.trigger,
    scheduled_for: toIso(firing.scheduled_for),
    fired_at: toIso(firing.fired_at)!,
    skip_reason: firing.reason as SkipReason | null,
  };
}
