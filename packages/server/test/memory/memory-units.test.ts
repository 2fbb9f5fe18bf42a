// The pieces of observational memory that need no server: memory files, the prompt section's bound, the observer's
// reply format and similarity.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { memoryDirectoryFingerprint } from '../../src/memory/memory-fingerprint.ts';
import { fileMemoryId, parseMemoryFile, serializeMemoryFile, type MemoryRecord } from '../../src/memory/memory-file.ts';
import { observerPrompt, parseObservations, similarity } from '../../src/memory/memory-observer.ts';
import { memorySection, promptMemory } from '../../src/memory/memory-prompt.ts';

const DAY = 86_400_000;
const memory = (id: string, content: string, priority: MemoryRecord['priority'], day: number): MemoryRecord => ({
  memory_id: id,
  content,
  priority,
  source: 'agent',
  path: `.herm/memory/${id}.md`,
  created_at: Date.UTC(2026, 5, 1) + day * DAY,
  updated_at: Date.UTC(2026, 5, 1) + day * DAY,
});

describe('memory files', () => {
  it('round-trips front matter and text', () => {
    const record = memory('mem_abc123', 'Always end videos with the logo sting.\nIn every format.', 'high', 0);
    const parsed = parseMemoryFile(serializeMemoryFile(record));
    expect(parsed).toEqual({ id: 'mem_abc123', source: 'agent', priority: 'high', created: record.created_at, updated: record.updated_at, content: record.content });
  });

  it('reads a hand-written file without front matter, or with fields it does not know, as text', () => {
    expect(parseMemoryFile('Primary color is #7C3AED.\n')).toMatchObject({ id: undefined, source: undefined, priority: undefined, content: 'Primary color is #7C3AED.' });
    expect(parseMemoryFile('---\nid: ../../etc\npriority: urgent\nsource: root\n---\nText')).toMatchObject({ id: undefined, source: undefined, priority: undefined, content: 'Text' });
  });

  it('gives a file without an id a stable memory id from its name', () => {
    expect(fileMemoryId('brand.md')).toBe(fileMemoryId('brand.md'));
    expect(fileMemoryId('brand.md')).not.toBe(fileMemoryId('brand2.md'));
    expect(fileMemoryId('brand.md')).toMatch(/^mem_f[A-Za-z0-9]{15}$/);
  });
});

describe('the memory section of the prompt', () => {
  const memories = [memory('mem_a', 'Old low note.', 'low', 0), memory('mem_b', 'Old high instruction.', 'high', 1), memory('mem_c', 'New low note.', 'low', 2), memory('mem_d', 'New medium fact.', 'medium', 3)];

  it('lists memories oldest first, dated, with priority and id, the same every time', () => {
    const section = memorySection(promptMemory(memories, { editable: true, maxCharacters: 10_000 }));
    expect(section).toContain('- [2026-06-01, low] Old low note. (mem_a)\n- [2026-06-02, high] Old high instruction. (mem_b)\n- [2026-06-03, low] New low note. (mem_c)\n- [2026-06-04, medium] New medium fact. (mem_d)');
    expect(memorySection(promptMemory(memories, { editable: true, maxCharacters: 10_000 }))).toBe(section);
    expect(section).not.toContain('not shown');
  });

  it('drops the lowest-priority, oldest memories past its budget, and says so', () => {
    const line = (memory: MemoryRecord) => `- [2026-06-01, ${memory.priority}] ${memory.content} (${memory.memory_id})`.length + 1;
    const budget = memories.reduce((total, entry) => total + line(entry), 0) - 5;
    const one = promptMemory(memories, { editable: true, maxCharacters: budget });
    expect(one.memories.map((entry) => entry.memory_id)).toEqual(['mem_b', 'mem_c', 'mem_d']);
    expect(one.omitted).toBe(1);
    expect(memorySection(one)).toContain('(1 lower-priority, older memory is not shown here, to keep this section short; it is in /workspace/.herm/memory/.)');
    const two = promptMemory(memories, { editable: false, maxCharacters: budget - line(memories[2]!) });
    expect(two.memories.map((entry) => entry.memory_id)).toEqual(['mem_b', 'mem_d']);
    expect(memorySection(two)).toContain('(2 lower-priority, older memories are not shown here, to keep this section short.)');
  });
});

describe("the observer's reply", () => {
  it('reads "- [priority] text" lines, and nothing from NONE or prose', () => {
    expect(parseObservations('Here is what I saw:\n- [high] Likes blue.\n* (low): Greets with hey\n1. Works at Acme\n- NONE')).toEqual([
      { priority: 'high', content: 'Likes blue.' },
      { priority: 'low', content: 'Greets with hey' },
      { priority: 'medium', content: 'Works at Acme' },
    ]);
    expect(parseObservations('NONE')).toEqual([]);
    expect(parseObservations('Nothing to remember here.')).toEqual([]);
  });

  it('measures similarity by shared words', () => {
    expect(similarity('Always end videos with the Acme logo sting.', 'always end videos with the acme logo sting')).toBe(1);
    expect(similarity('Always end videos with the Acme logo sting.', 'Invoices go to billing')).toBe(0);
  });

  it('tells the observer the date, the memory, the deleted memories and the new messages', () => {
    const prompt = observerPrompt(Date.UTC(2026, 11, 6, 10), [memory('mem_a', 'Likes blue.', 'high', 0)], ['Hates red.'], [
      { role: 'user', content: 'I ship on Fridays', created_at: Date.UTC(2026, 11, 6, 9, 30) },
      { role: 'agent', content: 'Noted', created_at: Date.UTC(2026, 11, 6, 9, 31) },
    ]);
    expect(prompt).toContain('Today is 2026-12-06.');
    expect(prompt).toContain('- [high] Likes blue.');
    expect(prompt).toContain('deleted on purpose');
    expect(prompt).toContain('- Hates red.');
    expect(prompt).toContain('[2026-12-06 09:30] customer: I ship on Fridays\n[2026-12-06 09:31] agent: Noted');
  });
});

describe("the memory directory's fingerprint (seen from the host)", () => {
  it('is null without the directory, changes with any change of a file, and cannot tell through a symlink', async () => {
    const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'herm-memory-fingerprint-'));
    try {
      expect(await memoryDirectoryFingerprint(workspace)).toBeNull();
      const directory = path.join(workspace, '.herm', 'memory');
      fs.mkdirSync(directory, { recursive: true });
      const empty = await memoryDirectoryFingerprint(workspace);
      expect(typeof empty).toBe('string');
      const file = path.join(directory, 'mem_abc.md');
      fs.writeFileSync(file, 'Brand color is violet.');
      const written = await memoryDirectoryFingerprint(workspace);
      expect(written).not.toBe(empty);
      expect(await memoryDirectoryFingerprint(workspace)).toBe(written);
      // Rewritten in place with text of the same length: the file's times change.
      await new Promise((resolve) => setTimeout(resolve, 5));
      fs.writeFileSync(file, 'Brand color is indigo');
      fs.appendFileSync(file, '.');
      const rewritten = await memoryDirectoryFingerprint(workspace);
      expect(rewritten).not.toBe(written);
      // A symlinked entry (its target may change without it), or a symlinked directory: the host cannot tell.
      fs.writeFileSync(path.join(workspace, 'notes.md'), 'Elsewhere.');
      fs.symlinkSync('../../notes.md', path.join(directory, 'linked.md'));
      expect(await memoryDirectoryFingerprint(workspace)).toBeUndefined();
      fs.rmSync(path.join(directory, 'linked.md'));
      fs.rmSync(path.join(workspace, '.herm'), { recursive: true });
      fs.mkdirSync(path.join(workspace, 'real', 'memory'), { recursive: true });
      fs.symlinkSync('real', path.join(workspace, '.herm'));
      expect(await memoryDirectoryFingerprint(workspace)).toBeUndefined();
    } finally {
      fs.rmSync(workspace, { recursive: true, force: true });
    }
  });
});
