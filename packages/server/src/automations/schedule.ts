// An automation's schedule: a 5-field cron expression (UTC), or a natural-language phrase ("every Monday at 9am",
// "every weekday at 17:30", "every 2 hours") turned into one by fixed rules, never by a model: the same phrase
// always gives the same cron. A phrase cron cannot express exactly ("every 45 minutes", "every other day", two times
// with different minutes) is refused with a hint rather than approximated. croner validates the cron and computes
// the next times, always in UTC.
import { Cron } from 'croner';

/** A schedule that is neither a valid cron expression nor a phrase this parser understands; `hint` says what works. */
export class ScheduleError extends Error {
  readonly hint: string;

  constructor(message: string, hint = EXAMPLES_HINT) {
    super(message);
    this.name = 'ScheduleError';
    this.hint = hint;
  }
}

const EXAMPLES_HINT =
  'Use a 5-field cron expression in UTC ("0 9 * * 1") or a phrase such as "every Monday at 9am", "every weekday at 17:30", ' +
  '"daily", "every 2 hours", "every 15 minutes", "every month on the 1st at 8:00" or "weekends at noon" (times are UTC).';

export interface ParsedSchedule {
  /** The 5-field cron expression (UTC) the automation runs on. */
  cron: string;
  /** Whether the input was natural language (else it was a cron expression or an @alias). */
  natural: boolean;
}

const ALIASES: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const DAY_NAMES: Record<string, number> = {
  sun: 0, sunday: 0, sundays: 0, suns: 0,
  mon: 1, monday: 1, mondays: 1, mons: 1,
  tue: 2, tues: 2, tuesday: 2, tuesdays: 2,
  wed: 3, weds: 3, wednesday: 3, wednesdays: 3,
  thu: 4, thur: 4, thurs: 4, thursday: 4, thursdays: 4,
  fri: 5, friday: 5, fridays: 5, fris: 5,
  sat: 6, saturday: 6, saturdays: 6, sats: 6,
};

const MONTH_NAMES: Record<string, number> = {
  jan: 1, january: 1, feb: 2, february: 2, mar: 3, march: 3, apr: 4, april: 4, may: 5, jun: 6, june: 6,
  jul: 7, july: 7, aug: 8, august: 8, sep: 9, sept: 9, september: 9, oct: 10, october: 10, nov: 11, november: 11,
  dec: 12, december: 12,
};

const CRON_NAMES = new Set(['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec']);

const DAY = `(${Object.keys(DAY_NAMES).sort((a, b) => b.length - a.length).join('|')})`;
const MONTH = `(${Object.keys(MONTH_NAMES).sort((a, b) => b.length - a.length).join('|')})`;
const TIME = '(noon|midday|midnight|\\d{1,2}(?::\\d{2})?\\s*(?:am|pm)|\\d{1,2}:\\d{2})';

/** Words that carry no meaning of their own once the clauses around them have been read. */
const FILLERS = new Set(['every', 'each', 'on', 'the', 'at', 'and', 'of', 'in', 'a', 'an', ',', '&', 'run', 'utc', 'time']);

/** Whether one whitespace-separated part looks like a cron field (digits, * ? L W # , / - and 3-letter names). */
function isCronField(part: string): boolean {
  return part.split(/[,/-]/).every(
    (piece) =>
      piece === '' ||
      /^(\*|\?|\d+[LW]?|L|LW|W|\d+#\d)$/i.test(piece) ||
      (/^[A-Za-z]{3}(#\d|L)?$/i.test(piece) && CRON_NAMES.has(piece.slice(0, 3).toLowerCase())),
  );
}

/** Validates a cron expression with croner (UTC, standard semantics); the error names what is wrong. */
function validateCron(cron: string): void {
  let job: Cron;
  try {
    job = new Cron(cron, { timezone: 'UTC', paused: true, mode: '5-part' });
  } catch (error) {
    throw new ScheduleError(`"${cron}" is not a valid cron expression: ${(error as Error).message.replace(/^CronPattern: /, '')}.`);
  }
  // "0 0 30 2 *" parses, but February has no 30th: it would never fire.
  if (job.nextRun() === null) throw new ScheduleError(`"${cron}" never comes: no date matches it.`);
}

/**
 * The schedule as a cron expression: a cron expression is validated and returned as given (whitespace
 * normalised), an @alias replaced, a phrase parsed.
 * @throws ScheduleError naming what could not be understood, with a hint.
 */
export function parseSchedule(input: string): ParsedSchedule {
  const trimmed = input.trim();
  if (trimmed === '') throw new ScheduleError('The schedule is empty.');
  if (trimmed.length > 200) throw new ScheduleError('The schedule is longer than 200 characters.');
  const alias = ALIASES[trimmed.toLowerCase()];
  if (alias) return { cron: alias, natural: false };
  if (trimmed.startsWith('@')) throw new ScheduleError(`Unknown cron alias "${trimmed}".`, `Aliases: ${Object.keys(ALIASES).join(', ')}.`);
  const parts = trimmed.split(/\s+/);
  if (parts.every(isCronField)) {
    if (parts.length === 5) {
      const cron = parts.join(' ');
      validateCron(cron);
      return { cron, natural: false };
    }
    if (parts.length === 6 || parts.length === 7) {
      throw new ScheduleError(
        `"${trimmed}" has ${parts.length} fields: schedules take the 5 fields minute, hour, day of month, month and day of week (no seconds or years).`,
      );
    }
  }
  const cron = parseNatural(trimmed);
  validateCron(cron);
  return { cron, natural: true };
}

/** The first time after `after` (epoch ms) the cron expression fires, in UTC; null when it never does again. */
export function nextRunAfter(cron: string, after: number): number | null {
  const next = new Cron(cron, { timezone: 'UTC', paused: true, mode: '5-part' }).nextRun(new Date(after));
  return next ? next.getTime() : null;
}

interface Clauses {
  minuteStep?: number;
  hourStep?: number;
  monthStep?: number;
  period?: 'day' | 'week' | 'month' | 'year';
  hourRange?: [number, number];
  times: { hour: number; minute: number }[];
  minuteOnly?: number;
  doms: (number | 'L')[];
  months: number[];
  dows: number[];
}

function parseTime(text: string, phrase: string): { hour: number; minute: number } {
  const value = text.replace(/\s+/g, '');
  if (value === 'noon' || value === 'midday') return { hour: 12, minute: 0 };
  if (value === 'midnight') return { hour: 0, minute: 0 };
  const match = /^(\d{1,2})(?::(\d{2}))?(am|pm)?$/.exec(value);
  if (!match) throw new ScheduleError(`Could not read the time "${text}" in "${phrase}".`);
  let hour = Number(match[1]);
  const minute = Number(match[2] ?? 0);
  const meridiem = match[3];
  if (meridiem) {
    if (hour < 1 || hour > 12) throw new ScheduleError(`"${text}" is not a time: with am/pm the hour is 1 to 12.`);
    hour = (hour % 12) + (meridiem === 'pm' ? 12 : 0);
  }
  if (hour > 23) throw new ScheduleError(`"${text}" is not a time: the hour is 0 to 23.`);
  if (minute > 59) throw new ScheduleError(`"${text}" is not a time: the minutes are 0 to 59.`);
  return { hour, minute };
}

function requireDivisor(value: number, of: number, unit: string, phrase: string): void {
  if (value < 1 || of % value !== 0) {
    const divisors = Array.from({ length: of }, (_, index) => index + 1).filter((candidate) => of % candidate === 0 && candidate < of);
    throw new ScheduleError(
      `"${phrase}": every ${value} ${unit} cannot be expressed exactly as a cron schedule.`,
      `Use a number of ${unit} that divides ${of} evenly (${divisors.join(', ')}), or a cron expression.`,
    );
  }
}

/** Sorted, deduplicated numbers; runs of three or more consecutive values as ranges ("1-5"). */
function formatList(values: number[]): string {
  const sorted = [...new Set(values)].sort((a, b) => a - b);
  const out: string[] = [];
  for (let index = 0; index < sorted.length; ) {
    let end = index;
    while (end + 1 < sorted.length && sorted[end + 1] === sorted[end]! + 1) end++;
    if (end - index >= 2) out.push(`${sorted[index]}-${sorted[end]}`);
    else for (let at = index; at <= end; at++) out.push(String(sorted[at]));
    index = end + 1;
  }
  return out.join(',');
}

function dayRange(from: number, to: number): number[] {
  const days: number[] = [];
  for (let day = from; ; day = (day + 1) % 7) {
    days.push(day);
    if (day === to) return days;
  }
}

function parseNatural(phrase: string): string {
  let text = ` ${phrase
    .toLowerCase()
    .replace(/[.!]+$/, '')
    .replace(/\ba\.m\.?/g, 'am')
    .replace(/\bp\.m\.?/g, 'pm')
    .replace(/o'?clock/g, '')
    .replace(/\beveryday\b/g, 'every day')
    .replace(/\((utc|gmt)\)|\b(utc|gmt|z)\b/g, ' ')
    .replace(/,/g, ' , ')
    .replace(/\s+/g, ' ')
    .trim()} `;
  if (/\b(pst|pdt|est|edt|cst|cdt|mst|mdt|cet|cest|bst|ist|jst|aest|aedt|time ?zone)\b|[+-]\d{2}:?\d{2}\b/.test(text)) {
    throw new ScheduleError(`"${phrase}" names a time zone: schedules are always in UTC.`, 'Convert the time to UTC, e.g. 9am New York (EST) is "2pm".');
  }
  const clauses: Clauses = { times: [], doms: [], months: [], dows: [] };
  const take = (pattern: RegExp, onMatch: (match: RegExpExecArray) => void): void => {
    const global = new RegExp(pattern.source, 'g');
    text = text.replace(global, (...args: unknown[]) => {
      const groups = args.slice(0, -2) as string[];
      const match = Object.assign([...groups], { index: 0, input: text }) as unknown as RegExpExecArray;
      onMatch(match);
      return ' ';
    });
  };

  take(/\bevery\s+(?:\d+\s*)?(?:seconds?|secs?)\b/, () => {
    throw new ScheduleError(`"${phrase}": automations run at most once a minute.`, 'Use "every minute" or a longer interval.');
  });
  take(new RegExp(`\\b(?:between|from)\\s+${TIME}\\s+(?:and|to|until|till|through|-)\\s+${TIME}`), (match) => {
    const from = parseTime(match[1]!, phrase);
    const to = parseTime(match[2]!, phrase);
    if (from.minute !== 0 || to.minute !== 0) throw new ScheduleError(`"${phrase}": a range of hours starts and ends on the hour (e.g. "from 9am to 5pm").`);
    if (to.hour < from.hour) throw new ScheduleError(`"${phrase}": the range of hours must not pass midnight.`, 'Use two automations, or a cron expression such as "0 22-23,0-6 * * *".');
    clauses.hourRange = [from.hour, to.hour];
  });
  take(/\bevery\s+(\d+)\s*(?:minutes?|mins?)\b/, (match) => {
    clauses.minuteStep = Number(match[1]);
    requireDivisor(clauses.minuteStep, 60, 'minutes', phrase);
  });
  take(/\b(?:every|each)\s+minute\b|\bminutely\b/, () => (clauses.minuteStep = 1));
  take(/\bevery\s+(\d+)\s*(?:hours?|hrs?)\b/, (match) => {
    clauses.hourStep = Number(match[1]);
    requireDivisor(clauses.hourStep, 24, 'hours', phrase);
  });
  take(/\bhourly\b|\b(?:every|each)\s+hour\b/, () => (clauses.hourStep = 1));
  take(/\bevery\s+(\d+)\s*months?\b/, (match) => {
    clauses.monthStep = Number(match[1]);
    requireDivisor(clauses.monthStep, 12, 'months', phrase);
    clauses.period = 'month';
  });
  take(/\bquarterly\b/, () => {
    clauses.monthStep = 3;
    clauses.period = 'month';
  });
  take(/\bevery\s+(?:other|second|\d+)\s*(?:days?|weeks?|years?)\b|\bbiweekly\b|\bfortnightly\b|\bevery\s+other\s+\w+/, (match) => {
    throw new ScheduleError(
      `"${phrase}": "${match[0]!.trim()}" cannot be expressed exactly as a cron schedule (cron restarts its count each month or year).`,
      'Name the days instead, e.g. "every Monday, Wednesday and Friday at 9am", or use a cron expression.',
    );
  });
  take(/\b(?:daily|nightly|(?:every|each)\s+(?:day|night))\b/, () => (clauses.period = 'day'));
  take(/\b(?:weekly|(?:every|each)\s+week)\b/, () => (clauses.period = 'week'));
  take(/\b(?:monthly|(?:every|each)\s+month|of\s+the\s+month|a\s+month)\b/, () => (clauses.period = 'month'));
  take(/\b(?:yearly|annually|(?:every|each)\s+year|a\s+year)\b/, () => (clauses.period = 'year'));

  const dayOfMonth = (value: string): number => {
    const day = Number(value);
    if (day < 1 || day > 31) throw new ScheduleError(`"${phrase}": ${value} is not a day of the month (1 to 31).`);
    return day;
  };
  take(new RegExp(`\\b${MONTH}\\s+(?:the\\s+)?(\\d{1,2})(?:st|nd|rd|th)?\\b(?!\\s*(?::|am|pm))`), (match) => {
    clauses.months.push(MONTH_NAMES[match[1]!]!);
    clauses.doms.push(dayOfMonth(match[2]!));
  });
  take(new RegExp(`\\b(?:the\\s+)?(\\d{1,2})(?:st|nd|rd|th)?\\s+(?:of\\s+)?${MONTH}\\b`), (match) => {
    clauses.doms.push(dayOfMonth(match[1]!));
    clauses.months.push(MONTH_NAMES[match[2]!]!);
  });
  take(/\b(\d{1,2})(?:st|nd|rd|th)\b/, (match) => clauses.doms.push(dayOfMonth(match[1]!)));
  take(/\bday\s+(\d{1,2})\b/, (match) => clauses.doms.push(dayOfMonth(match[1]!)));
  take(/\blast\s+day\b/, () => clauses.doms.push('L'));
  take(/\bfirst\s+day\b/, () => clauses.doms.push(1));
  take(new RegExp(`\\b${MONTH}\\b`), (match) => clauses.months.push(MONTH_NAMES[match[1]!]!));

  take(/\b(?:weekdays?|work\s*days?|business\s+days?)\b/, () => clauses.dows.push(1, 2, 3, 4, 5));
  take(/\bweekends?\b/, () => clauses.dows.push(0, 6));
  take(new RegExp(`\\b${DAY}\\s*(?:-|to|through|thru|until)\\s*${DAY}\\b`), (match) => clauses.dows.push(...dayRange(DAY_NAMES[match[1]!]!, DAY_NAMES[match[2]!]!)));
  take(new RegExp(`\\b${DAY}\\b`), (match) => clauses.dows.push(DAY_NAMES[match[1]!]!));

  take(/\b(?:at\s+)?minute\s+(\d{1,2})\b/, (match) => (clauses.minuteOnly = Number(match[1])));
  take(/\b(\d{1,2})\s+(?:minutes?\s+|mins?\s+)?past(?:\s+the)?(?:\s+hour)?\b/, (match) => (clauses.minuteOnly = Number(match[1])));
  take(/\bhalf\s+past(?:\s+the)?(?:\s+hour)?\b/, () => (clauses.minuteOnly = 30));
  take(/\bquarter\s+past(?:\s+the)?(?:\s+hour)?\b/, () => (clauses.minuteOnly = 15));
  take(/\bon\s+the\s+hour\b/, () => (clauses.minuteOnly = 0));
  take(/(?:^|\s)(?:at\s+)?:(\d{2})\b/, (match) => (clauses.minuteOnly = Number(match[1])));
  take(new RegExp(`\\b${TIME}`), (match) => clauses.times.push(parseTime(match[1]!, phrase)));
  take(/\bat\s+(\d{1,2})\b(?!\s*(?:st|nd|rd|th|minutes?|mins?|hours?))/, (match) => clauses.times.push(parseTime(match[1]!, phrase)));
  take(/\bat\s+(\d{1,2})(\d{2})\b/, (match) => clauses.times.push(parseTime(`${match[1]}:${match[2]}`, phrase)));
  if (clauses.minuteOnly !== undefined && clauses.minuteOnly > 59) throw new ScheduleError(`"${phrase}": the minute past the hour is 0 to 59.`);

  const leftover = text.split(/\s+/).filter((word) => word !== '' && !FILLERS.has(word));
  if (leftover.length > 0) throw new ScheduleError(`Could not understand "${leftover.join(' ')}" in the schedule "${phrase}".`);
  return combine(clauses, phrase);
}

function combine(clauses: Clauses, phrase: string): string {
  const { times, doms, months, dows } = clauses;
  const dow = dows.length > 0 ? formatList(dows) : '*';
  const refuse = (message: string, hint?: string): never => {
    throw new ScheduleError(`"${phrase}": ${message}`, hint);
  };
  if (clauses.minuteStep !== undefined || clauses.hourStep !== undefined) {
    if (clauses.minuteStep !== undefined && clauses.hourStep !== undefined) refuse('give either a number of minutes or of hours, not both.');
    if (times.length > 0) refuse('an interval of minutes or hours takes no time of day; use "from 9am to 5pm" to limit its hours.');
    if (doms.length > 0 || months.length > 0 || clauses.period === 'month' || clauses.period === 'year') {
      refuse('an interval of minutes or hours cannot be combined with days of the month or months.', 'Use a cron expression.');
    }
    if (clauses.period === 'week' && dows.length === 0) refuse('"weekly" and an interval of minutes or hours contradict each other.');
    const [from, to] = clauses.hourRange ?? [];
    if (clauses.minuteStep !== undefined) {
      if (clauses.minuteOnly !== undefined) refuse('an interval of minutes takes no minute past the hour.');
      const minute = clauses.minuteStep === 1 ? '*' : `*/${clauses.minuteStep}`;
      const hour = from === undefined ? '*' : `${from}-${to}`;
      return `${minute} ${hour} * * ${dow}`;
    }
    const step = clauses.hourStep!;
    const hour = from === undefined ? (step === 1 ? '*' : `*/${step}`) : step === 1 ? `${from}-${to}` : `${from}-${to}/${step}`;
    return `${clauses.minuteOnly ?? 0} ${hour} * * ${dow}`;
  }
  if (clauses.hourRange) refuse('a range of hours needs an interval, e.g. "every hour from 9am to 5pm".');
  if (clauses.minuteOnly !== undefined && times.length === 0) refuse('a minute past the hour needs "every hour" or "every N hours".');
  if (times.length === 0) times.push({ hour: 0, minute: 0 });
  const minutes = new Set(times.map((time) => time.minute));
  if (minutes.size > 1) {
    refuse('times with different minutes cannot share one cron schedule.', 'Create one automation per time, or use times on the same minute ("9am and 5pm").');
  }
  const minute = times[0]!.minute;
  const hour = [...new Set(times.map((time) => time.hour))].sort((a, b) => a - b).join(',');
  if (doms.length > 0 && dows.length > 0) {
    refuse('days of the month and days of the week cannot be combined (cron runs when either matches).', 'Use one of them, or a cron expression.');
  }
  if (clauses.period === 'week' && dows.length === 0) dows.push(0);
  const dowField = dows.length > 0 ? formatList(dows) : '*';
  let domField = '*';
  if (doms.length > 0) {
    if (doms.includes('L') && doms.length > 1) refuse('"last day" cannot be combined with other days of the month.');
    domField = doms.includes('L') ? 'L' : formatList(doms as number[]);
  } else if (dows.length === 0 && (clauses.period === 'month' || clauses.period === 'year' || months.length > 0)) {
    domField = '1';
  }
  let monthField = '*';
  if (months.length > 0) {
    if (clauses.monthStep !== undefined) refuse('name months or give an interval of months, not both.');
    monthField = formatList(months);
  } else if (clauses.monthStep !== undefined) {
    monthField = clauses.monthStep === 1 ? '*' : `*/${clauses.monthStep}`;
  } else if (clauses.period === 'year') {
    monthField = '1';
  }
  if (clauses.period === 'day' && (doms.length > 0 || months.length > 0)) refuse('"daily" contradicts the days of the month or months given.');
  return `${minute} ${hour} ${domField} ${monthField} ${dowField}`;
}
