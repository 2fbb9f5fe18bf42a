// The operator's price table (HERM_MODEL_PRICES): credits per million tokens of each model, and per second of tool
// and sandbox time. A credit is the operator's own unit (a cent, a thousandth of a dollar, …): Herm only counts
// them. Amounts are kept in micro-credits (1 credit = 1,000,000) so that sums stay exact.
import fs from 'node:fs';
import { z } from 'zod';

export const MICRO_CREDITS = 1_000_000;

const amount = z.number().finite().min(0);

const modelPriceSchema = z
  .object({
    input: amount.default(0).describe('Credits per million input tokens that were not read from the cache'),
    output: amount.default(0).describe('Credits per million output tokens'),
    cached_input: amount.optional().describe('Credits per million input tokens read from the cache; default: the input price'),
  })
  .strict();

const priceTableSchema = z
  .object({
    models: z.record(z.string().min(1), modelPriceSchema).default({}).describe('By model name as deployments give it ("anthropic/claude-sonnet-4-5"); "*" prices any other model'),
    tool_second: amount.default(0).describe('Credits per second of tool time'),
    sandbox_cpu_second: amount.default(0).describe('Credits per sandbox CPU second'),
  })
  .strict();

export type ModelPrice = z.infer<typeof modelPriceSchema>;
export type PriceTable = z.infer<typeof priceTableSchema>;

export const EMPTY_PRICE_TABLE: PriceTable = { models: {}, tool_second: 0, sandbox_cpu_second: 0 };

/**
 * Reads HERM_MODEL_PRICES: inline JSON (starts with "{") or the path of a JSON file. Throws an Error naming what is
 * wrong; config.ts reports it against the variable.
 */
export function parsePriceTable(value: string): PriceTable {
  const trimmed = value.trim();
  if (trimmed === '') return EMPTY_PRICE_TABLE;
  let text = trimmed;
  if (!trimmed.startsWith('{')) {
    try {
      text = fs.readFileSync(trimmed, 'utf8');
    } catch (error) {
      throw new Error(`could not read the price file ${trimmed}: ${(error as Error).message}`);
    }
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = priceTableSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${issue.path.length > 0 ? `${issue.path.join('.')}: ` : ''}${issue.message}`);
  }
  return parsed.data;
}

/** What one usage entry measured. */
export interface Metered {
  model?: string | null | undefined;
  inputTokens?: number;
  outputTokens?: number;
  cachedTokens?: number;
  toolMs?: number;
  sandboxCpuMs?: number;
}

/** The entry's price in micro-credits (rounded up: a priced use never costs nothing). */
export function priceMicro(prices: PriceTable, entry: Metered): number {
  let credits = 0;
  const model = entry.model ? (prices.models[entry.model] ?? prices.models['*']) : undefined;
  if (model) {
    const cached = Math.max(0, entry.cachedTokens ?? 0);
    const uncached = Math.max(0, (entry.inputTokens ?? 0) - cached);
    credits += (uncached * model.input + cached * (model.cached_input ?? model.input) + Math.max(0, entry.outputTokens ?? 0) * model.output) / 1_000_000;
  }
  credits += ((entry.toolMs ?? 0) / 1000) * prices.tool_second + ((entry.sandboxCpuMs ?? 0) / 1000) * prices.sandbox_cpu_second;
  // The epsilon keeps float noise (0.1 + 0.2) from rounding a whole number of micro-credits up.
  return credits > 0 ? Math.ceil(credits * MICRO_CREDITS - 1e-6) : 0;
}
