// How many tokens of history a model can take, so the runtime knows when to compact a thread.
// Guessing high is the expensive mistake (the provider rejects the request, or an OpenAI-compatible
// server silently drops the start of the prompt); guessing low only compacts a little early.
import { InvalidProviderConfigError } from './model-errors.ts';
import { readEnvironmentValue, type ModelEnvironment } from './model-config.ts';
import { parseModelName, type ModelProvider } from './model-name.ts';

/** Overrides every default below, for models with larger windows or servers configured smaller. */
export const CONTEXT_TOKENS_VARIABLE = 'HERM_MODEL_CONTEXT_TOKENS';

/**
 * Input budgets of well-known families, matched against the last segment of the model id so that
 * the same entry covers `openai/gpt-4o` and `openai-compatible/openai/gpt-4o` (OpenRouter). The first
 * match wins, so more specific patterns come first.
 */
const FAMILY_CONTEXT_TOKENS: ReadonlyArray<{ pattern: RegExp; tokens: number }> = [
  { pattern: /^claude-/, tokens: 200_000 },
  // GPT-5 has a 400k window of which 128k is reserved for output.
  { pattern: /^gpt-5/, tokens: 272_000 },
  { pattern: /^gpt-4\.1/, tokens: 1_047_576 },
  { pattern: /^(gpt-4o|gpt-4-turbo|chatgpt-4o)/, tokens: 128_000 },
  { pattern: /^gpt-4(-\d+)?$/, tokens: 8_192 },
  { pattern: /^gpt-3\.5/, tokens: 16_385 },
  { pattern: /^o\d(-|$)/, tokens: 200_000 },
  { pattern: /^gemini-1\.5-pro/, tokens: 2_097_152 },
  { pattern: /^gemini-/, tokens: 1_048_576 },
  { pattern: /llama-?3\.[1-3]/, tokens: 128_000 },
];

const PROVIDER_CONTEXT_TOKENS: Record<ModelProvider, number> = {
  anthropic: 200_000,
  openai: 128_000,
  google: 1_048_576,
  // Self-hosted servers decide their window at load time (Ollama's default is a few thousand tokens);
  // this is a middle guess that HERM_MODEL_CONTEXT_TOKENS is there to correct.
  'openai-compatible': 32_768,
};

/**
 * The number of input tokens to budget for a model: `HERM_MODEL_CONTEXT_TOKENS` when set, else a
 * default for the model's family (200k for Claude, 1M for Gemini…), else one for its provider.
 *
 * @throws InvalidModelError when the name is malformed.
 * @throws InvalidProviderConfigError when `HERM_MODEL_CONTEXT_TOKENS` is not a positive integer.
 * @example
 * contextWindowTokens('anthropic/claude-sonnet-4.5', {}); // 200000
 */
export function contextWindowTokens(modelName: string, environment: ModelEnvironment): number {
  const { provider, modelId } = parseModelName(modelName);

  const override = readEnvironmentValue(environment, CONTEXT_TOKENS_VARIABLE);
  if (override !== undefined) {
    const tokens = /^\d+$/.test(override) ? Number(override) : Number.NaN;
    if (!Number.isSafeInteger(tokens) || tokens <= 0) {
      throw new InvalidProviderConfigError(CONTEXT_TOKENS_VARIABLE, `must be a positive whole number of tokens, not "${override}"`);
    }
    return tokens;
  }

  const lastSegment = (modelId.split('/').at(-1) ?? modelId).toLowerCase();
  const family = FAMILY_CONTEXT_TOKENS.find(({ pattern }) => pattern.test(lastSegment));
  return family?.tokens ?? PROVIDER_CONTEXT_TOKENS[provider];
}
