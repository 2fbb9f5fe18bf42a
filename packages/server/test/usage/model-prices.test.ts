// HERM_MODEL_PRICES: inline JSON or a file, errors naming the variable and the field, and the price of an entry.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { MICRO_CREDITS, priceMicro } from '../../src/usage/model-prices.ts';

describe('HERM_MODEL_PRICES', () => {
  it('is empty by default: usage costs nothing', () => {
    const prices = loadConfig({}).HERM_MODEL_PRICES;
    expect(prices).toEqual({ models: {}, tool_second: 0, sandbox_cpu_second: 0 });
    expect(priceMicro(prices, { model: 'openai/gpt-5', inputTokens: 1_000_000, outputTokens: 1_000_000, toolMs: 60_000 })).toBe(0);
  });

  it('reads inline JSON or a file, and prices tokens per million, cached input at its own price, and seconds', () => {
    const table = { models: { 'openai/gpt-5': { input: 125, output: 1000, cached_input: 12.5 }, '*': { input: 1, output: 2 } }, tool_second: 0.01, sandbox_cpu_second: 0.02 };
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'herm-prices-')), 'prices.json');
    fs.writeFileSync(file, JSON.stringify(table));
    for (const value of [JSON.stringify(table), file]) {
      const prices = loadConfig({ HERM_MODEL_PRICES: value }).HERM_MODEL_PRICES;
      // 600k uncached × 125 + 400k cached × 12.5 + 100k output × 1000, per million: 75 + 5 + 100 credits.
      expect(priceMicro(prices, { model: 'openai/gpt-5', inputTokens: 1_000_000, cachedTokens: 400_000, outputTokens: 100_000 })).toBe(180 * MICRO_CREDITS);
      // Another model takes the "*" price; tool and sandbox seconds add up.
      expect(priceMicro(prices, { model: 'anthropic/claude-x', inputTokens: 1_000_000, outputTokens: 500_000 })).toBe(2 * MICRO_CREDITS);
      expect(priceMicro(prices, { model: null, toolMs: 10_000, sandboxCpuMs: 5_000 })).toBe(0.2 * MICRO_CREDITS);
    }
    // A priced use never rounds to nothing.
    expect(priceMicro(loadConfig({ HERM_MODEL_PRICES: JSON.stringify(table) }).HERM_MODEL_PRICES, { model: 'openai/gpt-5', outputTokens: 1 })).toBe(1000);
  });

  it('is refused at start-up with an error naming the variable and what is wrong', () => {
    expect(() => loadConfig({ HERM_MODEL_PRICES: '{"models": ' })).toThrow(/HERM_MODEL_PRICES: is not valid JSON/);
    expect(() => loadConfig({ HERM_MODEL_PRICES: '{"models": {"m": {"input": -1}}}' })).toThrow(/HERM_MODEL_PRICES: models\.m\.input/);
    expect(() => loadConfig({ HERM_MODEL_PRICES: '{"model": {}}' })).toThrow(/HERM_MODEL_PRICES/);
    expect(() => loadConfig({ HERM_MODEL_PRICES: '/nonexistent/prices.json' })).toThrow(/HERM_MODEL_PRICES: could not read the price file/);
  });
});
