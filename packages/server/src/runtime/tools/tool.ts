// A built-in tool: a JSON-schema'd function the model can call, executed inside the deployment's sandbox.
import type { z } from 'zod';
import type { Sandbox } from '../../sandbox/sandbox.ts';

export interface ToolContext {
  sandbox: Sandbox;
  /** The model's id for this call; used to name files that hold very large output. */
  toolCallId: string;
  signal: AbortSignal;
}

/** What the agent sees. `isError` results are shown to the model as a failed call. */
export interface ToolOutput {
  result: unknown;
  isError: boolean;
}

export interface BuiltinTool<Input = any> {
  name: string;
  description: string;
  inputSchema: z.ZodType<Input>;
  execute(input: Input, context: ToolContext): Promise<ToolOutput>;
}
