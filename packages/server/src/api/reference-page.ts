// A self-contained, browsable API reference rendered on the server from the OpenAPI document (with the examples of
// examples.ts): no script, no CDN, so it works offline and without JavaScript, on a laptop and on a phone.

type Json = Record<string, any>;

function escapeHtml(value: unknown): string {
  return String(value ?? '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;');
}

/** Inline `code` of descriptions as <code>; everything else escaped. */
function prose(value: unknown): string {
  return escapeHtml(value).replace(/`([^`]+)`/g, '<code>$1</code>');
}

function schemaRef(schema: Json | undefined): string {
  if (!schema) return '';
  if (schema.$ref) {
    const name = String(schema.$ref).split('/').pop();
    return `<a href="#schema-${escapeHtml(name)}">${escapeHtml(name)}</a>`;
  }
  if (schema.type === 'array') return `${schemaRef(schema.items)}[]`;
  if (schema.enum) return schema.enum.map((value: unknown) => `<code>${escapeHtml(value)}</code>`).join(' | ');
  if (schema.const !== undefined) return `<code>${escapeHtml(JSON.stringify(schema.const))}</code>`;
  if (schema.anyOf || schema.oneOf) return (schema.anyOf ?? schema.oneOf).map(schemaRef).join(' | ');
  if (Array.isArray(schema.type)) return schema.type.map(escapeHtml).join(' | ');
  return escapeHtml(schema.type ?? (schema.properties ? 'object' : 'any'));
}

function table(headings: string[], rows: string[][]): string {
  if (rows.length === 0) return '';
  return (
    `<div class="table"><table><thead><tr>${headings.map((heading) => `<th>${heading}</th>`).join('')}</tr></thead><tbody>` +
    rows.map((cells) => `<tr>${cells.map((cell) => `<td>${cell}</td>`).join('')}</tr>`).join('') +
    '</tbody></table></div>'
  );
}

/** The properties of a schema, those of its allOf parts (refs resolved against the components) included. */
function flatten(schema: Json, components: Json): Json {
  if (!schema.allOf) return schema;
  const parts = (schema.allOf as Json[]).map((part) => flatten(part.$ref ? (components[String(part.$ref).split('/').pop()!] ?? {}) : part, components));
  return {
    properties: Object.assign({}, ...parts.map((part) => part.properties ?? {}), schema.properties ?? {}),
    required: parts.flatMap((part) => part.required ?? []).concat(schema.required ?? []),
  };
}

function schemaSection(name: string, schema: Json, components: Json): string {
  const variants: Json[] | undefined = schema.oneOf ?? schema.anyOf;
  const body = variants
    ? `<p>One of:</p>${variants.map((variant) => propertiesTable(flatten(variant, components)) || `<p>${schemaRef(variant)}</p>`).join('')}`
    : propertiesTable(flatten(schema, components)) || `<p>${schemaRef(schema)}</p>`;
  return `<section id="schema-${escapeHtml(name)}"><h3>${escapeHtml(name)}</h3>${body}</section>`;
}

/** Rows of a schema's properties; an inline object's own properties follow it as `parent.child`. */
function propertyRows(schema: Json, prefix = ''): string[][] {
  const required = new Set<string>(schema.required ?? []);
  return Object.entries<Json>(schema.properties ?? {}).flatMap(([name, property]) => {
    const row = [
      `<code>${escapeHtml(prefix + name)}</code>${required.has(name) ? ' <span class="req">required</span>' : ''}`,
      schemaRef(property),
      prose(property.description ?? ''),
    ];
    const inline = property.type === 'array' && property.items?.properties ? property.items : property.properties ? property : undefined;
    return [row, ...(inline ? propertyRows(inline, `${prefix}${name}${inline === property ? '' : '[]'}.`) : [])];
  });
}

function propertiesTable(schema: Json): string {
  return table(['Field', 'Type', 'Description'], propertyRows(schema));
}

function code(text: string, label: string, className = ''): string {
  return `<figure class="example ${className}"><figcaption>${escapeHtml(label)}</figcaption><pre><code>${escapeHtml(text)}</code></pre></figure>`;
}

function exampleText(example: unknown): string {
  return typeof example === 'string' ? example : JSON.stringify(example, null, 2);
}

/** A path that breaks before its slashes first (<wbr>), then anywhere, so no width cuts it. */
function pathHtml(path: string): string {
  return escapeHtml(path).replaceAll('/', '<wbr>/').replace(/^<wbr>/, '');
}

function anchorOf(method: string, path: string): string {
  return `${method}-${path}`.replace(/[^A-Za-z0-9]+/g, '-');
}

function renderOperation(method: string, path: string, operation: Json): string {
  const anchor = anchorOf(method, path);
  const parameters = table(
    ['Name', 'In', 'Type', 'Description'],
    (operation.parameters ?? []).map((parameter: Json) => [
      `<code>${escapeHtml(parameter.name)}</code>${parameter.required ? ' <span class="req">required</span>' : ''}`,
      escapeHtml(parameter.in),
      schemaRef(parameter.schema),
      prose(parameter.description ?? parameter.schema?.description ?? ''),
    ]),
  );
  const requestContent: Json = operation.requestBody?.content ?? {};
  const bodyType = Object.keys(requestContent)[0];
  const body = bodyType ? requestContent[bodyType]?.schema : undefined;
  const responses = Object.entries<Json>(operation.responses ?? {});
  const success = responses.find(([status]) => status.startsWith('2'));
  const responseList = responses
    .map(([status, response]) => {
      const content: Json = response.content ?? {};
      const type = Object.keys(content)[0];
      const schema = type ? content[type]?.schema : undefined;
      return `<li><code>${escapeHtml(status)}</code> ${escapeHtml(response.description)}${schema?.$ref ? ` (${schemaRef(schema)})` : type && type !== 'application/json' ? ` <code>${escapeHtml(type)}</code>` : ''}</li>`;
    })
    .join('');
  const samples: Json[] = operation['x-codeSamples'] ?? [];
  const successContent: Json = success?.[1].content ?? {};
  const successType = Object.keys(successContent)[0];
  const responseExample = successType ? successContent[successType]?.example : undefined;
  const events: Json[] = operation['x-events'] ?? [];
  return (
    `<section class="operation" id="${anchor}"><h3><span class="method ${escapeHtml(method)}">${escapeHtml(method.toUpperCase())}</span> ` +
    `<code class="path">${pathHtml(path)}</code></h3>` +
    `<p class="summary">${escapeHtml(operation.summary)}</p>${operation.description ? `<p>${prose(operation.description)}</p>` : ''}` +
    (parameters ? `<h4>Parameters</h4>${parameters}` : '') +
    (body ? `<h4>Body</h4><p>${schemaRef(body)}${bodyType === 'application/json' ? '' : ` <code>${escapeHtml(bodyType)}</code>`}</p>` : '') +
    `<h4>Responses</h4><ul>${responseList}</ul>` +
    `<div class="examples">${samples.map((sample) => code(sample.source, sample.label, `sample-${sample.lang}`)).join('')}` +
    (responseExample !== undefined ? code(exampleText(responseExample), `Example response${success ? ` (${success[0]})` : ''}`, 'response') : '') +
    '</div>' +
    (events.length > 0 ? `<p>The event types and their payloads: <a href="#events">Events</a>.</p>` : '') +
    '</section>'
  );
}

function renderEvents(document: Json, events: Json[]): string {
  if (events.length === 0) return '';
  const schemas: Json = document.components?.schemas ?? {};
  return (
    '<h2 id="events">Events (SSE)</h2><p>GET <code class="path">/v1/deployments/{deployment_id}/events</code> streams these event types. ' +
    'Each has an <code>event:</code> line with its type, an <code>id:</code> (resume with <code>Last-Event-ID</code>) and a JSON <code>data:</code> payload.</p>' +
    events
      .map((event) => {
        const name = String(event.schema?.$ref ?? '').split('/').pop() ?? '';
        const schema = schemas[name] ?? {};
        return (
          `<section class="event" id="event-${escapeHtml(event.event)}"><h3><code>${escapeHtml(event.event)}</code></h3><p>${prose(event.description)}</p>` +
          `<h4>Payload <a href="#schema-${escapeHtml(name)}">${escapeHtml(name)}</a></h4>${propertiesTable(schema)}` +
          code(`event: ${event.event}\ndata: ${JSON.stringify(event.example, null, 2)}`, 'Example', 'event-example') +
          '</section>'
        );
      })
      .join('')
  );
}

/** The OpenAPI 3.1 `webhooks`: the signed messages Herm POSTs to webhook endpoints, each with its payload and example. */
function renderWebhooks(document: Json): string {
  const webhooks = Object.entries<Json>(document.webhooks ?? {});
  if (webhooks.length === 0) return '';
  const schemas: Json = document.components?.schemas ?? {};
  return (
    '<h2 id="webhooks">Webhooks</h2><p>Herm POSTs these messages to the endpoints of <code>/v1/webhook_endpoints</code> subscribed to their type, ' +
    'signed the Standard Webhooks way (headers <code>webhook-id</code>, <code>webhook-timestamp</code>, <code>webhook-signature</code>). A 2xx within 15 s acknowledges one; ' +
    'anything else is retried with the same <code>webhook-id</code>.</p>' +
    webhooks
      .map(([type, item]) => {
        const operation: Json = item.post ?? {};
        const content: Json = operation.requestBody?.content?.['application/json'] ?? {};
        const name = String(content.schema?.$ref ?? '').split('/').pop() ?? '';
        return (
          `<section class="event" id="webhook-${escapeHtml(type)}"><h3><code>${escapeHtml(type)}</code></h3><p>${prose(operation.description)}</p>` +
          `<h4>Payload <a href="#schema-${escapeHtml(name)}">${escapeHtml(name)}</a></h4>${propertiesTable(schemas[name] ?? {})}` +
          code(exampleText(content.example), 'Example body', 'event-example') +
          '</section>'
        );
      })
      .join('')
  );
}

function renderErrors(document: Json, errorExample: unknown): string {
  const errors: Json[] = document['x-errors'] ?? [];
  return (
    '<h2 id="errors">Errors</h2><p>Every error is one JSON shape, <code>{"error": {"type", "message", "param", "request_id"}}</code>; ' +
    'a validation error also lists every bad field in <code>errors</code> (the first is <code>param</code> and <code>message</code>). ' +
    'Quote <code>request_id</code> (also the <code>x-request-id</code> header) in bug reports.</p>' +
    table(
      ['Status', 'Type', 'Meaning'],
      errors.map((error) => [`<code>${escapeHtml(error.status)}</code>`, `<code>${escapeHtml(error.type)}</code>`, prose(error.meaning)]),
    ) +
    (errorExample ? code(exampleText(errorExample), 'Example (400)', 'error-example') : '')
  );
}

export function renderReferencePage(document: Json): string {
  const operations: string[] = [];
  const navigation: string[] = [];
  let events: Json[] = [];
  let errorExample: unknown;
  for (const [path, item] of Object.entries<Json>(document.paths ?? {})) {
    for (const [method, operation] of Object.entries<Json>(item)) {
      navigation.push(
        `<li><a href="#${anchorOf(method, path)}" title="${escapeHtml(`${method.toUpperCase()} ${path}`)}"><span class="verb ${escapeHtml(method)}">${escapeHtml(method.toUpperCase())}</span> <span class="path">${pathHtml(path)}</span></a></li>`,
      );
      operations.push(renderOperation(method, path, operation));
      if (operation['x-events']) events = operation['x-events'];
      errorExample ??= operation.responses?.['400']?.content?.['application/json']?.example;
    }
  }
  const schemas = Object.entries<Json>(document.components?.schemas ?? {})
    .map(([name, schema]) => schemaSection(name, schema, document.components?.schemas ?? {}))
    .join('');
  const title = escapeHtml(document.info?.title);
  const origin = escapeHtml(document.servers?.[0]?.url ?? '');
  const defaultModel = escapeHtml(document['x-default-model'] ?? '');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title} reference</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
*{box-sizing:border-box}
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1a1a1a;display:grid;grid-template-columns:320px minmax(0,1fr)}
nav{height:100vh;overflow:auto;position:sticky;top:0;background:#f6f6f8;padding:16px;font-size:13px;border-right:1px solid #e4e4e8}
nav ul{list-style:none;padding:0;margin:0 0 12px}nav li{margin:3px 0}nav a{color:#333;text-decoration:none;display:flex;gap:6px;align-items:baseline}
nav a:hover .path{text-decoration:underline}nav h2{margin:0 0 8px;font-size:18px}nav h3{font-size:12px;text-transform:uppercase;color:#666;margin:14px 0 6px}
.verb{flex:none;width:52px;font-size:11px;font-weight:700}.verb.get{color:#1a8f5a}.verb.post{color:#1f62b8}.verb.put{color:#7a4fc0}.verb.patch{color:#b0701a}.verb.delete{color:#c33}
.path{overflow-wrap:anywhere;word-break:break-word;min-width:0}
main{padding:24px 40px;max-width:1100px;min-width:0}
h1 small{font-weight:400;color:#666;font-size:16px}h3,p,li{overflow-wrap:anywhere}
code{font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,monospace;overflow-wrap:anywhere}
pre{margin:0;padding:10px 12px;background:#f4f5f7;border-radius:0 0 6px 6px;white-space:pre-wrap;overflow-wrap:anywhere;max-height:420px;overflow:auto}
figure.example{margin:10px 0;border:1px solid #e0e2e6;border-radius:6px;min-width:0}
figcaption{font-size:12px;font-weight:600;padding:4px 12px;background:#eceef2;border-radius:6px 6px 0 0;color:#444}
.examples{display:grid;grid-template-columns:minmax(0,1fr);gap:4px}
.table{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;width:100%;margin:8px 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
td{overflow-wrap:anywhere}td code{overflow-wrap:anywhere}th{background:#fafafa}
.method{font-size:12px;padding:2px 6px;border-radius:4px;color:#fff;background:#555;vertical-align:middle}.method.get{background:#1a8f5a}.method.post{background:#1f62b8}
.method.put{background:#7a4fc0}.method.patch{background:#b0701a}.method.delete{background:#c33}
.req{color:#c33;font-size:11px}.summary{font-weight:600}section{border-bottom:1px solid #eee;padding-bottom:12px;scroll-margin-top:8px}
.event h3 code{font-size:18px}.note{background:#f3f8ff;border:1px solid #cfe0f7;border-radius:6px;padding:8px 12px}
@media (max-width:860px){
  body{display:block}
  nav{position:static;height:auto;max-height:none;border-right:0;border-bottom:1px solid #e4e4e8}
  main{padding:16px}
  h1{font-size:24px}
  td,th{padding:4px 5px}td code{font-size:12px}table{font-size:14px}
}
</style></head><body>
<nav aria-label="Contents"><h2>${title}</h2><p><a href="/v1/openapi.json">openapi.json</a> (with the same examples)</p>
<h3>Guide</h3><ul><li><a href="#overview">Overview</a></li><li><a href="#errors">Errors</a></li>${events.length ? '<li><a href="#events">Events (SSE)</a></li>' : ''}${document.webhooks ? '<li><a href="#webhooks">Webhooks</a></li>' : ''}<li><a href="#schemas">Schemas</a></li></ul>
<h3>Endpoints</h3><ul>${navigation.join('')}</ul>
${events.length ? `<h3>Events</h3><ul>${events.map((event) => `<li><a href="#event-${escapeHtml(event.event)}"><code>${escapeHtml(event.event)}</code></a></li>`).join('')}</ul>` : ''}</nav>
<main><h1>${title} <small>${escapeHtml(document.info?.version)}</small></h1>
<section id="overview"><p>${escapeHtml(document.info?.description)}</p>
<p>Base URL: <code>${origin}/v1</code>. Authenticate with <code>Authorization: Bearer $PRISM_API_KEY</code>. Request bodies are JSON (<code>Content-Type: application/json</code>), except a file upload's raw bytes.</p>
${defaultModel ? `<p class="note">Default model: <code id="default-model">${defaultModel}</code>, used when a deployment names none (<code>model</code> is <code>provider/model</code>).</p>` : ''}
<p>The TypeScript SDK is the npm package <code>herm</code>: <code>import Herm from 'herm'; const herm = new Herm();</code> (it reads <code>PRISM_API_KEY</code> and <code>HERM_BASE_URL</code>).</p></section>
${renderErrors(document, errorExample)}
<h2 id="endpoints">Endpoints</h2>${operations.join('')}
${renderEvents(document, events)}
${renderWebhooks(document)}
<h2 id="schemas">Schemas</h2>${schemas}</main></body></html>`;
}
