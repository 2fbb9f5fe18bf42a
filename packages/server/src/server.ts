// Builds the services and serves the API: `herm serve` and the tests both start Herm through here.
import fs from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import type { ServerType } from '@hono/node-server';
import type { LanguageModel } from 'ai';
import type { Logger } from 'pino';
import { createApiServer } from './api/http-server.ts';
import { createApp } from './api/app.ts';
import { KeyVerifier, SCOPES } from './api/auth.ts';
import { QuotaService, quotaDefaults } from './quotas/quota-service.ts';
import { KeyRevocations } from './api/key-revocations.ts';
import type { Config } from './config.ts';
import { DeploymentService } from './deployments/deployment-service.ts';
import { SessionWorkspaces } from './deployments/session-workspaces.ts';
import { EventHub } from './events/event-hub.ts';
import { EventLog } from './events/event-log.ts';
import { PostgresEventRelay } from './events/postgres-event-relay.ts';
import { PostgresListener } from './events/postgres-listener.ts';
import { SSE_RETRY_MS } from './events/sse-stream.ts';
import { loadFilesSettings } from './files/files-settings.ts';
import { sweepUploadTemporaries, UPLOAD_STALE_MINUTES } from './files/upload-temporaries.ts';
import { WorkspaceFiles } from './files/workspace-files.ts';
import { WorkspaceChangeTracker } from './files/workspace-changes.ts';
import { createAttachmentDownload } from './net/attachment-download.ts';
import { outboundPolicyFromConfig } from './net/outbound-fetch.ts';
import { DeploymentToolset } from './mcp/deployment-toolset.ts';
import { McpConnections } from './mcp/mcp-connections.ts';
import { mcpSecretValues } from './mcp/mcp-secret-values.ts';
import { RunManager } from './runs/run-manager.ts';
import { SteeringService } from './steering/steering-service.ts';
import { prepareRunSkills } from './skills/run-skills.ts';
import { createBuiltinTools, DEFAULT_BUILTIN_TOOLS_OPTIONS } from './runtime/tools/builtin-tools.ts';
import type { SandboxBackend } from './sandbox/sandbox.ts';
import { sandboxCeilingsFromConfig } from './sandbox/limits/limit-ceilings.ts';
import { createSandboxBackends, fromBackends, sandboxLimitsFromConfig } from './sandbox/sandbox-backends.ts';
import { createUnsandboxedBackend } from './sandbox/unsandboxed.ts';
import { SecretCipher } from './secrets/secret-cipher.ts';
import { DeploymentSecrets } from './secrets/deployment-secrets.ts';
import { EgressTls } from './sandbox/egress/egress-tls.ts';
import { retentionMsFromDays, SnapshotService } from './snapshots/snapshot-service.ts';
import type { Services } from './services.ts';
import { DEFAULT_ACCOUNT_ID } from './store/accounts.ts';
import { startIdempotencySweeper } from './store/idempotency.ts';
import { openStore } from './store/open-store.ts';
import { createServerLogger } from './logging/log-output.ts';
import { DEFAULT_MODEL, parseModelName, resolveModel, type ModelProvider } from './models/index.ts';
import { MemoryObserver } from './memory/memory-observer.ts';
import { promptMemory } from './memory/memory-prompt.ts';
import { MemoryService } from './memory/memory-service.ts';
import { readEnvironmentValue } from './models/model-config.ts';
import { enabledFailpoints } from './util/failpoints.ts';
import { randomBase62 } from './util/ids.ts';
import { startIdleMemoryReclaimer } from './util/idle-memory.ts';
import { WebhookEndpointCache } from './webhooks/endpoint-cache.ts';
import { WebhookOutbox } from './webhooks/webhook-outbox.ts';
import { WebhookWorker } from './webhooks/webhook-worker.ts';
import { HermMetrics } from './observability/metrics.ts';
import { countSandboxCommands } from './observability/sandbox-metrics.ts';
import { AutomationScheduler } from './automations/automation-scheduler.ts';
import { DreamScheduler } from './dreams/dream-scheduler.ts';
import { memoryDirectoryFingerprint } from './memory/memory-fingerprint.ts';
import { DreamService } from './dreams/dream-service.ts';
import { AutomationService } from './automations/automation-service.ts';
import { automationBuiltins } from './automations/automations-tool.ts';
import { systemClock, type Clock } from './util/time.ts';
import { injectProcessFaults, installProcessHandlers } from './util/process-handlers.ts';
import { UsageService } from './usage/usage-service.ts';

export interface StartOptions {
  logger?: Logger;
  /** The environment model providers read; defaults to process.env. */
  modelEnvironment?: Record<string, string | undefined>;
  /** The environment settings outside Config read (HERM_MAX_FILE_BYTES); defaults to process.env. */
  environment?: Record<string, string | undefined>;
  modelOverride?: (name: string) => LanguageModel;
  /** Offer only this sandbox backend (instead of bubblewrap and docker as configured), as the default. */
  sandboxBackend?: SandboxBackend;
  /** Where the one-time admin key announcement goes (stdout by default). */
  announce?: (line: string) => void;
  /**
   * Once listening, install the process-level handlers of util/process-handlers.ts (`herm serve` does; an embedding
   * process or a test runner keeps its own): unhandled rejections are logged, uncaught exceptions logged and the
   * process exits 1. Removed by close().
   */
  processHandlers?: boolean;
  /** The clock automations are scheduled by (tests move it forward); Date.now by default. */
  clock?: Clock;
}

export interface RunningServer {
  url: string;
  port: number;
  services: Services;
  /** The Node HTTP server (tests cut its connections to prove clients resume). */
  httpServer: ServerType;
  /** Set when this start created the first admin key. */
  createdAdminKey: string | undefined;
  /**
   * Graceful shutdown (SIGTERM): messages get a 503 and no run is taken over any more, the runs at work here may
   * end for up to `graceMs` (HERM_SHUTDOWN_GRACE_MS) while event streams stay open, then close() hands off the rest.
   */
  shutdown(graceMs?: number): Promise<void>;
  /** Stops at once: runs at work are handed off (they stay running, resumed by the next node or start). */
  close(): Promise<void>;
}

/** Ensures an admin key exists: HERM_ADMIN_KEY when set, otherwise one created (and shown once) on first start. */
async function bootstrapKeys(services: Services): Promise<string | undefined> {
  const { store, config } = services;
  await store.accounts.ensureAccount(DEFAULT_ACCOUNT_ID, 'Default account');
  if (config.HERM_ADMIN_KEY) {
    await store.accounts.ensureKey({ accountId: DEFAULT_ACCOUNT_ID, scopes: [...SCOPES], name: 'HERM_ADMIN_KEY', secret: config.HERM_ADMIN_KEY });
    return undefined;
  }
  // Nodes starting together on a fresh database: one of them creates (and shows) it.
  return store.accounts.createFirstKey({ accountId: DEFAULT_ACCOUNT_ID, scopes: [...SCOPES], name: 'admin (first start)' });
}

/** A start that could not listen (the port taken, the address not this machine's): one line naming the setting. */
export class ListenError extends Error {
  readonly code: string | undefined;
  constructor(message: string, code: string | undefined) {
    super(message);
    this.code = code;
  }
}

function listenError(error: NodeJS.ErrnoException, host: string, port: number): Error {
  const where = `${host}:${port}`;
  if (error.code === 'EADDRINUSE') return new ListenError(`port ${port} on ${host} is already in use (PORT=${port}, HOST=${host}): stop what listens there or set PORT to a free port`, error.code);
  if (error.code === 'EACCES') return new ListenError(`not allowed to listen on ${where} (PORT=${port}): ports below 1024 need root; set PORT to 1024 or above`, error.code);
  if (error.code === 'EADDRNOTAVAIL') return new ListenError(`${host} is not an address of this machine (HOST=${host})`, error.code);
  return new ListenError(`cannot listen on ${where} (PORT, HOST): ${error.message}`, error.code);
}

/** Listens on host:port and lets go again: a ListenError when that is not possible. */
function probeListen(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => reject(listenError(error, host, port)));
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/**
 * The first start's admin key: a block that stands out, saying it is shown once and where it is not kept (the store
 * keeps only a hash of it). Framed on a terminal; the key ends the first line either way (tests and scripts read it there).
 */
export function adminKeyAnnouncement(key: string, framed: boolean): string {
  const first = 'Created an admin API key (shown once, store it now): ';
  const rest = [
    'Herm keeps only a hash of it: the key itself is not in the database, the data directory or the logs,',
    'and cannot be shown again (lost: ./herm keys create --scopes … makes another).',
  ];
  if (!framed) return [`${first}${key}`, ...rest].join('\n');
  const width = Math.max(first.length + key.length, ...rest.map((line) => line.length));
  const bold = (text: string) => `\u001b[1;33m${text}\u001b[0m`;
  const row = (text: string, length = text.length) => `${bold('┃')} ${text}${' '.repeat(width - length)} ${bold('┃')}`;
  return [
    bold(`┏${'━'.repeat(width + 2)}┓`),
    row(`${first}${bold(key)}`, first.length + key.length),
    ...rest.map((line) => row(line)),
    bold(`┗${'━'.repeat(width + 2)}┛`),
  ].join('\n');
}

/** The setting that makes each provider usable (an OpenAI-compatible server needs its URL; a key is optional). */
const PROVIDER_SETTINGS: Record<ModelProvider, string> = {
  anthropic: 'ANTHROPIC_API_KEY',
  openai: 'OPENAI_API_KEY',
  google: 'GOOGLE_GENERATIVE_AI_API_KEY',
  'openai-compatible': 'OPENAI_COMPATIBLE_BASE_URL',
};
const PROVIDER_KEY_VARIABLES = Object.values(PROVIDER_SETTINGS);

/** At start: which model provider keys are set (names, never values), the default model, a warning without any. */
export function logModelProviders(logger: Logger, environment: Record<string, string | undefined>): void {
  const set = PROVIDER_KEY_VARIABLES.filter((variable) => readEnvironmentValue(environment, variable) !== undefined);
  const defaultKey = PROVIDER_SETTINGS[parseModelName(DEFAULT_MODEL).provider];
  const fields = { providerKeys: set, defaultModel: DEFAULT_MODEL };
  if (set.length === 0) {
    logger.warn(
      fields,
      `no model provider key is set (${PROVIDER_KEY_VARIABLES.join(', ')}): every run ends in configuration_error until one is set in the server's environment; deployments without a model get ${DEFAULT_MODEL} (needs ${defaultKey})`,
    );
    return;
  }
  logger.info(fields, `model provider keys set: ${set.join(', ')}; deployments without a model get ${DEFAULT_MODEL}`);
  if (!set.includes(defaultKey)) {
    logger.warn(fields, `${defaultKey} is not set: deployments without a model (${DEFAULT_MODEL}) end their runs in configuration_error; give them a model of a provider set here`);
  }
}

export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? createServerLogger({ level: config.LOG_LEVEL, format: config.LOG_FORMAT });
  // A port in use is told before anything is opened or created (the first start's admin key among them).
  if (config.PORT !== 0) await probeListen(config.HOST, config.PORT);
  const failpoints = enabledFailpoints();
  if (failpoints.length > 0) logger.warn({ failpoints }, 'failpoints are on (HERM_FAILPOINTS): this process kills itself at the run.* and submit.* ones, and injects the faults of process.* ones');
  const filesSettings = loadFilesSettings(options.environment ?? process.env);
  const store = await openStore({
    dataDir: config.dataDir,
    databaseUrl: config.DATABASE_URL,
    onConnectionError: (error) => logger.warn({ err: error }, 'database connection lost'),
  });
  // Workspaces hold files the sandbox user made, and with the server as root that is host root (a setuid
  // file there would be a setuid-root file): nobody else on the host may reach them, even when an
  // operator made the data directory itself with looser permissions.
  const workspacesRoot = path.join(config.dataDir, 'workspaces');
  await fs.mkdir(workspacesRoot, { recursive: true, mode: 0o700 });
  await fs.chmod(workspacesRoot, 0o700);
  const nodeId = `node_${randomBase62(12)}`;
  // This server's Prometheus metrics (GET /metrics): a registry of its own, so that servers in one process stay apart.
  const metrics = new HermMetrics();
  const hub = new EventHub({ logger });
  const events = new EventLog(store.events, hub, nodeId);
  // PostgreSQL: one connection LISTENs for the other nodes' events and for revoked keys, reconnecting forever.
  const listener = config.DATABASE_URL ? new PostgresListener({ connectionString: config.DATABASE_URL, logger }) : undefined;
  const relay = listener
    ? new PostgresEventRelay({ listener, repository: store.events, hub, nodeId, logger, onRelayed: (lagMs) => metrics.eventRelayLagSeconds.observe(Math.max(0, lagMs) / 1000) })
    : undefined;
  // Which endpoints each deployment's events go to, cached for the outbox; emptied by every endpoint write (other
  // nodes' too, by NOTIFY: so registered before the listener starts).
  const webhookEndpoints = new WebhookEndpointCache({ ttlMs: listener ? 1_000 : Number.POSITIVE_INFINITY, listener });
  store.webhooks.onEndpointsChanged(() => webhookEndpoints.invalidate());
  const keys = new KeyVerifier(store.accounts);
  // Quotas and rate limits: the server's defaults (all off unless configured), each account's overrides.
  const quotas = new QuotaService({ db: store.db, dialect: store.dialect, defaults: quotaDefaults(config), defaultDiskMb: config.HERM_SANDBOX_DISK_MB, logger: logger.child({ component: 'quotas' }) });
  const revocations = new KeyRevocations({ accounts: store.accounts, verifier: keys, hub, listener, logger });
  await listener?.start();
  await revocations.start();
  const secretCipher = SecretCipher.fromConfig(config.HERM_SECRET_KEY, config.dataDir);
  // Connector secrets: placeholders in the sandbox, the real values put into requests to their hosts by the egress
  // proxy, which terminates TLS for those hosts with this server's CA (docs/secrets.md).
  const deploymentSecrets = new DeploymentSecrets({ store, cipher: secretCipher });
  const egressTls = new EgressTls({ dataDir: config.dataDir, extraCaFiles: config.HERM_EGRESS_CA_CERTS });
  const sandboxBackends = options.sandboxBackend
    ? fromBackends([
        options.sandboxBackend,
        ...(config.HERM_ALLOW_UNSANDBOXED
          ? [createUnsandboxedBackend({ limits: sandboxLimitsFromConfig(config) })]
          : []),
      ])
    : await createSandboxBackends({
        config,
        logger: logger.child({ component: 'sandbox' }),
        egressSecrets: { bindings: (deploymentId) => deploymentSecrets.bindings(deploymentId), tls: egressTls },
      });
  // Every command of a run or of the Files API is counted while it runs (herm_sandbox_commands_active).
  countSandboxCommands(sandboxBackends, metrics);
  let runs: RunManager | undefined;
  const builtinTools = { ...createBuiltinTools({ maxShellTimeoutSeconds: Math.floor(config.HERM_MAX_COMMAND_TIMEOUT_MS / 1000) }) };
  const mcpConnections = new McpConnections({
    policy: outboundPolicyFromConfig(config),
    timeoutMs: config.HERM_MCP_TIMEOUT_MS,
    secretValues: mcpSecretValues(store, secretCipher),
    logger: logger.child({ component: 'mcp' }),
  });
  let automations: AutomationService | undefined;
  let dreams: DreamService | undefined;
  const toolset = new DeploymentToolset({
    builtins: builtinTools,
    // The agent manages its automations with a tool of its own, offered only with features.automations on.
    deploymentBuiltins: (deployment) => automationBuiltins(automations, deployment),
    connections: mcpConnections,
    largeOutput: { thresholdCharacters: DEFAULT_BUILTIN_TOOLS_OPTIONS.largeOutputThreshold, previewCharacters: DEFAULT_BUILTIN_TOOLS_OPTIONS.previewCharacters },
    // The Tools API answers promptly: a server that does not list its tools in time shows as unavailable.
    listTimeoutMs: Math.min(config.HERM_MCP_TIMEOUT_MS, 5_000),
  });
  const snapshots = new SnapshotService({
    store,
    dataDir: config.dataDir,
    retentionMs: retentionMsFromDays(config.HERM_SNAPSHOT_RETENTION_DAYS),
    logger: logger.child({ component: 'snapshots' }),
  });
  const sessionWorkspaces = new SessionWorkspaces({
    store,
    dataDir: config.dataDir,
    idleMs: config.HERM_EPHEMERAL_WORKSPACE_IDLE_MS,
    sandboxBackends,
    logger: logger.child({ component: 'session-workspaces' }),
  });
  const deployments = new DeploymentService({
    store,
    sandboxBackends,
    dataDir: config.dataDir,
    logger,
    provisionWaitMs: config.HERM_PROVISION_WAIT_MS,
    provisionDelayMs: config.HERM_PROVISION_DELAY_MS,
    allowUnsandboxed: config.HERM_ALLOW_UNSANDBOXED,
    internalDestinations: config.HERM_SANDBOX_INTERNAL_DESTINATIONS,
    outboundPolicy: outboundPolicyFromConfig(config),
    skillFetchTimeoutMs: config.HERM_SKILL_FETCH_TIMEOUT_MS,
    limitCeilings: sandboxCeilingsFromConfig(config),
    snapshots,
    defaultDiskMb: config.HERM_SANDBOX_DISK_MB,
    sessionWorkspaces,
    quotas,
    onDeleted: async (deploymentId) => {
      await runs?.cancelDeployment(deploymentId);
      // Its automations go with it (they stopped firing when it was marked deleted).
      await store.automations.deleteForDeployment(deploymentId);
      await mcpConnections.closeDeployment(deploymentId);
      // Its memory's index, versions and observer state go with it (the files go with the workspace).
      await store.memories.deleteDeployment(deploymentId);
      await store.dreams.deleteDeployment(deploymentId);
    },
  });
  // Filesystem events (features.filesystem_webhooks): one tracker, so commands at work in one workspace at once
  // (a run's, a Files API call's) report each change once.
  const workspaceChanges = new WorkspaceChangeTracker({
    settings: { maxEntries: config.HERM_FILESYSTEM_EVENTS_MAX_FILES, maxEventsPerCommand: config.HERM_FILESYSTEM_EVENTS_MAX_PER_COMMAND },
    attachWorkspace: (workspaceDir) => sandboxBackends.attachWorkspace(workspaceDir),
    logger: logger.child({ component: 'files' }),
  });
  const files = new WorkspaceFiles({
    changes: {
      tracker: workspaceChanges,
      // Not a run's: committed through the event log directly, with the thread of a session workspace (a persistent
      // one is every thread's).
      record: async ({ deployment, threadId }, changes) => {
        const thread = deployment.sandbox.persistent_filesystem ? null : (threadId ?? null);
        await Promise.all(changes.map((change) => events.emit({ deploymentId: deployment.id, type: 'filesystem', threadId: thread, runId: null, data: { ...change } })));
      },
    },
    openSandbox: ({ deployment, threadId }) => {
      const backend = sandboxBackends.get(deployment.sandbox.type);
      if (!backend) throw new Error(`The deployment's sandbox type "${deployment.sandbox.type}" is not available on this server.`);
      const spec = deployments.sandboxSpec(deployment, threadId === undefined ? {} : { threadId });
      // Reads are cut into chunks of the server's output size, whatever a deployment's commands keep.
      return backend.open({ ...spec, limits: { ...spec.limits, maxOutputBytes: config.HERM_MAX_OUTPUT_BYTES } });
    },
    maxFileBytes: filesSettings.maxFileBytes,
    maxOutputBytes: config.HERM_MAX_OUTPUT_BYTES,
    logger: logger.child({ component: 'files' }),
  });
  // Observational memory (memory/): files in the workspace, in each run's prompt, observed after runs in the background.
  const memory = new MemoryService({
    repository: store.memories,
    files,
    logger: logger.child({ component: 'memory' }),
    // Seen from the host (memory/memory-fingerprint.ts): no directory, or its files' names, sizes and times.
    memoryDirectoryFingerprint: (deployment) => memoryDirectoryFingerprint(deployments.workspaceDir(deployment.id)),
    // Changes found in the files while a dream is at work are the dream's (dreams/).
    fileActor: async (deployment) => (deployment.features.dreaming && (await store.dreams.running(deployment.id)) ? 'dream' : 'agent'),
  });
  // Usage and credits (usage/): runs' and memory model calls' usage, priced by HERM_MODEL_PRICES, charged to budgets.
  const usage = new UsageService({ repository: store.usage, prices: config.HERM_MODEL_PRICES, logger: logger.child({ component: 'usage' }) });
  const memoryObserver = new MemoryObserver({
    store,
    memory,
    onUsage: (call) => {
      void store.deployments.getById(call.deploymentId).then(
        (deployment) => deployment && usage.recordMemoryCall(deployment, call.kind, call),
        (error: unknown) => logger.warn({ err: error, deploymentId: call.deploymentId }, 'could not record the usage of a memory model call'),
      );
    },
    model: (deployment) => options.modelOverride?.(deployment.model) ?? resolveModel(deployment.model, options.modelEnvironment ?? process.env),
    nodeId,
    logger: logger.child({ component: 'memory' }),
    settings: { observeTokens: config.HERM_MEMORY_OBSERVE_TOKENS, observeIdleMs: config.HERM_MEMORY_OBSERVE_IDLE_MS, reflectTokens: config.HERM_MEMORY_REFLECT_TOKENS, pollMs: config.HERM_MEMORY_POLL_MS },
  });
  runs = new RunManager({
    store,
    events,
    sandboxBackends,
    tools: builtinTools,
    toolset: (deployment, signal) => toolset.forRun(deployment, signal),
    secrets: secretCipher,
    deploymentSecrets,
    sandboxSpec: (deployment, specOptions) => deployments.sandboxSpec(deployment, specOptions),
    acquireWorkspace: (deployment, threadId) => deployments.acquireWorkspace(deployment, threadId),
    prepareSkills: (deployment, threadId, signal) =>
      prepareRunSkills(
        deployment,
        threadId,
        deployment.sandbox.type !== 'none',
        {
          skillsDir: (record, thread) => deployments.skillsDir(record, thread),
          files,
          logger: logger.child({ component: 'skills' }),
          // What dreams learned applies while dreaming is on (kept, and listed, when it is off).
          learnedSkills: async (record) => (record.features.dreaming ? store.dreams.learnedSkills(record.id) : []),
        },
        signal,
      ),
    prepareMemory: async (deployment) =>
      deployment.features.memory
        ? promptMemory(await memory.all(deployment), { editable: deployment.sandbox.persistent_filesystem, maxCharacters: config.HERM_MEMORY_PROMPT_TOKENS * 4 })
        : undefined,
    onRunEnded: (run, deployment) => {
      memoryObserver.runEnded(run, deployment);
      dreams?.runEnded(run, deployment);
    },
    onRunStarting: (run, deployment) => dreams?.runStarting(run, deployment),
    nodeId,
    leaseMs: config.HERM_RUN_LEASE_MS,
    maxSteps: config.HERM_MAX_STEPS,
    maxAttempts: config.HERM_RUN_MAX_ATTEMPTS,
    logger: logger.child({ component: 'runs' }),
    modelEnvironment: options.modelEnvironment ?? process.env,
    modelOverride: options.modelOverride,
    download: createAttachmentDownload(outboundPolicyFromConfig(config)),
    workspaceChanges,
    steeringExpiresSeconds: config.HERM_STEERING_EXPIRES_SECONDS,
    metrics,
    usage,
  });
  const runManager = runs;
  const steering = new SteeringService({
    store,
    events,
    nodeId,
    leaseMs: config.HERM_RUN_LEASE_MS,
    logger: logger.child({ component: 'steering' }),
    start: (run, deployment) => runManager.startTaken(run, deployment),
  });
  // Automations: a firing commits its run with the move of its due time; this node's scheduler wakes at the earliest.
  automations = new AutomationService({
    store,
    events,
    runs: runManager,
    nodeId,
    leaseMs: config.HERM_RUN_LEASE_MS,
    clock: options.clock ?? systemClock,
    logger: logger.child({ component: 'automations' }),
    quotas,
  });
  const automationScheduler = new AutomationScheduler({ service: automations, pollMs: config.HERM_AUTOMATIONS_POLL_MS, logger: logger.child({ component: 'automations' }) });
  // Dreaming: a deployment idle long enough after activity dreams once (a run with trigger "dream").
  dreams = new DreamService({
    store,
    events,
    runs: runManager,
    memory,
    files,
    nodeId,
    leaseMs: config.HERM_RUN_LEASE_MS,
    clock: options.clock ?? systemClock,
    logger: logger.child({ component: 'dreams' }),
    settings: { idleMs: config.HERM_DREAM_IDLE_MS, reviewCharacters: config.HERM_DREAM_REVIEW_TOKENS * 4 },
    quotas,
    usage,
  });
  const dreamScheduler = new DreamScheduler({ service: dreams, pollMs: config.HERM_DREAM_POLL_MS, logger: logger.child({ component: 'dreams' }) });
  // Webhooks: deliveries are enqueued in the commit of the events they tell of, and sent by this worker.
  const webhooks = new WebhookWorker({
    repository: store.webhooks,
    cipher: secretCipher,
    policy: outboundPolicyFromConfig(config),
    nodeId,
    logger: logger.child({ component: 'webhooks' }),
    retrySchedule: config.HERM_WEBHOOK_RETRY_SCHEDULE,
    timeoutMs: config.HERM_WEBHOOK_TIMEOUT_MS,
    disableAfterMs: config.HERM_WEBHOOK_DISABLE_AFTER_MS,
    pollMs: config.HERM_WEBHOOK_POLL_MS,
    releaseLeasesAtStart: store.dialect === 'sqlite',
    retentionMs: config.HERM_WEBHOOK_RETENTION_DAYS * 86_400_000,
    onAttempt: (outcome) => metrics.webhookDeliveries.inc({ outcome }),
  });
  events.attachOutbox(new WebhookOutbox(store.webhooks, webhookEndpoints, () => webhooks.wake()));
  const services: Services = {
    config,
    store,
    hub,
    events,
    runs,
    deployments,
    snapshots,
    files,
    workspaceChanges,
    secretCipher,
    usage,
    keys,
    logger,
    nodeId,
    tools: toolset,
    webhooks,
    memory,
    steering,
    automations,
    automationScheduler,
    dreams,
    dreamScheduler,
    quotas,
    metrics,
  };
  metrics.setSources({ activeRuns: () => runManager.activeCount, sseClients: () => hub.subscriberCount(), store });
  const createdAdminKey = await bootstrapKeys(services);
  if (createdAdminKey) {
    const announce = options.announce ?? ((line: string) => process.stdout.write(`${line}\n`));
    announce(adminKeyAnnouncement(createdAdminKey, Boolean(process.stdout.isTTY) && !options.announce));
  }
  logModelProviders(logger, options.modelEnvironment ?? process.env);

  await deployments.resumeProvisioning();
  // Embedded mode is one process: every run still marked running was interrupted and is ours to resume.
  await runs.recover(store.dialect === 'sqlite');
  snapshots.start();
  sessionWorkspaces.start();
  // Expired steering requests resolve as denied within about a second of their expires_at, on whichever node sweeps first.
  steering.start(1_000);
  const idempotencySweeper = startIdempotencySweeper({ repository: store.idempotency, logger: logger.child({ component: 'idempotency' }) });
  webhooks.start();
  memoryObserver.start();
  // What came due while the server was down fires now, once per automation.
  automationScheduler.start();
  dreamScheduler.start();
  runs.startRecoveryLoop(Math.max(1_000, Math.floor(config.HERM_RUN_LEASE_MS / 2)));
  const stopReclaimer = startIdleMemoryReclaimer({
    onReclaim: ({ rssBefore, rssAfter, durationMs }) =>
      logger.debug({ rssBeforeMiB: Math.round(rssBefore / 1048576), rssAfterMiB: Math.round(rssAfter / 1048576), durationMs: Math.round(durationMs) }, 'idle: memory reclaimed'),
  });

  // Before any upload can start. Nodes sharing a data directory (PostgreSQL) spare the ones other nodes are writing.
  await sweepUploadTemporaries({
    dataDir: config.dataDir,
    olderThanMs: store.dialect === 'sqlite' ? 0 : UPLOAD_STALE_MINUTES * 60_000,
    logger: logger.child({ component: 'files' }),
  });

  const app = createApp(services);
  const server: ServerType = await new Promise((resolve, reject) => {
    // @hono/node-server's listener on node:http, answering what never reaches the app in JSON too (http-server.ts).
    const instance = createApiServer(app.fetch, config.HOST);
    const onError = (error: NodeJS.ErrnoException) => reject(listenError(error, config.HOST, config.PORT));
    instance.once('error', onError);
    instance.listen(config.PORT, config.HOST, () => {
      instance.off('error', onError);
      resolve(instance);
    });
  });
  const address = server.address() as AddressInfo;
  const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? '127.0.0.1' : config.HOST;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
  logger.info({ url, store: store.dialect, sandbox: sandboxBackends.defaultType }, 'herm listening');
  // Once serving: a failed start is the caller's to report (and exits 1 from `herm serve`), not a rejection to log.
  const removeProcessHandlers = options.processHandlers ? installProcessHandlers({ logger }) : undefined;
  if (removeProcessHandlers) injectProcessFaults();

  let closing: Promise<void> | undefined;
  let shuttingDown: Promise<void> | undefined;
  const running: RunningServer = {
    url,
    port: address.port,
    services,
    httpServer: server,
    createdAdminKey,
    shutdown(graceMs = config.HERM_SHUTDOWN_GRACE_MS) {
      shuttingDown ??= (async () => {
        if (!closing) await runs.drain(graceMs);
        await running.close();
      })();
      return shuttingDown;
    },
    close() {
      closing ??= (async () => {
        // First: SSE clients are told to come back in a second (to another node, or to the restart) and let go.
        hub.closeAll({ retryMs: SSE_RETRY_MS });
        stopReclaimer();
        await idempotencySweeper.stop();
        steering.stop();
        await memoryObserver.stop();
        await automationScheduler.stop();
        await dreamScheduler.stop();
        await runs.stop();
        await mcpConnections.close();
        // Before the backends unmount workspaces: a restore unpacking into one stops first.
        await deployments.stop();
        await snapshots.stop();
        await sessionWorkspaces.stop();
        await sandboxBackends.close();
        egressTls.close();
        await events.drain();
        await webhooks.stop();
        revocations.stop();
        await listener?.stop();
        await relay?.stop();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        });
        await store.close();
        removeProcessHandlers?.();
      })();
      return closing;
    },
  };
  return running;
}
