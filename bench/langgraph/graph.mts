// The LangGraph side of the Herm ÷ LangGraph benchmark (issue #3 item 2): the same scripted workload as
// bench/run.ts gives Herm. A model node that streams fixed tokens with zero delay, and a ToolNode with one trivial
// tool. Served by `langgraphjs dev` from langgraph.json beside this file; measured by compare.ts.
//
// - `agent`: the model's first turn after the user's message is one tool call (`echo`), then, after the tool result,
//   it streams the text answer. One thread, a message in, one tool call, streamed text out.
// - `text`: the same model, never calling the tool: it streams the text answer at once ("text-only run").
//
// The model decides from the messages alone (no state between calls), so parallel runs cannot interfere.
// A .mts file so the root tsconfig (bench/**/*.ts) does not type-check it on clones without bench/langgraph's deps.
import { BaseChatModel, type BaseChatModelParams } from '@langchain/core/language_models/chat_models';
import type { CallbackManagerForLLMRun } from '@langchain/core/callbacks/manager';
import { AIMessage, AIMessageChunk, type BaseMessage } from '@langchain/core/messages';
import { ChatGenerationChunk, type ChatResult } from '@langchain/core/outputs';
import { tool } from '@langchain/core/tools';
import { END, MessagesAnnotation, START, StateGraph } from '@langchain/langgraph';
import { ToolNode } from '@langchain/langgraph/prebuilt';
import { z } from 'zod';

/** The text tokens Herm's scripted model streams for a plain message in bench/run.ts. */
export const TEXT_TOKENS = ['Hello', '! How can', ' I help?'];

/** A chat model that streams scripted chunks with zero delay, calling `echo` once per user turn when `useTool`. */
class ScriptedChatModel extends BaseChatModel {
  useTool: boolean;

  constructor(fields: BaseChatModelParams & { useTool: boolean }) {
    super(fields);
    this.useTool = fields.useTool;
  }

  _llmType(): string {
    return 'herm-bench-scripted';
  }

  // The tools are fixed by the script; binding them changes nothing.
  override bindTools(): this {
    return this;
  }

  override async *_streamResponseChunks(
    messages: BaseMessage[],
    _options: this['ParsedCallOptions'],
    runManager?: CallbackManagerForLLMRun,
  ): AsyncGenerator<ChatGenerationChunk> {
    const last = messages.at(-1);
    const callTool = this.useTool && last !== undefined && last.getType() === 'human';
    if (callTool) {
      const message = new AIMessageChunk({
        content: '',
        tool_call_chunks: [{ type: 'tool_call_chunk', id: `call_${crypto.randomUUID()}`, name: 'echo', args: '{"text":"hi"}', index: 0 }],
      });
      const chunk = new ChatGenerationChunk({ message, text: '' });
      await runManager?.handleLLMNewToken('', { prompt: 0, completion: 0 }, undefined, undefined, undefined, { chunk });
      yield chunk;
      return;
    }
    for (const token of TEXT_TOKENS) {
      const chunk = new ChatGenerationChunk({ message: new AIMessageChunk({ content: token }), text: token });
      await runManager?.handleLLMNewToken(token, { prompt: 0, completion: 0 }, undefined, undefined, undefined, { chunk });
      yield chunk;
    }
  }

  async _generate(messages: BaseMessage[], options: this['ParsedCallOptions'], runManager?: CallbackManagerForLLMRun): Promise<ChatResult> {
    let aggregated: ChatGenerationChunk | undefined;
    for await (const chunk of this._streamResponseChunks(messages, options, runManager)) aggregated = aggregated ? aggregated.concat(chunk) : chunk;
    const chunk = aggregated!.message as AIMessageChunk;
    const message = new AIMessage({ content: chunk.content, tool_calls: chunk.tool_calls ?? [] });
    return { generations: [{ message, text: aggregated!.text }] };
  }
}

const echo = tool(async ({ text }: { text: string }) => text, {
  name: 'echo',
  description: 'Returns its input.',
  schema: z.object({ text: z.string() }),
});

function buildGraph(useTool: boolean) {
  const model = new ScriptedChatModel({ useTool });
  return new StateGraph(MessagesAnnotation)
    .addNode('model', async (state: typeof MessagesAnnotation.State) => ({ messages: [await model.invoke(state.messages)] }))
    .addNode('tools', new ToolNode([echo]))
    .addEdge(START, 'model')
    .addConditionalEdges('model', (state: typeof MessagesAnnotation.State) => {
      const last = state.messages.at(-1) as AIMessage | undefined;
      return last?.tool_calls?.length ? 'tools' : END;
    }, ['tools', END])
    .addEdge('tools', 'model')
    .compile();
}

export const agent = buildGraph(true);
export const text = buildGraph(false);
