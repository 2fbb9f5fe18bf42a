// A real bubblewrap sandbox on a throwaway workspace, with a count of the commands it ran, for
// proving that refused inputs never reach the sandbox.
import { createBubblewrapBackend } from '../../src/sandbox/bubblewrap/bubblewrap.ts';
import type { ExecRequest, Sandbox } from '../../src/sandbox/sandbox.ts';
import type { ToolContext } from '../../src/runtime/tools/tool.ts';
import { makeTemporaryDirectory, removeDirectory, TEST_LIMITS } from '../sandbox/bubblewrap-test-support.ts';

export { bubblewrapUnavailable } from '../sandbox/bubblewrap-test-support.ts';

export interface ToolHarness {
  workspaceDir: string;
  sandbox: Sandbox;
  /** Commands run through `sandbox` so far. */
  execCalls: ExecRequest[];
  context(toolCallId?: string): ToolContext;
  cleanup(): Promise<void>;
}

export async function createToolHarness(limits = TEST_LIMITS): Promise<ToolHarness> {
  const workspaceDir = await makeTemporaryDirectory('tools');
  const inner = createBubblewrapBackend({ limits }).open({ deploymentId: 'dep_tools', workspaceDir });
  const execCalls: ExecRequest[] = [];
  const sandbox: Sandbox = {
    spec: inner.spec,
    exec(request) {
      execCalls.push(request);
      return inner.exec(request);
    },
  };
  return {
    workspaceDir,
    sandbox,
    execCalls,
    context: (toolCallId = 'call_test') => ({ sandbox, toolCallId, signal: new AbortController().signal }),
    cleanup: () => removeDirectory(workspaceDir),
  };
}
