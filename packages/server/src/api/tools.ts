// The Tools API: /v1/deployments/{deployment_id}/tools (list, enable/disable) and
// /v1/deployments/{deployment_id}/mcp_servers (add, update, remove one MCP server of a live deployment).
// Changes apply to the deployment's next run; writes go through DeploymentService.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { CUSTOMER_ID_HEADER } from '../mcp/mcp-headers.ts';
import { META_CUSTOMER_ID, META_DEPLOYMENT_ID } from '../mcp/mcp-connections.ts';
import { mcpToolPrefix } from '../mcp/mcp-tool-name.ts';
import { ApiError } from './api-error.ts';
import type { AppEnv } from './app-env.ts';
import { bearerSecurity, errorResponses, json, jsonBody, loadDeployment } from './route-helpers.ts';
import { idParam, McpHeaders, McpServerInput } from './schemas.ts';

const MCP_CALLS_NOTE =
  `Every request to an MCP server carries the deployment's customer_id in the \`${CUSTOMER_ID_HEADER}\` header, and every ` +
  `tool call carries it in its \`_meta\` as \`${META_CUSTOMER_ID}\` (with \`${META_DEPLOYMENT_ID}\`), so the server can ` +
  'scope data per customer. Credentials go in `headers` as `${NAME}` references to the deployment\'s secrets map, resolved ' +
  'by Herm when it connects and never shown. An MCP tool is named `<server name>__<tool name>` for the model and in ' +
  'tool_call / tool_result events (characters other than letters, digits, `_` and `-` become `_`; a name longer than 64 ' +
  'characters keeps 55 and gets `_` and 8 hex digits of a hash). Connectivity is not checked here: a server that cannot ' +
  'be reached when a run starts is left out of that run (the agent is told), and failed calls are tool errors.';

const ToolItem = z
  .object({
    name: z.string().describe('The name the model calls it by: a built-in name, or `<server name>__<tool name>`'),
    origin: z.string().describe('"builtin", or the name of the MCP server it comes from'),
    enabled: z.boolean().describe('A disabled tool is not offered to the model at all'),
    description: z.string().nullable().describe('null only in a PATCH answer for a tool of a server that could not be listed'),
    input_schema: z.record(z.string(), z.unknown()).nullable().describe('JSON Schema of its input; null as for description'),
  })
  .openapi('Tool');

const UnavailableServer = z
  .object({ name: z.string().describe('The MCP server'), error: z.string().describe('Why its tools could not be listed') })
  .openapi('UnavailableMcpServer');

const ToolList = z
  .object({
    data: z.array(ToolItem),
    unavailable_servers: z
      .array(UnavailableServer)
      .describe(
        'Declared MCP servers whose tools could not be listed (unreachable, rejected credentials, no answer within 5 s) and ' +
          'that have no earlier list: their tools are missing from `data`. A server listed before shows its last list instead.',
      ),
  })
  .openapi('ToolList');

const UpdateToolBody = z.strictObject({ enabled: z.boolean().describe('false: the tool is not offered to the model') }).openapi('UpdateToolRequest');

const UpdateMcpServerBody = z
  .strictObject({
    url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional().describe('URL of your MCP server'),
    tools: z.array(z.string().min(1).max(128)).max(500).nullable().optional().describe('Allowlist of tool names; null exposes all'),
    headers: McpHeaders.nullable().optional(),
  })
  .openapi('UpdateMcpServerRequest');

const McpServerList = z.object({ data: z.array(McpServerInput) }).openapi('McpServerList');

const DeploymentParams = z.strictObject({ deployment_id: idParam('deployment_id', 'dep') });
const ToolParams = DeploymentParams.extend({
  tool_name: z.string().min(1).max(128).openapi({ param: { name: 'tool_name', in: 'path' }, example: 'browser' }),
});
const ServerParams = DeploymentParams.extend({
  name: z.string().min(1).max(64).openapi({ param: { name: 'name', in: 'path' }, example: 'prism-media' }),
});

export function toolRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'get',
      path: '/deployments/{deployment_id}/tools',
      summary: 'List tools',
      description:
        "Every tool of the deployment, enabled or not: the built-ins, then each MCP server's tools (its `tools` allowlist " +
        "applied), from the server's cached list or listed now (waiting at most 5 s per server). A server that cannot be " +
        'listed never fails the request: see `unavailable_servers`.',
      tags: ['Tools'],
      security: bearerSecurity,
      request: { params: DeploymentParams },
      responses: { 200: json(ToolList, 'The tools'), ...errorResponses },
    }),
    async (c) => {
      const deployment = await loadDeployment(c, c.req.valid('param').deployment_id);
      const { tools, unavailable } = await c.get('services').tools.describe(deployment);
      return c.json({ data: tools, unavailable_servers: unavailable }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/deployments/{deployment_id}/tools/{tool_name}',
      summary: 'Enable or disable a tool',
      description:
        'A disabled tool is not listed to the model at all, from the next run on. `tool_name` is a built-in name or an MCP ' +
        'tool\'s `<server name>__<tool name>`. An unknown tool is a 404, except a tool named after a declared MCP server ' +
        'that cannot be listed right now: the setting is stored and applies once the server lists the tool (the answer then ' +
        'has `description` and `input_schema` null). Removing an MCP server forgets its tools\' settings.',
      tags: ['Tools'],
      security: bearerSecurity,
      request: { params: ToolParams, ...jsonBody(UpdateToolBody) },
      responses: { 200: json(ToolItem, 'The tool'), ...errorResponses },
    }),
    async (c) => {
      const { deployment_id, tool_name } = c.req.valid('param');
      const { enabled } = c.req.valid('json');
      const services = c.get('services');
      const deployment = await loadDeployment(c, deployment_id);
      const { tools, unavailable } = await services.tools.describe(deployment);
      const tool = tools.find((candidate) => candidate.name === tool_name);
      const pendingServer = tool ? undefined : unavailable.find((server) => tool_name.startsWith(mcpToolPrefix(server.name)) && tool_name.length > mcpToolPrefix(server.name).length);
      if (!tool && !pendingServer) {
        const builtins = tools.filter((candidate) => candidate.origin === 'builtin').map((candidate) => candidate.name);
        throw new ApiError(
          'not_found',
          `Deployment ${deployment.id} has no tool named "${tool_name}". Built-in tools on this server: ${builtins.join(', ')}; ` +
            `an MCP tool is named <server name>__<tool name>. GET /v1/deployments/${deployment.id}/tools lists them all.`,
          'tool_name',
        );
      }
      await services.deployments.setToolEnabled(deployment, tool_name, enabled);
      const answer = tool
        ? { ...tool, enabled }
        : { name: tool_name, origin: pendingServer!.name, enabled, description: null, input_schema: null };
      return c.json(answer, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/deployments/{deployment_id}/mcp_servers',
      summary: 'List MCP servers',
      description: `The deployment's \`mcp_servers\`, as declared (header values as written, \`\${NAME}\` references unresolved). ${MCP_CALLS_NOTE}`,
      tags: ['Tools'],
      security: bearerSecurity,
      request: { params: DeploymentParams },
      responses: { 200: json(McpServerList, 'The MCP servers'), ...errorResponses },
    }),
    async (c) => {
      const deployment = await loadDeployment(c, c.req.valid('param').deployment_id);
      return c.json({ data: deployment.mcp_servers }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/deployments/{deployment_id}/mcp_servers',
      summary: 'Add an MCP server',
      description:
        `Adds one server to the deployment's \`mcp_servers\` (at most 20, names unique: otherwise a 400 naming the field); ` +
        `its next run has its tools. ${MCP_CALLS_NOTE}`,
      tags: ['Tools'],
      security: bearerSecurity,
      request: { params: DeploymentParams, ...jsonBody(McpServerInput) },
      responses: { 201: json(McpServerInput, 'The MCP server as stored'), ...errorResponses },
    }),
    async (c) => {
      const services = c.get('services');
      const deployment = await loadDeployment(c, c.req.valid('param').deployment_id);
      const server = await services.deployments.addMcpServer(deployment, c.req.valid('json'));
      return c.json(server, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/deployments/{deployment_id}/mcp_servers/{name}',
      summary: 'Update an MCP server',
      description:
        "Changes a server's `url`, `tools` allowlist or `headers` (each replaced as a whole; null removes `tools` or `headers`). " +
        `The next run connects with the new declaration and lists its tools again. ${MCP_CALLS_NOTE}`,
      tags: ['Tools'],
      security: bearerSecurity,
      request: { params: ServerParams, ...jsonBody(UpdateMcpServerBody) },
      responses: { 200: json(McpServerInput, 'The MCP server as stored'), ...errorResponses },
    }),
    async (c) => {
      const { deployment_id, name } = c.req.valid('param');
      const services = c.get('services');
      const deployment = await loadDeployment(c, deployment_id);
      const server = await services.deployments.updateMcpServer(deployment, name, c.req.valid('json'));
      return c.json(server, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/deployments/{deployment_id}/mcp_servers/{name}',
      summary: 'Remove an MCP server',
      description: "Removes the server from the deployment's `mcp_servers`; its next run no longer has its tools.",
      tags: ['Tools'],
      security: bearerSecurity,
      request: { params: ServerParams },
      responses: { 200: json(z.object({ name: z.string(), deleted: z.literal(true) }), 'Removed'), ...errorResponses },
    }),
    async (c) => {
      const { deployment_id, name } = c.req.valid('param');
      const services = c.get('services');
      const deployment = await loadDeployment(c, deployment_id);
      await services.deployments.removeMcpServer(deployment, name);
      return c.json({ name, deleted: true as const }, 200);
    },
  );

  return app;
}
