/**
 * The one assurance rule. Every path that decides what a sign-in must reach, or what a token may say —
 * the login prompt's check (oidc/policy.ts), the hosted sign-in flow (interactions/flow.ts) and refreshes
 * (oidc/refresh-decay.ts) — builds its requirement here and takes its acr/amr from `decide()`.
 *
 * Pure: the raw request parameters, the client's policy and the demands (the account's own, later the risk
 * engine's and the enforcement policy's) come in; nothing is read from a store.
 */
import type { VerifiedMethod } from '../factors/types.js';
import { amrForLevel, type LevelRule } from './levels.js';
import { readClientPolicy, type ClientPolicy } from './client-policy.js';
import { backingMethods, levelMaxAge, levelOf, levelsFor, requirement, strongestHeld, strongestHeldRule, tokenAcr, type Requested, type Requirement } from './decision.js';

/** Authorization request parameters as received (after a request object or PAR was merged in). */
export interface RequestParams {
  acr_values?: unknown;
  claims?: unknown;
  max_age?: unknown;
}

/** Something that demands a level whatever the request says. */
export interface Demand {
  source: 'account' | 'risk' | 'enforcement';
  level: number;
  reason: string;
}

export interface AssuranceRequirement extends Requirement {
  /** The level table as this client sees it. */
  levels: LevelRule[];
  policy: ClientPolicy;
  demands: Demand[];
  /** The request's max_age in seconds, when it sent one. */
  maxAgeSeconds: number | undefined;
  /** The client accepts a lower acr than requested (never below `floor`, never for essential requests). */
  mayLower: boolean;
  /** A second factor (anything but the password) must have been verified this recently: sensitive actions. */
  secondFactorWithin: number | undefined;
  /** The risk policy refuses this sign-in outright. */
  denied: boolean;
}

type ClaimsAcr = NonNullable<Requested['claimsAcr']>;

/**
 * claims.id_token.acr from the raw `claims` parameter. oidc-provider rewrites its parsed claims from
 * acr_values (dropping `essential`), so the raw parameter is the only faithful reading.
 */
export function claimsAcrOf(claims: unknown): ClaimsAcr | null {
  let parsed: unknown = claims;
  if (typeof claims === 'string') {
    try {
      parsed = JSON.parse(claims);
    } catch {
      return null; // oidc-provider rejects malformed claims before any check runs
    }
  }
  const acr = (parsed as { id_token?: { acr?: unknown } } | null)?.id_token?.acr;
  if (!acr || typeof acr !== 'object') return null;
  const { essential, value, values } = acr as Record<string, unknown>;
  return {
    ...(typeof essential === 'boolean' ? { essential } : {}),
    ...(typeof value === 'string' ? { value } : {}),
    ...(Array.isArray(values) ? { values: values.filter((v): v is string => typeof v === 'string') } : {}),
  };
}

function maxAgeOf(raw: unknown): number | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  const n = Number(raw);
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

export interface RequirementInput {
  /** The configured level table (before client overrides). */
  levels: LevelRule[];
  /** The client's metadata (its `stepwise_policy`) or an already-read policy. */
  client: { [key: string]: unknown } | undefined;
  params: RequestParams;
  demands: Demand[];
  secondFactorWithin?: number | undefined;
  denied?: boolean;
}

export function assuranceRequirement(input: RequirementInput): AssuranceRequirement {
  const policy = readClientPolicy(input.client);
  const levels = levelsFor(input.levels, policy);
  const demandLevel = Math.max(0, ...input.demands.map((d) => d.level));
  const req = requirement(levels, policy, {
    acrValues: typeof input.params.acr_values === 'string' ? input.params.acr_values : undefined,
    claimsAcr: claimsAcrOf(input.params.claims),
    demandLevel,
  });
  return {
    ...req,
    levels,
    policy,
    demands: input.demands,
    maxAgeSeconds: maxAgeOf(input.params.max_age),
    mayLower: Boolean(policy.allow_lower_acr) && !req.essential,
    secondFactorWithin: input.secondFactorWithin,
    denied: Boolean(input.denied),
  };
}

/** The smallest level rule at or above `level` (what "reach level N" means in the table). */
export function ruleFor(req: AssuranceRequirement, level = req.level): LevelRule | undefined {
  return req.levels.filter((l) => l.level >= level).sort((a, b) => a.level - b.level)[0];
}

export interface Decision {
  acr: string;
  level: number;
  /** RFC 8176 values of the methods that back `acr` now. */
  amr: string[];
  /** The acr is below what the request asked (allowed by the client, never below the floor). */
  lowered: boolean;
}

/**
 * What a token may say now: the strongest accepted acr the methods hold, with the amr of the methods
 * backing it. With `allowLower` (the user was just offered everything they have), a client that accepts
 * lower levels gets the strongest level held at or above the floor. undefined: the requirement is unmet.
 */
export function decide(req: AssuranceRequirement, methods: VerifiedMethod[], nowSeconds: number, opts: { allowLower?: boolean } = {}): Decision | undefined {
  if (req.unmet || req.denied) return undefined;
  const { levels, policy } = req;
  if (req.secondFactorWithin !== undefined && !freshSecondFactor(req, methods, nowSeconds)) return undefined;
  const reached = strongestHeldRule(levels, methods, nowSeconds, policy);
  const lowering = Boolean(opts.allowLower && req.mayLower);
  if (!reached || reached.level < (lowering ? req.floor : req.level)) return undefined;
  let acr = tokenAcr(levels, req, methods, nowSeconds, policy);
  let lowered = false;
  if (!acr && lowering) {
    acr = strongestHeld(levels, methods, nowSeconds, policy, req.floor);
    lowered = acr !== undefined;
  }
  if (!acr) return undefined;
  const rule = levels.find((l) => l.acr === acr)!;
  // amr says what really happened: the methods behind the strongest level reached (an RP that insisted on
  // exactly loa1 still learns that two factors were used).
  return { acr, level: rule.level, amr: amrForLevel(reached, backingMethods(reached, methods, nowSeconds, policy)), lowered };
}

/** A method other than the password (a second factor, or a passkey) verified within `secondFactorWithin`. */
export function freshSecondFactor(req: AssuranceRequirement, methods: VerifiedMethod[], nowSeconds: number): boolean {
  const since = nowSeconds - (req.secondFactorWithin ?? Number.POSITIVE_INFINITY);
  return methods.some((m) => m.kind !== 'password' && m.at >= since);
}

/**
 * What a token issued from a refresh may say now: the strongest level at or below `issuedAcr` (a refresh
 * never claims more than the token it replaces) that the authentication's methods still hold.
 */
export function decideRefresh(req: AssuranceRequirement, issuedAcr: unknown, methods: VerifiedMethod[], nowSeconds: number): Decision | undefined {
  const cap = typeof issuedAcr === 'string' ? levelOf(req.levels, issuedAcr) : undefined;
  if (cap === undefined) return undefined;
  const rule = strongestHeldRule(req.levels, methods, nowSeconds, req.policy, { maxLevel: cap });
  if (!rule) return undefined;
  return { acr: rule.acr, level: rule.level, amr: amrForLevel(rule, backingMethods(rule, methods, nowSeconds, req.policy)), lowered: rule.level < cap };
}

/** Earliest verification time a method may have to still count towards `level` for this request (max_age included). */
export function freshSince(req: AssuranceRequirement, nowSeconds: number, level = req.level): number {
  const rule = ruleFor(req, level);
  const ruleAge = rule ? levelMaxAge(rule, req.policy) : 0;
  return nowSeconds - Math.min(ruleAge, req.maxAgeSeconds ?? Number.POSITIVE_INFINITY);
}

/** Drops second-factor methods whose factor no longer exists (removed since): a removed factor stops counting at once. */
export function liveMethods(methods: VerifiedMethod[], activeFactorIds: ReadonlySet<string>): VerifiedMethod[] {
  return methods.filter((m) => m.kind === 'password' || m.factorId === undefined || activeFactorIds.has(m.factorId));
}
