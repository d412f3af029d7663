/**
 * WebAuthn relying-party checks (security checklist B7, items 57–69) against the real stores:
 * SQLite + SqlKv always, PostgreSQL + Redis when TEST_DATABASE_URL / TEST_REDIS_URL are set.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { storeMatrix } from '../helpers/stores.js';
import { testDb, type TestDb } from '../helpers/db.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';
import { WebAuthnFactor, webauthnAmr } from '../../src/factors/webauthn/index.js';
import { FactorsRepo } from '../../src/store/repos/factors.js';
import { RedisKv, SqlKv, type KvStore } from '../../src/store/kv.js';
import { AppError } from '../../src/errors/index.js';
import type { FactorContext } from '../../src/factors/types.js';
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
} from '@simplewebauthn/server';

const RP_ID = 'localhost';
const ORIGIN = 'http://localhost:3000';

async function expectAppError(p: Promise<unknown>, code: string, message?: RegExp): Promise<AppError> {
  const err = await p.then(
    () => {
      throw new Error(`expected AppError(${code}), got success`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  expect((err as AppError).code).toBe(code);
  if (message) expect((err as AppError).message).toMatch(message);
  return err as AppError;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(storeMatrix)('WebAuthnFactor on $name', (kind) => {
  let t: TestDb;
  let kv: KvStore;
  let redis: Redis | undefined;
  let factors: FactorsRepo;
  let wa: WebAuthnFactor;

  beforeAll(async () => {
    t = await testDb(kind);
    if (kind.name === 'sqlite') kv = new SqlKv(t.db);
    else {
      redis = new Redis(t.env.REDIS_URL!);
      kv = new RedisKv(redis, t.env.REDIS_PREFIX);
    }
    factors = new FactorsRepo(t.db);
    wa = new WebAuthnFactor({ factors, kv, rpID: RP_ID, rpName: 'Stepwise', origin: ORIGIN });
  });

  afterAll(async () => {
    await redis?.quit();
    await t?.cleanup();
  });

  const ctxFor = (user: { id: string; email: string }, scope = `s-${randomBytes(6).toString('hex')}`): FactorContext => ({
    userId: user.id,
    userEmail: user.email,
    userName: null,
    scope,
    now: Date.now(),
  });

  /** A new user with one registered credential on `auth`. */
  async function enrolled(auth = new SoftAuthenticator({ rpID: RP_ID, origin: ORIGIN }), name = 'My key') {
    const user = await t.user();
    const ctx = ctxFor(user);
    const start = await wa.startEnrollment(ctx, { name });
    const optionsJSON = start.optionsJSON as PublicKeyCredentialCreationOptionsJSON;
    const response = auth.register(optionsJSON);
    const { factorId } = await wa.finishEnrollment(ctx, { response, name });
    return { user, ctx, auth, factorId, credentialId: response.id };
  }

  async function challenge(ctx: FactorContext) {
    return (await wa.startChallenge(ctx)).optionsJSON as PublicKeyCredentialRequestOptionsJSON;
  }

  describe('registration', () => {
    it('stores an active credential with metadata and a stable user handle', async () => {
      const user = await t.user();
      const ctx = ctxFor(user);
      const start = await wa.startEnrollment(ctx, { name: 'Desk key' });
      expect(start.name).toBe('Desk key');
      const opts = start.optionsJSON as PublicKeyCredentialCreationOptionsJSON;
      expect(opts.rp).toEqual({ id: RP_ID, name: 'Stepwise' });
      expect(Buffer.from(opts.user.id, 'base64url').toString('utf8')).toBe(user.id);
      expect(opts.user.name).toBe(user.email);
      expect(opts.attestation).toBe('none');
      expect(opts.authenticatorSelection).toMatchObject({ residentKey: 'preferred', userVerification: 'preferred' });
      expect(Buffer.from(opts.challenge, 'base64url').length).toBe(32); // item 57
      expect(opts.timeout).toBe(300_000);
      expect(opts.excludeCredentials).toEqual([]);

      const auth = new SoftAuthenticator({ rpID: RP_ID, origin: ORIGIN, aaguid: '01020304-0506-0708-0102-030405060708' });
      const response = auth.register(opts);
      const { factorId, view } = await wa.finishEnrollment(ctx, { response, name: 'Desk key' });
      expect(view).toEqual({});
      const row = await factors.findById(factorId);
      expect(row).toMatchObject({ userId: user.id, kind: 'webauthn', status: 'active', name: 'Desk key', credentialId: response.id, counter: 0 });
      expect(row!.publicKey).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(row!.meta).toEqual({
        transports: ['usb'],
        deviceType: 'singleDevice',
        backedUp: false,
        aaguid: '01020304-0506-0708-0102-030405060708',
        fmt: 'none',
        userVerified: true,
      });

      // A second enrollment excludes the existing credential, and the user handle is the same.
      const again = (await wa.startEnrollment(ctx, {})).optionsJSON as PublicKeyCredentialCreationOptionsJSON;
      expect(again.excludeCredentials).toEqual([{ id: response.id, type: 'public-key', transports: ['usb'] }]);
      expect(again.user.id).toBe(opts.user.id);
      expect(again.challenge).not.toBe(opts.challenge);

      const list = await wa.listCredentials(user.id);
      expect(list).toEqual([
        expect.objectContaining({ id: factorId, name: 'Desk key', deviceType: 'singleDevice', backedUp: false, lastUsedAt: null }),
      ]);
    });

    it('defaults the name to "Passkey" and validates input', async () => {
      const user = await t.user();
      const ctx = ctxFor(user);
      await expectAppError(wa.startEnrollment(ctx, { name: 'x'.repeat(61) }), 'invalid_form');
      const opts = (await wa.startEnrollment(ctx, {})).optionsJSON as PublicKeyCredentialCreationOptionsJSON;
      const response = new SoftAuthenticator({ rpID: RP_ID, origin: ORIGIN }).register(opts);
      await expectAppError(wa.finishEnrollment(ctx, { response: { ...response, rawId: 'other' } }), 'invalid_form');
      await expectAppError(wa.finishEnrollment(ctx, { response: 'nope' }), 'invalid_form');
      await expectAppError(wa.finishEnrollment(ctx, { response, name: '' }), 'invalid_form');
      const { factorId } = await wa.finishEnrollment(ctx, { response });
      expect((await factors.findById(factorId))!.name).toBe('Passkey');
    });

    it('without a started ceremony → challenge_expired; the challenge is single-use', async () => {
      const user = await t.user();
      const ctx = ctxFor(user);
      const opts = (await wa.startEnrollment(ctx, {})).optionsJSON as PublicKeyCredentialCreationOptionsJSON;
      const auth = new SoftAuthenticator({ rpID: RP_ID, origin: ORIGIN });
      const response = auth.register(opts);
      await wa.finishEnrollment(ctx, { response, name: 'a' });
      const second = auth.register(opts);
      await expectAppError(wa.finishEnrollment(ctx, { response: second, name: 'b' }), 'challenge_expired');
      // Another scope (another session) cannot finish this user's ceremony.
      const opts2 = (await wa.startEnrollment(ctx, {})).optionsJSON as PublicKeyCredentialCreationOptionsJSON;
      await expectAppError(wa.finishEnrollment({ ...ctx, scope: 'other' }, { response: auth.register(opts2), name: 'c' }), 'challenge_expired');
    });

    it.each([
      ['wrong origin', { origin: 'https://evil.example' }, /website/],
      ['http downgrade / other port', { origin: 'http://localhost:3001' }, /website/],
      ['look-alike subdomain', { origin: 'http://localhost.evil.example:3000' }, /website/],
      ['wrong clientDataJSON type', { type: 'webauthn.get' }, undefined],
      ['wrong rpID hash', { rpID: 'evil.example' }, /different website/],
      ['user not present', { userPresent: false }, /presence/],
      ['cross-origin iframe', { crossOrigin: true }, /embedded/],
      ['wrong challenge', { challenge: Buffer.alloc(32, 7).toString('base64url') }, undefined],
    ])('rejects %s with webauthn_failed and stores nothing', async (_label, overrides, message) => {
      const user = await t.user();
      const ctx = ctxFor(user);
      const opts = (await wa.startEnrollment(ctx, {})).optionsJSON as PublicKeyCredentialCreationOptionsJSON;
      const response = new SoftAuthenticator({ rpID: RP_ID, origin: ORIGIN }).register(opts, overrides);
      await expectAppError(wa.finishEnrollment(ctx, { response, name: 'x' }), 'webauthn_failed', message);
      expect(await factors.listByUser(user.id)).toEqual([]);
    });

    it('accepts UV = 0 at registration (UV preferred) and records it', async () => {
      const { factorId } = await enrolled(new SoftAuthenticator({ rpID: RP_ID, origin: ORIGIN, userVerified: false }));
      expect((await factors.findById(factorId))!.meta.userVerified).toBe(false);
    });

    it('records BE/BS for a synced passkey', async () => {
      const { factorId } = await enrolled(new SoftAuthenticator({ rpID: RP_ID, origin: ORIGIN, backupEligible: true, transports: ['internal', 'hybrid'] }));
      expect((await factors.findById(factorId))!.meta).toMatchObject({ deviceType: 'multiDevice', backedUp: true, transports: ['internal', 'hybrid'] });
    });

    it('duplicate credential → conflict (same user or another user)', async () => {
      const { ctx, auth, credentialId } = await enrolled();
      const again = (await wa.startEnrollment(ctx, {})).optionsJSON as PublicKeyCredentialCreationOptionsJSON;
      await expectAppError(wa.finishEnrollment(ctx, { response: auth.register(again, { reuseCredentialId: credentialId }), name: 'dup' }), 'conflict');

      const other = await t.user();
      const octx = ctxFor(other);
      const oopts = (await wa.startEnrollment(octx, {})).optionsJSON as PublicKeyCredentialCreationOptionsJSON;
      await expectAppError(wa.finishEnrollment(octx, { response: auth.register(oopts, { reuseCredentialId: credentialId }), name: 'dup' }), 'conflict');
      expect(await factors.listByUser(other.id)).toEqual([]);
    });
  });

  describe('second factor', () => {
    it('register then authenticate: options, amr hwk+user, counter and lastUsedAt persisted', async () => {
      const { user, ctx, auth, factorId, credentialId } = await enrolled();
      const opts = await challenge(ctx);
      expect(opts.allowCredentials).toEqual([{ id: credentialId, type: 'public-key', transports: ['usb'] }]);
      expect(opts.userVerification).toBe('preferred');
      expect(opts.rpId).toBe(RP_ID);
      expect(Buffer.from(opts.challenge, 'base64url').length).toBe(32);

      const now = Date.now();
      const method = await wa.verify({ ...ctx, now }, { response: auth.authenticate(opts) });
      expect(method).toEqual({
        kind: 'webauthn',
        factorId,
        amr: ['hwk', 'user'],
        category: 'possession',
        phishingResistant: true,
        userVerified: true,
        at: Math.floor(now / 1000),
      });
      const row = await factors.findById(factorId);
      expect(row!.counter).toBe(1);
      expect(row!.lastUsedAt).not.toBeNull();
      expect((await wa.listCredentials(user.id))[0]!.lastUsedAt).not.toBeNull();

      // A second sign-in with a fresh challenge works and advances the counter again.
      await wa.verify(ctx, { response: auth.authenticate(await challenge(ctx)) });
      expect((await factors.findById(factorId))!.counter).toBe(2);
    });

    it('UV = 0 is accepted for a second factor (amr without "user"), UV = 1 reports it', async () => {
      const { ctx, auth } = await enrolled(new SoftAuthenticator({ rpID: RP_ID, origin: ORIGIN, userVerified: false }));
      const m = await wa.verify(ctx, { response: auth.authenticate(await challenge(ctx)) });
      expect(m.userVerified).toBe(false);
      expect(m.amr).toEqual(['hwk']);
    });

    it('synced / platform passkeys report swk; both-zero counters are not a regression', async () => {
      const synced = await enrolled(new SoftAuthenticator({ rpID: RP_ID, origin: ORIGIN, backupEligible: true, transports: ['internal', 'hybrid'], staticCounter: true }));
      for (let i = 0; i < 2; i++) {
        const m = await wa.verify(synced.ctx, { response: synced.auth.authenticate(await challenge(synced.ctx)) });
        expect(m.amr).toEqual(['swk', 'user']);
      }
      expect((await factors.findById(synced.factorId))!.counter).toBe(0);

      const platform = await enrolled(new SoftAuthenticator({ rpID: RP_ID, origin: ORIGIN, transports: ['internal'] }));
      const m = await wa.verify(platform.ctx, { response: platform.auth.authenticate(await challenge(platform.ctx)) });
      expect(m.amr).toEqual(['swk', 'user']);

      expect(webauthnAmr({ deviceType: 'singleDevice', transports: ['hybrid'], userVerified: false })).toEqual(['swk']);
      expect(webauthnAmr({ deviceType: 'singleDevice', transports: ['nfc', 'usb'], userVerified: false })).toEqual(['hwk']);
      expect(webauthnAmr({ deviceType: 'multiDevice', transports: [], userVerified: true })).toEqual(['swk', 'user']);
    });

    it('challenge is single-use: replaying the assertion fails, a second assertion on the same challenge fails', async () => {
      const { ctx, auth, factorId } = await enrolled();
      const opts = await challenge(ctx);
      const response = auth.authenticate(opts);
      await wa.verify(ctx, { response });
      await expectAppError(wa.verify(ctx, { response }), 'challenge_expired');
      await expectAppError(wa.verify(ctx, { response: auth.authenticate(opts) }), 'challenge_expired');
      expect((await factors.findById(factorId))!.counter).toBe(1);

      // Even a failed verification consumes the challenge.
      const opts2 = await challenge(ctx);
      await expectAppError(wa.verify(ctx, { response: auth.authenticate(opts2, { flipByte: true }) }), 'webauthn_failed');
      await expectAppError(wa.verify(ctx, { response: auth.authenticate(opts2) }), 'challenge_expired');
    });

    it('10 parallel verifications of one assertion → exactly one success', async () => {
      const { ctx, auth, factorId } = await enrolled();
      const response = auth.authenticate(await challenge(ctx));
      const results = await Promise.allSettled(Array.from({ length: 10 }, () => wa.verify(ctx, { response })));
      const ok = results.filter((r) => r.status === 'fulfilled');
      expect(ok).toHaveLength(1);
      for (const r of results) {
        if (r.status === 'rejected') {
          expect(r.reason).toBeInstanceOf(AppError);
          expect(['challenge_expired', 'webauthn_failed']).toContain((r.reason as AppError).code);
        }
      }
      expect((await factors.findById(factorId))!.counter).toBe(1);
    });

    it('a challenge is bound to its scope and user', async () => {
      const a = await enrolled();
      const opts = await challenge(a.ctx);
      await expectAppError(wa.verify({ ...a.ctx, scope: 'another-scope' }, { response: a.auth.authenticate(opts) }), 'challenge_expired');

      const b = await enrolled();
      const optsB = await challenge({ ...a.ctx, userId: b.user.id, userEmail: b.user.email });
      // Started for b in a's scope: a cannot complete it.
      await expectAppError(wa.verify(a.ctx, { response: a.auth.authenticate(optsB, { credentialId: a.credentialId }) }), 'challenge_expired');
    });

    it('expired challenge (TTL elapsed) → challenge_expired', async () => {
      const short = new WebAuthnFactor({ factors, kv, rpID: RP_ID, rpName: 'Stepwise', origin: ORIGIN, challengeTtlSeconds: 1 });
      const { ctx, auth, factorId } = await enrolled();
      const opts = (await short.startChallenge(ctx)).optionsJSON as PublicKeyCredentialRequestOptionsJSON;
      expect(opts.timeout).toBe(1000);
      await sleep(1600);
      await expectAppError(short.verify(ctx, { response: auth.authenticate(opts) }), 'challenge_expired');
      expect((await factors.findById(factorId))!.counter).toBe(0);
    });

    it('deleted / never-started challenge → challenge_expired', async () => {
      const { ctx, auth } = await enrolled();
      const opts = await challenge(ctx);
      await kv.del(`webauthn:auth:${ctx.scope}`);
      await expectAppError(wa.verify(ctx, { response: auth.authenticate(opts) }), 'challenge_expired');
      await expectAppError(wa.verify({ ...ctx, scope: 'never' }, { response: auth.authenticate(opts) }), 'challenge_expired');
    });

    const tampered: [string, Parameters<SoftAuthenticator['authenticate']>[1], RegExp | undefined][] = [
      ['wrong origin', { origin: 'https://evil.example' }, /website/],
      ['http downgrade of the origin', { origin: 'http://localhost' }, /website/],
      ['unlisted port', { origin: 'http://localhost:3001' }, /website/],
      ['look-alike subdomain origin', { origin: 'http://login.localhost:3000' }, /website/],
      ['wrong rpID', { rpID: 'evil.example' }, /different website/],
      ['wrong clientDataJSON type', { type: 'webauthn.create' }, undefined],
      ['flipped signature byte', { flipByte: true }, undefined],
      ['flipped authenticatorData byte', { flipByte: 'authenticatorData' }, undefined],
      ['flipped clientDataJSON byte', { flipByte: 'clientDataJSON' }, undefined],
      ['user not present (UP = 0)', { userPresent: false }, /presence/],
      ['cross-origin iframe', { crossOrigin: true }, /embedded/],
      ['topOrigin present', { crossOrigin: true, topOrigin: 'https://evil.example' }, /embedded/],
      ['wrong challenge', { challenge: Buffer.alloc(32, 1).toString('base64url') }, undefined],
    ];
    it.each(tampered)('rejects %s and leaves the counter unchanged', async (_label, overrides, message) => {
      const { ctx, auth, factorId } = await enrolled();
      await wa.verify(ctx, { response: auth.authenticate(await challenge(ctx)) });
      const before = (await factors.findById(factorId))!;
      await expectAppError(wa.verify(ctx, { response: auth.authenticate(await challenge(ctx), overrides) }), 'webauthn_failed', message);
      const after = (await factors.findById(factorId))!;
      expect(after.counter).toBe(before.counter);
      expect(after.lastUsedAt).toBe(before.lastUsedAt);
    });

    it('counter regression: stored 5, presented 3 (or 5) → webauthn_failed "counter", counter unchanged', async () => {
      const { ctx, auth, factorId } = await enrolled();
      expect(await factors.updateCounter(factorId, 0, 5)).toBe(true);
      auth.last.counter = 5;
      await expectAppError(wa.verify(ctx, { response: auth.authenticate(await challenge(ctx), { counterOverride: 3 }) }), 'webauthn_failed', /counter/);
      expect((await factors.findById(factorId))!.counter).toBe(5);
      await expectAppError(wa.verify(ctx, { response: auth.authenticate(await challenge(ctx), { counterOverride: 5 }) }), 'webauthn_failed', /counter/);
      await expectAppError(wa.verify(ctx, { response: auth.authenticate(await challenge(ctx), { counterOverride: 0 }) }), 'webauthn_failed', /counter/);
      expect((await factors.findById(factorId))!.counter).toBe(5);
      // The genuine authenticator (next value 6) still works.
      await wa.verify(ctx, { response: auth.authenticate(await challenge(ctx)) });
      expect((await factors.findById(factorId))!.counter).toBe(6);
    });

    it('a credential of another user fails without saying whether it exists', async () => {
      const a = await enrolled();
      const b = await enrolled();
      const opts = await challenge(a.ctx);
      expect(opts.allowCredentials!.map((c) => c.id)).toEqual([a.credentialId]);
      const err = await expectAppError(wa.verify(a.ctx, { response: b.auth.authenticate(opts, { credentialId: b.credentialId }) }), 'webauthn_failed');
      // Same message as an unknown credential id.
      const unknown = { ...a.auth.authenticate(await challenge(a.ctx)), id: 'AAAA', rawId: 'AAAA' } as AuthenticationResponseJSON;
      const err2 = await expectAppError(wa.verify(a.ctx, { response: unknown }), 'webauthn_failed');
      expect(err.message).toBe(err2.message);
      expect((await factors.findById(b.factorId))!.counter).toBe(0);
    });

    it('a userHandle pointing at another user fails', async () => {
      const a = await enrolled();
      const b = await enrolled();
      const handleB = Buffer.from(b.user.id).toString('base64url');
      await expectAppError(wa.verify(a.ctx, { response: a.auth.authenticate(await challenge(a.ctx), { userHandle: handleB }) }), 'webauthn_failed');
      expect((await factors.findById(a.factorId))!.counter).toBe(0);
      // Without a userHandle (non-discoverable style) it is fine.
      await wa.verify(a.ctx, { response: a.auth.authenticate(await challenge(a.ctx), { userHandle: null }) });
    });

    it('invalid input → invalid_form without consuming the challenge', async () => {
      const { ctx, auth } = await enrolled();
      const opts = await challenge(ctx);
      await expectAppError(wa.verify(ctx, {}), 'invalid_form');
      await expectAppError(wa.verify(ctx, { response: { id: 'x' } }), 'invalid_form');
      const r = auth.authenticate(opts);
      await expectAppError(wa.verify(ctx, { response: { ...r, type: 'password' } }), 'invalid_form');
      await wa.verify(ctx, { response: r });
    });
  });

  describe('passwordless (discoverable credential)', () => {
    it('options: no allowCredentials, UV required', async () => {
      const { optionsJSON } = await wa.startPasswordless(`pw-${randomBytes(4).toString('hex')}`);
      expect(optionsJSON.allowCredentials ?? []).toEqual([]);
      expect(optionsJSON.userVerification).toBe('required');
      expect(Buffer.from(optionsJSON.challenge, 'base64url').length).toBe(32);
    });

    it('success returns the credential owner with a UV method', async () => {
      const { user, auth, factorId } = await enrolled(new SoftAuthenticator({ rpID: RP_ID, origin: ORIGIN, transports: ['internal'], backupEligible: true }));
      const scope = `pw-${randomBytes(4).toString('hex')}`;
      const { optionsJSON } = await wa.startPasswordless(scope);
      const now = Date.now();
      const res = await wa.verifyPasswordless(scope, { response: auth.authenticate(optionsJSON) }, now);
      expect(res.userId).toBe(user.id);
      expect(res.method).toEqual({
        kind: 'webauthn',
        factorId,
        amr: ['swk', 'user'],
        category: 'possession',
        phishingResistant: true,
        userVerified: true,
        at: Math.floor(now / 1000),
      });
      // Single use.
      await expectAppError(wa.verifyPasswordless(scope, { response: auth.authenticate(optionsJSON) }, now), 'challenge_expired');
    });

    it('UV = 0 fails and leaves the counter unchanged', async () => {
      const { auth, factorId } = await enrolled();
      const scope = `pw-${randomBytes(4).toString('hex')}`;
      const { optionsJSON } = await wa.startPasswordless(scope);
      await expectAppError(
        wa.verifyPasswordless(scope, { response: auth.authenticate(optionsJSON, { userVerified: false }) }, Date.now()),
        'webauthn_failed',
        /verification/,
      );
      expect((await factors.findById(factorId))!.counter).toBe(0);
    });

    it('userHandle mismatch or missing fails', async () => {
      const a = await enrolled();
      const b = await enrolled();
      for (const userHandle of [Buffer.from(b.user.id).toString('base64url'), null]) {
        const scope = `pw-${randomBytes(4).toString('hex')}`;
        const { optionsJSON } = await wa.startPasswordless(scope);
        await expectAppError(wa.verifyPasswordless(scope, { response: a.auth.authenticate(optionsJSON, { userHandle }) }, Date.now()), 'webauthn_failed');
      }
      expect((await factors.findById(a.factorId))!.counter).toBe(0);
    });

    it('expired / unknown scope → challenge_expired; unknown credential → webauthn_failed', async () => {
      const { auth } = await enrolled();
      const scope = `pw-${randomBytes(4).toString('hex')}`;
      const { optionsJSON } = await wa.startPasswordless(scope);
      await expectAppError(wa.verifyPasswordless('nope', { response: auth.authenticate(optionsJSON) }, Date.now()), 'challenge_expired');
      const stranger = new SoftAuthenticator({ rpID: RP_ID, origin: ORIGIN });
      stranger.register({ ...((await wa.startEnrollment(ctxFor(await t.user()), {})).optionsJSON as PublicKeyCredentialCreationOptionsJSON) });
      await expectAppError(wa.verifyPasswordless(scope, { response: stranger.authenticate(optionsJSON) }, Date.now()), 'webauthn_failed');
    });

    it('parallel passwordless verifications of one assertion → exactly one success', async () => {
      const { auth } = await enrolled();
      const scope = `pw-${randomBytes(4).toString('hex')}`;
      const { optionsJSON } = await wa.startPasswordless(scope);
      const response = auth.authenticate(optionsJSON);
      const results = await Promise.allSettled(Array.from({ length: 10 }, () => wa.verifyPasswordless(scope, { response }, Date.now())));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    });
  });
});
