// Runs: one per message the agent works on. List them, get one, cancel one that is still running.
// PRISM_API_KEY=… HERM_BASE_URL=http://127.0.0.1:8787 node examples/runs.ts
import Herm from "herm";

const herm = new Herm();

const deployment = await herm.deployments.create({
  customer_id: "cus_examples",
  name: "Runs example",
  system_prompt: "You are a helpful assistant.",
});
while ((await herm.deployments.get(deployment.deployment_id)).status === "provisioning") {
  await new Promise((resolve) => setTimeout(resolve, 250));
}

const run = await herm.deployments.messages.sendAndStream(deployment.deployment_id, { content: "Hi." });
for await (const _event of run); // wait for the run to end
const finished = await herm.deployments.runs.get(deployment.deployment_id, run.run.run_id);
console.log("run", finished.run_id, finished.status);

for await (const listed of herm.deployments.runs.list(deployment.deployment_id)) {
  console.log("listed", listed.run_id, listed.status);
}

// Cancelling a run that has ended is answered with the run as it is (or a 409); either way nothing breaks.
try {
  const cancelled = await herm.deployments.runs.cancel(deployment.deployment_id, finished.run_id);
  console.log("cancel", cancelled.run_id, cancelled.status);
} catch (error) {
  if (!(error instanceof Herm.APIError)) throw error;
  console.log("cancel", finished.run_id, `refused: ${error.status}`);
}

await herm.deployments.delete(deployment.deployment_id);
