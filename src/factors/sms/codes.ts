/**
 * The life of an SMS code, apart from which factor asked for it: sending one (resend cooldown per number,
 * the send gate for racing requests, the quotas, the provider, then the record in the KV store — in that
 * order, so a refused or failed send stores no code and starts no cooldown) and redeeming one (expiry, the
 * per-code try counter, the keyed hash, the atomic take that makes it single use). Sign-in codes and
 * enrollment codes both live here; what they are for is src/factors/sms/index.ts.
 */
import type { FactorContext } from '../types.js';
import type { KvStore } from '../../store/kv.js';
import type { SecretBox } from '../../security/crypto.js';
import { constantTimeEqual, randomToken } from '../../security/crypto.js';
import { Attempt, ThrottledError, type Throttle } from '../../security/rate-limit.js';
import type { SmsSender } from '../../notify/sms.js';
import type { AuditLog } from '../../audit/log.js';
import { AppError } from '../../errors/index.js';
import {
  SMS_CODE_TTL_SECONDS,
  SMS_RESEND_COOLDOWN_SECONDS,
  hashSmsCode,
  isExpired,
  newSmsCode,
  quotaWindow,
  resendWaitSeconds,
  smsBody,
  waitText,
  type SmsCodeRecord,
} from './code.js';

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

export interface SmsCodesDeps {
  kv: KvStore;
  box: SecretBox;
  sender: SmsSender;
  throttles: SmsThrottles;
  /** Named in the message ("123456 is your Stepwise code"). */
  appName: string;
  audit?: AuditLog;
}

/** How long the KV store keeps a code record: longer than its validity, so expiry is reported as such. */
export const RECORD_TTL_SECONDS = 3600;
/** How long the last-send time of a number is kept (cooldown and the send gate). */
const LAST_SENT_TTL_SECONDS = 24 * 3600;

const lastSentKey = (numberKey: string) => `sms:last:${numberKey}`;

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

export class SmsCodes {
  constructor(private readonly deps: SmsCodesDeps) {}

  /**
   * Cooldown, quotas, provider, then the code record — in that order, so a refused or failed send stores
   * no code and starts no cooldown. `store` runs only after the provider accepted the message.
   */
  async send(
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
  async redeem<T extends SmsCodeRecord>(ctx: FactorContext, key: string, code: string): Promise<T> {
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

  async read<T>(key: string): Promise<T | null> {
    const raw = await this.deps.kv.get(key);
    return raw === null ? null : (JSON.parse(raw) as T);
  }

  async write(key: string, value: object): Promise<void> {
    await this.deps.kv.set(key, JSON.stringify(value), RECORD_TTL_SECONDS);
  }

  async resendWait(e164: string, nowMs: number): Promise<number> {
    const raw = await this.deps.kv.get(lastSentKey(this.deps.box.mac(e164, 'sms number')));
    return resendWaitSeconds(raw === null ? null : Number(raw), nowMs);
  }
}
