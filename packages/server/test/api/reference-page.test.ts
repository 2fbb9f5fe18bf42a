// /v1/docs from a real server: every endpoint with curl, SDK and response examples, every SSE event type, the error
// table and the default model; the OpenAPI document carries the same examples; screenshots in headless Chromium at
// laptop and phone sizes show no horizontal overflow and the long paths in full.
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_TYPES } from '../../src/api/api-error.ts';
import { EVENT_TYPES, OPERATION_EXAMPLES } from '../../src/api/examples.ts';
import { DEFAULT_MODEL } from '../../src/models/index.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const CHROMIUM = process.env.HERM_CHROMIUM ?? '/usr/bin/chromium';
// The spec's event types, steering_resolved (Herm's: a steering request answered, expired or cancelled) and dreaming's.
const SPEC_EVENT_TYPES = [
  'token',
  'tool_call',
  'tool_result',
  'steering_request',
  'steering_resolved',
  'run_status',
  'filesystem',
  'automation_fired',
  'dream_started',
  'dream_completed',
  'dream_rolled_back',
];

let herm: TestServer;
let html: string;
let document: any;

beforeAll(async () => {
  herm = await startTestServer();
  const page = await fetch(`${herm.url}/v1/docs`);
  expect(page.status).toBe(200);
  expect(page.headers.get('content-type')).toContain('text/html');
  html = await page.text();
  document = await (await fetch(`${herm.url}/v1/openapi.json`)).json();
});

afterAll(async () => {
  await herm?.close();
});

function operations(): [string, string, any][] {
  return Object.entries<any>(document.paths).flatMap(([path, item]) => Object.entries<any>(item).map(([method, operation]) => [method, path, operation] as [string, string, any]));
}

function sectionOf(anchor: string): string {
  const start = html.indexOf(`<section class="operation" id="${anchor}">`);
  expect(start, anchor).toBeGreaterThan(-1);
  return html.slice(start, html.indexOf('</section>', start));
}

describe('the OpenAPI document', () => {
  it('carries a curl and an SDK example and an example response on every operation', () => {
    expect(operations().length).toBeGreaterThanOrEqual(25);
    for (const [method, path, operation] of operations()) {
      const what = `${method} ${path}`;
      expect(OPERATION_EXAMPLES[`${method.toUpperCase()} ${path}`], what).toBeDefined();
      const samples = operation['x-codeSamples'];
      expect(samples.map((sample: any) => sample.label), what).toEqual(['curl', 'SDK (TypeScript)']);
      expect(samples[0].source, what).toMatch(/^curl /);
      expect(samples[0].source, what).toContain('Authorization: Bearer $PRISM_API_KEY');
      expect(samples[0].source, what).toContain(herm.url);
      expect(samples[1].source, what).toContain('herm.');
      const [status, response] = Object.entries<any>(operation.responses).find(([code]) => code.startsWith('2'))!;
      const content = Object.values<any>(response.content)[0];
      expect(content.example, `${what} ${status}`).toBeDefined();
      expect(operation.responses['400'].content['application/json'].example.error.errors.length, what).toBeGreaterThan(1);
      const body = operation.requestBody?.content?.['application/json'];
      if (body) expect(body.example, what).toBeDefined();
    }
  });

  it('describes every SSE event type with a payload schema and an example, and the errors and default model', () => {
    const events = document.paths['/v1/deployments/{deployment_id}/events'].get['x-events'];
    expect(events.map((event: any) => event.event)).toEqual(SPEC_EVENT_TYPES);
    for (const event of events) {
      const name = event.schema.$ref.split('/').pop();
      expect(document.components.schemas[name].properties, event.event).toHaveProperty('run_id');
      expect(event.example.run_id, event.event).toMatch(/^run_/);
    }
    expect(document.components.schemas.TokenEvent.properties).toHaveProperty('delta');
    expect(document['x-default-model']).toBe(DEFAULT_MODEL);
    expect(document['x-errors'].map((error: any) => error.type)).toEqual(Object.keys(ERROR_TYPES));
    expect(document['x-errors']).toContainEqual(expect.objectContaining({ status: 405, type: 'method_not_allowed' }));
  });
});

describe('/v1/docs', () => {
  it('shows every endpoint with its curl, SDK and response examples', () => {
    expect(html).not.toContain('<script');
    for (const [method, path] of operations()) {
      const section = sectionOf(`${method}-${path}`.replace(/[^A-Za-z0-9]+/g, '-'));
      expect(section.replaceAll('<wbr>', ''), `${method} ${path}`).toContain(`<code class="path">${path}</code>`);
      expect(section).toContain('<figcaption>curl</figcaption><pre><code>curl ');
      expect(section).toContain("<figcaption>SDK (TypeScript)</figcaption><pre><code>import Herm from 'herm';");
      expect(section).toMatch(/<figcaption>Example response \(2\d\d\)<\/figcaption><pre><code>./);
    }
  });

  it('shows every event type with its payload and example, the error table and the default model', () => {
    for (const { event } of EVENT_TYPES) {
      expect(html).toContain(`<section class="event" id="event-${event}">`);
      expect(html).toContain(`event: ${event}\ndata: {`);
    }
    for (const [type, info] of Object.entries(ERROR_TYPES)) {
      expect(html).toContain(`<td><code>${info.status}</code></td><td><code>${type}</code></td>`);
    }
    expect(html).toContain(`<code id="default-model">${DEFAULT_MODEL}</code>`);
  });

  const chromium = existsSync(CHROMIUM) ? it : it.skip;
  chromium('is readable on a laptop and a phone: no horizontal overflow, long paths in full', { timeout: 60_000 }, async () => {
    const { chromium: launcher } = await import('playwright-core');
    const browser = await launcher.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    const directory = mkdtempSync(join(tmpdir(), 'herm-docs-'));
    try {
      for (const viewport of [
        { name: 'laptop', width: 1366, height: 800 },
        { name: 'phone', width: 390, height: 844 },
      ]) {
        const context = await browser.newContext({ viewport: { width: viewport.width, height: viewport.height }, javaScriptEnabled: false });
        const page = await context.newPage();
        await page.goto(`${herm.url}/v1/docs`);
        const layout = await page.evaluate(`(() => {
          const clipped = (element) => {
            const box = element.getBoundingClientRect();
            if (box.width === 0) return 'hidden';
            if (element.scrollWidth > element.clientWidth + 1 || box.right > innerWidth + 1 || box.left < -1) return 'clipped';
            for (let parent = element.parentElement; parent; parent = parent.parentElement) {
              const style = getComputedStyle(parent);
              if (style.overflowX !== 'visible') {
                const outer = parent.getBoundingClientRect();
                if (box.right > outer.right + 1 || box.left < outer.left - 1) return 'clipped by ' + parent.tagName;
              }
            }
            return 'ok';
          };
          const paths = [...document.querySelectorAll('nav .path, h3 code.path')];
          return {
            scrollWidth: document.documentElement.scrollWidth,
            innerWidth,
            paths: paths.length,
            bad: paths.map((element) => [element.textContent, clipped(element)]).filter(([, state]) => state !== 'ok'),
            longest: paths.map((element) => element.textContent).sort((a, b) => b.length - a.length)[0],
          };
        })()`) as { scrollWidth: number; innerWidth: number; paths: number; bad: string[][]; longest: string };
        expect(layout.scrollWidth, viewport.name).toBeLessThanOrEqual(layout.innerWidth);
        expect(layout.paths, viewport.name).toBeGreaterThanOrEqual(50);
        expect(layout.bad, viewport.name).toEqual([]);
        expect(layout.longest.length).toBe(Math.max(...Object.keys(document.paths).map((path) => path.length)));
        await page.screenshot({ path: join(directory, `docs-${viewport.name}.png`) });
        await page.locator('#post-v1-deployments-deployment-id-runs-run-id-cancel').scrollIntoViewIfNeeded();
        await page.screenshot({ path: join(directory, `docs-${viewport.name}-operation.png`) });
        await page.locator('#errors').scrollIntoViewIfNeeded();
        await page.screenshot({ path: join(directory, `docs-${viewport.name}-errors.png`) });
        await page.locator('#event-tool_result').scrollIntoViewIfNeeded();
        await page.screenshot({ path: join(directory, `docs-${viewport.name}-events.png`) });
        await context.close();
      }
      console.log(`docs screenshots: ${directory}`);
    } finally {
      await browser.close();
    }
  });
});
