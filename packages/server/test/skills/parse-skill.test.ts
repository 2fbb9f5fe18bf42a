// SKILL.md frontmatter as skills are written: bare and quoted values, folded and literal block scalars, plain
// values continued on indented lines, nested maps skipped; a missing field or block is a SkillParseError.
import { describe, expect, it } from 'vitest';
import { parseSkill, SkillParseError } from '../../src/skills/parse-skill.ts';

describe('parseSkill', () => {
  it('reads bare and quoted values and keeps the body', () => {
    expect(parseSkill('---\nname: storyboarding\ndescription: Create shot-by-shot storyboards\n---\n# Storyboarding\n1. Go.\n')).toEqual({
      name: 'storyboarding',
      description: 'Create shot-by-shot storyboards',
      body: '# Storyboarding\n1. Go.\n',
    });
    expect(parseSkill('\uFEFF---\r\nname: "a: b"\r\ndescription: \'It\'\'s quoted\'\r\n---\r\n').description).toBe("It's quoted");
    expect(parseSkill('---\nname: x\ndescription: "Say \\"hi\\""\n---\n').description).toBe('Say "hi"');
    expect(parseSkill('---\nname:x\ndescription:tight\n---\n').description).toBe('tight');
  });

  it('reads folded, literal and continued values, and skips nested maps', () => {
    const folded = parseSkill('---\nname: x\ndescription: >-\n  Design high-CTR\n  video thumbnails.\nlicense: MIT\n---\nbody');
    expect(folded.description).toBe('Design high-CTR video thumbnails.');
    expect(parseSkill('---\nname: x\ndescription: |\n  Line one\n  Line two\n---\n').description).toBe('Line one\nLine two');
    expect(parseSkill('---\nname: x\ndescription: Starts here\n  and goes on\nmetadata:\n  author: acme\n  version: "1"\n---\n').description).toBe('Starts here and goes on');
    expect(parseSkill('---\nmetadata:\n  description: nested, not this one\nname: x\ndescription: top level\n---\n').description).toBe('top level');
  });

  it('refuses a missing frontmatter, name or description', () => {
    expect(() => parseSkill('# no frontmatter')).toThrow(SkillParseError);
    expect(() => parseSkill('---\nname: x\n---\nbody')).toThrow('SKILL.md frontmatter is missing "description"');
    expect(() => parseSkill('---\ndescription: d\n---\n')).toThrow('SKILL.md frontmatter is missing "name"');
    expect(() => parseSkill('---\nname: x\ndescription:\n---\n')).toThrow('missing "description"');
  });
});
