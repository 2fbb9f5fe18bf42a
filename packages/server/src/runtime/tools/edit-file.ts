// The `edit_file` built-in: exact string replacement. The file is read through the sandbox, changed
// in the server, and written back only if nothing else changed it in between.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { CHECK_READABLE_FILE, describeFailure, describeFileCheckFailure } from './sandbox-files.ts';
import type { BuiltinTool, ToolOutput } from './tool.ts';
import { resolveWorkspacePath } from './workspace-path.ts';

export interface EditFileInput {
  path: string;
  old_string: string;
  new_string: string;
  replace_all?: boolean | undefined;
}

// base64 carries the exact bytes, so a file that is not valid UTF-8 is detected rather than
// silently rewritten with replacement characters.
const READ_BYTES = `${CHECK_READABLE_FILE}
exec base64 < "$1"`;

// Written in place (keeping mode and owner), and only if the file still has the bytes we read.
const WRITE_IF_UNCHANGED = `actual=$(sha256sum < "$1") || exit 1
[ "$actual" = "$2  -" ] || { echo "the file changed while it was being edited; read it again and retry" >&2; exit 70; }
cat > "$1"`;

export function createEditFileTool(): BuiltinTool<EditFileInput> {
  return {
    name: 'edit_file',
    description: [
      'Change part of a text file in the workspace by replacing an exact string with another.',
      'old_string must match the file exactly, including whitespace and indentation, and must occur exactly once unless replace_all is true; otherwise the edit is refused and nothing changes.',
      'To make the match unique, include a few surrounding lines. Copy text from read_file output without its line-number prefixes.',
      'Use replace_all to rename something throughout the file. To delete text, pass an empty new_string.',
      'To create a file or rewrite it completely, use write_file. Returns the number of replacements made.',
      'Paths are relative to /workspace or absolute under /workspace.',
    ].join(' '),
    inputSchema: z.object({
      path: z.string().min(1).describe('The file to edit: relative to /workspace or absolute under /workspace. It must exist.'),
      old_string: z.string().min(1).describe('The exact text to find, including whitespace and line breaks.'),
      new_string: z.string().describe('The text to put in its place; must differ from old_string. Empty deletes old_string.'),
      replace_all: z
        .boolean()
        .optional()
        .describe('Replace every occurrence instead of requiring exactly one. Default false.'),
    }),
    async execute(input, context): Promise<ToolOutput> {
      const resolved = resolveWorkspacePath(input.path);
      if (!resolved.ok) return { result: resolved.message, isError: true };
      const path = resolved.path;
      if (input.old_string === input.new_string) return { result: 'old_string and new_string are identical; nothing to change', isError: true };

      const read = await context.sandbox.exec({ command: READ_BYTES, args: [path], signal: context.signal });
      const checkFailure = describeFileCheckFailure(read, path);
      if (checkFailure) return { result: checkFailure, isError: true };
      if (read.exitCode !== 0) return { result: `could not read ${path}: ${describeFailure(read)}`, isError: true };
      if (read.truncated) return { result: `${path} is too large to edit with edit_file; change it with the shell tool instead`, isError: true };

      const originalBytes = Buffer.from(read.stdout, 'base64');
      let original: string;
      try {
        original = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(originalBytes);
      } catch {
        return { result: `${path} is not UTF-8 text; change it with the shell tool instead`, isError: true };
      }

      const occurrences = original.split(input.old_string).length - 1;
      if (occurrences === 0) {
        return {
          result: `old_string was not found in ${path}. It must match exactly, including whitespace and indentation; read the file again to copy the current text.`,
          isError: true,
        };
      }
      if (occurrences > 1 && !input.replace_all) {
        return {
          result: `old_string occurs ${occurrences} times in ${path}. Include more surrounding text to pick one occurrence, or set replace_all to change all of them.`,
          isError: true,
        };
      }
      // split/join rather than String.replace, whose "$&"-style patterns would rewrite new_string.
      const edited = input.replace_all
        ? original.split(input.old_string).join(input.new_string)
        : original.replace(input.old_string, () => input.new_string);

      const expectedHash = createHash('sha256').update(originalBytes).digest('hex');
      const write = await context.sandbox.exec({
        command: WRITE_IF_UNCHANGED,
        args: [path, expectedHash],
        stdin: edited,
        signal: context.signal,
      });
      if (write.exitCode !== 0) return { result: `could not write ${path}: ${describeFailure(write)}`, isError: true };
      return { result: { path, replacements: input.replace_all ? occurrences : 1 }, isError: false };
    },
  };
}
