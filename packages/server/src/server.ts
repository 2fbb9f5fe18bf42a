// Builds the services and serves the API: `herm serve` and the tests both start Herm through here.
import fs from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { ServerType } from '@hono/node-server';
import type { LanguageModel } from 'ai';
import pino, { type Logger } from 'pino';
import { createApiServer } from './api/http-server.ts';
import { createApp } from './api/app.ts';
import { KeyVerifier, SCOPES } from './api/auth.ts';
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
import { createAttachmentDownload } from './net/attachment-download.ts';
import { outboundPolicyFromConfig } from './net/outbound-fetch.ts';
import { RunManager } from './runs/run-manager.ts';
import { createBuiltinTools } from './runtime/tools/builtin-tools.ts';
import type { SandboxBackend } from './sandbox/sandbox.ts';
import { sandboxCeilingsFromConfig } from './sandbox/limits/limit-ceilings.ts';
import { createSandboxBackends, fromBackends, sandboxLimitsFromConfig } from './sandbox/sandbox-backends.ts';
import { createUnsandboxedBackend } from './sandbox/unsandboxed.ts';
import { SecretCipher } from './secrets/secret-cipher.ts';
import { retentionMsFromDays, SnapshotService } from './snapshots/snapshot-service.ts';
import type { Services } from './services.ts';
import { DEFAULT_ACCOUNT_ID } from './store/accounts.ts';
import { startIdempotencySweeper } from './store/idempotency.ts';
import { openStore } from './store/open-store.ts';
import { enabledFailpoints } from './util/failpoints.ts';
import { randomBase62 } from './util/ids.ts';
import { startIdleMemoryReclaimer } from './util/idle-memory.ts';
import { injectProcessFaults, installProcessHandlers } from './util/process-handlers.ts';

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

export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? pino({ level: config.LOG_LEVEL }, pino.destination(2));
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
  const hub = new EventHub({ logger });
  const events = new EventLog(store.events, hub, nodeId);
  // PostgreSQL: one connection LISTENs for the other nodes' events and for revoked keys, reconnecting forever.
  const listener = config.DATABASE_URL ? new PostgresListener({ connectionString: config.DATABASE_URL, logger }) : undefined;
  const relay = listener ? new PostgresEventRelay({ listener, repository: store.events, hub, nodeId, logger }) : undefined;
  const keys = new KeyVerifier(store.accounts);
  const revocations = new KeyRevocations({ accounts: store.accounts, verifier: keys, hub, listener, logger });
  await listener?.start();
  await revocations.start();
  const sandboxBackends = options.sandboxBackend
    ? fromBackends([
        options.sandboxBackend,
        ...(config.HERM_ALLOW_UNSANDBOXED
          ? [createUnsandboxedBackend({ limits: sandboxLimitsFromConfig(config) })]
          : []),
      ])
    : await createSandboxBackends({ config, logger: logger.child({ component: 'sandbox' }) });
  const secretCipher = SecretCipher.fromConfig(config.HERM_SECRET_KEY, config.dataDir);
  let runs: RunManager | undefined;
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
    limitCeilings: sandboxCeilingsFromConfig(config),
    snapshots,
    defaultDiskMb: config.HERM_SANDBOX_DISK_MB,
    sessionWorkspaces,
    onDeleted: async (deploymentId) => runs?.cancelDeployment(deploymentId),
  });
  runs = new RunManager({
    store,
    events,
    sandboxBackends,
    tools: { ...createBuiltinTools({ maxShellTimeoutSeconds: Math.floor(config.HERM_MAX_COMMAND_TIMEOUT_MS / 1000) }) },
    secrets: secretCipher,
    sandboxSpec: (deployment, specOptions) => deployments.sandboxSpec(deployment, specOptions),
    acquireWorkspace: (deployment, threadId) => deployments.acquireWorkspace(deployment, threadId),
    nodeId,
    leaseMs: config.HERM_RUN_LEASE_MS,
    maxSteps: config.HERM_MAX_STEPS,
    maxAttempts: config.HERM_RUN_MAX_ATTEMPTS,
    logger: logger.child({ component: 'runs' }),
    modelEnvironment: options.modelEnvironment ?? process.env,
    modelOverride: options.modelOverride,
    download: createAttachmentDownload(outboundPolicyFromConfig(config)),
  });
  const services: Services = {
    config,
    store,
    hub,
    events,
    runs,
    deployments,
    snapshots,
    files: new WorkspaceFiles({
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
    }),
    secretCipher,
    keys,
    logger,
    nodeId,
  };
  const createdAdminKey = await bootstrapKeys(services);
  if (createdAdminKey) {
    const announce = options.announce ?? ((line: string) => process.stdout.write(`${line}\n`));
    announce(`Created an admin API key (shown once, store it now): ${createdAdminKey}`);
  }

  await deployments.resumeProvisioning();
  // Embedded mode is one process: every run still marked running was interrupted and is ours to resume.
  await runs.recover(store.dialect === 'sqlite');
  snapshots.start();
  sessionWorkspaces.start();
  const idempotencySweeper = startIdempotencySweeper({ repository: store.idempotency, logger: logger.child({ component: 'idempotency' }) });
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
  const server: ServerType = await new Promise((resolve) => {
    // @hono/node-server's listener on node:http, answering what never reaches the app in JSON too (http-server.ts).
    const instance = createApiServer(app.fetch, config.HOST);
    instance.listen(config.PORT, config.HOST, () => resolve(instance));
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
        await runs.stop();
        // Before the backends unmount workspaces: a restore unpacking into one stops first.
        await deployments.stop();
        await snapshots.stop();
        await sessionWorkspaces.stop();
        await sandboxBackends.close();
        await events.drain();
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
