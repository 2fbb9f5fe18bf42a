// /v1/usage and /v1/budgets — what runs used (model tokens, tool and sandbox time, credits), summed by account,
// customer, deployment, day and model; and the credit budgets charged with it (usage/). Reading takes
// deployments:read and sees the key's own account; a key with the admin scope sees every account (account_id
// filters) and is the only one that sets budgets: a budget is the operator's to give, not the tenant's. Setting and
// removing one lands in the audit log (budget.set, budget.deleted) in the same transaction.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { AccountAdministration, type Actor } from '../accounts/account-administration.ts';
import { ApiError, validationError } from './api-error.ts';
import type { AppEnv } from './app-env.ts';
import { bearerSecurity, errorResponses, json, jsonBody } from './route-helpers.ts';
import { USAGE_GROUPS, usageDay, type BudgetRecord, type UsageGroup } from '../usage/usage-repository.ts';

const DAY = /^\d{4}-\d{2}-\d{2}$/;

const dayQuery = (name: string, description: string) =>
  z
    .string()
    .regex(DAY, 'must be a date YYYY-MM-DD (UTC)')
    .refine((value) => !Number.isNaN(Date.parse(`${value}T00:00:00Z`)) && new Date(`${value}T00:00:00Z`).toISOString().startsWith(value), 'must be a real date')
    .optional()
    .openapi({ param: { name, in: 'query' }, description, example: name === 'start_date' ? '2026-06-01' : '2026-06-30' });

const UsageQuery = z.strictObject({
  start_date: dayQuery('start_date', 'First day counted (UTC, included); default: the first day of the current month'),
  end_date: dayQuery('end_date', 'Last day counted (UTC, included); default: the last day of the current month'),
  group_by: z
    .string()
    .optional()
    .openapi({
      param: { name: 'group_by', in: 'query' },
      description: `Comma-separated: ${USAGE_GROUPS.join(', ')}. One row per combination; none: one row of totals`,
      example: 'customer_id,day',
    }),
  customer_id: z.string().min(1).max(200).optional().openapi({ param: { name: 'customer_id', in: 'query' }, description: 'Only this customer_id' }),
  deployment_id: z.string().min(1).max(200).optional().openapi({ param: { name: 'deployment_id', in: 'query' }, description: 'Only this deployment' }),
  account_id: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .openapi({ param: { name: 'account_id', in: 'query' }, description: "Only this account; another account than the key's own takes the admin scope" }),
});

const Totals = {
  input_tokens: z.number().int().describe('Input tokens the provider reported, cached ones included'),
  output_tokens: z.number().int().describe('Output tokens the provider reported'),
  cached_tokens: z.number().int().describe('Input tokens read from the provider\'s prompt cache'),
  model_calls: z.number().int().describe('Model calls (run steps and memory observer/reflector calls)'),
  tool_seconds: z.number().describe('Wall time of tool calls'),
  sandbox_cpu_seconds: z.number().describe('Sandbox time of built-in tool calls (measured as wall time: no sandbox backend reports per-command CPU time)'),
  credits: z.number().describe('Credits charged, by the operator\'s price table (HERM_MODEL_PRICES)'),
};

const UsageRowSchema = z
  .object({
    account_id: z.string().nullable().optional(),
    customer_id: z.string().nullable().optional(),
    deployment_id: z.string().nullable().optional(),
    day: z.string().nullable().optional(),
    model: z.string().nullable().optional().describe('null: tool time'),
    source: z.string().nullable().optional().describe('run, observer or reflector'),
    ...Totals,
  })
  .openapi('UsageRow');

const UsageReport = z
  .object({
    object: z.literal('usage'),
    start_date: z.string(),
    end_date: z.string(),
    group_by: z.array(z.enum(USAGE_GROUPS)),
    data: z.array(UsageRowSchema),
    total: z.object(Totals),
  })
  .openapi('UsageReport');

const Budget = z
  .object({
    account_id: z.string(),
    customer_id: z.string().nullable().describe('null: the account\'s own budget, charged for all its usage'),
    credits: z.number().describe('Credits granted'),
    spent: z.number().describe('Credits charged since the budget was set (or reset)'),
    remaining: z.number(),
    exhausted: z.boolean().describe('New runs are refused (402 insufficient_credits) and runs in flight end at their next step'),
    updated_at: z.string(),
  })
  .openapi('Budget');

const BudgetList = z.object({ data: z.array(Budget) }).openapi('BudgetList');

const SetBudgetBody = z
  .strictObject({
    account_id: z.string().min(1).max(200).optional().describe("The account; default: the key's own"),
    customer_id: z.string().min(1).max(200).nullable().optional().describe('A customer_id of the account; null or absent: the account as a whole'),
    credits: z.number().finite().min(0).max(1e12).describe('Credits granted (the unit of HERM_MODEL_PRICES)'),
    reset_spent: z.boolean().optional().describe('Start counting what is spent from zero again (a new period); default false'),
  })
  .openapi('SetBudgetBody');

const BudgetKeyQuery = z.strictObject({
  account_id: z.string().min(1).max(200).optional().openapi({ param: { name: 'account_id', in: 'query' }, description: "Default: the key's own account" }),
  customer_id: z.string().min(1).max(200).optional().openapi({ param: { name: 'customer_id', in: 'query' }, description: "Absent: the account's own budget" }),
});

const DeletedBudget = z.object({ account_id: z.string(), customer_id: z.string().nullable(), deleted: z.literal(true) }).openapi('DeletedBudget');

function isAdmin(c: Context<AppEnv>): boolean {
  return c.get('apiKey').scopes.includes('admin');
}

/** The account a request is about: the key's own, or (admin scope) any. */
function accountFor(c: Context<AppEnv>, requested: string | undefined): string | undefined {
  const own = c.get('apiKey').account_id;
  if (requested === undefined || requested === own) return isAdmin(c) && requested === undefined ? undefined : own;
  if (!isAdmin(c)) throw new ApiError('forbidden', `This API key lacks the admin scope needed to read account ${requested}.`, 'account_id');
  return requested;
}

/** The admin key of the request, for the audit log (budget.set, budget.deleted). */
function actorOf(c: Context<AppEnv>): Actor {
  const key = c.get('apiKey');
  return { keyId: key.id, accountId: key.account_id, requestId: c.get('requestId') };
}

function requireAdmin(c: Context<AppEnv>): void {
  if (!isAdmin(c)) throw new ApiError('forbidden', 'This API key lacks the admin scope: budgets are set by the operator.');
}

function renderBudget(budget: BudgetRecord) {
  return {
    account_id: budget.account_id,
    customer_id: budget.customer_id,
    credits: budget.credits,
    spent: budget.spent,
    remaining: budget.remaining,
    exhausted: budget.spent >= budget.credits,
    updated_at: new Date(budget.updated_at).toISOString(),
  };
}

function parseGroups(value: string | undefined): UsageGroup[] {
  if (value === undefined || value.trim() === '') return [];
  const groups: UsageGroup[] = [];
  for (const part of value.split(',').map((item) => item.trim())) {
    if (!(USAGE_GROUPS as readonly string[]).includes(part)) throw validationError('group_by', `Unknown group "${part}": use ${USAGE_GROUPS.join(', ')}.`);
    if (!groups.includes(part as UsageGroup)) groups.push(part as UsageGroup);
  }
  return groups;
}

/** The current calendar month (UTC), first and last day. */
function currentMonth(now: number): { start: string; end: string } {
  const date = new Date(now);
  const start = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1);
  const end = Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 0);
  return { start: usageDay(start), end: usageDay(end) };
}

export function usageRoutes(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();

  app.openapi(
    createRoute({
      method: 'get',
      path: '/usage',
      summary: 'Get usage',
      description:
        'Model tokens (per the provider\'s responses), tool and sandbox time and credits, summed over a range of days (UTC; default: the ' +
        'current calendar month) and grouped by account, customer_id, deployment, day, model or source. Memory observer and reflector ' +
        'calls count as their deployment\'s usage (source observer/reflector).',
      tags: ['Usage'],
      security: bearerSecurity,
      request: { query: UsageQuery },
      responses: { 200: json(UsageReport, 'The usage'), ...errorResponses },
    }),
    async (c) => {
      const query = c.req.valid('query');
      const groups = parseGroups(query.group_by);
      const month = currentMonth(Date.now());
      const startDay = query.start_date ?? month.start;
      const endDay = query.end_date ?? month.end;
      if (startDay > endDay) throw validationError('end_date', `end_date ${endDay} is before start_date ${startDay}.`);
      const filter = { accountId: accountFor(c, query.account_id), customerId: query.customer_id, deploymentId: query.deployment_id, startDay, endDay };
      const repository = c.get('services').usage.repository;
      const [data, totals] = await Promise.all([repository.aggregate(filter, groups), repository.aggregate(filter, [])]);
      const total = totals[0] ?? { input_tokens: 0, output_tokens: 0, cached_tokens: 0, model_calls: 0, tool_seconds: 0, sandbox_cpu_seconds: 0, credits: 0 };
      return c.json({ object: 'usage' as const, start_date: startDay, end_date: endDay, group_by: groups, data, total }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/budgets',
      summary: 'List credit budgets',
      description: "The key's account's budgets (every account's with the admin scope; account_id filters).",
      tags: ['Usage'],
      security: bearerSecurity,
      request: { query: z.strictObject({ account_id: BudgetKeyQuery.shape.account_id }) },
      responses: { 200: json(BudgetList, 'The budgets'), ...errorResponses },
    }),
    async (c) => {
      const budgets = await c.get('services').usage.repository.listBudgets(accountFor(c, c.req.valid('query').account_id));
      return c.json({ data: budgets.map(renderBudget) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/budgets',
      summary: 'Set a credit budget',
      description:
        'Grants an account, or one customer_id of it, a number of credits (admin scope). Usage is charged to both budgets that apply, by ' +
        'the price table HERM_MODEL_PRICES; once one is used up, new runs are refused with 402 insufficient_credits and runs in flight end ' +
        'at their next step in error insufficient_credits. Raise `credits` to top it up.',
      tags: ['Usage'],
      security: bearerSecurity,
      request: jsonBody(SetBudgetBody),
      responses: { 200: json(Budget, 'The budget'), ...errorResponses },
    }),
    async (c) => {
      requireAdmin(c);
      const body = c.req.valid('json');
      const accountId = body.account_id ?? c.get('apiKey').account_id;
      const budget = await new AccountAdministration(c.get('services').store).setBudget(actorOf(c), {
        accountId,
        customerId: body.customer_id ?? null,
        credits: body.credits,
        resetSpent: body.reset_spent ?? false,
      });
      if (!budget) throw new ApiError('not_found', `No account found with id '${accountId}'.`, 'account_id');
      return c.json(renderBudget(budget), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/budgets',
      summary: 'Remove a credit budget',
      description: 'Removes the budget of an account (or of one customer_id of it): its usage is no longer limited (admin scope).',
      tags: ['Usage'],
      security: bearerSecurity,
      request: { query: BudgetKeyQuery },
      responses: { 200: json(DeletedBudget, 'The budget was removed'), ...errorResponses },
    }),
    async (c) => {
      requireAdmin(c);
      const query = c.req.valid('query');
      const accountId = query.account_id ?? c.get('apiKey').account_id;
      const customerId = query.customer_id ?? null;
      if (!(await new AccountAdministration(c.get('services').store).deleteBudget(actorOf(c), accountId, customerId))) {
        throw new ApiError('not_found', `No budget found for ${customerId === null ? `account ${accountId}` : `customer_id "${customerId}" of account ${accountId}`}.`, 'customer_id');
      }
      return c.json({ account_id: accountId, customer_id: customerId, deleted: true as const }, 200);
    },
  );

  return app;
}
