/**
 * SMS codes: the pure parts (generation, keyed hash, expiry, cooldown, quota windows) and the factor's
 * code lifecycle on a real SQLite KV store with in-memory throttles and a recording sender.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import {
  SMS_CODE_TTL_SECONDS,
  hashSmsCode,
  isExpired,
  newSmsCode,
  normaliseSmsCode,
  quotaWindow,
  resendWaitSeconds,
  smsBody,
  waitText,
} from '../../src/factors/sms/code.js';
import { SmsFactor, smsNumberContext, type SmsThrottles } from '../../src/factors/sms/index.js';
import { defaultRules, Throttle, type ThrottleRule } from '../../src/security/rate-limit.js';
import { FactorsRepo } from '../../src/store/repos/factors.js';
import { SqlKv } from '../../src/store/kv.js';
import { AppError } from '../../src/errors/index.js';
import type { FactorContext } from '../../src/factors/types.js';
import type { SmsSender } from '../../src/notify/sms.js';
import { sqliteStore } from '../helpers/stores.js';
import { testDb, type TestDb } from '../helpers/db.js';

describe('SMS code primitives', () => {
  it('draws 6-digit codes, zero-padded, spread over the whole range', () => {
    const codes = Array.from({ length: 2000 }, () => newSmsCode());
    expect(codes.every((c) => /^[0-9]{6}$/.test(c))).toBe(true);
    expect(new Set(codes).size).toBeGreaterThan(1990);
    // Leading digits 0-9 all occur (padding keeps small numbers 6 digits long).
    expect(new Set(codes.map((c) => c[0])).size).toBe(10);
  });

  it('hashes a code with a key, bound to the record id and the factor', () => {
    const mac = (v: string, p: string) => `${p}|${v}`;
    const h = hashSmsCode(mac, 'rec1', 'f1', '123456');
    expect(h).not.toContain('123456|');
    expect(hashSmsCode(mac, 'rec1', 'f1', '123456')).toBe(h);
    expect(hashSmsCode(mac, 'rec2', 'f1', '123456')).not.toBe(h);
    expect(hashSmsCode(mac, 'rec1', 'f2', '123456')).not.toBe(h);
    expect(hashSmsCode(mac, 'rec1', 'f1', '123457')).not.toBe(h);
  });

  it('expires at sentAt + 5 minutes, not before', () => {
    const sentAt = 1_700_000_000_000;
    const rec = { expiresAt: sentAt + SMS_CODE_TTL_SECONDS * 1000 };
    expect(SMS_CODE_TTL_SECONDS).toBe(300);
    expect(isExpired(rec, sentAt + 299_999)).toBe(false);
    expect(isExpired(rec, sentAt + 300_000)).toBe(true);
  });

  it('computes the resend wait, the clock-hour quota window and the wording', () => {
    expect(resendWaitSeconds(null, 5_000)).toBe(0);
    expect(resendWaitSeconds(1_000, 1_000)).toBe(30);
    expect(resendWaitSeconds(1_000, 21_500)).toBe(10);
    expect(resendWaitSeconds(1_000, 31_000)).toBe(0);
    const hour = 3_600_000 * 470_000;
    expect(quotaWindow(hour + 1)).toEqual({ key: '470000', msLeft: 3_599_999 });
    expect(quotaWindow(hour + 3_599_999).key).toBe('470000');
    expect(quotaWindow(hour + 3_600_000).key).toBe('470001');
    expect(waitText(1_000)).toBe('in 1 second');
    expect(waitText(29_100)).toBe('in 30 seconds');
    expect(waitText(61_000)).toBe('in 2 minutes');
    expect(normaliseSmsCode('123 456')).toBe('123456');
    expect(normaliseSmsCode('123-456')).toBe('123456');
    expect(smsBody('042137', 'Stepwise')).toBe('042137 is your Stepwise code');
  });
});

/** A sender that records messages, or fails with a queued error. */
class RecordingSender implements SmsSender {
  readonly sent: Array<{ to: string; body: string }> = [];
  fail: AppError | null = null;
  async send(to: string, body: string) {
    if (this.fail) {
      const e = this.fail;
      this.fail = null;
      throw e;
    }
    this.sent.push({ to, body });
    return { id: `m${this.sent.length}` };
  }
  lastCode(): string {
    return this.sent.at(-1)!.body.slice(0, 6);
  }
}

const memoryThrottle = (rule: ThrottleRule) =>
  new Throttle(rule, new RateLimiterMemory({ keyPrefix: `${rule.name}${Math.random()}`, points: rule.points, duration: rule.durationSeconds }));

describe('SMS factor code lifecycle (SQLite KV, memory throttles)', () => {
  let t: TestDb;
  let now = Date.UTC(2030, 0, 1, 10, 0, 1);
  let sender: RecordingSender;
  let sms: SmsFactor;
  let factors: FactorsRepo;

  beforeAll(async () => {
    t = await testDb(sqliteStore);
    factors = new FactorsRepo(t.db);
    sender = new RecordingSender();
    const rules = defaultRules(10, { smsPerHour: 1000 }).throttles;
    const throttles: SmsThrottles = {
      perNumber: memoryThrottle(rules.smsNumber),
      perAccount: memoryThrottle(rules.smsAccount),
      global: memoryThrottle(rules.smsGlobal),
      sendGate: memoryThrottle(rules.smsSendGate),
      codeTries: memoryThrottle(rules.smsCodeTries),
    };
    sms = new SmsFactor({ factors, kv: new SqlKv(t.db, () => now), box: t.box, sender, throttles, appName: 'Stepwise', available: true });
  });
  afterAll(async () => t?.cleanup());

  let n = 0;
  async function enrolled(phone = `+1415555${String(1000 + n++).padStart(4, '0')}`) {
    const user = await t.user();
    const ctx = (scope = `s${Math.random()}`): FactorContext => ({ userId: user.id, userEmail: user.email, userName: null, scope, now });
    const setup = ctx();
    const start = await sms.startEnrollment(setup, { phone });
    const { factorId } = await sms.finishEnrollment(setup, { factorId: start.factorId, code: sender.lastCode() });
    now += 31_000;
    return { user, ctx, factorId, phone };
  }

  const code = (err: unknown) => (err instanceof AppError ? err.code : String(err));

  it('stores the number sealed to its factor row, and no code anywhere', async () => {
    const { factorId, phone } = await enrolled();
    const row = await t.db('factors').where({ id: factorId }).first();
    expect(row.kind).toBe('sms');
    expect(row.status).toBe('active');
    expect(String(row.secret_enc)).not.toContain(phone.slice(2));
    expect(t.box.decryptString(row.secret_enc, smsNumberContext(factorId))).toBe(phone);
    expect(JSON.parse(row.meta)).toEqual({ masked: '+1 ••••••••' + phone.slice(-2) });
    const kv = await t.db('ephemeral').select('value');
    expect(JSON.stringify(kv)).not.toContain(sender.lastCode());
  });

  it('kills a code after 5 wrong entries: the right code no longer works', async () => {
    const { ctx } = await enrolled();
    const c = ctx();
    await sms.startChallenge(c);
    const right = sender.lastCode();
    const wrong = right === '000000' ? '111111' : '000000';
    const messages: string[] = [];
    for (let i = 0; i < 5; i++) {
      const err = await sms.verify(c, { code: wrong }).catch((e: AppError) => e);
      expect(code(err)).toBe('invalid_code');
      messages.push((err as AppError).publicMessage);
    }
    expect(messages[0]).toMatch(/4 tries left/);
    expect(messages[3]).toMatch(/1 try left/);
    expect(messages[4]).toMatch(/no longer works/);
    expect(code(await sms.verify(c, { code: right }).catch((e) => e))).toBe('challenge_expired');
  });

  it('expires a code after 5 minutes (injected clock)', async () => {
    const { ctx } = await enrolled();
    const c = ctx();
    await sms.startChallenge(c);
    const right = sender.lastCode();
    const late = { ...c, now: now + 300_000 };
    const err = await sms.verify(late, { code: right }).catch((e: AppError) => e);
    expect(code(err)).toBe('challenge_expired');
    expect((err as AppError).publicMessage).toMatch(/expired/);
    // Just before the limit it would still have worked (for a fresh code).
    now += 31_000;
    const c2 = ctx();
    await sms.startChallenge(c2);
    const m = await sms.verify({ ...c2, now: now + 299_000 }, { code: sender.lastCode() });
    expect(m).toMatchObject({ kind: 'sms', amr: ['sms', 'otp'], category: 'possession', phishingResistant: false });
  });

  it('accepts a code once: parallel submissions get exactly one success, a replay is refused', async () => {
    const { ctx } = await enrolled();
    const c = ctx();
    await sms.startChallenge(c);
    const right = sender.lastCode();
    const results = await Promise.allSettled(Array.from({ length: 4 }, () => sms.verify(c, { code: right })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected').map((r) => code((r as PromiseRejectedResult).reason))).toEqual(
      expect.arrayContaining([expect.stringMatching(/^(code_reused|challenge_expired)$/)]),
    );
    expect(code(await sms.verify(c, { code: right }).catch((e) => e))).toBe('challenge_expired');
  });

  it('a failed send stores no code and starts no cooldown; a refused resend keeps the last code valid', async () => {
    const { ctx } = await enrolled();
    const c = ctx();
    await sms.startChallenge(c);
    const first = sender.lastCode();
    now += 31_000;
    const c2 = { ...c, now };
    sender.fail = new AppError('sms_rate_limited');
    expect(code(await sms.sendCode(c2, {}).catch((e) => e))).toBe('sms_rate_limited');
    // Nothing replaced: the code sent before still works …
    const fresh = ctx();
    sender.fail = new AppError('sms_failed');
    const view = await sms.startChallenge({ ...fresh, now });
    expect(view.sendError).toMatch(/cannot be sent/);
    expect(view.sent).toBeNull();
    // … and the user may retry at once (no cooldown from the failed send).
    await sms.sendCode({ ...fresh, now }, {});
    expect(await sms.verify({ ...fresh, now }, { code: sender.lastCode() })).toMatchObject({ kind: 'sms' });
    expect(await sms.verify(c2, { code: first })).toMatchObject({ kind: 'sms' });
  });

  it('enforces the resend cooldown, also for racing sends (exactly one goes out)', async () => {
    const { ctx } = await enrolled();
    const c = ctx();
    const before = sender.sent.length;
    const results = await Promise.allSettled(Array.from({ length: 4 }, () => sms.sendCode(c, {})));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(sender.sent.length).toBe(before + 1);
    const err = await sms.sendCode({ ...c, now: now + 10_000 }, {}).catch((e: AppError) => e);
    expect(code(err)).toBe('too_many_attempts');
    expect((err as AppError).publicMessage).toMatch(/in 20 seconds/);
    await sms.sendCode({ ...c, now: now + 30_000 }, {});
    expect(sender.sent.length).toBe(before + 2);
  });
});
