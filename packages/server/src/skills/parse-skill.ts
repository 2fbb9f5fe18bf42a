// SKILL.md: YAML-style frontmatter with at least `name` and `description`, then the instructions.
import { OutboundFetchError, outboundFetch, type OutboundPolicy, type OutboundResponse } from '../net/outbound-fetch.ts';

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

/** Largest SKILL.md fetched from a URL. */
export const MAX_SKILL_BYTES = 1_048_576;

/**
 * Fetches a SKILL.md from a URL under the server's outbound policy (no internal addresses unless
 * HERM_ALLOW_PRIVATE_URLS; see net/outbound-fetch.ts), with a timeout and a size cap, then parses it.
 * A host that does not answer, for whatever reason, is one message.
 */
export async function fetchSkill(url: string, policy: OutboundPolicy, limits: { timeoutMs?: number; maxBytes?: number } = {}): Promise<ParsedSkill> {
  let response: OutboundResponse;
  try {
    response = await outboundFetch({
      url,
      policy,
      timeoutMs: limits.timeoutMs ?? 10_000,
      maxBytes: limits.maxBytes ?? MAX_SKILL_BYTES,
      headers: { accept: 'text/markdown, text/plain;q=0.9, */*;q=0.1' },
    });
  } catch (error) {
    if (error instanceof OutboundFetchError) throw new SkillParseError(error.message);
    throw error;
  }
  if (response.status < 200 || response.status > 299) throw new SkillParseError(`fetching ${url} returned HTTP ${response.status}`);
  return parseSkill(response.body.toString('utf8'));
}
