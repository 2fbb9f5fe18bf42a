// The memory section of a run's system prompt: a snapshot of the deployment's memory taken as the run starts (what
// the agent or the API changes during the run shows from the next run on). It sits in the stable prefix of the
// prompt, so it is written deterministically: memories oldest first (a new memory only adds to the end), each with
// its id, date and priority, and nothing that changes from run to run. Its size is bounded: past the budget, the
// lowest-priority memories, oldest first, are left out, and the section says how many.
import { MEMORY_PATH, type MemoryPriority, type MemoryRecord } from './memory-file.ts';

/** What a run's system prompt says about memory. */
export interface PromptMemory {
  memories: Pick<MemoryRecord, 'memory_id' | 'content' | 'priority' | 'created_at'>[];
  /** Memories left out for the size budget. */
  omitted: number;
  /** true: the agent keeps its memory as files in its workspace; false (no persistent workspace): read-only here. */
  editable: boolean;
}

/** Default budget of the memory section, in characters (HERM_MEMORY_PROMPT_TOKENS × 4). */
export const DEFAULT_MEMORY_PROMPT_CHARACTERS = 16_000;

const PRIORITY_RANK: Record<MemoryPriority, number> = { high: 0, medium: 1, low: 2 };

/** The memories of the prompt within `maxCharacters`: `memories` oldest first, as MemoryService.all returns them. */
export function promptMemory(memories: readonly MemoryRecord[], options: { editable: boolean; maxCharacters: number }): PromptMemory {
  const kept = new Set(memories);
  let size = memories.reduce((total, memory) => total + memoryLine(memory).length + 1, 0);
  if (size > options.maxCharacters) {
    // Dropped first: low priority before medium before high; within a priority, the oldest first.
    const dropOrder = [...memories].sort((a, b) => PRIORITY_RANK[b.priority] - PRIORITY_RANK[a.priority] || a.created_at - b.created_at);
    for (const memory of dropOrder) {
      if (size <= options.maxCharacters) break;
      kept.delete(memory);
      size -= memoryLine(memory).length + 1;
    }
  }
  return {
    memories: memories.filter((memory) => kept.has(memory)),
    omitted: memories.length - kept.size,
    editable: options.editable,
  };
}

export function memorySection(memory: PromptMemory): string {
  const lines = ['# Memory'];
  lines.push(
    memory.editable
      ? `What you know about this customer from earlier conversations; what they say now takes precedence. It is kept in ${MEMORY_PATH}/, ` +
          'one markdown file per memory: to remember something for future conversations (a preference, correction or fact the customer ' +
          'tells you), write a new .md file there with write_file; edit or delete a file to correct or forget it.'
      : 'What you know about this customer from earlier conversations; what they say now takes precedence. It is kept for you and ' +
          'updated after each conversation; you cannot edit it with your file tools here.',
  );
  if (memory.memories.length === 0) lines.push('(No memories yet.)');
  for (const entry of memory.memories) lines.push(memoryLine(entry));
  if (memory.omitted > 0) {
    lines.push(
      `(${memory.omitted} lower-priority, older ${memory.omitted === 1 ? 'memory is' : 'memories are'} not shown here, to keep this section short` +
        (memory.editable ? `; ${memory.omitted === 1 ? 'it is' : 'they are'} in ${MEMORY_PATH}/.)` : '.)'),
    );
  }
  return lines.join('\n');
}

function memoryLine(memory: Pick<MemoryRecord, 'memory_id' | 'content' | 'priority' | 'created_at'>): string {
  const date = new Date(memory.created_at).toISOString().slice(0, 10);
  return `- [${date}, ${memory.priority}] ${memory.content.replace(/\s*\n\s*/g, ' ')} (${memory.memory_id})`;
}
