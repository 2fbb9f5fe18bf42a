// HERM_WEBHOOK_RETRY_SCHEDULE and the jitter of retries; the signature of a message as the standardwebhooks library
// computes it.
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { DEFAULT_RETRY_SCHEDULE, parseRetrySchedule, retryDelay } from '../../src/webhooks/webhook-settings.ts';
import { newWebhookSecret, signatureHeader, signWebhook } from '../../src/webhooks/webhook-signature.ts';

describe('the retry schedule', () => {
  it("defaults to Svix's, over a day in all", () => {
    const schedule = loadConfig({}).HERM_WEBHOOK_RETRY_SCHEDULE;
    expect(schedule).toEqual(parseRetrySchedule(DEFAULT_RETRY_SCHEDULE));
    expect(schedule).toEqual([5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]);
    expect(schedule.reduce((sum, delay) => sum + delay, 0)).toBeGreaterThan(86_400_000);
  });

  it('reads units, and names the variable and the entry it cannot read', () => {
    expect(loadConfig({ HERM_WEBHOOK_RETRY_SCHEDULE: '100ms, 1.5s,2m,1h,1d' }).HERM_WEBHOOK_RETRY_SCHEDULE).toEqual([100, 1_500, 120_000, 3_600_000, 86_400_000]);
    expect(() => loadConfig({ HERM_WEBHOOK_RETRY_SCHEDULE: '5s,soon' })).toThrow(/HERM_WEBHOOK_RETRY_SCHEDULE: "soon" is not a delay/);
    expect(() => loadConfig({ HERM_WEBHOOK_RETRY_SCHEDULE: '8d' })).toThrow(/longer than 7 days/);
    expect(loadConfig({ HERM_WEBHOOK_RETRY_SCHEDULE: 'none' }).HERM_WEBHOOK_RETRY_SCHEDULE).toEqual([]);
  });

  it('jitters each delay within ±20 % and ends after the last', () => {
    const schedule = [1_000, 10_000];
    expect(retryDelay(schedule, 0, () => 0)).toBe(800);
    expect(retryDelay(schedule, 0, () => 1)).toBe(1_200);
    expect(retryDelay(schedule, 1, () => 0.5)).toBe(10_000);
    expect(retryDelay(schedule, 2)).toBeUndefined();
  });
});

describe('signatures', () => {
  it('are what the standardwebhooks library computes and verifies', () => {
    const secret = newWebhookSecret();
    const body = JSON.stringify({ type: 'run.completed', timestamp: '2026-06-20T23:28:02.773Z', data: { run_id: 'run_1' } });
    const timestamp = Math.floor(Date.now() / 1000);
    expect(signWebhook(secret, 'whmsg_1', timestamp, body)).toBe(new Webhook(secret).sign('whmsg_1', new Date(timestamp * 1000), body));
    const other = newWebhookSecret();
    const header = signatureHeader([secret, other], 'whmsg_1', timestamp, body);
    for (const key of [secret, other]) {
      expect(new Webhook(key).verify(body, { 'webhook-id': 'whmsg_1', 'webhook-timestamp': String(timestamp), 'webhook-signature': header })).toMatchObject({ data: { run_id: 'run_1' } });
    }
    expect(() => new Webhook(newWebhookSecret()).verify(body, { 'webhook-id': 'whmsg_1', 'webhook-timestamp': String(timestamp), 'webhook-signature': header })).toThrow();
  });
});
