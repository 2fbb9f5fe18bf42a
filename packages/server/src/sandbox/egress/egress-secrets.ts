// Secrets the sandbox never holds: inside, each variable of a deployment's `secrets` map holds a placeholder
// (SecretCipher.placeholder); the egress proxy puts the real value in its place only in requests to the hosts that
// secret is bound to (`allowed_hosts`), which must also be on the deployment's network allowlist. Pure functions of
// the bindings: which apply to a destination, and the substitution itself. Where substitution happens and where
// not is documented in docs/secrets.md.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { Transform } from 'node:stream';
import { derivedForms, SecretRedactor, type NamedSecretValue } from '../../secrets/secret-redactor.ts';
import { matchAllowList, type AllowEntry } from './egress-allowlist.ts';
import type { EgressTls } from './egress-tls.ts';

/** One variable of a deployment's secrets map, as the proxy uses it. */
export interface SecretBinding {
  /** The variable's name (for logs: never the value). */
  name: string;
  /** What the sandbox holds instead of the value. */
  placeholder: string;
  value: string;
  /** The hosts (and ports) the value may be sent to; parsed like sandbox.network.allow entries. */
  hosts: readonly AllowEntry[];
}

/** What the egress proxy needs to put secrets into requests. */
export interface EgressSecrets {
  /**
   * The deployment's bindings now: looked up for every connection and every request, so an update of the
   * deployment's secrets map or of a secret applies to the next request. Secrets without allowed_hosts are absent.
   */
  bindings(deploymentId: string): Promise<readonly SecretBinding[]>;
  /** The CA and the leaf certificates for TLS to bound hosts, and the trust of upstream servers. */
  tls: EgressTls;
}

/**
 * The bindings whose hosts include `host:port` (as the client named it). Over plain HTTP (`plain`), only entries
 * that name their port count: a value crosses the network unencrypted only where the operator asked for exactly
 * that (`localhost:8080`, `api.internal:80`), never because an entry without a port also means port 80. (The proxy
 * further limits plain HTTP to operator-opened internal destinations, never port 443: egress-proxy.ts boundSecrets.)
 */
export function bindingsFor(bindings: readonly SecretBinding[], host: string, port: number, plain = false): SecretBinding[] {
  return bindings.filter((binding) => binding.hosts.some((entry) => (!plain || entry.port !== undefined) && matchAllowList([entry], host, port) !== undefined));
}

/** `text` with every placeholder of `bindings` replaced by its value. */
export function substitute(text: string, bindings: readonly SecretBinding[]): string {
  let result = text;
  for (const binding of bindings) {
    if (result.includes(binding.placeholder)) result = result.split(binding.placeholder).join(binding.value);
  }
  return result;
}

/**
 * Request headers with placeholders replaced in every value, and also inside `Basic` credentials (which clients
 * send base64-encoded: `curl -u user:$TOKEN`). Names are left alone.
 */
export function substituteHeaders(headers: IncomingHttpHeaders | OutgoingHttpHeaders, bindings: readonly SecretBinding[]): OutgoingHttpHeaders {
  const result: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) result[name] = value.map((item) => substituteHeaderValue(name, item, bindings));
    else if (typeof value === 'string') result[name] = substituteHeaderValue(name, value, bindings);
    else result[name] = value;
  }
  return result;
}

function substituteHeaderValue(name: string, value: string, bindings: readonly SecretBinding[]): string {
  const replaced = substitute(value, bindings);
  if (name !== 'authorization' && name !== 'proxy-authorization') return replaced;
  const basic = /^(basic\s+)([A-Za-z0-9+/=]+)\s*$/i.exec(replaced);
  if (!basic) return replaced;
  const decoded = Buffer.from(basic[2]!, 'base64').toString('utf8');
  const substituted = substitute(decoded, bindings);
  return substituted === decoded ? replaced : `${basic[1]}${Buffer.from(substituted, 'utf8').toString('base64')}`;
}

/**
 * What a bound host answers goes back into the sandbox with every value of `bindings` replaced by its placeholder
 * (an API that echoes the credential must not hand it to the agent): header values here, the body with
 * responseBodyScrubber.
 */
export function scrubResponseHeaders(headers: OutgoingHttpHeaders, bindings: readonly SecretBinding[], sent: readonly NamedSecretValue[] = []): OutgoingHttpHeaders {
  const redactor = placeholderRedactor(bindings, 'utf8', sent);
  if (redactor.empty) return headers;
  const result: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    result[name] = Array.isArray(value) ? value.map((item) => redactor.redact(item)) : typeof value === 'string' ? redactor.redact(value) : value;
  }
  return result;
}

/**
 * A byte stream with every value of `bindings` replaced by its placeholder, values cut across chunks included
 * (the end of a chunk that could begin one is held back). The body changes length: the caller drops
 * Content-Length. Only for bodies without a content encoding (the proxy asks bound hosts for `identity`).
 */
export function responseBodyScrubber(bindings: readonly SecretBinding[], sent: readonly NamedSecretValue[] = []): Transform {
  // latin1 maps bytes to characters one to one, so any body (UTF-8 or binary) survives the round trip.
  const stream = placeholderRedactor(bindings, 'latin1', sent).stream();
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const text = stream.push(chunk.toString('latin1'));
      done(null, text === '' ? undefined : Buffer.from(text, 'latin1'));
    },
    flush(done) {
      const rest = stream.flush();
      done(null, rest === '' ? undefined : Buffer.from(rest, 'latin1'));
    },
  });
}

/**
 * The Basic credentials the proxy made for this request (`sent`: base64 of `user:value`, which no form of the value
 * alone matches whole), each with the credential the sandbox sent in its place: an echo of it goes back as that.
 */
export function substitutedBasicCredentials(before: OutgoingHttpHeaders, after: OutgoingHttpHeaders, bindings: readonly SecretBinding[]): NamedSecretValue[] {
  const result: NamedSecretValue[] = [];
  for (const name of ['authorization', 'proxy-authorization']) {
    const original = [before[name]].flat();
    const substituted = [after[name]].flat();
    original.forEach((value, index) => {
      const token = /^basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(String(value))?.[1];
      const replaced = /^basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(String(substituted[index]))?.[1];
      if (token && replaced && token !== replaced) {
        const used = bindings.find((binding) => Buffer.from(token, 'base64').toString('utf8').includes(binding.placeholder));
        result.push({ name: used?.name ?? 'basic', value: replaced, replacement: token, exact: true });
        result.push({ name: used?.name ?? 'basic', value: replaced.replace(/=+$/, ''), replacement: token.replace(/=+$/, ''), exact: true });
      }
    });
  }
  return result;
}

function placeholderRedactor(bindings: readonly SecretBinding[], encoding: 'utf8' | 'latin1', sent: readonly NamedSecretValue[] = []): SecretRedactor {
  // Every value also in its encoded forms (SecretRedactor's derivedForms), and the exact credentials sent, first.
  // The forms are made of the UTF-8 text, then turned into latin1 like the body they are looked for in.
  return new SecretRedactor(
    [
      ...sent,
      ...bindings.flatMap((binding) =>
        [binding.value, ...derivedForms(binding.value)].map((value) => ({ name: binding.name, value, replacement: binding.placeholder, exact: true })),
      ),
    ].map((secret) => ({ ...secret, value: encoding === 'utf8' ? secret.value : Buffer.from(secret.value, 'utf8').toString('latin1') })),
  );
}
