// The typed errors of model resolution. They are thrown before any network call, so the API can turn
// them into a 4xx at deployment create and the runtime can end a run with a reason a human can act on.

/**
 * A model name that Herm cannot use: not in `provider/model` form, or naming a provider Herm does not
 * support. The API answers it with a 400 naming the `model` field.
 *
 * @example
 * try { parseModelName('claude-sonnet-4.5'); }
 * catch (error) { if (error instanceof InvalidModelError) console.error(error.message); }
 */
export class InvalidModelError extends Error {
  override readonly name = 'InvalidModelError';
  /** The name exactly as it was given. */
  readonly modelName: string;

  constructor(modelName: string, message: string) {
    super(message);
    this.modelName = modelName;
  }
}

/**
 * A variable of the Herm server's environment that a model needs is not set (an API key, or the base
 * URL of an OpenAI-compatible server). The message names the variable and the model.
 *
 * @example
 * // "ANTHROPIC_API_KEY is not set: set it in the Herm server's environment to use anthropic/claude-sonnet-4.5"
 * checkModelConfig('anthropic/claude-sonnet-4.5', {});
 */
export class MissingProviderConfigError extends Error {
  override readonly name = 'MissingProviderConfigError';
  /** The environment variable to set, e.g. `ANTHROPIC_API_KEY`. */
  readonly variableName: string;
  /** The model that needed it, in `provider/model` form. */
  readonly modelName: string;

  constructor(variableName: string, modelName: string) {
    super(`${variableName} is not set: set it in the Herm server's environment to use ${modelName}`);
    this.variableName = variableName;
    this.modelName = modelName;
  }
}

/**
 * A variable of the Herm server's environment that models read is set to a value that cannot be used
 * (a base URL that is not an http(s) URL, a context size that is not a positive integer).
 */
export class InvalidProviderConfigError extends Error {
  override readonly name = 'InvalidProviderConfigError';
  /** The environment variable to fix, e.g. `OPENAI_COMPATIBLE_BASE_URL`. */
  readonly variableName: string;

  constructor(variableName: string, problem: string) {
    super(`${variableName} ${problem}`);
    this.variableName = variableName;
  }
}
