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

/** RFC 8176 amr for a set of methods; `mfa` when two or more distinct factors were verified. */
export function amrFor(methods: VerifiedMethod[]): string[] {
  const values = new Set<string>();
  for (const m of methods) for (const v of m.amr) values.add(v);
  const distinctFactors = new Set(methods.map((m) => `${m.kind}:${m.category}`)).size;
  if (distinctFactors >= 2 && new Set(methods.map((m) => m.category)).size >= 2) values.add('mfa');
  return [...values];
}
