// Which of Herm's events become webhook messages, and the messages' payloads (Standard Webhooks style:
// `{ type, timestamp, data }`). A feature that emits a new kind of event plugs in here: one entry in
// WEBHOOK_EVENT_SOURCES and the outbox enqueues it, in the transaction that commits the event.
import type { NewEvent } from '../store/events.ts';

/** The event types an endpoint may subscribe to. */
export const WEBHOOK_EVENT_TYPES = ['run.completed', 'run.failed', 'steering.requested', 'filesystem.changed', 'automation.fired', 'endpoint.disabled'] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export const WEBHOOK_EVENT_DESCRIPTIONS: Record<WebhookEventType, string> = {
  'run.completed': 'A run ended in `completed` (its final `run_status` event).',
  'run.failed': 'A run ended in `error` (its final `run_status` event), with the error.',
  'steering.requested': 'A run paused for a human (a `steering_request` event): approve, deny or reply through the API.',
  'filesystem.changed': 'Files changed in a workspace (a `filesystem` event; deployments with `features.filesystem_webhooks`).',
  'automation.fired': 'An automation started a run (an `automation_fired` event).',
  'endpoint.disabled':
    "Another webhook endpoint of the account was disabled after persistent failure (an operational message, sent to the account's other endpoints that subscribe to it): which one, and why.",
};

/** The webhook type of a stored event, or undefined for the events no webhook tells of. */
export function webhookTypeOf(event: Pick<NewEvent, 'type' | 'data'>): WebhookEventType | undefined {
  switch (event.type) {
    case 'run_status':
      return event.data.status === 'completed' ? 'run.completed' : event.data.status === 'error' ? 'run.failed' : undefined;
    case 'steering_request':
      return 'steering.requested';
    case 'filesystem':
      return 'filesystem.changed';
    case 'automation_fired':
      return 'automation.fired';
    default:
      return undefined;
  }
}

/** The Herm event types that may map to a webhook type (a cheap first filter). */
export const WEBHOOK_EVENT_SOURCES: ReadonlySet<string> = new Set(['run_status', 'steering_request', 'filesystem', 'automation_fired']);

/**
 * The JSON body of a message: `type`, `timestamp` (when the event was committed) and `data`: the deployment,
 * its customer, thread and run, then the event's own fields (a run's `status` and `error`, a steering request's
 * `request_id` and `summary`, a file change's `change` and `path`…).
 */
export function webhookPayload(
  type: WebhookEventType,
  event: Pick<NewEvent, 'deploymentId' | 'threadId' | 'runId' | 'data'>,
  context: { customerId: string; createdAt: number },
): string {
  return JSON.stringify({
    type,
    timestamp: new Date(context.createdAt).toISOString(),
    data: {
      deployment_id: event.deploymentId,
      customer_id: context.customerId,
      thread_id: event.threadId,
      run_id: event.runId,
      ...event.data,
    },
  });
}
