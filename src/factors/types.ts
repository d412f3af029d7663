/**
 * The Factor contract. Every authentication method (password, TOTP, WebAuthn, backup codes, later SMS and
 * push) is one module implementing it; src/factors/registry.ts is the only place that lists them.
 */
export type FactorKind = 'password' | 'totp' | 'webauthn' | 'backup_code' | 'sms' | 'push';
export type FactorCategory = 'knowledge' | 'possession' | 'inherence';

/** One method verified in the current authentication context (what the ID token's amr reports). */
export interface VerifiedMethod {
  kind: FactorKind;
  factorId?: string;
  /** RFC 8176 values contributed by this method. */
  amr: string[];
  category: FactorCategory;
  phishingResistant: boolean;
  /** WebAuthn user verification (PIN/biometric on the authenticator): makes a passkey multi-factor. */
  userVerified: boolean;
  /** Epoch seconds when it was verified. */
  at: number;
}

export interface FactorInfo {
  kind: FactorKind;
  label: string;
  category: FactorCategory;
  phishingResistant: boolean;
  /** May be the first (or only) step of a sign-in (password, passkey). */
  canBePrimary: boolean;
}

/** Who is acting, and the scope that binds challenges (interaction uid during sign-in, session id in /account). */
export interface FactorContext {
  userId: string;
  userEmail: string;
  userName: string | null;
  scope: string;
  /** Epoch milliseconds (injected clock). */
  now: number;
  /** The sign-in request a challenge is for (push: the context the phone shows with the request). */
  request?: { ip?: string; client?: string; location?: string };
}

/** Input from a form post or JSON body; each factor validates its own fields. */
export type FactorInput = Record<string, unknown>;

/** Data for the factor's EJS view (views/factors/<kind>-*.ejs). */
export type ViewModel = Record<string, unknown>;

/**
 * A second factor (or passkey). Every method validates its input and throws AppError with a precise code
 * (invalid_form, invalid_code, code_reused, challenge_expired, webauthn_failed, factor_pending, conflict);
 * a failed call changes no state except consuming a single-use challenge.
 */
export interface Factor {
  readonly info: FactorInfo;
  /** Sign-in: prepare a challenge (WebAuthn options; nothing for TOTP/backup codes). */
  startChallenge(ctx: FactorContext): Promise<ViewModel>;
  /** Sign-in: check the user's response; returns what the token's amr will report. */
  verify(ctx: FactorContext, input: FactorInput): Promise<VerifiedMethod>;
  /** Enrollment step 1 (TOTP: secret + QR; WebAuthn: creation options; backup codes: new set shown once). */
  startEnrollment(ctx: FactorContext, input: FactorInput): Promise<ViewModel>;
  /** Enrollment step 2 (TOTP: first code; WebAuthn: attestation). Backup codes finish in step 1. */
  finishEnrollment(ctx: FactorContext, input: FactorInput): Promise<{ factorId: string; view: ViewModel }>;
}

/**
 * The VerifiedMethod a factor reports: its kind, category and phishing resistance come from its FactorInfo,
 * so no factor can describe itself differently at sign-in than in the registry.
 */
export function verifiedMethod(
  info: FactorInfo,
  result: { amr: string[]; nowMs: number; factorId?: string; userVerified?: boolean },
): VerifiedMethod {
  return {
    kind: info.kind,
    ...(result.factorId !== undefined ? { factorId: result.factorId } : {}),
    amr: result.amr,
    category: info.category,
    phishingResistant: info.phishingResistant,
    userVerified: result.userVerified ?? false,
    at: Math.floor(result.nowMs / 1000),
  };
}
