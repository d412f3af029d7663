/**
 * The assurance-level table (security checklist 72, 73, 81; DESIGN.md "Assurance levels", "amr values").
 * Pure functions: every case uses fixed method sets and fixed times.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_LEVELS, amrFor, amrForLevel, factorStrength, highestReached, satisfies, type LevelRule } from '../../src/policy/levels.js';
import type { VerifiedMethod } from '../../src/factors/types.js';

const T = 1_700_000_000;

// Method shapes exactly as the factor modules produce them (src/factors/*).
const pwd = (at = T): VerifiedMethod => ({ kind: 'password', amr: ['pwd'], category: 'knowledge', phishingResistant: false, userVerified: false, at });
const totp = (at = T): VerifiedMethod => ({ kind: 'totp', amr: ['otp'], category: 'possession', phishingResistant: false, userVerified: false, at });
const backup = (at = T): VerifiedMethod => ({ kind: 'backup_code', amr: ['otp'], category: 'possession', phishingResistant: false, userVerified: false, at });
const passkey = (opts: { uv: boolean; hw?: boolean; at?: number }): VerifiedMethod => ({
  kind: 'webauthn',
  amr: [opts.hw ? 'hwk' : 'swk', ...(opts.uv ? ['user'] : [])],
  category: 'possession',
  phishingResistant: true,
  userVerified: opts.uv,
  at: opts.at ?? T,
});

const rule = (acr: string): LevelRule => DEFAULT_LEVELS.find((l) => l.acr === acr)!;
const reached = (methods: VerifiedMethod[]) => highestReached(DEFAULT_LEVELS, methods)?.acr;
const allSatisfied = (methods: VerifiedMethod[]) => DEFAULT_LEVELS.filter((l) => satisfies(l, methods)).map((l) => l.acr);

describe('DEFAULT_LEVELS', () => {
  it('matches DESIGN.md: loa1 < loa2 < phr, max ages 14 d (session) / 12 h / 15 min', () => {
    expect(DEFAULT_LEVELS.map((l) => [l.acr, l.level, l.minFactors, l.phishingResistant, l.maxAgeSeconds])).toEqual([
      ['loa1', 1, 1, false, 14 * 24 * 3600],
      ['loa2', 2, 2, false, 12 * 3600],
      ['phr', 3, 2, true, 15 * 60],
    ]);
  });
});

describe('AAL table: every combination of password, TOTP, backup code and one passkey (checklist 72)', () => {
  type Webauthn = 'none' | 'uv' | 'noUv';
  // [password, totp, backup code, passkey] → [factorStrength, highest acr, every acr satisfied]
  const TABLE: Array<[boolean, boolean, boolean, Webauthn, number, string | undefined, string[]]> = [
    // no passkey
    [false, false, false, 'none', 0, undefined, []],
    [true, false, false, 'none', 1, 'loa1', ['loa1']], // pwd → loa1 (checklist 73: password alone is not AAL2)
    // TOTP is a second factor only: alone it reaches nothing (only a password or a passkey starts a sign-in).
    [false, true, false, 'none', 0, undefined, []],
    [false, false, true, 'none', 0, undefined, []], // a backup code is never the only factor
    [true, true, false, 'none', 2, 'loa2', ['loa1', 'loa2']], // pwd + otp → loa2, never phr (checklist 31)
    [true, false, true, 'none', 2, 'loa2', ['loa1', 'loa2']], // pwd + backup → loa2
    // TOTP + backup code: second factors only, no password or passkey → nothing.
    [false, true, true, 'none', 0, undefined, []], // two second factors without a first one reach nothing
    [true, true, true, 'none', 2, 'loa2', ['loa1', 'loa2']],
    // passkey with user verification: a multi-factor authenticator (two factors) and phishing-resistant
    [false, false, false, 'uv', 2, 'phr', ['loa1', 'loa2', 'phr']],
    [true, false, false, 'uv', 2, 'phr', ['loa1', 'loa2', 'phr']],
    [false, true, false, 'uv', 2, 'phr', ['loa1', 'loa2', 'phr']],
    [false, false, true, 'uv', 2, 'phr', ['loa1', 'loa2', 'phr']],
    [true, true, false, 'uv', 2, 'phr', ['loa1', 'loa2', 'phr']],
    [true, false, true, 'uv', 2, 'phr', ['loa1', 'loa2', 'phr']],
    [false, true, true, 'uv', 2, 'phr', ['loa1', 'loa2', 'phr']],
    [true, true, true, 'uv', 2, 'phr', ['loa1', 'loa2', 'phr']],
    // passkey without user verification: one possession factor. Alone it is loa1 only — DESIGN.md's loa1
    // row says "one factor: password, or a passkey", and loa2 needs "a passkey *with* user verification".
    [false, false, false, 'noUv', 1, 'loa1', ['loa1']],
    // + password: two categories, one of them phishing-resistant → phr (DESIGN: "WebAuthn used").
    [true, false, false, 'noUv', 2, 'phr', ['loa1', 'loa2', 'phr']],
    // + TOTP / backup code: still only the possession category → loa1, however many are stacked.
    [false, true, false, 'noUv', 1, 'loa1', ['loa1']],
    [false, false, true, 'noUv', 1, 'loa1', ['loa1']],
    [false, true, true, 'noUv', 1, 'loa1', ['loa1']],
    [true, true, false, 'noUv', 2, 'phr', ['loa1', 'loa2', 'phr']],
    [true, false, true, 'noUv', 2, 'phr', ['loa1', 'loa2', 'phr']],
    [true, true, true, 'noUv', 2, 'phr', ['loa1', 'loa2', 'phr']],
  ];

  it('enumerates all 24 combinations exactly once', () => {
    const keys = new Set(TABLE.map(([p, t, b, w]) => `${p}${t}${b}${w}`));
    expect(keys.size).toBe(24);
  });

  for (const [p, t, b, w, strength, highest, all] of TABLE) {
    const names = [p && 'pwd', t && 'totp', b && 'backup', w !== 'none' && `passkey(${w})`].filter(Boolean).join(' + ') || '(nothing)';
    it(`${names} → strength ${strength}, ${highest ?? 'no level'}`, () => {
      const methods: VerifiedMethod[] = [
        ...(p ? [pwd()] : []),
        ...(t ? [totp()] : []),
        ...(b ? [backup()] : []),
        ...(w === 'none' ? [] : [passkey({ uv: w === 'uv' })]),
      ];
      expect(factorStrength(methods)).toBe(strength);
      expect(reached(methods)).toBe(highest);
      expect(allSatisfied(methods)).toEqual(all);
      // Order of verification never matters.
      expect(reached([...methods].reverse())).toBe(highest);
    });
  }

  it('every loa2 combination contains a replay-resistant authenticator (checklist 73)', () => {
    // Password is the only non-replay-resistant method; it alone never reaches loa2.
    expect(satisfies(rule('loa2'), [pwd()])).toBe(false);
    expect(satisfies(rule('loa2'), [pwd(), pwd(T + 1)])).toBe(false); // entering the password twice is still one factor
  });

  it('phr needs a phishing-resistant method: no amount of pwd/otp/backup reaches it (checklist 31, 71)', () => {
    expect(satisfies(rule('phr'), [pwd(), totp()])).toBe(false);
    expect(satisfies(rule('phr'), [pwd(), totp(), backup()])).toBe(false);
    expect(satisfies(rule('loa2'), [pwd(), totp()])).toBe(true);
  });

  it('hardware and software passkeys rank the same (amr differs only)', () => {
    expect(reached([passkey({ uv: true, hw: true })])).toBe('phr');
    expect(reached([passkey({ uv: false, hw: true })])).toBe('loa1');
    expect(reached([pwd(), passkey({ uv: false, hw: true })])).toBe('phr');
  });
});

describe('satisfies / highestReached with custom rules', () => {
  it('a phishing-resistant single-factor rule takes a passkey without UV but not a password', () => {
    const prOnly: LevelRule = { acr: 'pr1', level: 5, maxAgeSeconds: 60, minFactors: 1, phishingResistant: true };
    expect(satisfies(prOnly, [passkey({ uv: false })])).toBe(true);
    expect(satisfies(prOnly, [pwd()])).toBe(false);
    expect(satisfies(prOnly, [])).toBe(false);
  });

  it('a three-factor rule is out of reach: a UV passkey counts as two, not three', () => {
    const three: LevelRule = { acr: 'three', level: 4, maxAgeSeconds: 60, minFactors: 3, phishingResistant: false };
    expect(satisfies(three, [pwd(), passkey({ uv: true })])).toBe(false);
    expect(satisfies(three, [pwd(), totp(), passkey({ uv: true })])).toBe(false); // only two categories exist in the set
  });

  it('picks the highest rule regardless of input order and does not reorder the input', () => {
    const levels = [rule('phr'), rule('loa1'), rule('loa2')];
    expect(highestReached(levels, [pwd(), totp()])?.acr).toBe('loa2');
    expect(levels.map((l) => l.acr)).toEqual(['phr', 'loa1', 'loa2']);
    expect(highestReached([], [pwd()])).toBeUndefined();
  });

  it('ignores verification times (freshness is decision.ts\'s job)', () => {
    expect(reached([pwd(0), totp(T)])).toBe('loa2');
  });
});

describe('amr (RFC 8176; DESIGN.md "amr values"; checklist 81)', () => {
  const sorted = (a: string[]) => [...a].sort();

  it('single methods report their own values and no mfa', () => {
    expect(amrFor([pwd()])).toEqual(['pwd']);
    expect(amrFor([totp()])).toEqual(['otp']);
    expect(amrFor([backup()])).toEqual(['otp']);
    expect(amrFor([passkey({ uv: false, hw: true })])).toEqual(['hwk']);
    expect(amrFor([passkey({ uv: false })])).toEqual(['swk']);
    expect(amrFor([])).toEqual([]);
  });

  it('a UV passkey counts as two factors for loa2, so it also carries mfa (issue 8, hole 7)', () => {
    expect(sorted(amrFor([passkey({ uv: true })]))).toEqual(['mfa', 'swk', 'user']);
    expect(sorted(amrFor([passkey({ uv: true, hw: true })]))).toEqual(['hwk', 'mfa', 'user']);
    expect(amrFor([passkey({ uv: false })])).toEqual(['swk']);
  });

  it('mfa in amr exactly when the methods reach a two-factor level (amr and acr never disagree)', () => {
    const loa2 = DEFAULT_LEVELS.find((l) => l.acr === 'loa2')!;
    const sets: VerifiedMethod[][] = [[pwd()], [totp()], [pwd(), totp()], [passkey({ uv: true })], [passkey({ uv: false })], [passkey({ uv: false }), totp()], [pwd(), backup()], [backup(), totp()]];
    for (const methods of sets) expect(amrFor(methods).includes('mfa'), JSON.stringify(methods.map((m) => m.kind))).toBe(satisfies(loa2, methods));
  });

  it('password + otp → pwd, otp, mfa', () => {
    expect(sorted(amrFor([pwd(), totp()]))).toEqual(['mfa', 'otp', 'pwd']);
  });

  it('password + backup code → pwd, otp, mfa', () => {
    expect(sorted(amrFor([pwd(), backup()]))).toEqual(['mfa', 'otp', 'pwd']);
  });

  it('password + passkey → pwd, hwk|swk (+ user), mfa', () => {
    expect(sorted(amrFor([pwd(), passkey({ uv: false, hw: true })]))).toEqual(['hwk', 'mfa', 'pwd']);
    expect(sorted(amrFor([pwd(), passkey({ uv: true })]))).toEqual(['mfa', 'pwd', 'swk', 'user']);
  });

  it('two methods of one category are not mfa (TOTP + backup code, TOTP + passkey without UV)', () => {
    expect(amrFor([totp(), backup()])).toEqual(['otp']);
    expect(sorted(amrFor([totp(), passkey({ uv: false })]))).toEqual(['otp', 'swk']);
    expect(amrFor([pwd(), pwd(T + 5)])).toEqual(['pwd']);
  });

  it('is an array of unique strings, from the documented set only', () => {
    const documented = new Set(['pwd', 'otp', 'sms', 'swk', 'hwk', 'user', 'mfa']);
    const combos: VerifiedMethod[][] = [
      [pwd(), totp(), backup(), passkey({ uv: true }), passkey({ uv: true, hw: true })],
      [pwd(), totp(), totp(T + 30), backup()],
      [passkey({ uv: true }), passkey({ uv: true })],
    ];
    for (const methods of combos) {
      const amr = amrFor(methods);
      expect(Array.isArray(amr)).toBe(true);
      expect(new Set(amr).size).toBe(amr.length);
      for (const v of amr) expect(documented.has(v), v).toBe(true);
    }
    expect(sorted(amrFor(combos[0]!))).toEqual(['hwk', 'mfa', 'otp', 'pwd', 'swk', 'user']);
    expect(sorted(amrFor(combos[1]!))).toEqual(['mfa', 'otp', 'pwd']);
    expect(sorted(amrFor(combos[2]!))).toEqual(['mfa', 'swk', 'user']); // a UV passkey is two factors
  });

  it('without a UV passkey, mfa appears exactly when two categories were verified', () => {
    const sets: VerifiedMethod[][] = [[pwd()], [totp()], [pwd(), totp()], [totp(), backup()], [pwd(), backup()], [passkey({ uv: false }), backup()]];
    for (const methods of sets) {
      const categories = new Set(methods.map((m) => m.category)).size;
      expect(amrFor(methods).includes('mfa'), methods.map((m) => m.kind).join('+')).toBe(categories >= 2);
    }
  });

  it('amrForLevel: a one-factor level names only its primary methods and never mfa', () => {
    const loa1 = DEFAULT_LEVELS.find((l) => l.acr === 'loa1')!;
    const loa2 = DEFAULT_LEVELS.find((l) => l.acr === 'loa2')!;
    expect(amrForLevel(loa1, [pwd(), totp()])).toEqual(['pwd']);
    expect(sorted(amrForLevel(loa1, [passkey({ uv: true })]))).toEqual(['swk', 'user']);
    expect(sorted(amrForLevel(loa2, [pwd(), totp()]))).toEqual(['mfa', 'otp', 'pwd']);
  });

  it('does not mutate the methods\' amr arrays', () => {
    const m = [pwd(), totp()];
    amrFor(m);
    expect(m[0]!.amr).toEqual(['pwd']);
    expect(m[1]!.amr).toEqual(['otp']);
  });
});
