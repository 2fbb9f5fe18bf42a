import type { Herm } from '../client.ts';
import type { PagePromise } from '../core/pagination.ts';
import type { RequestOptions } from '../core/request-options.ts';
import { APIResource, segment } from '../core/resource.ts';

/** The event types an endpoint may subscribe to. */
export type WebhookEventType = 'run.completed' | 'run.failed' | 'steering.requested' | 'filesystem.changed' | 'automation.fired' | 'endpoint.disabled';

/** Where Herm POSTs signed event messages (Standard Webhooks). */
export interface WebhookEndpoint {
  /** `we_…` */
  endpoint_id: string;
  url: string;
  events: WebhookEventType[];
  /** Only this deployment's events; null: every deployment of the account. */
  deployment_id: string | null;
  description: string | null;
  /** `disabled` after persistent failure (see `disabled_reason`) or through `update`. */
  status: 'enabled' | 'disabled';
  disabled_reason: string | null;
  disabled_at: string | null;
  /** After a rotation: until when the previous secret also signs. */
  previous_secret_expires_at: string | null;
  created_at: string;
  updated_at: string;
}

/** `create` and `rotateSecret` answer with the signing secret, shown that once. */
export interface WebhookEndpointWithSecret extends WebhookEndpoint {
  /** `whsec_…`: verify deliveries with it (`verifyWebhook`). */
  secret: string;
}

export interface WebhookEndpointCreateParams {
  /** http(s) URL; private, loopback and link-local addresses are refused unless the server allows them. */
  url: string;
  /** At least one; no wildcard. */
  events: WebhookEventType[];
  /** Only this deployment's events. */
  deployment_id?: string | null;
  description?: string | null;
}

export interface WebhookEndpointUpdateParams {
  url?: string;
  events?: WebhookEventType[];
  deployment_id?: string | null;
  description?: string | null;
  /** `enabled` re-enables a disabled endpoint (its pending deliveries go at once). */
  status?: 'enabled' | 'disabled';
}

export interface WebhookEndpointListParams {
  limit?: number;
  cursor?: string;
  deployment_id?: string;
}

export interface WebhookSecretRotateParams {
  /** How long the previous secret keeps signing, 0–604800 s. Defaults to the server's setting (24 h). */
  grace_period_seconds?: number;
}

export interface WebhookEndpointDeleteResponse {
  endpoint_id: string;
  deleted: true;
}

export interface WebhookAttempt {
  attempt: number;
  started_at: string;
  duration_ms: number;
  /** The HTTP status the endpoint answered; null without an answer. */
  status_code: number | null;
  succeeded: boolean;
  error: string | null;
}

/** One message to one endpoint; `delivery_id` is its `webhook-id` on every attempt. */
export interface WebhookDelivery {
  delivery_id: string;
  endpoint_id: string;
  event_type: WebhookEventType;
  status: 'pending' | 'succeeded' | 'failed';
  attempt_count: number;
  next_attempt_at: string | null;
  /** The body sent: `{ type, timestamp, data }`. */
  payload: WebhookPayload;
  deployment_id: string | null;
  run_id: string | null;
  created_at: string;
  completed_at: string | null;
  attempts: WebhookAttempt[];
}

/** The JSON body of a webhook message. */
export interface WebhookPayload {
  type: WebhookEventType;
  /** When the event happened (ISO 8601). */
  timestamp: string;
  data: {
    deployment_id: string;
    customer_id: string;
    thread_id: string | null;
    run_id: string | null;
    /** run.completed / run.failed: the run's final status. */
    status?: 'completed' | 'error';
    /** run.failed: why. */
    error?: { type: string; message: string };
    [key: string]: unknown;
  };
}

export interface WebhookDeliveryListParams {
  limit?: number;
  cursor?: string;
  status?: 'pending' | 'succeeded' | 'failed';
}

/** An endpoint's deliveries: `herm.webhookEndpoints.deliveries`. */
export class WebhookDeliveries extends APIResource {
  /**
   * Lists an endpoint's deliveries, newest first, each with its attempts.
   *
   * @example
   * for await (const delivery of herm.webhookEndpoints.deliveries.list('we_3Jd8Kp', { status: 'failed' })) {
   *   console.log(delivery.delivery_id, delivery.attempts.at(-1)?.status_code);
   * }
   */
  list(endpointId: string, params: WebhookDeliveryListParams = {}, options?: RequestOptions): PagePromise<WebhookDelivery> {
    return this._client.getAPIList<WebhookDelivery>(`/webhook_endpoints/${segment(endpointId)}/deliveries`, { ...params }, options);
  }

  /**
   * Sends a delivery again now, with the same `webhook-id` (a pending one is brought forward).
   *
   * @example
   * await herm.webhookEndpoints.deliveries.retry('we_3Jd8Kp', 'whmsg_9Qe2Wt');
   */
  retry(endpointId: string, deliveryId: string, options?: RequestOptions): Promise<WebhookDelivery> {
    return this._client.post<WebhookDelivery>(`/webhook_endpoints/${segment(endpointId)}/deliveries/${segment(deliveryId)}/retry`, options);
  }
}

/** Signed webhooks: `herm.webhookEndpoints`. */
export class WebhookEndpoints extends APIResource {
  readonly deliveries: WebhookDeliveries;

  constructor(client: Herm) {
    super(client);
    this.deliveries = new WebhookDeliveries(client);
  }

  /**
   * Creates an endpoint; the answer's `secret` (`whsec_…`) is shown this once.
   *
   * @example
   * const endpoint = await herm.webhookEndpoints.create({
   *   url: 'https://api.acme.example/herm/webhooks',
   *   events: ['run.completed', 'run.failed'],
   * });
   * saveSecret(endpoint.secret);
   */
  create(body: WebhookEndpointCreateParams, options?: RequestOptions): Promise<WebhookEndpointWithSecret> {
    return this._client.post<WebhookEndpointWithSecret>('/webhook_endpoints', { ...options, body });
  }

  /**
   * Lists your endpoints.
   *
   * @example
   * for await (const endpoint of herm.webhookEndpoints.list()) console.log(endpoint.endpoint_id, endpoint.status);
   */
  list(params: WebhookEndpointListParams = {}, options?: RequestOptions): PagePromise<WebhookEndpoint> {
    return this._client.getAPIList<WebhookEndpoint>('/webhook_endpoints', { ...params }, options);
  }

  /** Gets an endpoint (never its secret). */
  get(endpointId: string, options?: RequestOptions): Promise<WebhookEndpoint> {
    return this._client.get<WebhookEndpoint>(`/webhook_endpoints/${segment(endpointId)}`, options);
  }

  /**
   * Changes an endpoint, or re-enables one disabled after persistent failure.
   *
   * @example
   * await herm.webhookEndpoints.update('we_3Jd8Kp', { status: 'enabled' });
   */
  update(endpointId: string, body: WebhookEndpointUpdateParams, options?: RequestOptions): Promise<WebhookEndpoint> {
    return this._client.patch<WebhookEndpoint>(`/webhook_endpoints/${segment(endpointId)}`, { ...options, body });
  }

  /** Deletes an endpoint; nothing more is sent to it. */
  delete(endpointId: string, options?: RequestOptions): Promise<WebhookEndpointDeleteResponse> {
    return this._client.delete<WebhookEndpointDeleteResponse>(`/webhook_endpoints/${segment(endpointId)}`, options);
  }

  /**
   * Makes a new signing secret (in the answer, shown once); the previous one keeps signing for the grace period, so
   * deliveries verify with either meanwhile.
   *
   * @example
   * const { secret } = await herm.webhookEndpoints.rotateSecret('we_3Jd8Kp');
   */
  rotateSecret(endpointId: string, body: WebhookSecretRotateParams = {}, options?: RequestOptions): Promise<WebhookEndpointWithSecret> {
    return this._client.post<WebhookEndpointWithSecret>(`/webhook_endpoints/${segment(endpointId)}/rotate_secret`, { ...options, body });
  }
}
