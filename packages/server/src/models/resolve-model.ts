// Turns a `provider/model` name into an AI SDK language model.
import { createRequire } from 'node:module';
import type { LanguageModelV4 } from '@ai-sdk/provider';
import { checkModelConfig, type ModelConfig, type ModelEnvironment } from './model-config.ts';

// A provider's SDK is loaded when a model of that provider is first built, not at start-up: each one costs a few
// MiB of resident memory, and a server typically talks to one provider. The packages are ES modules; Node's
// require() loads them synchronously into the same module graph as an import would.
const load = createRequire(import.meta.url);
const providers = {
  anthropic: () => load('@ai-sdk/anthropic') as typeof import('@ai-sdk/anthropic'),
  google: () => load('@ai-sdk/google') as typeof import('@ai-sdk/google'),
  openai: () => load('@ai-sdk/openai') as typeof import('@ai-sdk/openai'),
  openaiCompatible: () => load('@ai-sdk/openai-compatible') as typeof import('@ai-sdk/openai-compatible'),
};

/** Options for {@link resolveModel} that are not configuration (which comes from the environment). */
export interface ResolveModelOptions {
  /** Replaces `fetch` for every request the model makes; for instrumentation and tests. */
  fetch?: typeof globalThis.fetch;
}

/**
 * Builds the AI SDK model for a name, with the base URL and key taken from `environment` only (every
 * setting is passed explicitly, so the providers never fall back to `process.env`). No request is
 * made until the model is used.
 *
 * - `anthropic/*`: the Messages API at `ANTHROPIC_BASE_URL`, key `ANTHROPIC_API_KEY`.
 * - `openai/*`: the Responses API at `OPENAI_BASE_URL`, key `OPENAI_API_KEY`.
 * - `google/*`: the Gemini API at `GOOGLE_GENERATIVE_AI_BASE_URL`, key `GOOGLE_GENERATIVE_AI_API_KEY`.
 * - `openai-compatible/*`: Chat Completions at `OPENAI_COMPATIBLE_BASE_URL` with the optional key
 *   `OPENAI_COMPATIBLE_API_KEY` (Ollama, vLLM, LM Studio, OpenRouter, LiteLLM…).
 *
 * @throws the errors of {@link checkModelConfig}.
 * @example
 * const result = streamText({ model: resolveModel('anthropic/claude-sonnet-4.5', process.env), prompt: 'Hi' });
 */
export function resolveModel(
  modelName: string,
  environment: ModelEnvironment,
  options: ResolveModelOptions = {},
): LanguageModelV4 {
  return createLanguageModel(checkModelConfig(modelName, environment), options);
}

/** Models built so far, by configuration: a model object holds no per-request state, so runs share it. */
const models = new Map<string, LanguageModelV4>();
const MAX_CACHED_MODELS = 1_000;

/**
 * Builds the model for an already checked configuration, or returns the one built before for the same
 * configuration: building one costs more than a short run's own work (the OpenAI-compatible provider
 * constructs its zod response schemas per model).
 */
export function createLanguageModel(config: ModelConfig, options: ResolveModelOptions = {}): LanguageModelV4 {
  if (options.fetch) return buildLanguageModel(config, options);
  const key = JSON.stringify([config.provider, config.baseUrl, config.apiKey ?? null, config.apiModelId]);
  let model = models.get(key);
  if (!model) {
    model = buildLanguageModel(config, options);
    if (models.size >= MAX_CACHED_MODELS) models.clear();
    models.set(key, model);
  }
  return model;
}

function buildLanguageModel(config: ModelConfig, options: ResolveModelOptions): LanguageModelV4 {
  const { fetch } = options;
  switch (config.provider) {
    case 'anthropic':
      return providers.anthropic().createAnthropic({ baseURL: config.baseUrl, apiKey: config.apiKey, fetch })(config.apiModelId);
    case 'openai':
      // The Responses API is the one OpenAI builds new models for (some answer nowhere else); it is
      // also the provider's default.
      return providers.openai().createOpenAI({ baseURL: config.baseUrl, apiKey: config.apiKey, fetch }).responses(config.apiModelId);
    case 'google':
      return providers.google().createGoogle({ baseURL: config.baseUrl, apiKey: config.apiKey, fetch })(config.apiModelId);
    case 'openai-compatible':
      return providers.openaiCompatible().createOpenAICompatible({
        name: 'openai-compatible',
        baseURL: config.baseUrl,
        apiKey: config.apiKey,
        fetch,
        // Token counts drive history compaction; every server named above reports them on request.
        includeUsage: true,
      }).chatModel(config.apiModelId);
  }
}
