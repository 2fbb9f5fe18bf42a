// One memory as a file in the workspace: `/workspace/.herm/memory/<memory_id>.md`, a small front matter and the
// memory's text. The agent reads and writes these with its ordinary file tools; the Memory API parses the same
// files. A file the agent wrote by hand, without front matter (or with an id that is not a memory id, or one
// another file already uses), still is a memory: its id is derived from its file name, so it stays the same.
//
//   ---
//   id: mem_8nW3p4
//   source: api
//   priority: medium
//   created: 2026-06-11T21:18:44.120Z
//   updated: 2026-06-11T21:18:44.120Z
//   ---
//   Acme's brand voice is playful but never sarcastic. Primary color #7C3AED.
import { createHash } from 'node:crypto';

/** The memory directory, relative to the workspace root. */
export const MEMORY_DIRECTORY = '.herm/memory';
/** The memory directory as the agent sees it. */
export const MEMORY_PATH = `/workspace/${MEMORY_DIRECTORY}`;

export type MemorySource = 'agent' | 'api';
export type MemoryPriority = 'high' | 'medium' | 'low';
export const MEMORY_PRIORITIES: readonly MemoryPriority[] = ['high', 'medium', 'low'];

/** Longest memory text, in characters (the API refuses longer; a longer file is cut in the prompt). */
export const MAX_MEMORY_CHARACTERS = 8_000;
/** A file in the memory directory larger than this is not read as a memory. */
export const MAX_MEMORY_FILE_BYTES = 64 * 1024;

export interface MemoryRecord {
  memory_id: string;
  content: string;
  source: MemorySource;
  priority: MemoryPriority;
  /** The file, relative to the workspace root: `.herm/memory/mem_8nW3p4.md`. */
  path: string;
  created_at: number;
  updated_at: number;
}

const MEMORY_ID = /^mem_[A-Za-z0-9_]{1,64}$/;
const FRONT_MATTER = /^---\r?\n([^]*?)\r?\n---[ \t]*(?:\r?\n|$)/;

export function isMemoryId(value: string): boolean {
  return MEMORY_ID.test(value);
}

/** The id of a memory file that names none: the same for the same file name, whatever its content. */
export function fileMemoryId(fileName: string): string {
  const digest = createHash('sha256').update(`${MEMORY_DIRECTORY}/${fileName}`).digest();
  return `mem_f${base62(digest).slice(0, 15)}`;
}

/** A memory file as parsed: what its front matter says, and its text. Fields it lacks are undefined. */
export interface ParsedMemoryFile {
  id: string | undefined;
  source: MemorySource | undefined;
  priority: MemoryPriority | undefined;
  created: number | undefined;
  updated: number | undefined;
  content: string;
}

export function parseMemoryFile(text: string): ParsedMemoryFile {
  const match = FRONT_MATTER.exec(text);
  const fields = new Map<string, string>();
  if (match) {
    for (const line of match[1]!.split(/\r?\n/)) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      fields.set(line.slice(0, colon).trim().toLowerCase(), unquote(line.slice(colon + 1).trim()));
    }
  }
  const body = (match ? text.slice(match[0].length) : text).trim();
  const id = fields.get('id');
  const source = fields.get('source');
  const priority = fields.get('priority')?.toLowerCase();
  return {
    id: id && isMemoryId(id) ? id : undefined,
    source: source === 'agent' || source === 'api' ? source : undefined,
    priority: MEMORY_PRIORITIES.includes(priority as MemoryPriority) ? (priority as MemoryPriority) : undefined,
    created: parseTime(fields.get('created')),
    updated: parseTime(fields.get('updated')),
    content: body,
  };
}

export function serializeMemoryFile(memory: Pick<MemoryRecord, 'memory_id' | 'source' | 'priority' | 'created_at' | 'updated_at' | 'content'>): string {
  return [
    '---',
    `id: ${memory.memory_id}`,
    `source: ${memory.source}`,
    `priority: ${memory.priority}`,
    `created: ${new Date(memory.created_at).toISOString()}`,
    `updated: ${new Date(memory.updated_at).toISOString()}`,
    '---',
    memory.content.trim(),
    '',
  ].join('\n');
}

/** The file of a new memory. */
export function memoryFilePath(memoryId: string): string {
  return `${MEMORY_DIRECTORY}/${memoryId}.md`;
}

function parseTime(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const time = Date.parse(value);
  return Number.isFinite(time) ? time : undefined;
}

function unquote(value: string): string {
  return value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.at(-1) === value[0] ? value.slice(1, -1) : value;
}

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function base62(bytes: Buffer): string {
  let value = BigInt(`0x${bytes.toString('hex')}`);
  let out = '';
  while (value > 0n) {
    out += ALPHABET[Number(value % 62n)];
    value /= 62n;
  }
  return out.padEnd(16, '0');
}
