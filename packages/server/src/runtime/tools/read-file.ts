// The `read_file` built-in: a window of a text file, numbered like `cat -n`.
import { z } from 'zod';
import { CHECK_TEXT_FILE, describeFailure, describeFileCheckFailure } from './sandbox-files.ts';
import type { BuiltinTool, ToolOutput } from './tool.ts';
import { resolveReadablePath } from './workspace-path.ts';

export interface ReadFileToolSettings {
  /** Lines returned when the model gives no limit. */
  defaultLineLimit: number;
  /** Characters of numbered text returned at most; reading stops at the last whole line before. */
  maxCharacters: number;
  /** Longer lines are cut to this many characters. */
  maxLineLength: number;
}

export interface ReadFileInput {
  path: string;
  offset?: number | undefined;
  limit?: number | undefined;
}

// awk selects and numbers the lines inside the sandbox, so only the requested window crosses
// into the server. Its last stderr line reports: "end|more <lines read> <lines printed> <last line>".
const READ_WINDOW = `${CHECK_TEXT_FILE}
exec awk -v first="$2" -v count="$3" -v max_line="$4" -v max_chars="$5" '
NR < first { next }
NR >= first + count { more = 1; exit }
{
  line = $0
  if (length(line) > max_line) line = substr(line, 1, max_line) " [… line cut at " max_line " characters]"
  entry = sprintf("%6d\\t%s", NR, line)
  if (printed > 0 && used + length(entry) + 1 > max_chars) { more = 1; exit }
  print entry
  used += length(entry) + 1
  printed++
  last = NR
}
END { print (more ? "more" : "end"), NR, printed + 0, last + 0 > "/dev/stderr" }' < "$1"`;

const WINDOW_STATUS = /^(end|more) (\d+) (\d+) (\d+)$/m;

export function createReadFileTool(settings: ReadFileToolSettings): BuiltinTool<ReadFileInput> {
  return {
    name: 'read_file',
    description: [
      'Read a text file from the workspace. The content comes back numbered like `cat -n`: each line is its 1-based line number, a tab, then the line.',
      'The numbers are not part of the file: leave them out when you quote text to edit_file.',
      `By default the first ${settings.defaultLineLimit.toLocaleString('en-US')} lines are returned; use offset and limit to read further or to read just a part of a large file.`,
      'When more lines follow, the result ends with a note saying which offset to continue from.',
      `Lines longer than ${settings.maxLineLength.toLocaleString('en-US')} characters are cut. Directories and binary files are refused; use the shell tool (ls, file, xxd) for those.`,
      'Paths are relative to /workspace or absolute under /workspace; nothing outside the workspace can be read, except the skills listed in the system prompt (their SKILL.md files, read-only).',
    ].join(' '),
    inputSchema: z.object({
      path: z.string().min(1).describe('The file to read: relative to /workspace (e.g. "src/index.ts") or absolute under /workspace.'),
      offset: z
        .number()
        .int()
        .positive()
        .optional()
        .describe('The line number to start at, counting from 1. Leave out to start at the beginning.'),
      limit: z
        .number()
        .int()
        .positive()
        .optional()
        .describe(`How many lines to return at most. Leave out for ${settings.defaultLineLimit.toLocaleString('en-US')}.`),
    }),
    async execute(input, context): Promise<ToolOutput> {
      // The sandbox's read-only mounts (the skills at /skills) can be read too; unsandboxed, their host paths are what the prompt names.
      const readOnlyRoots = (context.sandbox.spec.readOnlyMounts ?? []).flatMap((mount) => [mount.sandboxPath, mount.hostPath]);
      const resolved = resolveReadablePath(input.path, readOnlyRoots);
      if (!resolved.ok) return { result: resolved.message, isError: true };
      const path = resolved.path;
      const first = input.offset ?? 1;
      const count = input.limit ?? settings.defaultLineLimit;

      const result = await context.sandbox.exec({
        command: READ_WINDOW,
        args: [path, String(first), String(count), String(settings.maxLineLength), String(settings.maxCharacters)],
        signal: context.signal,
      });
      const checkFailure = describeFileCheckFailure(result, path);
      if (checkFailure) return { result: checkFailure, isError: true };
      const status = WINDOW_STATUS.exec(result.stderr);
      if (result.exitCode !== 0 || !status) return { result: `could not read ${path}: ${describeFailure(result)}`, isError: true };

      const linesRead = Number(status[2]);
      let more = status[1] === 'more';
      let text = result.stdout;
      let last = Number(status[4]);
      if (result.truncated) {
        // The sandbox's output cap is smaller than maxCharacters: keep whole lines only.
        text = text.slice(0, text.lastIndexOf('\n') + 1);
        last = Number(/(\d+)\t[^\n]*\n$/.exec(text)?.[1] ?? first - 1);
        more = true;
      }
      if (text === '') {
        if (linesRead === 0 && first === 1) return { result: `${path} is empty.`, isError: false };
        if (!more) {
          return { result: `offset ${first} is past the end of ${path}, which has ${linesRead} lines.`, isError: true };
        }
        return { result: `could not read ${path}: line ${first} alone exceeds the output limit`, isError: true };
      }
      if (more) {
        text += `\n[Showing lines ${first}–${last} of ${path}. More lines follow: call read_file with offset ${last + 1} to continue.]`;
      }
      return { result: text, isError: false };
    },
  };
}
