/**
 * SMS one-time codes, the pure parts: generation (CSPRNG), the keyed hash that is stored instead of the
 * code, expiry, the resend cooldown and the clock-hour windows of the send quotas. Every time is an input.
 */
import { translator } from '../../i18n/index.js';
import { currentLocaleSync } from '../../i18n/context.js';
import { randomInt } from 'node:crypto';

/** A code is valid this long after it was sent. */
export const SMS_CODE_TTL_SECONDS = 5 * 60;
/** Wrong entries a code survives; the fifth wrong one kills it. */
export const SMS_CODE_MAX_TRIES = 5;
/** A new code for the same number no sooner than this after the last one. */
export const SMS_RESEND_COOLDOWN_SECONDS = 30;
/** Phone numbers one account may hold. */
export const SMS_MAX_NUMBERS = 5;

/** One sent code, as kept in the KV store (never the code itself). */
export interface SmsCodeRecord {
  /** Random id of this code: binds the hash and keys its wrong-try counter. */
  id: string;
  factorId: string;
  codeHash: string;
  /** Epoch milliseconds. */
  sentAt: number;
  expiresAt: number;
}

/** Six decimal digits, uniformly from the CSPRNG (crypto.randomInt rejects modulo bias). */
export function newSmsCode(): string {
  return randomInt(0, 1_000_000).toString().padStart(6, '0');
}

/** Keyed hash of a code, bound to the record's id (and so to its factor): `mac` is the SecretBox HMAC. */
export function hashSmsCode(mac: (value: string, purpose: string) => string, recordId: string, factorId: string, code: string): string {
  return mac(`${recordId}:${factorId}:${code}`, 'sms code');
}

/** Strips spaces and dashes people type between digit groups; anything else stays and fails the format. */
export function normaliseSmsCode(v: unknown): unknown {
  return typeof v === 'string' ? v.replace(/[\s-]/g, '') : v;
}

export function isExpired(record: Pick<SmsCodeRecord, 'expiresAt'>, nowMs: number): boolean {
  return nowMs >= record.expiresAt;
}

/** Seconds until another code may be sent to a number last sent to at `lastSentAt` (0: now). */
export function resendWaitSeconds(lastSentAt: number | null, nowMs: number, cooldownSeconds = SMS_RESEND_COOLDOWN_SECONDS): number {
  if (lastSentAt === null) return 0;
  const left = lastSentAt + cooldownSeconds * 1000 - nowMs;
  return left > 0 ? Math.ceil(left / 1000) : 0;
}

/**
 * Quotas count per clock hour of the injected clock: the hour is part of the throttle key, so a window is
 * exactly [hh:00, hh+1:00) and the store's own expiry only cleans up.
 */
export function quotaWindow(nowMs: number): { key: string; msLeft: number } {
  const hour = Math.floor(nowMs / 3_600_000);
  return { key: String(hour), msLeft: (hour + 1) * 3_600_000 - nowMs };
}

/** "in 1 minute" / "in 42 minutes" / "in 20 seconds". */
export function waitText(ms: number): string {
  const seconds = Math.max(1, Math.ceil(ms / 1000));
  if (seconds < 60) return `in ${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  return `in ${minutes} minute${minutes === 1 ? '' : 's'}`;
}

/** The message text, in the language of the request that sends it (src/i18n; English outside a request). */
export function smsBody(code: string, appName: string): string {
  const current = currentLocaleSync();
  const t = current ? current.i18n.translator(current.lang) : translator(undefined);
  return t('sms.body', { code, product: appName });
}
