import { describe, expect, it } from 'vitest';
import { createBoundedOutput } from '../../src/sandbox/bounded-output.ts';

describe('createBoundedOutput', () => {
  it('keeps everything under the limit', () => {
    const output = createBoundedOutput(10);
    output.push(Buffer.from('hello'));
    output.push(Buffer.from('world'));
    expect(output.text()).toBe('helloworld');
    expect(output.truncated).toBe(false);
  });

  it('keeps the first bytes, drops the rest and says so', () => {
    const output = createBoundedOutput(4);
    output.push(Buffer.from('abc'));
    output.push(Buffer.from('defgh'));
    output.push(Buffer.from('ijk'));
    expect(output.text()).toBe('abcd');
    expect(output.truncated).toBe(true);
  });

  it('never ends on half a character', () => {
    for (const [text, limit, kept] of [
      ['aé', 2, 'a'],
      ['a€', 3, 'a'],
      ['a😀', 4, 'a'],
      ['a😀b', 5, 'a😀'],
      ['€€', 4, '€'],
    ] as const) {
      const output = createBoundedOutput(limit);
      output.push(Buffer.from(text));
      expect(output.text(), `${text} cut at ${limit}`).toBe(kept);
    }
  });

  it('holds nothing with a zero limit', () => {
    const output = createBoundedOutput(0);
    output.push(Buffer.from('x'));
    expect(output.text()).toBe('');
    expect(output.truncated).toBe(true);
  });
});
