// Sends the outbox's deliveries (store/webhooks.ts): every node runs one worker, and a delivery is sent by the
// node holding its lease (claimed with FOR UPDATE SKIP LOCKED on PostgreSQL), so by one node at a time. A new
// delivery of this node's own events is sent at once (the outbox wakes the worker after the commit); the others
// (retries falling due, other nodes' events when their node is gone) are found by polling, every
// HERM_WEBHOOK_POLL_MS or at the soonest retry known. Each attempt: a POST of the message signed the Standard
// Webhooks way, through the policy-checked, address-pinned outbound fetch (a URL whose name now resolves to an
// internal address is refused at that moment); a 2xx within the timeout is success, anything else a failure,
// retried after the next delay of the schedule (with jitter) until it runs out, which fails the delivery for good.
import type { Logger } from 'pino';
import { outboundFetch, OutboundFetchError, type OutboundPolicy } from '../net/outbound-fetch.ts';
import type { SecretCipher } from '../secrets/secret-cipher.ts';
import type { ClaimedDelivery, WebhookRepository } from '../store/webhooks.ts';
import type { WebhookOutcome } from '../observability/metrics.ts';
import { retryDelay } from './webhook-settings.ts';
import { signatureHeader } from './webhook-signature.ts';

export const WEBHOOK_USER_AGENT = 'Herm-Webhooks/1.0 (+https://www.standardwebhooks.com)';

/** Deliveries one node sends at once. */
const MAX_IN_FLIGHT = 32;
/** Response bodies read at most (the body is not kept; a larger one fails the attempt). */
const MAX_RESPONSE_BYTES = 256 * 1024;
/** How long a claim outlives the attempt's deadline, for recording it. */
const LEASE_MARGIN_MS = 30_000;

export interface WebhookWorkerOptions {
  repository: WebhookRepository;
  cipher: SecretCipher;
  policy: OutboundPolicy;
  nodeId: string;
  logger: Logger;
  /** Delays before each retry (HERM_WEBHOOK_RETRY_SCHEDULE). */
  retrySchedule: readonly number[];
  timeoutMs: number;
  disableAfterMs: number;
  pollMs: number;
  /**
   * Embedded mode (SQLite, one process): leases left by a crash are this process's own past, released at start so
   * their deliveries go at once rather than when the lease runs out.
   */
  releaseLeasesAtStart?: boolean;
  /** Finished deliveries (and their attempts) older than this are deleted, by a sweep every hour. */
  retentionMs: number;
  /** Told how each attempt made here ended (herm_webhook_deliveries_total). */
  onAttempt?: (outcome: WebhookOutcome) => void;
}

/** How often finished deliveries past their retention are swept. */
const RETENTION_SWEEP_MS = 60 * 60 * 1000;

export class WebhookWorker {
  readonly #options: WebhookWorkerOptions;
  readonly #inFlight = new Map<string, { controller: AbortController; done: Promise<void> }>();
  #loop: Promise<void> | undefined;
  #stopped = false;
  #wake: (() => void) | undefined;
  #woken = false;
  #nextSweepAt = 0;

  constructor(options: WebhookWorkerOptions) {
    this.#options = options;
  }

  start(): void {
    this.#loop ??= (async () => {
      if (this.#options.releaseLeasesAtStart) {
        const released = await this.#options.repository.releaseAllLeases().catch((error: unknown) => {
          this.#options.logger.warn({ err: error }, 'webhook deliveries: could not release the leases of the last start');
          return 0;
        });
        if (released > 0) this.#options.logger.info({ released }, 'webhook deliveries interrupted by the last stop are due again');
      }
      await this.#run();
    })();
  }

  /** Something may be due now (a delivery enqueued here, or an attempt finished): look at once. */
  wake(): void {
    this.#woken = true;
    this.#wake?.();
  }

  /** Stops claiming and abandons the attempts in flight (their leases are released for the next node or start). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.wake();
    for (const { controller } of this.#inFlight.values()) controller.abort();
    await this.#loop;
    await Promise.all([...this.#inFlight.values()].map(({ done }) => done));
  }

  async #run(): Promise<void> {
    const { repository, logger, nodeId, timeoutMs, pollMs } = this.#options;
    while (!this.#stopped) {
      this.#woken = false;
      let wait = pollMs;
      if (Date.now() >= this.#nextSweepAt) {
        this.#nextSweepAt = Date.now() + RETENTION_SWEEP_MS;
        await repository.deleteFinishedBefore(Date.now() - this.#options.retentionMs).then(
          (deleted) => deleted > 0 && logger.info({ deleted }, 'webhook deliveries past their retention deleted'),
          (error: unknown) => logger.warn({ err: error }, 'webhook deliveries: the retention sweep failed'),
        );
      }
      try {
        const free = MAX_IN_FLIGHT - this.#inFlight.size;
        // What falls due after this instant was not due for the claim below, even when it is due by the time
        // nextDueAt looks (a retry due in 150 ms): it is waited for, not left to the poll.
        const claimedAfter = Date.now() - 1;
        const claimed = free > 0 ? await repository.claimDue(nodeId, timeoutMs + LEASE_MARGIN_MS, free) : [];
        for (const delivery of claimed) this.#start(delivery);
        if (claimed.length > 0 && claimed.length === free) continue;
        const next = await repository.nextDueAt(claimedAfter);
        if (next !== undefined) wait = Math.min(wait, Math.max(0, next - Date.now()));
      } catch (error) {
        if (this.#stopped) break;
        logger.warn({ err: error }, 'webhook deliveries: claiming failed; trying again');
      }
      if (this.#stopped || this.#woken) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  #start(delivery: ClaimedDelivery): void {
    const controller = new AbortController();
    const done = this.#deliver(delivery, controller.signal)
      .catch((error: unknown) => this.#options.logger.error({ err: error, deliveryId: delivery.id }, 'webhook delivery failed unexpectedly'))
      .finally(() => {
        this.#inFlight.delete(delivery.id);
        this.wake();
      });
    this.#inFlight.set(delivery.id, { controller, done });
  }

  /** The signing secrets in force: the current one, and the previous one during its grace period. */
  #secrets(delivery: ClaimedDelivery, now: number): string[] {
    const { cipher } = this.#options;
    const secrets = [cipher.decrypt(delivery.secretCiphertext)];
    if (delivery.previousSecretCiphertext && delivery.previousSecretExpiresAt !== null && delivery.previousSecretExpiresAt > now) {
      secrets.push(cipher.decrypt(delivery.previousSecretCiphertext));
    }
    return secrets;
  }

  async #deliver(delivery: ClaimedDelivery, signal: AbortSignal): Promise<void> {
    const { repository, policy, timeoutMs, nodeId, logger, retrySchedule, disableAfterMs } = this.#options;
    const attempt = delivery.attemptCount + 1;
    const startedAt = Date.now();
    const timestamp = Math.floor(startedAt / 1000);
    let secrets: string[];
    try {
      secrets = this.#secrets(delivery, startedAt);
    } catch (error) {
      // Not the endpoint's failure: this node cannot read the secret (HERM_SECRET_KEY not the one it was stored
      // with). No attempt is made or recorded; the lease runs out and a node that can read it sends the message.
      logger.error({ err: error, deliveryId: delivery.id, endpointId: delivery.endpointId }, "webhook delivery: cannot decrypt the endpoint's signing secret (is HERM_SECRET_KEY the same on every node?)");
      return;
    }
    const headers = {
      'content-type': 'application/json',
      'user-agent': WEBHOOK_USER_AGENT,
      'webhook-id': delivery.id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signatureHeader(secrets, delivery.id, timestamp, delivery.payload),
    };
    const started = performance.now();
    let statusCode: number | null = null;
    let error: string | null = null;
    try {
      const response = await outboundFetch({
        url: delivery.url,
        policy,
        method: 'POST',
        headers,
        body: delivery.payload,
        timeoutMs,
        maxBytes: MAX_RESPONSE_BYTES,
        maxRedirects: 0,
        signal,
      });
      statusCode = response.status;
      if (statusCode < 200 || statusCode >= 300) error = statusCode >= 300 && statusCode < 400 ? `HTTP ${statusCode}: redirects are not followed` : `HTTP ${statusCode}`;
    } catch (caught) {
      if (signal.aborted) {
        // Stopping: not recorded; the lease goes, and the next node or start sends it (at least once).
        await repository.releaseLease(delivery.id, delivery.leaseToken).catch(() => {});
        return;
      }
      const durationMs = performance.now() - started;
      if (caught instanceof OutboundFetchError && caught.failure === 'too_large') error = `the response body is larger than ${MAX_RESPONSE_BYTES} bytes`;
      else if (caught instanceof OutboundFetchError && caught.failure === 'unreachable' && durationMs >= timeoutMs - 50) error = `no answer within ${timeoutMs} ms`;
      else error = caught instanceof Error ? caught.message : String(caught);
    }
    const durationMs = performance.now() - started;
    const succeeded = error === null;
    const delay = succeeded ? undefined : retryDelay(retrySchedule, delivery.scheduleIndex);
    const outcome = {
      deliveryId: delivery.id,
      endpointId: delivery.endpointId,
      leaseToken: delivery.leaseToken,
      attempt,
      startedAt,
      durationMs,
      statusCode,
      error,
      succeeded,
      nodeId,
      retryAt: delay === undefined ? undefined : Date.now() + delay,
      scheduleIndex: succeeded || delay === undefined ? delivery.scheduleIndex : delivery.scheduleIndex + 1,
    };
    const result = await repository.recordAttempt(outcome, Date.now() - disableAfterMs);
    this.#options.onAttempt?.(!result.recorded ? 'lease_lost' : succeeded ? 'succeeded' : outcome.retryAt === undefined ? 'failed' : 'retrying');
    const fields = { deliveryId: delivery.id, endpointId: delivery.endpointId, attempt, statusCode, durationMs: Math.round(durationMs) };
    if (!result.recorded) logger.warn(fields, 'webhook delivery: the lease was lost during the attempt; another node sends it again');
    else if (succeeded) logger.debug(fields, 'webhook delivered');
    else logger.info({ ...fields, error, retryAt: outcome.retryAt }, outcome.retryAt === undefined ? 'webhook delivery failed for good' : 'webhook delivery failed; retrying later');
    if (result.disabled) {
      logger.warn({ endpointId: delivery.endpointId, deliveryId: delivery.id }, 'webhook endpoint disabled after persistent failure (re-enable it with PATCH {"status": "enabled"})');
    }
  }
}
