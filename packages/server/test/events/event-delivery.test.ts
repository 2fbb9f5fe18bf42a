// Event delivery between the store, the hub and SSE streams, on real databases: gaps filled from the store,
// subscriptions that never leak, subscribers that cannot undo a commit, a relay that heals, streams that ride
// out a database outage.
import { createParser } from 'eventsource-parser';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventHub } from '../../src/events/event-hub.ts';
import { EventLog } from '../../src/events/event-log.ts';
import { parseEventNotice, PostgresEventRelay } from '../../src/events/postgres-event-relay.ts';
import { PostgresListener } from '../../src/events/postgres-listener.ts';
import { openEventStream, SSE_RETRY_MS, type EventStreamOptions } from '../../src/events/sse-stream.ts';
import { EVENTS_CHANNEL, type EventFilter, type NewEvent } from '../../src/store/events.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { Store } from '../../src/store/store.ts';
import { createTestDatabase, postgresBaseUrl, POSTGRES_SKIP_MESSAGE, type TestDatabase } from '../support/databases.ts';
import { captureLogs } from '../support/log-capture.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { readyDeploymentRecord } from '../support/deployment-record.ts';

const postgresAvailable = (await postgresBaseUrl()) !== undefined;
if (!postgresAvailable) console.warn(POSTGRES_SKIP_MESSAGE);

interface Received {
  events: { id: string; type: string; data: any }[];
  comments: string[];
  retries: number[];
  ended: boolean;
  waitFor(count: number, timeoutMs?: number): Promise<void>;
  waitForEnd(timeoutMs?: number): Promise<void>;
}

/** Reads an SSE body the way a client would. */
function read(body: ReadableStream<Uint8Array>): Received {
  const received: Received = {
    events: [],
    comments: [],
    retries: [],
    ended: false,
    waitFor: (count, timeoutMs = 10_000) =>
      until(() => received.events.length >= count, timeoutMs, () => `${received.events.length} of ${count} events`),
    waitForEnd: (timeoutMs = 10_000) => until(() => received.ended, timeoutMs, () => 'the end of the stream'),
  };
  const parser = createParser({
    onEvent: (message) => received.events.push({ id: message.id ?? '', type: message.event ?? 'message', data: JSON.parse(message.data) }),
    onComment: (comment) => received.comments.push(comment.trim()),
    onRetry: (ms) => received.retries.push(ms),
  });
  void (async () => {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parser.feed(decoder.decode(value, { stream: true }));
    }
    received.ended = true;
  })();
  return received;
}

async function until(condition: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function createDeployment(store: Store): Promise<string> {
  await store.accounts.ensureAccount('acct_events', 'Events');
  const deployment = await store.deployments.create(
    readyDeploymentRecord({ account_id: 'acct_events', customer_id: 'cus_events', name: 'events', system_prompt: 'p' }),
  );
  return deployment.id;
}

function tokens(deploymentId: string, deltas: string[], runId = 'run_a'): NewEvent[] {
  return deltas.map((delta) => ({ deploymentId, type: 'token', threadId: 'thr_a', runId, data: { delta } }));
}

function deltas(received: Received): string[] {
  return received.events.map((event) => event.data.delta as string);
}

function expectInOrder(received: Received): void {
  const ids = received.events.map((event) => event.id);
  expect([...ids].sort()).toEqual(ids);
  expect(new Set(ids).size).toBe(ids.length);
}

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe.skipIf(dialect === 'postgres' && !postgresAvailable)(`event delivery on ${dialect}`, () => {
    let database: TestDatabase;
    let store: Store;

    beforeAll(async () => {
      database = await createTestDatabase(dialect);
      store = await openStore({ dataDir: database.dataDir, databaseUrl: database.databaseUrl });
    });

    afterAll(async () => {
      await store?.close();
      await database?.drop();
    });

    function open(hub: EventHub, deploymentId: string, options: Partial<EventStreamOptions> = {}) {
      return openEventStream({
        repository: store.events,
        hub,
        deploymentId,
        afterSeq: undefined,
        filter: {},
        heartbeatMs: 60_000,
        ...options,
      });
    }

    it('starts with a retry hint', async () => {
      const hub = new EventHub();
      const stream = await open(hub, await createDeployment(store));
      const received = read(stream.body);
      await until(() => received.retries.length > 0, 5_000, () => 'the retry hint');
      expect(received.retries).toEqual([SSE_RETRY_MS]);
      stream.close();
    });

    it('removes its subscription when reading the position fails', async () => {
      const failing = await openStore({ dataDir: database.dataDir, databaseUrl: database.databaseUrl });
      const deploymentId = await createDeployment(failing);
      await failing.close();
      const hub = new EventHub();
      const opening = openEventStream({
        repository: failing.events,
        hub,
        deploymentId,
        afterSeq: undefined,
        filter: {},
        heartbeatMs: 60_000,
      });
      await expect(opening).rejects.toThrow();
      expect(hub.subscriberCount()).toBe(0);
    });

    it('fills a gap from the store, in order, and drops what comes late', async () => {
      const hub = new EventHub();
      const deploymentId = await createDeployment(store);
      const stream = await open(hub, deploymentId);
      const received = read(stream.body);
      // Three commits whose first two announcements are lost: the third arrives alone.
      const stored = await store.events.append(tokens(deploymentId, ['a', 'b', 'c']));
      hub.publish([stored[2]!]);
      await received.waitFor(3);
      // The lost ones turn up after all: nothing is sent twice.
      hub.publish([stored[0]!, stored[1]!, stored[2]!]);
      const next = await store.events.append(tokens(deploymentId, ['d']));
      hub.publish(next);
      await received.waitFor(4);
      await delay(50);
      expect(deltas(received)).toEqual(['a', 'b', 'c', 'd']);
      expectInOrder(received);
      stream.close();
      expect(hub.subscriberCount()).toBe(0);
    });

    it('fills gaps of a filtered stream with its own events only', async () => {
      const hub = new EventHub();
      const deploymentId = await createDeployment(store);
      const filter: EventFilter = { runId: 'run_b' };
      const stream = await open(hub, deploymentId, { filter });
      const received = read(stream.body);
      const stored = await store.events.append([
        ...tokens(deploymentId, ['a1'], 'run_a'),
        ...tokens(deploymentId, ['b1'], 'run_b'),
        ...tokens(deploymentId, ['a2'], 'run_a'),
        ...tokens(deploymentId, ['b2'], 'run_b'),
        ...tokens(deploymentId, ['a3'], 'run_a'),
      ]);
      hub.publish([stored[4]!]);
      await received.waitFor(2);
      const next = await store.events.append(tokens(deploymentId, ['b3'], 'run_b'));
      hub.publish(next);
      await received.waitFor(3);
      expect(deltas(received)).toEqual(['b1', 'b2', 'b3']);
      expectInOrder(received);
      stream.close();
    });

    it('replays after Last-Event-ID, then catches up when asked to resync', async () => {
      const hub = new EventHub();
      const deploymentId = await createDeployment(store);
      const before = await store.events.append(tokens(deploymentId, ['a', 'b']));
      const stream = await open(hub, deploymentId, { afterSeq: before[0]!.seq });
      const received = read(stream.body);
      await received.waitFor(1);
      // Committed with no announcement at all (a relay that was down): a resync finds it.
      await store.events.append(tokens(deploymentId, ['c']));
      hub.resync(deploymentId);
      await received.waitFor(2);
      expect(deltas(received)).toEqual(['b', 'c']);
      expectInOrder(received);
      stream.close();
    });

    it('isolates a throwing subscriber: the others get the events and a job commits once', async () => {
      const logs = captureLogs();
      const hub = new EventHub({ logger: logs.logger });
      const deploymentId = await createDeployment(store);
      const log = new EventLog(store.events, hub, 'node_test');
      hub.subscribe(deploymentId, {
        deliver() {
          throw new Error('subscriber bug');
        },
      });
      const stream = await open(hub, deploymentId);
      const received = read(stream.body);
      let runs = 0;
      const outcome = await log.transact(deploymentId, async () => {
        runs++;
        return { result: 'done', events: tokens(deploymentId, ['x']) };
      });
      // An event emitted alongside, in the same batch, resolves too.
      const emitted = await log.emit(tokens(deploymentId, ['y'])[0]!);
      await received.waitFor(2);
      expect(outcome.result).toBe('done');
      expect(runs).toBe(1);
      expect(emitted.seq).toBe(outcome.stored[0]!.seq + 1);
      expect(await store.events.currentSeq(deploymentId)).toBe(2);
      expect(deltas(received)).toEqual(['x', 'y']);
      expect(logs.entries().some((entry) => entry.msg === 'an event subscriber failed')).toBe(true);
      stream.close();
    });

    it('ends streams by key, and every stream when the server shuts down, with a retry hint', async () => {
      const hub = new EventHub();
      const deploymentId = await createDeployment(store);
      const revoked = read((await open(hub, deploymentId, { keyId: 'key_revoked' })).body);
      const other = read((await open(hub, deploymentId, { keyId: 'key_other' })).body);
      expect(hub.keyIds()).toEqual(new Set(['key_revoked', 'key_other']));
      expect(hub.endKey('key_revoked')).toBe(1);
      await revoked.waitForEnd();
      expect(revoked.comments).toContain('key revoked');
      expect(other.ended).toBe(false);
      hub.closeAll({ retryMs: 700 });
      await other.waitForEnd();
      expect(other.retries).toEqual([SSE_RETRY_MS, 700]);
      // Opened during shutdown: told to come back, and ended.
      const late = await open(hub, deploymentId);
      const lateReceived = read(late.body);
      await lateReceived.waitForEnd();
      expect(lateReceived.retries.at(-1)).toBe(700);
      expect(hub.subscriberCount()).toBe(0);
    });
  });
}

describe.skipIf(!postgresAvailable)('the PostgreSQL relay', () => {
  let database: TestDatabase;
  let writer: Store;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    writer = await openStore({ dataDir: database.dataDir, databaseUrl: database.databaseUrl });
  });

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    await writer?.close();
    await database?.drop();
  });

  /** A node's side of delivery: its own store, listener, relay and hub (through `proxy` when given). */
  async function startNode(options: { proxy?: TcpProxy } = {}) {
    const logs = captureLogs();
    const url = options.proxy ? options.proxy.rewrite(database.databaseUrl!) : database.databaseUrl!;
    const store = await openStore({ dataDir: database.dataDir, databaseUrl: url });
    const hub = new EventHub({ logger: logs.logger });
    const listener = new PostgresListener({ connectionString: url, logger: logs.logger, healthCheckMs: 1_000 });
    const relay = new PostgresEventRelay({ listener, repository: store.events, hub, nodeId: 'node_relay_test', logger: logs.logger });
    await listener.start();
    cleanups.push(async () => {
      await listener.stop();
      await relay.stop();
      await store.close();
    });
    const open = async (deploymentId: string) => {
      const stream = await openEventStream({
        repository: store.events,
        hub,
        deploymentId,
        afterSeq: undefined,
        filter: {},
        heartbeatMs: 200,
        retryBackoff: { minMs: 50, maxMs: 500 },
      });
      cleanups.push(async () => stream.close());
      return read(stream.body);
    };
    return { logs, store, hub, listener, relay, open };
  }

  it('validates notices', () => {
    expect(parseEventNotice('{"node":"n","deploymentId":"dep_a","from":1,"to":2}')).toEqual({ node: 'n', deploymentId: 'dep_a', from: 1, to: 2 });
    for (const bad of ['', 'garbage', 'null', '[]', '{"node":"n","deploymentId":"dep_a","from":"1","to":2}', '{"node":"n","deploymentId":"dep_a","from":3,"to":2}']) {
      expect(parseEventNotice(bad)).toBeUndefined();
    }
  });

  it('skips and logs a malformed notice, and goes on relaying', async () => {
    const node = await startNode();
    const deploymentId = await createDeployment(writer);
    const received = await node.open(deploymentId);
    const admin = new pg.Client({ connectionString: database.databaseUrl });
    await admin.connect();
    await admin.query(`NOTIFY ${EVENTS_CHANNEL}, 'garbage'`);
    await admin.query(`SELECT pg_notify($1, $2)`, [EVENTS_CHANNEL, JSON.stringify({ node: 'x', deploymentId, from: 'one', to: 2 })]);
    await admin.end();
    await writer.events.append(tokens(deploymentId, ['after']));
    await received.waitFor(1);
    expect(deltas(received)).toEqual(['after']);
    const skipped = node.logs.entries().filter((entry) => entry.msg === 'event relay skipped a malformed notice');
    expect(skipped.map((entry) => entry.payload)).toEqual(['garbage', JSON.stringify({ node: 'x', deploymentId, from: 'one', to: 2 })]);
  });

  it('keeps a stream open through a database outage of its node, and delivers what it missed once back', async () => {
    const proxy = await startTcpProxy({ host: new URL(database.databaseUrl!).hostname, port: Number(new URL(database.databaseUrl!).port || 5432) });
    cleanups.push(() => proxy.close());
    const node = await startNode({ proxy });
    const deploymentId = await createDeployment(writer);
    const received = await node.open(deploymentId);
    await writer.events.append(tokens(deploymentId, ['before']));
    await received.waitFor(1);

    proxy.cut();
    await until(() => !node.listener.connected, 5_000, () => 'the listener to notice the outage');
    // Another node goes on committing; its announcements reach nobody here.
    await writer.events.append(tokens(deploymentId, ['during 1', 'during 2']));
    // Something (a notice that did get through, a local commit) shows this node a later event while its store is
    // unreachable: the stream keeps it and keeps retrying the store, without closing.
    const [late] = await writer.events.append(tokens(deploymentId, ['during 3']));
    node.hub.publish([late!]);
    const pingsBefore = received.comments.filter((comment) => comment === 'ping').length;
    await delay(2_000);
    expect(received.ended).toBe(false);
    expect(received.comments.filter((comment) => comment === 'ping').length).toBeGreaterThan(pingsBefore);
    expect(deltas(received)).toEqual(['before']);

    proxy.restore();
    await received.waitFor(4, 15_000);
    await writer.events.append(tokens(deploymentId, ['after']));
    await received.waitFor(5);
    await delay(100);
    expect(deltas(received)).toEqual(['before', 'during 1', 'during 2', 'during 3', 'after']);
    expectInOrder(received);
    expect(received.ended).toBe(false);
    expect(node.listener.connections).toBeGreaterThanOrEqual(2);
    expect(node.logs.entries().some((entry) => entry.msg === 'database listener connection lost; reconnecting')).toBe(true);
  });

  it('reconnects again and again while the database refuses, and catches up', async () => {
    const proxy = await startTcpProxy({ host: new URL(database.databaseUrl!).hostname, port: Number(new URL(database.databaseUrl!).port || 5432) });
    cleanups.push(() => proxy.close());
    const node = await startNode({ proxy });
    const deploymentId = await createDeployment(writer);
    const received = await node.open(deploymentId);
    proxy.cut();
    await until(() => !node.listener.connected, 5_000, () => 'the listener to notice the outage');
    await writer.events.append(tokens(deploymentId, ['missed']));
    await delay(1_500);
    // Several attempts failed meanwhile, and it still tries.
    expect(node.logs.entries().filter((entry) => entry.msg === 'database listener reconnect failed').length).toBeGreaterThan(1);
    proxy.restore();
    await until(() => node.listener.connected, 10_000, () => 'the listener to reconnect');
    await received.waitFor(1, 10_000);
    expect(deltas(received)).toEqual(['missed']);
  });
});
