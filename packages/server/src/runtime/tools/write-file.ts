// The `write_file` built-in: create or replace a whole file.
import { z } from 'zod';
import { describeFailure, writeSandboxFile } from './sandbox-files.ts';
import type { BuiltinTool, ToolOutput } from './tool.ts';
import { resolveWorkspacePath } from './workspace-path.ts';

export interface WriteFileInput {
  path: string;
  content: string;
}

export function createWriteFileTool(): BuiltinTool<WriteFileInput> {
  return {
    name: 'write_file',
    description: [
      'Create a file in the workspace, or replace an existing file with new content. Missing parent directories are created.',
      'The file gets exactly the content given, as UTF-8: include the final newline if the file should end with one.',
      'To change part of an existing file use edit_file instead, which keeps the rest intact and costs far fewer tokens.',
      'Paths are relative to /workspace or absolute under /workspace; nothing outside the workspace can be written.',
      'Returns the path written and the number of bytes.',
    ].join(' '),
    inputSchema: z.object({
      path: z.string().min(1).describe('The file to write: relative to /workspace (e.g. "notes/plan.md") or absolute under /workspace.'),
      content: z.string().describe('The complete new content of the file.'),
    }),
    async execute(input, context): Promise<ToolOutput> {
      const resolved = resolveWorkspacePath(input.path);
      if (!resolved.ok) return { result: resolved.message, isError: true };
      const result = await writeSandboxFile(context.sandbox, resolved.path, input.content, context.signal);
      if (result.exitCode !== 0) return { result: `could not write ${resolved.path}: ${describeFailure(result)}`, isError: true };
      return { result: { path: resolved.path, bytes_written: Buffer.byteLength(input.content, 'utf8') }, isError: false };
    },
  };
}
