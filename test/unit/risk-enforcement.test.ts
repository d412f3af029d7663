import { describe, expect, it } from 'vitest';
import { enforcement, type EnforcementInput, type EnforcementOutcome } from '../../src/risk/enforcement.js';
import { parsePolicy } from '../../src/risk/policy-file.js';
import type { RiskPolicy } from '../../src/risk/types.js';

const NOW = 1_750_000_000;
const DAY = 86_400;
// The shipped default with enforcement on (the seed design): all_users: true, grace_period: 30d, exclude_service_accounts: true.
const POLICY = parsePolicy('mfa_enforcement:\n  all_users: true\n', 'test.yaml');

function policy(m: Partial<RiskPolicy['mfaEnforcement']>): RiskPolicy {
  return { ...POLICY, mfaEnforcement: { ...POLICY.mfaEnforcement, ...m } };
}

const user = (o: Partial<EnforcementInput> = {}): EnforcementInput => ({ secondFactors: 0, serviceAccount: false, firstSignInUnderPolicyAt: null, ...o });

describe('enforcement', () => {
  it.each<[string, EnforcementInput, RiskPolicy, EnforcementOutcome]>([
    ['first sign-in under the policy: the full period', user(), POLICY, { kind: 'grace', daysLeft: 30, endsAt: NOW + 30 * DAY }],
    ['10 days in', user({ firstSignInUnderPolicyAt: NOW - 10 * DAY }), POLICY, { kind: 'grace', daysLeft: 20, endsAt: NOW + 20 * DAY }],
    ['one second left counts as a day', user({ firstSignInUnderPolicyAt: NOW - 30 * DAY + 1 }), POLICY, { kind: 'grace', daysLeft: 1, endsAt: NOW + 1 }],
    ['partial days round up', user({ firstSignInUnderPolicyAt: NOW - 10 * DAY - 3600 }), POLICY, { kind: 'grace', daysLeft: 20, endsAt: NOW + 20 * DAY - 3600 }],
    ['grace over, exactly at the end', user({ firstSignInUnderPolicyAt: NOW - 30 * DAY }), POLICY, { kind: 'enroll_required' }],
    ['grace long over', user({ firstSignInUnderPolicyAt: NOW - 400 * DAY }), POLICY, { kind: 'enroll_required' }],
    ['a first sign-in in the future counts as now', user({ firstSignInUnderPolicyAt: NOW + 5 * DAY }), POLICY, { kind: 'grace', daysLeft: 30, endsAt: NOW + 30 * DAY }],
    ['no grace period: enroll at once', user(), policy({ gracePeriodSeconds: 0 }), { kind: 'enroll_required' }],
    ['a second factor enrolled', user({ secondFactors: 1, firstSignInUnderPolicyAt: NOW - 400 * DAY }), POLICY, { kind: 'none' }],
    ['all_users false', user({ firstSignInUnderPolicyAt: NOW - 400 * DAY }), policy({ allUsers: false }), { kind: 'none' }],
    ['an excluded service account', user({ serviceAccount: true, firstSignInUnderPolicyAt: NOW - 400 * DAY }), POLICY, { kind: 'none' }],
    [
      'a service account when not excluded',
      user({ serviceAccount: true, firstSignInUnderPolicyAt: NOW - 400 * DAY }),
      policy({ excludeServiceAccounts: false }),
      { kind: 'enroll_required' },
    ],
    ['grace_period from the policy', user({ firstSignInUnderPolicyAt: NOW - DAY }), policy({ gracePeriodSeconds: 7 * DAY }), { kind: 'grace', daysLeft: 6, endsAt: NOW + 6 * DAY }],
  ])('%s', (_name, input, p, expected) => {
    expect(enforcement(input, p, NOW)).toStrictEqual(expected);
  });

  it('is a function of its arguments only', () => {
    const input = user({ firstSignInUnderPolicyAt: NOW - 29 * DAY });
    expect(enforcement(input, POLICY, NOW)).toStrictEqual(enforcement(input, POLICY, NOW));
    expect(enforcement(input, POLICY, NOW + DAY)).toStrictEqual({ kind: 'enroll_required' });
  });
});
