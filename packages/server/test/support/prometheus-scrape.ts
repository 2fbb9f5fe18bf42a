// Scrapes a server's /metrics and reads it with a Prometheus text parser (parse-prometheus-text-format): the families
// with their HELP and TYPE, and the counters' and gauges' samples. That parser folds the series of a labelled
// histogram into one, so a histogram's per-series _count and _sum are read from the sample lines themselves.
import parsePrometheusTextFormat, { type ParsedFamily } from 'parse-prometheus-text-format';

export interface Scrape {
  status: number;
  contentType: string | null;
  text: string;
  families: ParsedFamily[];
  /** The family of that name (undefined when the server does not expose it). */
  family(name: string): ParsedFamily | undefined;
  /** The value of a counter's or gauge's sample with exactly these labels; undefined when there is none. */
  value(name: string, labels?: Record<string, string>): number | undefined;
  /** The sum of a counter's or gauge's samples whose labels include these. */
  total(name: string, labels?: Record<string, string>): number;
  /** A histogram series' count and sum (its labels exactly these); undefined when it has no such series. */
  histogram(name: string, labels?: Record<string, string>): { count: number; sum: number } | undefined;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function sampleLines(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(LABEL)) labels[key!] = value!.replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

function sameLabels(actual: Record<string, string> | undefined, expected: Record<string, string>): boolean {
  const keys = Object.keys(actual ?? {});
  return keys.length === Object.keys(expected).length && keys.every((key) => actual![key] === expected[key]);
}

export async function scrapeMetrics(url: string, key: string | null): Promise<Scrape> {
  const response = await fetch(`${url}/metrics`, { headers: key === null ? {} : { authorization: `Bearer ${key}` } });
  const text = await response.text();
  const families = response.ok ? parsePrometheusTextFormat(text) : [];
  const samples = response.ok ? sampleLines(text) : [];
  const family = (name: string) => families.find((candidate) => candidate.name === name);
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    text,
    families,
    family,
    value(name, labels = {}) {
      const sample = family(name)?.metrics.find((candidate) => sameLabels(candidate.labels, labels));
      return sample?.value === undefined ? undefined : Number(sample.value);
    },
    total(name, labels = {}) {
      return (family(name)?.metrics ?? [])
        .filter((sample) => Object.entries(labels).every(([key, value]) => sample.labels?.[key] === value))
        .reduce((sum, sample) => sum + Number(sample.value), 0);
    },
    histogram(name, labels = {}) {
      const count = samples.find((sample) => sample.name === `${name}_count` && sameLabels(sample.labels, labels));
      const sum = samples.find((sample) => sample.name === `${name}_sum` && sameLabels(sample.labels, labels));
      return count && sum ? { count: count.value, sum: sum.value } : undefined;
    },
  };
}
