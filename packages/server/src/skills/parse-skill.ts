// SKILL.md: YAML-style frontmatter with at least `name` and `description`, then the instructions.
import { OutboundFetchError, outboundFetch, type OutboundPolicy, type OutboundResponse } from '../net/outbound-fetch.ts';

export interface ParsedSkill {
  name: string;
  description: string;
  body: string;
}

export class SkillParseError extends Error {}

/**
 * Parses the frontmatter's top-level `key: value` fields: bare or quoted values, a plain value continued on
 * indented lines, and block scalars (`key: >` folds its indented lines into one, `key: |` keeps them as lines).
 * Nested structures (`metadata:` maps, lists) are skipped; name and description are all a skill needs.
 */
export function parseSkill(markdown: string): ParsedSkill {
  const match = /^---\r?\n([\s\S]*?)\r?\n---\r?\n?([\s\S]*)$/.exec(markdown.replace(/^\uFEFF/, ''));
  if (!match) throw new SkillParseError('SKILL.md must start with a --- frontmatter block containing name and description');
  const fields = new Map<string, string>();
  const lines = match[1]!.split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    const field = /^([A-Za-z_][\w-]*)\s*:\s*(.*)$/.exec(lines[index]!);
    if (!field) continue;
    const value = (field[2] ?? '').trim();
    // The field's indented continuation lines (blank lines inside it included).
    const continuation: string[] = [];
    while (index + 1 < lines.length && /^(\s+\S|\s*$)/.test(lines[index + 1]!)) continuation.push(lines[++index]!.trim());
    while (continuation.length > 0 && continuation.at(-1) === '') continuation.pop();
    const block = /^([|>])[+-]?\d*$/.exec(value);
    if (block) {
      fields.set(field[1]!, block[1] === '|' ? continuation.join('\n') : foldLines(continuation));
    } else if (value.startsWith('"') || value.startsWith("'")) {
      fields.set(field[1]!, unquote([value, ...continuation].join(' ')));
    } else if (value !== '' || continuation.every((line) => !/^(- |[\w-]+\s*:)/.test(line))) {
      fields.set(field[1]!, foldLines([value, ...continuation]));
    }
  }
  const name = fields.get('name');
  const description = fields.get('description');
  if (!name) throw new SkillParseError('SKILL.md frontmatter is missing "name"');
  if (!description) throw new SkillParseError('SKILL.md frontmatter is missing "description"');
  return { name, description, body: match[2] ?? '' };
}

/** YAML folding: lines joined by spaces, an empty line a line break. */
function foldLines(lines: string[]): string {
  return lines
    .join('\n')
    .split(/\n{2,}/)
    .map((paragraph) => paragraph.split('\n').filter((line) => line !== '').join(' '))
    .join('\n')
    .trim();
}

/** A quoted value without its quotes ('' in single quotes is one quote; \" in double quotes is one). */
function unquote(value: string): string {
  const trimmed = value.trim();
  const quote = trimmed[0];
  if (trimmed.length < 2 || trimmed.at(-1) !== quote) return trimmed;
  const inner = trimmed.slice(1, -1);
  return quote === "'" ? inner.replaceAll("''", "'") : inner.replace(/\\(["\\])/g, '$1');
}

/** Default deadline of fetching a SKILL.md (HERM_SKILL_FETCH_TIMEOUT_MS). */
export const DEFAULT_SKILL_FETCH_TIMEOUT_MS = 10_000;

/** Largest SKILL.md fetched from a URL. */
export const MAX_SKILL_BYTES = 1_048_576;

/**
 * Fetches a SKILL.md from a URL under the server's outbound policy (no internal addresses unless
 * HERM_ALLOW_PRIVATE_URLS; see net/outbound-fetch.ts), with a timeout and a size cap, then parses it.
 * A host that does not answer, for whatever reason, is one message.
 */
export async function fetchSkill(
  url: string,
  policy: OutboundPolicy,
  limits: { timeoutMs?: number | undefined; maxBytes?: number | undefined } = {},
): Promise<{ content: string; parsed: ParsedSkill }> {
  let response: OutboundResponse;
  try {
    response = await outboundFetch({
      url,
      policy,
      timeoutMs: limits.timeoutMs ?? DEFAULT_SKILL_FETCH_TIMEOUT_MS,
      maxBytes: limits.maxBytes ?? MAX_SKILL_BYTES,
      headers: { accept: 'text/markdown, text/plain;q=0.9, */*;q=0.1' },
    });
  } catch (error) {
    if (error instanceof OutboundFetchError) throw new SkillParseError(error.message);
    throw error;
  }
  if (response.status < 200 || response.status > 299) throw new SkillParseError(`fetching ${url} returned HTTP ${response.status}`);
  const content = response.body.toString('utf8');
  return { content, parsed: parseSkill(content) };
}
