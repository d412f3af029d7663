import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { generateSync } from 'otplib';
import { checkTotp, newTotpSecret, normaliseCode, totpUri } from '../../src/factors/totp/otp.js';
import { TotpFactor, totpSecretContext } from '../../src/factors/totp/index.js';
import { FactorsRepo } from '../../src/store/repos/factors.js';
import type { FactorContext } from '../../src/factors/types.js';
import { Views } from '../../src/http/views.js';
import { storeMatrix } from '../helpers/stores.js';
import { testDb, type TestDb } from '../helpers/db.js';

const ascii = (s: string) => new TextEncoder().encode(s);

// RFC 6238 Appendix B; each hash has its own seed (the reference code's, not the RFC prose's).
const SEEDS = {
  sha1: ascii('12345678901234567890'),
  sha256: ascii('12345678901234567890123456789012'),
  sha512: ascii('1234567890123456789012345678901234567890123456789012345678901234'),
} as const;
const RFC6238: Array<[number, string, string, string]> = [
  [59, '94287082', '46119246', '90693936'],
  [1111111109, '07081804', '68084774', '25091201'],
  [1111111111, '14050471', '67062674', '99943326'],
  [1234567890, '89005924', '91819424', '93441116'],
  [2000000000, '69279037', '90698825', '38618901'],
  [20000000000, '65353130', '77737706', '47863826'],
];
// RFC 4226 Appendix D.
const RFC4226 = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489'];

/** A TOTP code (SHA-1, 6 digits, 30 s) for a given epoch in seconds. */
const codeAt = (secret: string, epochSeconds: number) => generateSync({ secret, epoch: epochSeconds });

describe('RFC test vectors (otplib)', () => {
  for (const [time, sha1, sha256, sha512] of RFC6238) {
    for (const [algorithm, expected] of [['sha1', sha1], ['sha256', sha256], ['sha512', sha512]] as const) {
      it(`RFC 6238 ${algorithm} at ${time}: ${expected} (8 digits) and ${expected.slice(-6)} (6 digits)`, () => {
        const secret = SEEDS[algorithm];
        expect(generateSync({ secret, epoch: time, algorithm, digits: 8 })).toBe(expected);
        expect(generateSync({ secret, epoch: time, algorithm, digits: 6 })).toBe(expected.slice(-6));
      });
    }
  }

  it('RFC 6238 SHA-1 seed in Base32 (as in otpauth URIs) gives the same codes, keeping leading zeros', () => {
    const b32 = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
    expect(generateSync({ secret: b32, epoch: 1111111109, digits: 8 })).toBe('07081804');
    expect(generateSync({ secret: b32, epoch: 1111111109 })).toBe('081804');
    expect(generateSync({ secret: b32, epoch: 1111111111 })).toBe('050471');
    expect(generateSync({ secret: b32, epoch: 1234567890 })).toBe('005924');
    expect(generateSync({ secret: b32, epoch: 20000000000 })).toBe('353130');
  });

  it('RFC 4226 HOTP counters 0-9', () => {
    RFC4226.forEach((expected, counter) => {
      expect(generateSync({ strategy: 'hotp', secret: SEEDS.sha1, counter })).toBe(expected);
    });
  });

  it('checkTotp accepts the RFC 6238 6-digit codes (last 6 digits) with the Base32 seed', () => {
    const b32 = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
    for (const [time, sha1] of RFC6238) {
      expect(checkTotp({ secret: b32, code: sha1.slice(-6), now: time * 1000, lastUsedStep: null })).toEqual({
        ok: true,
        step: Math.floor(time / 30),
      });
    }
  });
});

describe('TOTP helpers', () => {
  const secret = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
  const T = 60_000_000; // step number; 30·T = 1_800_000_000 s
  const at = (step: number) => codeAt(secret, step * 30);

  it('newTotpSecret: 160-bit Base32, unique', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const s = newTotpSecret();
      expect(s).toMatch(/^[A-Z2-7]{32}$/); // 32 Base32 chars = 20 bytes
      seen.add(s);
    }
    expect(seen.size).toBe(200);
  });

  it('totpUri: otpauth URI with issuer, account and secret', () => {
    const uri = new URL(totpUri({ issuer: 'Stepwise', account: 'ann@example.test', secret }));
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe('/Stepwise:ann@example.test');
    expect(uri.searchParams.get('secret')).toBe(secret);
    expect(uri.searchParams.get('issuer')).toBe('Stepwise');
    for (const [k, v] of [['algorithm', 'SHA1'], ['digits', '6'], ['period', '30']] as const) {
      const got = uri.searchParams.get(k);
      if (got !== null) expect(got.toUpperCase()).toBe(v);
    }
  });

  it('normaliseCode strips spaces and dashes', () => {
    expect(normaliseCode(' 123 456 ')).toBe('123456');
    expect(normaliseCode('123-456')).toBe('123456');
    expect(normaliseCode(123456)).toBe('');
    expect(normaliseCode(undefined)).toBe('');
  });

  for (const offset of [0, 15, 29]) {
    it(`window at ${offset}s into step T: T-1, T, T+1 accepted; T-2, T+2 rejected`, () => {
      const now = (T * 30 + offset) * 1000;
      for (const d of [-1, 0, 1]) expect(checkTotp({ secret, code: at(T + d), now, lastUsedStep: null })).toEqual({ ok: true, step: T + d });
      for (const d of [-2, 2, -3, 3]) {
        const code = at(T + d);
        // Skip the (10^-6) case of a code colliding with one inside the window.
        if ([-1, 0, 1].some((w) => at(T + w) === code)) continue;
        expect(checkTotp({ secret, code, now, lastUsedStep: null })).toEqual({ ok: false, reason: 'invalid' });
      }
    });
  }

  it('a step <= lastUsedStep is reused; later steps pass', () => {
    const now = (T * 30 + 10) * 1000;
    expect(checkTotp({ secret, code: at(T), now, lastUsedStep: T })).toEqual({ ok: false, reason: 'reused' });
    expect(checkTotp({ secret, code: at(T - 1), now, lastUsedStep: T })).toEqual({ ok: false, reason: 'reused' });
    expect(checkTotp({ secret, code: at(T + 1), now, lastUsedStep: T })).toEqual({ ok: true, step: T + 1 });
    expect(checkTotp({ secret, code: at(T), now, lastUsedStep: T - 1 })).toEqual({ ok: true, step: T });
    expect(checkTotp({ secret, code: at(T), now, lastUsedStep: T + 1 })).toEqual({ ok: false, reason: 'reused' });
    expect(checkTotp({ secret, code: '000000' === at(T) ? '111111' : '000000', now, lastUsedStep: T })).toMatchObject({ ok: false });
  });

  it('accepts codes with spaces or dashes', () => {
    const now = T * 30 * 1000;
    const c = at(T);
    expect(checkTotp({ secret, code: `${c.slice(0, 3)} ${c.slice(3)}`, now, lastUsedStep: null })).toEqual({ ok: true, step: T });
    expect(checkTotp({ secret, code: `${c.slice(0, 3)}-${c.slice(3)}`, now, lastUsedStep: null })).toEqual({ ok: true, step: T });
  });

  it('malformed input never throws and is invalid', () => {
    const now = T * 30 * 1000;
    const bad: unknown[] = ['', '12345', '1234567', 'abcdef', '12345a', '١٢٣٤٥٦', null, undefined, 123456, {}, ['123456'], `${at(T)}\n0`];
    for (const code of bad) expect(checkTotp({ secret, code, now, lastUsedStep: null })).toEqual({ ok: false, reason: 'invalid' });
    for (const s of ['', 'AAAA', '!!!!!!!!!!!!!!!!!!!!', 'not base32 at all 0189']) {
      expect(checkTotp({ secret: s, code: '123456', now, lastUsedStep: null })).toEqual({ ok: false, reason: 'invalid' });
    }
    expect(checkTotp({ secret, code: at(T), now: Number.NaN, lastUsedStep: null })).toEqual({ ok: false, reason: 'invalid' });
    expect(checkTotp({ secret, code: at(T), now: -1, lastUsedStep: null })).toEqual({ ok: false, reason: 'invalid' });
  });
});

describe('TOTP views', () => {
  const views = new Views(false);
  const base = { title: 'Verify', action: '/x/verify', csrf: 'csrf-token', error: null, alternatives: [{ label: 'Use a backup code', href: '/x/backup' }] };

  it('challenge: form, code input, alternatives, error next to the field', async () => {
    const html = await views.render('factors/totp-challenge', { ...base, error: { message: 'Bad <code>', field: 'code' } });
    expect(html).toContain('action="/x/verify"');
    expect(html).toContain('name="csrf" value="csrf-token"');
    expect(html).toMatch(/name="code"[^>]*autocomplete="one-time-code"[^>]*inputmode="numeric"[^>]*pattern="\[0-9 \]\*"/);
    expect(html).toContain('data-testid="code-error">Bad &lt;code&gt;');
    expect(html).toContain('data-testid="code-submit"');
    expect(html).toContain('href="/x/backup"');
  });

  it('enroll: QR, secret, hidden factorId, confirm button', async () => {
    const html = await views.render('factors/totp-enroll', {
      ...base,
      alternatives: [],
      factorId: 'f-1',
      secret: 'ABCDEFGH',
      otpauthUri: 'otpauth://totp/x',
      qrDataUrl: 'data:image/png;base64,AAA=',
    });
    expect(html).toMatch(/<img src="data:image\/png;base64,AAA="[^>]*alt="[^"]+"/);
    expect(html).toContain('data-testid="totp-secret">ABCDEFGH<');
    expect(html).toContain('name="factorId" value="f-1"');
    expect(html).toContain('data-testid="totp-confirm"');
    expect(html).not.toContain('data-testid="code-error"');
  });
});

const ctxFor = (user: { id: string; email: string }, now: number): FactorContext => ({
  userId: user.id,
  userEmail: user.email,
  userName: null,
  scope: 'test-scope',
  now,
});

describe.each(storeMatrix)('TotpFactor on $name', (kind) => {
  let t: TestDb;
  let factors: FactorsRepo;
  let totp: TotpFactor;
  const T = 60_000_000;
  const nowAt = (step: number, offset = 10) => (step * 30 + offset) * 1000;

  beforeAll(async () => {
    t = await testDb(kind);
    factors = new FactorsRepo(t.db);
    totp = new TotpFactor({ factors, box: t.box, issuer: 'Stepwise' });
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('info', () => {
    expect(totp.info).toEqual({ kind: 'totp', label: 'Authenticator app', category: 'possession', phishingResistant: false, canBePrimary: false });
  });

  it('enroll → confirm → verify → replay refused → concurrent use wins once', async () => {
    const user = await t.user();
    const other = await t.user();
    const ctx = (step: number, offset?: number) => ctxFor(user, nowAt(step, offset));

    expect(await totp.startChallenge(ctx(T))).toEqual({});
    const view = (await totp.startEnrollment(ctx(T), { name: '  My phone  ' })) as {
      factorId: string;
      secret: string;
      otpauthUri: string;
      qrDataUrl: string;
    };
    expect(Object.keys(view).sort()).toEqual(['factorId', 'otpauthUri', 'qrDataUrl', 'secret']);
    expect(view.secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(view.otpauthUri).toContain(`secret=${view.secret}`);
    expect(view.otpauthUri).toContain('issuer=Stepwise');
    expect(view.qrDataUrl).toMatch(/^data:image\/png;base64,/);

    // Stored pending and encrypted, bound to its row.
    const pending = await factors.findById(view.factorId);
    expect(pending).toMatchObject({ userId: user.id, kind: 'totp', status: 'pending', name: 'My phone', lastUsedStep: null });
    const raw = await t.db('factors').where({ id: view.factorId }).first();
    expect(JSON.stringify(raw)).not.toContain(view.secret);
    expect(t.box.decryptString(pending!.secretEnc!, totpSecretContext(view.factorId))).toBe(view.secret);
    expect(() => t.box.decryptString(pending!.secretEnc!, totpSecretContext('another-id'))).toThrow();

    // A second pending enrollment is refused; a pending factor does not verify.
    await expect(totp.startEnrollment(ctx(T), {})).rejects.toMatchObject({ code: 'factor_pending' });
    await expect(totp.verify(ctx(T), { code: codeAt(view.secret, T * 30) })).rejects.toMatchObject({ code: 'invalid_code', field: 'code' });

    // Confirmation: bad input, wrong code, someone else's factor.
    await expect(totp.finishEnrollment(ctx(T), { factorId: view.factorId, code: '12ab56' })).rejects.toMatchObject({
      code: 'invalid_form',
      field: 'code',
    });
    await expect(totp.finishEnrollment(ctx(T), { code: '123456' })).rejects.toMatchObject({ code: 'invalid_form', field: 'code' });
    const good = codeAt(view.secret, T * 30);
    const wrong = good === '000000' ? '000001' : '000000';
    await expect(totp.finishEnrollment(ctx(T), { factorId: view.factorId, code: wrong })).rejects.toMatchObject({
      code: 'invalid_code',
      field: 'code',
    });
    await expect(totp.finishEnrollment(ctxFor(other, nowAt(T)), { factorId: view.factorId, code: good })).rejects.toMatchObject({
      code: 'not_found',
    });
    await expect(totp.finishEnrollment(ctx(T), { factorId: 'nope', code: good })).rejects.toMatchObject({ code: 'not_found' });

    const done = await totp.finishEnrollment(ctx(T), { factorId: view.factorId, code: good });
    expect(done).toEqual({ factorId: view.factorId, view: {} });
    expect(await factors.findById(view.factorId)).toMatchObject({ status: 'active', lastUsedStep: T });
    await expect(totp.finishEnrollment(ctx(T), { factorId: view.factorId, code: good })).rejects.toMatchObject({ code: 'not_found' });

    // The confirmation code cannot be replayed at sign-in.
    await expect(totp.verify(ctx(T), { code: good })).rejects.toMatchObject({ code: 'code_reused', field: 'code' });

    // Next step's code works once.
    const next = codeAt(view.secret, (T + 1) * 30);
    const method = await totp.verify(ctx(T + 1, 5), { code: `${next.slice(0, 3)} ${next.slice(3)}` });
    expect(method).toEqual({
      kind: 'totp',
      factorId: view.factorId,
      amr: ['otp'],
      category: 'possession',
      phishingResistant: false,
      userVerified: false,
      at: Math.floor(nowAt(T + 1, 5) / 1000),
    });
    await expect(totp.verify(ctx(T + 1, 6), { code: next })).rejects.toMatchObject({ code: 'code_reused', field: 'code' });
    // An older code that is still inside the window is refused too.
    if (good !== next) await expect(totp.verify(ctx(T + 1, 7), { code: good })).rejects.toMatchObject({ code: 'code_reused' });

    // Wrong, malformed, and out-of-window codes.
    const later = codeAt(view.secret, (T + 4) * 30);
    await expect(totp.verify(ctx(T + 1, 8), { code: later })).rejects.toMatchObject({ code: 'invalid_code', field: 'code' });
    for (const code of ['', '12345', 'abcdef', undefined, 42]) {
      await expect(totp.verify(ctx(T + 1), { code })).rejects.toMatchObject({ code: 'invalid_form', field: 'code' });
    }

    // 20 concurrent verifications of one fresh code: exactly one succeeds, the rest are refused as reused.
    const fresh = codeAt(view.secret, (T + 2) * 30);
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => totp.verify(ctx(T + 2), { code: fresh })));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(ok).toHaveLength(1);
    expect(failed).toHaveLength(19);
    for (const f of failed) expect(f.reason).toMatchObject({ code: 'code_reused', field: 'code' });
    expect(await factors.findById(view.factorId)).toMatchObject({ lastUsedStep: T + 2 });

    // Another user's codes do not sign this user in.
    await expect(totp.verify(ctxFor(other, nowAt(T + 3)), { code: codeAt(view.secret, (T + 3) * 30) })).rejects.toMatchObject({
      code: 'invalid_code',
    });

    // A second authenticator can be added once nothing is pending; either one verifies.
    const second = (await totp.startEnrollment(ctx(T + 3), {})) as { factorId: string; secret: string };
    expect((await factors.findById(second.factorId))?.name).toBe('Authenticator app');
    await totp.finishEnrollment(ctx(T + 3), { factorId: second.factorId, code: codeAt(second.secret, (T + 3) * 30) });
    const viaSecond = await totp.verify(ctx(T + 4), { code: codeAt(second.secret, (T + 4) * 30) });
    expect(viaSecond.factorId).toBe(second.factorId);
    const viaFirst = await totp.verify(ctx(T + 4), { code: codeAt(view.secret, (T + 4) * 30) });
    expect(viaFirst.factorId).toBe(view.factorId);

    // Revocation takes effect at once.
    expect(await factors.remove(user.id, view.factorId)).toBe(true);
    await expect(totp.verify(ctx(T + 5), { code: codeAt(view.secret, (T + 5) * 30) })).rejects.toMatchObject({ code: 'invalid_code' });
  });

  it('rejects an overlong name', async () => {
    const user = await t.user();
    await expect(totp.startEnrollment(ctxFor(user, nowAt(T)), { name: 'x'.repeat(61) })).rejects.toMatchObject({
      code: 'invalid_form',
      field: 'name',
    });
    expect(await factors.listByUser(user.id)).toHaveLength(0);
  });
});

describe.each(storeMatrix)('TOTP enrollment races on $name', (kind) => {
  it('two concurrent starts create exactly one pending factor', async () => {
    const t = await testDb(kind);
    try {
      const factors = new FactorsRepo(t.db);
      const totp = new TotpFactor({ factors, box: t.box, issuer: 'Stepwise' });
      const u = await t.user();
      const ctx = { userId: u.id, userEmail: u.email, userName: null, scope: 's', now: Date.now() };
      const results = await Promise.allSettled(Array.from({ length: 5 }, () => totp.startEnrollment(ctx, {})));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results.filter((x) => x.status === 'rejected')) expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'factor_pending' });
      expect(await factors.listByUser(u.id, { kind: 'totp', status: 'pending' })).toHaveLength(1);
    } finally {
      await t.cleanup();
    }
  });
});
