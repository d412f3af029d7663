/**
 * The step-up decision: what level a request needs, what level the session holds now, and the acr the token
 * reports. Pure functions of their inputs (time included); oidc/policy.ts feeds them from the request.
 */
import type { VerifiedMethod } from '../factors/types.js';
import type { ClientPolicy } from './client-policy.js';
import { satisfies, type LevelRule } from './levels.js';

export interface Requested {
  /** Space-separated acr_values from the request. */
  acrValues?: string;
  /** claims.id_token.acr from the claims parameter. */
  claimsAcr?: { essential?: boolean; value?: string; values?: string[] } | null;
  /**
   * Level demanded regardless of the request: the account's own demand (a second factor enrolled → two),
   * later the risk engine's and the enforcement policy's. 0 when nothing is demanded. Never lowered.
   */
  demandLevel?: number;
}

export interface Requirement {
  /** Level the authentication must reach (the token's acr is then the strongest accepted value held). */
  level: number;
  /**
   * The part of `level` that nothing may lower: the client minimum and every demand. A client's
   * allow_lower_acr lowers only what the request asked for, down to this floor.
   */
  floor: number;
  /** acr names this request accepts, strongest first. */
  accepted: string[];
  /** The request made acr essential (claims parameter): never downgrade, never report an unrequested acr. */
  essential: boolean;
  /** Essential acr values were all unknown: unmet_authentication_requirements at once. */
  unmet: boolean;
}

/** The level table as this client sees it: client acr_levels override or extend the defaults. */
export function levelsFor(levels: LevelRule[], policy: ClientPolicy): LevelRule[] {
  const overrides = policy.acr_levels ?? {};
  const byLevel = (n: number) => levels.filter((l) => l.level <= n).sort((a, b) => b.level - a.level)[0];
  const merged = levels.map((l) => (overrides[l.acr] !== undefined ? { ...(byLevel(overrides[l.acr]!) ?? l), acr: l.acr, level: overrides[l.acr]! } : l));
  for (const [acr, level] of Object.entries(overrides)) {
    const template = byLevel(level);
    if (!merged.some((l) => l.acr === acr) && template) merged.push({ ...template, acr, level });
  }
  return merged.sort((a, b) => a.level - b.level);
}

export function levelOf(levels: LevelRule[], acr: string | undefined): number | undefined {
  return acr === undefined ? undefined : levels.find((l) => l.acr === acr)?.level;
}

/**
 * Required level = max(client minimum, lowest acceptable requested acr, demands). acr_values are
 * "at least one of": the lowest known value is the bar. Unknown voluntary values are ignored. Callers
 * go through policy/requirement.ts, which parses the raw request once for every path.
 */
export function requirement(levels: LevelRule[], policy: ClientPolicy, req: Requested): Requirement {
  const clientMin = levelOf(levels, policy.min_acr) ?? 1;
  const claim = req.claimsAcr ?? undefined;
  const claimValues = claim ? [...(claim.values ?? []), ...(claim.value ? [claim.value] : [])] : [];
  const essential = Boolean(claim?.essential && claimValues.length > 0);
  const requestedNames = essential ? claimValues : [...(req.acrValues?.split(' ').filter(Boolean) ?? []), ...claimValues];
  const known = requestedNames.filter((n) => levelOf(levels, n) !== undefined);
  let unmet = essential && known.length === 0;
  const requestedMin = known.length ? Math.min(...known.map((n) => levelOf(levels, n)!)) : 1;
  const floor = Math.max(clientMin, req.demandLevel ?? 0, 1);
  const level = Math.max(floor, requestedMin);
  // Strongest first; for essential requests only the values the RP listed, at or above the client minimum.
  // A demand raises what must be *reached* (level), not which listed value may be reported: an RP that
  // insists on exactly loa1 gets loa1 from a two-factor sign-in, which is true.
  const accepted = essential
    ? known.filter((n) => levelOf(levels, n)! >= clientMin)
    : levels.filter((l) => l.level >= level).map((l) => l.acr);
  accepted.sort((a, b) => levelOf(levels, b)! - levelOf(levels, a)!);
  // Essential values all below the client minimum can never be issued.
  if (essential && accepted.length === 0) unmet = true;
  return { level, floor, accepted, essential, unmet };
}

/** Methods that count for a client: allowed kinds only (the password is always allowed). */
export function countedMethods(methods: VerifiedMethod[], policy: ClientPolicy): VerifiedMethod[] {
  const allowed = policy.allowed_factors;
  return allowed ? methods.filter((m) => m.kind === 'password' || (allowed as string[]).includes(m.kind)) : methods;
}

/** How long a reached level stays valid for this client: the level's max age, capped by the client policy. */
export function levelMaxAge(rule: LevelRule, policy: ClientPolicy): number {
  return Math.min(rule.maxAgeSeconds, policy.max_age_seconds ?? Number.POSITIVE_INFINITY);
}

/** The counted methods verified within `rule`'s max age: what backs that level now. */
export function backingMethods(rule: LevelRule, methods: VerifiedMethod[], nowSeconds: number, policy: ClientPolicy): VerifiedMethod[] {
  const since = nowSeconds - levelMaxAge(rule, policy);
  return countedMethods(methods, policy).filter((m) => m.at >= since);
}

/**
 * A level is held now when the methods verified within its max age satisfy it: a level reached at T counts
 * only until T + max age, so an elevated level never lives on through the SSO cookie.
 */
export function holds(rule: LevelRule, methods: VerifiedMethod[], nowSeconds: number, policy: ClientPolicy): boolean {
  return satisfies(rule, backingMethods(rule, methods, nowSeconds, policy));
}

/** Highest level the methods hold now, 0 when none. */
export function currentLevel(levels: LevelRule[], methods: VerifiedMethod[], nowSeconds: number, policy: ClientPolicy): number {
  return Math.max(0, ...levels.filter((l) => holds(l, methods, nowSeconds, policy)).map((l) => l.level));
}

/** The acr to put in the token: the strongest accepted value the session holds now, if any. */
export function tokenAcr(levels: LevelRule[], req: Requirement, methods: VerifiedMethod[], nowSeconds: number, policy: ClientPolicy): string | undefined {
  return req.accepted.find((acr) => {
    const rule = levels.find((l) => l.acr === acr);
    return rule ? holds(rule, methods, nowSeconds, policy) : false;
  });
}

/** The strongest level rule held now within [minLevel, maxLevel], regardless of what was requested. */
export function strongestHeldRule(
  levels: LevelRule[],
  methods: VerifiedMethod[],
  nowSeconds: number,
  policy: ClientPolicy,
  range: { minLevel?: number; maxLevel?: number } = {},
): LevelRule | undefined {
  const { minLevel = 1, maxLevel = Number.POSITIVE_INFINITY } = range;
  return [...levels].sort((a, b) => b.level - a.level).find((l) => l.level >= minLevel && l.level <= maxLevel && holds(l, methods, nowSeconds, policy));
}

/** The strongest acr held now at or above `minLevel`, regardless of what was requested (allow_lower_acr). */
export function strongestHeld(levels: LevelRule[], methods: VerifiedMethod[], nowSeconds: number, policy: ClientPolicy, minLevel = 1): string | undefined {
  return strongestHeldRule(levels, methods, nowSeconds, policy, { minLevel })?.acr;
}

export interface CandidateFactor {
  kind: VerifiedMethod['kind'];
  category: VerifiedMethod['category'];
  phishingResistant: boolean;
}

/**
 * Which not-yet-verified factors are worth offering to reach `rule`: none when even all of them together
 * could not reach it (the caller answers unmet_authentication_requirements instead of a dead-end prompt);
 * only phishing-resistant ones when the level needs phishing resistance and none was verified yet.
 */
export function usefulFactors(rule: LevelRule, methods: VerifiedMethod[], candidates: CandidateFactor[], nowSeconds: number, policy: ClientPolicy): CandidateFactor[] {
  const fresh = backingMethods(rule, methods, nowSeconds, policy);
  const allowed = countedMethods(candidates.map((c) => ({ ...c, amr: [], userVerified: false, at: nowSeconds })), policy);
  if (!satisfies(rule, [...fresh, ...allowed])) return [];
  const needsPR = rule.phishingResistant && !fresh.some((m) => m.phishingResistant);
  return candidates.filter((c) => allowed.some((a) => a.kind === c.kind) && (!needsPR || c.phishingResistant));
}
