// The reference examples of /v1/usage and /v1/budgets (merged into examples.ts's OPERATION_EXAMPLES).
const ACCOUNT = 'acct_5Wq2Nc';
const AT = '2026-06-20T23:28:02.773Z';
const totals = { input_tokens: 48_210, output_tokens: 3_904, cached_tokens: 30_720, model_calls: 14, tool_seconds: 12.4, sandbox_cpu_seconds: 11.9, credits: 0.231 };
const budget = { account_id: ACCOUNT, customer_id: 'cus_acme', credits: 50, spent: 12.5, remaining: 37.5, exhausted: false, updated_at: AT };

export const USAGE_EXAMPLES = {
  'GET /v1/usage': {
    query: 'group_by=customer_id,day&start_date=2026-06-01&end_date=2026-06-30',
    sdk: `const usage = await herm.usage.retrieve({ group_by: ['customer_id', 'day'], start_date: '2026-06-01', end_date: '2026-06-30' });`,
    response: {
      object: 'usage',
      start_date: '2026-06-01',
      end_date: '2026-06-30',
      group_by: ['customer_id', 'day'],
      data: [{ customer_id: 'cus_acme', day: '2026-06-20', ...totals }],
      total: totals,
    },
  },
  'GET /v1/budgets': {
    sdk: `const { data } = await herm.usage.budgets.list();`,
    response: { data: [budget] },
  },
  'PUT /v1/budgets': {
    body: { customer_id: 'cus_acme', credits: 50 },
    sdk: `const budget = await herm.usage.budgets.set({ customer_id: 'cus_acme', credits: 50 });`,
    response: { ...budget, spent: 0, remaining: 50 },
  },
  'DELETE /v1/budgets': {
    query: 'customer_id=cus_acme',
    sdk: `await herm.usage.budgets.delete({ customer_id: 'cus_acme' });`,
    response: { account_id: ACCOUNT, customer_id: 'cus_acme', deleted: true },
  },
};
