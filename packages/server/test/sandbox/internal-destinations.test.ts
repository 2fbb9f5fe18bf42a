// HERM_SANDBOX_INTERNAL_DESTINATIONS: parsed once from the environment (a bad entry names the variable),
// open to every account or to one, and the rule the API applies to a tenant's allowlist entries.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { parseAllowEntry, type AllowEntry } from '../../src/sandbox/egress/egress-allowlist.ts';
import { internalDestinationsFor, InternalDestinationSet, internalEntryRefusal, parseInternalDestinations } from '../../src/sandbox/egress/internal-destinations.ts';

const entry = (text: string): AllowEntry => parseAllowEntry(text) as AllowEntry;

describe('HERM_SANDBOX_INTERNAL_DESTINATIONS', () => {
  it('is empty by default, and reads host:port and acct_…=host:port entries', () => {
    expect(loadConfig({}).HERM_SANDBOX_INTERNAL_DESTINATIONS).toEqual([]);
    expect(loadConfig({ HERM_SANDBOX_INTERNAL_DESTINATIONS: '' }).HERM_SANDBOX_INTERNAL_DESTINATIONS).toEqual([]);
    const destinations = loadConfig({
      HERM_SANDBOX_INTERNAL_DESTINATIONS: ' 10.0.0.5:5432, acct_team1=[0:0::1]:8443 ,DB.Internal.:6379,, 10.0.0.5:5432',
    }).HERM_SANDBOX_INTERNAL_DESTINATIONS;
    expect(destinations).toEqual([
      { accountId: undefined, text: '10.0.0.5:5432', host: '10.0.0.5', port: 5432 },
      { accountId: 'acct_team1', text: '[::1]:8443', host: '::1', port: 8443 },
      { accountId: undefined, text: 'db.internal:6379', host: 'db.internal', port: 6379 },
    ]);
    expect(internalDestinationsFor(destinations, 'acct_team1')).toEqual(['10.0.0.5:5432', '[::1]:8443', 'db.internal:6379']);
    expect(internalDestinationsFor(destinations, 'acct_default')).toEqual(['10.0.0.5:5432', 'db.internal:6379']);
  });

  it('refuses a bad entry at start-up, naming the variable and the entry', () => {
    for (const [value, message] of [
      ['127.0.0.1', /needs a port/],
      ['*.internal:5432', /wildcard/],
      ['team=10.0.0.5:5432', /not an account id/],
      ['http://10.0.0.5:5432', /not a URL/],
      ['10.0.0.5:99999', /port/],
    ] as const) {
      expect(() => loadConfig({ HERM_SANDBOX_INTERNAL_DESTINATIONS: value }), value).toThrow(ConfigError);
      expect(() => loadConfig({ HERM_SANDBOX_INTERNAL_DESTINATIONS: value }), value).toThrow(/^Invalid environment variable HERM_SANDBOX_INTERNAL_DESTINATIONS: /);
      expect(() => parseInternalDestinations(value), value).toThrow(message);
    }
  });

  it('matches an address in any notation, or a name, at its port only', () => {
    const open = new InternalDestinationSet(['127.0.0.1:8080', '[::1]:9000', 'db.internal:5432']);
    expect(open.allows('127.0.0.1', 8080)).toBe(true);
    expect(open.allows('127.0.0.1', 8081)).toBe(false);
    expect(open.allows('[0:0:0::1]', 9000)).toBe(true);
    expect(open.allows('DB.INTERNAL.', 5432)).toBe(true);
    expect(open.allows('10.0.0.9', 5432)).toBe(false);
    expect(() => new InternalDestinationSet(['127.0.0.1'])).toThrow(/host:port/);
  });
});

describe("a tenant's allowlist entry naming an internal host", () => {
  const open = new InternalDestinationSet(['127.0.0.1:5432', '10.0.0.5:80', '10.0.0.5:443', '10.0.0.6:80', 'localhost:8080']);

  it('passes when the operator opened every port it implies', () => {
    for (const text of ['127.0.0.1:5432', '10.0.0.5', '10.0.0.5:443', 'localhost:8080', 'api.example.com', '*.example.com', '93.184.216.34', 'db.internal:5432']) {
      expect(internalEntryRefusal(entry(text), open), text).toBeUndefined();
    }
  });

  it('is refused otherwise, with a message naming the variable', () => {
    for (const text of ['127.0.0.1:5433', '10.0.0.6', '127.0.0.1', 'localhost:5432', 'localhost', 'x.localhost:8080', '*.localhost', '[::1]:5432', '169.254.169.254', '192.168.0.1:22', '[fd00::5]:80']) {
      const refusal = internalEntryRefusal(entry(text), open);
      expect(refusal, text).toMatch(/internal address|own addresses/);
      expect(refusal, text).toContain('HERM_SANDBOX_INTERNAL_DESTINATIONS');
    }
    expect(internalEntryRefusal(entry('10.0.0.6'), open)).toContain('ports 80 and 443');
    expect(internalEntryRefusal(entry('169.254.169.254:80'), open)).toContain('(link-local)');
  });
});
