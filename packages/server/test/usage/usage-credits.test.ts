// Usage and credits end to end, on a real server with a real sandbox and the scripted model: the usage a run records
// equals what the model reported (input, output and cached tokens per step), summed by customer, deployment and day;
// memory observer calls count as their deployment's usage; a credit budget that runs out between two runs refuses
// the second (402 insufficient_credits naming the budget), and one that runs out during a run ends it at its next step.
import Herm from 'herm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { query } from '../../src/store/sql.ts';
import { isBackgroundRequest } from '../support/scripted-model-server.ts';
import { SCRIPTED_MODEL, startTestServer, type TestServer } from '../support/test-server.ts';
import { waitFor } from '../memory/memory-test-support.ts';
import { availableDialects, createTestDatabase, type TestDatabase } from '../support/databases.ts';

// 1,000 credits per million input tokens (0.001 a token), 2,000 per million output tokens, 100 per million cached.
const PRICES = { models: { [SCRIPTED_MODEL]: { input: 1000, output: 2000, cached_input: 100 } }, tool_second: 0, sandbox_cpu_second: 0 };

for (const dialect of await availableDialects()) {
  describe(`usage and credits (${dialect})`, () => {
    let herm: TestServer;
    let database: TestDatabase;

    beforeAll(async () => {
      database = await createTestDatabase(dialect);
      herm = await startTestServer({
        databaseUrl: database.databaseUrl,
        dataDir: database.dataDir,
        env: { HERM_MODEL_PRICES: JSON.stringify(PRICES), HERM_MEMORY_OBSERVE_IDLE_MS: '0', HERM_MEMORY_POLL_MS: '100' },
      });
    });

    afterAll(async () => {
      await herm?.close();
      await database?.drop();
    });

    beforeEach(() => {
      herm.model.reset();
    });

    const today = () => new Date().toISOString().slice(0, 10);

    async function usage(queryString = ''): Promise<any> {
      const response = await herm.request('GET', `/v1/usage${queryString}`);
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      return response.body;
    }

    async function runOf(deploymentId: string, runId: string): Promise<any> {
      return waitFor('the run to end', async () => {
        const run = await herm.request('GET', `/v1/deployments/${deploymentId}/runs/${runId}`);
        return (run.body.status === 'completed' || run.body.status === 'error') && run.body;
      });
    }

    describe('usage', { timeout: 30_000 }, () => {
      it('records what the model reported per step, with tool time, summed by customer, deployment and day', async () => {
        const a = await herm.createDeployment({ customer_id: 'cus_usage_a', features: { memory: false } });
        const b = await herm.createDeployment({ customer_id: 'cus_usage_b', features: { memory: false } });
        herm.model.enqueue(
          { toolCalls: [{ name: 'shell', arguments: { command: 'echo measured' } }], usage: { inputTokens: 1000, outputTokens: 50, cachedInputTokens: 400 } },
          { text: 'Done.', usage: { inputTokens: 1200, outputTokens: 20, cachedInputTokens: 1000 } },
        );
        const runA = await herm.sendAndWait(a.deployment_id);
        expect(runA.status).toBe('completed');
        herm.model.enqueue({ text: 'Hi.', usage: { inputTokens: 300, outputTokens: 30 } });
        expect((await herm.sendAndWait(b.deployment_id)).status).toBe('completed');

        // Recorded with the run's own commits, tagged with the run.
        const { store } = herm.server.services;
        const records = await query<{ input_tokens: number | string; tool_ms: number | string }>(store.db, store.dialect, 'SELECT input_tokens, tool_ms FROM usage_records WHERE run_id = $1', [runA.run_id]);
        expect(records.map((record) => Number(record.input_tokens)).sort((x, y) => x - y)).toEqual([0, 1000, 1200]);

        const report = await usage('?group_by=customer_id,deployment,day&customer_id=cus_usage_a');
        expect(report.group_by).toEqual(['customer_id', 'deployment', 'day']);
        expect(report.data).toHaveLength(1);
        const rowA = report.data[0];
        expect(rowA).toMatchObject({ customer_id: 'cus_usage_a', deployment_id: a.deployment_id, day: today(), input_tokens: 2200, output_tokens: 70, cached_tokens: 1400, model_calls: 2 });
        expect(rowA.tool_seconds).toBeGreaterThan(0);
        expect(rowA.sandbox_cpu_seconds).toBeGreaterThan(0);
        // Priced by HERM_MODEL_PRICES: uncached input 800 × 0.001 + cached 1400 × 0.0001 + output 70 × 0.002.
        expect(rowA.credits).toBeCloseTo(0.8 + 0.14 + 0.14, 6);
        expect(report.total).toMatchObject({ input_tokens: 2200, output_tokens: 70, cached_tokens: 1400 });

        // Without parameters: the current calendar month, every customer of the account.
        const month = await usage();
        expect(month.start_date).toBe(`${today().slice(0, 8)}01`);
        expect(month.end_date.slice(0, 7)).toBe(today().slice(0, 7));
        expect(month.total.input_tokens).toBeGreaterThanOrEqual(2500);
        const byCustomer = await usage('?group_by=customer_id');
        expect(byCustomer.data.find((row: any) => row.customer_id === 'cus_usage_b')).toMatchObject({ input_tokens: 300, output_tokens: 30, cached_tokens: 0, model_calls: 1 });
        const byModel = await usage(`?group_by=model&deployment_id=${a.deployment_id}`);
        // Tool time has no model (null sorts first on SQLite, last on PostgreSQL).
        expect(byModel.data).toHaveLength(2);
        expect(byModel.data).toEqual(
          expect.arrayContaining([expect.objectContaining({ model: null, input_tokens: 0 }), expect.objectContaining({ model: SCRIPTED_MODEL, input_tokens: 2200 })]),
        );
        // A day range without the usage sums to nothing.
        expect((await usage('?start_date=2020-01-01&end_date=2020-01-31')).data).toEqual([]);
      });

      it('rejects bad parameters with a validation_error naming the field', async () => {
        for (const [queryString, param] of [
          ['?group_by=planet', 'group_by'],
          ['?start_date=2026-13-01', 'start_date'],
          ['?start_date=yesterday', 'start_date'],
          ['?start_date=2026-06-10&end_date=2026-06-01', 'end_date'],
          ['?colour=red', 'colour'],
        ]) {
          const response = await herm.request('GET', `/v1/usage${queryString}`);
          expect(response.status, queryString).toBe(400);
          expect(response.body.error, queryString).toMatchObject({ type: 'validation_error', param });
        }
      });

      it('counts the memory observer\'s model calls as the deployment\'s usage', async () => {
        const deployment = await herm.createDeployment({ customer_id: 'cus_usage_memory', features: { memory: true } });
        herm.model.setHandler((request) =>
          isBackgroundRequest(request) ? { text: 'NONE', usage: { inputTokens: 777, outputTokens: 7, cachedInputTokens: 77 } } : { text: 'Noted.', usage: { inputTokens: 100, outputTokens: 10 } },
        );
        expect((await herm.sendAndWait(deployment.deployment_id, { content: 'I prefer short answers.' })).status).toBe('completed');
        const observer = await waitFor('the observer call to be recorded', async () => {
          const report = await usage(`?group_by=source&deployment_id=${deployment.deployment_id}`);
          return report.data.find((row: any) => row.source === 'observer');
        });
        expect(observer).toMatchObject({ input_tokens: 777, output_tokens: 7, cached_tokens: 77, model_calls: 1 });
        const run = (await usage(`?group_by=source&deployment_id=${deployment.deployment_id}`)).data.find((row: any) => row.source === 'run');
        expect(run).toMatchObject({ input_tokens: 100, output_tokens: 10, model_calls: 1 });
      });
    });

    describe('credit budgets', { timeout: 30_000 }, () => {
      it('refuses a new run with 402 once a budget ran out between two runs, and takes runs again when it is raised', async () => {
        const deployment = await herm.createDeployment({ customer_id: 'cus_budget_between', features: { memory: false } });
        const other = await herm.createDeployment({ customer_id: 'cus_budget_other', features: { memory: false } });
        const set = await herm.request('PUT', '/v1/budgets', { customer_id: 'cus_budget_between', credits: 1 });
        expect(set.status, JSON.stringify(set.body)).toBe(200);
        expect(set.body).toMatchObject({ customer_id: 'cus_budget_between', credits: 1, spent: 0, remaining: 1, exhausted: false });

        // 1,000 input and 100 output tokens: 1.2 credits, past the budget of 1.
        herm.model.enqueue({ text: 'Expensive.', usage: { inputTokens: 1000, outputTokens: 100 } });
        expect((await herm.sendAndWait(deployment.deployment_id)).status).toBe('completed');

        const refused = await herm.request('POST', `/v1/deployments/${deployment.deployment_id}/messages`, { content: 'Again.' });
        expect(refused.status, JSON.stringify(refused.body)).toBe(402);
        expect(refused.body.error.type).toBe('insufficient_credits');
        expect(refused.body.error.message).toContain('cus_budget_between');
        expect(herm.model.pendingTurns).toBe(0);

        // Another customer of the same account has no budget: not limited.
        herm.model.enqueue({ text: 'Fine.' });
        expect((await herm.sendAndWait(other.deployment_id)).status).toBe('completed');

        const listed = await herm.request('GET', '/v1/budgets');
        expect(listed.body.data.find((budget: any) => budget.customer_id === 'cus_budget_between')).toMatchObject({ credits: 1, spent: 1.2, remaining: 0, exhausted: true });

        expect((await herm.request('PUT', '/v1/budgets', { customer_id: 'cus_budget_between', credits: 10 })).body).toMatchObject({ spent: 1.2, exhausted: false });
        herm.model.enqueue({ text: 'Back.' });
        expect((await herm.sendAndWait(deployment.deployment_id)).status).toBe('completed');

        // The account-wide budget covers every customer of the account.
        expect((await herm.request('PUT', '/v1/budgets', { credits: 0 })).status).toBe(200);
        const accountRefused = await herm.request('POST', `/v1/deployments/${other.deployment_id}/messages`, { content: 'Again.' });
        expect(accountRefused.status).toBe(402);
        expect(accountRefused.body.error.message).toContain('the credit budget of account');
        expect((await herm.request('DELETE', '/v1/budgets')).body).toMatchObject({ customer_id: null, deleted: true });
        expect((await herm.request('DELETE', '/v1/budgets')).status).toBe(404);
        herm.model.enqueue({ text: 'Open again.' });
        expect((await herm.sendAndWait(other.deployment_id)).status).toBe('completed');
      });

      it('ends a run in flight at its next step, in error insufficient_credits, after recording the step that spent it', async () => {
        const deployment = await herm.createDeployment({ customer_id: 'cus_budget_during', features: { memory: false } });
        expect((await herm.request('PUT', '/v1/budgets', { customer_id: 'cus_budget_during', credits: 1 })).status).toBe(200);
        herm.model.enqueue(
          { toolCalls: [{ name: 'shell', arguments: { command: 'echo first step' } }], usage: { inputTokens: 1000, outputTokens: 100 } },
          { text: 'This step never runs.' },
        );
        const sent = await herm.request('POST', `/v1/deployments/${deployment.deployment_id}/messages`, { content: 'Go.' });
        expect(sent.status).toBe(202);
        const run = await runOf(deployment.deployment_id, sent.body.run_id);
        expect(run.status).toBe('error');
        expect(run.error.type).toBe('insufficient_credits');
        expect(run.error.message).toContain('cus_budget_during');
        expect(herm.model.requests.filter((request) => !isBackgroundRequest(request))).toHaveLength(1);
        expect(herm.model.pendingTurns).toBe(1);

        // The first step's command ran and its result is in the thread: it ended cleanly, through the journal.
        const history = await herm.server.services.store.threads.loadHistory(sent.body.thread_id);
        const last = history.entries.at(-1)?.message as { role: string } | undefined;
        expect(last?.role).toBe('tool');
        expect(JSON.stringify(last)).toContain('first step');
        const report = await usage(`?customer_id=cus_budget_during`);
        expect(report.total).toMatchObject({ input_tokens: 1000, output_tokens: 100, model_calls: 1 });
        expect(report.total.tool_seconds).toBeGreaterThan(0);
        expect(report.total.credits).toBeCloseTo(1.2, 6);

        // The next message is refused before any run starts.
        const refused = await herm.request('POST', `/v1/deployments/${deployment.deployment_id}/messages`, { content: 'More.' });
        expect(refused.status).toBe(402);
      });

      it('is reachable through the SDK: herm.usage.retrieve and herm.usage.budgets', async () => {
        const sdk = new Herm({ apiKey: herm.adminKey, baseURL: herm.url, maxRetries: 0 });
        const deployment = await herm.createDeployment({ customer_id: 'cus_budget_sdk', features: { memory: false } });
        herm.model.enqueue({ text: 'Via the SDK.', usage: { inputTokens: 40, outputTokens: 4, cachedInputTokens: 8 } });
        expect((await herm.sendAndWait(deployment.deployment_id)).status).toBe('completed');
        const report = await sdk.usage.retrieve({ group_by: ['customer_id', 'day'], customer_id: 'cus_budget_sdk' });
        expect(report.data).toEqual([expect.objectContaining({ customer_id: 'cus_budget_sdk', day: today(), input_tokens: 40, output_tokens: 4, cached_tokens: 8 })]);
        const budget = await sdk.usage.budgets.set({ customer_id: 'cus_budget_sdk', credits: 0 });
        expect(budget).toMatchObject({ customer_id: 'cus_budget_sdk', credits: 0, exhausted: true });
        const refused = await sdk.deployments.messages.send(deployment.deployment_id, { content: 'Again.' }).catch((error: unknown) => error);
        expect(refused).toBeInstanceOf(Herm.APIError);
        expect(refused).toMatchObject({ status: 402 });
        expect((await sdk.usage.budgets.list()).data.map((entry) => entry.customer_id)).toContain('cus_budget_sdk');
        expect(await sdk.usage.budgets.delete({ customer_id: 'cus_budget_sdk' })).toMatchObject({ deleted: true });
      });

      it('lets only the operator set budgets, and keeps an account to its own usage', async () => {
        const { store } = herm.server.services;
        const tenant = await store.accounts.createAccount('Tenant');
        const { secret } = await store.accounts.createKey({ accountId: tenant.id, scopes: ['deployments:read', 'deployments:write'] });
        const put = await herm.request('PUT', '/v1/budgets', { credits: 1000 }, secret);
        expect(put.status).toBe(403);
        expect(put.body.error.type).toBe('forbidden');
        const own = await herm.request('GET', '/v1/usage', undefined, secret);
        expect(own.status).toBe(200);
        expect(own.body.total.input_tokens).toBe(0);
        const others = await herm.request('GET', '/v1/usage?account_id=acct_someone_else', undefined, secret);
        expect(others.status).toBe(403);
        expect(others.body.error.param).toBe('account_id');
        const invalid = await herm.request('PUT', '/v1/budgets', { credits: -1 });
        expect(invalid.status).toBe(400);
        expect(invalid.body.error.param).toBe('credits');
        const unknownAccount = await herm.request('PUT', '/v1/budgets', { account_id: 'acct_nobody', credits: 1 });
        expect(unknownAccount.status).toBe(404);
        expect(unknownAccount.body.error.param).toBe('account_id');
      });

      it('records every budget set and removed in the audit log, and nothing for a refused or missing one', async () => {
        const { store } = herm.server.services;
        const account = await store.accounts.createAccount('Audited budgets');
        const { secret } = await store.accounts.createKey({ accountId: account.id, scopes: ['deployments:read', 'deployments:write'] });
        expect((await herm.request('PUT', '/v1/budgets', { account_id: account.id, credits: 5 })).status).toBe(200);
        expect((await herm.request('PUT', '/v1/budgets', { account_id: account.id, credits: 7.5, reset_spent: true })).status).toBe(200);
        expect((await herm.request('PUT', '/v1/budgets', { account_id: account.id, customer_id: 'cus_audited', credits: 2 })).status).toBe(200);
        const deleted = await herm.request('DELETE', `/v1/budgets?account_id=${account.id}&customer_id=cus_audited`);
        expect(deleted.status).toBe(200);
        // Refused (no admin scope) and missing: no change, no entry.
        expect((await herm.request('PUT', '/v1/budgets', { credits: 1 }, secret)).status).toBe(403);
        expect((await herm.request('DELETE', `/v1/budgets?account_id=${account.id}&customer_id=cus_audited`)).status).toBe(404);

        const log = await herm.request('GET', `/v1/audit_log?account_id=${account.id}`);
        expect(log.status).toBe(200);
        expect(log.body.data.map((entry: any) => [entry.action, entry.target, entry.summary])).toEqual([
          ['budget.deleted', { type: 'account', id: account.id, account_id: account.id }, { customer_id: 'cus_audited', credits: { from: 2, to: null }, spent: 0 }],
          ['budget.set', { type: 'account', id: account.id, account_id: account.id }, { customer_id: 'cus_audited', credits: { from: null, to: 2 }, reset_spent: false }],
          ['budget.set', { type: 'account', id: account.id, account_id: account.id }, { customer_id: null, credits: { from: 5, to: 7.5 }, reset_spent: true }],
          ['budget.set', { type: 'account', id: account.id, account_id: account.id }, { customer_id: null, credits: { from: null, to: 5 }, reset_spent: false }],
        ]);
        for (const entry of log.body.data) expect(entry.actor).toMatchObject({ type: 'api_key', key_id: expect.any(String) });
        expect(log.body.data[0].request_id).toBe(deleted.headers.get('x-request-id'));
        const filtered = await herm.request('GET', `/v1/audit_log?action=budget.deleted&account_id=${account.id}`);
        expect(filtered.body.data).toHaveLength(1);
        expect(JSON.stringify(log.body)).not.toContain(secret);
      });
    });
  });
}
