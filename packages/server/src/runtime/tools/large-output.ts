// Very large tool output would crowd the model's context. Above a threshold the full text is saved
// in the workspace (through the sandbox) and the model gets the head, the tail and the file's path,
// so it can page through or grep the rest.
import { WORKSPACE_PATH } from '../../sandbox/sandbox.ts';
import { describeFailure, writeSandboxFile } from './sandbox-files.ts';
import type { ToolContext } from './tool.ts';
import { sliceAtCodePoint } from '../../util/text.ts';

export const TOOL_OUTPUT_DIRECTORY = `${WORKSPACE_PATH}/.herm/tool-output`;

export interface LargeOutputSettings {
  /** Output longer than this many characters is saved to a file and previewed. */
  thresholdCharacters: number;
  /** Characters of the preview, split between head (60%) and tail (40%). */
  previewCharacters: number;
}

export interface LimitedText {
  text: string;
  /** Where the full text was saved, when it was too long to return. */
  savedPath?: string;
}

/**
 * Returns `text` unchanged when it is within the threshold; otherwise saves it to
 * TOOL_OUTPUT_DIRECTORY/<toolCallId><suffix>.txt and returns a head-and-tail preview naming that file.
 */
export async function limitLargeOutput(
  text: string,
  context: ToolContext,
  settings: LargeOutputSettings,
  suffix = '',
): Promise<LimitedText> {
  if (text.length <= settings.thresholdCharacters) return { text };
  const path = `${TOOL_OUTPUT_DIRECTORY}/${safeFileName(context.toolCallId)}${suffix}.txt`;
  const headLength = Math.floor(settings.previewCharacters * 0.6);
  const tailLength = settings.previewCharacters - headLength;
  const head = sliceAtCodePoint(text, 0, headLength);
  const tail = sliceAtCodePoint(text, text.length - tailLength, text.length);
  const omitted = text.length - head.length - tail.length;

  const saved = await writeSandboxFile(context.sandbox, path, text, context.signal);
  const note =
    saved.exitCode === 0
      ? `[… ${omitted.toLocaleString('en-US')} characters omitted. The full output (${text.length.toLocaleString('en-US')} characters) is saved in ${path}; read parts of it with read_file (offset, limit) or search it with the shell tool (grep, head, tail). …]`
      : `[… ${omitted.toLocaleString('en-US')} characters omitted; the full output could not be saved (${describeFailure(saved)}). …]`;
  const preview = `${head}\n\n${note}\n\n${tail}`;
  return saved.exitCode === 0 ? { text: preview, savedPath: path } : { text: preview };
}

/** Tool call ids come from the model provider; keep them from shaping the path. */
function safeFileName(toolCallId: string): string {
  const cleaned = toolCallId.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 100);
  return cleaned || 'tool-call';
}
