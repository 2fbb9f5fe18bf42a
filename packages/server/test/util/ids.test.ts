// Ids come from a pool of random bytes: none may repeat, and every character must stay equally likely.
import { describe, expect, it } from 'vitest';
import { hasIdShape, newId } from '../../src/util/ids.ts';

describe('newId', () => {
  it('makes prefixed base62 ids that do not repeat across many pool refills', () => {
    const ids = Array.from({ length: 20_000 }, () => newId('run'));
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) {
      expect(id).toMatch(/^run_[0-9A-Za-z]{16}$/);
      expect(hasIdShape('run', id)).toBe(true);
    }
  });

  it('draws every character equally often (no modulo bias)', () => {
    const counts = new Map<string, number>();
    const ids = Array.from({ length: 20_000 }, () => newId('message').slice('msg_'.length));
    for (const id of ids) for (const character of id) counts.set(character, (counts.get(character) ?? 0) + 1);
    expect(counts.size).toBe(62);
    const expected = (ids.length * 16) / 62; // ≈ 5,161, standard deviation ≈ 71
    // A plain `byte % 62` would make the first 8 characters ~21% more frequent; ±10% is 7 standard deviations.
    for (const count of counts.values()) expect(Math.abs(count - expected) / expected).toBeLessThan(0.1);
  });
});
