import { afterEach, describe, expect, it } from 'vitest';
import Herm, { CursorPage, HermError, type Deployment } from 'herm';
import { sendJson, startScriptedServer, type ScriptedServer } from './helpers/scripted-server.ts';

let server: ScriptedServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

const pages: Record<string, { ids: string[]; next_cursor: string | null }> = {
  start: { ids: ['dep_1', 'dep_2', 'dep_3'], next_cursor: 'cur_2' },
  cur_2: { ids: ['dep_4', 'dep_5', 'dep_6'], next_cursor: 'cur_3' },
  cur_3: { ids: ['dep_7'], next_cursor: null },
};

async function threePageServer(): Promise<ScriptedServer> {
  return startScriptedServer((request, response) => {
    const page = pages[request.query.get('cursor') ?? 'start'];
    if (!page) return sendJson(response, 400, { error: { type: 'validation_error', message: 'bad cursor' } });
    sendJson(response, 200, {
      data: page.ids.map((deployment_id) => ({ deployment_id, status: 'ready' })),
      next_cursor: page.next_cursor,
    });
  });
}

describe('pagination', () => {
  it('awaits to the first page as { data, next_cursor }', async () => {
    server = await threePageServer();
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    const { data, next_cursor } = await herm.deployments.list({ customer_id: 'cus_1', limit: 3 });
    expect(data.map((deployment) => deployment.deployment_id)).toEqual(['dep_1', 'dep_2', 'dep_3']);
    expect(next_cursor).toBe('cur_2');
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]?.query.get('customer_id')).toBe('cus_1');
    expect(server.requests[0]?.query.get('limit')).toBe('3');
    expect(server.requests[0]?.query.has('cursor')).toBe(false);
  });

  it('iterates every item across three pages, keeping the filters', async () => {
    server = await threePageServer();
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    const ids: string[] = [];
    for await (const deployment of herm.deployments.list({ status: 'ready', limit: 3 })) ids.push(deployment.deployment_id);
    expect(ids).toEqual(['dep_1', 'dep_2', 'dep_3', 'dep_4', 'dep_5', 'dep_6', 'dep_7']);
    expect(server.requests.map((request) => request.query.get('cursor'))).toEqual([null, 'cur_2', 'cur_3']);
    for (const request of server.requests) {
      expect(request.query.get('status')).toBe('ready');
      expect(request.query.get('limit')).toBe('3');
    }
  });

  it('walks pages by hand and stops at the last one', async () => {
    server = await threePageServer();
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    let page: CursorPage<Deployment> = await herm.deployments.list();
    const sizes = [page.data.length];
    while (page.hasNextPage()) {
      page = await page.getNextPage();
      sizes.push(page.data.length);
    }
    expect(sizes).toEqual([3, 3, 1]);
    await expect(page.getNextPage()).rejects.toBeInstanceOf(HermError);

    let pageCount = 0;
    for await (const each of (await herm.deployments.list()).iterPages()) pageCount += each.data.length > 0 ? 1 : 0;
    expect(pageCount).toBe(3);
  });

  it('sends nothing until awaited or iterated, and only once', async () => {
    server = await threePageServer();
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    const list = herm.threads.list('dep_1');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(server.requests).toHaveLength(0);
    const first = await list;
    const again = await list;
    expect(again).toBe(first);
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]?.pathname).toBe('/v1/deployments/dep_1/threads');
  });

  it('stops fetching when the loop breaks early', async () => {
    server = await threePageServer();
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    for await (const deployment of herm.deployments.list()) {
      if (deployment.deployment_id === 'dep_2') break;
    }
    expect(server.requests).toHaveLength(1);
  });

  it('rejects the PagePromise with the typed error', async () => {
    server = await startScriptedServer((_request, response) => {
      sendJson(response, 401, { error: { type: 'unauthorized', message: 'Invalid API key.', request_id: 'req_1' } });
    });
    const herm = new Herm({ apiKey: 'k', baseURL: server.origin });
    await expect(herm.secrets.list()).rejects.toMatchObject({ status: 401, type: 'unauthorized', request_id: 'req_1' });
    await expect(herm.secrets.list().catch((error: unknown) => (error as Error).name)).resolves.toBe('AuthenticationError');
  });
});
