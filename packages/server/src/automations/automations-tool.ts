// The `automations` built-in: the agent lists and manages its deployment's automations when a customer asks in
// chat ("what's scheduled?", "pause the weekly report", "make it daily instead"). Offered only to deployments with
// features.automations on (mcp/deployment-toolset.ts); its calls are ordinary tool_call / tool_result events. It
// goes through AutomationService, the same as the Automations API.
import { z } from 'zod';
import type { BuiltinTool, ToolOutput } from '../runtime/tools/tool.ts';
import type { DeploymentRecord } from '../store/deployments.ts';
import { AutomationLimitError } from '../store/automations.ts';
import { ThreadNotFoundError } from '../store/runs.ts';
import { AutomationBusyError, AutomationsDisabledError, type AutomationService } from './automation-service.ts';
import { QuotaExceededError } from '../quotas/quota-service.ts';
import { renderAutomation, renderFiring } from './automation-view.ts';
import { ScheduleError } from './schedule.ts';

export const AUTOMATIONS_TOOL_NAME = 'automations';

const ACTIONS = ['list', 'get', 'create', 'update', 'pause', 'resume', 'delete', 'trigger'] as const;

export interface AutomationsToolInput {
  action: (typeof ACTIONS)[number];
  automation_id?: string | undefined;
  name?: string | undefined;
  schedule?: string | undefined;
  instructions?: string | undefined;
}

const inputSchema = z.object({
  action: z
    .enum(ACTIONS)
    .describe(
      'list: every automation with its schedule and next run. get: one, with its recent runs. create: needs name, schedule and instructions. ' +
        'update: change name, schedule and/or instructions. pause / resume: stop or restart its schedule. delete: remove it. trigger: run it now.',
    ),
  automation_id: z.string().optional().describe('The automation (auto_…) for get, update, pause, resume, delete and trigger; list shows the ids.'),
  name: z.string().min(1).max(255).optional().describe('Short human-readable name, e.g. "Weekly video variations".'),
  schedule: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe('When it runs, in UTC: a cron expression ("0 9 * * 1") or a phrase such as "every Monday at 9am", "every weekday at 17:30", "daily", "every 2 hours".'),
  instructions: z.string().min(1).max(20_000).optional().describe('What to do at each run, written as the message the run starts with.'),
});

/** The built-ins automations add to a deployment's tools: the `automations` tool with features.automations on. */
export function automationBuiltins(service: AutomationService | undefined, deployment: DeploymentRecord): Record<string, BuiltinTool> {
  return service && deployment.features.automations ? { [AUTOMATIONS_TOOL_NAME]: createAutomationsTool(service, deployment) } : {};
}

const fail = (message: string): ToolOutput => ({ result: { error: message }, isError: true });

export function createAutomationsTool(service: AutomationService, deployment: DeploymentRecord): BuiltinTool<AutomationsToolInput> {
  return {
    name: AUTOMATIONS_TOOL_NAME,
    description: [
      "List and manage this customer's automations: scheduled runs of you with fixed instructions (\"every Monday at 9am, make five variations",
      'of last week\'s top video"). Use it when the customer asks what is scheduled, or to create, change, pause, resume, delete or run one now.',
      'Schedules are UTC. Each automation runs in a thread of its own, where its runs build on the previous ones.',
    ].join(' '),
    inputSchema,
    async execute(input): Promise<ToolOutput> {
      try {
        return await run(service, deployment, input);
      } catch (error) {
        if (error instanceof ScheduleError) return fail(`${error.message} ${error.hint}`);
        if (error instanceof AutomationLimitError || error instanceof AutomationsDisabledError || error instanceof AutomationBusyError) return fail(error.message);
        // The account's concurrent_runs or runs_per_minute quota: the agent hears why nothing was started.
        if (error instanceof QuotaExceededError) return fail(`Nothing was started: ${error.message}`);
        if (error instanceof ThreadNotFoundError) return fail(`Thread ${error.threadId} does not exist.`);
        throw error;
      }
    },
  };
}

async function run(service: AutomationService, deployment: DeploymentRecord, input: AutomationsToolInput): Promise<ToolOutput> {
  const ok = (result: unknown): ToolOutput => ({ result, isError: false });
  if (input.action === 'list') {
    const page = await service.list(deployment, { limit: 100 });
    return ok({ automations: page.data.map(renderAutomation) });
  }
  if (input.action === 'create') {
    const missing = (['name', 'schedule', 'instructions'] as const).filter((field) => !input[field]);
    if (missing.length > 0) return fail(`create needs ${missing.join(', ')}.`);
    const created = await service.create(deployment, { name: input.name!, schedule: input.schedule!, instructions: input.instructions! });
    return ok({ created: renderAutomation(created) });
  }
  if (!input.automation_id) return fail(`${input.action} needs automation_id (list shows them).`);
  const id = input.automation_id;
  const missing = () => fail(`No automation ${id}: list shows the automations there are.`);
  switch (input.action) {
    case 'get': {
      const automation = await service.get(deployment, id);
      if (!automation) return missing();
      return ok({ ...renderAutomation(automation), recent_runs: (await service.recentRuns(automation, 5)).map(renderFiring) });
    }
    case 'update': {
      if (input.name === undefined && input.schedule === undefined && input.instructions === undefined) return fail('update needs name, schedule or instructions.');
      const updated = await service.update(deployment, id, { name: input.name, schedule: input.schedule, instructions: input.instructions });
      return updated ? ok({ updated: renderAutomation(updated) }) : missing();
    }
    case 'pause':
    case 'resume': {
      const updated = await service.update(deployment, id, { enabled: input.action === 'resume' });
      return updated ? ok({ [input.action === 'pause' ? 'paused' : 'resumed']: renderAutomation(updated) }) : missing();
    }
    case 'delete':
      return (await service.delete(deployment, id)) ? ok({ deleted: id }) : missing();
    case 'trigger': {
      const triggered = await service.trigger(deployment, id);
      if (!triggered) return missing();
      return ok({ triggered: id, run_id: triggered.run.id, thread_id: triggered.run.thread_id, note: 'The run works in the automation\'s own thread.' });
    }
  }
}
