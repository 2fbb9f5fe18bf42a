// The system prompt the model sees: the deployment's own prompt, its skills (names and descriptions only), the
// environment, and any compacted history. Everything before the summary is the same from step to step and run to
// run while the deployment and its skills stay the same: a stable prefix, which providers' prompt caches reuse.
import type { PromptSkills } from '../skills/run-skills.ts';
import { memorySection, type PromptMemory } from '../memory/memory-prompt.ts';

export function buildSystemPrompt(input: {
  systemPrompt: string;
  toolNames: string[];
  summary: string | null;
  /** false: the workspace belongs to this conversation only (sandbox.persistent_filesystem false). */
  persistentWorkspace?: boolean;
  /** MCP servers whose tools could not be listed for this run (mcp/deployment-toolset.ts). */
  unavailableMcpServers?: string[] | undefined;
  /** The run's skills (skills/run-skills.ts); none when undefined. */
  skills?: PromptSkills | undefined;
  /** The deployment's memory as the run started (memory/memory-prompt.ts); no memory section when undefined. */
  memory?: PromptMemory | undefined;
}): string {
  const parts = [input.systemPrompt.trim()];
  const skills = input.skills && skillsSection(input.skills);
  if (skills) parts.push(skills);
  if (input.memory) parts.push(memorySection(input.memory));
  parts.push(
    [
      '# Environment',
      input.persistentWorkspace === false
        ? 'You work inside an isolated sandbox. Your workspace is /workspace and belongs to this conversation only: files you\n' +
          'save there are kept for the rest of it, and a new conversation starts with an empty workspace. Paths outside\n' +
          '/workspace are not available to you.'
        : 'You work inside an isolated sandbox. Your persistent workspace is /workspace: files you save there are kept\n' +
          'across runs and sessions. Paths outside /workspace are not available to you.',
      input.toolNames.length > 0 ? `Tools: ${input.toolNames.join(', ')}.` : 'No tools are available.',
      ...(input.unavailableMcpServers?.length ? [`Unavailable for this run (could not be reached): the tools of MCP server${input.unavailableMcpServers.length === 1 ? '' : 's'} ${input.unavailableMcpServers.join(', ')}.`] : []),
      'When a tool result is very large it is saved to a file in the workspace and you receive a preview and its path.',
    ].join('\n'),
  );
  if (input.summary) {
    parts.push(`# Earlier in this conversation (summary)\n${input.summary}`);
  }
  return parts.join('\n\n');
}

/**
 * The skills section: one line per skill, name and description, in the deployment's order; the full instructions
 * stay in each SKILL.md until the agent opens it (progressive disclosure).
 */
function skillsSection({ skills, unavailable }: PromptSkills): string | undefined {
  if (skills.length === 0 && unavailable.length === 0) return undefined;
  const lines = ['# Skills'];
  if (skills.length > 0) {
    lines.push(
      "Skills are playbooks for tasks of this deployment, listed by name and description: when a task matches one, first read its SKILL.md with read_file at the path given (read-only), then follow it.",
    );
    for (const skill of skills) {
      const directory = skill.directory ? `; its files: ${skill.directory}` : '';
      const learned = skill.learned ? ' [learned for this customer]' : '';
      lines.push(`- ${skill.name}${learned}: ${skill.description} (${skill.location}${directory})`);
    }
  }
  for (const skill of unavailable) lines.push(`Skill "${skill.name}" is not available in this run: ${skill.reason}.`);
  return lines.join('\n');
}
