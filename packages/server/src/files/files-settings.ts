// Settings of the Files API, read once at start-up from the environment (kept out of config.ts so the Files
// API stays one self-contained room).
import { z } from 'zod';
import { ConfigError } from '../config.ts';

export const MAX_FILE_BYTES_VARIABLE = 'HERM_MAX_FILE_BYTES';
export const DEFAULT_MAX_FILE_BYTES = 25 * 1024 * 1024;

export interface FilesSettings {
  /** Largest file the Files API uploads or downloads, in bytes; larger ones get 413. */
  maxFileBytes: number;
}

const settingsSchema = z.object({
  [MAX_FILE_BYTES_VARIABLE]: z.coerce
    .number()
    .int()
    .min(1)
    // A read holds the whole file (and its base64 form) in memory; beyond 1 GiB that is a mistake.
    .max(1024 * 1024 * 1024)
    .default(DEFAULT_MAX_FILE_BYTES)
    .describe('Largest file the Files API accepts or returns, in bytes'),
});

/** Parses the Files API settings; an error names the variable. */
export function loadFilesSettings(env: Record<string, string | undefined> = process.env): FilesSettings {
  const value = env[MAX_FILE_BYTES_VARIABLE];
  const parsed = settingsSchema.safeParse(value === undefined || value === '' ? {} : { [MAX_FILE_BYTES_VARIABLE]: value });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`Invalid environment variable ${MAX_FILE_BYTES_VARIABLE}: ${issue.message}`);
  }
  return { maxFileBytes: parsed.data[MAX_FILE_BYTES_VARIABLE] };
}
