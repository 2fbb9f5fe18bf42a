// The Herm client: configuration, one request loop with timeouts and retries, and the resources.
import {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
  AuthenticationError,
  BadRequestError,
  ConflictError,
  HermError,
  InternalServerError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  UnprocessableEntityError,
} from './core/error.ts';
import { CursorPage, PagePromise, type CursorPageResponse } from './core/pagination.ts';
import type { FinalRequestOptions, QueryParams, RequestOptions } from './core/request-options.ts';
import { isRetryable, retryDelay } from './core/retry.ts';
import { readEnv } from './internal/env.ts';
import { anySignal, randomUUID } from './internal/platform.ts';
import { sleep } from './internal/sleep.ts';
import { Deployments } from './resources/deployments/deployments.ts';
import { Files } from './resources/files.ts';
import { Secrets } from './resources/secrets.ts';
import { Accounts } from './resources/accounts.ts';
import { Usage } from './resources/usage.ts';
import { AuditLog } from './resources/audit-log.ts';
import { Keys } from './resources/keys.ts';
import { WebhookEndpoints } from './resources/webhooks.ts';
import { Skills } from './resources/skills.ts';
import { Memories } from './resources/memories.ts';
import { Automations } from './resources/automations.ts';
import { Dreams } from './resources/dreams.ts';
import { Snapshots } from './resources/snapshots.ts';
import { Threads } from './resources/threads.ts';
import { McpServers, Tools } from './resources/tools.ts';
import { API_VERSION_HEADER, apiVersionMismatch, VERSION } from './version.ts';

export const DEFAULT_BASE_URL = 'http://localhost:8787/v1';
const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_RETRIES = 2;

/** A response body read whole, as `requestBinary` returns it. */
export interface BinaryResponse {
  bytes: Uint8Array;
  headers: Headers;
}

export type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/**
 * Settings for a Herm client. Every one is optional: the key comes from `PRISM_API_KEY` and the URL
 * from `HERM_BASE_URL` when not given.
 *
 * @example
 * const herm = new Herm({ baseURL: 'https://herm.internal.example.com', timeout: 20_000, maxRetries: 4 });
 */
export interface ClientOptions {
  /** API key sent as `Authorization: Bearer <key>`. Defaults to the `PRISM_API_KEY` environment variable. */
  apiKey?: string | undefined;
  /**
   * The API's base URL. Defaults to `HERM_BASE_URL`, else `http://localhost:8787/v1`. A URL without a
   * path, such as `http://127.0.0.1:8787`, gets `/v1` appended.
   */
  baseURL?: string | undefined;
  /** Milliseconds one attempt of a request may take. Default 60 000. */
  timeout?: number | undefined;
  /** Retries of connection errors, 408, 409 deployment_not_ready, 429 and 5xx. Default 2. */
  maxRetries?: number | undefined;
  /** A `fetch` implementation to use instead of the global one (proxies, tests, instrumentation). */
  fetch?: Fetch | undefined;
  /** Headers sent with every request. */
  defaultHeaders?: Record<string, string> | undefined;
}

/**
 * The Herm API client.
 *
 * @example
 * import Herm from 'herm';
 *
 * const herm = new Herm(); // reads PRISM_API_KEY
 * const deployment = await herm.deployments.create({
 *   customer_id: 'cus_123',
 *   name: 'Acme Creative Agent',
 *   system_prompt: 'You are Acme’s media generation agent.',
 * });
 */
export class Herm {
  static readonly DEFAULT_TIMEOUT = DEFAULT_TIMEOUT_MS;
  static readonly HermError = HermError;
  static readonly APIError = APIError;
  static readonly APIConnectionError = APIConnectionError;
  static readonly APIConnectionTimeoutError = APIConnectionTimeoutError;
  static readonly APIUserAbortError = APIUserAbortError;
  static readonly BadRequestError = BadRequestError;
  static readonly AuthenticationError = AuthenticationError;
  static readonly PermissionDeniedError = PermissionDeniedError;
  static readonly NotFoundError = NotFoundError;
  static readonly ConflictError = ConflictError;
  static readonly UnprocessableEntityError = UnprocessableEntityError;
  static readonly RateLimitError = RateLimitError;
  static readonly InternalServerError = InternalServerError;

  readonly apiKey: string;
  /** Normalized: no trailing slash, `/v1` added to a bare origin. */
  readonly baseURL: string;
  readonly timeout: number;
  readonly maxRetries: number;
  readonly #fetch: Fetch;
  readonly #defaultHeaders: Record<string, string>;

  readonly deployments: Deployments;
  readonly threads: Threads;
  readonly secrets: Secrets;
  /** Accounts (`admin` scope). */
  readonly accounts: Accounts;
  /** API keys (`admin` scope). */
  readonly keys: Keys;
  /** The audit log of accounts and keys (`admin` scope). */
  readonly auditLog: AuditLog;
  readonly webhookEndpoints: WebhookEndpoints;
  readonly skills: Skills;
  readonly memories: Memories;
  readonly automations: Automations;
  /** Dreams: idle-time self-learning, reviewable and rolled back (`features.dreaming`). */
  readonly dreams: Dreams;
  readonly files: Files;
  readonly snapshots: Snapshots;
  readonly tools: Tools;
  readonly mcpServers: McpServers;
  /** Usage and credit budgets (setting budgets takes the `admin` scope). */
  readonly usage: Usage;

  /** @throws HermError when no API key is given and `PRISM_API_KEY` is unset. */
  constructor(options: ClientOptions = {}) {
    const apiKey = options.apiKey ?? readEnv('PRISM_API_KEY');
    if (!apiKey) {
      throw new HermError(
        'The PRISM_API_KEY environment variable is missing or empty; either set it, or pass the key to the client: new Herm({ apiKey: "..." }).',
      );
    }
    this.apiKey = apiKey;
    this.baseURL = normalizeBaseURL(options.baseURL ?? readEnv('HERM_BASE_URL') ?? DEFAULT_BASE_URL);
    this.timeout = options.timeout ?? DEFAULT_TIMEOUT_MS;
    this.maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#defaultHeaders = { ...options.defaultHeaders };

    this.deployments = new Deployments(this);
    this.threads = new Threads(this);
    this.secrets = new Secrets(this);
    this.accounts = new Accounts(this);
    this.keys = new Keys(this);
    this.auditLog = new AuditLog(this);
    this.webhookEndpoints = new WebhookEndpoints(this);
    this.skills = new Skills(this);
    this.memories = new Memories(this);
    this.automations = new Automations(this);
    this.dreams = new Dreams(this);
    this.files = new Files(this);
    this.snapshots = new Snapshots(this);
    this.tools = new Tools(this);
    this.mcpServers = new McpServers(this);
    this.usage = new Usage(this);
  }

  /** A copy of this client with some settings changed. */
  withOptions(options: ClientOptions): Herm {
    return new Herm({
      apiKey: this.apiKey,
      baseURL: this.baseURL,
      timeout: this.timeout,
      maxRetries: this.maxRetries,
      fetch: this.#fetch,
      defaultHeaders: this.#defaultHeaders,
      ...options,
    });
  }

  get<Response>(path: string, options?: Omit<FinalRequestOptions, 'method' | 'path'>): Promise<Response> {
    return this.request<Response>({ ...options, method: 'GET', path });
  }

  post<Response>(path: string, options?: Omit<FinalRequestOptions, 'method' | 'path'>): Promise<Response> {
    return this.request<Response>({ ...options, method: 'POST', path });
  }

  patch<Response>(path: string, options?: Omit<FinalRequestOptions, 'method' | 'path'>): Promise<Response> {
    return this.request<Response>({ ...options, method: 'PATCH', path });
  }

  put<Response>(path: string, options?: Omit<FinalRequestOptions, 'method' | 'path'>): Promise<Response> {
    return this.request<Response>({ ...options, method: 'PUT', path });
  }

  delete<Response>(path: string, options?: Omit<FinalRequestOptions, 'method' | 'path'>): Promise<Response> {
    return this.request<Response>({ ...options, method: 'DELETE', path });
  }

  /** Sends a request and resolves with its parsed JSON body (undefined for an empty body). */
  request<Response>(options: FinalRequestOptions): Promise<Response> {
    return this.#execute(options, async (response) => {
      const text = await response.text();
      if (text === '') return undefined as Response;
      try {
        return JSON.parse(text) as Response;
      } catch (cause) {
        throw new HermError(`Could not parse the response to ${options.method} ${options.path} as JSON.`, { cause });
      }
    });
  }

  /** A GET list endpoint as a PagePromise: await it for the first page, iterate it for every item. */
  getAPIList<Item>(path: string, query: QueryParams | undefined, options?: RequestOptions): PagePromise<Item> {
    const fetchPage = async (cursor: string | undefined): Promise<CursorPage<Item>> => {
      const pageQuery = cursor === undefined ? query : { ...query, cursor };
      const body = await this.get<CursorPageResponse<Item>>(path, { ...options, query: pageQuery });
      return new CursorPage(body, fetchPage);
    };
    return new PagePromise(() => fetchPage(undefined));
  }

  /**
   * Sends a request and resolves with the whole response body as bytes, plus the response headers. The
   * body is read inside the attempt, so one that breaks off is retried like a connection error.
   */
  requestBinary(options: FinalRequestOptions): Promise<BinaryResponse> {
    return this.#execute({ ...options, headers: { Accept: '*/*', ...options.headers } }, async (response) => ({
      bytes: new Uint8Array(await response.arrayBuffer()),
      headers: response.headers,
    }));
  }

  /**
   * Opens a streaming request and resolves with the 2xx response once its headers are in; the body is
   * left to the caller. The timeout covers getting the headers only.
   */
  openStream(options: FinalRequestOptions): Promise<Response> {
    return this.#execute(options, async (response) => response);
  }

  /** The full URL of an API path with its query string. */
  buildURL(path: string, query?: QueryParams): string {
    const url = new URL(this.baseURL + path);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
    }
    return url.toString();
  }

  /**
   * Runs one logical request: attempts it, retries what is retryable with backoff, and hands a 2xx
   * response to `read` inside the attempt, so a body that breaks off counts as a connection error.
   */
  async #execute<Result>(options: FinalRequestOptions, read: (response: Response) => Promise<Result>): Promise<Result> {
    const maxRetries = options.maxRetries ?? this.maxRetries;
    const timeout = options.timeout ?? this.timeout;
    const url = this.buildURL(options.path, options.query);
    const headers = this.#buildHeaders(options);
    const body = options.rawBody !== undefined ? toBodyInit(options.rawBody) : options.body === undefined ? undefined : JSON.stringify(options.body);
    const userSignal = options.signal ?? undefined;

    for (let retriesDone = 0; ; retriesDone++) {
      if (userSignal?.aborted) throw new APIUserAbortError({ cause: userSignal.reason });
      const timeoutController = new AbortController();
      const timer = setTimeout(() => timeoutController.abort(), timeout);
      const signal = userSignal ? anySignal([userSignal, timeoutController.signal]) : timeoutController.signal;
      let error: APIError;
      try {
        const response = await this.#fetch(url, { method: options.method, headers, body, signal });
        const mismatch = apiVersionMismatch(response.headers.get(API_VERSION_HEADER));
        if (mismatch !== undefined) {
          response.body?.cancel().catch(() => {});
          throw new HermError(mismatch);
        }
        if (response.ok) return await read(response);
        error = APIError.generate(response.status, await readErrorBody(response), response.headers);
      } catch (cause) {
        if (userSignal?.aborted) throw new APIUserAbortError({ cause });
        if (timeoutController.signal.aborted) error = new APIConnectionTimeoutError({ cause });
        else if (cause instanceof HermError) throw cause;
        else error = new APIConnectionError({ message: connectionErrorMessage(cause), cause });
      } finally {
        clearTimeout(timer);
      }

      if (retriesDone >= maxRetries || !isRetryable(error)) throw error;
      try {
        await sleep(retryDelay(error.headers, retriesDone), userSignal);
      } catch (cause) {
        throw new APIUserAbortError({ cause });
      }
    }
  }

  #buildHeaders(options: FinalRequestOptions): Record<string, string> {
    const headers: Record<string, string> = {
      Accept: 'application/json',
      'User-Agent': `herm-node/${VERSION}`,
      Authorization: `Bearer ${this.apiKey}`,
    };
    if (options.body !== undefined) headers['Content-Type'] = 'application/json';
    // One key per logical request, reused by its retries, so the server can tell a retry from a new call.
    if (options.method === 'POST') headers['Idempotency-Key'] = options.idempotencyKey ?? randomUUID();
    return { ...headers, ...this.#defaultHeaders, ...options.headers };
  }
}

/** Trailing slashes dropped; a URL with no path gets `/v1`, the API's version prefix. */
export function normalizeBaseURL(baseURL: string): string {
  let url: URL | undefined;
  try {
    url = new URL(baseURL);
  } catch {
    url = undefined;
  }
  // `localhost:8787` parses as a URL with the scheme "localhost:", hence the protocol check.
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new HermError(`Invalid Herm base URL '${baseURL}': expected an http(s) URL such as ${DEFAULT_BASE_URL}.`);
  }
  if (url.pathname === '' || url.pathname === '/') url.pathname = '/v1';
  return url.toString().replace(/\/+$/, '');
}

/** fetch cannot send a view of a SharedArrayBuffer: such bytes are copied, everything else goes as it is. */
function toBodyInit(raw: string | Uint8Array | Blob): BodyInit {
  if (raw instanceof Uint8Array) return raw.buffer instanceof ArrayBuffer ? (raw as Uint8Array<ArrayBuffer>) : new Uint8Array(raw);
  return raw;
}

async function readErrorBody(response: Response): Promise<unknown> {
  const text = await response.text();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function connectionErrorMessage(cause: unknown): string {
  const detail = cause instanceof Error ? (cause.cause instanceof Error ? cause.cause.message : cause.message) : '';
  return detail ? `Connection error: ${detail}` : 'Connection error.';
}
