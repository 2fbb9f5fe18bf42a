// Model resolution: `provider/model` names to AI SDK models, with typed configuration errors.
export { contextWindowTokens, CONTEXT_TOKENS_VARIABLE } from './context-window.ts';
export { checkModelConfig, type ModelConfig, type ModelEnvironment } from './model-config.ts';
export { InvalidModelError, InvalidProviderConfigError, MissingProviderConfigError } from './model-errors.ts';
export {
  DEFAULT_MODEL,
  parseModelName,
  providerModelId,
  SUPPORTED_PROVIDERS,
  type ModelProvider,
  type ParsedModelName,
} from './model-name.ts';
export { createModelResolver, type ModelResolver } from './model-resolver.ts';
export { createLanguageModel, resolveModel, type ResolveModelOptions } from './resolve-model.ts';
