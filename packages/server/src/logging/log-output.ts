// Where the server's log lines go and how they look: pretty (one coloured line per event) on a terminal, pino's JSON
// lines when stderr is not a terminal (a file, journald, a log shipper) or LOG_FORMAT=json.
import fs from 'node:fs';
import { isatty } from 'node:tty';
import pino, { type DestinationStream, type Logger } from 'pino';

export type LogFormat = 'auto' | 'pretty' | 'json';

export interface LogOutputOptions {
  level: string;
  format: LogFormat;
  /** The file descriptor lines go to; stderr by default. */
  fd?: number;
  /** Whether that descriptor is a terminal; asked of the descriptor by default. */
  isTTY?: boolean;
  /** The environment NO_COLOR / FORCE_COLOR are read from; process.env by default. */
  environment?: Record<string, string | undefined>;
}

/** pretty or json: LOG_FORMAT when given, otherwise pretty exactly when the output is a terminal. */
export function chooseLogFormat(format: LogFormat, isTTY: boolean): 'pretty' | 'json' {
  if (format !== 'auto') return format;
  return isTTY ? 'pretty' : 'json';
}

/** Colours on a terminal unless NO_COLOR is set; FORCE_COLOR (not 0) forces them. */
export function useColours(isTTY: boolean, environment: Record<string, string | undefined>): boolean {
  if (environment.NO_COLOR !== undefined && environment.NO_COLOR !== '') return false;
  if (environment.FORCE_COLOR !== undefined && environment.FORCE_COLOR !== '' && environment.FORCE_COLOR !== '0') return true;
  return isTTY;
}

const LEVELS: Record<number, { name: string; colour: string }> = {
  10: { name: 'TRACE', colour: '90' },
  20: { name: 'DEBUG', colour: '36' },
  30: { name: 'INFO ', colour: '32' },
  40: { name: 'WARN ', colour: '33' },
  50: { name: 'ERROR', colour: '31' },
  60: { name: 'FATAL', colour: '35;1' },
};
/** Fields every line has, or that the line shows elsewhere. */
const HIDDEN = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'component', 'v']);

function fieldValue(value: unknown): string {
  if (value instanceof Object && 'message' in value && typeof (value as { message: unknown }).message === 'string') {
    // A serialized error: its type and message (the stack is in the JSON format).
    const error = value as { type?: string; message: string; code?: string };
    return JSON.stringify(`${error.type ?? 'Error'}${error.code ? ` ${error.code}` : ''}: ${error.message}`);
  }
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}

/** One pino JSON line as one readable line: `12:03:04.567 WARN  [runs] message key=value …`. */
export function formatLogLine(json: string, colours: boolean): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const paint = (code: string, text: string) => (colours ? `\u001b[${code}m${text}\u001b[0m` : text);
  const level = LEVELS[entry.level as number] ?? { name: String(entry.level).toUpperCase().padEnd(5), colour: '0' };
  const time = typeof entry.time === 'number' ? new Date(entry.time).toISOString().slice(11, 23) : '';
  const component = typeof entry.component === 'string' ? `${paint('34', `[${entry.component}]`)} ` : '';
  const message = String(entry.msg ?? '').replace(/\r?\n/g, ' ');
  const fields = Object.entries(entry)
    .filter(([key]) => !HIDDEN.has(key))
    .map(([key, value]) => paint('2', `${key}=`) + fieldValue(value).replace(/\r?\n/g, '\\n'));
  const levelText = paint(level.colour, level.name);
  const messageText = (entry.level as number) >= 40 ? paint(level.colour, message) : message;
  return `${paint('2', time)} ${levelText} ${component}${messageText}${fields.length > 0 ? ` ${fields.join(' ')}` : ''}\n`;
}

/** A pino destination writing each line formatted, synchronously (so a fatal line is out before the exit). */
export function prettyDestination(fd: number, colours: boolean): DestinationStream {
  return {
    write(line: string) {
      const text = formatLogLine(line.replace(/\n$/, ''), colours);
      try {
        fs.writeSync(fd, text);
      } catch {
        // A closed terminal: nothing to tell.
      }
    },
  };
}

/** The server's logger (herm serve): LOG_LEVEL and LOG_FORMAT applied. */
export function createServerLogger(options: LogOutputOptions): Logger {
  const fd = options.fd ?? 2;
  const isTTY = options.isTTY ?? isatty(fd);
  const format = chooseLogFormat(options.format, isTTY);
  if (format === 'json') return pino({ level: options.level }, pino.destination(fd));
  return pino({ level: options.level }, prettyDestination(fd, useColours(isTTY, options.environment ?? process.env)));
}

