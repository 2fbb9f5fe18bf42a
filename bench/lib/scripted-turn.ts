// The bench's scripted model (bench/run.ts), loaded by the model process (bench/lib/model-process.ts).
import type { ScriptedRequest, ScriptedTurn } from '../../packages/server/test/support/scripted-model-server.ts';

/** The scripted model: plain text by default; "[3-step]" calls a tool twice then answers; "[tokens:N]" streams N tokens. */
export default function scriptedTurn(request: ScriptedRequest): ScriptedTurn {
  const lastUser = request.lastUserText ?? '';
  let toolResultsSinceUser = 0;
  for (const message of request.messages) {
    if (message.role === 'user') toolResultsSinceUser = 0;
    if (message.role === 'tool') toolResultsSinceUser++;
  }
  if (lastUser.includes('[1-tool]') && toolResultsSinceUser < 1) {
    return { toolCalls: [{ name: 'shell', arguments: { command: 'true' } }] };
  }
  if (lastUser.includes('[3-step]') && toolResultsSinceUser < 2) {
    return { toolCalls: [{ name: 'shell', arguments: { command: 'true' } }] };
  }
  const tokens = /\[tokens:(\d+)\]/.exec(lastUser);
  if (tokens) return { text: Array.from({ length: Number(tokens[1]) }, (_, index) => `t${index} `) };
  return { text: ['Hello', '! How can', ' I help?'] };
}
