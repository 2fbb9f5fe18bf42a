import type { PagePromise } from '../core/pagination.ts';
import type { RequestOptions } from '../core/request-options.ts';
import { APIResource, segment } from '../core/resource.ts';

/** A stored credential. Its value is never returned; deployments refer to it by `secret_id`. */
export interface Secret {
  /** `sec_…`: put it in a deployment's `secrets` map. */
  secret_id: string;
  name: string;
  /** Hosts the egress proxy sends the value to, in place of the placeholder a sandbox sees (normalised). */
  allowed_hosts: string[];
  created_at: string;
}

export interface SecretCreateParams {
  name: string;
  /** The credential; write-only. */
  value: string;
  /**
   * Hosts a sandboxed command may send the value to: `api.example.com`, `*.example.com`, an IP address, each with
   * an optional `:port` (ports 80 and 443 without one). Inside the sandbox the variable holds a placeholder; the
   * egress proxy puts the value in its place only in requests to these hosts (which must also be on the
   * deployment's `sandbox.network.allow`). Omitted: never sent from the sandbox (MCP server headers still use it).
   */
  allowed_hosts?: string[];
}

/** What `update` changes: the value (rotation), the hosts, or both. */
export interface SecretUpdateParams {
  /** A new value: the next request the egress proxy sends, and the next MCP connection, carry it. */
  value?: string;
  /** Replaces the hosts the value may be sent to. */
  allowed_hosts?: string[];
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
   * const secret = await herm.secrets.create({
   *   name: 'META_ADS_TOKEN',
   *   value: process.env.META_TOKEN!,
   *   allowed_hosts: ['graph.facebook.com'],
   * });
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
   * Gets a secret: its name and hosts, never its value.
   *
   * @example
   * const secret = await herm.secrets.get('sec_meta_ads_token');
   */
  get(secretId: string, options?: RequestOptions): Promise<Secret> {
    return this._client.get<Secret>(`/secrets/${segment(secretId)}`, options);
  }

  /**
   * Replaces a secret's value (rotation in place) and/or its hosts. Deployments that refer to it keep their
   * reference and placeholder; their next request and MCP connection use the new value.
   *
   * @example
   * await herm.secrets.update('sec_meta_ads_token', { value: process.env.NEW_META_TOKEN! });
   */
  update(secretId: string, body: SecretUpdateParams, options?: RequestOptions): Promise<Secret> {
    return this._client.patch<Secret>(`/secrets/${segment(secretId)}`, { ...options, body });
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
