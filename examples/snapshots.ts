// Snapshots: deleting a deployment with retain_filesystem keeps its workspace; a new deployment can start
// from it. List, get, download, restore.
// PRISM_API_KEY=… HERM_BASE_URL=http://127.0.0.1:8787 node examples/snapshots.ts
import Herm from "herm";

const herm = new Herm();

async function ready(deploymentId: string): Promise<void> {
  while ((await herm.deployments.get(deploymentId)).status === "provisioning") {
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const customer_id = `cus_snapshots_${Date.now()}`;
const original = await herm.deployments.create({ customer_id, name: "Snapshots example", system_prompt: "You are helpful." });
await ready(original.deployment_id);
await herm.files.write(original.deployment_id, { path: "kept.txt", content: "still here\n" });
await herm.deployments.delete(original.deployment_id, { retain_filesystem: true });

let snapshot;
for await (const listed of herm.snapshots.list({ customer_id })) if (listed.deployment_id === original.deployment_id) snapshot = listed;
if (!snapshot) throw new Error("no snapshot of the deleted deployment");
console.log("snapshot", snapshot.snapshot_id, (await herm.snapshots.get(snapshot.snapshot_id)).size_bytes > 0 ? "non-empty" : "empty");

const archive = await herm.snapshots.download(snapshot.snapshot_id);
console.log("downloaded", archive.byteLength > 0 ? "an archive" : "nothing");

const restored = await herm.deployments.create({
  customer_id,
  name: "Snapshots example (restored)",
  system_prompt: "You are helpful.",
  restore_snapshot_id: snapshot.snapshot_id,
});
await ready(restored.deployment_id);
const file = await herm.files.read(restored.deployment_id, { path: "kept.txt" });
console.log("restored kept.txt:", (await file.text()).trim());

await herm.deployments.delete(restored.deployment_id);
