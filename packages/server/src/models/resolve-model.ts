// Turns a `provider/model` name into an AI SDK language model.
import { createAnthropic } from '@ai-sdk/anthropic';
import { createGoogle } from '@ai-sdk/google';
import { createOpenAI } from '@ai-sdk/openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import type { LanguageModelV4 } from '@ai-sdk/provider';
import { checkModelConfig, type ModelConfig, type ModelEnvironment } from './model-config.ts';

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

/** Builds the model for an already checked configuration. */
export function createLanguageModel(config: ModelConfig, options: ResolveModelOptions = {}): LanguageModelV4 {
  const { fetch } = options;
  switch (config.provider) {
    case 'anthropic':
      return createAnthropic({ baseURL: config.baseUrl, apiKey: config.apiKey, fetch })(config.apiModelId);
    case 'openai':
      // The Responses API is the one OpenAI builds new models for (some answer nowhere else); it is
      // also the provider's default.
      return createOpenAI({ baseURL: config.baseUrl, apiKey: config.apiKey, fetch }).responses(config.apiModelId);
    case 'google':
      return createGoogle({ baseURL: config.baseUrl, apiKey: config.apiKey, fetch })(config.apiModelId);
    case 'openai-compatible':
      return createOpenAICompatible({
        name: 'openai-compatible',
        baseURL: config.baseUrl,
        apiKey: config.apiKey,
        fetch,
        // Token counts drive history compaction; every server named above reports them on request.
        includeUsage: true,
      }).chatModel(config.apiModelId);
  }
}
