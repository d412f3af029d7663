/**
 * Pure TOTP helpers around otplib (RFC 6238: SHA-1, 6 digits, 30 s period, T0 = 0). No I/O and no state:
 * replay protection is the caller's job (store the last used time step per factor, atomically).
 */
import { lazy } from '../../lazy.js';

// Loaded with the first TOTP enrolment or check: a process whose users sign in without TOTP never holds it
// (~0.8 MiB of heap; src/lazy.ts).
const otplib = lazy<typeof import('otplib')>('otplib');

export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
/** ±1 step: RFC 6238 §5.2 allows at most one step of network delay / clock drift. */
export const TOTP_TOLERANCE_SECONDS = 30;
/** 20 bytes = 160 bits, the size RFC 4226 §4 R6 recommends. */
export const TOTP_SECRET_BYTES = 20;

export type TotpCheck = { ok: true; step: number } | { ok: false; reason: 'invalid' | 'reused' };

/** A fresh Base32 secret (160 bits from a CSPRNG). */
export function newTotpSecret(): string {
  return otplib().generateSecret({ length: TOTP_SECRET_BYTES });
}

/** The otpauth:// provisioning URI that authenticator apps scan. */
export function totpUri({ issuer, account, secret }: { issuer: string; account: string; secret: string }): string {
  return otplib().generateURI({ issuer, label: account, secret, algorithm: 'sha1', digits: TOTP_DIGITS, period: TOTP_PERIOD_SECONDS });
}

/** Strips spaces and dashes people type or paste ("123 456", "123-456"). Non-strings become ''. */
export function normaliseCode(raw: unknown): string {
  return typeof raw === 'string' ? raw.replace(/[\s-]+/g, '') : '';
}

/** True when `code` (after normalisation) has the shape of a TOTP code: exactly 6 ASCII digits. */
export function isTotpCodeFormat(code: unknown): boolean {
  return /^[0-9]{6}$/.test(normaliseCode(code));
}

function match(secret: string, token: string, epoch: number, afterTimeStep?: number): number | null {
  const { verifySync } = otplib(); // outside the try: a failed load is an error, not "no match"
  try {
    const r = verifySync({
      secret,
      token,
      epoch,
      epochTolerance: TOTP_TOLERANCE_SECONDS,
      period: TOTP_PERIOD_SECONDS,
      digits: TOTP_DIGITS,
      algorithm: 'sha1',
      ...(afterTimeStep !== undefined ? { afterTimeStep } : {}),
    });
    return r.valid && 'timeStep' in r && typeof r.timeStep === 'number' ? r.timeStep : null;
  } catch {
    // otplib throws on malformed tokens/secrets and out-of-range options: all of them mean "no match".
    return null;
  }
}

/**
 * Checks a code against the server clock `now` (epoch ms) with a ±1 step window.
 * A code whose step is <= `lastUsedStep` is 'reused' (RFC 6238 §5.2: never accept the same OTP twice).
 * Never throws.
 */
export function checkTotp({
  secret,
  code,
  now,
  lastUsedStep,
}: {
  secret: string;
  code: unknown;
  now: number;
  lastUsedStep?: number | null;
}): TotpCheck {
  const token = normaliseCode(code);
  if (typeof secret !== 'string' || !secret || !/^[0-9]{6}$/.test(token) || !Number.isFinite(now) || now < 0) {
    return { ok: false, reason: 'invalid' };
  }
  const epoch = Math.floor(now / 1000);
  const last = typeof lastUsedStep === 'number' && Number.isSafeInteger(lastUsedStep) && lastUsedStep >= 0 ? lastUsedStep : null;
  // First look only at steps after the last used one, so a (rare) code that matches both an old and a new step still passes.
  const fresh = match(secret, token, epoch, last ?? undefined);
  if (fresh !== null && (last === null || fresh > last)) return { ok: true, step: fresh };
  if (last !== null) {
    const any = match(secret, token, epoch);
    if (any !== null && any <= last) return { ok: false, reason: 'reused' };
  }
  return { ok: false, reason: 'invalid' };
}
