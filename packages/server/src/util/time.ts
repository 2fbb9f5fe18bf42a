/** Timestamps are stored as epoch milliseconds and shown as ISO 8601 UTC without fractions, as in the docs. */
export function toIso(epochMs: number | null | undefined): string | null {
  if (epochMs === null || epochMs === undefined) return null;
  return new Date(Number(epochMs)).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
