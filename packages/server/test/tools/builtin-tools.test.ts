import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createBuiltinTools } from '../../src/runtime/tools/builtin-tools.ts';

describe('createBuiltinTools', () => {
  const tools = createBuiltinTools();

  it('returns the four sandboxed tools and ask_human keyed by their names', () => {
    expect(Object.keys(tools).sort()).toEqual(['ask_human', 'edit_file', 'read_file', 'shell', 'write_file']);
    for (const [key, tool] of Object.entries(tools)) expect(tool.name).toBe(key);
  });

  it('describes every tool and every input field for the model', () => {
    for (const tool of Object.values(tools)) {
      expect(tool.description.length, tool.name).toBeGreaterThan(200);
      const schema = z.toJSONSchema(tool.inputSchema) as { properties: Record<string, { description?: string }> };
      const properties = Object.entries(schema.properties);
      expect(properties.length, tool.name).toBeGreaterThan(0);
      for (const [field, property] of properties) expect(property.description, `${tool.name}.${field}`).toBeTruthy();
    }
  });

  it('validates input at the schema', () => {
    expect(tools.read_file.inputSchema.safeParse({ path: 'a', offset: 0 }).success).toBe(false);
    expect(tools.read_file.inputSchema.safeParse({ path: 'a', limit: 2.5 }).success).toBe(false);
    expect(tools.edit_file.inputSchema.safeParse({ path: 'a', old_string: '', new_string: 'b' }).success).toBe(false);
    expect(tools.write_file.inputSchema.safeParse({ path: 'a' }).success).toBe(false);
  });

  it('refuses nonsensical options', () => {
    expect(() => createBuiltinTools({ largeOutputThreshold: 0 })).toThrow(RangeError);
    expect(() => createBuiltinTools({ largeOutputThreshold: 1_000, previewCharacters: 2_000 })).toThrow(/previewCharacters/);
  });
});
