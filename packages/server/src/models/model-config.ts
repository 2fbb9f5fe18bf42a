// Where a model lives and how to authenticate to it, read from the environment the caller passes in.
// Resolution never looks at process.env itself, so one process can serve tests, tenants or
// benchmarks with different settings side by side.
import { InvalidProviderConfigError, MissingProviderConfigError } from './model-errors.ts';
import { parseModelName, providerModelId, type ModelProvider } from './model-name.ts';

/**
 * The environment variables model resolution reads; `process.env` fits. Empty or blank values count
 * as unset, because `ANTHROPIC_API_KEY=` in a compose file means "not configured", not "empty key".
 */
export type ModelEnvironment = Readonly<Record<string, string | undefined>>;

/** Everything needed to open a connection to one model; produced without any network call. */
export interface ModelConfig {
  /** The name as the deployment carries it, e.g. `anthropic/claude-sonnet-4.5`. */
  modelName: string;
  provider: ModelProvider;
  /** The id sent to the provider's API, e.g. `claude-sonnet-4-5`. */
  apiModelId: string;
  /** The API prefix requests go to, without a trailing slash, e.g. `https://api.anthropic.com/v1`. */
  baseUrl: string;
  /** Absent only for OpenAI-compatible servers that need no key (Ollama, vLLM, LM Studio). */
  apiKey: string | undefined;
}

interface ProviderEnvironment {
  apiKeyVariable: string;
  apiKeyRequired: boolean;
  baseUrlVariable: string;
  /** Undefined when the base URL must be configured (there is no public OpenAI-compatible server). */
  defaultBaseUrl: string | undefined;
}

const PROVIDER_ENVIRONMENTS: Record<ModelProvider, ProviderEnvironment> = {
  anthropic: {
    apiKeyVariable: 'ANTHROPIC_API_KEY',
    apiKeyRequired: true,
    baseUrlVariable: 'ANTHROPIC_BASE_URL',
    defaultBaseUrl: 'https://api.anthropic.com/v1',
  },
  openai: {
    apiKeyVariable: 'OPENAI_API_KEY',
    apiKeyRequired: true,
    baseUrlVariable: 'OPENAI_BASE_URL',
    defaultBaseUrl: 'https://api.openai.com/v1',
  },
  google: {
    apiKeyVariable: 'GOOGLE_GENERATIVE_AI_API_KEY',
    apiKeyRequired: true,
    baseUrlVariable: 'GOOGLE_GENERATIVE_AI_BASE_URL',
    defaultBaseUrl: 'https://generativelanguage.googleapis.com/v1beta',
  },
  'openai-compatible': {
    apiKeyVariable: 'OPENAI_COMPATIBLE_API_KEY',
    apiKeyRequired: false,
    baseUrlVariable: 'OPENAI_COMPATIBLE_BASE_URL',
    defaultBaseUrl: undefined,
  },
};

/** Reads one variable, treating blank as unset. */
export function readEnvironmentValue(environment: ModelEnvironment, variableName: string): string | undefined {
  const value = environment[variableName]?.trim();
  return value === undefined || value.length === 0 ? undefined : value;
}

function parseBaseUrl(variableName: string, value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidProviderConfigError(variableName, `is not a URL: "${value}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidProviderConfigError(variableName, `must be an http:// or https:// URL, not "${value}"`);
  }
  return url;
}

function withoutTrailingSlashes(url: string): string {
  return url.replace(/\/+$/, '');
}

/**
 * The Anthropic SDKs (and Claude Code) take `ANTHROPIC_BASE_URL` without the `/v1` they append
 * themselves, while the AI SDK takes it with `/v1`; accepting both means an operator's existing
 * setting works as is.
 */
function anthropicApiPrefix(url: URL): string {
  const prefix = withoutTrailingSlashes(url.href);
  return /\/v1$/.test(withoutTrailingSlashes(url.pathname)) ? prefix : `${prefix}/v1`;
}

/** Likewise for Gemini: a bare host (a proxy, a gateway) gets the `/v1beta` the provider does not append. */
function googleApiPrefix(url: URL): string {
  const prefix = withoutTrailingSlashes(url.href);
  return /\/v1(beta\d*)?$/.test(withoutTrailingSlashes(url.pathname)) ? prefix : `${prefix}/v1beta`;
}

/**
 * Checks that a model can be used with this environment and returns where and how to reach it.
 * Cheap and offline: call it at deployment create and before a run starts, so a missing key becomes a
 * clear error instead of a failed HTTP call mid-run.
 *
 * @throws InvalidModelError when the name is malformed or the provider unknown.
 * @throws MissingProviderConfigError naming the variable to set (e.g. `ANTHROPIC_API_KEY`).
 * @throws InvalidProviderConfigError when a base URL variable is not an http(s) URL.
 * @example
 * const config = checkModelConfig('anthropic/claude-sonnet-4.5', process.env);
 * config.apiModelId; // 'claude-sonnet-4-5'
 */
export function checkModelConfig(modelName: string, environment: ModelEnvironment): ModelConfig {
  const parsed = parseModelName(modelName);
  const providerEnvironment = PROVIDER_ENVIRONMENTS[parsed.provider];

  const configuredBaseUrl = readEnvironmentValue(environment, providerEnvironment.baseUrlVariable);
  let baseUrl: string;
  if (configuredBaseUrl !== undefined) {
    const url = parseBaseUrl(providerEnvironment.baseUrlVariable, configuredBaseUrl);
    baseUrl =
      parsed.provider === 'anthropic'
        ? anthropicApiPrefix(url)
        : parsed.provider === 'google'
          ? googleApiPrefix(url)
          : withoutTrailingSlashes(url.href);
  } else if (providerEnvironment.defaultBaseUrl !== undefined) {
    baseUrl = providerEnvironment.defaultBaseUrl;
  } else {
    throw new MissingProviderConfigError(providerEnvironment.baseUrlVariable, modelName);
  }

  const apiKey = readEnvironmentValue(environment, providerEnvironment.apiKeyVariable);
  if (apiKey === undefined && providerEnvironment.apiKeyRequired) {
    throw new MissingProviderConfigError(providerEnvironment.apiKeyVariable, modelName);
  }

  return { modelName, provider: parsed.provider, apiModelId: providerModelId(parsed), baseUrl, apiKey };
}
