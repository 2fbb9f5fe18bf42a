// Everything a request handler may use, built once in server.ts and passed down explicitly.
import type { Logger } from 'pino';
import type { KeyVerifier } from './api/auth.ts';
import type { Config } from './config.ts';
import type { DeploymentService } from './deployments/deployment-service.ts';
import type { EventHub } from './events/event-hub.ts';
import type { EventLog } from './events/event-log.ts';
import type { WorkspaceFiles } from './files/workspace-files.ts';
import type { RunManager } from './runs/run-manager.ts';
import type { SecretCipher } from './secrets/secret-cipher.ts';
import type { SnapshotService } from './snapshots/snapshot-service.ts';
import type { Store } from './store/store.ts';

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
  secretCipher: SecretCipher;
  keys: KeyVerifier;
  logger: Logger;
  nodeId: string;
}
