// The store: one object holding the repositories, over either dialect.
import type { Db, Dialect } from './database.ts';
import { AccountRepository } from './accounts.ts';
import { DeploymentRepository } from './deployments.ts';
import { EventRepository } from './events.ts';
import { IdempotencyRepository } from './idempotency.ts';
import { RunRepository } from './runs.ts';
import { SecretRepository } from './secrets.ts';
import { SnapshotRepository } from './snapshots.ts';
import { ThreadRepository } from './threads.ts';

export class Store {
  readonly db: Db;
  readonly dialect: Dialect;
  readonly accounts: AccountRepository;
  readonly secrets: SecretRepository;
  readonly deployments: DeploymentRepository;
  readonly threads: ThreadRepository;
  readonly runs: RunRepository;
  readonly events: EventRepository;
  readonly idempotency: IdempotencyRepository;
  readonly snapshots: SnapshotRepository;

  constructor(db: Db, dialect: Dialect) {
    this.db = db;
    this.dialect = dialect;
    this.accounts = new AccountRepository(db, dialect);
    this.secrets = new SecretRepository(db);
    this.deployments = new DeploymentRepository(db, dialect);
    this.threads = new ThreadRepository(db, dialect);
    this.runs = new RunRepository(db, dialect);
    this.events = new EventRepository(db, dialect);
    this.idempotency = new IdempotencyRepository(db);
    this.snapshots = new SnapshotRepository(db);
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}
