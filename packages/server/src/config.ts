// Server configuration: one zod schema, read once at start-up from the environment.
import path from 'node:path';
import { z } from 'zod';
import { IMAGE_REFERENCE } from './sandbox/docker/docker-container-config.ts';
import { parseInternalDestinations } from './sandbox/egress/internal-destinations.ts';
import { DEFAULT_RETRY_SCHEDULE, parseRetrySchedule } from './webhooks/webhook-settings.ts';
import { parsePriceTable } from './usage/model-prices.ts';

const integer = (fallback: number, min = 0) =>
  z.coerce.number().int().min(min).default(fallback);

const configSchema = z.object({
  PORT: integer(8787).describe('TCP port the API listens on'),
  HOST: z.string().min(1).default('127.0.0.1').describe('Interface to bind; 0.0.0.0 to accept remote clients'),
  HERM_DATA_DIR: z.string().min(1).default('./.herm').describe('SQLite database, workspaces and keys live here'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional()
    .describe('PostgreSQL for scale-out; unset means the embedded SQLite file in HERM_DATA_DIR'),
  HERM_ADMIN_KEY: z.string().min(16).optional().describe('An API key with every scope, accepted as given'),
  HERM_PUBLIC_URL: z.url().optional().describe('Public origin used in events.url; defaults to the request origin'),
  HERM_SANDBOX: z
    .enum(['auto', 'bubblewrap', 'docker'])
    .default('auto')
    .describe('Sandbox backend of deployments that name none; auto: docker when its API answers and has the image, else bubblewrap'),
  DOCKER_HOST: z
    .string()
    .regex(/^(unix:\/\/\/|tcp:\/\/|http:\/\/)/, 'must be unix:///path/to/socket or tcp://host:port')
    .optional()
    .describe("Docker Engine API (Docker, or Podman's service) of the docker sandbox; default unix:///var/run/docker.sock"),
  HERM_DOCKER_IMAGE: z
    .string()
    .regex(IMAGE_REFERENCE, 'must be an image reference such as herm-sandbox:latest')
    .default('herm-sandbox:latest')
    .describe('Image of docker sandboxes; never pulled, build it with scripts/build-sandbox-image.sh'),
  HERM_ALLOW_UNSANDBOXED: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('false')
    .transform((value) => value === 'true')
    .describe('Allow deployments with sandbox.enabled false: their commands run as plain processes of the server user, with NO isolation'),
  HERM_SANDBOX_INTERNAL_DESTINATIONS: z
    .string()
    .default('')
    .transform((value, context) => {
      try {
        return parseInternalDestinations(value);
      } catch (error) {
        context.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    })
    .describe(
      'Internal destinations (loopback, private, link-local or this machine\'s addresses) sandboxes may reach: comma-separated host:port ' +
        '(for every account) or acct_…=host:port (for one account). A tenant\'s sandbox.network.allow reaches no other internal address',
    ),
  HERM_ALLOW_PRIVATE_URLS: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('false')
    .transform((value) => value === 'true')
    .describe("Let the server's own requests to URLs a tenant gives (skills' url, MCP servers) reach internal addresses (loopback, private, link-local, this machine's)"),
  HERM_WEBHOOK_RETRY_SCHEDULE: z
    .string()
    .default(DEFAULT_RETRY_SCHEDULE)
    .transform((value, context) => {
      try {
        return parseRetrySchedule(value);
      } catch (error) {
        context.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    })
    .describe('Delays before each retry of a failed webhook delivery (comma-separated, units ms/s/m/h/d, ±20 % jitter; none: no retries); default Svix\'s schedule, over a day in all'),
  HERM_WEBHOOK_TIMEOUT_MS: integer(15_000, 100).describe('How long a webhook endpoint has to answer a delivery with a 2xx; later (or any other status) is a failed attempt'),
  HERM_WEBHOOK_DISABLE_AFTER_MS: integer(5 * 86_400_000).describe(
    'A webhook endpoint is disabled when a message has failed every attempt and no delivery to it has succeeded for this long (default 5 days)',
  ),
  HERM_WEBHOOK_ROTATION_GRACE_MS: integer(86_400_000).describe('How long the previous signing secret of a webhook endpoint keeps signing after a rotation (default 24 h)'),
  HERM_WEBHOOK_RETENTION_DAYS: z.coerce.number().positive().default(30).describe('Days finished webhook deliveries and their attempts are kept (listed); fractions allowed'),
  HERM_WEBHOOK_POLL_MS: integer(1_000, 50).describe('How often a node looks for webhook deliveries due (new ones of its own events are sent at once)'),
  HERM_AUTOMATIONS_POLL_MS: integer(30_000, 50).describe(
    'Longest a node sleeps between two looks for due automations; it wakes at the earliest due time anyway (this catches schedules changed on other nodes)',
  ),
  HERM_MCP_TIMEOUT_MS: integer(30_000, 100).describe(
    "How long connecting to an MCP server, listing its tools and each tool call may take; past it the call is the agent's tool error",
  ),
  HERM_SKILL_FETCH_TIMEOUT_MS: integer(10_000, 100).describe("Deadline of fetching a url skill's SKILL.md (at create, update and PUT); a skill not fetched in time is a 422 invalid_skill"),
  HERM_MEMORY_OBSERVE_TOKENS: integer(30_000).describe(
    "Tokens (about 4 characters each) of a thread's unobserved messages at which the memory observer turns them into observations as soon as a run ends (Mastra's default); 0: after every run",
  ),
  HERM_MEMORY_OBSERVE_IDLE_MS: integer(60_000).describe(
    "Below that, how long a thread goes without another run ending before the memory observer observes what it has; 0: at once",
  ),
  HERM_MEMORY_REFLECT_TOKENS: integer(40_000, 1).describe("Tokens of the agent's observations of a deployment past which the memory reflector condenses them"),
  HERM_MEMORY_PROMPT_TOKENS: integer(4_000, 100).describe(
    "Most tokens of memory in a run's system prompt; past it the lowest-priority, oldest memories are left out (the prompt says how many)",
  ),
  HERM_MEMORY_POLL_MS: integer(5_000, 50).describe('How often a node looks for memory observation work left pending (by a restart, or a failure to retry)'),
  HERM_DREAM_IDLE_MS: integer(1_800_000, 1_000).describe(
    'How long a deployment with features.dreaming is idle after a run of its customer ends before it dreams (once per idle period)',
  ),
  HERM_DREAM_POLL_MS: integer(60_000, 50).describe('How often a node looks for deployments due to dream, and for dreams whose end is not recorded yet'),
  HERM_DREAM_REVIEW_TOKENS: integer(20_000, 500).describe('Tokens (about 4 characters each) of recent conversation a dream reviews at most, the newest kept'),
  HERM_DOCKER_IDLE_MS: integer(300_000, 100).describe("A deployment's docker container is removed after this long without a command"),
  HERM_COMMAND_TIMEOUT_MS: integer(120_000, 100).describe('Default wall time of one sandboxed command'),
  HERM_MAX_COMMAND_TIMEOUT_MS: integer(600_000, 100).describe('Upper bound a tool call may ask for'),
  HERM_MAX_OUTPUT_BYTES: integer(1_048_576, 1024).describe('Bytes of stdout/stderr kept per command'),
  HERM_FILESYSTEM_EVENTS_MAX_FILES: integer(10_000, 1).describe(
    'Files and directories of a workspace walked to find what a command changed (features.filesystem_webhooks); a larger workspace gets one truncated filesystem event per command',
  ),
  HERM_FILESYSTEM_EVENTS_MAX_PER_COMMAND: integer(100, 1).describe(
    'filesystem events per command (tool call or Files API call) at most; the last sums up the rest with truncated: true',
  ),
  HERM_SANDBOX_CPUS: z.coerce
    .number()
    .min(0)
    .default(2)
    .describe("CPU cores' worth of time a deployment's sandbox may use together (per deployment: sandbox.limits.cpus); 0: no limit"),
  HERM_SANDBOX_MEMORY_MB: integer(2048).describe("Memory a deployment's sandbox may use, in MiB (sandbox.limits.memory_mb); 0: no limit"),
  HERM_SANDBOX_DISK_MB: integer(0).describe(
    'Disk quota of each workspace in MiB (sandbox.limits.disk_mb), enforced with a loop-mounted file system (needs root and e2fsprogs); 0: none',
  ),
  HERM_SANDBOX_PROCESSES: integer(512).describe(
    "Processes and threads a deployment's sandbox may have at once (sandbox.limits.max_processes); 0: no limit. At most HERM_SANDBOX_MAX_PROCESSES",
  ),
  // Ceilings: the most a deployment's sandbox.limits may ask for. Unset ones hold on any machine (see limit-ceilings.ts).
  HERM_SANDBOX_MAX_CPUS: z.coerce.number().positive().optional().describe("Most sandbox.limits.cpus may be; default: this machine's cores"),
  HERM_SANDBOX_MAX_MEMORY_MB: z.coerce.number().int().min(16).optional().describe("Most sandbox.limits.memory_mb may be, MiB; default: this machine's memory"),
  HERM_SANDBOX_MAX_PROCESSES: integer(4096, 8).describe('Most sandbox.limits.max_processes may be'),
  HERM_SANDBOX_MAX_DISK_MB: z.coerce
    .number()
    .int()
    .min(16)
    .optional()
    .describe("Most sandbox.limits.disk_mb may be, MiB; default: the size of the data directory's file system"),
  HERM_SANDBOX_MAX_OUTPUT_BYTES: integer(16_777_216, 1024).describe('Most sandbox.limits.max_output_bytes may be'),
  HERM_SANDBOX_MAX_ALLOW_ENTRIES: z.coerce
    .number()
    .int()
    .min(1)
    .max(100)
    .default(100)
    .describe('Most hosts one sandbox.network.allow may list (1-100)'),
  HERM_MAX_STEPS: integer(50, 1).describe('Model steps per run before it ends in error'),
  HERM_SSE_HEARTBEAT_MS: integer(15_000, 10).describe('Interval of the SSE keep-alive comment'),
  HERM_PROVISION_WAIT_MS: integer(2_000).describe(
    'How long create waits for provisioning before answering "provisioning" (a create that restores a snapshot answers at once)',
  ),
  HERM_PROVISION_DELAY_MS: integer(0).describe('Extra provisioning delay, to exercise clients against "provisioning"'),
  HERM_RUN_LEASE_MS: integer(30_000, 1_000).describe('A run whose worker stops renewing for this long is taken over'),
  HERM_STEERING_EXPIRES_SECONDS: integer(86_400, 1).describe(
    "How long a steering request waits for an answer before it resolves as denied, when the deployment's steering.expires_after_seconds does not say",
  ),
  HERM_RUN_MAX_ATTEMPTS: integer(3, 1).describe(
    'Attempts of a run (its start, then each takeover after a crash; graceful handoffs not counted) before it ends in error as abandoned',
  ),
  HERM_SHUTDOWN_GRACE_MS: integer(10_000).describe(
    'On SIGTERM/SIGINT: how long runs at work may go on to their end before they are handed off to the next node or start',
  ),
  HERM_EGRESS_CA_CERTS: z
    .string()
    .default('')
    .transform((value) => value.split(',').map((file) => file.trim()).filter((file) => file !== ''))
    .describe(
      "PEM files (comma-separated) of extra CAs the egress proxy trusts, besides the system's, when it connects to a host a " +
        'secret is bound to (a private API with a certificate of its own CA)',
    ),
  HERM_SECRET_KEY: z
    .string()
    .regex(/^[A-Za-z0-9+/]{43}=$/, 'must be 32 bytes, base64-encoded (openssl rand -base64 32)')
    .optional()
    .describe('Encryption key of connector secrets; required to share secrets between nodes that do not share a data directory'),
  HERM_SNAPSHOT_RETENTION_DAYS: z.coerce
    .number()
    .positive()
    .default(30)
    .describe('Days a workspace snapshot (delete with retain_filesystem=true) is kept before it is deleted'),
  HERM_EPHEMERAL_WORKSPACE_IDLE_MS: integer(3_600_000, 100).describe(
    'A thread workspace of a deployment with sandbox.persistent_filesystem false is removed after this long without a run or Files API call in it',
  ),
  HERM_MODEL_PRICES: z
    .string()
    .default('')
    .transform((value, context) => {
      try {
        return parsePriceTable(value);
      } catch (error) {
        context.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    })
    .describe(
      'Price table of usage, as JSON or the path of a JSON file: {"models":{"<model>":{"input":…,"output":…,"cached_input":…}},"tool_second":…,"sandbox_cpu_second":…} ' +
        '(credits per million tokens, per second); budgets are charged with it. Unset: usage is recorded, nothing costs credits',
    ),
  // Quotas and rate limits (quotas/): server defaults, each overridable per account; 0 (the default) is no limit.
  HERM_QUOTA_DEPLOYMENTS: integer(0).describe('Deployments an account may have (not deleted); more is a 409 conflict naming quotas.deployments. 0: no limit'),
  HERM_QUOTA_CONCURRENT_RUNS: integer(0).describe(
    "Runs active at once (running or waiting_on_human) across an account's deployments; another run is a 429 rate_limited (a scheduled automation firing is skipped). 0: no limit",
  ),
  HERM_QUOTA_RUNS_PER_MINUTE: integer(0).describe("Runs an account may start in any 60 seconds (messages and automation firings); more is a 429 rate_limited. 0: no limit"),
  HERM_RATE_LIMIT_RPS: integer(0).describe(
    'API requests per second per key, admin keys included: a token bucket whose burst equals the rate, shared by the nodes on PostgreSQL; past it a 429 rate_limited. 0: no limit',
  ),
  HERM_QUOTA_SSE_STREAMS: integer(0).describe('Event streams (SSE) an account may have open at once on each node; another is a 429 rate_limited. 0: no limit'),
  HERM_QUOTA_WORKSPACE_BYTES: integer(0).describe(
    "Workspace disk an account's deployments may reserve together, in bytes (each one's sandbox.limits.disk_mb, else HERM_SANDBOX_DISK_MB); more is a 400 validation_error. 0: no limit",
  ),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_FORMAT: z
    .enum(['auto', 'pretty', 'json'])
    .default('auto')
    .describe('pretty: one coloured line per event; json: pino JSON lines; auto: pretty when stderr is a terminal, else json'),
});

export type Config = z.infer<typeof configSchema> & { dataDir: string };

export class ConfigError extends Error {}

/** Parses the environment; an error names the variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const picked: Record<string, string> = {};
  for (const key of Object.keys(configSchema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') picked[key] = value;
  }
  const parsed = configSchema.safeParse(picked);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`Invalid environment variable ${String(issue.path[0])}: ${issue.message}`);
  }
  return { ...parsed.data, dataDir: path.resolve(parsed.data.HERM_DATA_DIR) };
}
