/**
 * SMS codes: a possession factor ("something you have": the phone number's SIM), second factor only,
 * never phishing-resistant, offered after every other factor. amr `sms` + `otp` (RFC 8176).
 *
 * - Numbers are validated with libphonenumber-js (E.164, mobile only), stored encrypted (SecretBox, bound
 *   to the factor id) and shown masked; an account may hold several, each one factor row.
 * - Enrollment: the number and its first code live in the KV store until the code is confirmed; only then
 *   is the factor row written, so a failed send or an abandoned setup leaves nothing behind.
 * - Codes: 6 digits from the CSPRNG, kept only as an HMAC bound to the code's random id, valid 5 minutes,
 *   dead after 5 wrong entries (an atomic counter per code), single use through the KV store's atomic
 *   `take` (two parallel submissions of one code: exactly one wins).
 * - Sending (SMS pumping): a 30-second resend cooldown per number, quotas per number, per account and in
 *   total per clock hour (src/security/rate-limit.ts rules sms*), all counted before the provider is called.
 *   A send the provider refuses leaves no code and no cooldown (the user may retry at once) and gives the
 *   number's quota its point back; the account and total quotas keep it.
 */
import { z } from 'zod';
import type { Logger } from 'pino';
import { verifiedMethod, type Factor, type FactorContext, type FactorInfo, type FactorInput, type VerifiedMethod, type ViewModel } from '../types.js';
import type { FactorsRepo } from '../../store/repos/factors.js';
import type { KvStore } from '../../store/kv.js';
import type { SecretBox } from '../../security/crypto.js';
import { constantTimeEqual, newId, randomToken } from '../../security/crypto.js';
import { Attempt, ThrottledError, type Throttle } from '../../security/rate-limit.js';
import type { SmsSender } from '../../notify/sms.js';
import type { AuditLog } from '../../audit/log.js';
import { AppError } from '../../errors/index.js';
import { checkPhoneNumber, maskPhoneNumber } from './phone.js';
import {
  SMS_CODE_TTL_SECONDS,
  SMS_MAX_NUMBERS,
  SMS_RESEND_COOLDOWN_SECONDS,
  hashSmsCode,
  isExpired,
  newSmsCode,
  normaliseSmsCode,
  quotaWindow,
  resendWaitSeconds,
  smsBody,
  waitText,
  type SmsCodeRecord,
} from './code.js';

export const smsInfo: FactorInfo = {
  kind: 'sms',
  label: 'Text message (SMS)',
  category: 'possession',
  phishingResistant: false,
  canBePrimary: false,
};

export const SMS_DEFAULT_NAME = 'Mobile phone';
export const SMS_NAME_MAX = 60;

/** SecretBox context for a factor's phone number: a ciphertext copied to another row fails to decrypt. */
export const smsNumberContext = (factorId: string): string => `sms:${factorId}`;

/** The throttles SMS sending and checking use (rules in src/security/rate-limit.ts). */
export interface SmsThrottles {
  /** Codes per phone number (all accounts) per clock hour. */
  perNumber: Throttle;
  /** Codes per account per clock hour. */
  perAccount: Throttle;
  /** Codes in total per clock hour. */
  global: Throttle;
  /** One send per number and previous send: makes the cooldown hold under racing requests. */
  sendGate: Throttle;
  /** Entries per code. */
  codeTries: Throttle;
}

export interface SmsFactorDeps {
  factors: FactorsRepo;
  kv: KvStore;
  box: SecretBox;
  sender: SmsSender;
  throttles: SmsThrottles;
  /** Named in the message ("123456 is your Stepwise code"). */
  appName: string;
  /** False with SMS_TRANSPORT=off: nothing can be sent, enrollment is refused. */
  available: boolean;
  audit?: AuditLog;
  log?: Logger;
}

/** How long the KV store keeps a code record: longer than its validity, so expiry is reported as such. */
const RECORD_TTL_SECONDS = 3600;
/** How long the last-send time of a number is kept (cooldown and the send gate). */
const LAST_SENT_TTL_SECONDS = 24 * 3600;

/** A pending enrollment: the number (sealed for the future factor row) and its confirmation code. */
interface EnrollRecord extends SmsCodeRecord {
  numberEnc: string;
  masked: string;
  name: string;
}

interface PhoneNumberFactor {
  id: string;
  name: string;
  e164: string;
  masked: string;
}

const codeField = z.preprocess(normaliseSmsCode, z.string().regex(/^[0-9]{6}$/, 'Enter the 6-digit code from the text message.'));
const verifySchema = z.object({ code: codeField });
const enrollStartSchema = z.object({
  phone: z.unknown().optional(),
  name: z.preprocess(
    (v) => (typeof v === 'string' ? v.trim() : v),
    z.string().max(SMS_NAME_MAX, `Use at most ${SMS_NAME_MAX} characters.`).optional(),
  ),
  resend: z.unknown().optional(),
});
const enrollFinishSchema = z.object({
  factorId: z.string().min(1, 'The setup request is missing.').max(64, 'The setup request is invalid.'),
  code: codeField,
});
const sendSchema = z.object({ factorId: z.string().min(1).max(64).optional() });

function parse<S extends z.ZodType>(schema: S, input: FactorInput, field: string): z.infer<S> {
  const r = schema.safeParse(input ?? {});
  if (!r.success) throw new AppError('invalid_form', r.error.issues[0]?.message, field);
  return r.data;
}

const challengeKey = (scope: string) => `sms:chal:${scope}`;
const enrollKey = (scope: string) => `sms:enroll:${scope}`;
const autoSentKey = (scope: string) => `sms:auto:${scope}`;
const lastSentKey = (numberKey: string) => `sms:last:${numberKey}`;
const clock = (ms: number) => new Date(ms).toISOString().slice(11, 19);

/** too_many_attempts for a send, with the real wait (the error handler turns it into Retry-After). */
export class SmsWaitError extends AppError {
  constructor(
    readonly retryAfterMs: number,
    message: string,
  ) {
    super('too_many_attempts', message, 'send');
  }
}

function cooldownError(seconds: number): AppError {
  return new SmsWaitError(seconds * 1000, `A code was just sent. You can ask for a new one ${waitText(seconds * 1000)}.`);
}

export class SmsFactor implements Factor {
  readonly info = smsInfo;

  constructor(private readonly deps: SmsFactorDeps) {}

  get available(): boolean {
    return this.deps.available;
  }

  /**
   * The challenge page. With one number, the first visit in this sign-in sends a code by itself; later
   * visits (reloads, error re-renders) only show the state: new codes need the resend button.
   */
  async startChallenge(ctx: FactorContext): Promise<ViewModel> {
    const numbers = await this.numbers(ctx.userId);
    let record = await this.read<SmsCodeRecord>(challengeKey(ctx.scope));
    let sendError: string | null = null;
    if (!record && numbers.length === 1 && (await this.deps.kv.get(autoSentKey(ctx.scope))) === null) {
      await this.deps.kv.set(autoSentKey(ctx.scope), '1', RECORD_TTL_SECONDS);
      try {
        record = await this.sendChallenge(ctx, numbers[0]!);
      } catch (err) {
        if (!(err instanceof AppError) || err.code === 'store_unavailable' || err.code === 'internal') throw err;
        sendError = err.publicMessage;
      }
    }
    return this.challengeView(ctx, numbers, record, sendError);
  }

  /** Sends a (new) sign-in code to the chosen number, or to the current or only one. */
  async sendCode(ctx: FactorContext, input: FactorInput): Promise<void> {
    const { factorId } = parse(sendSchema, input, 'send');
    const numbers = await this.numbers(ctx.userId);
    const current = await this.read<SmsCodeRecord>(challengeKey(ctx.scope));
    const wanted = factorId ?? current?.factorId ?? (numbers.length === 1 ? numbers[0]!.id : undefined);
    const target = numbers.find((n) => n.id === wanted);
    if (!target) throw new AppError('invalid_form', 'Choose one of your phone numbers.', 'send');
    await this.sendChallenge(ctx, target);
  }

  async verify(ctx: FactorContext, input: FactorInput): Promise<VerifiedMethod> {
    const { code } = parse(verifySchema, input, 'code');
    const record = await this.redeem<SmsCodeRecord>(ctx, challengeKey(ctx.scope), code);
    const factor = await this.deps.factors.findById(record.factorId);
    if (!factor || factor.userId !== ctx.userId || factor.kind !== 'sms' || factor.status !== 'active') {
      throw new AppError('challenge_expired', 'That phone number is no longer on your account. Use another sign-in method.', 'code');
    }
    await this.deps.factors.touch(factor.id);
    return verifiedMethod(smsInfo, { factorId: factor.id, amr: ['sms', 'otp'], nowMs: ctx.now });
  }

  /**
   * Step 1: validates the number and texts it a first code (`resend` texts the pending number again).
   * Returns `{ factorId, masked, … }` for views/factors/sms-enroll.ejs.
   */
  async startEnrollment(ctx: FactorContext, input: FactorInput): Promise<ViewModel> {
    if (!this.deps.available) throw new AppError('sms_failed', 'Text messages are not set up on this server. Use another sign-in method.', 'phone');
    const { phone, name, resend } = parse(enrollStartSchema, input, 'phone');
    if (resend !== undefined && resend !== '' && resend !== false) {
      const pending = await this.read<EnrollRecord>(enrollKey(ctx.scope));
      if (!pending) throw new AppError('challenge_expired', 'This phone number setup expired. Enter the number again.', 'phone');
      const e164 = this.deps.box.decryptString(pending.numberEnc, smsNumberContext(pending.factorId));
      const sent = await this.deliver(ctx, { factorId: pending.factorId, e164 }, 'enroll', (r) => this.write(enrollKey(ctx.scope), { ...pending, ...r }));
      return this.enrollView(ctx, { ...pending, ...sent });
    }
    const checked = checkPhoneNumber(phone);
    if (!checked.ok) throw new AppError('invalid_form', checked.message, 'phone');
    const numbers = await this.numbers(ctx.userId);
    if (numbers.some((n) => n.e164 === checked.e164)) throw new AppError('conflict', 'That number is already set up on your account.', 'phone');
    if (numbers.length >= SMS_MAX_NUMBERS) {
      throw new AppError('conflict', `You can add at most ${SMS_MAX_NUMBERS} phone numbers. Remove one first.`, 'phone');
    }
    const factorId = newId();
    const base = {
      numberEnc: this.deps.box.encrypt(checked.e164, smsNumberContext(factorId)),
      masked: checked.masked,
      name: name || SMS_DEFAULT_NAME,
    };
    const sent = await this.deliver(ctx, { factorId, e164: checked.e164 }, 'enroll', (r) => this.write(enrollKey(ctx.scope), { ...base, ...r }));
    return this.enrollView(ctx, { ...base, ...sent });
  }

  /** Step 2: the first code confirms the number; only now is the factor row written. */
  async finishEnrollment(ctx: FactorContext, input: FactorInput): Promise<{ factorId: string; view: ViewModel }> {
    const { factorId, code } = parse(enrollFinishSchema, input, 'code');
    const pending = await this.read<EnrollRecord>(enrollKey(ctx.scope));
    if (!pending || pending.factorId !== factorId) {
      throw new AppError('challenge_expired', 'This phone number setup expired or was replaced. Enter the number again.', 'code');
    }
    const record = await this.redeem<EnrollRecord>(ctx, enrollKey(ctx.scope), code);
    const e164 = this.deps.box.decryptString(record.numberEnc, smsNumberContext(record.factorId));
    // The same number confirmed meanwhile in another tab.
    if ((await this.numbers(ctx.userId)).some((n) => n.e164 === e164)) throw new AppError('conflict', 'That number is already set up on your account.', 'code');
    await this.deps.factors.insert({
      id: record.factorId,
      userId: ctx.userId,
      kind: 'sms',
      name: record.name,
      status: 'active',
      secretEnc: record.numberEnc,
      meta: { masked: record.masked },
    });
    return { factorId: record.factorId, view: {} };
  }

  /** The enroll page for the pending setup of this scope (after a wrong code), or the number form when none is left. */
  async enrollmentView(ctx: FactorContext): Promise<ViewModel> {
    const pending = await this.read<EnrollRecord>(enrollKey(ctx.scope));
    if (!pending) return { phoneForm: true, phone: '', name: '' };
    return this.enrollView(ctx, pending);
  }

  /** Active phone numbers of a user, decrypted (server side only) and masked. */
  private async numbers(userId: string): Promise<PhoneNumberFactor[]> {
    const rows = await this.deps.factors.listByUser(userId, { kind: 'sms', status: 'active' });
    return rows
      .filter((f) => f.secretEnc)
      .map((f) => {
        const e164 = this.deps.box.decryptString(f.secretEnc!, smsNumberContext(f.id));
        return { id: f.id, name: f.name, e164, masked: typeof f.meta.masked === 'string' ? f.meta.masked : maskPhoneNumber(e164) };
      });
  }

  private async sendChallenge(ctx: FactorContext, target: PhoneNumberFactor): Promise<SmsCodeRecord> {
    return this.deliver(ctx, { factorId: target.id, e164: target.e164 }, 'sign-in', (r) => this.write(challengeKey(ctx.scope), r));
  }

  /**
   * Cooldown, quotas, provider, then the code record — in that order, so a refused or failed send stores
   * no code and starts no cooldown. `store` runs only after the provider accepted the message.
   */
  private async deliver(
    ctx: FactorContext,
    target: { factorId: string; e164: string },
    purpose: 'sign-in' | 'enroll',
    store: (record: SmsCodeRecord) => Promise<void>,
  ): Promise<SmsCodeRecord> {
    const { kv, throttles, box } = this.deps;
    const numberKey = box.mac(target.e164, 'sms number');
    const lastRaw = await kv.get(lastSentKey(numberKey));
    const last = lastRaw === null ? null : Number(lastRaw);
    const wait = resendWaitSeconds(last, ctx.now);
    if (wait > 0) throw cooldownError(wait);
    // Requests that passed the check together race for this one key (it names the send they follow).
    const gateKey = `${numberKey}:${last ?? 0}`;
    try {
      await throttles.sendGate.consume(gateKey);
    } catch (err) {
      if (err instanceof ThrottledError) throw cooldownError(SMS_RESEND_COOLDOWN_SECONDS);
      throw err;
    }
    let sent = false;
    let numberQuotaKey: string | null = null;
    const audit = (outcome: 'success' | 'failure', details: Record<string, unknown>) =>
      this.deps.audit?.record({ type: 'sms.sent', outcome, userId: ctx.userId, details: { factorId: target.factorId, purpose, ...details } });
    try {
      numberQuotaKey = await this.chargeQuotas(ctx, numberKey);
      const code = newSmsCode();
      const id = randomToken(16);
      const record: SmsCodeRecord = {
        id,
        factorId: target.factorId,
        codeHash: hashSmsCode((v, p) => box.mac(v, p), id, target.factorId, code),
        sentAt: ctx.now,
        expiresAt: ctx.now + SMS_CODE_TTL_SECONDS * 1000,
      };
      const message = await this.deps.sender.send(target.e164, smsBody(code, this.deps.appName));
      sent = true;
      await kv.set(lastSentKey(numberKey), String(ctx.now), LAST_SENT_TTL_SECONDS);
      await store(record);
      await audit('success', { messageId: message.id });
      return record;
    } catch (err) {
      if (!sent) {
        await throttles.sendGate.reset(gateKey).catch(() => undefined);
        // The provider refused: the number received nothing, so its quota gets the send back. The account and
        // total quotas keep it, which bounds failure storms (and what they cost at the provider).
        if (numberQuotaKey !== null) await throttles.perNumber.refund(numberQuotaKey).catch(() => undefined);
      }
      if (err instanceof AppError && err.code !== 'store_unavailable') await audit('failure', { reason: err.code })?.catch(() => undefined);
      throw err;
    }
  }

  /** Counts the send on every quota (per number, per account, total) before the provider is called; returns the per-number key. */
  private async chargeQuotas(ctx: FactorContext, numberKey: string): Promise<string> {
    const window = quotaWindow(ctx.now);
    const { perNumber, perAccount, global } = this.deps.throttles;
    const charges: Array<[Throttle, string, string]> = [
      [perNumber, `${window.key}:${numberKey}`, 'Too many codes were sent to this number'],
      [perAccount, `${window.key}:${ctx.userId}`, 'Too many codes were sent for your account'],
      [global, window.key, 'Text messages are paused because too many were sent'],
    ];
    const attempt = new Attempt();
    for (const [throttle, key, reason] of charges) {
      try {
        await attempt.charge({ throttle, key, onSuccess: 'refund' });
      } catch (err) {
        if (err instanceof ThrottledError) {
          throw new SmsWaitError(window.msLeft, `${reason}. Try again ${waitText(window.msLeft)}, or use another sign-in method.`);
        }
        throw err;
      }
    }
    return charges[0]![1];
  }

  /**
   * Checks a code against the record under `key`: expiry, the per-code try counter (counted before the
   * comparison, atomically), the keyed hash, then the atomic take that makes it single use.
   */
  private async redeem<T extends SmsCodeRecord>(ctx: FactorContext, key: string, code: string): Promise<T> {
    const record = await this.read<T>(key);
    if (!record) throw new AppError('challenge_expired', 'No code is waiting for you. Send a new code.', 'code');
    if (isExpired(record, ctx.now)) {
      await this.discard(key, record.id);
      throw new AppError('challenge_expired', 'That code expired. Send a new code.', 'code');
    }
    const dead = () => new AppError('challenge_expired', 'That code was entered wrong too many times and no longer works. Send a new code.', 'code');
    let tries: number;
    try {
      tries = await this.deps.throttles.codeTries.consume(record.id);
    } catch (err) {
      if (!(err instanceof ThrottledError)) throw err;
      // No discard here: the attempt that counted the last try discards a wrong code itself (below), and a
      // right code being checked in parallel must stay for its atomic take (else no parallel submit wins).
      throw dead();
    }
    const expected = hashSmsCode((v, p) => this.deps.box.mac(v, p), record.id, record.factorId, code);
    if (!constantTimeEqual(expected, record.codeHash)) {
      const left = this.deps.throttles.codeTries.rule.points - tries;
      if (left <= 0) {
        await this.discard(key, record.id);
        throw new AppError('invalid_code', 'That code is not valid, and it was entered wrong too many times: it no longer works. Send a new code.', 'code');
      }
      throw new AppError('invalid_code', `That code is not valid. ${left} ${left === 1 ? 'try' : 'tries'} left for this code.`, 'code');
    }
    const taken = await this.deps.kv.take(key);
    if (taken === null) throw new AppError('code_reused', 'That code was already used.', 'code');
    if ((JSON.parse(taken) as SmsCodeRecord).id !== record.id) {
      // A new code replaced this one meanwhile: it stays, this one is spent.
      await this.deps.kv.set(key, taken, RECORD_TTL_SECONDS);
      throw new AppError('code_reused', 'That code was replaced by a newer one. Enter the latest code.', 'code');
    }
    await this.deps.throttles.codeTries.reset(record.id).catch(() => undefined);
    return record;
  }

  /** Removes the record under `key` if it is still the one with `id` (a newer code is put back). */
  private async discard(key: string, id: string): Promise<void> {
    const taken = await this.deps.kv.take(key);
    if (taken !== null && (JSON.parse(taken) as SmsCodeRecord).id !== id) await this.deps.kv.set(key, taken, RECORD_TTL_SECONDS);
  }

  private async read<T>(key: string): Promise<T | null> {
    const raw = await this.deps.kv.get(key);
    return raw === null ? null : (JSON.parse(raw) as T);
  }

  private async write(key: string, value: object): Promise<void> {
    await this.deps.kv.set(key, JSON.stringify(value), RECORD_TTL_SECONDS);
  }

  private async resendWait(e164: string, nowMs: number): Promise<number> {
    const raw = await this.deps.kv.get(lastSentKey(this.deps.box.mac(e164, 'sms number')));
    return resendWaitSeconds(raw === null ? null : Number(raw), nowMs);
  }

  private async challengeView(ctx: FactorContext, numbers: PhoneNumberFactor[], record: SmsCodeRecord | null, sendError: string | null): Promise<ViewModel> {
    const currentId = record?.factorId ?? (numbers.length === 1 ? numbers[0]!.id : undefined);
    const current = numbers.find((n) => n.id === currentId);
    const resendIn = current ? await this.resendWait(current.e164, ctx.now) : 0;
    return {
      numbers: numbers.map((n) => ({ id: n.id, name: n.name, masked: n.masked })),
      current: current ? { id: current.id, masked: current.masked } : null,
      sent: record && current ? { expiresAt: clock(record.expiresAt), expired: isExpired(record, ctx.now) } : null,
      resendIn,
      resendAt: clock(ctx.now + resendIn * 1000),
      sendError,
      codeTtlMinutes: SMS_CODE_TTL_SECONDS / 60,
    };
  }

  private async enrollView(ctx: FactorContext, pending: Omit<EnrollRecord, 'id' | 'codeHash'> & Partial<EnrollRecord>): Promise<ViewModel> {
    const e164 = this.deps.box.decryptString(pending.numberEnc, smsNumberContext(pending.factorId));
    const resendIn = await this.resendWait(e164, ctx.now);
    return {
      phoneForm: false,
      factorId: pending.factorId,
      masked: pending.masked,
      expiresAt: clock(pending.expiresAt),
      resendIn,
      resendAt: clock(ctx.now + resendIn * 1000),
      codeTtlMinutes: SMS_CODE_TTL_SECONDS / 60,
    };
  }
}
