// The log output of herm serve: which format is chosen, and how a pretty line reads.
import { describe, expect, it } from 'vitest';
import { chooseLogFormat, formatLogLine, useColours } from '../../src/logging/log-output.ts';
import { adminKeyAnnouncement } from '../../src/server.ts';
import { loadConfig } from '../../src/config.ts';

describe('log output', () => {
  it('is pretty on a terminal and JSON otherwise, unless LOG_FORMAT says', () => {
    expect(chooseLogFormat('auto', true)).toBe('pretty');
    expect(chooseLogFormat('auto', false)).toBe('json');
    expect(chooseLogFormat('json', true)).toBe('json');
    expect(chooseLogFormat('pretty', false)).toBe('pretty');
    expect(loadConfig({}).LOG_FORMAT).toBe('auto');
    expect(loadConfig({ LOG_FORMAT: 'json' }).LOG_FORMAT).toBe('json');
    expect(() => loadConfig({ LOG_FORMAT: 'xml' })).toThrow(/LOG_FORMAT/);
  });

  it('colours a terminal unless NO_COLOR; FORCE_COLOR colours anything', () => {
    expect(useColours(true, {})).toBe(true);
    expect(useColours(true, { NO_COLOR: '1' })).toBe(false);
    expect(useColours(false, {})).toBe(false);
    expect(useColours(false, { FORCE_COLOR: '1' })).toBe(true);
  });

  it('formats one JSON line as one readable line', () => {
    const time = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
    const line = JSON.stringify({
      level: 40,
      time,
      pid: 1,
      hostname: 'h',
      component: 'runs',
      deploymentId: 'dep_1',
      reason: 'ANTHROPIC_API_KEY is not set',
      err: { type: 'Error', message: 'boom\nsecond line', stack: 'Error: boom\n    at x' },
      msg: 'run failed',
    });
    const text = formatLogLine(line, false);
    expect(text).toBe('03:04:05.678 WARN  [runs] run failed deploymentId=dep_1 reason="ANTHROPIC_API_KEY is not set" err="Error: boom\\nsecond line"\n');
    expect(text.split('\n')).toHaveLength(2);
    const coloured = formatLogLine(line, true);
    expect(coloured).toContain('\u001b[33mWARN \u001b[0m');
    expect(coloured.replace(/\u001b\[[0-9;]*m/g, '')).toBe(text);
    // Not JSON: passed on as it is.
    expect(formatLogLine('plain text', false)).toBe('plain text\n');
  });

  it('announces the first admin key on a line of its own, framed on a terminal', () => {
    const plain = adminKeyAnnouncement('herm_sk_abc', false);
    expect(plain.split('\n')[0]).toBe('Created an admin API key (shown once, store it now): herm_sk_abc');
    expect(plain).toContain('only a hash');
    const framed = adminKeyAnnouncement('herm_sk_abc', true).replace(/\u001b\[[0-9;]*m/g, '').split('\n');
    expect(framed[0]).toMatch(/^┏━+┓$/);
    expect(framed.at(-1)).toMatch(/^┗━+┛$/);
    expect(new Set(framed.map((row) => row.length)).size).toBe(1);
    expect(framed[1]).toContain('herm_sk_abc');
  });
});
