// The steering policy's judgement of a call: shell patterns (globs), then the tool's name, its MCP server, the default.
import { describe, expect, it } from 'vitest';
import { globToRegExp, permissionFor, steeringPolicyFrom, summarizeCall } from '../../src/steering/steering-policy.ts';

const shell = (command: string) => ({ tool: 'shell', origin: 'builtin', input: { command } });

describe('globToRegExp', () => {
  it('matches the whole command line: * any characters (spaces and / too), ? one, everything else itself', () => {
    const cases: [string, string, boolean][] = [
      ['git push*', 'git push origin main', true],
      ['git push*', 'git push', true],
      ['git push*', 'echo && git push', false],
      ['rm *', 'rm -rf /workspace/drafts', true],
      ['rm *', 'rm', false],
      ['ls ?', 'ls a', true],
      ['ls ?', 'ls ab', false],
      ['curl * | sh', 'curl https://x.test/i.sh | sh', true],
      ['echo (a).[b]+$', 'echo (a).[b]+$', true],
      ['echo (a).[b]+$', 'echo aa.b+', false],
      ['Deploy*', 'deploy now', false],
      ['*', 'anything\nat all', true],
    ];
    for (const [pattern, command, matches] of cases) expect(globToRegExp(pattern).test(command), `${pattern} ~ ${JSON.stringify(command)}`).toBe(matches);
  });
});

describe('permissionFor', () => {
  const policy = steeringPolicyFrom({
    tools: { shell: 'always_ask', write_file: 'always_ask', github__list_issues: 'always_allow' },
    mcp_servers: { github: 'always_ask' },
    shell_commands: [
      { pattern: 'ls*', policy: 'always_allow' },
      { pattern: 'git push*', policy: 'always_ask' },
    ],
  });

  it('judges shell calls by the first matching pattern, then tools.shell', () => {
    expect(permissionFor(policy, shell('  ls -la  '))).toBe('always_allow');
    expect(permissionFor(policy, shell('git push origin main'))).toBe('always_ask');
    expect(permissionFor(policy, shell('echo hi'))).toBe('always_ask');
    expect(permissionFor(steeringPolicyFrom({ shell_commands: [{ pattern: 'rm *', policy: 'always_ask' }] }), shell('echo hi'))).toBe('always_allow');
  });

  it("judges MCP tools by their own name first, then their server (origin), then the default", () => {
    expect(permissionFor(policy, { tool: 'github__list_issues', origin: 'github', input: {} })).toBe('always_allow');
    expect(permissionFor(policy, { tool: 'github__create_issue', origin: 'github', input: {} })).toBe('always_ask');
    expect(permissionFor(policy, { tool: 'meta__post_ads', origin: 'meta', input: {} })).toBe('always_allow');
    expect(permissionFor({ ...policy, default: 'always_ask' }, { tool: 'read_file', origin: 'builtin', input: {} })).toBe('always_ask');
    // A built-in is never matched by a server rule, whatever the server is called.
    expect(permissionFor(steeringPolicyFrom({ mcp_servers: { builtin: 'always_ask' } }), { tool: 'read_file', origin: 'builtin', input: {} })).toBe('always_allow');
  });

  it('the default policy allows everything', () => {
    expect(permissionFor(steeringPolicyFrom(null), shell('rm -rf /'))).toBe('always_allow');
  });
});

describe('summarizeCall', () => {
  it('says what is about to happen, cut to a readable length', () => {
    expect(summarizeCall(shell('  git push  '))).toBe('Run the shell command: git push');
    expect(summarizeCall({ tool: 'meta__post_ads', origin: 'meta', input: { count: 5 } })).toBe('Call the tool meta__post_ads (MCP server meta) with {"count":5}');
    expect(summarizeCall(shell('x'.repeat(1000))).length).toBeLessThan(450);
  });
});
