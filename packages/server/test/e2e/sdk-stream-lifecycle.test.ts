// The SDK's event stream against a real server: leaving a `for await` closes the connection (the server's
// event hub loses the subscriber), stream() resolves only once the server has subscribed it (so a message
// sent right after is never missed), untilRunComplete / sendAndStream end after the run and close the
// stream, and the API version check (the `herm-api-version` header every response carries).
import Herm, { API_VERSION, HermError } from 'herm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/test-server.ts';

let herm: TestServer;
let client: Herm;
/** Subscribers of each deployment the server's event hub holds now. */
const subscribers = new Map<string, number>();

beforeAll(async () => {
  herm = await startTestServer();
  client = new Herm({ apiKey: herm.adminKey, baseURL: herm.url });
  const hub = herm.server.services.hub;
  const subscribe = hub.subscribe.bind(hub);
  hub.subscribe = (deploymentId, subscriber) => {
    subscribers.set(deploymentId, (subscribers.get(deploymentId) ?? 0) + 1);
    const unsubscribe = subscribe(deploymentId, subscriber);
    let done = false;
    return () => {
      if (!done) subscribers.set(deploymentId, subscribers.get(deploymentId)! - 1);
      done = true;
      unsubscribe();
    };
  };
});

afterAll(async () => {
  await herm?.close();
});

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function readyDeployment(): Promise<string> {
  const deployment = await client.deployments.create({ customer_id: 'cus_stream', name: 'Stream', system_prompt: 'p' });
  while ((await client.deployments.get(deployment.deployment_id)).status === 'provisioning') {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return deployment.deployment_id;
}

it('stream() resolves with the server subscribed, and leaving a for await loop closes the connection', async () => {
  const deploymentId = await readyDeployment();
  const stream = await client.deployments.events.stream(deploymentId);
  // Subscribed by the time stream() resolved: nothing sent after it can be missed.
  expect(subscribers.get(deploymentId)).toBe(1);
  herm.model.enqueue({ text: ['a ', 'b ', 'c ', 'd'], delayMs: 50 });
  const run = await client.deployments.messages.send(deploymentId, { content: 'go' });
  const seen: string[] = [];
  for await (const event of stream) {
    seen.push(event.type);
    if (event.type === 'token') break; // mid-run
  }
  expect(seen.at(-1)).toBe('token');
  await until(() => subscribers.get(deploymentId) === 0, 'the server to see the client go');
  expect(stream.controller.signal.aborted).toBe(true);
  // The run goes on without the stream; a new stream can replay it from where the first one stopped.
  const resumed = await client.deployments.events.stream(deploymentId, { last_event_id: stream.lastEventId });
  const rest: string[] = [];
  for await (const event of resumed.untilRunComplete(run.run_id)) rest.push(event.type);
  expect(rest.at(-1)).toBe('run_status');
  await until(() => subscribers.get(deploymentId) === 0, 'untilRunComplete to close the stream');
});

it('sendAndStream yields one run from its first event to its final status and closes the stream', async () => {
  const deploymentId = await readyDeployment();
  herm.model.enqueue({ text: ['one ', 'two'] });
  const run = await client.deployments.messages.sendAndStream(deploymentId, { content: 'count' });
  expect(run.run.status).toBe('running');
  const events = [];
  for await (const event of run) events.push(event);
  expect(events.every((event) => event.run_id === run.run.run_id)).toBe(true);
  expect(events.filter((event) => event.type === 'token').map((event) => event.type === 'token' && event.delta).join('')).toBe('one two');
  const last = events.at(-1)!;
  expect(last.type === 'run_status' && last.status).toBe('completed');
  expect(run.stream.controller.signal.aborted).toBe(true);
  await until(() => subscribers.get(deploymentId) === 0, 'the stream to close');
});

it('every response says the API version; the SDK refuses a server of another major version, saying what to do', async () => {
  const response = await fetch(`${herm.url}/v1/deployments`, { headers: { Authorization: `Bearer ${herm.adminKey}` } });
  expect(response.headers.get('herm-api-version')).toBe(API_VERSION);

  const [major, minor] = API_VERSION.split('.').map(Number) as [number, number];
  const newer = major === 0 ? `0.${minor + 1}.0` : `${major + 1}.0.0`;
  const lying = new Herm({
    apiKey: herm.adminKey,
    baseURL: herm.url,
    maxRetries: 0,
    fetch: async (input, init) => {
      const real = await fetch(input, init);
      const headers = new Headers(real.headers);
      headers.set('herm-api-version', newer);
      return new Response(real.body, { status: real.status, headers });
    },
  });
  const error = await lying.deployments.list().catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(HermError);
  expect((error as Error).message).toContain(`speaks API version ${newer}`);
  expect((error as Error).message).toContain(`speaks API version ${API_VERSION}`);
  expect((error as Error).message).toContain('Upgrade the SDK');
});
