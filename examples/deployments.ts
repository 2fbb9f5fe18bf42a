// Deployments: create one, wait until it is ready, list, update and delete it.
// PRISM_API_KEY=… HERM_BASE_URL=http://127.0.0.1:8787 node examples/deployments.ts
import Herm from "herm";

const herm = new Herm();

const deployment = await herm.deployments.create({
  customer_id: "cus_examples",
  name: "Deployments example",
  system_prompt: "You are a helpful assistant.",
});
console.log("created", deployment.deployment_id, deployment.status);

while ((await herm.deployments.get(deployment.deployment_id)).status === "provisioning") {
  await new Promise((resolve) => setTimeout(resolve, 250));
}

// Lists are paginated: `for await` walks every page.
for await (const listed of herm.deployments.list({ customer_id: "cus_examples" })) {
  if (listed.deployment_id === deployment.deployment_id) console.log("listed", listed.deployment_id, listed.status);
}

const updated = await herm.deployments.update(deployment.deployment_id, { name: "Deployments example (renamed)" });
console.log("updated", updated.name);

const deleted = await herm.deployments.delete(deployment.deployment_id);
console.log("deleted", deleted.deployment_id, deleted.status);
