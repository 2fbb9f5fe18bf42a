// Secrets: credentials stored write-only. A deployment's sandbox sees a placeholder in their variable; the egress
// proxy puts the real value into requests to the hosts the secret is bound to (docs/secrets.md).
// PRISM_API_KEY=… HERM_BASE_URL=http://127.0.0.1:8787 node examples/secrets.ts
import Herm from "herm";

const herm = new Herm();

const secret = await herm.secrets.create({ name: "EXAMPLE_TOKEN", value: "s3cr3t-value", allowed_hosts: ["api.example.com"] });
console.log("created", secret.secret_id, secret.name);
console.log("bound to", secret.allowed_hosts.join(", "));

// $EXAMPLE_TOKEN in the sandbox holds a placeholder; `curl -H "Authorization: Bearer $EXAMPLE_TOKEN"
// https://api.example.com/…` sends the real value (the host must be on sandbox.network.allow too).
const deployment = await herm.deployments.create({
  customer_id: "cus_examples",
  name: "Secrets example",
  system_prompt: "You are a helpful assistant.",
  secrets: { EXAMPLE_TOKEN: secret.secret_id },
  sandbox: { network: { allow: ["api.example.com"] } },
});
console.log("deployment", deployment.deployment_id, "uses", Object.keys(deployment.secrets ?? {}).join(", "));

// Rotation in place: the deployment's next request carries the new value.
const rotated = await herm.secrets.update(secret.secret_id, { value: "n3w-s3cr3t-value" });
console.log("rotated", rotated.secret_id);
await herm.deployments.delete(deployment.deployment_id);

for await (const listed of herm.secrets.list()) if (listed.secret_id === secret.secret_id) console.log("listed", listed.name);

const deleted = await herm.secrets.delete(secret.secret_id);
console.log("deleted", deleted.secret_id);
