// A ready deployment row for tests that write to the store directly (no API, no provisioning).
import { DEFAULT_FEATURES } from '../../src/deployments/deployment-service.ts';
import type { DeploymentRecord } from '../../src/store/deployments.ts';
import { DEFAULT_STEERING_POLICY } from '../../src/steering/steering-policy.ts';
import { newId } from '../../src/util/ids.ts';

/** The fields of a new, ready bubblewrap deployment; `fields` overrides any of them. */
export function readyDeploymentRecord(
  fields: Partial<Omit<DeploymentRecord, 'event_seq'>> & Pick<DeploymentRecord, 'account_id' | 'customer_id'>,
): Omit<DeploymentRecord, 'event_seq'> {
  const now = fields.created_at ?? Date.now();
  return {
    id: newId('deployment'),
    name: `agent for ${fields.customer_id}`,
    runtime: 'hermes',
    model: 'openai-compatible/scripted-model',
    system_prompt: 'You help.',
    sandbox: { enabled: true, type: 'bubblewrap', persistent_filesystem: true },
    mcp_servers: [],
    skills: [],
    secrets: {},
    features: DEFAULT_FEATURES,
    disabled_tools: [],
    steering: DEFAULT_STEERING_POLICY,
    status: 'ready',
    status_reason: null,
    default_thread_id: newId('thread'),
    created_at: now,
    updated_at: now,
    ...fields,
  };
}
