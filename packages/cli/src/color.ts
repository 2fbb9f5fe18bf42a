// Colours of the CLI's output for people: only on a terminal, never with NO_COLOR (https://no-color.org),
// always with FORCE_COLOR (other than 0).

/** Whether to colour what goes to `output`. */
export function colorWanted(output: NodeJS.WritableStream): boolean {
  if (process.env.NO_COLOR) return false;
  if (process.env.FORCE_COLOR && process.env.FORCE_COLOR !== '0') return true;
  return (output as { isTTY?: boolean }).isTTY === true;
}

/** `text` in an SGR style (`'2'` dim, `'36'` cyan, `'1;33'` bold yellow…) when `on`, else as it is. */
export function paint(on: boolean, code: string, text: string): string {
  return on ? `\x1b[${code}m${text}\x1b[0m` : text;
}
