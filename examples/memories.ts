// Memories: what a deployment's agent knows about its customer. Seed it at onboarding, show it, correct it, honour a
// deletion request; every change is kept as a version. The agent reads the same memories (files in
// /workspace/.herm/memory/) from its next run on.
// PRISM_API_KEY=… HERM_BASE_URL=http://127.0.0.1:8787 node examples/memories.ts
import Herm from "herm";

const herm = new Herm();

const deployment = await herm.deployments.create({
  customer_id: "cus_examples",
  name: "Memories example",
  system_prompt: "You are Acme's media generation agent.",
});
const id = deployment.deployment_id;

const memory = await herm.memories.create(id, {
  content: "Acme's brand voice is playful but never sarcastic. Primary color #7C3AED.",
});
console.log("created", memory.memory_id, memory.source);
await herm.memories.create(id, { content: "Always end videos with the Acme logo sting.", priority: "high" });

const { data } = await herm.memories.list(id, { q: "brand" });
for (const listed of data) console.log("found", listed.memory_id, "-", listed.content);

const updated = await herm.memories.update(id, memory.memory_id, {
  content: "Acme's brand voice is playful, never sarcastic. Primary color #5B21B6 (new palette).",
});
console.log("updated", updated.content);

for await (const version of herm.memories.versions(id, memory.memory_id)) {
  console.log("version", version.action, "by", version.actor);
}

const removed = await herm.memories.delete(id, memory.memory_id);
console.log("deleted", removed.memory_id, removed.deleted);
await herm.deployments.delete(id);
