// The redactor that keeps a secret's real value out of a run's events, history and logs: whole texts, JSON values,
// and streamed tokens, where a value cut across pieces in any way is still caught.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MIN_REDACTED_LENGTH, SecretRedactor } from '../../src/secrets/secret-redactor.ts';

const TOKEN = 'tok_live_9f8e7d6c5b4a';
const OTHER = 'ghp_abcdefghijklmnop';

describe('SecretRedactor', () => {
  const redactor = new SecretRedactor([
    { name: 'META_ADS_TOKEN', value: TOKEN },
    { name: 'GITHUB_TOKEN', value: OTHER },
    { name: 'SHORT', value: '1234567' },
  ]);

  it('replaces every occurrence of every value with its name', () => {
    expect(redactor.redact(`a ${TOKEN} b ${OTHER}${TOKEN}`)).toBe('a [redacted:META_ADS_TOKEN] b [redacted:GITHUB_TOKEN][redacted:META_ADS_TOKEN]');
    expect(redactor.redact('nothing here')).toBe('nothing here');
  });

  it(`leaves values shorter than ${MIN_REDACTED_LENGTH} characters alone`, () => {
    expect(redactor.redact('pin 1234567')).toBe('pin 1234567');
    expect(new SecretRedactor([{ name: 'X', value: 'short' }]).empty).toBe(true);
  });

  it('redacts a value containing another as a whole', () => {
    const nested = new SecretRedactor([
      { name: 'INNER', value: 'abcdefgh' },
      { name: 'OUTER', value: 'xx-abcdefgh-yy' },
    ]);
    expect(nested.redact('xx-abcdefgh-yy and abcdefgh')).toBe('[redacted:OUTER] and [redacted:INNER]');
  });

  it('redacts a value in the forms programs encode it in: JSON-escaped, percent-encoded, base64 (also inside Basic credentials)', () => {
    const value = 'p@ss/w+rd"x&y=z~1';
    const encoded = new SecretRedactor([{ name: 'PASSWORD', value }]);
    expect(encoded.redact(JSON.stringify({ password: value }))).toBe('{"password":"[redacted:PASSWORD]"}');
    expect(encoded.redact(`?p=${encodeURIComponent(value)}&q=1`)).toBe('?p=[redacted:PASSWORD]&q=1');
    expect(encoded.redact(Buffer.from(value).toString('base64'))).not.toContain(Buffer.from(value).toString('base64').slice(0, 12));
    expect(encoded.redact(`t=${Buffer.from(value).toString('base64url')}`)).toBe('t=[redacted:PASSWORD]');
    for (const user of ['', 'u:', 'ab:', 'user:']) {
      const basic = Buffer.from(`${user}${value}`).toString('base64');
      const redacted = encoded.redact(`Authorization: Basic ${basic}`);
      expect(redacted, user).toContain('[redacted:PASSWORD]');
      // What is left of the encoding holds at most the value's first and last two bytes.
      expect(redacted.length, user).toBeLessThan(`Authorization: Basic ${basic}`.length);
      expect(Buffer.from(redacted.replace(/^.*Basic |\[redacted:PASSWORD\]/g, ''), 'base64').toString('latin1')).not.toContain('ss/w');
    }
    // Forms of the value in text that is cut into pieces are caught too.
    const stream = encoded.stream();
    const text = `x ${encodeURIComponent(value)} y`;
    expect(stream.push(text.slice(0, 9)) + stream.push(text.slice(9)) + stream.flush()).toBe('x [redacted:PASSWORD] y');
  });

  it('redacts strings anywhere in a JSON value, keys included, and keeps unchanged values as they are', () => {
    const value = { stdout: `token=${TOKEN}`, nested: [{ [TOKEN]: 1, ok: true }], count: 3 };
    expect(redactor.redactDeep(value)).toEqual({ stdout: 'token=[redacted:META_ADS_TOKEN]', nested: [{ '[redacted:META_ADS_TOKEN]': 1, ok: true }], count: 3 });
    const clean = { a: ['b', { c: 'd' }] };
    expect(redactor.redactDeep(clean)).toBe(clean);
  });

  it('catches a value split across streamed pieces, holding back only what could begin one', () => {
    const stream = redactor.stream();
    const out = [stream.push('The token is tok_li'), stream.push('ve_9f8e'), stream.push('7d6c5b4a, done. tok'), stream.push('ens are fun'), stream.flush()];
    expect(out.join('')).toBe('The token is [redacted:META_ADS_TOKEN], done. tokens are fun');
    expect(out[0]).toBe('The token is ');
    // A prefix that turns out not to be a value is let go as soon as that is clear, or at the end.
    const other = redactor.stream();
    expect(other.push('see tok_l')).toBe('see ');
    expect(other.push('ater')).toBe('tok_later');
    expect(other.push(' tok_')).toBe(' ');
    expect(other.flush()).toBe('tok_');
  });

  it('gives the same text as redacting the whole, however the text is cut (property)', () => {
    const alphabet = fc.constantFrom('a', 't', 'o', 'k', '_', ' ', ...TOKEN.split(''), ...OTHER.split(''));
    const text = fc
      .array(fc.oneof(fc.constant(TOKEN), fc.constant(OTHER), fc.string({ unit: alphabet, maxLength: 12 })), { maxLength: 8 })
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(text, fc.array(fc.nat(), { maxLength: 10 }), (whole, cuts) => {
        const points = [...new Set(cuts.map((cut) => cut % (whole.length + 1)))].sort((a, b) => a - b);
        const pieces: string[] = [];
        let previous = 0;
        for (const point of [...points, whole.length]) {
          pieces.push(whole.slice(previous, point));
          previous = point;
        }
        const stream = redactor.stream();
        const emitted = pieces.map((piece) => stream.push(piece));
        const joined = emitted.join('') + stream.flush();
        expect(joined).toBe(redactor.redact(whole));
        for (const piece of emitted) {
          expect(piece).not.toContain(TOKEN);
          expect(piece).not.toContain(OTHER);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('passes pieces through untouched when there is nothing to redact', () => {
    const stream = new SecretRedactor([]).stream();
    expect(stream.push('tok_')).toBe('tok_');
    expect(stream.flush()).toBe('');
  });
});
