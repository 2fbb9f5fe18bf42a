// Send Message attachments: images reach the model natively, media it cannot take arrive as a note with the URL,
// and the thread history keeps them.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openSse } from '../support/sse-client.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

// A 1×1 transparent PNG.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=', 'base64');

let herm: TestServer;
let media: http.Server;
let mediaUrl: string;
/** Paths the media server was asked for. */
const fetched: string[] = [];

beforeAll(async () => {
  herm = await startTestServer();
  media = http.createServer((request, response) => {
    fetched.push(request.url ?? '');
    response.setHeader('content-type', request.url?.endsWith('.png') ? 'image/png' : 'application/octet-stream');
    response.end(PNG);
  });
  await new Promise<void>((resolve) => media.listen(0, '127.0.0.1', resolve));
  mediaUrl = `http://127.0.0.1:${(media.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await herm?.close();
  media?.close();
});

it('sends images to the model natively and keeps attachments in the thread', async () => {
  // Anthropic takes image URLs itself; the AI SDK would otherwise download them, and it refuses loopback
  // addresses (SSRF protection), so this test uses the Anthropic wire format of the scripted model.
  const deployment = await herm.createDeployment({ model: 'anthropic/claude-sonnet-4.5' });
  const stream = await openSse(deployment.events.url, herm.adminKey);
  herm.model.enqueue({ text: 'A tiny image.' });
  const attachments = [
    { type: 'image', url: `${mediaUrl}/cat.png` },
    { type: 'video', url: `${mediaUrl}/clip.mp4` },
  ];
  const sent = await herm.request('POST', `/v1/deployments/${deployment.deployment_id}/messages`, { content: 'What is this?', attachments });
  expect(sent.status).toBe(202);
  await stream.waitFor((event) => event.type === 'run_status' && event.data.status === 'completed');
  const body = herm.model.requests.at(-1)!.body as { messages: { role: string; content: unknown }[] };
  const user = body.messages.findLast((message) => message.role === 'user')!;
  const parts = user.content as { type: string; text?: string; source?: { type: string; url: string } }[];
  expect(parts.find((part) => part.type === 'image')!.source).toEqual({ type: 'url', url: `${mediaUrl}/cat.png` });
  const text = parts.find((part) => part.type === 'text')!.text!;
  expect(text).toContain('What is this?');
  expect(text).toContain(`- video: ${mediaUrl}/clip.mp4`);
  const thread = await herm.request('GET', `/v1/deployments/${deployment.deployment_id}/threads/${deployment.thread_id}`);
  expect(thread.body.messages[0]).toMatchObject({ role: 'user', content: 'What is this?', attachments });
  stream.close();
});

it("downloads an image the model cannot take by URL under the server's outbound policy: never from an internal address", async () => {
  // The OpenAI-compatible provider takes no image URLs: the server downloads them and sends the bytes.
  const deployment = await herm.createDeployment();
  for (const url of [`${mediaUrl}/internal.png`, mediaUrl.replace('127.0.0.1', 'localhost') + '/by-name.png']) {
    fetched.length = 0;
    const run = await herm.sendAndWait(deployment.deployment_id, { content: 'Look.', thread_id: 'new', attachments: [{ type: 'image', url }] });
    expect(run.status).toBe('error');
    expect(run.error.message).toContain(`could not fetch ${url}: the host did not answer`);
    expect(fetched).toEqual([]);
  }

  // The operator allows private URLs: the same image is downloaded and reaches the model as data.
  const open = await startTestServer({ env: { HERM_ALLOW_PRIVATE_URLS: 'true' } });
  try {
    const allowed = await open.createDeployment();
    open.model.enqueue({ text: 'A tiny image.' });
    fetched.length = 0;
    const run = await open.sendAndWait(allowed.deployment_id, { content: 'Look.', attachments: [{ type: 'image', url: `${mediaUrl}/cat.png` }] });
    expect(run.status, JSON.stringify(run.error)).toBe('completed');
    expect(fetched).toEqual(['/cat.png']);
    expect(JSON.stringify(open.model.requests.at(-1)!.body)).toContain(PNG.toString('base64'));
  } finally {
    await open.close();
  }
});
