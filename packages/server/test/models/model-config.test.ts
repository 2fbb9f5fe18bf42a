import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  checkModelConfig,
  contextWindowTokens,
  createModelResolver,
  InvalidModelError,
  InvalidProviderConfigError,
  MissingProviderConfigError,
  resolveModel,
} from '../../src/models/index.ts';

function thrownBy(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('checkModelConfig', () => {
  it('names the missing key and the model in the documented words', () => {
    const error = thrownBy(() => checkModelConfig('anthropic/claude-sonnet-4.5', {}));
    expect(error).toBeInstanceOf(MissingProviderConfigError);
    expect(error).toMatchObject({
      name: 'MissingProviderConfigError',
      variableName: 'ANTHROPIC_API_KEY',
      modelName: 'anthropic/claude-sonnet-4.5',
      message: "ANTHROPIC_API_KEY is not set: set it in the Herm server's environment to use anthropic/claude-sonnet-4.5",
    });
  });

  it.each([
    ['anthropic/claude-opus-4-8', 'ANTHROPIC_API_KEY'],
    ['openai/gpt-4.1', 'OPENAI_API_KEY'],
    ['google/gemini-2.5-flash', 'GOOGLE_GENERATIVE_AI_API_KEY'],
    ['openai-compatible/llama3.1', 'OPENAI_COMPATIBLE_BASE_URL'],
  ])('%s without configuration asks for %s', (modelName, variableName) => {
    const error = thrownBy(() => checkModelConfig(modelName, {}));
    expect(error).toBeInstanceOf(MissingProviderConfigError);
    expect((error as MissingProviderConfigError).variableName).toBe(variableName);
    expect((error as Error).message).toBe(`${variableName} is not set: set it in the Herm server's environment to use ${modelName}`);
  });

  it('treats blank values as unset', () => {
    expect(() => checkModelConfig('openai/gpt-4o', { OPENAI_API_KEY: '  ' })).toThrow(/^OPENAI_API_KEY is not set/);
  });

  it('reads only the environment it is given, never process.env', () => {
    vi.stubEnv('ANTHROPIC_API_KEY', 'sk-ant-from-process-env');
    expect(() => checkModelConfig('anthropic/claude-sonnet-4.5', {})).toThrow(MissingProviderConfigError);
    expect(() => resolveModel('anthropic/claude-sonnet-4.5', {})).toThrow(MissingProviderConfigError);
  });

  it('rejects a malformed name before looking at keys', () => {
    expect(() => checkModelConfig('claude-sonnet-4.5', { ANTHROPIC_API_KEY: 'sk-ant' })).toThrow(InvalidModelError);
  });

  it('returns the API id, the default base URL and the key', () => {
    expect(checkModelConfig('anthropic/claude-sonnet-4.5', { ANTHROPIC_API_KEY: 'sk-ant' })).toEqual({
      modelName: 'anthropic/claude-sonnet-4.5',
      provider: 'anthropic',
      apiModelId: 'claude-sonnet-4-5',
      baseUrl: 'https://api.anthropic.com/v1',
      apiKey: 'sk-ant',
    });
    expect(checkModelConfig('openai/gpt-4o', { OPENAI_API_KEY: 'sk' }).baseUrl).toBe('https://api.openai.com/v1');
    expect(checkModelConfig('google/gemini-2.5-pro', { GOOGLE_GENERATIVE_AI_API_KEY: 'g' }).baseUrl).toBe(
      'https://generativelanguage.googleapis.com/v1beta',
    );
  });

  it('lets an OpenAI-compatible server go without a key', () => {
    const config = checkModelConfig('openai-compatible/qwen2.5:7b', { OPENAI_COMPATIBLE_BASE_URL: 'http://localhost:11434/v1/' });
    expect(config).toMatchObject({ apiModelId: 'qwen2.5:7b', baseUrl: 'http://localhost:11434/v1', apiKey: undefined });
    const withKey = checkModelConfig('openai-compatible/x', { OPENAI_COMPATIBLE_BASE_URL: 'https://openrouter.ai/api/v1', OPENAI_COMPATIBLE_API_KEY: 'sk-or' });
    expect(withKey.apiKey).toBe('sk-or');
  });

  it.each([
    // Anthropic SDK / Claude Code style (no /v1) and AI SDK style (with /v1) both reach /v1/messages.
    ['http://127.0.0.1:4000', 'http://127.0.0.1:4000/v1'],
    ['http://127.0.0.1:4000/', 'http://127.0.0.1:4000/v1'],
    ['http://127.0.0.1:4000/v1', 'http://127.0.0.1:4000/v1'],
    ['http://127.0.0.1:4000/v1/', 'http://127.0.0.1:4000/v1'],
    ['https://gateway.example.com/anthropic', 'https://gateway.example.com/anthropic/v1'],
    ['https://api.anthropic.com', 'https://api.anthropic.com/v1'],
  ])('ANTHROPIC_BASE_URL=%s → %s', (value, baseUrl) => {
    expect(checkModelConfig('anthropic/claude-sonnet-4.5', { ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: value }).baseUrl).toBe(baseUrl);
  });

  it.each([
    ['http://127.0.0.1:4000', 'http://127.0.0.1:4000/v1beta'],
    ['http://127.0.0.1:4000/v1beta/', 'http://127.0.0.1:4000/v1beta'],
    ['http://127.0.0.1:4000/v1', 'http://127.0.0.1:4000/v1'],
    ['https://gateway.example.com/google', 'https://gateway.example.com/google/v1beta'],
  ])('GOOGLE_GENERATIVE_AI_BASE_URL=%s → %s', (value, baseUrl) => {
    const environment = { GOOGLE_GENERATIVE_AI_API_KEY: 'k', GOOGLE_GENERATIVE_AI_BASE_URL: value };
    expect(checkModelConfig('google/gemini-2.5-pro', environment).baseUrl).toBe(baseUrl);
  });

  it('takes OPENAI_BASE_URL as given, without a trailing slash', () => {
    expect(checkModelConfig('openai/gpt-4o', { OPENAI_API_KEY: 'k', OPENAI_BASE_URL: 'http://127.0.0.1:9/v1/' }).baseUrl).toBe('http://127.0.0.1:9/v1');
  });

  it.each([
    ['ANTHROPIC_BASE_URL', 'anthropic/claude-sonnet-4.5', 'not a url'],
    ['OPENAI_BASE_URL', 'openai/gpt-4o', 'ftp://example.com/v1'],
    ['OPENAI_COMPATIBLE_BASE_URL', 'openai-compatible/llama', 'localhost:11434'],
  ])('rejects %s=%j naming the variable', (variableName, modelName, value) => {
    const environment = { ANTHROPIC_API_KEY: 'k', OPENAI_API_KEY: 'k', [variableName]: value };
    const error = thrownBy(() => checkModelConfig(modelName, environment));
    expect(error).toBeInstanceOf(InvalidProviderConfigError);
    expect((error as InvalidProviderConfigError).variableName).toBe(variableName);
    expect((error as Error).message).toMatch(new RegExp(`^${variableName} `));
  });
});

describe('contextWindowTokens', () => {
  it.each([
    ['anthropic/claude-sonnet-4.5', 200_000],
    ['anthropic/claude-opus-4-8', 200_000],
    ['anthropic/some-future-model', 200_000],
    ['openai/gpt-4o', 128_000],
    ['openai/gpt-4o-mini', 128_000],
    ['openai/gpt-4.1', 1_047_576],
    ['openai/gpt-5', 272_000],
    ['openai/o3', 200_000],
    ['openai/o4-mini', 200_000],
    ['openai/gpt-4', 8_192],
    ['openai/unknown-model', 128_000],
    ['google/gemini-2.5-pro', 1_048_576],
    ['google/gemini-1.5-pro-002', 2_097_152],
    ['openai-compatible/meta-llama/Llama-3.1-8B-Instruct', 128_000],
    ['openai-compatible/anthropic/claude-sonnet-4.5', 200_000],
    ['openai-compatible/openai/gpt-4o', 128_000],
    ['openai-compatible/qwen2.5:7b', 32_768],
  ])('%s defaults to %d tokens', (modelName, tokens) => {
    expect(contextWindowTokens(modelName, {})).toBe(tokens);
  });

  it('is overridden by HERM_MODEL_CONTEXT_TOKENS for every model', () => {
    expect(contextWindowTokens('anthropic/claude-sonnet-4.5', { HERM_MODEL_CONTEXT_TOKENS: '1000000' })).toBe(1_000_000);
    expect(contextWindowTokens('openai-compatible/qwen2.5:7b', { HERM_MODEL_CONTEXT_TOKENS: ' 8192 ' })).toBe(8_192);
  });

  it.each(['12k', '0', '-5', '1.5', '1e6', '99999999999999999999'])('rejects HERM_MODEL_CONTEXT_TOKENS=%j', (value) => {
    const error = thrownBy(() => contextWindowTokens('anthropic/claude-sonnet-4.5', { HERM_MODEL_CONTEXT_TOKENS: value }));
    expect(error).toBeInstanceOf(InvalidProviderConfigError);
    expect((error as InvalidProviderConfigError).variableName).toBe('HERM_MODEL_CONTEXT_TOKENS');
  });

  it('rejects a malformed model name', () => {
    expect(() => contextWindowTokens('gpt-4o', {})).toThrow(InvalidModelError);
  });
});

describe('createModelResolver', () => {
  it('checks, resolves and sizes models from a snapshot of the environment', () => {
    const environment: Record<string, string | undefined> = { ANTHROPIC_API_KEY: 'sk-ant', HERM_MODEL_CONTEXT_TOKENS: '5000' };
    const models = createModelResolver(environment);
    environment['ANTHROPIC_API_KEY'] = undefined;
    environment['HERM_MODEL_CONTEXT_TOKENS'] = undefined;

    expect(() => models.check('anthropic/claude-sonnet-4.5')).not.toThrow();
    expect(models.resolve('anthropic/claude-sonnet-4.5').modelId).toBe('claude-sonnet-4-5');
    expect(models.contextWindowTokens('anthropic/claude-sonnet-4.5')).toBe(5000);
    expect(() => models.check('openai/gpt-4o')).toThrow(MissingProviderConfigError);
    expect(() => models.resolve('nope')).toThrow(InvalidModelError);
  });
});
