// Secrets: credentials stored write-only and handed to deployments as environment variables.
// PRISM_API_KEY=… HERM_BASE_URL=http://127.0.0.1:8787 node examples/secrets.ts
import Herm from "herm";

const herm = new Herm();

const secret = await herm.secrets.create({ name: "EXAMPLE_TOKEN", value: "s3cr3t-value" });
console.log("created", secret.secret_id, secret.name);

// A deployment gets it as $EXAMPLE_TOKEN in its sandbox.
const deployment = await herm.deployments.create({
  customer_id: "cus_examples",
  name: "Secrets example",
  system_prompt: "You are a helpful assistant.",
  secrets: { EXAMPLE_TOKEN: secret.secret_id },
});
console.log("deployment", deployment.deployment_id, "uses", Object.keys(deployment.secrets ?? {}).join(", "));
await herm.deployments.delete(deployment.deployment_id);

for await (const listed of herm.secrets.list()) if (listed.secret_id === secret.secret_id) console.log("listed", listed.name);

const deleted = await herm.secrets.delete(secret.secret_id);
console.log("deleted", deleted.secret_id);
