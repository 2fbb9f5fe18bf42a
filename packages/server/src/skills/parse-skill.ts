// SKILL.md: YAML-style frontmatter with at least `name` and `description`, then the instructions.

export interface ParsedSkill {
  name: string;
  description: string;
  body: string;
}

export class SkillParseError extends Error {}

/** Parses the frontmatter's simple `key: value` lines (quoted or bare); nested YAML is not needed here. */
export function parseSkill(markdown: string): ParsedSkill {
  const match = /^---\r?\n([\s\S]*?)\r?\n---\r?\n?([\s\S]*)$/.exec(markdown.replace(/^\uFEFF/, ''));
  if (!match) throw new SkillParseError('SKILL.md must start with a --- frontmatter block containing name and description');
  const fields = new Map<string, string>();
  for (const line of match[1]!.split(/\r?\n/)) {
    const field = /^([A-Za-z_][\w-]*)\s*:\s*(.*)$/.exec(line);
    if (field) fields.set(field[1]!, field[2]!.trim().replace(/^(["'])(.*)\1$/, '$2'));
  }
  const name = fields.get('name');
  const description = fields.get('description');
  if (!name) throw new SkillParseError('SKILL.md frontmatter is missing "name"');
  if (!description) throw new SkillParseError('SKILL.md frontmatter is missing "description"');
  return { name, description, body: match[2] ?? '' };
}

/** Fetches a SKILL.md from a URL with a timeout and a size cap, then parses it. */
export async function fetchSkill(url: string, timeoutMs = 10_000, maxBytes = 1_048_576): Promise<ParsedSkill> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' });
  } catch (error) {
    throw new SkillParseError(`could not fetch ${url}: ${(error as Error).message}`);
  }
  if (!response.ok) throw new SkillParseError(`fetching ${url} returned HTTP ${response.status}`);
  const text = await response.text();
  if (Buffer.byteLength(text) > maxBytes) throw new SkillParseError(`${url} is larger than ${maxBytes} bytes`);
  return parseSkill(text);
}
