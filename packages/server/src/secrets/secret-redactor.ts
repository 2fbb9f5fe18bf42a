// Defence in depth for connector secrets: the sandbox only ever holds placeholders, but should a real value reach a
// run's output anyway (an API echoing the Authorization header it received, an MCP tool printing its token, the
// model repeating either), it is replaced by `[redacted:NAME]` before it is stored, streamed or sent to the model.
// The run journal (runs/run-journal.ts) passes every text of a run through one of these.

/** Values shorter than this are not redacted: replacing every "1234" or "true" in a run's output would mangle it. */
export const MIN_REDACTED_LENGTH = 8;

export interface NamedSecretValue {
  /** The variable of the deployment's secrets map. */
  name: string;
  value: string;
  /** What takes the value's place; default `[redacted:NAME]`. */
  replacement?: string;
  /** Look for exactly this text, not also for its encoded forms (derivedForms). */
  exact?: boolean;
}

/**
 * The forms a value takes when a program encodes it, besides the raw text: JSON-escaped, percent-encoded
 * (encodeURIComponent), and base64 (standard and URL-safe) — of the value alone, and, since base64 inside a longer
 * text (`Basic base64(user:value)`) depends on where the value starts, the part of the encoding that covers only the
 * value's bytes at each of the three offsets, when that part is at least MIN_REDACTED_LENGTH characters. Only forms
 * that differ from the raw value.
 */
export function derivedForms(value: string): string[] {
  const forms = new Set<string>([JSON.stringify(value).slice(1, -1), encodeURIComponent(value)]);
  const bytes = Buffer.from(value, 'utf8');
  const base64 = (text: string): void => {
    forms.add(text);
    forms.add(text.replaceAll('+', '-').replaceAll('/', '_'));
  };
  base64(bytes.toString('base64').replace(/=+$/, ''));
  for (let offset = 0; offset < 3; offset++) {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
    // Without the group that holds the zero bytes before the value, and a last group the next bytes would change.
    base64(encoded.slice(offset === 0 ? 0 : 4, Math.floor((offset + bytes.length) / 3) * 4));
  }
  forms.delete(value);
  return [...forms].filter((form) => form.length >= MIN_REDACTED_LENGTH);
}

export class SecretRedactor {
  /** Longest first: a value that contains another is replaced whole. */
  readonly #secrets: readonly NamedSecretValue[];
  readonly #longest: number;

  constructor(secrets: readonly NamedSecretValue[]) {
    const unique = new Map<string, NamedSecretValue>();
    for (const secret of secrets) {
      if (secret.value.length < MIN_REDACTED_LENGTH) continue;
      if (!unique.has(secret.value)) unique.set(secret.value, secret);
      if (secret.exact) continue;
      for (const form of derivedForms(secret.value)) {
        if (!unique.has(form)) unique.set(form, { ...secret, value: form });
      }
    }
    this.#secrets = [...unique.values()].sort((a, b) => b.value.length - a.value.length);
    this.#longest = this.#secrets[0]?.value.length ?? 0;
  }

  /** No value to look for (no secrets, or only short ones). */
  get empty(): boolean {
    return this.#secrets.length === 0;
  }

  redact(text: string): string {
    let result = text;
    for (const secret of this.#secrets) {
      if (result.includes(secret.value)) result = result.split(secret.value).join(secret.replacement ?? `[redacted:${secret.name}]`);
    }
    return result;
  }

  /** A JSON-like value with every string in it (keys included) redacted; the same object when nothing changed. */
  redactDeep<T>(value: T): T {
    if (this.empty) return value;
    return this.#deep(value) as T;
  }

  #deep(value: unknown): unknown {
    if (typeof value === 'string') return this.redact(value);
    if (Array.isArray(value)) {
      const items = value.map((item) => this.#deep(item));
      return items.some((item, index) => item !== value[index]) ? items : value;
    }
    if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
      let changed = false;
      const entries = Object.entries(value).map(([key, item]) => {
        const newKey = this.redact(key);
        const newItem = this.#deep(item);
        if (newKey !== key || newItem !== item) changed = true;
        return [newKey, newItem] as const;
      });
      return changed ? Object.fromEntries(entries) : value;
    }
    return value;
  }

  /**
   * A redactor for text that arrives in pieces (streamed model tokens): a value cut across two pieces is still
   * found, because the end of each piece that could begin a value is held back until the next piece (or flush)
   * shows whether it does. Without secrets, pieces pass through unchanged and nothing is held.
   */
  stream(): RedactingStream {
    return new RedactingStream(this);
  }

  /** The length of the longest end of `text` that is the beginning (not the whole) of a value. */
  heldTailLength(text: string): number {
    const limit = Math.min(text.length, this.#longest - 1);
    for (let length = limit; length > 0; length--) {
      const tail = text.slice(text.length - length);
      if (this.#secrets.some((secret) => secret.value.length > length && secret.value.startsWith(tail))) return length;
    }
    return 0;
  }
}

export class RedactingStream {
  readonly #redactor: SecretRedactor;
  #pending = '';

  constructor(redactor: SecretRedactor) {
    this.#redactor = redactor;
  }

  /** The text that can go out now (possibly empty); the rest waits for the next piece. */
  push(piece: string): string {
    if (this.#redactor.empty) return piece;
    const text = this.#redactor.redact(this.#pending + piece);
    const held = this.#redactor.heldTailLength(text);
    this.#pending = text.slice(text.length - held);
    return text.slice(0, text.length - held);
  }

  /** Whatever was held back: the text ended. */
  flush(): string {
    const rest = this.#pending;
    this.#pending = '';
    return rest;
  }
}
