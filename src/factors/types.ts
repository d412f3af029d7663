/**
 * The Factor contract. Every authentication method (password, TOTP, WebAuthn, backup codes, later SMS and
 * push) is one module implementing it; src/factors/registry.ts is the only place that lists them.
 */
export type FactorKind = 'password' | 'totp' | 'webauthn' | 'backup_code';
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
  /** May be the first (or only) step of a sign-in. */
  canBePrimary: boolean;
}
