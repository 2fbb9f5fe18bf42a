// Store records to API objects.
import type { DeploymentRecord, StoredSkill } from '../store/deployments.ts';
import { skillDeclaration } from '../skills/skill-entries.ts';
import type { RunRecord } from '../store/runs.ts';
import { allowedHostsOf, type SecretRecord } from '../store/secrets.ts';
import type { MessageRecord, ThreadRecord } from '../store/threads.ts';
import type { SnapshotRecord } from '../store/snapshots.ts';
import { toIso } from '../util/time.ts';
import { WORKSPACE_PATH } from '../sandbox/sandbox.ts';

export function renderDeployment(deployment: DeploymentRecord, origin: string) {
  return {
    deployment_id: deployment.id,
    customer_id: deployment.customer_id,
    name: deployment.name,
    runtime: deployment.runtime,
    status: deployment.status,
    status_reason: deployment.status_reason,
    model: deployment.model,
    system_prompt: deployment.system_prompt,
    sandbox: deployment.sandbox,
    mcp_servers: deployment.mcp_servers,
    skills: deployment.skills.map(renderDeploymentSkill),
    secrets: deployment.secrets,
    features: deployment.features,
    steering: deployment.steering,
    thread_id: deployment.default_thread_id,
    filesystem: { workspace_path: WORKSPACE_PATH, persistent: deployment.sandbox.persistent_filesystem },
    events: { transport: 'sse' as const, url: `${origin}/v1/deployments/${deployment.id}/events` },
    created_at: toIso(deployment.created_at)!,
    updated_at: toIso(deployment.updated_at)!,
  };
}

/** A skill in the deployment's `skills` array: its id and declaration (never what was fetched for a url skill). */
export function renderDeploymentSkill(skill: StoredSkill) {
  return { skill_id: skill.skill_id, ...skillDeclaration(skill) };
}

export function renderRun(run: RunRecord) {
  return {
    run_id: run.id,
    deployment_id: run.deployment_id,
    thread_id: run.thread_id,
    status: run.status,
    trigger: run.trigger,
    ...(run.automation_id ? { automation_id: run.automation_id } : {}),
    steps: run.steps,
    error: run.error,
    created_at: toIso(run.created_at)!,
    started_at: toIso(run.started_at),
    completed_at: toIso(run.completed_at),
  };
}

export function renderThread(thread: ThreadRecord, activeRunStatus?: string) {
  return {
    thread_id: thread.id,
    deployment_id: thread.deployment_id,
    title: thread.title,
    status: (activeRunStatus === 'waiting_on_human' ? 'waiting_on_human' : thread.active_run_id ? 'running' : 'idle') as
      | 'idle'
      | 'running'
      | 'waiting_on_human',
    message_count: Number(thread.message_count),
    last_activity_at: toIso(thread.last_activity_at),
    created_at: toIso(thread.created_at)!,
  };
}

export function renderMessage(message: MessageRecord) {
  return {
    message_id: message.id,
    role: message.role as 'user' | 'agent',
    content: message.content,
    ...(message.attachments ? { attachments: JSON.parse(message.attachments) as { type: string; url: string }[] } : {}),
    run_id: message.run_id,
    created_at: toIso(message.created_at)!,
  };
}

export function renderSecret(secret: SecretRecord) {
  return { secret_id: secret.id, name: secret.name, allowed_hosts: allowedHostsOf(secret), created_at: toIso(secret.created_at)! };
}

export function renderSnapshot(snapshot: SnapshotRecord) {
  return {
    snapshot_id: snapshot.id,
    deployment_id: snapshot.deployment_id,
    customer_id: snapshot.customer_id,
    size_bytes: snapshot.size_bytes,
    content_bytes: snapshot.content_bytes,
    created_at: toIso(snapshot.created_at)!,
    expires_at: toIso(snapshot.expires_at)!,
  };
}
