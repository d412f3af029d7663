/**
 * The signing-key schedule (src/oidc/keys.ts): a rotated-in key is published at once but signs only from its
 * activation; the keys it replaces keep signing until then and stay published for the grace period.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqliteStore } from '../helpers/stores.js';
import { testDb, type TestDb } from '../helpers/db.js';
import { SigningKeys } from '../../src/oidc/keys.js';

const HOUR = 3600_000;

describe('signing key schedule', () => {
  let t: TestDb;
  let keys: SigningKeys;
  beforeAll(async () => {
    t = await testDb(sqliteStore);
    keys = new SigningKeys(t.db, t.box);
  });
  afterAll(async () => t?.cleanup());

  it('publishes a next key before it signs, switches at its activation, and drops retired keys after 24 h', async () => {
    const [first] = await keys.ensure();
    const t0 = Date.now();
    const a = first!.kid;
    const { kid: b } = await keys.rotate(t0, 30_000);
    const before = await keys.current(t0 + 29_999);
    expect(before).toMatchObject({ signingKid: a, nextChangeAt: t0 + 30_000 });
    expect(before.keys.map((k) => k.kid)).toEqual([a, b]);

    // A second rotation before the first activates: b still signs for its turn, c follows.
    const { kid: c, retired } = await keys.rotate(t0 + 10_000, 30_000);
    expect(retired).toEqual([b]);
    expect((await keys.current(t0 + 30_000)).signingKid).toBe(b);
    const later = await keys.current(t0 + 40_000);
    expect(later.signingKid).toBe(c);
    expect(later.keys.map((k) => k.kid)).toEqual([c, b, a]);
    expect(later.nextChangeAt).toBeNull();

    expect((await keys.current(t0 + 30_000 + 24 * HOUR + 1)).keys.map((k) => k.kid)).toEqual([c, b]);
    expect((await keys.current(t0 + 40_000 + 24 * HOUR + 1)).keys.map((k) => k.kid)).toEqual([c]);
    expect((await keys.load(t0 + 40_000)).map((k) => k.kid)).toEqual([c, b, a]);
  });
});
