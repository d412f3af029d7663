/**
 * Assurance levels: which acr each combination of verified methods reaches, and the amr it reports.
 * Pure functions of their inputs (time included). Defaults follow ../shared/DESIGN.md.
 */
import type { VerifiedMethod } from '../factors/types.js';

export interface LevelRule {
  acr: string;
  level: number;
  /** A reached level counts only until reach time + maxAgeSeconds. */
  maxAgeSeconds: number;
  /** Verified factors of distinct categories needed (a UV passkey counts as two). */
  minFactors: number;
  /** At least one phishing-resistant method (WebAuthn) among them. */
  phishingResistant: boolean;
}

export const DEFAULT_LEVELS: LevelRule[] = [
  { acr: 'loa1', level: 1, maxAgeSeconds: 14 * 24 * 3600, minFactors: 1, phishingResistant: false },
  { acr: 'loa2', level: 2, maxAgeSeconds: 12 * 3600, minFactors: 2, phishingResistant: false },
  { acr: 'phr', level: 3, maxAgeSeconds: 15 * 60, minFactors: 2, phishingResistant: true },
];

/** Number of independent factors the methods prove: distinct categories; a passkey with UV proves two. */
export function factorStrength(methods: VerifiedMethod[]): number {
  // Only a password or a passkey can start a sign-in: TOTP and backup codes are second factors only and
  // never count when nothing else was verified.
  const primary = methods.filter((m) => m.kind === 'password' || m.kind === 'webauthn');
  if (primary.length === 0) return 0;
  const categories = new Set(methods.map((m) => m.category));
  const uvPasskey = methods.some((m) => m.kind === 'webauthn' && m.userVerified);
  return Math.max(categories.size, uvPasskey ? 2 : 0);
}

export function satisfies(rule: LevelRule, methods: VerifiedMethod[]): boolean {
  if (factorStrength(methods) < rule.minFactors) return false;
  return !rule.phishingResistant || methods.some((m) => m.phishingResistant);
}

/** The highest rule the methods satisfy, or undefined when none. */
export function highestReached(levels: LevelRule[], methods: VerifiedMethod[]): LevelRule | undefined {
  return [...levels].sort((a, b) => b.level - a.level).find((r) => satisfies(r, methods));
}

/**
 * RFC 8176 amr for a set of methods. `mfa` exactly when the methods count as two factors for the level
 * table (factorStrength ≥ 2: two categories, or a user-verified passkey), so an RP that checks `amr` for
 * `mfa` and one that checks `acr` for loa2 always get the same answer.
 */
export function amrFor(methods: VerifiedMethod[]): string[] {
  const values = new Set<string>();
  for (const m of methods) for (const v of m.amr) values.add(v);
  if (factorStrength(methods) >= 2) values.add('mfa');
  return [...values];
}

/**
 * amr for a token whose acr is `rule`: the methods backing it, where a one-factor level names only the
 * primary methods (password, passkey) and never `mfa` — a decayed loa1 reports what loa1 rests on.
 */
export function amrForLevel(rule: LevelRule, methods: VerifiedMethod[]): string[] {
  if (rule.minFactors >= 2) return amrFor(methods);
  return amrFor(methods.filter((m) => m.kind === 'password' || m.kind === 'webauthn')).filter((v) => v !== 'mfa');
}

/** The level table in the shape resource servers read it (discovery `stepwise_acr_levels`, `stepwise/rs`). */
export function discoveryLevels(levels: LevelRule[]): Record<string, { level: number; max_age: number }> {
  return Object.fromEntries(levels.map((l) => [l.acr, { level: l.level, max_age: l.maxAgeSeconds }]));
}

/** `stepwise/rs` options for this IdP's own level table. */
export function rsLevels(levels: LevelRule[]): { levels: Record<string, number>; maxAges: Record<string, number> } {
  return {
    levels: Object.fromEntries(levels.map((l) => [l.acr, l.level])),
    maxAges: Object.fromEntries(levels.map((l) => [l.acr, l.maxAgeSeconds])),
  };
}
