import type { PagePromise } from '../core/pagination.ts';
import type { RequestOptions } from '../core/request-options.ts';
import { APIResource, segment } from '../core/resource.ts';

/** An API key as listed: never its secret (`key_hint` identifies it). */
export interface ApiKey {
  /** `key_…` */
  key_id: string;
  account_id: string;
  name: string | null;
  /** `deployments:read`, `deployments:write`, `metrics:read` (GET /metrics only), `admin` (acts across every account). */
  scopes: string[];
  /** The first 8 and last 4 characters of the secret. */
  key_hint: string;
  status: 'active' | 'revoked';
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

/** A key just created: `secret` is the key itself, returned this once and kept nowhere. */
export interface CreatedApiKey extends ApiKey {
  secret: string;
}

export interface KeyCreateParams {
  /** The account the key acts for; defaults to the calling key's account. */
  account_id?: string;
  name?: string;
  scopes: string[];
}

export interface KeyListParams {
  /** Only this account's keys. */
  account_id?: string;
  /** Page size, 1–100. Defaults to 20. */
  limit?: number;
  /** `next_cursor` of the previous page. */
  cursor?: string;
}

/** API keys, for an operator's `admin` key: `herm.keys`. Other keys get a `PermissionDeniedError` (403). */
export class Keys extends APIResource {
  /**
   * Issues a key. Store `secret` now: it is never shown again.
   *
   * @example
   * const { key_id, secret } = await herm.keys.create({
   *   account_id: 'acct_5Wq2Nc',
   *   name: 'acme-backend',
   *   scopes: ['deployments:read', 'deployments:write'],
   * });
   */
  create(body: KeyCreateParams, options?: RequestOptions): Promise<CreatedApiKey> {
    return this._client.post<CreatedApiKey>('/keys', { ...options, body });
  }

  /**
   * Lists keys (every account's, or one's), newest first.
   *
   * @example
   * for await (const key of herm.keys.list({ account_id: 'acct_5Wq2Nc' })) console.log(key.key_id, key.status);
   */
  list(params: KeyListParams = {}, options?: RequestOptions): PagePromise<ApiKey> {
    return this._client.getAPIList<ApiKey>('/keys', { ...params }, options);
  }

  /**
   * @example
   * const key = await herm.keys.get('key_8Hn3Vz');
   */
  get(keyId: string, options?: RequestOptions): Promise<ApiKey> {
    return this._client.get<ApiKey>(`/keys/${segment(keyId)}`, options);
  }

  /**
   * Revokes a key: its next request, on any node, is a 401 `AuthenticationError`, and its event streams end.
   *
   * @example
   * await herm.keys.revoke('key_8Hn3Vz');
   */
  revoke(keyId: string, options?: RequestOptions): Promise<ApiKey> {
    return this._client.post<ApiKey>(`/keys/${segment(keyId)}/revoke`, { ...options });
  }
}
