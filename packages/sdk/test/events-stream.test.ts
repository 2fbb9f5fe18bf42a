import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import Herm, {
  APIConnectionError,
  AuthenticationError,
  HermError,
  NotFoundError,
  type HermEvent,
} from 'herm';
import {
  delay,
  formatSse,
  openSse,
  sendError,
  sendJson,
  startScriptedServer,
  waitFor,
  type RecordedRequest,
  type ScriptedServer,
  type SseEvent,
} from './helpers/scripted-server.ts';

let server: ScriptedServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

const base = { run_id: 'run_1', thread_id: 'thr_1', created_at: '2026-06-11T18:21:09Z' };

function token(id: string, delta: string): SseEvent {
  return { type: 'token', id, data: { ...base, delta } };
}

function runStatus(id: string, status: string): SseEvent {
  return { type: 'run_status', id, data: { ...base, status } };
}

/** Connection n (0-based) of the events endpoint is handled by `connections[n]`. */
async function eventsServer(
  connections: Array<(request: RecordedRequest, response: ServerResponse) => void | Promise<void>>,
): Promise<ScriptedServer> {
  let count = 0;
  return startScriptedServer(async (request, response) => {
    const handler = connections[count++];
    if (handler) await handler(request, response);
    else response.writeHead(204).end();
  });
}

/** Collects events until `stop` says so, then aborts the stream. */
async function collect(
  stream: AsyncIterable<HermEvent> & { abort(): void },
  stop: (event: HermEvent, all: HermEvent[]) => boolean = () => false,
): Promise<HermEvent[]> {
  const events: HermEvent[] = [];
  for await (const event of stream) {
    events.push(event);
    if (stop(event, events)) stream.abort();
  }
  return events;
}

describe('events.stream parsing', () => {
  it('yields { id, type, ...data } from chunked SSE, skipping heartbeats', async () => {
    server = await eventsServer([
      async (_request, response) => {
        openSse(response);
        response.write(': heartbeat\n\n');
        const text =
          formatSse(token('evt_1', 'Hello')) +
          formatSse({ type: 'tool_call', id: 'evt_2', data: { ...base, tool: 'shell', tool_call_id: 'call_1', arguments: { command: 'ls' } } }) +
          formatSse({ type: 'tool_result', id: 'evt_3', data: { ...base, tool: 'shell', tool_call_id: 'call_1', result: 'a.txt', is_error: false } }) +
          'event: run_status\nid: evt_4\ndata: {"run_id":"run_1","thread_id":"thr_1",\ndata: "created_at":"t","status":"completed"}\n\n';
        // Split at awkward places: inside field names, inside JSON, between the two newlines.
        for (let offset = 0; offset < text.length; offset += 7) {
          response.write(text.slice(offset, offset + 7));
          await delay(1);
        }
        response.end();
      },
    ]);
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    const stream = await herm.deployments.events.stream('dep_1', { thread_id: 'thr_1', run_id: 'run_1' });
    const events = await collect(stream, (event) => event.type === 'run_status');

    expect(events).toEqual([
      { id: 'evt_1', type: 'token', ...base, delta: 'Hello' },
      { id: 'evt_2', type: 'tool_call', ...base, tool: 'shell', tool_call_id: 'call_1', arguments: { command: 'ls' } },
      { id: 'evt_3', type: 'tool_result', ...base, tool: 'shell', tool_call_id: 'call_1', result: 'a.txt', is_error: false },
      { id: 'evt_4', type: 'run_status', run_id: 'run_1', thread_id: 'thr_1', created_at: 't', status: 'completed' },
    ]);
    const request = server.requests[0];
    expect(request?.pathname).toBe('/v1/deployments/dep_1/events');
    expect(request?.query.get('thread_id')).toBe('thr_1');
    expect(request?.query.get('run_id')).toBe('run_1');
    expect(request?.headers.accept).toBe('text/event-stream');
    expect(request?.headers.authorization).toBe('Bearer k');
    expect(request?.headers['last-event-id']).toBeUndefined();
  });

  it('narrows on type so the quickstart switch type-checks', async () => {
    server = await eventsServer([
      (_request, response) => {
        const send = openSse(response);
        send(token('evt_1', 'Hi'));
        send({ type: 'tool_call', id: 'evt_2', data: { ...base, tool: 'write_file', tool_call_id: 'c', arguments: {} } });
        send(runStatus('evt_3', 'completed'));
      },
    ]);
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    const stream = await herm.deployments.events.stream('dep_1');
    const seen: string[] = [];
    for await (const event of stream) {
      switch (event.type) {
        case 'token':
          seen.push(event.delta);
          break;
        case 'tool_call':
          seen.push(`[Using tool: ${event.tool}]`);
          break;
        case 'run_status':
          if (event.status === 'completed') stream.abort();
          break;
      }
    }
    expect(seen).toEqual(['Hi', '[Using tool: write_file]']);
  });

  it('passes unknown event types through and fails on data that is not JSON', async () => {
    server = await eventsServer([
      (_request, response) => {
        openSse(response);
        response.write(formatSse({ type: 'future_thing', id: 'evt_1', data: { ...base, x: 1 } }));
        response.write('event: token\nid: evt_2\ndata: not json\n\n');
      },
    ]);
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    const stream = await herm.deployments.events.stream('dep_1');
    const events: unknown[] = [];
    const error = await (async () => {
      for await (const event of stream) events.push(event);
    })().catch((error: unknown) => error);
    expect(events).toEqual([{ id: 'evt_1', type: 'future_thing', ...base, x: 1 }]);
    expect(error).toBeInstanceOf(HermError);
    expect(stream.controller.signal.aborted).toBe(true);
  });
});

describe('events.stream connecting', () => {
  it('resolves only once the server has accepted the stream, so nothing sent afterwards is missed', async () => {
    let sse: ((event: SseEvent) => void) | undefined;
    server = await startScriptedServer(async (request, response) => {
      if (request.pathname.endsWith('/events')) {
        await delay(150);
        sse = openSse(response, { 'herm-stream-position': 'evt_0' });
        return;
      }
      sendJson(response, 202, { run_id: 'run_1', deployment_id: 'dep_1', thread_id: 'thr_1', status: 'running' });
      sse?.(token('evt_1', 'Here you go'));
      sse?.(runStatus('evt_2', 'completed'));
    });
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    const startedAt = performance.now();
    const stream = await herm.deployments.events.stream('dep_1');
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(140);
    expect(sse).toBeDefined();
    expect(stream.lastEventId).toBe('evt_0');

    const run = await herm.deployments.messages.send('dep_1', { content: 'hi' });
    const events = await collect(stream, (event) => event.type === 'run_status');
    expect(events.map((event) => event.id)).toEqual(['evt_1', 'evt_2']);
    expect(events.every((event) => event.run_id === run.run_id)).toBe(true);
  });

  it('throws the typed error when the server refuses the connection', async () => {
    server = await eventsServer([(_request, response) => sendError(response, 404, 'not_found', { requestId: 'req_404' })]);
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    const error = await herm.deployments.events.stream('dep_missing').catch((error: unknown) => error);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as NotFoundError).request_id).toBe('req_404');
    expect(server.requests).toHaveLength(1);
  });

  it('retries the first connection like any request', async () => {
    server = await eventsServer([
      (_request, response) => sendError(response, 503, 'server_error', { headers: { 'retry-after-ms': '5' } }),
      (_request, response) => openSse(response)(token('evt_1', 'ok')),
    ]);
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    const stream = await herm.deployments.events.stream('dep_1');
    expect(await collect(stream, () => true)).toHaveLength(1);
    expect(server.requests).toHaveLength(2);
  });

  it('sends last_event_id as Last-Event-ID on the first connection', async () => {
    server = await eventsServer([(_request, response) => openSse(response)(token('evt_8', 'replayed'))]);
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    const stream = await herm.deployments.events.stream('dep_1', { last_event_id: 'evt_7' });
    await collect(stream, () => true);
    expect(server.requests[0]?.headers['last-event-id']).toBe('evt_7');
  });
});

describe('events.stream reconnecting', () => {
  it('resumes after a mid-stream drop from the last event, with no gap and no duplicate', async () => {
    server = await eventsServer([
      async (_request, response) => {
        openSse(response, { 'herm-stream-position': 'evt_0' });
        response.write('retry: 10\n\n');
        response.write(formatSse(token('evt_1', 'one ')));
        response.write(formatSse(token('evt_2', 'two ')));
        // Half of evt_3, then the connection dies: evt_3 must not be yielded from this connection.
        response.write('event: token\nid: evt_3\ndata: {"run_id":"run_1","thread_id":"thr_1","delta":"thr');
        await delay(20);
        response.socket?.destroy();
      },
      (_request, response) => {
        const send = openSse(response, { 'herm-stream-position': 'evt_2' });
        // A server replaying one event too many must not cause a duplicate.
        send(token('evt_2', 'two '));
        send(token('evt_3', 'three '));
        send(token('evt_4', 'four'));
        send(runStatus('evt_5', 'completed'));
      },
    ]);
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    const stream = await herm.deployments.events.stream('dep_1', { thread_id: 'thr_1' });
    const events = await collect(stream, (event) => event.type === 'run_status');

    expect(events.map((event) => event.id)).toEqual(['evt_1', 'evt_2', 'evt_3', 'evt_4', 'evt_5']);
    expect(events.map((event) => (event.type === 'token' ? event.delta : '')).join('')).toBe('one two three four');
    expect(server.requests).toHaveLength(2);
    expect(server.requests[0]?.headers['last-event-id']).toBeUndefined();
    expect(server.requests[1]?.headers['last-event-id']).toBe('evt_2');
    expect(server.requests[1]?.query.get('thread_id')).toBe('thr_1');
  });

  it('resumes from herm-stream-position when no event arrived before the server closed', async () => {
    server = await eventsServer([
      (_request, response) => {
        openSse(response, { 'herm-stream-position': 'evt_41' });
        response.write('retry: 10\n\n: heartbeat\n\n');
        response.end();
      },
      (_request, response) => openSse(response, { 'herm-stream-position': 'evt_41' })(token('evt_42', 'after')),
    ]);
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    const stream = await herm.deployments.events.stream('dep_1');
    const events = await collect(stream, () => true);
    expect(events.map((event) => event.id)).toEqual(['evt_42']);
    expect(server.requests[1]?.headers['last-event-id']).toBe('evt_41');
  });

  it('keeps retrying through 5xx and refused reconnections, backing off', async () => {
    server = await eventsServer([
      (_request, response) => {
        const send = openSse(response);
        response.write('retry: 5\n\n');
        send(token('evt_1', 'a'));
        response.end();
      },
      (_request, response) => sendError(response, 503, 'server_error'),
      (_request, response) => response.socket?.destroy(),
      (_request, response) => openSse(response)(token('evt_2', 'b')),
    ]);
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    const stream = await herm.deployments.events.stream('dep_1');
    const events = await collect(stream, (_event, all) => all.length === 2);
    expect(events.map((event) => event.id)).toEqual(['evt_1', 'evt_2']);
    expect(server.requests.map((request) => request.headers['last-event-id'])).toEqual([
      undefined,
      'evt_1',
      'evt_1',
      'evt_1',
    ]);
  });

  it('throws a 4xx met while reconnecting', async () => {
    server = await eventsServer([
      (_request, response) => {
        openSse(response)(token('evt_1', 'a'));
        response.write('retry: 5\n\n');
        response.end();
      },
      (_request, response) => sendError(response, 401, 'unauthorized', { requestId: 'req_revoked' }),
    ]);
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    const stream = await herm.deployments.events.stream('dep_1');
    const events: HermEvent[] = [];
    const error = await (async () => {
      for await (const event of stream) events.push(event);
    })().catch((error: unknown) => error);
    expect(events).toHaveLength(1);
    expect(error).toBeInstanceOf(AuthenticationError);
    expect((error as AuthenticationError).request_id).toBe('req_revoked');
    expect(server.requests).toHaveLength(2);
  });

  it('gives up after maxReconnectAttempts failed attempts in a row', async () => {
    server = await eventsServer([
      (_request, response) => {
        openSse(response)(token('evt_1', 'a'));
        response.write('retry: 5\n\n');
        response.end();
      },
      (_request, response) => sendError(response, 500, 'server_error'),
      (_request, response) => sendError(response, 500, 'server_error'),
      (_request, response) => sendError(response, 500, 'server_error'),
      (_request, response) => openSse(response)(token('evt_2', 'too late')),
    ]);
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    const stream = await herm.deployments.events.stream('dep_1', {}, { maxReconnectAttempts: 2 });
    const error = await collect(stream).catch((error: unknown) => error);
    expect(error).toMatchObject({ status: 500, type: 'server_error' });
    expect(server.requests).toHaveLength(4);
  });

  it('ends when a reconnection answers 204 No Content', async () => {
    server = await eventsServer([
      (_request, response) => {
        openSse(response)(token('evt_1', 'a'));
        response.write('retry: 5\n\n');
        response.end();
      },
    ]);
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    const events = await collect(await herm.deployments.events.stream('dep_1'));
    expect(events.map((event) => event.id)).toEqual(['evt_1']);
    expect(server.requests).toHaveLength(2);
  });

  it('reports a connection that cannot be re-established as APIConnectionError', async () => {
    let origin = '';
    server = await eventsServer([
      (_request, response) => {
        openSse(response)(token('evt_1', 'a'));
        response.write('retry: 5\n\n');
        setTimeout(() => void server?.close(), 10);
      },
    ]);
    origin = server.origin;
    const herm = new Herm({ apiKey: 'k', baseURL: origin });
    const stream = await herm.deployments.events.stream('dep_1', {}, { maxReconnectAttempts: 2 });
    const events: HermEvent[] = [];
    const error = await (async () => {
      for await (const event of stream) events.push(event);
    })().catch((error: unknown) => error);
    expect(events).toHaveLength(1);
    expect(error).toBeInstanceOf(APIConnectionError);
  });
});

describe('events.stream closing', () => {
  it('abort() ends the loop quietly and closes the connection', async () => {
    let closed = false;
    server = await eventsServer([
      (_request, response) => {
        response.on('close', () => {
          closed = true;
        });
        openSse(response)(token('evt_1', 'a'));
      },
    ]);
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    const stream = await herm.deployments.events.stream('dep_1');
    setTimeout(() => stream.abort(), 50);
    const events = await collect(stream);
    expect(events).toHaveLength(1);
    await waitFor(() => closed);
    expect(server.requests).toHaveLength(1);
  });

  it('breaking out of the loop closes the connection', async () => {
    let closed = false;
    server = await eventsServer([
      (_request, response) => {
        response.on('close', () => {
          closed = true;
        });
        const send = openSse(response);
        send(token('evt_1', 'a'));
        send(token('evt_2', 'b'));
      },
    ]);
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    const stream = await herm.deployments.events.stream('dep_1');
    for await (const event of stream) {
      if (event.id === 'evt_1') break;
    }
    await waitFor(() => closed);
    expect(stream.controller.signal.aborted).toBe(true);
  });

  it('stops when the caller signal aborts, even while waiting to reconnect', async () => {
    server = await eventsServer([
      (_request, response) => {
        openSse(response)(token('evt_1', 'a'));
        response.write('retry: 60000\n\n');
        response.end();
      },
    ]);
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    const controller = new AbortController();
    const stream = await herm.deployments.events.stream('dep_1', { signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    const startedAt = performance.now();
    const events = await collect(stream);
    expect(events).toHaveLength(1);
    expect(performance.now() - startedAt).toBeLessThan(5_000);
    expect(server.requests).toHaveLength(1);
  });

  it('can be iterated only once', async () => {
    server = await eventsServer([(_request, response) => void openSse(response)]);
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    const stream = await herm.deployments.events.stream('dep_1');
    stream[Symbol.asyncIterator]();
    expect(() => stream[Symbol.asyncIterator]()).toThrow(HermError);
    stream.abort();
  });
});
