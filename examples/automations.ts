// Automations: recurring work the agent does on a schedule (UTC), each run on the automation's own thread with its
// instructions. Schedules are cron expressions or natural language ("every Monday at 9am"), parsed into cron.
// PRISM_API_KEY=… HERM_BASE_URL=http://127.0.0.1:8787 node examples/automations.ts
import Herm from "herm";

const herm = new Herm();

const deployment = await herm.deployments.create({
  customer_id: "cus_examples",
  name: "Automations example",
  system_prompt: "You are Acme's media generation agent.",
});

const automation = await herm.automations.create(deployment.deployment_id, {
  name: "Weekly video variations",
  schedule: "every Monday at 9am",
  instructions: "Look at our top-performing influencer video from last week and make five variations.",
});
console.log("created", automation.automation_id, automation.schedule);

const { data } = await herm.automations.list(deployment.deployment_id);
for (const listed of data) console.log("listed", listed.name, "next", listed.next_run_at === null ? "none" : "scheduled");

const paused = await herm.automations.update(deployment.deployment_id, automation.automation_id, { enabled: false });
console.log("paused", paused.enabled, paused.next_run_at);

// Trigger-now works on a paused automation: a person's explicit act.
while ((await herm.deployments.get(deployment.deployment_id)).status === "provisioning") {
  await new Promise((resolve) => setTimeout(resolve, 250));
}
const { run_id } = await herm.automations.trigger(deployment.deployment_id, automation.automation_id);
let run = await herm.deployments.runs.get(deployment.deployment_id, run_id);
while (run.status === "running") {
  await new Promise((resolve) => setTimeout(resolve, 100));
  run = await herm.deployments.runs.get(deployment.deployment_id, run_id);
}
console.log("triggered", run_id, run.status);

const withRuns = await herm.automations.get(deployment.deployment_id, automation.automation_id);
for (const recent of withRuns.recent_runs) console.log("recent", recent.trigger, recent.status);

await herm.automations.delete(deployment.deployment_id, automation.automation_id);
console.log("deleted", automation.automation_id);
await herm.deployments.delete(deployment.deployment_id);
