// The server's own requests to URLs a tenant gives (outboundFetch): internal addresses refused after
// resolution unless the policy allows them, the connection pinned to the checked address, redirects
// followed by hand and re-checked, a deadline and a size limit — and one message for every way a host
// does not answer. Real loopback servers and sockets; only name resolution is injected where a test needs
// a name to point somewhere particular.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutboundFetchError, outboundFetch, unreachableMessage, type OutboundLookup, type OutboundPolicy } from '../../src/net/outbound-fetch.ts';
import { fetchSkill, SkillParseError } from '../../src/skills/parse-skill.ts';
import { closedLoopbackPort } from '../support/loopback-server.ts';

interface Recorded {
  server: Server;
  port: number;
  base: string;
  requests: IncomingMessage[];
}

async function listen(handler: (request: IncomingMessage, response: import('node:http').ServerResponse, self: Recorded) => void, address = '127.0.0.1', port = 0): Promise<Recorded> {
  const recorded = { requests: [] as IncomingMessage[] } as Recorded;
  recorded.server = createServer((request, response) => {
    recorded.requests.push(request);
    handler(request, response, recorded);
  });
  await new Promise<void>((resolve, reject) => {
    recorded.server.once('error', reject);
    recorded.server.listen(port, address, resolve);
  });
  recorded.port = (recorded.server.address() as AddressInfo).port;
  recorded.base = `http://${address}:${recorded.port}`;
  return recorded;
}

const SKILL = '---\nname: effects\ndescription: Visual effects\n---\n# Effects\n';

let main: Recorded;
let other: Recorded;
let silent: Recorded;
let closedPort: number;

beforeAll(async () => {
  main = await listen((request, response, self) => {
    const url = new URL(request.url ?? '/', 'http://x');
    const to = url.searchParams.get('to');
    if (url.pathname === '/skill') response.end(SKILL);
    else if (url.pathname === '/redirect' && to) {
      response.writeHead(Number(url.searchParams.get('status') ?? 302), { location: to });
      response.end();
    } else if (url.pathname === '/loop') {
      const hop = Number(url.searchParams.get('n') ?? 0);
      response.writeHead(302, { location: `/loop?n=${hop + 1}` });
      response.end(`hop ${hop}`);
    } else if (url.pathname === '/big') {
      response.end('x'.repeat(5000));
    } else if (url.pathname === '/big-chunked') {
      response.write('x'.repeat(3000));
      response.end('x'.repeat(3000));
    } else if (url.pathname === '/echo') {
      let body = '';
      request.setEncoding('utf8');
      request.on('data', (chunk: string) => (body += chunk));
      request.on('end', () => response.end(JSON.stringify({ method: request.method, host: request.headers.host, authorization: request.headers.authorization ?? null, body, port: self.port })));
    } else {
      response.statusCode = 404;
      response.end('missing');
    }
  });
  other = await listen((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => response.end(JSON.stringify({ method: request.method, authorization: request.headers.authorization ?? null, body })));
  });
  // Accepts connections and never answers.
  silent = await listen(() => {});
  closedPort = await closedLoopbackPort();
});

afterAll(async () => {
  for (const server of [main, other, silent]) {
    server?.server.closeAllConnections();
    await new Promise((resolve) => server?.server.close(resolve));
  }
});

/** The policy of a server that refuses private URLs, with one loopback port opened as if it were public. */
const onlyMain = (extra: Partial<OutboundPolicy> = {}): OutboundPolicy => ({ allowInternal: (address, port) => address === '127.0.0.1' && port === main.port, ...extra });

/** What outboundFetch threw, with the URL it names replaced: the rest must not differ between causes. */
async function failureOf(url: string, policy: OutboundPolicy, options: { timeoutMs?: number; maxBytes?: number } = {}): Promise<{ failure: string; message: string }> {
  try {
    await outboundFetch({ url, policy, ...options });
  } catch (error) {
    expect(error).toBeInstanceOf(OutboundFetchError);
    return { failure: (error as OutboundFetchError).failure, message: (error as Error).message.replace(url, '<url>') };
  }
  throw new Error(`${url} was fetched`);
}

const UNREACHABLE = { failure: 'unreachable', message: unreachableMessage('<url>') };

describe('outboundFetch', () => {
  it('refuses loopback, private and link-local addresses by default, by literal or by name, without connecting', async () => {
    const before = main.requests.length;
    const injected: OutboundLookup = async (hostname) => {
      if (hostname === 'loopback.test') return [{ address: '127.0.0.1', family: 4 }];
      if (hostname === 'mixed.test') return [{ address: '10.0.0.7', family: 4 }, { address: '::1', family: 6 }];
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    };
    for (const url of [
      `${main.base}/skill`,
      `http://localhost:${main.port}/skill`, // the system resolver
      `http://loopback.test:${main.port}/skill`,
      `http://mixed.test:${main.port}/skill`,
      `http://[::1]:${main.port}/skill`,
      `http://[::ffff:127.0.0.1]:${main.port}/skill`,
      `http://0x7f000001:${main.port}/skill`, // the URL parser reads it as 127.0.0.1
      'http://169.254.169.254/latest/meta-data',
      'http://10.1.2.3:5432/',
      'https://192.168.0.1/',
    ]) {
      expect(await failureOf(url, { lookup: injected }), url).toEqual(UNREACHABLE);
    }
    expect(main.requests.length).toBe(before);
  });

  it('says the same for a closed port, a host that never answers and a name that does not resolve', async () => {
    const allowPrivate: OutboundPolicy = { allowPrivate: true };
    expect(await failureOf(`http://127.0.0.1:${closedPort}/`, allowPrivate)).toEqual(UNREACHABLE);
    expect(await failureOf(`${silent.base}/`, allowPrivate, { timeoutMs: 300 })).toEqual(UNREACHABLE);
    const nowhere: OutboundLookup = async (hostname) => {
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    };
    expect(await failureOf('http://nowhere.test/', { lookup: nowhere })).toEqual(UNREACHABLE);
    // A refused address (above) and a closed port are one message: the caller cannot scan ports with it.
    expect(await failureOf(`http://127.0.0.1:${closedPort}/`, {})).toEqual(UNREACHABLE);
  });

  it('reaches internal addresses when the operator allows them', async () => {
    const response = await outboundFetch({ url: `http://localhost:${main.port}/echo`, policy: { allowPrivate: true } });
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body.toString())).toMatchObject({ method: 'GET', host: `localhost:${main.port}` });
    const missing = await outboundFetch({ url: `${main.base}/nothing`, policy: onlyMain() });
    expect(missing.status).toBe(404);
  });

  it('connects to the address it checked: a name rebound after the check is never connected to', async () => {
    // swap.test: 127.0.0.1 (allowed) on the first lookup, 127.0.0.2 (refused, where a server listens on
    // the same port) on every later one. A client that resolved again to connect would reach the latter.
    const rebound = await listen((_request, response) => response.end('rebound server'), '127.0.0.2', main.port);
    let lookups = 0;
    const lookup: OutboundLookup = async () => [{ address: ++lookups === 1 ? '127.0.0.1' : '127.0.0.2', family: 4 }];
    try {
      const response = await outboundFetch({ url: `http://swap.test:${main.port}/echo`, policy: onlyMain({ lookup }) });
      expect(JSON.parse(response.body.toString())).toMatchObject({ host: `swap.test:${main.port}`, port: main.port });
      expect(lookups).toBe(1);
      expect(await failureOf(`http://swap.test:${main.port}/echo`, onlyMain({ lookup }))).toEqual(UNREACHABLE);
      expect(rebound.requests).toHaveLength(0);
    } finally {
      await new Promise((resolve) => rebound.server.close(resolve));
    }
  });

  it('re-checks every redirect: one from an allowed host to loopback is refused like any other', async () => {
    const injected: OutboundLookup = async (hostname) => {
      if (hostname === 'inside.test') return [{ address: '127.0.0.1', family: 4 }];
      throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
    };
    const before = other.requests.length;
    for (const target of [`http://127.0.0.1:${other.port}/`, `http://localhost:${other.port}/`, `http://inside.test:${other.port}/`, 'http://169.254.169.254/latest/meta-data']) {
      const url = `${main.base}/redirect?to=${encodeURIComponent(target)}`;
      expect(await failureOf(url, onlyMain({ lookup: injected })), target).toEqual(UNREACHABLE);
    }
    expect(other.requests.length).toBe(before);
    // Allowed hops are followed (a relative Location too).
    const followed = await outboundFetch({ url: `${main.base}/redirect?to=${encodeURIComponent('/skill')}`, policy: onlyMain() });
    expect(followed).toMatchObject({ status: 200, url: `${main.base}/skill` });
    expect(followed.body.toString()).toBe(SKILL);
  });

  it('follows at most 5 redirects, only to http(s), and can return a redirect as it is', async () => {
    expect(await failureOf(`${main.base}/loop`, onlyMain())).toEqual({ failure: 'redirect', message: 'could not fetch <url>: more than 5 redirects' });
    const fileRedirect = await failureOf(`${main.base}/redirect?to=${encodeURIComponent('file:///etc/passwd')}`, onlyMain());
    expect(fileRedirect.failure).toBe('redirect');
    expect(fileRedirect.message).toContain('not an http(s) URL');
    const asIs = await outboundFetch({ url: `${main.base}/loop`, policy: onlyMain(), maxRedirects: 0 });
    expect(asIs.status).toBe(302);
    expect(asIs.headers.location).toBe('/loop?n=1');
    const five = await outboundFetch({ url: `${main.base}/loop`, policy: onlyMain(), maxRedirects: 5 }).catch((error: Error) => error);
    expect(five).toBeInstanceOf(OutboundFetchError);
  });

  it('turns a POST into a GET on 303 and drops credentials when a redirect leaves the origin', async () => {
    const policy: OutboundPolicy = { allowInternal: (address, port) => address === '127.0.0.1' && (port === main.port || port === other.port) };
    const to = encodeURIComponent(`http://127.0.0.1:${other.port}/hook`);
    const seeOther = await outboundFetch({ url: `${main.base}/redirect?status=303&to=${to}`, policy, method: 'POST', body: 'payload', headers: { Authorization: 'Bearer secret', 'content-type': 'text/plain' } });
    expect(JSON.parse(seeOther.body.toString())).toEqual({ method: 'GET', authorization: null, body: '' });
    const temporary = await outboundFetch({ url: `${main.base}/redirect?status=307&to=${to}`, policy, method: 'POST', body: 'payload', headers: { authorization: 'Bearer secret' } });
    expect(JSON.parse(temporary.body.toString())).toEqual({ method: 'POST', authorization: null, body: 'payload' });
    const sameOrigin = await outboundFetch({ url: `${main.base}/redirect?status=307&to=${encodeURIComponent('/echo')}`, policy, method: 'POST', body: 'b', headers: { authorization: 'Bearer secret' } });
    expect(JSON.parse(sameOrigin.body.toString())).toMatchObject({ method: 'POST', authorization: 'Bearer secret', body: 'b' });
  });

  it('stops at the size limit, declared or not', async () => {
    for (const path of ['/big', '/big-chunked']) {
      const failure = await failureOf(`${main.base}${path}`, onlyMain(), { maxBytes: 4096 });
      expect(failure, path).toEqual({ failure: 'too_large', message: 'could not fetch <url>: the response is larger than 4096 bytes' });
    }
  });
});

describe('fetchSkill', () => {
  it('fetches and parses a SKILL.md the policy allows, and refuses the rest with one message', async () => {
    await expect(fetchSkill(`${main.base}/skill`, onlyMain())).resolves.toMatchObject({ parsed: { name: 'effects', description: 'Visual effects' }, content: expect.stringContaining('# Effects') });
    await expect(fetchSkill(`${main.base}/skill`, {})).rejects.toThrow(new SkillParseError(unreachableMessage(`${main.base}/skill`)));
    await expect(fetchSkill(`${main.base}/nothing`, onlyMain())).rejects.toThrow(`fetching ${main.base}/nothing returned HTTP 404`);
    await expect(fetchSkill(`${main.base}/big`, onlyMain(), { maxBytes: 1000 })).rejects.toThrow('larger than 1000 bytes');
  });
});
