// The schedule parser: natural-language phrases to exact cron expressions by fixed rules, cron validated by croner,
// phrases cron cannot express exactly refused with a hint; next times computed in UTC.
import { describe, expect, it } from 'vitest';
import { nextRunAfter, parseSchedule, ScheduleError } from '../../src/automations/schedule.ts';

/** [phrase, the exact cron it must give]. */
const PHRASES: [string, string][] = [
  ['every Monday at 9am', '0 9 * * 1'],
  ['every weekday at 17:30', '30 17 * * 1-5'],
  ['daily', '0 0 * * *'],
  ['every 2 hours', '0 */2 * * *'],
  ['hourly', '0 * * * *'],
  ['every 15 minutes', '*/15 * * * *'],
  ['every month on the 1st at 8:00', '0 8 1 * *'],
  ['weekends at noon', '0 12 * * 0,6'],
  ['every day at 9am', '0 9 * * *'],
  ['Every day at 9 AM', '0 9 * * *'],
  ['everyday at 6:45pm', '45 18 * * *'],
  ['every minute', '* * * * *'],
  ['every 5 minutes', '*/5 * * * *'],
  ['every 30 mins', '*/30 * * * *'],
  ['every hour', '0 * * * *'],
  ['every hour at :30', '30 * * * *'],
  ['every hour at 15 minutes past', '15 * * * *'],
  ['every 6 hours', '0 */6 * * *'],
  ['every 12 hours at half past', '30 */12 * * *'],
  ['every hour from 9am to 5pm on weekdays', '0 9-17 * * 1-5'],
  ['every 2 hours between 8am and 6pm', '0 8-18/2 * * *'],
  ['every 15 minutes on weekdays', '*/15 * * * 1-5'],
  ['every tuesday', '0 0 * * 2'],
  ['every sunday at midnight', '0 0 * * 0'],
  ['mondays at 10:15', '15 10 * * 1'],
  ['every mon, wed and fri at 9:15', '15 9 * * 1,3,5'],
  ['every Tuesday and Thursday at 4pm', '0 16 * * 2,4'],
  ['monday to friday at 8am', '0 8 * * 1-5'],
  ['mon-fri at 7:00', '0 7 * * 1-5'],
  ['every weekend at 10am', '0 10 * * 0,6'],
  ['weekly', '0 0 * * 0'],
  ['weekly on friday at 5pm', '0 17 * * 5'],
  ['every week on Monday at 9:00 UTC', '0 9 * * 1'],
  ['monthly', '0 0 1 * *'],
  ['on the 15th of every month at noon', '0 12 15 * *'],
  ['every month on the 1st and 15th at 8am', '0 8 1,15 * *'],
  ['on the last day of the month at 23:00', '0 23 L * *'],
  ['on the first day of every month', '0 0 1 * *'],
  ['every 3 months', '0 0 1 */3 *'],
  ['quarterly at 9am', '0 9 1 */3 *'],
  ['yearly', '0 0 1 1 *'],
  ['every year on January 1st at 9am', '0 9 1 1 *'],
  ['every december 25 at 7am', '0 7 25 12 *'],
  ['annually on the 4th of July at noon', '0 12 4 7 *'],
  ['every day at 9am and 5pm', '0 9,17 * * *'],
  ['nightly at 2am', '0 2 * * *'],
  ['at 9', '0 9 * * *'],
  ['daily at 12am', '0 0 * * *'],
  ['daily at 12pm', '0 12 * * *'],
  ['every day at 09:05 (UTC)', '5 9 * * *'],
  ['every Friday at 5 p.m.', '0 17 * * 5'],
  ['every Saturday at 9 o\'clock', '0 9 * * 6'],
  ['@daily', '0 0 * * *'],
  ['@hourly', '0 * * * *'],
  ['0 9 * * 1', '0 9 * * 1'],
  ['  */10   *  * * *  ', '*/10 * * * *'],
  ['0 9 * * MON-FRI', '0 9 * * MON-FRI'],
  ['0 0 L * *', '0 0 L * *'],
];

describe('parseSchedule', () => {
  it(`turns ${PHRASES.length} phrasings into exact cron expressions`, () => {
    expect(PHRASES.length).toBeGreaterThanOrEqual(40);
    const wrong = PHRASES.map(([phrase, cron]) => {
      try {
        const parsed = parseSchedule(phrase);
        return parsed.cron === cron ? undefined : `${phrase} → ${parsed.cron}, expected ${cron}`;
      } catch (error) {
        return `${phrase} → ${(error as Error).message}`;
      }
    }).filter((line) => line !== undefined);
    expect(wrong).toEqual([]);
  });

  it('tells natural language from cron', () => {
    expect(parseSchedule('every Monday at 9am').natural).toBe(true);
    expect(parseSchedule('0 9 * * 1').natural).toBe(false);
    expect(parseSchedule('@weekly').natural).toBe(false);
  });

  it.each([
    ['', /empty/],
    ['whenever the moon is full', /Could not understand "whenever moon is full"/],
    ['every 45 minutes', /divides 60/],
    ['every 5 hours', /divides 24/],
    ['every other day', /cannot be expressed exactly/],
    ['every 2 weeks', /cannot be expressed exactly/],
    ['every 30 seconds', /at most once a minute/],
    ['every Monday at 9am PST', /time zone/],
    ['every day at 9am and 5:30pm', /different minutes/],
    ['every day at 25:00', /hour is 0 to 23/],
    ['every day at 13pm', /1 to 12/],
    ['every 2 hours at 9am', /no time of day/],
    ['on the 32nd', /not a day of the month/],
    ['on the 1st on mondays', /cannot be combined/],
    ['0 9 * * 1 2026', /5 fields/],
    ['61 * * * *', /not a valid cron expression/],
    ['0 0 30 2 *', /never comes/],
    ['every February 30th', /never comes/],
    ['@fortnightly', /Unknown cron alias/],
  ])('refuses %j with a clear message and a hint', (phrase, message) => {
    let caught: unknown;
    try {
      parseSchedule(phrase);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ScheduleError);
    expect(`${(caught as ScheduleError).message} ${(caught as ScheduleError).hint}`).toMatch(message);
    expect((caught as ScheduleError).hint.length).toBeGreaterThan(10);
  });

  it('is deterministic: the same phrase always gives the same cron', () => {
    for (const [phrase] of PHRASES) expect(parseSchedule(phrase).cron).toBe(parseSchedule(phrase).cron);
  });
});

describe('nextRunAfter', () => {
  it('computes the next time in UTC, strictly after the given instant', () => {
    const at = (iso: string) => Date.parse(iso);
    expect(nextRunAfter('0 9 * * 1', at('2026-06-11T21:20:10Z'))).toBe(at('2026-06-15T09:00:00Z'));
    expect(nextRunAfter('0 9 * * 1', at('2026-06-15T09:00:00Z'))).toBe(at('2026-06-22T09:00:00Z'));
    expect(nextRunAfter('*/15 * * * *', at('2026-06-15T09:07:00Z'))).toBe(at('2026-06-15T09:15:00Z'));
    expect(nextRunAfter('0 23 L * *', at('2026-02-03T00:00:00Z'))).toBe(at('2026-02-28T23:00:00Z'));
  });
});
