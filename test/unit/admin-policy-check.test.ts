/**
 * The admin service's client-policy check: a minimum level that no allowed factor combination can reach is
 * refused with an explanation (lock-out); everything reachable passes; acr_levels overrides and unknown acr
 * values are judged on the client's own table.
 */
import { describe, expect, it } from 'vitest';
import { checkClientPolicy, lockoutProblem, minimumLevel } from '../../src/admin/policy-check.js';
import { DEFAULT_LEVELS } from '../../src/policy/levels.js';
import { AppError } from '../../src/errors/index.js';

const ctx = { levels: DEFAULT_LEVELS, apiScopes: ['payments:write'], publicClient: false };
const refused = (policy: unknown) => {
  try {
    checkClientPolicy(ctx, policy);
  } catch (err) {
    return err as AppError;
  }
  return undefined;
};

describe('client policy lock-out check', () => {
  it.each([
    [{ min_acr: 'phr', allowed_factors: ['totp'] }, /phr needs 2 factors.*phishing-resistant \(webauthn\)/],
    [{ min_acr: 'phr', allowed_factors: ['totp', 'sms', 'push', 'backup_code'] }, /password, totp, push, backup_code, sms/],
    [{ min_acr: 'gold', acr_levels: { gold: 3 }, allowed_factors: ['sms'] }, /min_acr gold cannot be reached.*needs 2 factors/],
  ])('refuses %j', (policy, reason) => {
    const err = refused(policy);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'invalid_form', field: 'min_acr' });
    expect(err!.message).toMatch(/lock everyone out/);
    expect(err!.message).toMatch(reason);
  });

  it.each([
    [{}],
    [{ min_acr: 'loa1' }],
    [{ min_acr: 'loa2', allowed_factors: ['backup_code'] }],
    [{ min_acr: 'loa2', allowed_factors: ['sms'] }],
    [{ min_acr: 'phr' }],
    [{ min_acr: 'phr', allowed_factors: ['webauthn'] }],
    [{ min_acr: 'gold', acr_levels: { gold: 2 }, allowed_factors: ['totp'] }],
  ])('accepts %j', (policy) => {
    expect(lockoutProblem(DEFAULT_LEVELS, policy as never)).toBeNull();
    expect(refused(policy)).toBeUndefined();
  });

  it('other checks name their field', () => {
    expect(refused({ min_acr: 'gold' })).toMatchObject({ field: 'min_acr', message: expect.stringMatching(/one of loa1, loa2, phr/) });
    expect(refused({ sensitive_scopes: ['payments:read'] })).toMatchObject({ field: 'sensitive_scopes', message: expect.stringMatching(/STEPWISE_API_SCOPES is payments:write/) });
    expect(refused({ colour: 'red' })).toMatchObject({ field: 'colour', message: 'colour: unknown field' });
    expect(refused({ max_age_seconds: -1 })).toMatchObject({ field: 'max_age_seconds' });
    expect(() => checkClientPolicy({ ...ctx, publicClient: true }, { pkce_optional: true })).toThrow(/public client always needs PKCE/);
    expect(checkClientPolicy(ctx, { sensitive_scopes: [] })).toEqual({});
  });

  it('minimumLevel follows the client table', () => {
    expect(minimumLevel(DEFAULT_LEVELS, {})).toBe(1);
    expect(minimumLevel(DEFAULT_LEVELS, { min_acr: 'phr' })).toBe(3);
    expect(minimumLevel(DEFAULT_LEVELS, { min_acr: 'loa2', acr_levels: { loa2: 3 } })).toBe(3);
  });
});
