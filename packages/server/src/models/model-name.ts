// Model names as deployments carry them: `provider/model`, e.g. `anthropic/claude-sonnet-4.5`.
import { InvalidModelError } from './model-errors.ts';

/** The providers Herm can reach, in the order error messages list them. */
export const SUPPORTED_PROVIDERS = ['anthropic', 'openai', 'google', 'openai-compatible'] as const;

/** A provider Herm can reach: the part of a model name before the first `/`. */
export type ModelProvider = (typeof SUPPORTED_PROVIDERS)[number];

/** The model a deployment gets when it names none. */
export const DEFAULT_MODEL = 'anthropic/claude-sonnet-4.5';

/** Long enough for any real model id (Hugging Face paths included), short enough to refuse junk. */
const MAXIMUM_MODEL_NAME_LENGTH = 256;

/** A model name split into its provider and the provider's own model id. */
export interface ParsedModelName {
  provider: ModelProvider;
  /** The model part as written in the name, e.g. `claude-sonnet-4.5` or `meta-llama/Llama-3.1-8B`. */
  modelId: string;
}

const supportedProviderList = SUPPORTED_PROVIDERS.join(', ');

function isSupportedProvider(value: string): value is ModelProvider {
  return (SUPPORTED_PROVIDERS as readonly string[]).includes(value);
}

/**
 * Splits a `provider/model` name at its first `/`; the model part may contain more slashes
 * (`openai-compatible/meta-llama/Llama-3.1-8B`).
 *
 * @throws InvalidModelError when the name is malformed or the provider is not supported; the message
 *   lists the supported providers.
 * @example
 * parseModelName('anthropic/claude-sonnet-4.5'); // { provider: 'anthropic', modelId: 'claude-sonnet-4.5' }
 */
export function parseModelName(name: string): ParsedModelName {
  const expectedForm = `Use provider/model, such as ${DEFAULT_MODEL}; supported providers: ${supportedProviderList}.`;
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidModelError(String(name), `Model name is empty. ${expectedForm}`);
  }
  if (name.length > MAXIMUM_MODEL_NAME_LENGTH) {
    throw new InvalidModelError(name, `Model name is longer than ${MAXIMUM_MODEL_NAME_LENGTH} characters. ${expectedForm}`);
  }
  // Whitespace and control characters never belong in a model id; refusing them here keeps them out of
  // request URLs and log lines.
  if (/[\s\p{Cc}]/u.test(name)) {
    throw new InvalidModelError(name, `Model name "${name}" contains whitespace or control characters. ${expectedForm}`);
  }
  const slashIndex = name.indexOf('/');
  if (slashIndex === -1) {
    throw new InvalidModelError(name, `Model name "${name}" has no provider. ${expectedForm}`);
  }
  const provider = name.slice(0, slashIndex);
  const modelId = name.slice(slashIndex + 1);
  if (!isSupportedProvider(provider)) {
    const problem = provider.length === 0 ? 'has no provider' : `names unknown provider "${provider}"`;
    throw new InvalidModelError(name, `Model name "${name}" ${problem}. ${expectedForm}`);
  }
  if (modelId.length === 0 || modelId.startsWith('/') || modelId.endsWith('/') || modelId.includes('//')) {
    throw new InvalidModelError(name, `Model name "${name}" has no model after "${provider}/". ${expectedForm}`);
  }
  return { provider, modelId };
}

/**
 * The id the provider's API accepts for a parsed name. Herm's docs write Anthropic versions with a dot
 * (`claude-sonnet-4.5`) while Anthropic's API only accepts dashes (`claude-sonnet-4-5`), so for
 * `anthropic` a dot between two digits becomes a dash; every other provider gets the id unchanged
 * (OpenAI-compatible servers such as OpenRouter really do use dots).
 *
 * @example
 * providerModelId({ provider: 'anthropic', modelId: 'claude-sonnet-4.5' }); // 'claude-sonnet-4-5'
 */
export function providerModelId(parsed: ParsedModelName): string {
  if (parsed.provider !== 'anthropic') return parsed.modelId;
  return parsed.modelId.replace(/(?<=\d)\.(?=\d)/g, '-');
}
