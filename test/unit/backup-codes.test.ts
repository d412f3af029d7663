import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import {
  BackupCodesFactor,
  BACKUP_CODE_ALPHABET,
  formatBackupCode,
  generateBackupCode,
  normaliseBackupCode,
} from '../../src/factors/backup-codes/index.js';
import { BackupCodesRepo } from '../../src/store/repos/backup-codes.js';
import { FactorsRepo } from '../../src/store/repos/factors.js';
import { PasswordHasher } from '../../src/security/password.js';
import type { FactorContext } from '../../src/factors/types.js';
import { Views } from '../../src/http/views.js';
import { storeMatrix } from '../helpers/stores.js';
import { testDb, type TestDb } from '../helpers/db.js';

const A = BACKUP_CODE_ALPHABET;
const FORMATTED = new RegExp(`^[${A}]{4}-[${A}]{4}-[${A}]{4}-[${A}]{4}$`);
const NOW = 1_800_000_000_000;
const ctxFor = (user: { id: string; email: string }, now = NOW): FactorContext => ({
  userId: user.id,
  userEmail: user.email,
  userName: null,
  scope: 'test-scope',
  now,
});
const strip = (c: string) => c.replace(/-/g, '');

describe('backup code format', () => {
  it('alphabet: 32 unambiguous characters (5 bits each), 16 per code = 80 bits', () => {
    expect(new Set(A).size).toBe(32);
    expect(A).not.toMatch(/[ilou]/);
  });

  it('10^5 generated codes: well-formed, unique, characters uniformly distributed', () => {
    const n = 100_000;
    const seen = new Set<string>();
    const counts = new Map<string, number>();
    let badLength = 0;
    for (let i = 0; i < n; i++) {
      const c = generateBackupCode();
      if (c.length !== 16) badLength++;
      seen.add(c);
      for (const ch of c) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    }
    expect(badLength).toBe(0);
    expect(seen.size).toBe(n);
    expect([...counts.keys()].sort().join('')).toBe([...A].sort().join(''));
    const expected = (n * 16) / 32; // 50 000 per character; σ ≈ 220
    for (const count of counts.values()) expect(Math.abs(count - expected)).toBeLessThan(2_000);
    const re = new RegExp(`^[${A}]{16}$`);
    expect([...seen].filter((c) => !re.test(c))).toEqual([]);
  });

  it('format and normalise: case-insensitive, dashes/spaces optional, look-alikes mapped', () => {
    const c = generateBackupCode();
    const f = formatBackupCode(c);
    expect(f).toMatch(FORMATTED);
    expect(normaliseBackupCode(f)).toBe(c);
    expect(normaliseBackupCode(f.toUpperCase())).toBe(c);
    expect(normaliseBackupCode(c)).toBe(c);
    expect(normaliseBackupCode(` ${f.replace(/-/g, ' ')} `)).toBe(c);
    expect(normaliseBackupCode('0o1i-l000-0000-0000')).toBe('0011100000000000');
    for (const bad of ['', 'abcd-efgh-jkmn-pqr', 'abcd-efgh-jkmn-pqrst', 'abcd-efgh-jkmn-pqru', 'abcd_efgh_jkmn_pqrs', null, 42, undefined, 'x'.repeat(100)]) {
      expect(normaliseBackupCode(bad)).toBeNull();
    }
  });
});

describe('backup code views', () => {
  const views = new Views(false);
  it('enroll shows every code, the warning and the done link', async () => {
    const codes = Array.from({ length: 10 }, () => formatBackupCode(generateBackupCode()));
    const html = await views.render('factors/backup_code-enroll', {
      title: 'Backup codes',
      action: '/account/factors/backup_code',
      csrf: 'c',
      error: null,
      alternatives: [],
      codes,
      remaining: 10,
    });
    expect(html.match(/data-testid="backup-code"/g)).toHaveLength(10);
    for (const c of codes) expect(html).toContain(`>${c}<`);
    expect(html).toMatch(/shown only once/i);
    expect(html).toMatch(/<a href="\/account"[^>]*data-testid="backup-done"/);
  });

  it('challenge: code input (not numeric), error next to it, alternatives', async () => {
    const html = await views.render('factors/backup_code-challenge', {
      title: 'Backup code',
      action: '/i/1/backup',
      csrf: 'c',
      error: { message: 'Nope', field: 'code' },
      alternatives: [{ label: 'Use your authenticator app', href: '/i/1/totp' }],
    });
    expect(html).toMatch(/<label for="code">Backup code<\/label>/);
    expect(html).toMatch(/name="code"[^>]*autocomplete="one-time-code"/);
    expect(html).not.toContain('inputmode="numeric"');
    expect(html).toContain('data-testid="code-error">Nope<');
    expect(html).toContain('data-testid="code-submit"');
    expect(html).toContain('href="/i/1/totp"');
  });
});

describe.each(storeMatrix)('BackupCodesFactor on $name', (kind) => {
  let t: TestDb;
  let factors: FactorsRepo;
  let repo: BackupCodesRepo;
  let backup: BackupCodesFactor;

  beforeAll(async () => {
    t = await testDb(kind);
    factors = new FactorsRepo(t.db);
    repo = new BackupCodesRepo(t.db);
    backup = new BackupCodesFactor({
      factors,
      codes: repo,
      box: t.box,
      hasher: new PasswordHasher({ memoryCost: 7168, timeCost: 1, parallelism: 1 }),
    });
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  const enroll = async (user: { id: string; email: string }) =>
    (await backup.startEnrollment(ctxFor(user), {})) as { codes: string[]; remaining: number };

  it('info, challenge, finishEnrollment', async () => {
    expect(backup.info).toEqual({ kind: 'backup_code', label: 'Backup codes', category: 'possession', phishingResistant: false, canBePrimary: false });
    const user = await t.user();
    expect(await backup.startChallenge(ctxFor(user))).toEqual({});
    await expect(backup.finishEnrollment(ctxFor(user), {})).rejects.toMatchObject({ code: 'invalid_request' });
    expect(await backup.remaining(user.id)).toBe(0);
  });

  it('generates 10 well-formed unique codes; the database holds no plaintext', async () => {
    const user = await t.user();
    const view = await enroll(user);
    expect(Object.keys(view).sort()).toEqual(['codes', 'remaining']);
    expect(view.remaining).toBe(10);
    expect(view.codes).toHaveLength(10);
    expect(new Set(view.codes).size).toBe(10);
    for (const c of view.codes) expect(c).toMatch(FORMATTED);
    expect(await backup.remaining(user.id)).toBe(10);

    const rows = await t.db('backup_codes').where({ user_id: user.id });
    const factorRows = await t.db('factors').where({ user_id: user.id });
    expect(rows).toHaveLength(10);
    expect(factorRows).toHaveLength(1);
    expect(factorRows[0]).toMatchObject({ kind: 'backup_code', status: 'active' });
    expect(new Set(rows.map((r) => r.batch_id)).size).toBe(1);
    expect(JSON.parse(factorRows[0].meta as string)).toEqual({ batchId: rows[0].batch_id });

    // Salted argon2id hashes (all distinct) and keyed lookups; no code, nor any 8-character piece of one.
    expect(new Set(rows.map((r) => r.code_hash)).size).toBe(10);
    for (const r of rows) expect(r.code_hash).toMatch(/^\$argon2id\$/);
    const dump = JSON.stringify([rows, factorRows]).toLowerCase();
    for (const c of view.codes) {
      const n = strip(c);
      expect(dump).not.toContain(c);
      for (let i = 0; i + 8 <= n.length; i++) expect(dump).not.toContain(n.slice(i, i + 8));
    }
  });

  it('each code works once; remaining counts down', async () => {
    const user = await t.user();
    const { codes } = await enroll(user);
    const factorId = (await factors.listByUser(user.id, { kind: 'backup_code' }))[0]!.id;
    // Accepted as shown, in upper case, without dashes, with spaces.
    const variants = (c: string, i: number) => [c, c.toUpperCase(), strip(c), c.replace(/-/g, ' ')][i % 4]!;
    for (const [i, c] of codes.entries()) {
      const m = await backup.verify(ctxFor(user, NOW + i * 1000), { code: variants(c, i) });
      expect(m).toEqual({
        kind: 'backup_code',
        factorId,
        amr: ['otp'],
        category: 'possession',
        phishingResistant: false,
        userVerified: false,
        at: Math.floor((NOW + i * 1000) / 1000),
      });
      expect(await backup.remaining(user.id)).toBe(9 - i);
      await expect(backup.verify(ctxFor(user), { code: c })).rejects.toMatchObject({ code: 'code_reused', field: 'code' });
    }
    expect(await repo.countUnused(user.id)).toBe(0);
  });

  it('wrong, unknown, malformed and other users’ codes', async () => {
    const user = await t.user();
    const other = await t.user();
    const { codes } = await enroll(user);
    await expect(backup.verify(ctxFor(user), { code: formatBackupCode(generateBackupCode()) })).rejects.toMatchObject({
      code: 'invalid_code',
      field: 'code',
    });
    for (const code of ['', '1234', 'abcd-efgh-jkmn-pqru', undefined, 12, ['x']]) {
      await expect(backup.verify(ctxFor(user), { code })).rejects.toMatchObject({ code: 'invalid_form', field: 'code' });
    }
    // Another user (with or without codes of their own) cannot use them.
    await expect(backup.verify(ctxFor(other), { code: codes[0] })).rejects.toMatchObject({ code: 'invalid_code' });
    await enroll(other);
    await expect(backup.verify(ctxFor(other), { code: codes[0] })).rejects.toMatchObject({ code: 'invalid_code' });
    expect(await backup.remaining(user.id)).toBe(10);
  });

  it('10 concurrent uses of one code: exactly one succeeds', async () => {
    const user = await t.user();
    const { codes } = await enroll(user);
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => backup.verify(ctxFor(user), { code: codes[3] })));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(ok).toHaveLength(1);
    for (const f of failed) expect(f.reason).toMatchObject({ code: 'code_reused', field: 'code' });
    expect(await backup.remaining(user.id)).toBe(9);
  });

  it('regeneration invalidates the old set and keeps one factor row', async () => {
    const user = await t.user();
    const first = await enroll(user);
    await backup.verify(ctxFor(user), { code: first.codes[0] });
    const factorBefore = (await factors.listByUser(user.id, { kind: 'backup_code' }))[0]!;

    const second = await enroll(user);
    expect(second.remaining).toBe(10);
    expect(second.codes.filter((c) => first.codes.includes(c))).toEqual([]);
    expect(await backup.remaining(user.id)).toBe(10);
    const factorRows = await factors.listByUser(user.id, { kind: 'backup_code' });
    expect(factorRows).toHaveLength(1);
    expect(factorRows[0]!.id).toBe(factorBefore.id);
    expect(factorRows[0]!.meta.batchId).not.toBe(factorBefore.meta.batchId);
    const rows = await t.db('backup_codes').where({ user_id: user.id });
    expect(rows).toHaveLength(10);
    expect(rows.every((r) => r.batch_id === factorRows[0]!.meta.batchId)).toBe(true);

    for (const c of first.codes.slice(0, 3)) {
      await expect(backup.verify(ctxFor(user), { code: c })).rejects.toMatchObject({ code: 'invalid_code' });
    }
    expect((await backup.verify(ctxFor(user), { code: second.codes[0] })).factorId).toBe(factorBefore.id);
    expect(await backup.remaining(user.id)).toBe(9);
  });

  it('removing the factor revokes the codes at once', async () => {
    const user = await t.user();
    const { codes } = await enroll(user);
    const f = (await factors.listByUser(user.id, { kind: 'backup_code' }))[0]!;
    expect(await factors.remove(user.id, f.id)).toBe(true);
    await expect(backup.verify(ctxFor(user), { code: codes[0] })).rejects.toMatchObject({ code: 'invalid_code' });
    expect(await backup.remaining(user.id)).toBe(0);
  });

  it('repo: replaceSet is atomic, markUsed wins once, findUnusedByLookup skips used codes', async () => {
    const user = await t.user();
    await repo.replaceSet(user.id, 'b1', [
      { lookup: 'l1', codeHash: 'h1' },
      { lookup: 'l2', codeHash: 'h2' },
    ]);
    expect(await repo.countUnused(user.id)).toBe(2);
    const r1 = await repo.findUnusedByLookup(user.id, 'l1');
    expect(r1).toMatchObject({ userId: user.id, batchId: 'b1', lookup: 'l1', codeHash: 'h1', usedAt: null });
    const wins = await Promise.all(Array.from({ length: 5 }, () => repo.markUsed(r1!.id, 123)));
    expect(wins.filter(Boolean)).toHaveLength(1);
    expect(await repo.findUnusedByLookup(user.id, 'l1')).toBeUndefined();
    expect(await repo.findByLookup(user.id, 'l1')).toMatchObject({ usedAt: 123 });
    expect(await repo.countUnused(user.id)).toBe(1);

    // A failing insert (duplicate primary key is impossible here, so force a NOT NULL violation) rolls back the delete.
    await expect(repo.replaceSet(user.id, 'b2', [{ lookup: 'l3', codeHash: null as unknown as string }])).rejects.toThrow();
    expect(await repo.countUnused(user.id)).toBe(1);
    expect(await repo.findByLookup(user.id, 'l2')).toMatchObject({ batchId: 'b1' });

    await repo.replaceSet(user.id, 'b3', [{ lookup: 'l4', codeHash: 'h4' }]);
    expect(await repo.findByLookup(user.id, 'l1')).toBeUndefined();
    expect(await repo.countUnused(user.id)).toBe(1);
  });
});
