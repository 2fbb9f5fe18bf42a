// Messages and events: send a message and watch its run, two ways. sendAndStream opens the stream, sends,
// and yields that run's events until it ends; or open the stream yourself and stop at the run's end.
// PRISM_API_KEY=… HERM_BASE_URL=http://127.0.0.1:8787 node examples/messages.ts
import Herm from "herm";

const herm = new Herm();

const deployment = await herm.deployments.create({
  customer_id: "cus_examples",
  name: "Messages example",
  system_prompt: "You are a helpful assistant.",
});
while ((await herm.deployments.get(deployment.deployment_id)).status === "provisioning") {
  await new Promise((resolve) => setTimeout(resolve, 250));
}

// 1. One call: the run and its events.
const first = await herm.deployments.messages.sendAndStream(deployment.deployment_id, { content: "Hello!" });
console.log("run", first.run.run_id, first.run.status);
for await (const event of first) {
  if (event.type === "token") process.stdout.write(event.delta);
  if (event.type === "run_status" && event.status !== "running") console.log(`\nrun ${event.run_id} ${event.status}`);
}

// 2. The stream by hand: open it first (it resolves once connected, so no event is missed), then send.
const stream = await herm.deployments.events.stream(deployment.deployment_id);
const second = await herm.deployments.messages.send(deployment.deployment_id, { content: "And again." });
let tokens = 0;
for await (const event of stream) {
  if (event.type === "token") tokens++;
  // Leaving the loop closes the connection.
  if (event.type === "run_status" && event.run_id === second.run_id && event.status !== "running") break;
}
console.log(`second run streamed ${tokens} token events`);

await herm.deployments.delete(deployment.deployment_id);
