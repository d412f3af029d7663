/**
 * Validating a client's assurance policy before it is stored (pure: config in, problem out). Besides the
 * schema: the minimum acr must be known, sensitive scopes must be configured API scopes, PKCE stays
 * mandatory for public clients — and a policy that would lock everyone out is refused: a minimum level that
 * no combination of the allowed factors can reach (e.g. min_acr `phr` with allowed_factors `[totp]`).
 */
import { clientPolicySchema, type ClientPolicy } from '../policy/client-policy.js';
import { countedMethods, levelOf, levelsFor } from '../policy/decision.js';
import { satisfies, type LevelRule } from '../policy/levels.js';
import { verifiedMethod, type FactorInfo } from '../factors/types.js';
import { passwordInfo } from '../factors/password.js';
import { totpInfo } from '../factors/totp/index.js';
import { webauthnInfo } from '../factors/webauthn/index.js';
import { backupCodesInfo } from '../factors/backup-codes/index.js';
import { smsInfo } from '../factors/sms/index.js';
import { pushInfo } from '../factors/push/index.js';
import { AppError } from '../errors/index.js';

const SECOND_FACTORS: FactorInfo[] = [webauthnInfo, totpInfo, pushInfo, backupCodesInfo, smsInfo];

export interface PolicyCheckContext {
  levels: LevelRule[];
  apiScopes: string[];
  /** The client authenticates with `none` (a public client). */
  publicClient: boolean;
}

/** The client's minimum level under `policy` (its own acr_levels applied); 1 without a minimum. */
export function minimumLevel(levels: LevelRule[], policy: ClientPolicy): number {
  return levelOf(levelsFor(levels, policy), policy.min_acr) ?? 1;
}

/**
 * Why no user could ever reach the policy's minimum level, or null when someone can. The best any user
 * could present: the password plus every allowed second factor, a passkey with user verification.
 */
export function lockoutProblem(levels: LevelRule[], policy: ClientPolicy): string | null {
  if (policy.min_acr === undefined) return null;
  const table = levelsFor(levels, policy);
  const min = levelOf(table, policy.min_acr);
  if (min === undefined) return null; // reported as an unknown acr
  const allowed = SECOND_FACTORS.filter((f) => !policy.allowed_factors || (policy.allowed_factors as string[]).includes(f.kind));
  const best = [passwordInfo, ...allowed].map((info) => verifiedMethod(info, { amr: [], nowMs: 0, userVerified: true }));
  const counted = countedMethods(best, policy);
  const candidates = table.filter((l) => l.level >= min);
  if (candidates.some((rule) => satisfies(rule, counted))) return null;
  const rule = candidates.sort((a, b) => a.level - b.level)[0];
  const needs = rule
    ? `${rule.acr} needs ${rule.minFactors} factor${rule.minFactors === 1 ? '' : 's'} of different kinds${rule.phishingResistant ? ', one of them phishing-resistant (webauthn)' : ''}`
    : `no level at or above ${min} exists`;
  const factors = ['password', ...allowed.map((f) => f.kind)].join(', ');
  return `this policy would lock everyone out: min_acr ${policy.min_acr} cannot be reached with the allowed factors (${factors}); ${needs}. Allow such a factor or lower min_acr.`;
}

/** Parses and checks a whole policy; throws invalid_form naming the field. */
export function checkClientPolicy(ctx: PolicyCheckContext, input: unknown): ClientPolicy {
  const parsed = clientPolicySchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.code === 'unrecognized_keys' ? String(issue.keys[0]) : String(issue.path[0] ?? 'policy');
    const where = issue.path.length ? issue.path.join('.') : field;
    throw new AppError('invalid_form', `${where}: ${issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message}`, field);
  }
  const policy = parsed.data;
  if (policy.min_acr !== undefined && levelOf(levelsFor(ctx.levels, policy), policy.min_acr) === undefined) {
    const known = levelsFor(ctx.levels, policy).map((l) => l.acr);
    throw new AppError('invalid_form', `min_acr must be one of ${known.join(', ')}`, 'min_acr');
  }
  if (policy.pkce_optional && ctx.publicClient) throw new AppError('invalid_form', 'pkce_optional: a public client always needs PKCE', 'pkce_optional');
  if (policy.sensitive_scopes !== undefined) {
    // Only configured API scopes: any other scope is dropped from requests, so listing it would protect nothing.
    const scopes = [...new Set(policy.sensitive_scopes)];
    const unknown = scopes.find((s) => !ctx.apiScopes.includes(s));
    if (unknown !== undefined) {
      const configured = ctx.apiScopes.length ? `STEPWISE_API_SCOPES is ${ctx.apiScopes.join(',')}` : 'STEPWISE_API_SCOPES is not set';
      throw new AppError('invalid_form', `sensitive_scopes: ${unknown} is not an API scope (${configured})`, 'sensitive_scopes');
    }
    if (scopes.length) policy.sensitive_scopes = scopes;
    else delete policy.sensitive_scopes;
  }
  const lockout = lockoutProblem(ctx.levels, policy);
  if (lockout) throw new AppError('invalid_form', lockout, 'min_acr');
  return policy;
}
