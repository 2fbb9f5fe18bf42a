// The examples of the API reference, in one place: for every operation a request (curl and the SDK, built from the
// same body and query) and an example response; the SSE event types with their payload schemas and examples; the
// error table. They go into the OpenAPI document (x-codeSamples, `example`s, x-events, x-errors), which
// /v1/docs renders: the page and the document never disagree.
import { z } from '@hono/zod-openapi';
import { DEFAULT_MODEL } from '../models/index.ts';
import { WORKSPACE_PATH } from '../sandbox/sandbox.ts';
import { ERROR_TYPES } from './api-error.ts';
import { ACCOUNT_EXAMPLES, ACCOUNT_ID_EXAMPLE, KEY_ID_EXAMPLE } from './account-examples.ts';
import { USAGE_EXAMPLES } from './usage-examples.ts';

type Json = Record<string, any>;

const BASE = 'https://herm.example.com';
const DEP = 'dep_7xK9s2';
const THR = 'thr_default_8a1';
const RUN = 'run_4mPx81';
const SEC = 'sec_4Tq8Lm';
const SNAP = 'snap_2Hv6Rb';
const AT = '2026-06-20T23:28:02.773Z';
const WE = 'we_3Jd8Kp';
const MEM = 'mem_2dF8h1';
const memoryExample = {
  memory_id: MEM,
  content: 'Always end videos with the Acme logo sting.',
  source: 'agent',
  priority: 'high',
  path: '.herm/memory/mem_2dF8h1.md',
  created_at: '2026-06-09T17:30:12Z',
  updated_at: '2026-06-09T17:30:12Z',
};
const WHMSG = 'whmsg_9Qe2Wt';
const webhookEndpoint = {
  endpoint_id: WE,
  url: 'https://api.acme.example/herm/webhooks',
  events: ['run.completed', 'run.failed', 'steering.requested'],
  deployment_id: null,
  description: 'Acme backend',
  status: 'enabled',
  disabled_reason: null,
  disabled_at: null,
  previous_secret_expires_at: null,
  created_at: AT,
  updated_at: AT,
};
const webhookDelivery = {
  delivery_id: WHMSG,
  endpoint_id: WE,
  event_type: 'run.completed',
  status: 'succeeded',
  attempt_count: 2,
  next_attempt_at: null,
  payload: { type: 'run.completed', timestamp: AT, data: { deployment_id: DEP, customer_id: 'cus_acme', thread_id: THR, run_id: RUN, status: 'completed' } },
  deployment_id: DEP,
  run_id: RUN,
  created_at: AT,
  completed_at: '2026-06-20T23:28:08.112Z',
  attempts: [
    { attempt: 1, started_at: AT, duration_ms: 41, status_code: 500, succeeded: false, error: 'HTTP 500' },
    { attempt: 2, started_at: '2026-06-20T23:28:08.071Z', duration_ms: 38, status_code: 200, succeeded: true, error: null },
  ],
};

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
  steering: { tools: {}, mcp_servers: {}, shell_commands: [], default: 'always_allow', expires_after_seconds: null },
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
function steeringRequest(fields: Json): Json {
  return {
    object: 'steering_request',
    request_id: 'str_8fKq2LmN',
    deployment_id: DEP,
    run_id: RUN,
    thread_id: THR,
    kind: 'tool',
    status: 'pending',
    summary: 'Call the tool meta__post_ads (MCP server meta) with {"count":5}',
    tool_call: { tool: 'meta__post_ads', origin: 'meta', tool_call_id: 'call_07', arguments: { count: 5 } },
    options: ['approve', 'deny', 'reply'],
    decision: null,
    message: null,
    created_at: AT,
    expires_at: '2026-06-21T23:28:02.773Z',
    resolved_at: null,
    ...fields,
  };
}
const thread = {
  thread_id: THR,
  deployment_id: DEP,
  title: 'Q3 campaign',
  status: 'idle',
  message_count: 2,
  last_activity_at: AT,
  created_at: AT,
};
const secret = { secret_id: SEC, name: 'acme-meta-ads', allowed_hosts: ['graph.facebook.com'], created_at: AT };
const SKL = 'skl_7vB4n2';
const AUTO = 'auto_5cT2k9';
const DREAM = 'drm_9aQ2xW';
const DREAM_SUMMARY = {
  dream_id: DREAM,
  deployment_id: DEP,
  run_id: 'run_dream_4Kp2',
  thread_id: 'thr_dreams_4Kp2',
  status: 'completed',
  reason: 'idle',
  memories_changed: 1,
  skills_changed: 1,
  error: null,
  created_at: '2026-06-16T02:00:00Z',
  completed_at: '2026-06-16T02:01:10Z',
  rolled_back_at: null,
};
const DREAM_CHANGES = [
  {
    kind: 'memory',
    memory_id: 'mem_8nW3p4',
    action: 'updated',
    before: 'Videos must stay under thirty seconds.',
    after: 'Videos stay under thirty seconds and end with the logo sting.',
    priority: 'high',
  },
  {
    kind: 'skill',
    name: 'acme-video-brief',
    skill_id: 'skl_L3arn3d',
    action: 'created',
    before: null,
    after: '---\nname: acme-video-brief\ndescription: How Acme wants video briefs written\n---\n1. Keep every video under thirty seconds.\n2. End with the logo sting.\n',
  },
];
const automation = {
  automation_id: AUTO,
  deployment_id: DEP,
  name: 'Weekly video variations',
  schedule: '0 9 * * 1',
  schedule_text: 'every Monday at 9am',
  instructions: 'Look at our top-performing influencer video from last week and make five variations.',
  thread_id: 'thr_auto_5cT2k9',
  enabled: true,
  last_run_id: RUN,
  last_run_at: '2026-06-15T09:00:00Z',
  last_run_status: 'completed',
  next_run_at: '2026-06-22T09:00:00Z',
  created_at: '2026-06-11T21:20:10Z',
  updated_at: '2026-06-11T21:20:10Z',
};
const THUMBNAIL_SKILL = '---\nname: thumbnail-design\ndescription: Design high-CTR video thumbnails\n---\n# Thumbnail Design\n...';
const skill = {
  skill_id: SKL,
  name: 'thumbnail-design',
  source: 'inline',
  description: 'Design high-CTR video thumbnails',
  location: '/skills/thumbnail-design/SKILL.md',
  created_at: AT,
};
const snapshot = {
  snapshot_id: SNAP,
  deployment_id: DEP,
  customer_id: 'cus_acme',
  size_bytes: 1_482_113,
  content_bytes: 5_242_880,
  created_at: AT,
  expires_at: '2026-07-20T23:28:02.773Z',
};

const mcpServer = {
  name: 'prism-media',
  url: 'https://api.prismvideos.com/mcp',
  tools: ['search_models', 'generate_image', 'generate_video'],
  headers: { Authorization: 'Bearer ${PRISM_MEDIA_TOKEN}' },
};
const builtinTool = {
  name: 'shell',
  origin: 'builtin',
  enabled: true,
  description: "Run a shell command (bash) in this deployment's sandbox and get its exit code, stdout and stderr.",
  input_schema: { type: 'object', properties: { command: { type: 'string' }, timeout: { type: 'number' } }, required: ['command'] },
};
const mcpTool = {
  name: 'prism-media__generate_image',
  origin: 'prism-media',
  enabled: true,
  description: 'Generate an image from a prompt with one of the models search_models returns.',
  input_schema: { type: 'object', properties: { prompt: { type: 'string' }, model: { type: 'string' } }, required: ['prompt'] },
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
  'POST /v1/deployments/{deployment_id}/runs/{run_id}/steering/{request_id}': {
    body: { decision: 'approve' },
    sdk: `const request = await herm.deployments.runs.steering.respond('${DEP}', '${RUN}', 'str_8fKq2LmN', { decision: 'approve' });`,
    response: steeringRequest({ status: 'approved', decision: 'approve', resolved_at: AT }),
  },
  'GET /v1/deployments/{deployment_id}/steering_requests': {
    query: 'status=pending',
    sdk: `for await (const request of herm.deployments.steeringRequests.list('${DEP}', { status: 'pending' })) console.log(request.summary);`,
    response: { data: [steeringRequest({})], next_cursor: null },
  },
  'GET /v1/deployments/{deployment_id}/steering_requests/{request_id}': {
    sdk: `const request = await herm.deployments.steeringRequests.get('${DEP}', 'str_8fKq2LmN');`,
    response: steeringRequest({}),
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
    body: { name: 'acme-meta-ads', value: 'EAAG…', allowed_hosts: ['graph.facebook.com'] },
    sdk: `const { secret_id } = await herm.secrets.create({
  name: 'acme-meta-ads',
  value: process.env.META_TOKEN!,
  allowed_hosts: ['graph.facebook.com'],
});`,
    response: secret,
  },
  'GET /v1/secrets/{secret_id}': {
    sdk: `const secret = await herm.secrets.get('${SEC}');`,
    response: secret,
  },
  'PATCH /v1/secrets/{secret_id}': {
    body: { value: 'EAAH…' },
    sdk: `await herm.secrets.update('${SEC}', { value: process.env.NEW_META_TOKEN! });`,
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
  'POST /v1/deployments/{deployment_id}/skills': {
    body: { name: 'thumbnail-design', source: 'inline', content: THUMBNAIL_SKILL },
    sdk: `const skill = await herm.skills.add('${DEP}', {
  name: 'thumbnail-design',
  source: 'inline',
  content: '---\\nname: thumbnail-design\\ndescription: Design high-CTR video thumbnails\\n---\\n# Thumbnail Design\\n...',
});`,
    response: skill,
  },
  'GET /v1/deployments/{deployment_id}/skills': {
    sdk: `const { data } = await herm.skills.list('${DEP}');`,
    response: {
      data: [
        {
          skill_id: 'skl_3mA9x7',
          name: 'ugc-video-creation',
          source: 'file',
          description: 'Create authentic UGC-style product videos',
          path: '.prism/skills/ugc-video-creation/SKILL.md',
          location: '/skills/ugc-video-creation/SKILL.md',
          created_at: AT,
        },
        skill,
      ],
    },
  },
  'GET /v1/deployments/{deployment_id}/skills/{skill_id}': {
    sdk: `const skill = await herm.skills.get('${DEP}', '${SKL}');
console.log(skill.content);`,
    response: { ...skill, content: THUMBNAIL_SKILL },
  },
  'PUT /v1/deployments/{deployment_id}/skills/{skill_id}': {
    body: { source: 'url', url: 'https://acme.example.com/skills/thumbnail-design/SKILL.md' },
    sdk: `await herm.skills.update('${DEP}', '${SKL}', {
  source: 'url',
  url: 'https://acme.example.com/skills/thumbnail-design/SKILL.md',
});`,
    response: { ...skill, source: 'url', url: 'https://acme.example.com/skills/thumbnail-design/SKILL.md' },
  },
  'DELETE /v1/deployments/{deployment_id}/skills/{skill_id}': {
    sdk: `await herm.skills.delete('${DEP}', '${SKL}');`,
    response: { skill_id: SKL, deleted: true },
  },
  'GET /v1/deployments/{deployment_id}/memories': {
    query: 'q=brand&limit=20',
    sdk: `const { data } = await herm.memories.list('${DEP}', { q: 'brand' });`,
    response: { data: [memoryExample], next_cursor: null },
  },
  'POST /v1/deployments/{deployment_id}/memories': {
    body: { content: "Acme's brand voice is playful but never sarcastic. Primary color #7C3AED." },
    sdk: `const memory = await herm.memories.create('${DEP}', {
  content: "Acme's brand voice is playful but never sarcastic. Primary color #7C3AED.",
});`,
    response: {
      ...memoryExample,
      memory_id: 'mem_8nW3p4',
      content: "Acme's brand voice is playful but never sarcastic. Primary color #7C3AED.",
      source: 'api',
      path: '.herm/memory/mem_8nW3p4.md',
    },
  },
  'GET /v1/deployments/{deployment_id}/memories/{memory_id}': {
    sdk: `const memory = await herm.memories.get('${DEP}', '${MEM}');`,
    response: memoryExample,
  },
  'PATCH /v1/deployments/{deployment_id}/memories/{memory_id}': {
    body: { content: 'End videos with the new Acme logo sting (v2, March 2026).' },
    sdk: `await herm.memories.update('${DEP}', '${MEM}', {
  content: 'End videos with the new Acme logo sting (v2, March 2026).',
});`,
    response: { ...memoryExample, content: 'End videos with the new Acme logo sting (v2, March 2026).', updated_at: '2026-06-21T09:12:40Z' },
  },
  'DELETE /v1/deployments/{deployment_id}/memories/{memory_id}': {
    sdk: `await herm.memories.delete('${DEP}', '${MEM}');`,
    response: { memory_id: MEM, deleted: true },
  },
  'GET /v1/deployments/{deployment_id}/memories/{memory_id}/versions': {
    query: 'limit=20',
    sdk: `const { data } = await herm.memories.versions('${DEP}', '${MEM}');`,
    response: {
      data: [
        {
          version_id: 'memv_5Rk2Qw',
          memory_id: MEM,
          action: 'updated',
          actor: 'api',
          before: 'Always end videos with the Acme logo sting.',
          after: 'End videos with the new Acme logo sting (v2, March 2026).',
          thread_id: null,
          created_at: '2026-06-21T09:12:40Z',
        },
        {
          version_id: 'memv_1Hc7Zt',
          memory_id: MEM,
          action: 'created',
          actor: 'observer',
          before: null,
          after: 'Always end videos with the Acme logo sting.',
          thread_id: THR,
          created_at: '2026-06-09T17:30:12Z',
        },
      ],
      next_cursor: null,
    },
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
  'GET /v1/deployments/{deployment_id}/tools': {
    sdk: `const { data } = await herm.tools.list('${DEP}');

for (const tool of data) {
  console.log(\`\${tool.name} (\${tool.origin}): \${tool.enabled}\`);
}`,
    response: { data: [builtinTool, mcpTool], unavailable_servers: [] },
  },
  'PATCH /v1/deployments/{deployment_id}/tools/{tool_name}': {
    body: { enabled: false },
    sdk: `await herm.tools.update('${DEP}', 'shell', { enabled: false });`,
    response: { ...builtinTool, enabled: false },
  },
  'GET /v1/deployments/{deployment_id}/mcp_servers': {
    sdk: `const { data } = await herm.mcpServers.list('${DEP}');`,
    response: { data: [mcpServer] },
  },
  'POST /v1/deployments/{deployment_id}/mcp_servers': {
    body: mcpServer,
    sdk: `await herm.mcpServers.add('${DEP}', {
  name: 'prism-media',
  url: 'https://api.prismvideos.com/mcp',
  tools: ['search_models', 'generate_image', 'generate_video'],
  headers: { Authorization: 'Bearer \${PRISM_MEDIA_TOKEN}' },
});`,
    response: mcpServer,
  },
  'PATCH /v1/deployments/{deployment_id}/mcp_servers/{name}': {
    body: { tools: ['search_models', 'generate_image'] },
    sdk: `await herm.mcpServers.update('${DEP}', 'prism-media', { tools: ['search_models', 'generate_image'] });`,
    response: { ...mcpServer, tools: ['search_models', 'generate_image'] },
  },
  'DELETE /v1/deployments/{deployment_id}/mcp_servers/{name}': {
    sdk: `await herm.mcpServers.remove('${DEP}', 'prism-media');`,
    response: { name: 'prism-media', deleted: true },
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
  'POST /v1/webhook_endpoints': {
    body: { url: 'https://api.acme.example/herm/webhooks', events: ['run.completed', 'run.failed', 'steering.requested'], description: 'Acme backend' },
    sdk: `const endpoint = await herm.webhookEndpoints.create({
  url: 'https://api.acme.example/herm/webhooks',
  events: ['run.completed', 'run.failed', 'steering.requested'],
  description: 'Acme backend',
});
console.log(endpoint.secret); // whsec_…: shown once, keep it to verify deliveries`,
    response: { ...webhookEndpoint, secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' },
  },
  'GET /v1/webhook_endpoints': {
    query: 'limit=20',
    sdk: `for await (const endpoint of herm.webhookEndpoints.list()) console.log(endpoint.endpoint_id, endpoint.status);`,
    response: { data: [webhookEndpoint], next_cursor: null },
  },
  'GET /v1/webhook_endpoints/{endpoint_id}': {
    sdk: `const endpoint = await herm.webhookEndpoints.get('${WE}');`,
    response: webhookEndpoint,
  },
  'PATCH /v1/webhook_endpoints/{endpoint_id}': {
    body: { status: 'enabled' },
    sdk: `await herm.webhookEndpoints.update('${WE}', { status: 'enabled' }); // re-enable after fixing the receiver`,
    response: webhookEndpoint,
  },
  'DELETE /v1/webhook_endpoints/{endpoint_id}': {
    sdk: `await herm.webhookEndpoints.delete('${WE}');`,
    response: { endpoint_id: WE, deleted: true },
  },
  'POST /v1/webhook_endpoints/{endpoint_id}/rotate_secret': {
    body: { grace_period_seconds: 86400 },
    sdk: `const { secret } = await herm.webhookEndpoints.rotateSecret('${WE}', { grace_period_seconds: 86400 });`,
    response: { ...webhookEndpoint, previous_secret_expires_at: '2026-06-21T23:28:02.773Z', secret: 'whsec_q0J2c7Yb1m4kZsVw8HhR3nT5xUeLdPaG' },
  },
  'GET /v1/webhook_endpoints/{endpoint_id}/deliveries': {
    query: 'status=failed&limit=20',
    sdk: `for await (const delivery of herm.webhookEndpoints.deliveries.list('${WE}', { status: 'failed' })) {
  console.log(delivery.delivery_id, delivery.attempts.at(-1)?.status_code);
}`,
    response: { data: [webhookDelivery], next_cursor: null },
  },
  'POST /v1/webhook_endpoints/{endpoint_id}/deliveries/{delivery_id}/retry': {
    sdk: `await herm.webhookEndpoints.deliveries.retry('${WE}', '${WHMSG}');`,
    response: { ...webhookDelivery, status: 'pending', next_attempt_at: AT, completed_at: null },
  },
  'GET /v1/snapshots/{snapshot_id}/content': {
    sdk: `const archive = await herm.snapshots.download('${SNAP}'); // Uint8Array, a tar.gz`,
    response: `(binary: ${SNAP}.tar.gz, content-type application/gzip)`,
  },
  'POST /v1/deployments/{deployment_id}/automations': {
    body: {
      name: 'Weekly video variations',
      schedule: 'every Monday at 9am',
      instructions: 'Look at our top-performing influencer video from last week and make five variations.',
    },
    sdk: `const automation = await herm.automations.create('${DEP}', {
  name: 'Weekly video variations',
  schedule: 'every Monday at 9am',
  instructions:
    'Look at our top-performing influencer video from last week and make five variations.',
});
console.log(automation.schedule, automation.next_run_at); // 0 9 * * 1 2026-06-22T09:00:00Z`,
    response: { ...automation, last_run_id: null, last_run_at: null, last_run_status: null },
  },
  'GET /v1/deployments/{deployment_id}/automations': {
    query: 'limit=20',
    sdk: `const { data } = await herm.automations.list('${DEP}');
for (const automation of data) console.log(automation.name, automation.last_run_status, automation.next_run_at);`,
    response: { data: [automation], next_cursor: null },
  },
  'GET /v1/deployments/{deployment_id}/automations/{automation_id}': {
    sdk: `const automation = await herm.automations.get('${DEP}', '${AUTO}');
console.log(automation.recent_runs);`,
    response: {
      ...automation,
      recent_runs: [
        { run_id: RUN, status: 'completed', trigger: 'schedule', scheduled_for: '2026-06-15T09:00:00Z', fired_at: '2026-06-15T09:00:00Z', skip_reason: null },
        { run_id: null, status: 'skipped', trigger: 'schedule', scheduled_for: '2026-06-08T09:00:00Z', fired_at: '2026-06-08T09:00:00Z', skip_reason: 'previous_run_active' },
      ],
    },
  },
  'PATCH /v1/deployments/{deployment_id}/automations/{automation_id}': {
    body: { enabled: false },
    sdk: `await herm.automations.update('${DEP}', '${AUTO}', {
  enabled: false,
});`,
    response: { ...automation, enabled: false, next_run_at: null },
  },
  'DELETE /v1/deployments/{deployment_id}/automations/{automation_id}': {
    sdk: `await herm.automations.delete('${DEP}', '${AUTO}');`,
    response: { automation_id: AUTO, deleted: true },
  },
  'POST /v1/deployments/{deployment_id}/automations/{automation_id}/trigger': {
    sdk: `const { run_id } = await herm.automations.trigger('${DEP}', '${AUTO}');`,
    response: { run_id: RUN, automation_id: AUTO, deployment_id: DEP, thread_id: 'thr_auto_5cT2k9', status: 'running' },
  },
  'GET /v1/deployments/{deployment_id}/dreams': {
    sdk: `const { data } = await herm.dreams.list('${DEP}');`,
    response: { data: [DREAM_SUMMARY], next_cursor: null },
  },
  'POST /v1/deployments/{deployment_id}/dreams': {
    sdk: `const dream = await herm.dreams.create('${DEP}');`,
    response: { ...DREAM_SUMMARY, status: 'running', reason: 'manual', memories_changed: null, skills_changed: null, completed_at: null },
  },
  'GET /v1/deployments/{deployment_id}/dreams/{dream_id}': {
    sdk: `const dream = await herm.dreams.get('${DEP}', '${DREAM}');`,
    response: { ...DREAM_SUMMARY, changes: DREAM_CHANGES },
  },
  'POST /v1/deployments/{deployment_id}/dreams/{dream_id}/rollback': {
    sdk: `await herm.dreams.rollback('${DEP}', '${DREAM}');`,
    response: { ...DREAM_SUMMARY, status: 'rolled_back', rolled_back_at: '2026-06-16T09:12:00Z', changes: DREAM_CHANGES },
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
        tool: z.string().describe('Tool name as the model calls it; an MCP tool is `<server name>__<tool name>`'),
        origin: z.string().describe('"builtin", or the name of the MCP server the tool comes from'),
        tool_call_id: z.string().describe('Pairs the call with its tool_result'),
        arguments: z.unknown().describe('The arguments, as the model wrote them'),
      })
      .openapi('ToolCallEvent'),
    example: { run_id: RUN, thread_id: THR, tool: 'shell', origin: 'builtin', tool_call_id: 'call_01', arguments: { command: 'ls briefs' }, created_at: AT },
  },
  {
    event: 'tool_result',
    description: "The result returned to the agent for a tool call (exactly one per tool_call).",
    schema: z
      .object({
        ...eventBase,
        tool: z.string(),
        origin: z.string().describe('"builtin", or the name of the MCP server the tool comes from'),
        tool_call_id: z.string(),
        result: z.unknown().describe('What the tool answered'),
        is_error: z.boolean().describe('Whether the tool failed'),
      })
      .openapi('ToolResultEvent'),
    example: { run_id: RUN, thread_id: THR, tool: 'shell', origin: 'builtin', tool_call_id: 'call_01', result: { exit_code: 0, stdout: 'q3-brief.md\n', stderr: '', timed_out: false }, is_error: false, created_at: AT },
  },
  {
    event: 'steering_request',
    description:
      'The agent paused for human approval or input (deployments with features.steering): a call its steering policy holds, or ' +
      'its own ask_human question. The run goes to waiting_on_human (the run_status event after this one) and holds nothing until ' +
      'an answer (Answer a steering request: POST …/runs/{run_id}/steering/{request_id}), its expiry (resolved as denied) or the ' +
      "run's cancellation.",
    schema: z
      .object({
        ...eventBase,
        request_id: z.string().describe('The request to answer (str_…)'),
        kind: z.enum(['tool', 'ask']).describe('tool: a call held by the steering policy; ask: the agent asked (ask_human)'),
        summary: z.string().describe('What the agent asks the human, or the call it is about to make'),
        tool_call: z
          .object({ tool: z.string(), origin: z.string(), tool_call_id: z.string(), arguments: z.unknown() })
          .nullable()
          .describe('The pending call; null for an ask_human question'),
        options: z.array(z.string()).describe('The answers offered: approve, deny, reply, or the options of the question'),
        expires_at: z.string().describe('When it resolves as denied if nobody answers'),
      })
      .openapi('SteeringRequestEvent'),
    example: {
      run_id: RUN,
      thread_id: THR,
      request_id: 'str_8fKq2LmN',
      kind: 'tool',
      summary: 'Call the tool meta__post_ads (MCP server meta) with {"count":5}',
      tool_call: { tool: 'meta__post_ads', origin: 'meta', tool_call_id: 'call_07', arguments: { count: 5 } },
      options: ['approve', 'deny', 'reply'],
      expires_at: '2026-06-21T23:28:02.773Z',
      created_at: AT,
    },
  },
  {
    event: 'steering_resolved',
    description:
      'A steering request was resolved: answered (approved, denied, replied), expired (resolved as denied, decision deny) or ' +
      'cancelled with its run. An answered or expired request\'s run resumes (run_status running follows).',
    schema: z
      .object({
        ...eventBase,
        request_id: z.string(),
        status: z.enum(['approved', 'denied', 'replied', 'expired', 'cancelled']),
        decision: z.enum(['approve', 'deny', 'reply']).nullable(),
        message: z.string().nullable().describe("The human's message, if any"),
      })
      .openapi('SteeringResolvedEvent'),
    example: { run_id: RUN, thread_id: THR, request_id: 'str_8fKq2LmN', status: 'approved', decision: 'approve', message: null, created_at: AT },
  },
  {
    event: 'run_status',
    description: 'A run transition: running, waiting_on_human, completed, error (with the error).',
    schema: z
      .object({
        ...eventBase,
        status: z.enum(['running', 'waiting_on_human', 'completed', 'error']),
        error: z.object({ type: z.string(), message: z.string() }).optional().describe('With status error: why, e.g. cancelled, step_limit, model_error'),
        automation_id: z.string().optional().describe('Set on every status of a run an automation started (on schedule or by trigger)'),
        trigger: z.literal('dream').optional().describe('Set on every status of a dream run (features.dreaming): not a run of the customer'),
      })
      .openapi('RunStatusEvent'),
    example: { run_id: RUN, thread_id: THR, status: 'completed', created_at: AT },
  },
  {
    event: 'filesystem',
    description:
      'A file in the workspace was created, modified or deleted (deployments with features.filesystem_webhooks): by a tool call of a ' +
      'run (with its run_id, just before that call\'s tool_result), or by a Files API upload or delete (run_id null). One event per ' +
      'file and command, coalesced: several writes are one event, a file created and removed again is none, a rename is deleted + created. ' +
      'Directories themselves, and Herm\'s own `.herm/` directory, are not reported. Beyond HERM_FILESYSTEM_EVENTS_MAX_PER_COMMAND ' +
      'changes, the last event of the command sums up the rest (truncated: true).',
    schema: z
      .object({
        ...eventBase,
        run_id: z.string().nullable().describe('The run whose tool call made the change; null for a Files API call'),
        thread_id: z.string().nullable().describe("The run's thread; for a Files API call, the thread whose session workspace changed, else null"),
        change: z.enum(['created', 'modified', 'deleted']),
        path: z
          .string()
          .describe('Relative to the workspace root, as the Files API names it (`briefs/q3-brief.md`). On a truncated event, the directory holding the changes it stands for, ending in "/" ("" for the whole workspace)'),
        size: z.number().int().nullable().describe('Bytes after the change (a symlink: the length of its target); null when deleted and on a truncated event'),
        truncated: z
          .literal(true)
          .optional()
          .describe('Set on an event that stands for more changes than are listed one by one: too many in one command, or a workspace too large to compare (HERM_FILESYSTEM_EVENTS_MAX_FILES)'),
        omitted: z.number().int().nullable().optional().describe('With truncated: how many changes the event stands for; null when not known'),
        tool_call_id: z.string().optional().describe('The tool call that made the change (absent for a Files API call)'),
      })
      .openapi('FilesystemEvent'),
    example: { run_id: RUN, thread_id: THR, change: 'created', path: 'storyboard.md', size: 2048, tool_call_id: 'call_02', created_at: AT },
  },
  {
    event: 'automation_fired',
    description:
      'An automation started a run (at a due time, or by trigger), in the commit that started it: its run_status events follow, carrying ' +
      'the same automation_id. Due times skipped (a run still active) emit nothing; the automation\'s recent_runs lists them.',
    schema: z
      .object({
        ...eventBase,
        automation_id: z.string(),
        name: z.string().describe("The automation's name"),
        trigger: z.enum(['schedule', 'manual']),
        scheduled_for: z.string().nullable().describe('The due time it fired for (UTC); null for a manual trigger'),
      })
      .openapi('AutomationFiredEvent'),
    example: { run_id: RUN, thread_id: 'thr_auto_5cT2k9', automation_id: AUTO, name: 'Weekly video variations', trigger: 'schedule', scheduled_for: '2026-06-15T09:00:00Z', created_at: AT },
  },
  {
    event: 'dream_started',
    description:
      'A dream started (features.dreaming: the deployment was idle for HERM_DREAM_IDLE_MS, or POST …/dreams), in the commit that started its ' +
      'run: a run with trigger "dream" on the deployment\'s dream thread, whose events follow.',
    schema: z
      .object({ ...eventBase, dream_id: z.string(), reason: z.enum(['idle', 'manual']) })
      .openapi('DreamStartedEvent'),
    example: { run_id: RUN, thread_id: 'thr_dreams_4Kp2', dream_id: 'drm_9aQ2xW', reason: 'idle', created_at: AT },
  },
  {
    event: 'dream_completed',
    description:
      "A dream's run ended and what it changed is recorded (GET …/dreams/{dream_id} lists it; …/rollback undoes it). status failed: its run " +
      'ended in error (cancelled by a run of the customer, for one).',
    schema: z
      .object({
        ...eventBase,
        dream_id: z.string(),
        status: z.enum(['completed', 'failed']),
        memories_changed: z.number().int(),
        skills_changed: z.number().int(),
        error: z.string().optional(),
      })
      .openapi('DreamCompletedEvent'),
    example: { run_id: RUN, thread_id: 'thr_dreams_4Kp2', dream_id: 'drm_9aQ2xW', status: 'completed', memories_changed: 3, skills_changed: 1, created_at: AT },
  },
  {
    event: 'dream_rolled_back',
    description: 'A dream was rolled back: the memories and learned skills it changed are as they were before it.',
    schema: z
      .object({ ...eventBase, dream_id: z.string(), memories_changed: z.number().int(), skills_changed: z.number().int() })
      .openapi('DreamRolledBackEvent'),
    example: { run_id: RUN, thread_id: 'thr_dreams_4Kp2', dream_id: 'drm_9aQ2xW', memories_changed: 3, skills_changed: 1, created_at: AT },
  },
] as const;

function eventStreamExample(): string {
  return EVENT_TYPES.map(
    ({ event, example }, index) => `event: ${event}\nid: evt_${String(193 + index).padStart(10, '0')}aB3xQ9\ndata: ${JSON.stringify(example)}\n`,
  ).join('\n');
}
OPERATION_EXAMPLES['GET /v1/deployments/{deployment_id}/events']!.response = eventStreamExample();
Object.assign(OPERATION_EXAMPLES, ACCOUNT_EXAMPLES);
Object.assign(OPERATION_EXAMPLES, USAGE_EXAMPLES);

/** An example path with the example ids in place of the parameters. */
function concretePath(path: string): string {
  return path
    .replace('{deployment_id}', DEP)
    .replace('{thread_id}', THR)
    .replace('{run_id}', RUN)
    .replace('{secret_id}', SEC)
    .replace('{snapshot_id}', SNAP)
    .replace('{endpoint_id}', WE)
    .replace('{delivery_id}', WHMSG)
    .replace('{automation_id}', AUTO)
    .replace('{account_id}', ACCOUNT_ID_EXAMPLE)
    .replace('{key_id}', KEY_ID_EXAMPLE);
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
