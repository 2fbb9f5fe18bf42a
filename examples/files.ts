// Files: the deployment's workspace. Write a file, list the directory, read it back, delete it.
// PRISM_API_KEY=… HERM_BASE_URL=http://127.0.0.1:8787 node examples/files.ts
import Herm from "herm";

const herm = new Herm();

const deployment = await herm.deployments.create({
  customer_id: "cus_examples",
  name: "Files example",
  system_prompt: "You are a helpful assistant.",
});
while ((await herm.deployments.get(deployment.deployment_id)).status === "provisioning") {
  await new Promise((resolve) => setTimeout(resolve, 250));
}

const written = await herm.files.write(deployment.deployment_id, { path: "notes/brief.md", content: "# Brief\nThirty seconds.\n" });
console.log("wrote", written.path, written.size);

const listing = await herm.files.list(deployment.deployment_id, { path: "notes" });
for (const entry of listing.entries) console.log("entry", entry.name, entry.type, entry.size);

const file = await herm.files.read(deployment.deployment_id, { path: "notes/brief.md" });
console.log("read", JSON.stringify(await file.text()));

await herm.files.delete(deployment.deployment_id, { path: "notes/brief.md" });
console.log("deleted notes/brief.md");

await herm.deployments.delete(deployment.deployment_id);
