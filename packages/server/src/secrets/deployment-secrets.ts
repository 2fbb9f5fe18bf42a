// A deployment's connector secrets as each party sees them: the sandbox a placeholder per variable of its
// `secrets` map (never a value), the egress proxy the placeholders with the values and hosts they are bound to
// (read for every request, so a rotation applies to the next one), and the run journal's redactor every value.
import { parseAllowList } from '../sandbox/egress/egress-allowlist.ts';
import type { SecretBinding } from '../sandbox/egress/egress-secrets.ts';
import { isReservedEnvironmentName } from '../sandbox/reserved-environment.ts';
import type { DeploymentRecord } from '../store/deployments.ts';
import { allowedHostsOf, type SecretRecord } from '../store/secrets.ts';
import type { Store } from '../store/store.ts';
import type { SecretCipher } from './secret-cipher.ts';
import type { NamedSecretValue } from './secret-redactor.ts';

/** The deployment's secrets map cannot be turned into the run's environment; the message says how to fix it. */
export class DeploymentSecretsError extends Error {}

export interface RunSecrets {
  /** The tool processes' variables: each name of the secrets map with its placeholder. */
  environment: Record<string, string>;
  /** Every value of the map (for redaction), whether bound to hosts or used only by the server (MCP headers). */
  values: NamedSecretValue[];
}

export interface DeploymentSecretsOptions {
  store: Pick<Store, 'secrets' | 'deployments'>;
  cipher: SecretCipher;
}

export class DeploymentSecrets {
  readonly #options: DeploymentSecretsOptions;

  constructor(options: DeploymentSecretsOptions) {
    this.#options = options;
  }

  /**
   * The run's view of the deployment's secrets. A reference to a deleted secret (`DELETE /v1/secrets/{id}?force=true`)
   * or a reserved name (kept by a deployment from before names were checked) is a DeploymentSecretsError: the run
   * fails naming it, never runs without it.
   */
  async forRun(deployment: DeploymentRecord): Promise<RunSecrets> {
    const references = Object.entries(deployment.secrets);
    if (references.length === 0) return { environment: {}, values: [] };
    const reserved = references.find(([name]) => isReservedEnvironmentName(name));
    if (reserved) {
      throw new DeploymentSecretsError(
        `The deployment's secrets map sets ${reserved[0]}, a variable the sandbox sets or uses itself. ` +
          `Remove it (PATCH /v1/deployments/${deployment.id} with {"secrets": {"${reserved[0]}": null}}) and pick another name.`,
      );
    }
    const byId = await this.#records(deployment);
    const environment: Record<string, string> = {};
    const values: NamedSecretValue[] = [];
    for (const [name, ref] of references) {
      const record = byId.get(ref);
      if (!record) {
        throw new DeploymentSecretsError(
          `The deployment's secrets.${name} refers to ${ref}, which was deleted. Point it at another secret, or remove it ` +
            `(PATCH /v1/deployments/${deployment.id} with {"secrets": {"${name}": null}}).`,
        );
      }
      environment[name] = this.#options.cipher.placeholder(deployment.id, name);
      values.push({ name, value: this.#options.cipher.decrypt(record.ciphertext) });
    }
    return { environment, values };
  }

  /**
   * What the egress proxy substitutes for the deployment now: each variable whose secret has allowed_hosts, with
   * its placeholder and current value. Read from the store on every call: an updated secrets map, a secret
   * replaced (POST /v1/secrets/{id}) or deleted, apply to the next request. A deleted deployment has none.
   */
  async bindings(deploymentId: string): Promise<SecretBinding[]> {
    const deployment = await this.#options.store.deployments.getById(deploymentId);
    if (!deployment || Object.keys(deployment.secrets).length === 0) return [];
    const byId = await this.#records(deployment);
    const bindings: SecretBinding[] = [];
    for (const [name, ref] of Object.entries(deployment.secrets)) {
      const record = byId.get(ref);
      if (!record || isReservedEnvironmentName(name)) continue;
      const hosts = allowedHostsOf(record);
      if (hosts.length === 0) continue;
      bindings.push({
        name,
        placeholder: this.#options.cipher.placeholder(deployment.id, name),
        value: this.#options.cipher.decrypt(record.ciphertext),
        hosts: parseAllowList(hosts),
      });
    }
    return bindings;
  }

  async #records(deployment: DeploymentRecord): Promise<Map<string, SecretRecord>> {
    const ids = [...new Set(Object.values(deployment.secrets))];
    const records = await this.#options.store.secrets.getMany(deployment.account_id, ids);
    return new Map(records.map((record) => [record.id, record]));
  }
}
