// The quotas an operator sets: server defaults (HERM_QUOTA_*, HERM_RATE_LIMIT_RPS), overridable per account.
import { z } from 'zod';

/** Every quota by its name, as accounts' overrides, errors and the README name it. */
export const QUOTA_NAMES = ['deployments', 'concurrent_runs', 'runs_per_minute', 'requests_per_second', 'sse_streams', 'workspace_bytes'] as const;
export type QuotaName = (typeof QUOTA_NAMES)[number];

/** A quota's value: a positive limit, or 0 for none. */
export type Quotas = Record<QuotaName, number>;

/** An account's overrides: a value replaces the server's default (0: no limit for this account). */
export type QuotaOverrides = Partial<Quotas>;

export const QUOTA_DESCRIPTIONS: Record<QuotaName, string> = {
  deployments: 'Deployments the account may have (not deleted)',
  concurrent_runs: "Runs active at once (running or waiting_on_human) across the account's deployments",
  runs_per_minute: 'Runs started in any 60 seconds across the account\'s deployments (messages and automation firings)',
  requests_per_second: 'API requests per second per key (a token bucket whose burst equals the rate; shared by the nodes on PostgreSQL)',
  sse_streams: 'Event streams (SSE) open at once per account, on each node',
  workspace_bytes: "Bytes of workspace disk the account's deployments may reserve together (sandbox.limits.disk_mb)",
};

/** The environment variable of each quota's server default. */
export const QUOTA_ENV: Record<QuotaName, string> = {
  deployments: 'HERM_QUOTA_DEPLOYMENTS',
  concurrent_runs: 'HERM_QUOTA_CONCURRENT_RUNS',
  runs_per_minute: 'HERM_QUOTA_RUNS_PER_MINUTE',
  requests_per_second: 'HERM_RATE_LIMIT_RPS',
  sse_streams: 'HERM_QUOTA_SSE_STREAMS',
  workspace_bytes: 'HERM_QUOTA_WORKSPACE_BYTES',
};

const quotaValue = z.number().int('must be a whole number').min(0, 'must be 0 (no limit) or more').max(Number.MAX_SAFE_INTEGER);

/** An update of an account's overrides: a number sets one, null goes back to the server's default. */
export const QuotaOverridesPatch = z.strictObject(
  Object.fromEntries(QUOTA_NAMES.map((name) => [name, quotaValue.nullable().optional().describe(`${QUOTA_DESCRIPTIONS[name]}; null: the server's ${QUOTA_ENV[name]}`)])) as Record<
    QuotaName,
    z.ZodOptional<z.ZodNullable<typeof quotaValue>>
  >,
);
export type QuotaOverridesPatch = z.infer<typeof QuotaOverridesPatch>;

/** Parses stored overrides, keeping only known quotas with valid values. */
export function parseOverrides(text: string): QuotaOverrides {
  const parsed: unknown = JSON.parse(text);
  const overrides: QuotaOverrides = {};
  if (parsed && typeof parsed === 'object') {
    for (const name of QUOTA_NAMES) {
      const value = (parsed as Record<string, unknown>)[name];
      if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) overrides[name] = value;
    }
  }
  return overrides;
}

/** The overrides with a patch applied (null removes one). */
export function applyPatch(current: QuotaOverrides, patch: QuotaOverridesPatch): QuotaOverrides {
  const next: QuotaOverrides = { ...current };
  for (const name of QUOTA_NAMES) {
    const value = patch[name];
    if (value === null) delete next[name];
    else if (value !== undefined) next[name] = value;
  }
  return next;
}

export function resolveQuotas(defaults: Quotas, overrides: QuotaOverrides | undefined): Quotas {
  return overrides ? { ...defaults, ...overrides } : defaults;
}
