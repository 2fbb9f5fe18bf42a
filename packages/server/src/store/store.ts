// The store: one object holding the repositories, over either dialect.
import type { Db, Dialect } from './database.ts';
import { AccountRepository } from './accounts.ts';
import { AuditLogRepository } from './audit-log.ts';
import { AutomationRepository } from './automations.ts';
import { DeploymentRepository } from './deployments.ts';
import { EventRepository } from './events.ts';
import { IdempotencyRepository } from './idempotency.ts';
import { RunRepository } from './runs.ts';
import { SecretRepository } from './secrets.ts';
import { SnapshotRepository } from './snapshots.ts';
import { ThreadRepository } from './threads.ts';
import { WebhookRepository } from './webhooks.ts';
import { SteeringRepository } from '../steering/steering-store.ts';
import { MemoryRepository } from '../memory/memory-repository.ts';
import { UsageRepository } from '../usage/usage-repository.ts';
import { DreamRepository } from '../dreams/dream-repository.ts';

export class Store {
  readonly db: Db;
  readonly dialect: Dialect;
  readonly accounts: AccountRepository;
  /** Administrative actions on accounts and keys (store/audit-log.ts). */
  readonly auditLog: AuditLogRepository;
  readonly secrets: SecretRepository;
  readonly deployments: DeploymentRepository;
  readonly threads: ThreadRepository;
  readonly runs: RunRepository;
  readonly events: EventRepository;
  readonly idempotency: IdempotencyRepository;
  readonly snapshots: SnapshotRepository;
  readonly webhooks: WebhookRepository;
  readonly automations: AutomationRepository;
  /** Runs' requests for a human (steering/). */
  readonly steering: SteeringRepository;
  /** Observational memory's index, versions and observer state (memory/). */
  readonly memories: MemoryRepository;
  /** Usage records and credit budgets (usage/). */
  readonly usage: UsageRepository;
  /** Dreams, deployments' idle state and learned skills' index (dreams/). */
  readonly dreams: DreamRepository;

  constructor(db: Db, dialect: Dialect) {
    this.db = db;
    this.dialect = dialect;
    this.accounts = new AccountRepository(db, dialect);
    this.auditLog = new AuditLogRepository(db);
    this.secrets = new SecretRepository(db);
    this.deployments = new DeploymentRepository(db, dialect);
    this.threads = new ThreadRepository(db, dialect);
    this.runs = new RunRepository(db, dialect);
    this.events = new EventRepository(db, dialect);
    this.idempotency = new IdempotencyRepository(db);
    this.snapshots = new SnapshotRepository(db);
    this.webhooks = new WebhookRepository(db, dialect);
    this.automations = new AutomationRepository(db, dialect);
    this.steering = new SteeringRepository(db, dialect);
    this.memories = new MemoryRepository(db, dialect);
    this.usage = new UsageRepository(db, dialect);
    this.dreams = new DreamRepository(db, dialect);
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}
