// Threads: separate conversations of one deployment. Create, talk on it, read it back, rename, delete.
// PRISM_API_KEY=… HERM_BASE_URL=http://127.0.0.1:8787 node examples/threads.ts
import Herm from "herm";

const herm = new Herm();

const deployment = await herm.deployments.create({
  customer_id: "cus_examples",
  name: "Threads example",
  system_prompt: "You are a helpful assistant.",
});
while ((await herm.deployments.get(deployment.deployment_id)).status === "provisioning") {
  await new Promise((resolve) => setTimeout(resolve, 250));
}

const thread = await herm.threads.create(deployment.deployment_id, { title: "Launch plan" });
console.log("created", thread.thread_id, thread.title);

// One message on the thread; wait for its run to end.
const run = await herm.deployments.messages.sendAndStream(deployment.deployment_id, {
  thread_id: thread.thread_id,
  content: "Say hello.",
});
for await (const event of run) if (event.type === "run_status") console.log("run", event.run_id, event.status);

const withMessages = await herm.threads.get(deployment.deployment_id, thread.thread_id);
for (const message of withMessages.messages) console.log(`${message.role}: ${message.content}`);

for await (const listed of herm.threads.list(deployment.deployment_id)) console.log("listed", listed.thread_id, listed.title);

const renamed = await herm.threads.update(deployment.deployment_id, thread.thread_id, { title: "Launch plan v2" });
console.log("renamed", renamed.title);

const deleted = await herm.threads.delete(deployment.deployment_id, thread.thread_id);
console.log("deleted", deleted.thread_id);

await herm.deployments.delete(deployment.deployment_id);
