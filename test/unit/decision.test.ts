/**
 * The step-up decision (src/policy/decision.ts) and per-client policy parsing (src/policy/client-policy.ts):
 * checklist 76–80 (client minimum, voluntary/essential acr), DESIGN.md "Assurance levels" (max ages,
 * per-client override). Every time is a fixed epoch-seconds value.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_LEVELS, type LevelRule } from '../../src/policy/levels.js';
import {
  countedMethods,
  currentLevel,
  holds,
  levelOf,
  levelsFor,
  requirement,
  strongestHeld,
  tokenAcr,
  usefulFactors,
  type CandidateFactor,
} from '../../src/policy/decision.js';
import { clientPolicySchema, readClientPolicy, type ClientPolicy } from '../../src/policy/client-policy.js';
import type { VerifiedMethod } from '../../src/factors/types.js';

const T = 1_700_000_000;
const MIN = 60;
const HOUR = 3600;
const DAY = 24 * HOUR;

const pwd = (at = T): VerifiedMethod => ({ kind: 'password', amr: ['pwd'], category: 'knowledge', phishingResistant: false, userVerified: false, at });
const totp = (at = T): VerifiedMethod => ({ kind: 'totp', amr: ['otp'], category: 'possession', phishingResistant: false, userVerified: false, at });
const backup = (at = T): VerifiedMethod => ({ kind: 'backup_code', amr: ['otp'], category: 'possession', phishingResistant: false, userVerified: false, at });
const passkey = (uv: boolean, at = T): VerifiedMethod => ({
  kind: 'webauthn',
  amr: uv ? ['swk', 'user'] : ['hwk'],
  category: 'possession',
  phishingResistant: true,
  userVerified: uv,
  at,
});

const C_TOTP: CandidateFactor = { kind: 'totp', category: 'possession', phishingResistant: false };
const C_BACKUP: CandidateFactor = { kind: 'backup_code', category: 'possession', phishingResistant: false };
const C_WEBAUTHN: CandidateFactor = { kind: 'webauthn', category: 'possession', phishingResistant: true };

const L = DEFAULT_LEVELS;
const NONE: ClientPolicy = {};
const rule = (acr: string, levels: LevelRule[] = L): LevelRule => levels.find((l) => l.acr === acr)!;

describe('levelOf', () => {
  it('maps known names, undefined otherwise', () => {
    expect(levelOf(L, 'loa1')).toBe(1);
    expect(levelOf(L, 'loa2')).toBe(2);
    expect(levelOf(L, 'phr')).toBe(3);
    expect(levelOf(L, 'urn:unknown')).toBeUndefined();
    expect(levelOf(L, undefined)).toBeUndefined();
    expect(levelOf(L, 'LOA2')).toBeUndefined(); // acr values are case-sensitive
  });
});

describe('requirement()', () => {
  describe('client minimum (checklist 76; Keycloak #16884: acr_values must not lower the client minimum)', () => {
    const min2: ClientPolicy = { min_acr: 'loa2' };

    it('without acr_values the client minimum applies', () => {
      expect(requirement(L, min2, {})).toEqual({ level: 2, floor: 2, accepted: ['phr', 'loa2'], essential: false, unmet: false });
    });

    it('acr_values below the minimum still get the minimum', () => {
      const r = requirement(L, min2, { acrValues: 'loa1' });
      expect(r.level).toBe(2);
      expect(r.accepted).toEqual(['phr', 'loa2']);
      expect(r.accepted).not.toContain('loa1');
    });

    it('acr_values above the minimum raise it', () => {
      expect(requirement(L, min2, { acrValues: 'phr' }).level).toBe(3);
    });

    it('an unknown voluntary acr does not lower the minimum', () => {
      expect(requirement(L, min2, { acrValues: 'urn:unknown' }).level).toBe(2);
    });

    it('no policy, no request → level 1, everything accepted strongest first', () => {
      expect(requirement(L, NONE, {})).toEqual({ level: 1, floor: 1, accepted: ['phr', 'loa2', 'loa1'], essential: false, unmet: false });
    });

    it('an essential request below the minimum never gets the unrequested minimum acr', () => {
      // Essential loa1 for a loa2 client: the only acr the RP accepts is below the minimum, so nothing is
      // accepted (the token can never report loa2, which the RP did not list) and the request is unmet at once.
      const r = requirement(L, min2, { claimsAcr: { essential: true, values: ['loa1'] } });
      expect(r.level).toBe(2);
      expect(r.essential).toBe(true);
      expect(r.accepted).toEqual([]);
      expect(r.unmet).toBe(true);
    });
  });

  describe('voluntary acr_values ("at least one of"; checklist 77, 79)', () => {
    it('the lowest known value is the bar, whatever the order', () => {
      expect(requirement(L, NONE, { acrValues: 'phr loa1' }).level).toBe(1);
      expect(requirement(L, NONE, { acrValues: 'loa1 phr' }).level).toBe(1);
      expect(requirement(L, NONE, { acrValues: 'phr loa2' }).level).toBe(2);
      expect(requirement(L, NONE, { acrValues: 'phr' }).level).toBe(3);
    });

    it('accepts every level at or above the bar, strongest first', () => {
      expect(requirement(L, NONE, { acrValues: 'loa2' }).accepted).toEqual(['phr', 'loa2']);
      expect(requirement(L, NONE, { acrValues: 'phr' }).accepted).toEqual(['phr']);
    });

    it('unknown values are ignored, not an error (OIDC Core §3.1.2.1)', () => {
      expect(requirement(L, NONE, { acrValues: 'urn:unknown' })).toEqual({ level: 1, floor: 1, accepted: ['phr', 'loa2', 'loa1'], essential: false, unmet: false });
      expect(requirement(L, NONE, { acrValues: 'urn:unknown phr' }).level).toBe(3);
      expect(requirement(L, NONE, { acrValues: 'urn:a urn:b' }).unmet).toBe(false);
    });

    it('tolerates repeated spaces and empty strings', () => {
      expect(requirement(L, NONE, { acrValues: '  loa2   phr ' }).level).toBe(2);
      expect(requirement(L, NONE, { acrValues: '' }).level).toBe(1);
    });

    it('a voluntary claims acr joins acr_values (lowest still wins)', () => {
      const r = requirement(L, NONE, { acrValues: 'phr', claimsAcr: { essential: false, values: ['loa2'] } });
      expect(r).toEqual({ level: 2, floor: 1, accepted: ['phr', 'loa2'], essential: false, unmet: false });
      expect(requirement(L, NONE, { claimsAcr: { value: 'phr' } }).level).toBe(3);
    });

    it('claims acr null or essential without values is not essential', () => {
      expect(requirement(L, NONE, { acrValues: 'loa2', claimsAcr: null })).toMatchObject({ level: 2, essential: false });
      expect(requirement(L, NONE, { acrValues: 'loa2', claimsAcr: { essential: true } })).toMatchObject({ level: 2, essential: false, unmet: false });
      expect(requirement(L, NONE, { claimsAcr: { essential: true, values: [] } })).toMatchObject({ level: 1, essential: false, unmet: false });
    });
  });

  describe('essential acr via the claims parameter (checklist 78, 80)', () => {
    it('only unknown values → unmet (Keycloak #8724)', () => {
      const r = requirement(L, NONE, { claimsAcr: { essential: true, values: ['urn:gold', 'urn:silver'] } });
      expect(r.unmet).toBe(true);
      expect(r.essential).toBe(true);
      expect(r.accepted).toEqual([]);
      expect(requirement(L, NONE, { claimsAcr: { essential: true, value: 'urn:gold' } }).unmet).toBe(true);
    });

    it('unknown values next to a known one are dropped, not fatal', () => {
      const r = requirement(L, NONE, { claimsAcr: { essential: true, values: ['urn:gold', 'loa2'] } });
      expect(r).toEqual({ level: 2, floor: 1, accepted: ['loa2'], essential: true, unmet: false });
    });

    it('accepted lists only the requested values, strongest first, never the unrequested levels between', () => {
      const r = requirement(L, NONE, { claimsAcr: { essential: true, values: ['loa1', 'phr'] } });
      expect(r.level).toBe(1);
      expect(r.accepted).toEqual(['phr', 'loa1']);
      expect(r.accepted).not.toContain('loa2');
    });

    it('a single `value` works like `values`', () => {
      expect(requirement(L, NONE, { claimsAcr: { essential: true, value: 'loa2' } })).toEqual({ level: 2, floor: 1, accepted: ['loa2'], essential: true, unmet: false });
    });

    it('the essential claim wins over acr_values (documented deterministic rule, checklist 80)', () => {
      const lower = requirement(L, NONE, { acrValues: 'loa1', claimsAcr: { essential: true, values: ['phr'] } });
      expect(lower).toEqual({ level: 3, floor: 1, accepted: ['phr'], essential: true, unmet: false });
      const higher = requirement(L, NONE, { acrValues: 'phr', claimsAcr: { essential: true, values: ['loa2'] } });
      expect(higher).toEqual({ level: 2, floor: 1, accepted: ['loa2'], essential: true, unmet: false });
    });

    it('the client minimum filters the essential list', () => {
      const r = requirement(L, { min_acr: 'loa2' }, { claimsAcr: { essential: true, values: ['loa1', 'loa2', 'phr'] } });
      expect(r).toEqual({ level: 2, floor: 2, accepted: ['phr', 'loa2'], essential: true, unmet: false });
    });
  });

  describe('risk demand', () => {
    it('raises the level and trims accepted values', () => {
      expect(requirement(L, NONE, { acrValues: 'loa1', demandLevel: 2 })).toMatchObject({ level: 2, accepted: ['phr', 'loa2'] });
      // A demand raises what must be reached, not which listed value may be reported.
      expect(requirement(L, NONE, { claimsAcr: { essential: true, values: ['loa2', 'phr'] }, demandLevel: 3 })).toMatchObject({ level: 3, floor: 3, accepted: ['phr', 'loa2'] });
      expect(requirement(L, NONE, { acrValues: 'phr', demandLevel: 1 }).level).toBe(3);
      expect(requirement(L, NONE, { demandLevel: 0 }).level).toBe(1);
    });
  });
});

describe('levelsFor() — per-client acr_levels', () => {
  it('without overrides: the defaults, ordered by level, as a new array', () => {
    const levels = levelsFor(L, NONE);
    expect(levels).toEqual(L);
    expect(levels).not.toBe(L);
  });

  it('a client-specific name gets the requirements of the highest default level at or below it', () => {
    const levels = levelsFor(L, { acr_levels: { 'urn:acme:gold': 2 } });
    expect(levels.map((l) => [l.acr, l.level])).toEqual([
      ['loa1', 1],
      ['loa2', 2],
      ['urn:acme:gold', 2],
      ['phr', 3],
    ]);
    expect(rule('urn:acme:gold', levels)).toEqual({ ...rule('loa2'), acr: 'urn:acme:gold' });
    // Usable in requests and as client minimum.
    expect(requirement(levels, NONE, { acrValues: 'urn:acme:gold' }).level).toBe(2);
    expect(requirement(levels, { min_acr: 'urn:acme:gold', acr_levels: { 'urn:acme:gold': 2 } }, {}).level).toBe(2);
    expect(requirement(levels, NONE, { claimsAcr: { essential: true, values: ['urn:acme:gold'] } })).toMatchObject({ unmet: false, accepted: ['urn:acme:gold'] });
  });

  it('a name above every default level uses the strongest rule (phr)', () => {
    const levels = levelsFor(L, { acr_levels: { 'urn:acme:top': 10 } });
    expect(rule('urn:acme:top', levels)).toEqual({ ...rule('phr'), acr: 'urn:acme:top', level: 10 });
    expect(levels.at(-1)!.acr).toBe('urn:acme:top');
  });

  it('re-mapping a default name gives it the target level\'s requirements', () => {
    const levels = levelsFor(L, { acr_levels: { loa2: 3 } });
    const loa2 = rule('loa2', levels);
    expect(loa2).toMatchObject({ level: 3, minFactors: 2, phishingResistant: true, maxAgeSeconds: 15 * MIN });
    // For this client pwd + TOTP no longer holds "loa2".
    const policy: ClientPolicy = { acr_levels: { loa2: 3 } };
    expect(holds(loa2, [pwd(), totp()], T, policy)).toBe(false);
    expect(holds(loa2, [pwd(), passkey(false)], T, policy)).toBe(true);
  });

  it('does not mutate the default table', () => {
    const before = JSON.stringify(L);
    levelsFor(L, { acr_levels: { loa1: 2, loa2: 3, 'urn:x': 5 } });
    expect(JSON.stringify(L)).toBe(before);
  });
});

describe('countedMethods() — allowed_factors', () => {
  const all = [pwd(), totp(), backup(), passkey(true)];

  it('without allowed_factors everything counts', () => {
    expect(countedMethods(all, NONE)).toEqual(all);
  });

  it('keeps the password and the listed kinds only', () => {
    expect(countedMethods(all, { allowed_factors: ['webauthn'] }).map((m) => m.kind)).toEqual(['password', 'webauthn']);
    expect(countedMethods(all, { allowed_factors: ['totp', 'backup_code'] }).map((m) => m.kind)).toEqual(['password', 'totp', 'backup_code']);
  });
});

describe('holds() / currentLevel() / strongestHeld() over time', () => {
  // pwd + security key (no UV) verified at T: reaches phr.
  const session = [pwd(T), passkey(false, T)];

  it('phr holds until T + 15 min inclusive, not one second after', () => {
    expect(holds(rule('phr'), session, T, NONE)).toBe(true);
    expect(holds(rule('phr'), session, T + 15 * MIN, NONE)).toBe(true);
    expect(holds(rule('phr'), session, T + 15 * MIN + 1, NONE)).toBe(false);
  });

  it('loa2 holds until T + 12 h inclusive, not one second after', () => {
    expect(holds(rule('loa2'), session, T + 12 * HOUR, NONE)).toBe(true);
    expect(holds(rule('loa2'), session, T + 12 * HOUR + 1, NONE)).toBe(false);
  });

  it('currentLevel and strongestHeld step down as levels expire', () => {
    const at = (dt: number) => [currentLevel(L, session, T + dt, NONE), strongestHeld(L, session, T + dt, NONE)];
    expect(at(0)).toEqual([3, 'phr']);
    expect(at(15 * MIN + 1)).toEqual([2, 'loa2']);
    expect(at(12 * HOUR + 1)).toEqual([1, 'loa1']);
    expect(at(14 * DAY)).toEqual([1, 'loa1']);
    expect(at(14 * DAY + 1)).toEqual([0, undefined]);
  });

  it('a level is only as fresh as its oldest needed method', () => {
    // Password at T, TOTP at T + 11 h: loa2 needs both, so it lapses at T + 12 h with the password.
    const methods = [pwd(T), totp(T + 11 * HOUR)];
    expect(currentLevel(L, methods, T + 12 * HOUR, NONE)).toBe(2);
    expect(holds(rule('loa2'), methods, T + 12 * HOUR + 1, NONE)).toBe(false);
  });

  it('per-client max_age_seconds caps every level', () => {
    const policy: ClientPolicy = { max_age_seconds: 10 * MIN };
    expect(currentLevel(L, session, T + 10 * MIN, policy)).toBe(3);
    expect(currentLevel(L, session, T + 10 * MIN + 1, policy)).toBe(0);
    // A cap longer than the level's own max age changes nothing.
    expect(holds(rule('phr'), session, T + 15 * MIN + 1, { max_age_seconds: DAY })).toBe(false);
    // max_age_seconds 0: only the very second of authentication.
    expect(currentLevel(L, session, T, { max_age_seconds: 0 })).toBe(3);
    expect(currentLevel(L, session, T + 1, { max_age_seconds: 0 })).toBe(0);
  });

  it('allowed_factors: pwd + TOTP is only loa1 for a client allowing only webauthn', () => {
    const methods = [pwd(), totp()];
    expect(currentLevel(L, methods, T, NONE)).toBe(2);
    expect(currentLevel(L, methods, T, { allowed_factors: ['webauthn'] })).toBe(1);
    expect(holds(rule('loa2'), methods, T, { allowed_factors: ['webauthn'] })).toBe(false);
    expect(currentLevel(L, methods, T, { allowed_factors: ['totp'] })).toBe(2);
    expect(currentLevel(L, [pwd(), passkey(false)], T, { allowed_factors: ['webauthn'] })).toBe(3);
    expect(currentLevel(L, [pwd(), backup()], T, { allowed_factors: ['totp', 'webauthn'] })).toBe(1);
  });

  it('nothing verified → level 0, no acr', () => {
    expect(currentLevel(L, [], T, NONE)).toBe(0);
    expect(strongestHeld(L, [], T, NONE)).toBeUndefined();
    expect(currentLevel(L, [backup()], T, NONE)).toBe(0);
  });
});

describe('tokenAcr()', () => {
  const phrSession = [pwd(T), passkey(false, T)];

  it('essential [loa2] with phr held → "loa2" (never an unrequested value)', () => {
    const req = requirement(L, NONE, { claimsAcr: { essential: true, values: ['loa2'] } });
    expect(tokenAcr(L, req, phrSession, T, NONE)).toBe('loa2');
  });

  it('voluntary request: the strongest accepted level held now', () => {
    const req = requirement(L, NONE, { acrValues: 'loa1' });
    expect(tokenAcr(L, req, phrSession, T, NONE)).toBe('phr');
    expect(tokenAcr(L, req, phrSession, T + 15 * MIN + 1, NONE)).toBe('loa2');
    expect(tokenAcr(L, req, [pwd()], T, NONE)).toBe('loa1');
  });

  it('undefined when the session does not (or no longer) hold the requirement', () => {
    const loa2 = requirement(L, NONE, { acrValues: 'loa2' });
    expect(tokenAcr(L, loa2, [pwd()], T, NONE)).toBeUndefined();
    expect(tokenAcr(L, loa2, phrSession, T + 12 * HOUR + 1, NONE)).toBeUndefined();
    const phr = requirement(L, NONE, { acrValues: 'phr' });
    expect(tokenAcr(L, phr, [pwd(), totp()], T, NONE)).toBeUndefined();
    expect(tokenAcr(L, phr, phrSession, T + 15 * MIN + 1, NONE)).toBeUndefined();
  });

  it('client minimum: a loa1 session gets no acr for a loa2 client even when the RP asked for loa1', () => {
    const policy: ClientPolicy = { min_acr: 'loa2' };
    const req = requirement(L, policy, { acrValues: 'loa1' });
    expect(tokenAcr(L, req, [pwd()], T, policy)).toBeUndefined();
    expect(tokenAcr(L, req, [pwd(), totp()], T, policy)).toBe('loa2');
  });

  it('respects allowed_factors and max_age_seconds of the client', () => {
    const req = requirement(L, NONE, { acrValues: 'loa2' });
    expect(tokenAcr(L, req, [pwd(), totp()], T, { allowed_factors: ['webauthn'] })).toBeUndefined();
    expect(tokenAcr(L, req, [pwd(), totp()], T + 301, { max_age_seconds: 300 })).toBeUndefined();
    expect(tokenAcr(L, req, [pwd(), totp()], T + 300, { max_age_seconds: 300 })).toBe('loa2');
  });

  it('skips accepted names that are not in the level table', () => {
    expect(tokenAcr(L, { level: 1, floor: 1, accepted: ['urn:ghost', 'loa1'], essential: true, unmet: false }, [pwd()], T, NONE)).toBe('loa1');
    expect(tokenAcr(L, { level: 1, floor: 1, accepted: [], essential: true, unmet: false }, phrSession, T, NONE)).toBeUndefined();
  });
});

describe('usefulFactors()', () => {
  const all = [C_TOTP, C_BACKUP, C_WEBAUTHN];

  it('after the password, every second factor can reach loa2', () => {
    expect(usefulFactors(rule('loa2'), [pwd()], all, T, NONE)).toEqual(all);
  });

  it('phr: only phishing-resistant candidates when none was verified yet', () => {
    expect(usefulFactors(rule('phr'), [pwd()], all, T, NONE)).toEqual([C_WEBAUTHN]);
  });

  it('empty when the level is unreachable with every candidate together', () => {
    expect(usefulFactors(rule('phr'), [pwd()], [C_TOTP, C_BACKUP], T, NONE)).toEqual([]);
    expect(usefulFactors(rule('loa2'), [], [C_TOTP, C_BACKUP], T, NONE)).toEqual([]); // possession only, one category
    expect(usefulFactors(rule('loa2'), [pwd()], [], T, NONE)).toEqual([]);
  });

  it('once a phishing-resistant method is verified, a second category is what is missing', () => {
    // Passkey without UV verified: phr still needs a second category; TOTP/backup are possession too → none helps.
    expect(usefulFactors(rule('phr'), [passkey(false)], [C_TOTP, C_BACKUP], T, NONE)).toEqual([]);
  });

  it('client allowed_factors filter the candidates', () => {
    expect(usefulFactors(rule('loa2'), [pwd()], all, T, { allowed_factors: ['totp'] })).toEqual([C_TOTP]);
    expect(usefulFactors(rule('phr'), [pwd()], all, T, { allowed_factors: ['totp', 'backup_code'] })).toEqual([]);
  });

  it('only fresh verified methods count towards reachability', () => {
    // Password verified at T; at T + 16 min it is too old for phr (15 min) and candidates are modelled without
    // user verification, so a passkey alone cannot reach phr → empty (the flow then answers unmet; see report).
    expect(usefulFactors(rule('phr'), [pwd(T)], [C_WEBAUTHN], T + 16 * MIN, NONE)).toEqual([]);
    expect(usefulFactors(rule('phr'), [pwd(T)], [C_WEBAUTHN], T + 15 * MIN, NONE)).toEqual([C_WEBAUTHN]);
    expect(usefulFactors(rule('loa2'), [pwd(T)], [C_TOTP], T + 12 * HOUR + 1, NONE)).toEqual([]);
  });
});

describe('client policy (clientPolicySchema / readClientPolicy)', () => {
  it('reads stepwise_policy from client metadata', () => {
    const policy = { min_acr: 'loa2', allowed_factors: ['webauthn'], max_age_seconds: 600, acr_levels: { 'urn:x': 2 }, allow_lower_acr: true, remembered_devices: false };
    expect(readClientPolicy({ client_id: 'a', stepwise_policy: policy })).toEqual(policy);
  });

  it('no client or no policy → empty policy', () => {
    expect(readClientPolicy(undefined)).toEqual({});
    expect(readClientPolicy({ client_id: 'a' })).toEqual({});
  });

  it('the schema rejects unknown keys, unknown factors, out-of-range values', () => {
    expect(clientPolicySchema.safeParse({ min_acr: 'loa2', extra: 1 }).success).toBe(false);
    expect(clientPolicySchema.safeParse({ allowed_factors: ['carrier_pigeon'] }).success).toBe(false);
    expect(clientPolicySchema.safeParse({ allowed_factors: ['sms', 'totp'] }).success).toBe(true);
    expect(clientPolicySchema.safeParse({ allowed_factors: [] }).success).toBe(false);
    expect(clientPolicySchema.safeParse({ max_age_seconds: -1 }).success).toBe(false);
    expect(clientPolicySchema.safeParse({ max_age_seconds: 1.5 }).success).toBe(false);
    expect(clientPolicySchema.safeParse({ acr_levels: { x: 0 } }).success).toBe(false);
    expect(clientPolicySchema.safeParse({ acr_levels: { x: 11 } }).success).toBe(false);
    expect(clientPolicySchema.safeParse({ min_acr: '' }).success).toBe(false);
  });

  it('CURRENT behaviour: an invalid stored policy is dropped whole (reported: fails open)', () => {
    // A min_acr next to one invalid key is lost: the client then has no minimum at all.
    expect(readClientPolicy({ stepwise_policy: { min_acr: 'loa2', allowed_factors: ['carrier_pigeon'] } })).toEqual({});
  });
});
