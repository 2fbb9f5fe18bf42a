import type { PagePromise } from '../../core/pagination.ts';
import type { RequestOptions } from '../../core/request-options.ts';
import { APIResource, segment } from '../../core/resource.ts';
import { Events } from './events.ts';
import { Messages } from './messages.ts';
import { Runs, SteeringRequests } from './runs.ts';

export type DeploymentStatus = 'provisioning' | 'ready' | 'error';

/** Where the agent's tools run. */
export interface Sandbox {
  /** Run the agent's tools in an isolated sandbox. Default true. */
  enabled: boolean;
  /** Sandbox backend. */
  type: 'docker' | 'bubblewrap' | (string & {});
  /** Keep the workspace across sessions. Default true. */
  persistent_filesystem: boolean;
  /**
   * Container image of a `docker` sandbox, when the deployment chose one; absent means the server's
   * image (`HERM_DOCKER_IMAGE`). The image must already be on the server's Docker host.
   */
  image?: string;
  /**
   * Hosts the sandbox's commands may reach, through the server's egress proxy (`api.example.com`,
   * `*.example.com`, `host:port`; without a port, 80 and 443). Absent: no network at all.
   */
  network?: { allow: string[] };
}

/** An MCP server exposing your first-party tools to the agent. */
export interface McpServer {
  /** Unique server name. */
  name: string;
  url: string;
  /** Allowlist of tool names; omit to expose every tool of the server. */
  tools?: string[];
  /**
   * Headers sent with every request to the server. Values may name variables of the deployment's `secrets` map as
   * `${NAME}` (`{ Authorization: 'Bearer ${PRISM_MEDIA_TOKEN}' }`), resolved by Herm when it connects; never returned resolved.
   */
  headers?: Record<string, string>;
}

/** A SKILL.md uploaded to the deployment's workspace. */
export interface FileSkill {
  source: 'file';
  name: string;
  path: string;
}

/** Skill markdown given in the request. */
export interface InlineSkill {
  source: 'inline';
  name: string;
  content: string;
}

/** A SKILL.md fetched from a public URL. */
export interface UrlSkill {
  source: 'url';
  name: string;
  url: string;
}

export type Skill = FileSkill | InlineSkill | UrlSkill;

/** A skill in a deployment's `skills` array: its declaration and its id, the same as `herm.skills` shows. */
export type DeploymentSkill = Skill & {
  /** `skl_…`: the id `herm.skills.get/update/delete` take. */
  skill_id: string;
};

export interface Features {
  /** Observational memory across sessions. Default true. */
  memory: boolean;
  /** Idle-time self-learning between sessions. Default false. */
  dreaming: boolean;
  /** Scheduled and recurring runs. Default true. */
  automations: boolean;
  /** Human-in-the-loop approvals mid-run. Default true. */
  steering: boolean;
  /**
   * `filesystem` events (and `filesystem.changed` webhooks) when files in the workspace change, by the agent's tools or
   * the Files API (see FilesystemEvent). Default false.
   */
  filesystem_webhooks: boolean;
}

/** A dedicated agent for one customer. */
export interface Deployment {
  deployment_id: string;
  /** Your identifier for the customer this agent serves. */
  customer_id: string;
  name: string;
  /** Agent harness; currently always `hermes`. */
  runtime: string;
  status: DeploymentStatus;
  /** Resolved model, in `provider/model` form. */
  model: string;
  system_prompt: string;
  sandbox: Sandbox;
  mcp_servers: McpServer[];
  skills: DeploymentSkill[];
  /** Environment variable name → secret reference (`sec_…`). */
  secrets: Record<string, string>;
  features: Features;
  /** The default thread, used by `messages.send` when no `thread_id` is given. */
  thread_id: string;
  filesystem: {
    /** The workspace's path inside the sandbox. */
    workspace_path: string;
    persistent: boolean;
  };
  events: {
    transport: 'sse';
    /** The Stream Events endpoint of this deployment. */
    url: string;
  };
  created_at: string;
  updated_at: string;
}

export interface DeploymentCreateParams {
  /** Your identifier for the customer this agent serves. */
  customer_id: string;
  /** Human-readable deployment name. */
  name: string;
  /** The agent's system prompt. */
  system_prompt: string;
  /** Agent harness. Default `hermes`. */
  runtime?: 'hermes';
  /** Model in `provider/model` form, such as `anthropic/claude-sonnet-4.5`. */
  model?: string;
  sandbox?: Partial<Sandbox>;
  mcp_servers?: McpServer[];
  skills?: Skill[];
  /** Environment variable name → secret reference (`sec_…`) for connectors. */
  secrets?: Record<string, string>;
  features?: Partial<Features>;
  /**
   * `snap_…`: start the workspace with the files of a snapshot kept by a delete with `retain_filesystem`.
   * Restored in the background: the deployment is `provisioning` until its files are there.
   */
  restore_snapshot_id?: string;
}

/**
 * Scalars are replaced, arrays replaced whole (`[]` clears), maps merged by key (`null` removes a key),
 * omitted fields kept. `customer_id` and `runtime` cannot change.
 */
export interface DeploymentUpdateParams {
  name?: string;
  model?: string;
  system_prompt?: string;
  /** `image: null` returns a docker sandbox to the server's image; `network` is replaced whole, `null` removes it. */
  sandbox?: Partial<Omit<Sandbox, 'image' | 'network'>> & { image?: string | null; network?: { allow: string[] } | null };
  mcp_servers?: McpServer[];
  /** Replaced whole. An entry with the `skill_id` (or else the name) of a current skill keeps its id. */
  skills?: Array<Skill & { skill_id?: string }>;
  secrets?: Record<string, string | null>;
  features?: { [Flag in keyof Features]?: boolean | null };
}

export interface DeploymentListParams {
  /** Only this customer's deployments. */
  customer_id?: string;
  status?: DeploymentStatus;
  /** Page size, 1–100. Defaults to 20. */
  limit?: number;
  /** `next_cursor` of the previous page. */
  cursor?: string;
}

export interface DeploymentDeleteParams {
  /** Keep a snapshot of the workspace for 30 days. Default false. */
  retain_filesystem?: boolean;
}

export interface DeploymentDeleteResponse {
  deployment_id: string;
  status: 'deleted';
}

/** Deployments: `herm.deployments`, with `messages`, `events` and `runs` under it. */
export class Deployments extends APIResource {
  readonly messages: Messages = new Messages(this._client);
  readonly events: Events = new Events(this._client);
  readonly runs: Runs = new Runs(this._client);
  /** The requests runs made for a person (pending, answered, expired, cancelled). */
  readonly steeringRequests: SteeringRequests = new SteeringRequests(this._client);

  /**
   * Creates a deployment. Poll `get` until `status` is `ready` before sending messages.
   *
   * @example
   * const deployment = await herm.deployments.create({
   *   customer_id: 'cus_123',
   *   name: 'Acme Creative Agent',
   *   system_prompt: 'You are Acme’s media generation agent.',
   *   features: { dreaming: true },
   * });
   * console.log(deployment.deployment_id, deployment.status);
   */
  create(body: DeploymentCreateParams, options?: RequestOptions): Promise<Deployment> {
    return this._client.post<Deployment>('/deployments', { ...options, body });
  }

  /**
   * Gets a deployment's current state.
   *
   * @example
   * const deployment = await herm.deployments.get('dep_7xK9s2');
   * console.log(deployment.status); // "ready"
   */
  get(deploymentId: string, options?: RequestOptions): Promise<Deployment> {
    return this._client.get<Deployment>(`/deployments/${segment(deploymentId)}`, options);
  }

  /**
   * Lists your deployments, newest first.
   *
   * @example
   * const { data, next_cursor } = await herm.deployments.list({ customer_id: 'cus_123', limit: 20 });
   *
   * for await (const deployment of herm.deployments.list({ status: 'error' })) {
   *   console.log(deployment.deployment_id);
   * }
   */
  list(params: DeploymentListParams = {}, options?: RequestOptions): PagePromise<Deployment> {
    return this._client.getAPIList<Deployment>('/deployments', { ...params }, options);
  }

  /**
   * Updates a deployment; changes apply from the agent's next run.
   *
   * @example
   * const updated = await herm.deployments.update('dep_7xK9s2', {
   *   model: 'anthropic/claude-opus-4-8',
   *   secrets: { RESEND_TOKEN: 'sec_acme_resend', OLD_TOKEN: null },
   * });
   */
  update(deploymentId: string, body: DeploymentUpdateParams, options?: RequestOptions): Promise<Deployment> {
    return this._client.patch<Deployment>(`/deployments/${segment(deploymentId)}`, { ...options, body });
  }

  /**
   * Deletes a deployment, its sandbox, memory and automations; the workspace too unless
   * `retain_filesystem` is set.
   *
   * @example
   * await herm.deployments.delete('dep_7xK9s2', { retain_filesystem: true });
   */
  delete(
    deploymentId: string,
    params: DeploymentDeleteParams = {},
    options?: RequestOptions,
  ): Promise<DeploymentDeleteResponse> {
    return this._client.delete<DeploymentDeleteResponse>(`/deployments/${segment(deploymentId)}`, {
      ...options,
      query: { ...params },
    });
  }
}
