// The quickstart of the Herm docs, verbatim; only the server comes from the environment (HERM_BASE_URL).
// Run against a local server: PRISM_API_KEY=… HERM_BASE_URL=http://127.0.0.1:8787 node examples/quickstart.ts
// (every example here runs that way and exits 0: packages/sdk/test/examples.e2e.test.ts)
import Herm from "herm";

const herm = new Herm(); // reads PRISM_API_KEY

const deployment = await herm.deployments.create({
  customer_id: "cus_quickstart",
  name: "Quickstart Agent",
  system_prompt:
    "You are a helpful media generation agent. Help the user plan, create, and iterate on short-form videos.",
});

console.log(deployment.deployment_id, deployment.status);

while ((await herm.deployments.get(deployment.deployment_id)).status !== "ready") {
  await new Promise((resolve) => setTimeout(resolve, 1_000));
}

const stream = await herm.deployments.events.stream(deployment.deployment_id);

const run = await herm.deployments.messages.send(deployment.deployment_id, {
  content:
    "Write a shot-by-shot storyboard for a 30-second product demo video and save it to storyboard.md",
});

console.log(run.run_id, run.status); // "run_4mPx81", "running"

// The run's events, ending after its final run_status; the stream closes then, and the script exits.
for await (const event of stream.untilRunComplete(run.run_id)) {
  switch (event.type) {
    case "token":
      process.stdout.write(event.delta);
      break;
    case "tool_call":
      console.log(`\n[Using tool: ${event.tool}]`);
      break;
    case "run_status":
      if (event.status === "completed") {
        console.log("\n\nAgent finished.");
      }
      break;
  }
}
