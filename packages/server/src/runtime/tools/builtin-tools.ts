// The sandboxed built-in tools every deployment starts with, keyed by the names the docs use.
import { createEditFileTool, type EditFileInput } from './edit-file.ts';
import { createReadFileTool, type ReadFileInput } from './read-file.ts';
import { createShellTool, type ShellInput } from './shell.ts';
import type { BuiltinTool } from './tool.ts';
import { createWriteFileTool, type WriteFileInput } from './write-file.ts';
import { createAskHumanTool, type AskHumanInput } from '../../steering/ask-human-tool.ts';

export interface BuiltinToolsOptions {
  /** Characters of output above which the full text is saved in the workspace and previewed. Default 30,000. */
  largeOutputThreshold?: number;
  /** Characters of head and tail the model sees in place of such output. Default 8,000. */
  previewCharacters?: number;
  /** The longest `shell` timeout the model may request, in seconds. Default 600. */
  maxShellTimeoutSeconds?: number;
  /** Lines `read_file` returns when the model gives no limit. Default 2,000. */
  defaultReadLineLimit?: number;
  /** `read_file` cuts lines longer than this many characters. Default 2,000. */
  maxReadLineLength?: number;
}

export interface BuiltinTools {
  shell: BuiltinTool<ShellInput>;
  read_file: BuiltinTool<ReadFileInput>;
  write_file: BuiltinTool<WriteFileInput>;
  edit_file: BuiltinTool<EditFileInput>;
  /** The agent's question to a person (steering/ask-human-tool.ts): offered only with features.steering on. */
  ask_human: BuiltinTool<AskHumanInput>;
}

export type BuiltinToolName = keyof BuiltinTools;

export const DEFAULT_BUILTIN_TOOLS_OPTIONS: Required<BuiltinToolsOptions> = {
  largeOutputThreshold: 30_000,
  previewCharacters: 8_000,
  maxShellTimeoutSeconds: 600,
  defaultReadLineLimit: 2_000,
  maxReadLineLength: 2_000,
};

export function createBuiltinTools(options: BuiltinToolsOptions = {}): BuiltinTools {
  const settings = { ...DEFAULT_BUILTIN_TOOLS_OPTIONS, ...withoutUndefined(options) };
  for (const [name, value] of Object.entries(settings)) {
    if (!Number.isInteger(value) || value <= 0) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  if (settings.previewCharacters >= settings.largeOutputThreshold) {
    throw new RangeError('previewCharacters must be smaller than largeOutputThreshold');
  }
  return {
    shell: createShellTool({
      thresholdCharacters: settings.largeOutputThreshold,
      previewCharacters: settings.previewCharacters,
      maxTimeoutSeconds: settings.maxShellTimeoutSeconds,
    }),
    // read_file pages by itself, so it stops at the threshold rather than spilling to a file.
    read_file: createReadFileTool({
      defaultLineLimit: settings.defaultReadLineLimit,
      maxCharacters: settings.largeOutputThreshold,
      maxLineLength: settings.maxReadLineLength,
    }),
    write_file: createWriteFileTool(),
    edit_file: createEditFileTool(),
    ask_human: createAskHumanTool(),
  };
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as Partial<T>;
}
