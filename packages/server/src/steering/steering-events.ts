// The payloads of the steering events (on top of every event's run_id, thread_id, created_at) and the API's
// rendering of a request: one shape for the SSE stream, webhooks and the steering API.
import type { SteeringRequestRecord } from './steering-store.ts';

/** A request's pending tool call as clients see it; null for the agent's own question (ask_human). */
function toolCall(record: SteeringRequestRecord) {
  if (record.kind === 'ask') return null;
  const { tool, origin, tool_call_id, arguments: args } = record.tool_call;
  return { tool, origin, tool_call_id, arguments: args };
}

/** `steering_request`: the run paused for a human. */
export function steeringRequestPayload(record: SteeringRequestRecord): Record<string, unknown> {
  return {
    request_id: record.id,
    kind: record.kind,
    summary: record.summary,
    tool_call: toolCall(record),
    options: record.options,
    expires_at: new Date(record.expires_at).toISOString(),
  };
}

/** `steering_resolved`: a request was answered, expired (resolved as denied) or cancelled with its run. */
export function steeringResolvedPayload(record: SteeringRequestRecord): Record<string, unknown> {
  return { request_id: record.id, status: record.status, decision: record.decision, message: record.message };
}

/** The steering API's object. */
export function renderSteeringRequest(record: SteeringRequestRecord) {
  return {
    object: 'steering_request' as const,
    request_id: record.id,
    deployment_id: record.deployment_id,
    run_id: record.run_id,
    thread_id: record.thread_id,
    kind: record.kind,
    status: record.status,
    summary: record.summary,
    tool_call: toolCall(record),
    options: record.options,
    decision: record.decision,
    message: record.message,
    created_at: new Date(record.created_at).toISOString(),
    expires_at: new Date(record.expires_at).toISOString(),
    resolved_at: record.resolved_at === null ? null : new Date(record.resolved_at).toISOString(),
  };
}
