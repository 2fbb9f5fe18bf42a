import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MODEL,
  InvalidModelError,
  parseModelName,
  providerModelId,
  SUPPORTED_PROVIDERS,
} from '../../src/models/index.ts';

function parseError(name: string): InvalidModelError {
  try {
    parseModelName(name);
  } catch (error) {
    if (error instanceof InvalidModelError) return error;
    throw error;
  }
  throw new Error(`parseModelName(${JSON.stringify(name)}) did not throw`);
}

describe('parseModelName', () => {
  it.each([
    ['anthropic/claude-sonnet-4.5', 'anthropic', 'claude-sonnet-4.5'],
    ['openai/gpt-4o', 'openai', 'gpt-4o'],
    ['google/gemini-2.5-pro', 'google', 'gemini-2.5-pro'],
    ['openai-compatible/llama3.1:8b', 'openai-compatible', 'llama3.1:8b'],
    // The model part keeps its own slashes: Hugging Face ids, OpenRouter ids.
    ['openai-compatible/meta-llama/Llama-3.1-8B', 'openai-compatible', 'meta-llama/Llama-3.1-8B'],
    ['openai-compatible/anthropic/claude-sonnet-4.5', 'openai-compatible', 'anthropic/claude-sonnet-4.5'],
  ])('splits %s', (name, provider, modelId) => {
    expect(parseModelName(name)).toEqual({ provider, modelId });
  });

  it.each([
    ['', 'empty'],
    ['claude-sonnet-4.5', 'has no provider'],
    ['/claude-sonnet-4.5', 'has no provider'],
    ['mistral/mistral-large', 'unknown provider "mistral"'],
    ['Anthropic/claude-sonnet-4.5', 'unknown provider "Anthropic"'],
    ['anthropic/', 'has no model'],
    ['openai-compatible//llama', 'has no model'],
    ['openai-compatible/meta-llama/', 'has no model'],
    ['openai-compatible/meta-llama//Llama', 'has no model'],
    ['anthropic/claude sonnet', 'whitespace'],
    [' anthropic/claude-sonnet-4.5', 'whitespace'],
    ['anthropic/claude-sonnet-4.5\n', 'whitespace'],
    ['anthropic/claude\u0000', 'control characters'],
    [`openai-compatible/${'x'.repeat(300)}`, 'longer than 256'],
  ])('rejects %j (%s) with a message listing the supported providers', (name, problem) => {
    const error = parseError(name);
    expect(error.name).toBe('InvalidModelError');
    expect(error.modelName).toBe(name);
    expect(error.message).toContain(problem);
    expect(error.message).toContain('supported providers: anthropic, openai, google, openai-compatible');
    expect(error.message).toContain('such as anthropic/claude-sonnet-4.5');
  });

  it('rejects a value that is not a string, as untyped JSON can deliver', () => {
    expect(() => parseModelName(42 as unknown as string)).toThrow(InvalidModelError);
  });

  it('lists every provider resolveModel handles', () => {
    expect(SUPPORTED_PROVIDERS).toEqual(['anthropic', 'openai', 'google', 'openai-compatible']);
  });
});

describe('providerModelId', () => {
  it.each([
    // Herm docs names → the ids Anthropic's API accepts.
    ['anthropic/claude-sonnet-4.5', 'claude-sonnet-4-5'],
    ['anthropic/claude-opus-4-8', 'claude-opus-4-8'],
    ['anthropic/claude-opus-4.1', 'claude-opus-4-1'],
    ['anthropic/claude-haiku-4.5', 'claude-haiku-4-5'],
    ['anthropic/claude-3.5-sonnet-20241022', 'claude-3-5-sonnet-20241022'],
    ['anthropic/claude-3.7-sonnet-latest', 'claude-3-7-sonnet-latest'],
    ['anthropic/claude-sonnet-4-5-20250929', 'claude-sonnet-4-5-20250929'],
    // Only dots between digits change.
    ['anthropic/claude.next-4', 'claude.next-4'],
    // Other providers receive the id as written.
    ['openai/gpt-4.1', 'gpt-4.1'],
    ['openai/gpt-5.1-mini', 'gpt-5.1-mini'],
    ['google/gemini-2.5-pro', 'gemini-2.5-pro'],
    ['openai-compatible/anthropic/claude-sonnet-4.5', 'anthropic/claude-sonnet-4.5'],
    ['openai-compatible/meta-llama/Llama-3.1-8B', 'meta-llama/Llama-3.1-8B'],
  ])('%s → %s', (name, apiModelId) => {
    expect(providerModelId(parseModelName(name))).toBe(apiModelId);
  });

  it('maps the default model to an id Anthropic accepts', () => {
    expect(DEFAULT_MODEL).toBe('anthropic/claude-sonnet-4.5');
    expect(providerModelId(parseModelName(DEFAULT_MODEL))).toBe('claude-sonnet-4-5');
  });
});
