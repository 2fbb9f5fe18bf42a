// Everything a request handler may use, built once in server.ts and passed down explicitly.
import type { Logger } from 'pino';
import type { KeyVerifier } from './api/auth.ts';
import type { AutomationScheduler } from './automations/automation-scheduler.ts';
import type { AutomationService } from './automations/automation-service.ts';
import type { DreamScheduler } from './dreams/dream-scheduler.ts';
import type { DreamService } from './dreams/dream-service.ts';
import type { Config } from './config.ts';
import type { DeploymentService } from './deployments/deployment-service.ts';
import type { DeploymentToolset } from './mcp/deployment-toolset.ts';
import type { EventHub } from './events/event-hub.ts';
import type { EventLog } from './events/event-log.ts';
import type { WorkspaceFiles } from './files/workspace-files.ts';
import type { WorkspaceChangeTracker } from './files/workspace-changes.ts';
import type { RunManager } from './runs/run-manager.ts';
import type { SecretCipher } from './secrets/secret-cipher.ts';
import type { SnapshotService } from './snapshots/snapshot-service.ts';
import type { SteeringService } from './steering/steering-service.ts';
import type { Store } from './store/store.ts';
import type { WebhookWorker } from './webhooks/webhook-worker.ts';
import type { MemoryService } from './memory/memory-service.ts';
import type { HermMetrics } from './observability/metrics.ts';
import type { QuotaService } from './quotas/quota-service.ts';
import type { UsageService } from './usage/usage-service.ts';

export interface Services {
  config: Config;
  store: Store;
  hub: EventHub;
  events: EventLog;
  runs: RunManager;
  deployments: DeploymentService;
  /** Workspace snapshots of deleted deployments. */
  snapshots: SnapshotService;
  /** The Files API's access to workspaces, through each deployment's sandbox. */
  files: WorkspaceFiles;
  /** Finds what commands change in workspaces: filesystem events (features.filesystem_webhooks). */
  workspaceChanges: WorkspaceChangeTracker;
  secretCipher: SecretCipher;
  /** Usage and credits: the usage ledger, the price table and credit budgets (usage/). */
  usage: UsageService;
  keys: KeyVerifier;
  logger: Logger;
  nodeId: string;
  /** Each deployment's tools (built-ins and MCP servers' tools), for runs and the Tools API. */
  tools: DeploymentToolset;
  /** Sends webhook deliveries; wake() after making one due. */
  webhooks: WebhookWorker;
  /** Deployments' observational memory: the files under /workspace/.herm/memory/, their versions (memory/). */
  memory: MemoryService;
  /** Answers and expiries of steering requests (steering/steering-service.ts). */
  steering: SteeringService;
  /** Deployments' automations: the Automations API, the agent's tool and the firings (automations/). */
  automations: AutomationService;
  /** This node's scheduler of automation firings; tick() fires what is due now (tests, after moving the clock). */
  automationScheduler: AutomationScheduler;
  /** Dreaming: dreams, their changes and rollback, learned skills (dreams/). */
  dreams: DreamService;
  /** This node's dream worker; tick() starts the dreams due now (tests, after moving the clock). */
  dreamScheduler: DreamScheduler;
  /** This server's Prometheus metrics (GET /metrics): its own registry, defined in observability/metrics.ts. */
  metrics: HermMetrics;
  /** Per-account quotas and rate limits (quotas/): the checks, and accounts' overrides. */
  quotas: QuotaService;
}
