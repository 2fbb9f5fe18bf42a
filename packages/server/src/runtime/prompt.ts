// The system prompt the model sees: the deployment's own prompt, the environment, and any compacted history.

export function buildSystemPrompt(input: {
  systemPrompt: string;
  toolNames: string[];
  summary: string | null;
  /** false: the workspace belongs to this conversation only (sandbox.persistent_filesystem false). */
  persistentWorkspace?: boolean;
}): string {
  const parts = [input.systemPrompt.trim()];
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
      'When a tool result is very large it is saved to a file in the workspace and you receive a preview and its path.',
    ].join('\n'),
  );
  if (input.summary) {
    parts.push(`# Earlier in this conversation (summary)\n${input.summary}`);
  }
  return parts.join('\n\n');
}
