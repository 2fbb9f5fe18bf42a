import { describe, expect, it } from 'vitest';
import { MAX_TOOL_NAME_LENGTH, mcpToolName, mcpToolNames, mcpToolPrefix } from '../../src/mcp/mcp-tool-name.ts';
import { referencedSecretNames, resolveHeaders, secretReferences } from '../../src/mcp/mcp-headers.ts';

const PROVIDER_TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

describe('mcpToolName', () => {
  it('is <server>__<tool>, with other characters made "_"', () => {
    expect(mcpToolName('prism-media', 'generate_image')).toBe('prism-media__generate_image');
    expect(mcpToolName('prism.media', 'files/list v2')).toBe('prism_media__files_list_v2');
    expect(mcpToolPrefix('prism.media')).toBe('prism_media__');
  });

  it('fits long names into 64 characters, deterministically and distinctly', () => {
    const server = 's'.repeat(64);
    const a = mcpToolName(server, 'tool_with_a_long_name_a');
    const b = mcpToolName(server, 'tool_with_a_long_name_b');
    for (const name of [a, b]) {
      expect(name).toMatch(PROVIDER_TOOL_NAME);
      expect(name).toHaveLength(MAX_TOOL_NAME_LENGTH);
    }
    expect(a).not.toBe(b);
    expect(mcpToolName(server, 'tool_with_a_long_name_a')).toBe(a);
    expect(a.slice(0, 55)).toBe(`${server}__`.slice(0, 55));
  });

  it('gives names that would collide the hashed form', () => {
    const names = mcpToolNames([
      { server: 'a.b', tool: 'x' },
      { server: 'a_b', tool: 'x' },
      { server: 'c', tool: 'y' },
    ]);
    const dotted = names.get('a.b\u0000x')!;
    const underscored = names.get('a_b\u0000x')!;
    expect(dotted).not.toBe(underscored);
    expect(dotted).toMatch(/^a_b__x_[0-9a-f]{8}$/);
    expect(underscored).toMatch(/^a_b__x_[0-9a-f]{8}$/);
    expect(names.get('c\u0000y')).toBe('c__y');
  });
});

describe('MCP header templates', () => {
  it('finds and resolves ${NAME} references, leaving other text alone', () => {
    expect(secretReferences('Bearer ${TOKEN} and ${TOKEN} $NOT {ALSO_NOT} ${lower_ok}')).toEqual(['TOKEN', 'lower_ok']);
    expect(referencedSecretNames({ Authorization: 'Bearer ${A}', 'X-Other': '${B}-${A}', 'X-Plain': 'literal' })).toEqual(['A', 'B']);
    expect(resolveHeaders({ Authorization: 'Bearer ${A}', 'X-Plain': 'literal $5' }, { A: 'tok$&en' })).toEqual({
      Authorization: 'Bearer tok$&en',
      'X-Plain': 'literal $5',
    });
    expect(() => resolveHeaders({ Authorization: '${MISSING}' }, {})).toThrow('secrets.MISSING');
  });
});
