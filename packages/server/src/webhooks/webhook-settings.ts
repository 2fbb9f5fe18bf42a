// The delivery worker's settings, read from the environment by config.ts.

/** Svix's schedule (also Resend's): after the first attempt fails, retries 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h later. */
export const DEFAULT_RETRY_SCHEDULE = '5s,5m,30m,2h,5h,10h,10h';

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * HERM_WEBHOOK_RETRY_SCHEDULE: the delays before each retry, comma-separated, each a number with a unit (ms, s, m,
 * h, d), e.g. `5s,5m,30m,2h,5h,10h,10h`; `none`: no retries. Throws naming the entry it cannot read.
 */
export function parseRetrySchedule(text: string): number[] {
  if (text.trim() === 'none') return [];
  const entries = text
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (entries.length > 50) throw new Error(`at most 50 retries, got ${entries.length}`);
  return entries.map((entry) => {
    const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(entry);
    if (!match) throw new Error(`"${entry}" is not a delay such as 500ms, 5s, 5m, 2h or 1d`);
    const delay = Number(match[1]) * UNITS[match[2]!]!;
    if (delay > 7 * 86_400_000) throw new Error(`"${entry}" is longer than 7 days`);
    return Math.round(delay);
  });
}

/**
 * The delay before the retry after `index` failed attempts, with jitter: ±20 %, so that the retries of many
 * messages that failed together (an endpoint that was down) do not all come back at the same moment.
 */
export function retryDelay(schedule: readonly number[], index: number, random = Math.random): number | undefined {
  const base = schedule[index];
  if (base === undefined) return undefined;
  return Math.max(0, Math.round(base * (0.8 + 0.4 * random())));
}
