/**
 * The one assurance rule (src/policy/requirement.ts): raw request parsing, the account's demand as a floor
 * that allow_lower_acr never lowers, the acr/amr decision, and decay on refresh. Fixed epoch-seconds times.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_LEVELS } from '../../src/policy/levels.js';
import {
  assuranceRequirement,
  claimsAcrOf,
  decide,
  decideRefresh,
  freshSince,
  liveMethods,
  type RequestParams,
} from '../../src/policy/requirement.js';
import type { VerifiedMethod } from '../../src/factors/types.js';

const T = 1_700_000_000;
const HOUR = 3600;
const pwd = (at = T): VerifiedMethod => ({ kind: 'password', amr: ['pwd'], category: 'knowledge', phishingResistant: false, userVerified: false, at });
const totp = (at = T, factorId = 'totp-1'): VerifiedMethod => ({ kind: 'totp', factorId, amr: ['otp'], category: 'possession', phishingResistant: false, userVerified: false, at });
const key = (at = T): VerifiedMethod => ({ kind: 'webauthn', factorId: 'key-1', amr: ['hwk'], category: 'possession', phishingResistant: true, userVerified: false, at });

/** `secondFactors`: a demand for two factors (what the risk engine asks of an enrolled user from a new device). */
const req = (params: RequestParams, opts: { policy?: Record<string, unknown>; secondFactors?: number; within?: number; denied?: boolean } = {}) =>
  assuranceRequirement({
    levels: DEFAULT_LEVELS,
    client: { stepwise_policy: opts.policy ?? {} },
    params,
    demands: opts.secondFactors ? [{ source: 'risk', level: 2, reason: 'new_device' }] : [],
    secondFactorWithin: opts.within,
    denied: opts.denied,
  });

describe('claimsAcrOf — the raw claims parameter', () => {
  it('reads essential and values from the JSON string', () => {
    expect(claimsAcrOf('{"id_token":{"acr":{"essential":true,"values":["loa2"]}}}')).toEqual({ essential: true, values: ['loa2'] });
    expect(claimsAcrOf({ id_token: { acr: { value: 'phr' } } })).toEqual({ value: 'phr' });
  });
  it('ignores malformed or foreign shapes', () => {
    expect(claimsAcrOf('not json')).toBeNull();
    expect(claimsAcrOf('{"id_token":{"acr":null}}')).toBeNull();
    expect(claimsAcrOf('{"userinfo":{"acr":{"essential":true}}}')).toBeNull();
    expect(claimsAcrOf('{"id_token":{"acr":{"essential":"yes","values":["loa2",3]}}}')).toEqual({ values: ['loa2'] });
    expect(claimsAcrOf(undefined)).toBeNull();
  });
});

describe('assuranceRequirement', () => {
  it('an essential acr stays essential when acr_values is also sent (hole 2)', () => {
    const r = req({ claims: '{"id_token":{"acr":{"essential":true,"values":["loa2"]}}}', acr_values: 'loa1' });
    expect(r).toMatchObject({ essential: true, level: 2, accepted: ['loa2'], mayLower: false });
    expect(decide(r, [pwd()], T)).toBeUndefined();
  });

  it('a demand is part of the requirement: it raises the level and the floor', () => {
    const r = req({ acr_values: 'loa1' }, { secondFactors: 1 });
    expect(r).toMatchObject({ level: 2, floor: 2, accepted: ['phr', 'loa2'] });
    expect(r.demands).toEqual([{ source: 'risk', level: 2, reason: 'new_device' }]);
    expect(req({}, { secondFactors: 0 })).toMatchObject({ level: 1, floor: 1, demands: [] });
  });

  it('a sensitive action needs a second factor verified within the bound, even when loa2 holds', () => {
    const r = req({}, { within: 300 });
    expect(decide(r, [pwd(T - 1000), totp(T - 301)], T)).toBeUndefined();
    expect(decide(r, [pwd(T - 1000), totp(T - 300)], T)?.acr).toBe('loa2');
  });

  it('a denial decides nothing', () => {
    expect(decide(req({}, { denied: true }), [pwd(), totp()], T)).toBeUndefined();
  });

  it('allow_lower_acr lowers only what the request asked, never the floor (hole 1)', () => {
    const lenient = { allow_lower_acr: true, allowed_factors: ['webauthn'] };
    const enrolled = req({ acr_values: 'phr' }, { policy: lenient, secondFactors: 1 });
    expect(enrolled.mayLower).toBe(true);
    // Password alone, TOTP not allowed by this client: nothing at or above the account's floor holds.
    expect(decide(enrolled, [pwd()], T, { allowLower: true })).toBeUndefined();
    expect(decide(enrolled, [pwd(), totp()], T, { allowLower: true })).toBeUndefined();
    // Without the account demand the same client may lower phr to loa1.
    expect(decide(req({ acr_values: 'phr' }, { policy: lenient }), [pwd()], T, { allowLower: true })).toMatchObject({ acr: 'loa1', lowered: true });
    // The client minimum is a floor too.
    const min2 = req({ acr_values: 'phr' }, { policy: { allow_lower_acr: true, min_acr: 'loa2' } });
    expect(decide(min2, [pwd()], T, { allowLower: true })).toBeUndefined();
    expect(decide(min2, [pwd(), totp()], T, { allowLower: true })).toMatchObject({ acr: 'loa2', lowered: true });
  });

  it('lowering needs the flag: a stored session never gets a lower acr', () => {
    const r = req({ acr_values: 'loa2' }, { policy: { allow_lower_acr: true } });
    expect(decide(r, [pwd()], T)).toBeUndefined();
    expect(decide(r, [pwd()], T, { allowLower: true })?.acr).toBe('loa1');
  });

  it('reads max_age', () => {
    expect(req({ max_age: '300' }).maxAgeSeconds).toBe(300);
    expect(req({ max_age: 0 }).maxAgeSeconds).toBe(0);
    expect(req({ max_age: 'x' }).maxAgeSeconds).toBeUndefined();
    expect(freshSince(req({ max_age: '300' }), T)).toBe(T - 300);
  });
});

describe('decide', () => {
  it('reports the strongest accepted acr with the amr of the methods backing it', () => {
    const d = decide(req({}), [pwd(T - 13 * HOUR), totp(T - 13 * HOUR), key(T)], T);
    // phr needs two factors within 15 min: the old password does not back it; loa2 (12 h) neither; loa1 does.
    expect(d).toMatchObject({ acr: 'loa1', level: 1 });
    const fresh = decide(req({}), [pwd(T), totp(T)], T);
    expect(fresh).toMatchObject({ acr: 'loa2', lowered: false });
    expect([...fresh!.amr].sort()).toEqual(['mfa', 'otp', 'pwd']);
  });
});

describe('decideRefresh — tokens from a refresh decay', () => {
  const r = req({});
  const methods = [pwd(T), totp(T)];
  it('keeps loa2 within 12 h, then loa1 with the password amr only', () => {
    expect(decideRefresh(r, 'loa2', methods, T + 12 * HOUR)).toMatchObject({ acr: 'loa2', lowered: false });
    const later = decideRefresh(r, 'loa2', methods, T + 12 * HOUR + 1);
    expect(later).toMatchObject({ acr: 'loa1', lowered: true, amr: ['pwd'] });
  });
  it('never claims more than the token it replaces', () => {
    expect(decideRefresh(r, 'loa1', [pwd(T), key(T)], T)?.acr).toBe('loa1');
  });
  it('nothing held, or no acr to begin with → no decision', () => {
    expect(decideRefresh(r, 'loa2', methods, T + 15 * 24 * HOUR)).toBeUndefined();
    expect(decideRefresh(r, undefined, methods, T)).toBeUndefined();
    expect(decideRefresh(r, 'urn:unknown', methods, T)).toBeUndefined();
  });
});

describe('liveMethods', () => {
  it('drops second factors that were removed, keeps the password and factor-less methods', () => {
    const backup: VerifiedMethod = { kind: 'backup_code', amr: ['otp'], category: 'possession', phishingResistant: false, userVerified: false, at: T };
    expect(liveMethods([pwd(), totp(T, 'gone'), key(), backup], new Set(['key-1'])).map((m) => m.kind)).toEqual(['password', 'webauthn', 'backup_code']);
  });
});
