// The examples of the API reference, in one place: for every operation a request (curl and the SDK, built from the
// same body and query) and an example response; the SSE event types with their payload schemas and examples; the
// error table. They go into the OpenAPI document (x-codeSamples, `example`s, x-events, x-errors), which
// /v1/docs renders: the page and the document never disagree.
import { z } from '@hono/zod-openapi';
import { DEFAULT_MODEL } from '../models/index.ts';
import { WORKSPACE_PATH } from '../sandbox/sandbox.ts';
import { ERROR_TYPES } from './api-error.ts';

type Json = Record<string, any>;

const BASE = 'https://herm.example.com';
const DEP = 'dep_7xK9s2';
const THR = 'thr_default_8a1';
const RUN = 'run_4mPx81';
const SEC = 'sec_4Tq8Lm';
const SNAP = 'snap_2Hv6Rb';
const AT = '2026-06-20T23:28:02.773Z';

const deployment = {
  deployment_id: DEP,
  customer_id: 'cus_acme',
  name: 'Acme ads agent',
  runtime: 'hermes',
  status: 'ready',
  status_reason: null,
  model: DEFAULT_MODEL,
  system_prompt: 'You are the ads assistant of Acme Inc.',
  sandbox: { enabled: true, type: 'bubblewrap', persistent_filesystem: true },
  mcp_servers: [],
  skills: [],
  secrets: { META_ADS_TOKEN: SEC },
  features: { memory: true, dreaming: false, automations: false, steering: false, filesystem_webhooks: false },
  thread_id: THR,
  filesystem: { workspace_path: WORKSPACE_PATH, persistent: true },
  events: { transport: 'sse', url: `${BASE}/v1/deployments/${DEP}/events` },
  created_at: AT,
  updated_at: AT,
};
const run = {
  run_id: RUN,
  deployment_id: DEP,
  thread_id: THR,
  status: 'completed',
  trigger: 'message',
  steps: 3,
  error: null,
  created_at: AT,
  started_at: AT,
  completed_at: '2026-06-20T23:28:19.104Z',
};
const thread = {
  thread_id: THR,
  deployment_id: DEP,
  title: 'Q3 campaign',
  status: 'idle',
  message_count: 2,
  last_activity_at: AT,
  created_at: AT,
};
const secret = { secret_id: SEC, name: 'acme-meta-ads', created_at: AT };
const snapshot = {
  snapshot_id: SNAP,
  deployment_id: DEP,
  customer_id: 'cus_acme',
  size_bytes: 1_482_113,
  content_bytes: 5_242_880,
  created_at: AT,
  expires_at: '2026-07-20T23:28:02.773Z',
};

interface OperationExample {
  /** Query string of the example request, without the "?". */
  query?: string;
  /** The JSON body; a string is a raw (file) body. */
  body?: Json | string;
  /** The SDK call, after `const herm = new Herm();`. */
  sdk: string;
  /** The example response: JSON, or text for binary and streaming responses. */
  response: Json | string;
}

/** Keyed by "METHOD /openapi/path" as in the document. */
export const OPERATION_EXAMPLES: Record<string, OperationExample> = {
  'POST /v1/deployments': {
    body: { customer_id: 'cus_acme', name: 'Acme ads agent', system_prompt: 'You are the ads assistant of Acme Inc.', secrets: { META_ADS_TOKEN: SEC } },
    sdk: `const deployment = await herm.deployments.create({
  customer_id: 'cus_acme',
  name: 'Acme ads agent',
  system_prompt: 'You are the ads assistant of Acme Inc.',
  secrets: { META_ADS_TOKEN: '${SEC}' },
});`,
    response: { ...deployment, status: 'provisioning' },
  },
  'GET /v1/deployments': {
    query: 'customer_id=cus_acme&limit=20',
    sdk: `for await (const deployment of herm.deployments.list({ customer_id: 'cus_acme' })) {
  console.log(deployment.deployment_id, deployment.status);
}`,
    response: { data: [deployment], next_cursor: null },
  },
  'GET /v1/deployments/{deployment_id}': {
    sdk: `const deployment = await herm.deployments.get('${DEP}');`,
    response: deployment,
  },
  'PATCH /v1/deployments/{deployment_id}': {
    body: { system_prompt: 'You are the ads and brand assistant of Acme Inc.', features: { memory: null } },
    sdk: `const deployment = await herm.deployments.update('${DEP}', {
  system_prompt: 'You are the ads and brand assistant of Acme Inc.',
  features: { memory: null },
});`,
    response: { ...deployment, system_prompt: 'You are the ads and brand assistant of Acme Inc.' },
  },
  'DELETE /v1/deployments/{deployment_id}': {
    query: 'retain_filesystem=true',
    sdk: `await herm.deployments.delete('${DEP}', { retain_filesystem: true });`,
    response: { deployment_id: DEP, status: 'deleted' },
  },
  'POST /v1/deployments/{deployment_id}/messages': {
    body: { content: 'Draft five ad directions for the Q3 launch.', thread_id: THR },
    sdk: `const { run_id } = await herm.deployments.messages.send('${DEP}', {
  content: 'Draft five ad directions for the Q3 launch.',
  thread_id: '${THR}',
});`,
    response: { run_id: RUN, deployment_id: DEP, thread_id: THR, status: 'running' },
  },
  'GET /v1/deployments/{deployment_id}/events': {
    query: `thread_id=${THR}`,
    sdk: `const stream = await herm.deployments.events.stream('${DEP}', { thread_id: '${THR}' });
for await (const event of stream) {
  if (event.type === 'token') process.stdout.write(event.delta);
  if (event.type === 'run_status' && event.status === 'completed') stream.abort();
}`,
    response: '', // filled in from EVENT_TYPES below
  },
  'GET /v1/deployments/{deployment_id}/runs': {
    query: 'status=completed&limit=20',
    sdk: `for await (const run of herm.deployments.runs.list('${DEP}', { status: 'completed' })) {
  console.log(run.run_id, run.steps);
}`,
    response: { data: [run], next_cursor: null },
  },
  'GET /v1/deployments/{deployment_id}/runs/{run_id}': {
    sdk: `const run = await herm.deployments.runs.get('${DEP}', '${RUN}');`,
    response: run,
  },
  'POST /v1/deployments/{deployment_id}/runs/{run_id}/cancel': {
    sdk: `const run = await herm.deployments.runs.cancel('${DEP}', '${RUN}');`,
    response: { ...run, status: 'error', error: { type: 'cancelled', message: 'The run was cancelled.' } },
  },
  'POST /v1/deployments/{deployment_id}/threads': {
    body: { title: 'Q3 campaign' },
    sdk: `const thread = await herm.threads.create('${DEP}', { title: 'Q3 campaign' });`,
    response: { ...thread, thread_id: 'thr_9kQv32', message_count: 0, last_activity_at: null },
  },
  'GET /v1/deployments/{deployment_id}/threads': {
    query: 'limit=20',
    sdk: `for await (const thread of herm.threads.list('${DEP}')) console.log(thread.thread_id, thread.title);`,
    response: { data: [thread], next_cursor: null },
  },
  'GET /v1/deployments/{deployment_id}/threads/{thread_id}': {
    sdk: `const thread = await herm.threads.get('${DEP}', '${THR}');`,
    response: {
      ...thread,
      messages: [
        { message_id: 'msg_1aB2c3', role: 'user', content: 'Draft five ad directions for the Q3 launch.', run_id: RUN, created_at: AT },
        { message_id: 'msg_4dE5f6', role: 'agent', content: 'Here are five directions: …', run_id: RUN, created_at: '2026-06-20T23:28:19.104Z' },
      ],
    },
  },
  'PATCH /v1/deployments/{deployment_id}/threads/{thread_id}': {
    body: { title: 'Q3 launch' },
    sdk: `const thread = await herm.threads.update('${DEP}', '${THR}', { title: 'Q3 launch' });`,
    response: { ...thread, title: 'Q3 launch' },
  },
  'DELETE /v1/deployments/{deployment_id}/threads/{thread_id}': {
    sdk: `await herm.threads.delete('${DEP}', 'thr_9kQv32');`,
    response: { thread_id: 'thr_9kQv32', deleted: true },
  },
  'POST /v1/secrets': {
    body: { name: 'acme-meta-ads', value: 'EAAG…' },
    sdk: `const { secret_id } = await herm.secrets.create({ name: 'acme-meta-ads', value: process.env.META_TOKEN! });`,
    response: secret,
  },
  'GET /v1/secrets': {
    query: 'limit=20',
    sdk: `for await (const secret of herm.secrets.list()) console.log(secret.secret_id, secret.name);`,
    response: { data: [secret], next_cursor: null },
  },
  'DELETE /v1/secrets/{secret_id}': {
    sdk: `await herm.secrets.delete('${SEC}');`,
    response: { secret_id: SEC, deleted: true },
  },
  'GET /v1/deployments/{deployment_id}/files': {
    query: 'path=briefs/',
    sdk: `const { entries } = await herm.files.list('${DEP}', { path: 'briefs/' });`,
    response: { path: 'briefs/', entries: [{ name: 'q3-brief.md', type: 'file', size: 2048, modified_at: AT }] },
  },
  'GET /v1/deployments/{deployment_id}/files/content': {
    query: 'path=briefs/q3-brief.md',
    sdk: `const file = await herm.files.read('${DEP}', { path: 'briefs/q3-brief.md' });
console.log(await file.text());`,
    response: '# Q3 brief\n\nLaunch the autumn line on Meta and TikTok…\n',
  },
  'PUT /v1/deployments/{deployment_id}/files': {
    query: 'path=briefs/q3-brief.md',
    body: '# Q3 brief\n',
    sdk: `await herm.files.write('${DEP}', { path: 'briefs/q3-brief.md', content: '# Q3 brief\\n' });`,
    response: { path: 'briefs/q3-brief.md', size: 11, modified_at: AT },
  },
  'DELETE /v1/deployments/{deployment_id}/files': {
    query: 'path=drafts/old-take.mp4',
    sdk: `await herm.files.delete('${DEP}', { path: 'drafts/old-take.mp4' });`,
    response: { path: 'drafts/old-take.mp4', deleted: true },
  },
  'GET /v1/snapshots': {
    query: 'customer_id=cus_acme',
    sdk: `for await (const snapshot of herm.snapshots.list({ customer_id: 'cus_acme' })) console.log(snapshot.snapshot_id);`,
    response: { data: [snapshot], next_cursor: null },
  },
  'GET /v1/snapshots/{snapshot_id}': {
    sdk: `const snapshot = await herm.snapshots.get('${SNAP}');`,
    response: snapshot,
  },
  'GET /v1/snapshots/{snapshot_id}/content': {
    sdk: `const archive = await herm.snapshots.download('${SNAP}'); // Uint8Array, a tar.gz`,
    response: `(binary: ${SNAP}.tar.gz, content-type application/gzip)`,
  },
};

const eventBase = { run_id: z.string(), thread_id: z.string(), created_at: z.string().describe('When the event was appended') };

/** The SSE event types of GET /v1/deployments/{deployment_id}/events: the `event:` name, its payload, an example. */
export const EVENT_TYPES = [
  {
    event: 'token',
    description: 'Incremental text output of the agent (delta).',
    schema: z.object({ ...eventBase, delta: z.string().describe('The next piece of text') }).openapi('TokenEvent'),
    example: { run_id: RUN, thread_id: THR, delta: 'Here are five directions', created_at: AT },
  },
  {
    event: 'tool_call',
    description: 'A tool the agent is invoking, with its arguments.',
    schema: z
      .object({
        ...eventBase,
        tool: z.string().describe('Tool name'),
        tool_call_id: z.string().describe('Pairs the call with its tool_result'),
        arguments: z.unknown().describe('The arguments, as the model wrote them'),
      })
      .openapi('ToolCallEvent'),
    example: { run_id: RUN, thread_id: THR, tool: 'shell', tool_call_id: 'call_01', arguments: { command: 'ls briefs' }, created_at: AT },
  },
  {
    event: 'tool_result',
    description: "The result returned to the agent for a tool call (exactly one per tool_call).",
    schema: z
      .object({
        ...eventBase,
        tool: z.string(),
        tool_call_id: z.string(),
        result: z.unknown().describe('What the tool answered'),
        is_error: z.boolean().describe('Whether the tool failed'),
      })
      .openapi('ToolResultEvent'),
    example: { run_id: RUN, thread_id: THR, tool: 'shell', tool_call_id: 'call_01', result: { exit_code: 0, stdout: 'q3-brief.md\n', stderr: '', timed_out: false }, is_error: false, created_at: AT },
  },
  {
    event: 'steering_request',
    description: 'The agent paused for human approval or input (deployments with features.steering). Not emitted by this server version yet.',
    schema: z.object({ ...eventBase, summary: z.string().describe('What the agent asks the human') }).openapi('SteeringRequestEvent'),
    example: { run_id: RUN, thread_id: THR, summary: 'About to post 5 ads to Meta. Approve?', created_at: AT },
  },
  {
    event: 'run_status',
    description: 'A run transition: running, waiting_on_human, completed, error (with the error).',
    schema: z
      .object({
        ...eventBase,
        status: z.enum(['running', 'waiting_on_human', 'completed', 'error']),
        error: z.object({ type: z.string(), message: z.string() }).optional().describe('With status error: why, e.g. cancelled, step_limit, model_error'),
      })
      .openapi('RunStatusEvent'),
    example: { run_id: RUN, thread_id: THR, status: 'completed', created_at: AT },
  },
  {
    event: 'filesystem',
    description:
      'Workspace file changes (deployments with features.filesystem_webhooks). Not emitted by this server version yet; ' +
      'beyond the fields every event carries, its payload is not specified.',
    schema: z.object({ ...eventBase, run_id: z.string().nullable(), thread_id: z.string().nullable() }).openapi('FilesystemEvent'),
    example: { run_id: RUN, thread_id: THR, created_at: AT },
  },
] as const;

function eventStreamExample(): string {
  return EVENT_TYPES.map(
    ({ event, example }, index) => `event: ${event}\nid: evt_${String(193 + index).padStart(10, '0')}aB3xQ9\ndata: ${JSON.stringify(example)}\n`,
  ).join('\n');
}
OPERATION_EXAMPLES['GET /v1/deployments/{deployment_id}/events']!.response = eventStreamExample();

/** An example path with the example ids in place of the parameters. */
function concretePath(path: string): string {
  return path
    .replace('{deployment_id}', DEP)
    .replace('{thread_id}', THR)
    .replace('{run_id}', RUN)
    .replace('{secret_id}', SEC)
    .replace('{snapshot_id}', SNAP);
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

export function curlExample(method: string, path: string, example: OperationExample, origin = BASE): string {
  const url = `${origin}${concretePath(path)}${example.query ? `?${example.query}` : ''}`;
  const lines = [`curl${method === 'GET' ? '' : ` -X ${method}`}${path.endsWith('/events') ? ' -N' : ''} ${shellQuote(url)}`, `  -H "Authorization: Bearer $PRISM_API_KEY"`];
  if (path.endsWith('/events')) lines.push(`  -H "Accept: text/event-stream"`);
  if (typeof example.body === 'string') {
    lines.push(`  -H "Content-Type: application/octet-stream"`, `  --data-binary @q3-brief.md`);
  } else if (example.body) {
    lines.push(`  -H "Content-Type: application/json"`, `  -d ${shellQuote(JSON.stringify(example.body))}`);
  }
  return lines.join(' \\\n');
}

export function sdkExample(example: OperationExample): string {
  return `import Herm from 'herm';\n\nconst herm = new Herm(); // reads PRISM_API_KEY and HERM_BASE_URL\n${example.sdk}`;
}

const ERROR_EXAMPLE = {
  error: {
    type: 'validation_error',
    message: 'Missing required parameter: customer_id.',
    param: 'customer_id',
    errors: [
      { param: 'customer_id', message: 'Missing required parameter: customer_id.' },
      { param: 'system_prompt', message: 'Missing required parameter: system_prompt.' },
    ],
    request_id: 'req_8fK2mQ4xT9bL1vN6sP0a',
  },
};

function errorExample(status: string): Json {
  const type = Object.entries(ERROR_TYPES).find(([, info]) => String(info.status) === status)?.[0];
  if (!type || type === 'validation_error') return ERROR_EXAMPLE;
  return { error: { type, message: ERROR_TYPES[type as keyof typeof ERROR_TYPES].meaning, request_id: 'req_8fK2mQ4xT9bL1vN6sP0a' } };
}

/**
 * Adds the examples to an OpenAPI document (in place): x-codeSamples (curl, SDK) and request and response
 * `example`s on every operation; x-events (the SSE event types) on the stream; x-errors and x-default-model at the top.
 */
export function addExamples(document: Json, origin?: string): Json {
  for (const [path, item] of Object.entries<Json>(document.paths ?? {})) {
    for (const [method, operation] of Object.entries<Json>(item)) {
      const key = `${method.toUpperCase()} ${path}`;
      const example = OPERATION_EXAMPLES[key];
      if (!example) continue;
      operation['x-codeSamples'] = [
        { lang: 'shell', label: 'curl', source: curlExample(method.toUpperCase(), path, example, origin) },
        { lang: 'typescript', label: 'SDK (TypeScript)', source: sdkExample(example) },
      ];
      const requestContent = operation.requestBody?.content as Json | undefined;
      if (requestContent && example.body !== undefined) {
        const mediaType = typeof example.body === 'string' ? 'application/octet-stream' : 'application/json';
        if (requestContent[mediaType]) requestContent[mediaType].example = example.body;
      }
      for (const [status, response] of Object.entries<Json>(operation.responses ?? {})) {
        const content = response.content as Json | undefined;
        if (!content) continue;
        const mediaType = Object.keys(content)[0]!;
        content[mediaType].example = status.startsWith('2') ? example.response : errorExample(status);
      }
      if (path.endsWith('/events') && method === 'get') {
        operation['x-events'] = EVENT_TYPES.map(({ event, description, example: payload }) => ({
          event,
          description,
          schema: { $ref: `#/components/schemas/${eventSchemaName(event)}` },
          example: payload,
        }));
      }
    }
  }
  document['x-default-model'] = DEFAULT_MODEL;
  document['x-errors'] = Object.entries(ERROR_TYPES).map(([type, info]) => ({ status: info.status, type, meaning: info.meaning }));
  return document;
}

export function eventSchemaName(event: string): string {
  return `${event.split('_').map((part) => part[0]!.toUpperCase() + part.slice(1)).join('')}Event`;
}
