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
import type { Config } from './config.ts';
import { DeploymentService } from './deployments/deployment-service.ts';
import { SessionWorkspaces } from './deployments/session-workspaces.ts';
import { EventHub } from './events/event-hub.ts';
import { EventLog } from './events/event-log.ts';
import { PostgresEventRelay } from './events/postgres-event-relay.ts';
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
import { openStore } from './store/open-store.ts';
import { randomBase62 } from './util/ids.ts';
import { startIdleMemoryReclaimer } from './util/idle-memory.ts';

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
}

export interface RunningServer {
  url: string;
  port: number;
  services: Services;
  /** The Node HTTP server (tests cut its connections to prove clients resume). */
  httpServer: ServerType;
  /** Set when this start created the first admin key. */
  createdAdminKey: string | undefined;
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
  if ((await store.accounts.countKeys()) > 0) return undefined;
  const { secret } = await store.accounts.createKey({ accountId: DEFAULT_ACCOUNT_ID, scopes: [...SCOPES], name: 'admin (first start)' });
  return secret;
}

export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? pino({ level: config.LOG_LEVEL }, pino.destination(2));
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
  const hub = new EventHub();
  const events = new EventLog(store.events, hub, nodeId);
  const relay = config.DATABASE_URL
    ? new PostgresEventRelay({ connectionString: config.DATABASE_URL, repository: store.events, hub, nodeId, logger })
    : undefined;
  await relay?.start();
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
    keys: new KeyVerifier(store.accounts),
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

  let closing: Promise<void> | undefined;
  return {
    url,
    port: address.port,
    services,
    httpServer: server,
    createdAdminKey,
    close() {
      closing ??= (async () => {
        stopReclaimer();
        await runs.stop();
        // Before the backends unmount workspaces: a restore unpacking into one stops first.
        await deployments.stop();
        await snapshots.stop();
        await sessionWorkspaces.stop();
        await sandboxBackends.close();
        await events.drain();
        await relay?.stop();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        });
        await store.close();
      })();
      return closing;
    },
  };
}
