// Skills: playbooks a live deployment's agent loads on demand. The system prompt lists each skill's name and
// description; the agent reads the full SKILL.md, read-only, at /skills/<name>/SKILL.md when a task calls for it.
// PRISM_API_KEY=… HERM_BASE_URL=http://127.0.0.1:8787 node examples/skills.ts
import Herm from "herm";

const herm = new Herm();

const deployment = await herm.deployments.create({
  customer_id: "cus_examples",
  name: "Skills example",
  system_prompt: "You are Acme's media generation agent.",
});

const skill = await herm.skills.add(deployment.deployment_id, {
  name: "thumbnail-design",
  source: "inline",
  content: "---\nname: thumbnail-design\ndescription: Design high-CTR video thumbnails\n---\n# Thumbnail Design\n1. Pick one face and three words.\n",
});
console.log("added", skill.skill_id, skill.name);

const { data } = await herm.skills.list(deployment.deployment_id);
for (const listed of data) console.log("listed", listed.name, "-", listed.description);

await herm.skills.update(deployment.deployment_id, skill.skill_id, {
  source: "inline",
  content: "---\nname: thumbnail-design\ndescription: Design high-CTR thumbnails for YouTube\n---\n# Thumbnail Design\n1. Pick one face.\n",
});
const updated = await herm.skills.get(deployment.deployment_id, skill.skill_id);
console.log("updated", updated.description);

// The deployment shows the same skills, with the same ids.
const current = await herm.deployments.get(deployment.deployment_id);
console.log("deployment has", current.skills.map((entry) => entry.skill_id).join(", "));

const removed = await herm.skills.remove(deployment.deployment_id, skill.skill_id);
console.log("removed", removed.skill_id);
await herm.deployments.delete(deployment.deployment_id);
