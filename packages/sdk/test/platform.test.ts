// What keeps the SDK's core portable (Node 18, Deno, browsers, edge runtimes), the API version check, and
// untilRunComplete over a stream that carries several runs.
import Herm, { API_VERSION, HermError, VERSION, type HermEvent } from 'herm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readEnv } from '../src/internal/env.ts';
import { anySignal, randomUUID } from '../src/internal/platform.ts';
import { apiVersionMismatch } from '../src/version.ts';

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('runtimes without Node globals or newer web APIs', () => {
  it('reads no environment where there is no process (browsers, edge runtimes)', () => {
    vi.stubGlobal('process', undefined);
    expect(readEnv('PRISM_API_KEY')).toBeUndefined();
  });

  it('reads no environment where reading it throws (Deno without --allow-env)', () => {
    vi.stubGlobal('process', {
      env: new Proxy({}, { get: () => { throw new Error('PermissionDenied'); } }),
    });
    expect(readEnv('PRISM_API_KEY')).toBeUndefined();
  });

  it('combines abort signals without AbortSignal.any (Node 18)', () => {
    const abortedBefore = AbortSignal.abort('before');
    vi.stubGlobal('AbortSignal', { any: undefined }); // only anySignal's feature test reads it
    const first = new AbortController();
    const second = new AbortController();
    const combined = anySignal([first.signal, second.signal]);
    expect(combined.aborted).toBe(false);
    second.abort('why');
    expect(combined.aborted).toBe(true);
    expect(combined.reason).toBe('why');
    const already = anySignal([abortedBefore]);
    expect(already.aborted).toBe(true);
  });

  it('makes UUIDs without a global crypto (Node 18)', () => {
    vi.stubGlobal('crypto', undefined);
    const ids = new Set(Array.from({ length: 100 }, () => randomUUID()));
    expect(ids.size).toBe(100);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('API version', () => {
  it('accepts the same version, a patch or minor difference within a major, and a server that does not say', () => {
    expect(apiVersionMismatch(API_VERSION)).toBeUndefined();
    expect(apiVersionMismatch(null)).toBeUndefined();
    expect(apiVersionMismatch('garbage')).toBeUndefined();
    const [major, minor] = API_VERSION.split('.').map(Number) as [number, number];
    expect(apiVersionMismatch(`${major}.${minor}.99`)).toBeUndefined();
  });

  it('refuses another major version (another minor while 0.x), naming both versions and what to upgrade', () => {
    const [major, minor] = API_VERSION.split('.').map(Number) as [number, number];
    const newer = major === 0 ? `0.${minor + 1}.0` : `${major + 1}.0.0`;
    const message = apiVersionMismatch(newer)!;
    expect(message).toContain(`This Herm server speaks API version ${newer}`);
    expect(message).toContain(`this SDK (herm ${VERSION}) speaks API version ${API_VERSION}`);
    expect(message).toContain('Upgrade the SDK');
    expect(apiVersionMismatch(`${major + 1}.0.0`)).toContain('Upgrade the SDK');
    if (major > 0 || minor > 0) expect(apiVersionMismatch('0.0.1')).toContain('Upgrade the server');
  });

  it('throws the mismatch as a HermError from any request, without retrying', async () => {
    let calls = 0;
    const herm = new Herm({
      apiKey: 'k',
      baseURL: 'http://herm.test',
      fetch: async () => {
        calls++;
        return new Response('{"data":[],"next_cursor":null}', { headers: { 'herm-api-version': '99.0.0' } });
      },
    });
    const error = await herm.deployments.get('dep_1').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(HermError);
    expect((error as Error).message).toMatch(/speaks API version 99\.0\.0.*not compatible/);
    expect(calls).toBe(1);
  });
});

describe('untilRunComplete', () => {
  function sse(events: { id: string; type: string; data: Record<string, unknown> }[]): string {
    return events.map((event) => `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`).join('');
  }

  it("yields only that run's events and ends after its final status, closing the connection", async () => {
    let cancelled = false;
    const body = sse([
      { id: 'evt_1', type: 'token', data: { run_id: 'run_other', delta: 'x' } },
      { id: 'evt_2', type: 'token', data: { run_id: 'run_1', delta: 'Hel' } },
      { id: 'evt_3', type: 'run_status', data: { run_id: 'run_other', status: 'completed' } },
      { id: 'evt_4', type: 'run_status', data: { run_id: 'run_1', status: 'running' } },
      { id: 'evt_5', type: 'token', data: { run_id: 'run_1', delta: 'lo' } },
      { id: 'evt_6', type: 'run_status', data: { run_id: 'run_1', status: 'completed' } },
      { id: 'evt_7', type: 'token', data: { run_id: 'run_2', delta: 'later' } },
    ]);
    const herm = new Herm({
      apiKey: 'k',
      baseURL: 'http://herm.test',
      fetch: async () =>
        new Response(
          new ReadableStream({
            start(controller) {
              controller.enqueue(new TextEncoder().encode(body)); // and the stream stays open, like a live one
            },
            cancel() {
              cancelled = true;
            },
          }),
          { headers: { 'content-type': 'text/event-stream' } },
        ),
    });
    const stream = await herm.deployments.events.stream('dep_1');
    const seen: HermEvent[] = [];
    for await (const event of stream.untilRunComplete('run_1')) seen.push(event);
    expect(seen.map((event) => event.id)).toEqual(['evt_2', 'evt_4', 'evt_5', 'evt_6']);
    expect(stream.controller.signal.aborted).toBe(true);
    expect(cancelled).toBe(true);
  });
});
