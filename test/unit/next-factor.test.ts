/** Where a sign-in goes after the password when it still needs a second factor (src/interactions/next-factor.ts). */
import { describe, expect, it } from 'vitest';
import { nextFactor, nextFactorPath } from '../../src/interactions/next-factor.js';

describe('nextFactor', () => {
  it('takes the factor this browser used last when it is on offer, else the only one, else none', () => {
    expect(nextFactor(['totp', 'webauthn'], 'webauthn')).toBe('webauthn');
    expect(nextFactor(['totp', 'webauthn'], 'sms')).toBeUndefined();
    expect(nextFactor(['totp', 'webauthn'], undefined)).toBeUndefined();
    expect(nextFactor(['totp'], 'sms')).toBe('totp');
    expect(nextFactor([], 'totp')).toBeUndefined();
  });

  it('gives the challenge page, or the chooser', () => {
    expect(nextFactorPath('abc', ['totp'], undefined)).toBe('/interaction/abc/factor/totp');
    expect(nextFactorPath('abc', ['totp', 'sms'], undefined)).toBe('/interaction/abc/factor');
  });
});
