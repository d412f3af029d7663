/**
 * Which second factors a sign-in offers next (src/policy/offer.ts): pure, on the default levels, with fixed
 * epoch-seconds times.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_LEVELS } from '../../src/policy/levels.js';
import { assuranceRequirement, type RequestParams } from '../../src/policy/requirement.js';
import { factorsToOffer } from '../../src/policy/offer.js';
import type { VerifiedMethod } from '../../src/factors/types.js';
import type { CandidateFactor } from '../../src/policy/decision.js';

const T = 1_700_000_000;
const HOUR = 3600;
type Kind = 'totp' | 'webauthn' | 'sms';
const TRAITS: Record<Kind, CandidateFactor> = {
  totp: { kind: 'totp', category: 'possession', phishingResistant: false },
  webauthn: { kind: 'webauthn', category: 'possession', phishingResistant: true },
  sms: { kind: 'sms', category: 'possession', phishingResistant: false },
};
const traits = (k: Kind) => TRAITS[k];
const pwd = (at = T): VerifiedMethod => ({ kind: 'password', amr: ['pwd'], category: 'knowledge', phishingResistant: false, userVerified: false, at });
const totp = (at = T): VerifiedMethod => ({ kind: 'totp', factorId: 'totp-1', amr: ['otp'], category: 'possession', phishingResistant: false, userVerified: false, at });

const req = (params: RequestParams, policy: Record<string, unknown> = {}, within?: number) =>
  assuranceRequirement({ levels: DEFAULT_LEVELS, client: { stepwise_policy: policy }, params, demands: [], secondFactorWithin: within });

describe('factorsToOffer', () => {
  it('offers every enrolled kind that reaches the level after the password', () => {
    expect(factorsToOffer(req({ acr_values: 'loa2' }), ['totp', 'webauthn'], [pwd()], T, traits)).toEqual(['totp', 'webauthn']);
  });

  it('offers nothing once the level is held, and again what aged past the level\'s max age', () => {
    expect(factorsToOffer(req({ acr_values: 'loa2' }), ['totp'], [pwd(), totp()], T, traits)).toEqual([]);
    // loa2 lasts 12 hours: a TOTP verified 13 hours ago may be asked for again.
    expect(factorsToOffer(req({ acr_values: 'loa2' }), ['totp'], [pwd(), totp(T - 13 * HOUR)], T, traits)).toEqual(['totp']);
  });

  it('a sensitive action asks again for a factor older than it allows', () => {
    expect(factorsToOffer(req({ acr_values: 'loa2' }, {}, 300), ['totp'], [pwd(), totp(T - 600)], T, traits)).toEqual(['totp']);
    expect(factorsToOffer(req({ acr_values: 'loa2' }, {}, 300), ['totp'], [pwd(), totp(T - 60)], T, traits)).toEqual([]);
  });

  it('phishing-resistant level: only the passkey', () => {
    expect(factorsToOffer(req({ acr_values: 'phr' }), ['totp', 'webauthn'], [pwd()], T, traits)).toEqual(['webauthn']);
  });

  it('the client\'s allowed factors narrow the offer', () => {
    expect(factorsToOffer(req({ acr_values: 'loa2' }, { allowed_factors: ['webauthn'] }), ['totp', 'webauthn'], [pwd()], T, traits)).toEqual(['webauthn']);
  });

  it('a voluntary request to a client that accepts a lower acr is offered the highest level still reachable', () => {
    const lowering = req({ acr_values: 'phr' }, { allow_lower_acr: true });
    expect(factorsToOffer(lowering, ['totp'], [pwd()], T, traits)).toEqual(['totp']);
    // Without allow_lower_acr nothing reaches phr with a TOTP.
    expect(factorsToOffer(req({ acr_values: 'phr' }), ['totp'], [pwd()], T, traits)).toEqual([]);
    // Already at loa2: nothing lower is worth offering.
    expect(factorsToOffer(lowering, ['totp', 'sms'], [pwd(), totp()], T, traits)).toEqual([]);
  });
});
