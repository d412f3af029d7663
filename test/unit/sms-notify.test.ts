/** SMS delivery (src/notify/): console transport and outbox, the Twilio SDK against a local server, config. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { ConsoleSms, TwilioSms, twilioError } from '../../src/notify/sms.js';
import { DevOutbox } from '../../src/notify/outbox.js';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { AppError } from '../../src/errors/index.js';
import { describeEvent } from '../../src/account/activity.js';
import { TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TEST_FROM, TWILIO_ERRORS, startFakeTwilio, type FakeTwilio } from '../helpers/fake-twilio.js';

describe('console SMS transport and the development outbox', () => {
  it('prints exactly one line per message and keeps it in the outbox, newest first', async () => {
    const lines: string[] = [];
    const outbox = new DevOutbox(2);
    const sms = new ConsoleSms({ outbox, write: (l) => lines.push(l) });
    await sms.send('+14155550123', '123456 is your Stepwise code');
    await sms.send('+4915123456789', 'two\nlines  here');
    await sms.send('+33612345678', '654321 is your Stepwise code');
    expect(lines).toEqual([
      '[sms] to +14155550123: 123456 is your Stepwise code',
      '[sms] to +4915123456789: two lines here',
      '[sms] to +33612345678: 654321 is your Stepwise code',
    ]);
    // Capacity 2: the oldest is dropped.
    expect(outbox.list().map((m) => m.to)).toEqual(['+33612345678', '+4915123456789']);
    outbox.add({ channel: 'email', to: 'a@example.test', subject: 'Hi', body: 'x' });
    expect(outbox.list('sms').map((m) => m.channel)).toEqual(['sms']);
  });
});

describe('Twilio transport through the real SDK (local server speaking the REST wire format)', () => {
  let fake: FakeTwilio;
  beforeAll(async () => {
    fake = await startFakeTwilio();
  });
  afterAll(async () => fake?.close());

  it('POSTs a form-encoded message with Basic auth to /2010-04-01/Accounts/{sid}/Messages.json', async () => {
    const sms = new TwilioSms({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN, from: TEST_FROM, apiBase: fake.url });
    const { id } = await sms.send('+14155550123', '123456 is your Stepwise code');
    expect(id).toMatch(/^SM[0-9a-f]{32}$/);
    expect(fake.requests.at(-1)).toEqual({ path: `/2010-04-01/Accounts/${TEST_ACCOUNT_SID}/Messages.json`, status: 201, authorized: true });
    expect(fake.messages.at(-1)).toMatchObject({ sid: id, to: '+14155550123', from: TEST_FROM, messagingServiceSid: null, body: '123456 is your Stepwise code' });
    expect(fake.messages.at(-1)!.contentType).toMatch(/^application\/x-www-form-urlencoded/);
  });

  it('uses the Messaging Service when one is configured', async () => {
    const mg = `MG${'ab'.repeat(16)}`;
    const sms = new TwilioSms({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN, messagingServiceSid: mg, apiBase: fake.url });
    await sms.send('+14155550123', 'x');
    expect(fake.messages.at(-1)).toMatchObject({ messagingServiceSid: mg, from: null });
  });

  it.each([
    [TWILIO_ERRORS.invalidNumber, 'sms_number_rejected', 400, /not valid/],
    [TWILIO_ERRORS.rateLimited, 'sms_rate_limited', 429, /Too many text messages/],
    [TWILIO_ERRORS.badCredentials, 'sms_failed', 503, /cannot be sent right now/],
    [{ status: 500, code: 20500, message: 'Internal Server Error' }, 'sms_failed', 503, /cannot be sent right now/],
  ])('maps Twilio error %j to %s', async (failure, code, status, message) => {
    const sms = new TwilioSms({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN, from: TEST_FROM, apiBase: fake.url });
    fake.failNext(failure);
    const err = (await sms.send('+14155550123', 'x').catch((e) => e)) as AppError;
    expect(err).toBeInstanceOf(AppError);
    expect([err.code, err.status]).toEqual([code, status]);
    expect(err.publicMessage).toMatch(message);
    expect(err.publicMessage).not.toMatch(/Twilio|\d{5}/);
  });

  it('real bad credentials answer 20003 from the server; a network failure is sms_failed', async () => {
    const wrong = new TwilioSms({ accountSid: TEST_ACCOUNT_SID, authToken: 'wrong', from: TEST_FROM, apiBase: fake.url });
    expect(((await wrong.send('+14155550123', 'x').catch((e) => e)) as AppError).code).toBe('sms_failed');
    expect(fake.requests.at(-1)).toMatchObject({ status: 401, authorized: false });
    const down = new TwilioSms({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN, from: TEST_FROM, apiBase: 'http://127.0.0.1:1' });
    expect(((await down.send('+14155550123', 'x').catch((e) => e)) as AppError).code).toBe('sms_failed');
    expect(twilioError(new Error('socket hang up')).code).toBe('sms_failed');
  });
});

describe('SMS configuration', () => {
  const secrets = { STEPWISE_COOKIE_KEYS: randomBytes(32).toString('base64url'), STEPWISE_ENCRYPTION_KEY: randomBytes(32).toString('base64') };
  const prod = { NODE_ENV: 'production', ISSUER: 'https://id.example.com', DATABASE_URL: 'postgres://u@db/x', ...secrets };
  const twilioEnv = { SMS_TRANSPORT: 'twilio', TWILIO_ACCOUNT_SID: TEST_ACCOUNT_SID, TWILIO_AUTH_TOKEN: TEST_AUTH_TOKEN, TWILIO_FROM: TEST_FROM };

  it('defaults to console outside production and to off in production; refuses console in production', () => {
    expect(loadConfig({ NODE_ENV: 'test', ...secrets }).sms).toEqual({ transport: 'console', maxPerHour: 1000 });
    expect(loadConfig(prod).sms.transport).toBe('off');
    expect(() => loadConfig({ ...prod, SMS_TRANSPORT: 'console' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...prod, SMS_TRANSPORT: 'console' })).toThrow(/^SMS_TRANSPORT: console .*refused when NODE_ENV=production/);
  });

  it('twilio needs credentials and a sender, named in the error', () => {
    expect(() => loadConfig({ NODE_ENV: 'test', ...secrets, SMS_TRANSPORT: 'twilio' })).toThrow(
      /^SMS_TRANSPORT: twilio needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID$/,
    );
    expect(() => loadConfig({ ...prod, ...twilioEnv, TWILIO_FROM: '' })).toThrow(/needs TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID/);
    expect(() => loadConfig({ ...prod, ...twilioEnv, TWILIO_ACCOUNT_SID: 'SK123' })).toThrow(/^TWILIO_ACCOUNT_SID: a Twilio Account SID/);
    expect(() => loadConfig({ ...prod, ...twilioEnv, TWILIO_API_BASE: 'http://127.0.0.1:9' })).toThrow(/^TWILIO_API_BASE: must be https/);
    const ok = loadConfig({ ...prod, ...twilioEnv, SMS_MAX_PER_HOUR: '50' }).sms;
    expect(ok).toMatchObject({ transport: 'twilio', accountSid: TEST_ACCOUNT_SID, from: TEST_FROM, maxPerHour: 50 });
    expect(() => loadConfig({ ...prod, ...twilioEnv, SMS_MAX_PER_HOUR: '0' })).toThrow(/^SMS_MAX_PER_HOUR/);
  });
});

describe('SMS activity sentences', () => {
  it('describes SMS events in words', () => {
    expect(describeEvent({ type: 'sms.sent', outcome: 'success', details: { purpose: 'sign-in' } })).toBe('Texted a sign-in code');
    expect(describeEvent({ type: 'sms.sent', outcome: 'success', details: { purpose: 'enroll' } })).toBe('Texted a code to confirm a new phone number');
    expect(describeEvent({ type: 'sms.sent', outcome: 'failure', details: {} })).toBe('A text message with a code could not be sent');
    expect(describeEvent({ type: 'factor.verify.sms', outcome: 'success' })).toBe('Confirmed with a text message (SMS)');
    expect(describeEvent({ type: 'factor.enroll.sms', outcome: 'success' })).toBe('Added a text message (SMS)');
  });
});
