// Webhook endpoints, and the outbox of their deliveries (webhooks/ sends them). A delivery row is written in the
// transaction of the event it tells of; a node sends it only while it holds the row's lease, and records each
// attempt with the lease's token, so a node that lost its lease (it stalled past it) records nothing.
import type { ExpressionBuilder, Selectable } from 'kysely';
import { newId, randomBase62 } from '../util/ids.ts';
import type { Database, Db, Dialect, WebhookAttemptsTable, WebhookDeliveriesTable, WebhookEndpointsTable } from './database.ts';
import { pageNewestFirst, type Page, type PageRequest } from './pagination.ts';
import { query } from './sql.ts';

export type WebhookEndpointRecord = Selectable<WebhookEndpointsTable>;
export type WebhookDeliveryRecord = Selectable<WebhookDeliveriesTable>;
export type WebhookAttemptRecord = Selectable<WebhookAttemptsTable>;

/** The event types an endpoint subscribes to (a JSON array); none when unreadable. */
export function endpointEventsOf(record: Pick<WebhookEndpointRecord, 'events'>): string[] {
  try {
    const events = JSON.parse(record.events) as unknown;
    return Array.isArray(events) ? events.filter((event): event is string => typeof event === 'string') : [];
  } catch {
    return [];
  }
}

/** An endpoint that may receive an event of a deployment: what enqueueing needs. */
export interface SubscribedEndpoint {
  id: string;
  accountId: string;
  events: string[];
  customerId: string;
}

/** A delivery to one endpoint, as the outbox enqueues it. */
export interface NewDelivery {
  endpointId: string;
  accountId: string;
  eventType: string;
  payload: string;
  deploymentId: string | null;
  runId: string | null;
}

/** A delivery a node holds the lease of, with what sending it needs. */
export interface ClaimedDelivery {
  id: string;
  endpointId: string;
  eventType: string;
  payload: string;
  attemptCount: number;
  scheduleIndex: number;
  leaseToken: string;
  url: string;
  secretCiphertext: string;
  previousSecretCiphertext: string | null;
  previousSecretExpiresAt: number | null;
}

/** What one attempt came to; `retryAt` undefined after a failure means the delivery has failed for good. */
export interface AttemptOutcome {
  deliveryId: string;
  endpointId: string;
  leaseToken: string;
  attempt: number;
  startedAt: number;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
  succeeded: boolean;
  nodeId: string;
  /** After a failure: when to try again (undefined: no more attempts). */
  retryAt?: number | undefined;
  /** The schedule index after this attempt. */
  scheduleIndex: number;
}

/** Set as a delivery's schedule_index by a manual retry of a finished delivery: a failure of it is final. */
export const MANUAL_RETRY_INDEX = 1_000_000;

const ENDPOINTS_FOR_DEPLOYMENT =
  'SELECT e.id, e.account_id, e.events, d.customer_id FROM deployments d JOIN webhook_endpoints e ON e.account_id = d.account_id ' +
  "WHERE d.id = $1 AND e.deleted_at IS NULL AND e.status = 'enabled' AND (e.deployment_id IS NULL OR e.deployment_id = $1)";

/** The PostgreSQL channel on which every write of an endpoint is announced (webhooks/endpoint-cache.ts listens). */
export const WEBHOOK_ENDPOINTS_CHANNEL = 'herm_webhook_endpoints';

/** The account's endpoint `id`, unless deleted: the rows a read or write of one endpoint may touch. */
function liveEndpoint(accountId: string, id: string) {
  return (eb: ExpressionBuilder<Database, 'webhook_endpoints'>) => eb.and([eb('id', '=', id), eb('account_id', '=', accountId), eb('deleted_at', 'is', null)]);
}

export class WebhookRepository {
  readonly #db: Db;
  readonly #dialect: Dialect;
  readonly #changeListeners: (() => void)[] = [];

  constructor(db: Db, dialect: Dialect) {
    this.#db = db;
    this.#dialect = dialect;
  }

  /** Calls `listener` after each committed write of an endpoint made through this repository. */
  onEndpointsChanged(listener: () => void): void {
    this.#changeListeners.push(listener);
  }

  /** After an endpoint write commits: this process's listeners at once, other nodes by NOTIFY. */
  async #changed(): Promise<void> {
    for (const listener of this.#changeListeners) listener();
    if (this.#dialect === 'postgres') await query(this.#db, 'postgres', 'SELECT pg_notify($1, $2)', [WEBHOOK_ENDPOINTS_CHANNEL, '']);
  }

  async createEndpoint(input: {
    accountId: string;
    deploymentId: string | null;
    url: string;
    description: string | null;
    events: string[];
    secretCiphertext: string;
  }): Promise<WebhookEndpointRecord> {
    const now = Date.now();
    const row: WebhookEndpointRecord = {
      id: newId('webhookEndpoint'),
      account_id: input.accountId,
      deployment_id: input.deploymentId,
      url: input.url,
      description: input.description,
      events: JSON.stringify(input.events),
      status: 'enabled',
      disabled_reason: null,
      disabled_at: null,
      secret_ciphertext: input.secretCiphertext,
      previous_secret_ciphertext: null,
      previous_secret_expires_at: null,
      failing_since: null,
      created_at: now,
      updated_at: now,
      deleted_at: null,
    };
    await this.#db.insertInto('webhook_endpoints').values(row).execute();
    await this.#changed();
    return row;
  }

  /**
   * The account's live endpoint `id`, read to be changed in `trx`: locked on PostgreSQL, so two changes at once
   * (two secret rotations) apply one after the other instead of one overwriting the other (SQLite has one writer).
   */
  #lockedEndpoint(trx: Db, accountId: string, id: string): Promise<WebhookEndpointRecord | undefined> {
    return trx
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where(liveEndpoint(accountId, id))
      .$if(this.#dialect === 'postgres', (select) => select.forUpdate())
      .executeTakeFirst();
  }

  async getEndpoint(accountId: string, id: string): Promise<WebhookEndpointRecord | undefined> {
    return this.#db.selectFrom('webhook_endpoints').selectAll().where(liveEndpoint(accountId, id)).executeTakeFirst();
  }

  async listEndpoints(accountId: string, page: PageRequest, filter: { deploymentId?: string | undefined } = {}): Promise<Page<WebhookEndpointRecord>> {
    let builder = this.#db.selectFrom('webhook_endpoints').selectAll().where('account_id', '=', accountId).where('deleted_at', 'is', null);
    if (filter.deploymentId !== undefined) builder = builder.where('deployment_id', '=', filter.deploymentId);
    return pageNewestFirst(builder, 'webhook_endpoints', page);
  }

  /**
   * Changes a live endpoint; re-enabling clears the reason and the failure streak and makes its pending deliveries
   * due now. The record as it is now, or undefined when there is none.
   */
  async updateEndpoint(
    accountId: string,
    id: string,
    changes: { url?: string; events?: string[]; description?: string | null; deploymentId?: string | null; status?: 'enabled' | 'disabled'; disabledReason?: string },
  ): Promise<WebhookEndpointRecord | undefined> {
    const updated = await this.#db.transaction().execute(async (trx) => {
      const current = await this.#lockedEndpoint(trx, accountId, id);
      if (!current) return undefined;
      const now = Date.now();
      const set: Partial<WebhookEndpointRecord> = { updated_at: now };
      if (changes.url !== undefined) set.url = changes.url;
      if (changes.events !== undefined) set.events = JSON.stringify(changes.events);
      if (changes.description !== undefined) set.description = changes.description;
      if (changes.deploymentId !== undefined) set.deployment_id = changes.deploymentId;
      if (changes.status === 'enabled' && current.status !== 'enabled') {
        Object.assign(set, { status: 'enabled', disabled_reason: null, disabled_at: null, failing_since: null });
        await trx
          .updateTable('webhook_deliveries')
          .set({ next_attempt_at: now, updated_at: now })
          .where('endpoint_id', '=', id)
          .where('status', '=', 'pending')
          .execute();
      } else if (changes.status === 'disabled' && current.status !== 'disabled') {
        Object.assign(set, { status: 'disabled', disabled_reason: changes.disabledReason ?? 'disabled through the API', disabled_at: now });
      }
      await trx.updateTable('webhook_endpoints').set(set).where('id', '=', id).execute();
      return { ...current, ...set };
    });
    if (updated) await this.#changed();
    return updated;
  }

  /** A new signing secret; the previous one keeps signing until `previousExpiresAt`. */
  async rotateSecret(accountId: string, id: string, secretCiphertext: string, previousExpiresAt: number): Promise<WebhookEndpointRecord | undefined> {
    return this.#db.transaction().execute(async (trx) => {
      const current = await this.#lockedEndpoint(trx, accountId, id);
      if (!current) return undefined;
      const set = {
        secret_ciphertext: secretCiphertext,
        previous_secret_ciphertext: current.secret_ciphertext,
        previous_secret_expires_at: previousExpiresAt,
        updated_at: Date.now(),
      };
      await trx.updateTable('webhook_endpoints').set(set).where('id', '=', id).execute();
      return { ...current, ...set };
    });
  }

  /** Deletes a live endpoint; its pending deliveries end as failed (nothing more is sent), to be swept with the rest. */
  async deleteEndpoint(accountId: string, id: string): Promise<boolean> {
    const now = Date.now();
    const deleted = await this.#db.transaction().execute(async (trx) => {
      // One UPDATE, not a read then a write: of two deletes at once, the second finds the row deleted.
      const result = await trx.updateTable('webhook_endpoints').set({ deleted_at: now, updated_at: now }).where(liveEndpoint(accountId, id)).executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) return false;
      await trx
        .updateTable('webhook_deliveries')
        .set({ status: 'failed', next_attempt_at: null, completed_at: now, updated_at: now })
        .where('endpoint_id', '=', id)
        .where('status', '=', 'pending')
        .where('lease_token', 'is', null)
        .execute();
      return true;
    });
    if (deleted) await this.#changed();
    return deleted;
  }

  /** The enabled endpoints that may receive events of this deployment (its account's, and its own). */
  async endpointsForDeployment(trx: Db, deploymentId: string): Promise<SubscribedEndpoint[]> {
    const rows = await query<{ id: string; account_id: string; events: string; customer_id: string }>(trx, this.#dialect, ENDPOINTS_FOR_DEPLOYMENT, [deploymentId]);
    return rows.map((row) => ({ id: row.id, accountId: row.account_id, events: endpointEventsOf(row), customerId: row.customer_id }));
  }

  /**
   * The operational `endpoint.disabled` message, in the transaction that disabled `endpointId`: one delivery to each
   * other enabled endpoint of the account that subscribes to it (the disabled one cannot be told).
   */
  async #enqueueDisabledNotice(trx: Db, endpointId: string, disabledAt: number): Promise<void> {
    const endpoint = await trx
      .selectFrom('webhook_endpoints')
      .select(['account_id', 'url', 'deployment_id', 'disabled_reason'])
      .where('id', '=', endpointId)
      .executeTakeFirstOrThrow();
    const subscribers = await trx
      .selectFrom('webhook_endpoints')
      .select(['id', 'events'])
      .where('account_id', '=', endpoint.account_id)
      .where('status', '=', 'enabled')
      .where('deleted_at', 'is', null)
      .where('id', '!=', endpointId)
      .where('events', 'like', '%"endpoint.disabled"%')
      .execute();
    const payload = JSON.stringify({
      type: 'endpoint.disabled',
      timestamp: new Date(disabledAt).toISOString(),
      data: {
        endpoint_id: endpointId,
        url: endpoint.url,
        deployment_id: endpoint.deployment_id,
        disabled_reason: endpoint.disabled_reason,
        disabled_at: new Date(disabledAt).toISOString(),
      },
    });
    await this.enqueueIn(
      trx,
      subscribers
        .filter((subscriber) => endpointEventsOf(subscriber).includes('endpoint.disabled'))
        .map((subscriber) => ({ endpointId: subscriber.id, accountId: endpoint.account_id, eventType: 'endpoint.disabled', payload, deploymentId: null, runId: null })),
    );
  }

  /** Enqueues deliveries inside the caller's transaction, due now. */
  async enqueueIn(trx: Db, deliveries: NewDelivery[]): Promise<void> {
    if (deliveries.length === 0) return;
    const now = Date.now();
    await trx
      .insertInto('webhook_deliveries')
      .values(
        deliveries.map((delivery) => ({
          id: newId('webhookDelivery'),
          endpoint_id: delivery.endpointId,
          account_id: delivery.accountId,
          event_type: delivery.eventType,
          payload: delivery.payload,
          status: 'pending',
          attempt_count: 0,
          schedule_index: 0,
          next_attempt_at: now,
          lease_owner: null,
          lease_token: null,
          lease_expires_at: null,
          deployment_id: delivery.deploymentId,
          run_id: delivery.runId,
          created_at: now,
          updated_at: now,
          completed_at: null,
        })),
      )
      .execute();
  }

  /**
   * Takes the lease of up to `limit` due deliveries of enabled endpoints for `leaseMs`. PostgreSQL: FOR UPDATE
   * SKIP LOCKED, so nodes claiming at once take different rows; SQLite has one writer, and the UPDATE is atomic.
   */
  async claimDue(nodeId: string, leaseMs: number, limit: number, now = Date.now()): Promise<ClaimedDelivery[]> {
    const token = randomBase62(20);
    const lock = this.#dialect === 'postgres' ? ' FOR UPDATE OF d SKIP LOCKED' : '';
    const claimed = await query<{ id: string }>(
      this.#db,
      this.#dialect,
      'UPDATE webhook_deliveries SET lease_owner = $1, lease_token = $2, lease_expires_at = $3 WHERE id IN (' +
        'SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id ' +
        "WHERE d.status = 'pending' AND d.next_attempt_at <= $4 AND (d.lease_expires_at IS NULL OR d.lease_expires_at < $4) " +
        `AND e.status = 'enabled' AND e.deleted_at IS NULL ORDER BY d.next_attempt_at LIMIT $5${lock}) RETURNING id`,
      [nodeId, token, now + leaseMs, now, limit],
    );
    if (claimed.length === 0) return [];
    const rows = await this.#db
      .selectFrom('webhook_deliveries as d')
      .innerJoin('webhook_endpoints as e', 'e.id', 'd.endpoint_id')
      .select([
        'd.id',
        'd.endpoint_id',
        'd.event_type',
        'd.payload',
        'd.attempt_count',
        'd.schedule_index',
        'd.lease_token',
        'e.url',
        'e.secret_ciphertext',
        'e.previous_secret_ciphertext',
        'e.previous_secret_expires_at',
      ])
      .where(
        'd.id',
        'in',
        claimed.map((row) => row.id),
      )
      .where('d.lease_token', '=', token)
      .execute();
    return rows.map((row) => ({
      id: row.id,
      endpointId: row.endpoint_id,
      eventType: row.event_type,
      payload: row.payload,
      attemptCount: Number(row.attempt_count),
      scheduleIndex: Number(row.schedule_index),
      leaseToken: token,
      url: row.url,
      secretCiphertext: row.secret_ciphertext,
      previousSecretCiphertext: row.previous_secret_ciphertext,
      previousSecretExpiresAt: row.previous_secret_expires_at === null ? null : Number(row.previous_secret_expires_at),
    }));
  }

  /**
   * Records an attempt and what follows from it, in one transaction, if the lease is still `leaseToken`'s (false
   * otherwise: another node took the delivery over, and this attempt is not recorded). A success clears the
   * endpoint's failure streak; a failure starts one. A final failure of an endpoint failing since before
   * `disableFailingSince` disables it (true in `disabled`).
   */
  async recordAttempt(outcome: AttemptOutcome, disableFailingSince: number): Promise<{ recorded: boolean; disabled: boolean }> {
    const result = await this.#recordAttempt(outcome, disableFailingSince);
    if (result.disabled) await this.#changed();
    return result;
  }

  #recordAttempt(outcome: AttemptOutcome, disableFailingSince: number): Promise<{ recorded: boolean; disabled: boolean }> {
    return this.#db.transaction().execute(async (trx) => {
      const now = Date.now();
      const status = outcome.succeeded ? 'succeeded' : outcome.retryAt === undefined ? 'failed' : 'pending';
      const updated = await trx
        .updateTable('webhook_deliveries')
        .set({
          status,
          attempt_count: outcome.attempt,
          schedule_index: outcome.scheduleIndex,
          next_attempt_at: status === 'pending' ? outcome.retryAt! : null,
          lease_owner: null,
          lease_token: null,
          lease_expires_at: null,
          updated_at: now,
          completed_at: status === 'pending' ? null : now,
        })
        .where('id', '=', outcome.deliveryId)
        .where('lease_token', '=', outcome.leaseToken)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) === 0) return { recorded: false, disabled: false };
      await trx
        .insertInto('webhook_attempts')
        .values({
          delivery_id: outcome.deliveryId,
          attempt: outcome.attempt,
          started_at: outcome.startedAt,
          duration_ms: Math.round(outcome.durationMs),
          status_code: outcome.statusCode,
          error: outcome.error,
          succeeded: outcome.succeeded ? 1 : 0,
          node_id: outcome.nodeId,
        })
        .execute();
      if (outcome.succeeded) {
        await trx.updateTable('webhook_endpoints').set({ failing_since: null }).where('id', '=', outcome.endpointId).where('failing_since', 'is not', null).execute();
        return { recorded: true, disabled: false };
      }
      await trx.updateTable('webhook_endpoints').set({ failing_since: outcome.startedAt }).where('id', '=', outcome.endpointId).where('failing_since', 'is', null).execute();
      if (status !== 'failed') return { recorded: true, disabled: false };
      const endpoint = await trx.selectFrom('webhook_endpoints').select(['failing_since', 'status']).where('id', '=', outcome.endpointId).executeTakeFirst();
      const failingSince = endpoint?.failing_since === null || endpoint?.failing_since === undefined ? outcome.startedAt : Number(endpoint.failing_since);
      if (endpoint?.status !== 'enabled' || failingSince > disableFailingSince) return { recorded: true, disabled: false };
      const last = outcome.statusCode !== null ? `HTTP ${outcome.statusCode}` : (outcome.error ?? 'no answer');
      const disabled = await trx
        .updateTable('webhook_endpoints')
        .set({
          status: 'disabled',
          disabled_reason:
            `Disabled after persistent failure: all ${outcome.attempt} attempts to deliver ${outcome.deliveryId} failed (the last: ${last}), ` +
            `and no delivery has succeeded since ${new Date(failingSince).toISOString()}. Fix the endpoint, then re-enable it with PATCH {"status": "enabled"}.`,
          disabled_at: now,
          updated_at: now,
        })
        .where('id', '=', outcome.endpointId)
        .where('status', '=', 'enabled')
        .executeTakeFirst();
      if (Number(disabled.numUpdatedRows) === 0) return { recorded: true, disabled: false };
      await this.#enqueueDisabledNotice(trx, outcome.endpointId, now);
      return { recorded: true, disabled: true };
    });
  }

  /**
   * When the soonest pending delivery not yet due falls due (undefined when none): the worker sleeps until then at
   * most. (What is due now but held by another node's lease, or of a disabled endpoint, is left to the poll.)
   */
  async nextDueAt(now: number): Promise<number | undefined> {
    const [row] = await query<{ due: number | string | null }>(
      this.#db,
      this.#dialect,
      "SELECT min(next_attempt_at) AS due FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at > $1",
      [now],
    );
    return row?.due === null || row?.due === undefined ? undefined : Number(row.due);
  }

  /**
   * Deletes finished (succeeded or failed) deliveries completed before `cutoff`, with their attempts, `batchSize` a
   * transaction, up to `maxBatches`; returns how many went. Several nodes may sweep at once.
   */
  async deleteFinishedBefore(cutoff: number, batchSize = 1_000, maxBatches = 100): Promise<number> {
    let deleted = 0;
    for (let batch = 0; batch < maxBatches; batch++) {
      const count = await this.#db.transaction().execute(async (trx) => {
        const rows = await trx.selectFrom('webhook_deliveries').select('id').where('completed_at', '<', cutoff).where('status', '<>', 'pending').limit(batchSize).execute();
        if (rows.length === 0) return 0;
        const ids = rows.map((row) => row.id);
        await trx.deleteFrom('webhook_attempts').where('delivery_id', 'in', ids).execute();
        const result = await trx.deleteFrom('webhook_deliveries').where('id', 'in', ids).where('status', '<>', 'pending').executeTakeFirst();
        return Math.max(rows.length, Number(result.numDeletedRows));
      });
      deleted += count;
      if (count < batchSize) break;
    }
    return deleted;
  }

  /** Lets go of every lease (an embedded start: no other process can hold one); returns how many. */
  async releaseAllLeases(): Promise<number> {
    const result = await this.#db
      .updateTable('webhook_deliveries')
      .set({ lease_owner: null, lease_token: null, lease_expires_at: null })
      .where('status', '=', 'pending')
      .where('lease_token', 'is not', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** Lets go of a lease without recording an attempt (a worker stopping mid-attempt): the delivery is due again. */
  async releaseLease(deliveryId: string, leaseToken: string): Promise<void> {
    await this.#db
      .updateTable('webhook_deliveries')
      .set({ lease_owner: null, lease_token: null, lease_expires_at: null })
      .where('id', '=', deliveryId)
      .where('lease_token', '=', leaseToken)
      .execute();
  }

  async listDeliveries(endpointId: string, page: PageRequest, filter: { status?: string | undefined } = {}): Promise<Page<WebhookDeliveryRecord>> {
    let builder = this.#db.selectFrom('webhook_deliveries').selectAll().where('endpoint_id', '=', endpointId);
    if (filter.status !== undefined) builder = builder.where('status', '=', filter.status);
    return pageNewestFirst(builder, 'webhook_deliveries', page);
  }

  async getDelivery(endpointId: string, deliveryId: string): Promise<WebhookDeliveryRecord | undefined> {
    return this.#db.selectFrom('webhook_deliveries').selectAll().where('endpoint_id', '=', endpointId).where('id', '=', deliveryId).executeTakeFirst();
  }

  /** The attempts of these deliveries, oldest first, by delivery. */
  async attemptsOf(deliveryIds: string[]): Promise<Map<string, WebhookAttemptRecord[]>> {
    const byDelivery = new Map<string, WebhookAttemptRecord[]>(deliveryIds.map((id) => [id, []]));
    if (deliveryIds.length === 0) return byDelivery;
    const rows = await this.#db.selectFrom('webhook_attempts').selectAll().where('delivery_id', 'in', deliveryIds).orderBy('attempt').execute();
    for (const row of rows) byDelivery.get(row.delivery_id)?.push(row);
    return byDelivery;
  }

  /**
   * Makes a delivery due now: a pending one keeps its schedule (it is only brought forward); a finished one
   * (succeeded or failed) gets one more attempt, whose failure is final. The delivery as it is now.
   */
  async retryDelivery(endpointId: string, deliveryId: string): Promise<WebhookDeliveryRecord | undefined> {
    return this.#db.transaction().execute(async (trx) => {
      const current = await trx.selectFrom('webhook_deliveries').selectAll().where('endpoint_id', '=', endpointId).where('id', '=', deliveryId).executeTakeFirst();
      if (!current) return undefined;
      const now = Date.now();
      const set: Partial<WebhookDeliveryRecord> =
        current.status === 'pending'
          ? { next_attempt_at: now, updated_at: now }
          : { status: 'pending', next_attempt_at: now, schedule_index: MANUAL_RETRY_INDEX, completed_at: null, updated_at: now };
      await trx.updateTable('webhook_deliveries').set(set).where('id', '=', deliveryId).execute();
      return { ...current, ...set };
    });
  }
}
