// A self-contained, browsable API reference rendered from the OpenAPI document (no CDN: works offline).

type Json = Record<string, any>;

function escapeHtml(value: unknown): string {
  return String(value ?? '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;');
}

function schemaRef(schema: Json | undefined): string {
  if (!schema) return '';
  if (schema.$ref) {
    const name = String(schema.$ref).split('/').pop();
    return `<a href="#schema-${escapeHtml(name)}">${escapeHtml(name)}</a>`;
  }
  if (schema.type === 'array') return `${schemaRef(schema.items)}[]`;
  if (schema.enum) return schema.enum.map((value: unknown) => `<code>${escapeHtml(value)}</code>`).join(' | ');
  if (schema.anyOf || schema.oneOf) return (schema.anyOf ?? schema.oneOf).map(schemaRef).join(' | ');
  return escapeHtml(schema.type ?? 'object');
}

function propertiesTable(schema: Json): string {
  const properties: Json = schema.properties ?? {};
  const required = new Set<string>(schema.required ?? []);
  const rows = Object.entries(properties)
    .map(
      ([name, property]) =>
        `<tr><td><code>${escapeHtml(name)}</code>${required.has(name) ? ' <span class="req">required</span>' : ''}</td>` +
        `<td>${schemaRef(property as Json)}</td><td>${escapeHtml((property as Json).description ?? '')}</td></tr>`,
    )
    .join('');
  return rows ? `<table><tr><th>Field</th><th>Type</th><th>Description</th></tr>${rows}</table>` : '';
}

export function renderReferencePage(document: Json): string {
  const operations: string[] = [];
  const navigation: string[] = [];
  for (const [path, item] of Object.entries<Json>(document.paths ?? {})) {
    for (const [method, operation] of Object.entries<Json>(item)) {
      const anchor = `${method}-${path}`.replace(/[^A-Za-z0-9]+/g, '-');
      navigation.push(`<li><a href="#${anchor}"><b>${method.toUpperCase()}</b> ${escapeHtml(path)}</a></li>`);
      const parameters = (operation.parameters ?? [])
        .map(
          (parameter: Json) =>
            `<tr><td><code>${escapeHtml(parameter.name)}</code></td><td>${escapeHtml(parameter.in)}</td>` +
            `<td>${schemaRef(parameter.schema)}</td><td>${escapeHtml(parameter.description ?? parameter.schema?.description ?? '')}</td></tr>`,
        )
        .join('');
      const body = operation.requestBody?.content?.['application/json']?.schema;
      const responses = Object.entries<Json>(operation.responses ?? {})
        .map(([status, response]) => {
          const schema = response.content?.['application/json']?.schema;
          return `<li><code>${status}</code> ${escapeHtml(response.description)} ${schema ? schemaRef(schema) : ''}</li>`;
        })
        .join('');
      operations.push(
        `<section id="${anchor}"><h3><span class="method ${method}">${method.toUpperCase()}</span> <code>${escapeHtml(path)}</code></h3>` +
          `<p><b>${escapeHtml(operation.summary)}</b></p><p>${escapeHtml(operation.description ?? '')}</p>` +
          (parameters ? `<h4>Parameters</h4><table><tr><th>Name</th><th>In</th><th>Type</th><th>Description</th></tr>${parameters}</table>` : '') +
          (body ? `<h4>Body</h4><p>${schemaRef(body)}</p>` : '') +
          `<h4>Responses</h4><ul>${responses}</ul></section>`,
      );
    }
  }
  const schemas = Object.entries<Json>(document.components?.schemas ?? {})
    .map(([name, schema]) => `<section id="schema-${escapeHtml(name)}"><h3>${escapeHtml(name)}</h3>${propertiesTable(schema)}</section>`)
    .join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(document.info?.title)} reference</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:0;display:flex;color:#1a1a1a}
nav{width:320px;height:100vh;overflow:auto;position:sticky;top:0;background:#f6f6f8;padding:16px;box-sizing:border-box;font-size:13px}
nav ul{list-style:none;padding:0}nav a{color:#333;text-decoration:none}main{flex:1;padding:24px 40px;max-width:960px}
table{border-collapse:collapse;width:100%;margin:8px 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
.method{font-size:12px;padding:2px 6px;border-radius:4px;color:#fff;background:#555}.get{background:#2b7}.post{background:#27c}
.patch{background:#c82}.delete{background:#c33}.req{color:#c33;font-size:11px}section{border-bottom:1px solid #eee;padding-bottom:12px}
</style></head><body><nav><h2>${escapeHtml(document.info?.title)}</h2><p><a href="/v1/openapi.json">openapi.json</a></p><ul>${navigation.join('')}</ul></nav>
<main><h1>${escapeHtml(document.info?.title)} <small>${escapeHtml(document.info?.version)}</small></h1><p>${escapeHtml(document.info?.description)}</p>
<p>Authenticate with <code>Authorization: Bearer $PRISM_API_KEY</code>. Errors are <code>{"error":{"type","message","param","request_id"}}</code>.</p>
<h2>Endpoints</h2>${operations.join('')}<h2>Schemas</h2>${schemas}</main></body></html>`;
}
