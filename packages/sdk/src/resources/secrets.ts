import type { PagePromise } from '../core/pagination.ts';
import type { RequestOptions } from '../core/request-options.ts';
import { APIResource, segment } from '../core/resource.ts';

/** A stored credential. Its value is never returned; deployments refer to it by `secret_id`. */
export interface Secret {
  /** `sec_…`: put it in a deployment's `secrets` map. */
  secret_id: string;
  name: string;
  created_at: string;
}

export interface SecretCreateParams {
  name: string;
  /** The credential; write-only. */
  value: string;
}

export interface SecretListParams {
  /** Page size, 1–100. Defaults to 20. */
  limit?: number;
  /** `next_cursor` of the previous page. */
  cursor?: string;
}

export interface SecretDeleteParams {
  /**
   * Delete it even though deployments refer to it (without, that is a 409 `conflict` naming them). Their runs
   * then fail with a `configuration_error` until their `secrets` map drops or replaces the reference.
   */
  force?: boolean;
}

export interface SecretDeleteResponse {
  secret_id: string;
  deleted: true;
}

/** Connector credentials: `herm.secrets`. */
export class Secrets extends APIResource {
  /**
   * Stores a credential and returns the reference to use in deployments.
   *
   * @example
   * const secret = await herm.secrets.create({ name: 'META_ADS_TOKEN', value: process.env.META_TOKEN! });
   * await herm.deployments.update('dep_7xK9s2', { secrets: { META_ADS_TOKEN: secret.secret_id } });
   */
  create(body: SecretCreateParams, options?: RequestOptions): Promise<Secret> {
    return this._client.post<Secret>('/secrets', { ...options, body });
  }

  /**
   * Lists your secrets (names and ids, never values).
   *
   * @example
   * for await (const secret of herm.secrets.list()) console.log(secret.secret_id, secret.name);
   */
  list(params: SecretListParams = {}, options?: RequestOptions): PagePromise<Secret> {
    return this._client.getAPIList<Secret>('/secrets', { ...params }, options);
  }

  /**
   * Deletes a secret. One that deployments still refer to is a 409 `ConflictError` naming them, unless `force`.
   *
   * @example
   * await herm.secrets.delete('sec_meta_ads_token');
   * await herm.secrets.delete('sec_meta_ads_token', { force: true });
   */
  delete(secretId: string, params: SecretDeleteParams = {}, options?: RequestOptions): Promise<SecretDeleteResponse> {
    return this._client.delete<SecretDeleteResponse>(`/secrets/${segment(secretId)}`, { ...options, query: { ...params } });
  }
}
