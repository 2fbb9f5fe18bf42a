// Percentiles over samples; every figure the bench prints is one of these.

export interface Summary {
  p50: number;
  p99: number;
  samples: number;
}

export function percentile(values: number[], fraction: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}

export function summarize(values: number[]): Summary {
  return { p50: percentile(values, 0.5), p99: percentile(values, 0.99), samples: values.length };
}
