// `ask_human`: the agent's own way to stop and ask a person (Hermes Agent's "clarify"). A built-in like any other
// (listed by the Tools API, disabled with it), offered only while the deployment's features.steering is on. Calling
// it pauses the run with a steering_request (runtime/hermes.ts); the person's answer is the call's result.
import { z } from 'zod';
import type { BuiltinTool, ToolOutput } from '../runtime/tools/tool.ts';

export const ASK_HUMAN_TOOL = 'ask_human';

export interface AskHumanInput {
  summary: string;
  options?: string[] | undefined;
}

export const askHumanInput = z.object({
  summary: z.string().min(1).max(2_000).describe('What you need from the person, in one or two sentences they can answer'),
  options: z
    .array(z.string().min(1).max(200))
    .min(1)
    .max(10)
    .optional()
    .describe('Answers to offer, e.g. ["Post all five", "Post the first two"]; the person may also reply in their own words'),
});

export function createAskHumanTool(): BuiltinTool<AskHumanInput> {
  return {
    name: ASK_HUMAN_TOOL,
    description: [
      'Ask the person you work for a question and wait for the answer: for approval before a consequential or irreversible',
      'step, or for a decision or information only they have. The run pauses until they answer (possibly hours later);',
      'the result is their answer: { decision: "approve" | "deny" | "reply", message }. Ask only when you cannot',
      'reasonably proceed on your own.',
    ].join(' '),
    inputSchema: askHumanInput,
    // A call is answered by a person (the run pauses before this would run); reached only when steering is off.
    async execute(): Promise<ToolOutput> {
      return { result: { error: 'Nobody can be asked in this deployment (steering is off): proceed on your own judgement.' }, isError: true };
    },
  };
}
