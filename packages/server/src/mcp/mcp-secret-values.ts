// The values MCP server headers refer to: variables of the deployment's `secrets` map, decrypted when a
// connection opens. They go into that connection's request headers and nowhere else (never logged, stored or
// shown to the agent).
import type { SecretCipher } from '../secrets/secret-cipher.ts';
import type { DeploymentRecord } from '../store/deployments.ts';
import type { Store } from '../store/store.ts';
import { McpError } from './mcp-connections.ts';

export function mcpSecretValues(store: Store, cipher: SecretCipher) {
  return async (deployment: DeploymentRecord, names: string[]): Promise<Record<string, string>> => {
    const references = names.map((name) => [name, deployment.secrets[name]] as const);
    const undeclared = references.find(([, ref]) => ref === undefined);
    if (undeclared) {
      throw new McpError('configuration', `a header of the MCP server declaration refers to secrets.${undeclared[0]}, which the deployment's secrets map does not have`);
    }
    const records = await store.secrets.getMany(deployment.account_id, [...new Set(references.map(([, ref]) => ref!))]);
    const byId = new Map(records.map((record) => [record.id, record]));
    const values: Record<string, string> = {};
    for (const [name, ref] of references) {
      const record = byId.get(ref!);
      if (!record) throw new McpError('configuration', `secrets.${name} refers to ${ref}, which was deleted`);
      values[name] = cipher.decrypt(record.ciphertext);
    }
    return values;
  };
}
