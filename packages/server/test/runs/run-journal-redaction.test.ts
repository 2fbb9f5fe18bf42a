// The run journal redacts the deployment's secret values from everything a run records once it is told them:
// streamed tokens (a value split across deltas included), tool calls and results, the history the model is sent
// next, the agent's message and the run's error, in the stored events and the thread's history alike.
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventHub } from '../../src/events/event-hub.ts';
import { EventLog } from '../../src/events/event-log.ts';
import { RunJournal } from '../../src/runs/run-journal.ts';
import { SecretRedactor } from '../../src/secrets/secret-redactor.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { StoredEvent } from '../../src/store/events.ts';
import type { Store } from '../../src/store/store.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { readyDeploymentRecord } from '../support/deployment-record.ts';
import { captureLogs } from '../support/log-capture.ts';

const VALUE = 'tok_live_0123456789abcdef';

/** An event's payload as it goes on the wire. */
function dataOf(event: StoredEvent): Record<string, unknown> {
  const parsed = JSON.parse(event.json) as { data?: Record<string, unknown> } & Record<string, unknown>;
  return parsed.data ?? parsed;
}

describe('run journal redaction', () => {
  let database: TestDatabase;
  let store: Store;
  let events: EventLog;

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    store = await openStore({ dataDir: database.dataDir, databaseUrl: database.databaseUrl });
    await store.accounts.ensureAccount('acct_a', 'A');
    events = new EventLog(store.events, new EventHub(), 'node_test');
  });

  afterAll(async () => {
    await events?.drain();
    await store?.close();
    await database?.drop();
  });

  async function start() {
    const deployment = await store.deployments.create(readyDeploymentRecord({ account_id: 'acct_a', customer_id: 'cus_r', name: 'r', model: 'openai-compatible/m' }));
    const { run } = await store.runs.submitMessage({ deploymentId: deployment.id, threadId: deployment.default_thread_id, content: 'go', trigger: 'message', nodeId: 'node_a', leaseMs: 30_000 });
    return { deployment, run };
  }

  it('keeps the value out of events, history and logs', async () => {
    const { deployment, run } = await start();
    const logs = captureLogs();
    const journal = new RunJournal({ store, events, run, nodeId: 'node_a', leaseMs: 30_000, logger: logs.logger });
    journal.redactWith(new SecretRedactor([{ name: 'API_TOKEN', value: VALUE }]));
    await journal.beginStep();
    journal.token('I found tok_live_01');
    journal.token('23456789abc');
    journal.token('def in the file. tok');
    const call = { toolCallId: 'call_1', toolName: 'shell', input: { command: `echo ${VALUE}` } };
    await journal.recordToolCalls({ role: 'assistant', content: [{ type: 'text', text: `I found ${VALUE}` }, { type: 'tool-call', ...call }] }, call);
    await journal.recordToolResult({ call, result: { stdout: `${VALUE}\n`, exit_code: 0 }, isError: false });
    await journal.finish({ status: 'error', error: { type: 'server_error', message: `failed near ${VALUE}` }, agentText: `I found ${VALUE}` });
    await events.drain();

    const stored = await store.events.listAfter(deployment.id, 0, {}, 1_000);
    const history = await store.threads.loadHistory(run.thread_id);
    const runRow = await store.runs.getById(run.id);
    const everything = JSON.stringify({ stored, history, runRow }) + logs.text();
    expect(everything).not.toContain(VALUE);
    const tokens = stored.filter((event) => event.type === 'token').map((event) => dataOf(event).delta as string).join('');
    expect(tokens).toBe('I found [redacted:API_TOKEN] in the file. tok');
    expect(dataOf(stored.find((event) => event.type === 'tool_call')!)).toMatchObject({ arguments: { command: 'echo [redacted:API_TOKEN]' } });
    expect(dataOf(stored.find((event) => event.type === 'tool_result')!)).toMatchObject({ result: { stdout: '[redacted:API_TOKEN]\n' } });
    expect(dataOf(stored.at(-1)!)).toMatchObject({ status: 'error', error: { message: 'failed near [redacted:API_TOKEN]' } });
    expect(JSON.stringify(history.entries)).toContain('[redacted:API_TOKEN]');
    expect(logs.text()).toContain('failed near [redacted:API_TOKEN]');
  });

  it('records everything as it is without secrets', async () => {
    const { deployment, run } = await start();
    const journal = new RunJournal({ store, events, run, nodeId: 'node_a', leaseMs: 30_000, logger: pino({ level: 'silent' }) });
    journal.redactWith(new SecretRedactor([]));
    await journal.beginStep();
    journal.token('tok_live_01');
    await journal.finish({ status: 'completed', agentText: 'tok_live_01' });
    await events.drain();
    const stored = await store.events.listAfter(deployment.id, 0, {}, 1_000);
    expect(stored.filter((event) => event.type === 'token').map((event) => dataOf(event).delta as string)).toEqual(['tok_live_01']);
  });
});
