// Tools: audit and toggle a deployment's tools, and manage its MCP servers one at a time.
// PRISM_API_KEY=… HERM_BASE_URL=http://127.0.0.1:8787 node examples/tools.ts
import Herm from "herm";

const herm = new Herm();

const deployment = await herm.deployments.create({
  customer_id: "cus_examples",
  name: "Tools example",
  system_prompt: "You are a helpful assistant.",
});
const id = deployment.deployment_id;

// Auditing what's enabled.
const { data } = await herm.tools.list(id);
for (const tool of data) console.log(`${tool.name} (${tool.origin}): ${tool.enabled}`);

// A disabled tool is invisible to the agent from its next run on.
const shell = await herm.tools.update(id, "shell", { enabled: false });
console.log("disabled", shell.name, shell.enabled);

// MCP servers: credentials are references to the deployment's secrets, resolved by Herm when it connects.
const secret = await herm.secrets.create({ name: "EXAMPLE_MCP_TOKEN", value: "mcp-token-value" });
await herm.deployments.update(id, { secrets: { PRISM_MEDIA_TOKEN: secret.secret_id } });
const added = await herm.mcpServers.add(id, {
  name: "prism-media",
  url: "https://mcp.example.com/mcp",
  tools: ["search_models", "generate_image"],
  headers: { Authorization: "Bearer ${PRISM_MEDIA_TOKEN}" },
});
console.log("added", added.name, added.headers?.Authorization);
const updated = await herm.mcpServers.update(id, "prism-media", { tools: ["search_models"] });
console.log("updated", updated.name, updated.tools?.join(","));
const servers = await herm.mcpServers.list(id);
console.log("servers", servers.data.map((server) => server.name).join(","));
const removed = await herm.mcpServers.remove(id, "prism-media");
console.log("removed", removed.name, removed.deleted);

await herm.deployments.delete(id);
await herm.secrets.delete(secret.secret_id);
