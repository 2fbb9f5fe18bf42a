// What the agent gets back from an MCP tool call. An MCP result is a list of content blocks (text, image,
// audio, embedded resources, resource links) and optionally structured content; the model gets:
//   { text, structured_content?, files?, resources? }            (or `error` in place of `text` when isError)
// - text blocks (and the text of embedded text resources) are joined into `text`; longer than the large-output
//   threshold, the full text is saved in the workspace and `text` is a preview naming the file (limitLargeOutput);
// - images, audio and binary resources are saved in the workspace (TOOL_OUTPUT_DIRECTORY) and listed in
//   `files` with their type and path, so the agent can look at them with its tools;
// - resource links are listed in `resources` ({ uri, name, mime_type? });
// - structured content is passed as it is, unless its JSON is over the threshold: then it is saved too, and
//   `structured_content` is a preview string naming the file.
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { limitLargeOutput, TOOL_OUTPUT_DIRECTORY, type LargeOutputSettings } from '../runtime/tools/large-output.ts';
import { writeSandboxFile } from '../runtime/tools/sandbox-files.ts';
import type { ToolContext, ToolOutput } from '../runtime/tools/tool.ts';

export interface McpToolResultView {
  text?: string;
  error?: string;
  structured_content?: unknown;
  files?: Array<{ type: string; mime_type: string; path: string } | { type: string; mime_type: string; error: string }>;
  resources?: Array<{ uri: string; name?: string; mime_type?: string }>;
  /** Set when `text` (or `structured_content`) was cut: where the whole is. */
  text_file?: string;
  structured_content_file?: string;
}

const EXTENSIONS: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/gif': 'gif',
  'image/webp': 'webp',
  'image/svg+xml': 'svg',
  'audio/mpeg': 'mp3',
  'audio/wav': 'wav',
  'audio/ogg': 'ogg',
  'application/pdf': 'pdf',
  'application/json': 'json',
};

export async function toToolOutput(result: CallToolResult, context: ToolContext, settings: LargeOutputSettings): Promise<ToolOutput> {
  const texts: string[] = [];
  const files: NonNullable<McpToolResultView['files']> = [];
  const resources: NonNullable<McpToolResultView['resources']> = [];
  let index = 0;
  const save = async (type: string, mimeType: string, base64: string) => {
    index++;
    const extension = EXTENSIONS[mimeType] ?? 'bin';
    const path = `${TOOL_OUTPUT_DIRECTORY}/${safeFileName(context.toolCallId)}-${index}.${extension}`;
    const written = await writeSandboxFile(context.sandbox, path, Buffer.from(base64, 'base64'), context.signal);
    files.push(written.exitCode === 0 ? { type, mime_type: mimeType, path } : { type, mime_type: mimeType, error: 'the file could not be saved in the workspace' });
  };
  for (const block of result.content ?? []) {
    if (block.type === 'text') texts.push(block.text);
    else if (block.type === 'image' || block.type === 'audio') await save(block.type, block.mimeType, block.data);
    else if (block.type === 'resource') {
      const resource = block.resource;
      if ('text' in resource && typeof resource.text === 'string') texts.push(resource.text);
      else if ('blob' in resource && typeof resource.blob === 'string') await save('resource', resource.mimeType ?? 'application/octet-stream', resource.blob);
    } else if (block.type === 'resource_link') {
      resources.push({ uri: block.uri, ...(block.name ? { name: block.name } : {}), ...(block.mimeType ? { mime_type: block.mimeType } : {}) });
    }
  }
  const view: McpToolResultView = {};
  const joined = await limitLargeOutput(texts.join('\n'), context, settings);
  if (result.isError) view.error = joined.text || 'The tool reported an error without a message.';
  else view.text = joined.text;
  if (joined.savedPath) view.text_file = joined.savedPath;
  if (result.structuredContent !== undefined) {
    const json = JSON.stringify(result.structuredContent);
    if (json.length > settings.thresholdCharacters) {
      const limited = await limitLargeOutput(json, context, settings, '.structured');
      view.structured_content = limited.text;
      if (limited.savedPath) view.structured_content_file = limited.savedPath;
    } else {
      view.structured_content = result.structuredContent;
    }
  }
  if (files.length > 0) view.files = files;
  if (resources.length > 0) view.resources = resources;
  return { result: view, isError: result.isError === true };
}

function safeFileName(toolCallId: string): string {
  const cleaned = toolCallId.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 100);
  return cleaned || 'tool-call';
}
