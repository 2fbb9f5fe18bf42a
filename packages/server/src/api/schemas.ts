// Request and response schemas: validation and the OpenAPI document come from the same definitions.
import { z } from '@hono/zod-openapi';
import { IMAGE_REFERENCE } from '../sandbox/docker/docker-container-config.ts';
import { MAX_ALLOW_ENTRIES, parseAllowEntry } from '../sandbox/egress/egress-allowlist.ts';
import { describeReservedEnvironmentNames } from '../sandbox/reserved-environment.ts';
import { MIN_REDACTED_LENGTH } from '../secrets/secret-redactor.ts';
import { MAX_STEERING_EXPIRY_SECONDS } from '../steering/steering-policy.ts';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export const idParam = (name: string, prefix: string) =>
  z
    .string()
    .regex(new RegExp(`^${prefix}_[A-Za-z0-9_]{1,64}$`), `must be an id starting with ${prefix}_`)
    .openapi({ param: { name, in: 'path' }, example: `${prefix}_7xK9s2` });

export const limitQuery = z.coerce
  .number({ error: 'must be an integer from 1 to 100' })
  .int('must be an integer from 1 to 100')
  .min(1, 'must be an integer from 1 to 100')
  .max(100, 'must be an integer from 1 to 100')
  .default(20)
  .openapi({ description: 'Page size, from 1 to 100. Defaults to 20', type: 'integer' });

export const cursorQuery = z.string().min(1).max(512).optional().openapi({ description: 'Pagination cursor from a previous response' });

export const SandboxLimitsInput = z
  .strictObject({
    cpus: z.number().positive().max(1024).nullable().optional().describe("CPU cores' worth of time the sandbox's processes may use together, e.g. 0.5 or 2"),
    memory_mb: z.number().int().min(16).max(4_194_304).nullable().optional().describe('Memory (no swap) the sandbox may use, in MiB; a process over it is killed'),
    max_processes: z.number().int().min(8).max(1_000_000).nullable().optional().describe('Processes and threads the sandbox may have at once'),
    disk_mb: z
      .number()
      .int()
      .min(16)
      .max(16_777_216)
      .nullable()
      .optional()
      .describe("Disk quota of the workspace in MiB: writes beyond it fail with 'No space left on device'"),
    command_timeout_seconds: z.number().positive().max(86_400).nullable().optional().describe('Default wall time of one command before it is killed'),
    max_output_bytes: z.number().int().min(1024).max(67_108_864).nullable().optional().describe('Bytes of stdout and of stderr kept per command'),
  })
  .openapi('SandboxLimits');

export const SandboxNetworkInput = z
  .strictObject({
    allow: z
      .array(
        z
          .string()
          .max(300)
          .superRefine((value, context) => {
            const entry = parseAllowEntry(value);
            if (typeof entry === 'string') context.addIssue({ code: 'custom', message: entry });
          }),
      )
      .min(1, 'must name at least one host; use sandbox.network null for no network')
      .max(MAX_ALLOW_ENTRIES, `at most ${MAX_ALLOW_ENTRIES} hosts`)
      .describe(
        'Hosts commands may reach through the egress proxy: `api.example.com`, `*.example.com` (its subdomains), an IP address, ' +
          'each optionally with `:port` (without one: ports 80 and 443). Internal addresses (loopback, private, link-local, the server\'s own) ' +
          'are reachable only where the server\'s operator opened them (HERM_SANDBOX_INTERNAL_DESTINATIONS): naming another one ' +
          '(`127.0.0.1:5432`, `localhost:8080`, `10.0.0.5`) is a 400, and a name that resolves to one is refused when used',
      ),
  })
  .openapi('SandboxNetwork');

export const SandboxInput = z
  .strictObject({
    enabled: z.boolean().optional().describe('Run the agent in an isolated sandbox. Default true'),
    type: z.enum(['bubblewrap', 'docker']).optional().describe("Sandbox backend; omitted means the server's default"),
    persistent_filesystem: z
      .boolean()
      .optional()
      .describe(
        "Persist the agent's workspace across sessions. Default true: one workspace, shared by the deployment's threads, kept across " +
          'runs, restarts and updates. false: each thread (session) gets its own workspace, empty at its first run, kept for the ' +
          "thread's later runs and removed when the thread is deleted or idle for HERM_EPHEMERAL_WORKSPACE_IDLE_MS (the Files API then needs thread_id)",
      ),
    image: z
      .string()
      .regex(IMAGE_REFERENCE, 'must be an image reference such as herm-sandbox:latest')
      .nullable()
      .optional()
      .describe(
        "Container image of a docker sandbox; it must be on the server's Docker host (images are never pulled). " +
          "Omitted means the server's image (HERM_DOCKER_IMAGE); null on update returns to it",
      ),
    network: SandboxNetworkInput.nullable()
      .optional()
      .describe(
        'Network access of sandboxed commands. Omitted or null (the default): none at all. `{ allow: [hosts] }`: only those hosts, ' +
          'through an HTTP proxy on the server (HTTP_PROXY and HTTPS_PROXY are set in the sandbox). Replaced as a whole on update; null removes it',
      ),
    limits: SandboxLimitsInput.nullable()
      .optional()
      .describe(
        "This deployment's overrides of the server's sandbox limits (HERM_SANDBOX_CPUS, HERM_SANDBOX_MEMORY_MB, HERM_SANDBOX_PROCESSES, HERM_SANDBOX_DISK_MB, " +
          'HERM_COMMAND_TIMEOUT_MS, HERM_MAX_OUTPUT_BYTES), each at most the server\'s ceiling (HERM_SANDBOX_MAX_*, HERM_MAX_COMMAND_TIMEOUT_MS; ' +
          'more is a 400 naming the field and the ceiling). Merged by key on update; null removes one override, or all of them',
      ),
  })
  .openapi('SandboxInput');

const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

export const McpHeaders = z
  .record(
    z.string().min(1).max(256).regex(HEADER_NAME, 'must be an HTTP header name'),
    z.string().max(8192).regex(/^[^\r\n\0]*$/, 'must not contain line breaks'),
  )
  .refine((headers) => Object.keys(headers).length <= 32, 'at most 32 headers')
  .describe(
    'Headers sent with every request to the server. A value may name variables of the deployment\'s `secrets` map as ' +
      '`${NAME}` (e.g. `"Authorization": "Bearer ${PRISM_MEDIA_TOKEN}"`): Herm resolves them when it connects, and the ' +
      'resolved values are never stored, returned, logged or shown to the agent. A name that is not in the secrets map is a ' +
      '400 naming `mcp_servers.N.headers.<Header>`. `Herm-Customer-Id` (set by Herm) and the transport\'s own headers ' +
      'cannot be set.',
  );

export const McpServerInput = z
  .strictObject({
    name: z.string().min(1).max(64).regex(NAME, 'must use letters, digits, ".", "_" or "-"').describe('Unique server name'),
    url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).describe('URL of your MCP server'),
    tools: z.array(z.string().min(1).max(128)).max(500).optional().describe('Allowlist of tool names; omit to expose all'),
    headers: McpHeaders.optional(),
  })
  .openapi('McpServer');

const skillName = z.string().min(1).max(64).regex(NAME, 'must use letters, digits, ".", "_" or "-"').describe('Unique skill name');
export const skillSourceFields = {
  file: z
    .string()
    .min(1)
    .max(1024)
    .describe(
      'Path to a SKILL.md in the workspace (relative, or under /workspace/). It may not exist yet: it is read at the start of each run, ' +
        'and a run without it (or with an unparsable one) goes on without the skill',
    ),
  inline: z.string().min(1).max(200_000).describe('Skill markdown: frontmatter with name and description, then the instructions'),
  url: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .describe('Public URL of a SKILL.md, fetched when the skill is created or updated (at most 1 MiB; private addresses only with HERM_ALLOW_PRIVATE_URLS)'),
};
const skillId = z.string().regex(/^skl_[A-Za-z0-9_]{1,64}$/, 'must be a skill id (skl_…)');

export const SkillInput = z
  .discriminatedUnion('source', [
    z.strictObject({ name: skillName, source: z.literal('file'), path: skillSourceFields.file }),
    z.strictObject({ name: skillName, source: z.literal('inline'), content: skillSourceFields.inline }),
    z.strictObject({ name: skillName, source: z.literal('url'), url: skillSourceFields.url }),
  ])
  .openapi('SkillInput');

/** A skill of an update's `skills` array: with `skill_id`, it replaces that skill keeping its id (what GET shows round-trips). */
export const SkillUpdateInput = z
  .discriminatedUnion('source', [
    z.strictObject({ skill_id: skillId.optional(), name: skillName, source: z.literal('file'), path: skillSourceFields.file }),
    z.strictObject({ skill_id: skillId.optional(), name: skillName, source: z.literal('inline'), content: skillSourceFields.inline }),
    z.strictObject({ skill_id: skillId.optional(), name: skillName, source: z.literal('url'), url: skillSourceFields.url }),
  ])
  .openapi('SkillUpdateInput');

/** A skill as the deployment's `skills` array shows it; the Skills API shows the same skills with the same ids. */
export const DeploymentSkill = z
  .discriminatedUnion('source', [
    z.object({ skill_id: z.string(), name: z.string(), source: z.literal('file'), path: z.string() }),
    z.object({ skill_id: z.string(), name: z.string(), source: z.literal('inline'), content: z.string() }),
    z.object({ skill_id: z.string(), name: z.string(), source: z.literal('url'), url: z.string() }),
  ])
  .openapi('DeploymentSkill');

export const FeaturesInput = z
  .strictObject({
    memory: z.boolean().optional(),
    dreaming: z.boolean().optional(),
    automations: z.boolean().optional(),
    steering: z.boolean().optional(),
    filesystem_webhooks: z.boolean().optional(),
  })
  .openapi('FeaturesInput');

const SteeringPermission = z.enum(['always_allow', 'always_ask']);
const steeringName = z.string().min(1).max(128);

export const SteeringPolicyInput = z
  .strictObject({
    tools: z
      .record(steeringName, SteeringPermission)
      .nullable()
      .optional()
      .refine((value) => value === null || value === undefined || Object.keys(value).length <= 500, 'at most 500 tools')
      .describe('By the name the model calls a tool: a built-in (`shell`, `write_file`, `ask_human` excepted: it always asks) or an MCP tool (`<server name>__<tool name>`)'),
    mcp_servers: z
      .record(steeringName, SteeringPermission)
      .nullable()
      .optional()
      .refine((value) => value === null || value === undefined || Object.keys(value).length <= 20, 'at most 20 MCP servers')
      .describe("Every tool of the MCP server of that name (the `origin` of its tool_call events); a tool's own entry in `tools` comes first"),
    shell_commands: z
      .array(z.strictObject({ pattern: z.string().min(1).max(1_000), policy: SteeringPermission }))
      .max(100, 'at most 100 patterns')
      .nullable()
      .optional()
      .describe(
        '`shell` calls by command line, before `tools.shell`; the first matching pattern decides. A pattern is a glob over the whole ' +
          'command line (leading and trailing white space ignored, case-sensitive): `*` matches any characters (spaces and `/` included), ' +
          '`?` one character, anything else itself. E.g. `git push*`, `rm *`, `curl * | sh`',
      ),
    default: SteeringPermission.nullable().optional().describe('Calls no rule names; default always_allow'),
    expires_after_seconds: z
      .number()
      .int()
      .min(1)
      .max(MAX_STEERING_EXPIRY_SECONDS)
      .nullable()
      .optional()
      .describe("How long a request waits for an answer before it resolves as denied (1 s to 30 days); null: the server's HERM_STEERING_EXPIRES_SECONDS"),
  })
  .openapi('SteeringPolicyInput');

export const SteeringPolicy = z
  .object({
    tools: z.record(z.string(), SteeringPermission),
    mcp_servers: z.record(z.string(), SteeringPermission),
    shell_commands: z.array(z.object({ pattern: z.string(), policy: SteeringPermission })),
    default: SteeringPermission,
    expires_after_seconds: z.number().int().nullable().describe("null: the server's HERM_STEERING_EXPIRES_SECONDS"),
  })
  .openapi('SteeringPolicy');

const secretRef = z.string().regex(/^sec_[A-Za-z0-9_]{1,64}$/, 'must be a secret reference (sec_…)');
const secretKey = z.string().regex(ENV_NAME, 'must be an environment variable name').max(128);
const RESERVED_SECRET_NAMES_NOTE = `Names the sandbox sets or uses itself are a 400 validation_error: ${describeReservedEnvironmentNames()}.`;

function uniqueNames(items: { name: string }[] | undefined, field: string, context: z.RefinementCtx) {
  const seen = new Set<string>();
  for (const [index, item] of (items ?? []).entries()) {
    if (seen.has(item.name)) {
      context.addIssue({ code: 'custom', path: [field, index, 'name'], message: `duplicate name "${item.name}"` });
    }
    seen.add(item.name);
  }
}

export const CreateDeploymentBody = z
  .strictObject({
    customer_id: z.string().min(1).max(255).describe('Your identifier for the customer this agent serves'),
    name: z.string().min(1).max(255).describe('Human-readable deployment name'),
    runtime: z.enum(['hermes']).optional().describe('Agent harness to run. Currently hermes (default)'),
    model: z.string().min(3).max(255).optional().describe('Model in provider/model form'),
    system_prompt: z.string().min(1).max(200_000).describe("The agent's system prompt"),
    sandbox: SandboxInput.optional(),
    mcp_servers: z.array(McpServerInput).max(20, 'at most 20 MCP servers').optional(),
    skills: z
      .array(SkillInput)
      .max(20, 'at most 20 skills')
      .optional()
      .describe('Up to 20 skills with unique names. A skill that cannot be fetched or parsed is a 422 invalid_skill naming it, and nothing is created'),
    secrets: z.record(secretKey, secretRef).optional().describe(`Environment variable names mapped to secret references. ${RESERVED_SECRET_NAMES_NOTE}`),
    features: FeaturesInput.optional(),
    steering: SteeringPolicyInput.optional().describe('Which tool calls wait for a human (with features.steering on); default: none'),
    restore_snapshot_id: z
      .string()
      .regex(/^snap_[A-Za-z0-9_]{1,64}$/, 'must be a snapshot id (snap_…)')
      .optional()
      .describe(
        'A snapshot (from deleting a deployment with retain_filesystem=true) whose files the new workspace starts with. ' +
          'Restored in the background: the answer is status "provisioning" at once. Its content_bytes must fit the disk quota.',
      ),
  })
  .superRefine((body, context) => {
    uniqueNames(body.mcp_servers, 'mcp_servers', context);
    uniqueNames(body.skills, 'skills', context);
  })
  .openapi('CreateDeploymentRequest');

export const UpdateDeploymentBody = z
  .strictObject({
    customer_id: z.string().optional().describe('Immutable; accepted only when unchanged'),
    runtime: z.string().optional().describe('Immutable; accepted only when unchanged'),
    name: z.string().min(1).max(255).optional(),
    model: z.string().min(3).max(255).optional(),
    system_prompt: z.string().min(1).max(200_000).optional(),
    sandbox: SandboxInput.optional(),
    mcp_servers: z.array(McpServerInput).max(20, 'at most 20 MCP servers').optional(),
    skills: z
      .array(SkillUpdateInput)
      .max(20, 'at most 20 skills')
      .optional()
      .describe('Replaces every skill. An entry with the skill_id (or else the name) of a current skill keeps its id; url skills are fetched again'),
    secrets: z.record(secretKey, secretRef.nullable()).optional().describe(`Merged by key; null removes a key (a reserved one too). ${RESERVED_SECRET_NAMES_NOTE}`),
    features: z
      .strictObject({
        memory: z.boolean().nullable().optional(),
        dreaming: z.boolean().nullable().optional(),
        automations: z.boolean().nullable().optional(),
        steering: z.boolean().nullable().optional(),
        filesystem_webhooks: z.boolean().nullable().optional(),
      })
      .optional()
      .describe('Merged by key; null restores the default'),
    steering: SteeringPolicyInput.nullable().optional().describe('Replaces the whole policy; null restores the default (no call waits)'),
  })
  .superRefine((body, context) => {
    uniqueNames(body.mcp_servers, 'mcp_servers', context);
    uniqueNames(body.skills, 'skills', context);
  })
  .openapi('UpdateDeploymentRequest');

export const Deployment = z
  .object({
    deployment_id: z.string(),
    customer_id: z.string(),
    name: z.string(),
    runtime: z.string(),
    status: z.enum(['provisioning', 'ready', 'error']),
    status_reason: z.string().nullable(),
    model: z.string(),
    system_prompt: z.string(),
    sandbox: z.object({
      enabled: z.boolean(),
      type: z.string(),
      persistent_filesystem: z.boolean(),
      image: z.string().optional(),
      network: z.object({ allow: z.array(z.string()) }).optional(),
      limits: SandboxLimitsInput.optional(),
    }),
    mcp_servers: z.array(McpServerInput),
    skills: z.array(DeploymentSkill),
    secrets: z.record(z.string(), z.string()),
    features: z.object({
      memory: z.boolean(),
      dreaming: z.boolean(),
      automations: z.boolean(),
      steering: z.boolean(),
      filesystem_webhooks: z.boolean(),
    }),
    steering: SteeringPolicy,
    thread_id: z.string(),
    filesystem: z.object({ workspace_path: z.string(), persistent: z.boolean() }),
    events: z.object({ transport: z.literal('sse'), url: z.string() }),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('Deployment');

export const DeploymentList = z.object({ data: z.array(Deployment), next_cursor: z.string().nullable() }).openapi('DeploymentList');

export const Attachment = z
  .strictObject({
    type: z.enum(['image', 'video', 'audio']),
    url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
  })
  .openapi('Attachment');

export const SendMessageBody = z
  .strictObject({
    content: z.string().min(1, 'must not be empty').max(200_000).describe('The message text'),
    thread_id: z
      .string()
      .regex(/^(new|thr_[A-Za-z0-9_]{1,64})$/, 'must be a thread id (thr_…) or "new"')
      .optional()
      .describe('Thread to post to. Omit for the default thread, or "new" for a fresh thread'),
    attachments: z.array(Attachment).max(20).optional(),
    multitask_strategy: z
      .enum(['fold', 'enqueue', 'interrupt', 'reject'])
      .optional()
      .describe(
        'What the message does while a run is active on the thread (running or waiting_on_human). `fold` (default): it joins the ' +
          'active run as steering input (a waiting run sees it once its request is answered); `enqueue`: it starts a run of its own ' +
          'when the active run ends; `interrupt`: the active run stops (error, cancelled; its progress stays in the history; a ' +
          'pending steering request resolves as cancelled) and a run of its own starts; `reject`: 409 run_in_progress, nothing posted',
      ),
  })
  .openapi('SendMessageRequest');

export const RunStatus = z.enum(['running', 'waiting_on_human', 'completed', 'error']);

export const SendMessageResponse = z
  .object({ run_id: z.string(), deployment_id: z.string(), thread_id: z.string(), status: RunStatus })
  .openapi('SendMessageResponse');

export const Run = z
  .object({
    run_id: z.string(),
    deployment_id: z.string(),
    thread_id: z.string(),
    status: RunStatus,
    trigger: z.string().describe('message; automation for a run an automation started; dream for a dream run (features.dreaming)'),
    automation_id: z.string().optional().describe('The automation that started the run (trigger automation)'),
    steps: z.number().int(),
    error: z.object({ type: z.string(), message: z.string() }).nullable(),
    created_at: z.string(),
    started_at: z.string().nullable(),
    completed_at: z.string().nullable(),
  })
  .openapi('Run');

export const RunList = z.object({ data: z.array(Run), next_cursor: z.string().nullable() }).openapi('RunList');

export const CreateThreadBody = z
  .strictObject({ title: z.string().max(255).nullable().optional().describe('Human-readable label for the thread') })
  .openapi('CreateThreadRequest');

export const UpdateThreadBody = z
  .strictObject({ title: z.string().max(255).nullable().describe('New label; null clears it') })
  .openapi('UpdateThreadRequest');

export const Thread = z
  .object({
    thread_id: z.string(),
    deployment_id: z.string(),
    title: z.string().nullable(),
    status: z.enum(['idle', 'running', 'waiting_on_human']),
    message_count: z.number().int(),
    last_activity_at: z.string().nullable(),
    created_at: z.string(),
  })
  .openapi('Thread');

export const ThreadMessage = z
  .object({
    message_id: z.string(),
    role: z.enum(['user', 'agent']),
    content: z.string(),
    attachments: z.array(z.object({ type: z.string(), url: z.string() })).optional(),
    run_id: z.string().nullable(),
    created_at: z.string(),
  })
  .openapi('ThreadMessage');

export const ThreadWithMessages = Thread.extend({ messages: z.array(ThreadMessage) }).openapi('ThreadWithMessages');
export const ThreadList = z.object({ data: z.array(Thread), next_cursor: z.string().nullable() }).openapi('ThreadList');

const SecretAllowedHosts = z
  .array(
    z
      .string()
      .max(300)
      .superRefine((value, context) => {
        const entry = parseAllowEntry(value);
        if (typeof entry === 'string') context.addIssue({ code: 'custom', message: entry });
      }),
  )
  .max(MAX_ALLOW_ENTRIES, `at most ${MAX_ALLOW_ENTRIES} hosts`)
  .describe(
    'Hosts the egress proxy may send the value to, on behalf of a sandboxed command that uses the placeholder it sees instead: ' +
      '`api.example.com`, `*.example.com` (its subdomains), an IP address, each optionally with `:port` (without one: ports 80 and 443). ' +
      "A host must also be on the deployment's sandbox.network.allow to be reached at all. Empty (the default): the value is never " +
      'sent from the sandbox; the server still uses it for MCP server headers. See docs/secrets.md',
  );

// At least MIN_REDACTED_LENGTH characters: a shorter value could not be redacted from runs or scrubbed from answers.
const SecretValue = z
  .string()
  .min(MIN_REDACTED_LENGTH, `must be at least ${MIN_REDACTED_LENGTH} characters (shorter values could not be redacted from runs and answers)`)
  .max(65_536)
  .describe(`The raw credential (at least ${MIN_REDACTED_LENGTH} characters); never returned`);

export const CreateSecretBody = z
  .strictObject({
    name: z.string().min(1).max(255).describe('A label for the credential, e.g. "acme-meta-ads"'),
    value: SecretValue,
    allowed_hosts: SecretAllowedHosts.optional(),
  })
  .openapi('CreateSecretRequest');

export const UpdateSecretBody = z
  .strictObject({
    value: SecretValue.optional().describe('A new value (rotation): requests the egress proxy sends from then on, and MCP connections opened from then on, carry it'),
    allowed_hosts: SecretAllowedHosts.optional().describe('Replaces the hosts the value may be sent to (as on create)'),
  })
  .refine((body) => body.value !== undefined || body.allowed_hosts !== undefined, { message: 'give value, allowed_hosts, or both' })
  .openapi('UpdateSecretRequest');

export const Secret = z
  .object({
    secret_id: z.string(),
    name: z.string(),
    allowed_hosts: z.array(z.string()).describe('Hosts the egress proxy sends the value to (normalised: lower case, no duplicates)'),
    created_at: z.string(),
  })
  .openapi('Secret');

export const SecretList = z.object({ data: z.array(Secret), next_cursor: z.string().nullable() }).openapi('SecretList');

export const Snapshot = z
  .object({
    snapshot_id: z.string(),
    deployment_id: z.string().describe('The deleted deployment whose workspace this is'),
    customer_id: z.string(),
    size_bytes: z.number().int().describe('Size of the compressed archive (tar.gz)'),
    content_bytes: z
      .number()
      .int()
      .nullable()
      .describe("Disk space the workspace's files took (allocated blocks; holes of sparse files take none): a restore needs a disk quota at least this big. null for snapshots of older versions"),
    created_at: z.string(),
    expires_at: z.string().describe('When the snapshot is deleted'),
  })
  .openapi('Snapshot');

export const SnapshotList = z.object({ data: z.array(Snapshot), next_cursor: z.string().nullable() }).openapi('SnapshotList');

export const FileEntry = z
  .object({
    name: z.string(),
    type: z.enum(['file', 'directory']).describe('Symlinks show as what they point at, and only when that is inside the workspace'),
    size: z.number().int().optional().describe('Bytes; files only'),
    modified_at: z.string(),
  })
  .openapi('FileEntry');

export const FileList = z
  .object({
    path: z.string().describe('The directory listed, relative to the workspace root, with a trailing slash; "" for the root'),
    entries: z.array(FileEntry),
  })
  .openapi('FileList');

export const WrittenFile = z
  .object({ path: z.string(), size: z.number().int(), modified_at: z.string() })
  .openapi('WrittenFile');

export const DeletedFile = z.object({ path: z.string(), deleted: z.literal(true) }).openapi('DeletedFile');

export const ErrorResponse = z
  .object({
    error: z.object({
      type: z.string().openapi({ example: 'validation_error' }),
      message: z.string(),
      param: z.string().optional().describe('The (first) request field the error is about'),
      errors: z
        .array(z.object({ param: z.string(), message: z.string() }))
        .optional()
        .describe('validation_error: every bad field, the first being param and message'),
      request_id: z.string(),
    }),
  })
  .openapi('Error');
