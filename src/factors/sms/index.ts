/**
 * SMS codes: a possession factor ("something you have": the phone number's SIM), second factor only,
 * never phishing-resistant, offered after every other factor. amr `sms` + `otp` (RFC 8176).
 *
 * - Numbers are validated with libphonenumber-js (E.164, mobile only), stored encrypted (SecretBox, bound
 *   to the factor id) and shown masked; an account may hold several, each one factor row.
 * - Enrollment: the number and its first code live in the KV store until the code is confirmed; only then
 *   is the factor row written, so a failed send or an abandoned setup leaves nothing behind.
 * - Codes (codes.ts: sending and redeeming them): 6 digits from the CSPRNG, kept only as an HMAC bound to the code's random id, valid 5 minutes,
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
import { newId } from '../../security/crypto.js';
import { AppError } from '../../errors/index.js';
import { checkPhoneNumber, maskPhoneNumber } from './phone.js';
import { SMS_CODE_TTL_SECONDS, SMS_MAX_NUMBERS, isExpired, normaliseSmsCode, type SmsCodeRecord } from './code.js';
import { RECORD_TTL_SECONDS, SmsCodes, type SmsCodesDeps } from './codes.js';

export { SmsWaitError, type SmsThrottles } from './codes.js';

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

/** The code store's dependencies (codes.ts), the factor rows, and whether SMS can be sent at all. */
export interface SmsFactorDeps extends SmsCodesDeps {
  factors: FactorsRepo;
  /** False with SMS_TRANSPORT=off: nothing can be sent, enrollment is refused. */
  available: boolean;
  log?: Logger;
}

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
const clock = (ms: number) => new Date(ms).toISOString().slice(11, 19);

export class SmsFactor implements Factor {
  readonly info = smsInfo;
  private readonly codes: SmsCodes;

  constructor(private readonly deps: SmsFactorDeps) {
    this.codes = new SmsCodes(deps);
  }

  get available(): boolean {
    return this.deps.available;
  }

  /**
   * The challenge page. With one number, the first visit in this sign-in sends a code by itself; later
   * visits (reloads, error re-renders) only show the state: new codes need the resend button.
   */
  async startChallenge(ctx: FactorContext): Promise<ViewModel> {
    const numbers = await this.numbers(ctx.userId);
    let record = await this.codes.read<SmsCodeRecord>(challengeKey(ctx.scope));
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
    const current = await this.codes.read<SmsCodeRecord>(challengeKey(ctx.scope));
    const wanted = factorId ?? current?.factorId ?? (numbers.length === 1 ? numbers[0]!.id : undefined);
    const target = numbers.find((n) => n.id === wanted);
    if (!target) throw new AppError('invalid_form', 'Choose one of your phone numbers.', 'send');
    await this.sendChallenge(ctx, target);
  }

  async verify(ctx: FactorContext, input: FactorInput): Promise<VerifiedMethod> {
    const { code } = parse(verifySchema, input, 'code');
    const record = await this.codes.redeem<SmsCodeRecord>(ctx, challengeKey(ctx.scope), code);
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
      const pending = await this.codes.read<EnrollRecord>(enrollKey(ctx.scope));
      if (!pending) throw new AppError('challenge_expired', 'This phone number setup expired. Enter the number again.', 'phone');
      const e164 = this.deps.box.decryptString(pending.numberEnc, smsNumberContext(pending.factorId));
      const sent = await this.codes.send(ctx, { factorId: pending.factorId, e164 }, 'enroll', (r) => this.codes.write(enrollKey(ctx.scope), { ...pending, ...r }));
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
    const sent = await this.codes.send(ctx, { factorId, e164: checked.e164 }, 'enroll', (r) => this.codes.write(enrollKey(ctx.scope), { ...base, ...r }));
    return this.enrollView(ctx, { ...base, ...sent });
  }

  /** Step 2: the first code confirms the number; only now is the factor row written. */
  async finishEnrollment(ctx: FactorContext, input: FactorInput): Promise<{ factorId: string; view: ViewModel }> {
    const { factorId, code } = parse(enrollFinishSchema, input, 'code');
    const pending = await this.codes.read<EnrollRecord>(enrollKey(ctx.scope));
    if (!pending || pending.factorId !== factorId) {
      throw new AppError('challenge_expired', 'This phone number setup expired or was replaced. Enter the number again.', 'code');
    }
    const record = await this.codes.redeem<EnrollRecord>(ctx, enrollKey(ctx.scope), code);
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
    const pending = await this.codes.read<EnrollRecord>(enrollKey(ctx.scope));
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
    return this.codes.send(ctx, { factorId: target.id, e164: target.e164 }, 'sign-in', (r) => this.codes.write(challengeKey(ctx.scope), r));
  }

  private async challengeView(ctx: FactorContext, numbers: PhoneNumberFactor[], record: SmsCodeRecord | null, sendError: string | null): Promise<ViewModel> {
    const currentId = record?.factorId ?? (numbers.length === 1 ? numbers[0]!.id : undefined);
    const current = numbers.find((n) => n.id === currentId);
    const resendIn = current ? await this.codes.resendWait(current.e164, ctx.now) : 0;
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
    const resendIn = await this.codes.resendWait(e164, ctx.now);
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
