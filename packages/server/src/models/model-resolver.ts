// The boundary the runtime and the API depend on, so a test can hand them a scripted model without
// touching the environment.
import type { LanguageModelV4 } from '@ai-sdk/provider';
import { contextWindowTokens } from './context-window.ts';
import { checkModelConfig, type ModelEnvironment } from './model-config.ts';
import { createLanguageModel, type ResolveModelOptions } from './resolve-model.ts';

/** Turns deployment model names into models. */
export interface ModelResolver {
  /**
   * Throws `InvalidModelError`, `MissingProviderConfigError` or `InvalidProviderConfigError` when the
   * model cannot be used. Offline and cheap: meant for deployment create and the start of each run.
   */
  check(modelName: string): void;
  /** The model to pass to `streamText`; throws what `check` throws. */
  resolve(modelName: string): LanguageModelV4;
  /** The input-token budget the runtime compacts history against. */
  contextWindowTokens(modelName: string): number;
}

/**
 * A resolver reading provider settings from `environment` (usually `process.env`, read once at start).
 *
 * @example
 * const models = createModelResolver(process.env);
 * models.check(deployment.model); // before the run starts
 * streamText({ model: models.resolve(deployment.model), messages });
 */
export function createModelResolver(environment: ModelEnvironment, options: ResolveModelOptions = {}): ModelResolver {
  // A snapshot, so later writes to process.env cannot change which key a running server uses.
  const snapshot: ModelEnvironment = { ...environment };
  return {
    check(modelName) {
      checkModelConfig(modelName, snapshot);
    },
    resolve(modelName) {
      return createLanguageModel(checkModelConfig(modelName, snapshot), options);
    },
    contextWindowTokens(modelName) {
      return contextWindowTokens(modelName, snapshot);
    },
  };
}
