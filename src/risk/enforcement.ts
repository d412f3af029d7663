/**
 * MFA enforcement (mfa_enforcement in the policy file): whether a user must enroll a second factor now,
 * may still sign in without one (grace), or is not concerned. Pure: time is an argument.
 *
 *  - none: all_users is false, or the user has a second factor, or is a service account and
 *    exclude_service_accounts holds.
 *  - grace: the grace period, counted from the user's first sign-in under the policy, is still running
 *    (`firstSignInUnderPolicyAt` null means this sign-in is the first: the full period). `daysLeft` is
 *    rounded up (one second left is "1 day"); `endsAt` is epoch seconds.
 *  - enroll_required: the grace period is over (at once when grace_period is 0).
 */
import type { RiskPolicy } from './types.js';

export interface EnforcementInput {
  secondFactors: number;
  serviceAccount: boolean;
  /** Epoch seconds of the user's first sign-in under the policy; null when this sign-in is the first. */
  firstSignInUnderPolicyAt: number | null;
}

export type EnforcementOutcome = { kind: 'none' } | { kind: 'grace'; daysLeft: number; endsAt: number } | { kind: 'enroll_required' };

const DAY = 86_400;

export function enforcement(input: EnforcementInput, policy: RiskPolicy, nowSeconds: number): EnforcementOutcome {
  const rule = policy.mfaEnforcement;
  if (!rule.allUsers || input.secondFactors > 0 || (input.serviceAccount && rule.excludeServiceAccounts)) return { kind: 'none' };
  // A first sign-in recorded in the future (clock skew between nodes) counts as now: never more than the full period.
  const start = input.firstSignInUnderPolicyAt === null ? nowSeconds : Math.min(input.firstSignInUnderPolicyAt, nowSeconds);
  const endsAt = start + rule.gracePeriodSeconds;
  if (nowSeconds >= endsAt) return { kind: 'enroll_required' };
  return { kind: 'grace', daysLeft: Math.ceil((endsAt - nowSeconds) / DAY), endsAt };
}
