/**
 * Issue 3 end to end for WebAuthn / passkeys: a software authenticator (test/helpers/soft-authenticator.ts)
 * drives the real HTTP endpoints through FakeBrowser, with openid-client as the relying party.
 *
 *   enrollment on /account (JSON finish), password + passkey as second factor, passkey-first sign-in,
 *   bad assertions over HTTP (challenge, origin, replay, counter) and the re-auth rule for a second passkey.
 *
 * Levels (src/policy/levels.ts): password + WebAuthn = two factors incl. a phishing-resistant one → `phr`;
 * a passkey with user verification counts as two factors on its own → `phr` too. amr per the WebAuthn rule:
 * `hwk` for a device-bound roaming key, `swk` for a platform/synced passkey, `user` when UV was performed.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type {
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  AuthenticationResponseJSON,
} from '@simplewebauthn/server';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeBrowser, type Page } from '../helpers/browser.js';
import { authRequest, exchange, makeRp, makeUser, submitPassword, type AuthRequest, type TestRp } from '../helpers/rp.js';
import { openAccount, testId } from '../helpers/account.js';
import { SoftAuthenticator, type SoftAuthenticatorOptions } from '../helpers/soft-authenticator.js';
import { dataAttrs, dataOptions } from '../helpers/webauthn.js';

type CreationOptions = PublicKeyCredentialCreationOptionsJSON;
type RequestOptions = PublicKeyCredentialRequestOptionsJSON;

const json = (page: Page) => JSON.parse(page.body) as Record<string, unknown>;
const sortedAmr = (claims: Record<string, unknown> | undefined) => [...((claims?.amr as string[] | undefined) ?? [])].sort();

describe.each(storeMatrix)('WebAuthn and passkeys on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;

  beforeAll(async () => {
    srv = await startTestServer(kind);
    rp = await makeRp(srv);
  });
  afterAll(async () => srv?.close());

  const soft = (opts: Partial<SoftAuthenticatorOptions> = {}) => new SoftAuthenticator({ rpID: 'localhost', origin: srv.url, ...opts });

  const factorRow = async (credentialId: string) => {
    const row = await srv.container.db('factors').where({ credential_id: credentialId }).first();
    if (!row) throw new Error(`no factor row for credential ${credentialId}`);
    return row as Record<string, unknown>;
  };
  const counterOf = async (credentialId: string) => Number((await factorRow(credentialId)).counter);

  /** Starts enrollment on the account page; returns the enroll page's button attributes and options. */
  async function startEnrollment(browser: FakeBrowser, account: Page, name?: string) {
    const page = await browser.follow('/account/factors/webauthn/start', {
      form: { csrf: accountCsrf(account), ...(name ? { name } : {}) },
    });
    expect(page.status, page.body.slice(0, 300)).toBe(200);
    const attrs = dataAttrs(page.body, 'webauthn-register');
    return { page, attrs, options: dataOptions<CreationOptions>(page.body, 'webauthn-register') };
  }

  const accountCsrf = (account: Page) => account.body.match(/name="csrf" value="([^"]+)"/)![1]!;

  /** Signs in to /account with the password only, and enrolls a passkey there. */
  async function enrollPasskey(email: string, auth: SoftAuthenticator, name = 'Blue key') {
    const browser = new FakeBrowser(srv.url);
    const account = await openAccount(browser, { email });
    expect(account.url).toMatch(/\/account$/);
    const { attrs, options } = await startEnrollment(browser, account);
    const response = auth.register(options);
    const res = await browser.request(attrs['data-action']!, { json: { csrf: attrs['data-csrf'], response, name } });
    expect(res.status, res.body).toBe(200);
    const { redirect } = json(res) as { redirect: string };
    const after = await browser.follow(redirect);
    return { browser, options, response, redirect, after, credentialId: response.id };
  }

  /** Authorization request → password → the WebAuthn step's page. */
  async function passwordThenWebauthnPage(email: string, params: Record<string, string> = {}) {
    const browser = new FakeBrowser(srv.url);
    const req = await authRequest(rp, params);
    const page = await submitPassword(browser, await browser.follow(req.url), email);
    expect(page.url).toMatch(/\/interaction\/[^/]+\/factor\/webauthn$/);
    const uid = page.url.match(/\/interaction\/([^/]+)\//)![1]!;
    return { browser, req, page, uid, ...webauthnStep(page) };
  }

  function webauthnStep(page: Page) {
    const attrs = dataAttrs(page.body, 'webauthn-start');
    return { attrs, options: dataOptions<RequestOptions>(page.body, 'webauthn-start') };
  }

  /** Login page → passkey options (the page's passkey-signin button contract). */
  async function passkeyLogin(params: Record<string, string> = {}) {
    const browser = new FakeBrowser(srv.url);
    const req = await authRequest(rp, params);
    const login = await browser.follow(req.url);
    expect(login.url).toMatch(/\/interaction\/[^/]+$/);
    const uid = login.url.match(/\/interaction\/([^/]+)$/)![1]!;
    const attrs = dataAttrs(login.body, 'passkey-signin');
    const options = async () => {
      const res = await browser.request(attrs['data-options-url']!, { json: { csrf: attrs['data-csrf'] } });
      expect(res.status, res.body).toBe(200);
      return (json(res) as { optionsJSON: RequestOptions }).optionsJSON;
    };
    const verify = (response: unknown) => browser.request(attrs['data-verify-url']!, { json: { csrf: attrs['data-csrf'], response } });
    return { browser, req, login, uid, attrs, options, verify };
  }

  /** Follows a { redirect } answer to the RP callback and redeems the code. */
  async function toTokens(browser: FakeBrowser, req: AuthRequest, res: Page) {
    expect(res.status, res.body).toBe(200);
    const { redirect } = json(res) as { redirect: string };
    expect(typeof redirect).toBe('string');
    const cb = await browser.follow(redirect);
    expect(cb.url.startsWith(rp.redirectUri), `${cb.status} ${cb.url}\n${cb.body.slice(0, 300)}`).toBe(true);
    return exchange(rp, req, cb.url);
  }

  it('serves WebAuthn for rpID localhost at the issuer origin', () => {
    expect(srv.container.config.webauthn).toMatchObject({ rpID: 'localhost', origin: srv.url });
    expect(srv.url).toMatch(/^http:\/\/localhost:\d+$/);
  });

  it('enrolls a passkey from /account on a fresh password-only session and lists it by name', async () => {
    const user = await makeUser(srv);
    const auth = soft();
    const { options, response, redirect, after, browser } = await enrollPasskey(user.email, auth, 'Blue key');

    // Options: our RP, the user's stable handle, a 32-byte challenge, nothing to exclude yet.
    expect(options.rp).toEqual({ name: 'Stepwise', id: 'localhost' });
    expect(Buffer.from(options.user.id, 'base64url').toString('utf8')).toBe(user.id);
    expect(options.user.name).toBe(user.email);
    expect(Buffer.from(options.challenge, 'base64url')).toHaveLength(32);
    expect(options.excludeCredentials).toEqual([]);
    expect(options.attestation).toBe('none');

    expect(redirect).toBe(`/account?notice=${encodeURIComponent('Passkey or security key added')}`);
    expect(testId(after.body, 'account-notice')[0]).toBe('Passkey or security key added');
    const row = await factorRow(response.id);
    expect(row).toMatchObject({ user_id: user.id, kind: 'webauthn', status: 'active', name: 'Blue key' });
    expect(Number(row.counter)).toBe(0);
    expect(JSON.parse(row.meta as string)).toMatchObject({ transports: ['usb'], deviceType: 'singleDevice', backedUp: false, fmt: 'none' });
    expect(after.body).toContain(`data-kind="webauthn" data-factor-id="${row.id as string}"`);
    expect(after.body).toContain(`data-testid="rename-input-${row.id as string}"`);
    expect(after.body).toMatch(new RegExp(`id="name-${row.id as string}" type="text" name="name" value="Blue key"`));

    const audit = await srv.container.audit.list({ userId: user.id, type: 'factor.enroll.webauthn' });
    expect(audit[0]).toMatchObject({ outcome: 'success', details: { factorId: row.id } });

    // With a passkey enrolled, the password-only session is no longer fresh enough: a JSON finish gets
    // reauth_required (no redirect), and nothing is added.
    const again = await browser.request('/account/factors/webauthn/finish', { json: { csrf: accountCsrf(after), response, name: 'Again' } });
    expect(again.status).toBe(401);
    expect(json(again)).toMatchObject({ error: 'reauth_required', message: expect.any(String) });
    expect(await srv.container.db('factors').where({ user_id: user.id, kind: 'webauthn' })).toHaveLength(1);
  });

  it('signs in with password + passkey as second factor: acr phr, amr pwd hwk user mfa', async () => {
    const user = await makeUser(srv);
    const auth = soft();
    const { credentialId } = await enrollPasskey(user.email, auth);

    const { browser, req, page, uid, attrs, options } = await passwordThenWebauthnPage(user.email);
    // Second-factor options: only this user's credential, UV preferred, our RP ID.
    expect(options.rpId).toBe('localhost');
    expect(options.userVerification).toBe('preferred');
    expect(options.allowCredentials?.map((c) => c.id)).toEqual([credentialId]);
    expect(attrs['data-action']).toBe(`/interaction/${uid}/factor/webauthn`);
    expect(page.body).toContain('/assets/simplewebauthn-browser.js');

    const before = Math.floor(Date.now() / 1000);
    const tokens = await toTokens(browser, req, await browser.request(attrs['data-action']!, { json: { csrf: attrs['data-csrf'], response: auth.authenticate(options) } }));
    const claims = tokens.claims()!;
    expect(claims.sub).toBe(user.id);
    expect(claims.acr).toBe('phr');
    expect(sortedAmr(claims)).toEqual(['hwk', 'mfa', 'pwd', 'user']);
    expect(claims.auth_time).toBeGreaterThanOrEqual(before - 1);
    expect(await counterOf(credentialId)).toBe(1);
    expect((await factorRow(credentialId)).last_used_at).not.toBeNull();
    const events = await srv.container.audit.list({ userId: user.id, type: 'factor.verify.webauthn' });
    expect(events[0]).toMatchObject({ outcome: 'success', details: { amr: ['hwk', 'user'] } });
  });

  it('accepts a passkey without user verification as the second factor (amr without user, still phr)', async () => {
    const user = await makeUser(srv);
    const auth = soft({ userVerified: false });
    const { credentialId } = await enrollPasskey(user.email, auth);
    const { browser, req, attrs, options } = await passwordThenWebauthnPage(user.email);
    const tokens = await toTokens(browser, req, await browser.request(attrs['data-action']!, { json: { csrf: attrs['data-csrf'], response: auth.authenticate(options) } }));
    expect(tokens.claims()?.acr).toBe('phr');
    expect(sortedAmr(tokens.claims())).toEqual(['hwk', 'mfa', 'pwd']);
    expect(await counterOf(credentialId)).toBe(1);
  });

  it('signs in passkey-first from the login page: amr hwk user, acr phr; UV=0 is refused with no session', async () => {
    const user = await makeUser(srv);
    const auth = soft();
    const { credentialId } = await enrollPasskey(user.email, auth);

    const first = await passkeyLogin();
    expect(first.attrs['data-options-url']).toBe(`/interaction/${first.uid}/webauthn/passwordless/options`);
    expect(first.attrs['data-verify-url']).toBe(`/interaction/${first.uid}/webauthn/passwordless`);
    const options = await first.options();
    // Discoverable credential: no allowCredentials, and user verification is required.
    expect(options.userVerification).toBe('required');
    expect(options.allowCredentials ?? []).toEqual([]);
    expect(options.rpId).toBe('localhost');
    const tokens = await toTokens(first.browser, first.req, await first.verify(auth.authenticate(options)));
    const claims = tokens.claims()!;
    expect(claims.sub).toBe(user.id);
    expect(claims.acr).toBe('phr');
    // A UV passkey counts as two factors for the level, so amr says mfa too (issue 8, hole 7).
    expect(sortedAmr(claims)).toEqual(['hwk', 'mfa', 'user']);
    expect(claims.amr).not.toContain('pwd');
    expect(claims.amr).not.toContain('swk');
    expect(await counterOf(credentialId)).toBe(1);
    expect((await srv.container.audit.list({ userId: user.id, type: 'login.passkey' }))[0]).toMatchObject({ outcome: 'success' });

    // UV = 0: refused as JSON; the interaction gets no verified step and the browser no session.
    const second = await passkeyLogin();
    const bad = await second.verify(auth.authenticate(await second.options(), { userVerified: false }));
    expect(bad.status).toBe(401);
    expect(bad.headers.get('content-type')).toMatch(/application\/json/);
    expect(json(bad)).toEqual({ error: 'webauthn_failed', message: expect.stringMatching(/user verification/i) });
    expect(await srv.container.kv.get(`authctx:${second.uid}`)).toBeNull();
    expect(second.browser.cookies.map((c) => c.name)).not.toContain('stepwise_session');
    const stillLogin = await second.browser.follow(`/interaction/${second.uid}`);
    expect(stillLogin.status).toBe(200);
    expect(stillLogin.body).toContain(`action="/interaction/${second.uid}/login"`);
    expect(await counterOf(credentialId)).toBe(1);
    const failures = await srv.container.audit.list({ type: 'login.passkey' });
    expect(failures[0]).toMatchObject({ outcome: 'failure', details: { reason: 'webauthn_failed' } });
  });

  // Regression: a disabled account's passkey once completed the sign-in and then hit a 500 at /auth/:uid.
  it('refuses passkey-first sign-in for a disabled account (4xx JSON, no login.complete)', async () => {
    const user = await makeUser(srv);
    const auth = soft();
    await enrollPasskey(user.email, auth);
    await srv.container.db('users').where({ id: user.id }).update({ disabled: true });
    const completed = async () => (await srv.container.audit.list({ userId: user.id, type: 'login.complete' })).length;
    const completedBefore = await completed();
    const login = await passkeyLogin();
    const res = await login.verify(auth.authenticate(await login.options()));
    expect(res.status).toBe(401);
    expect(['webauthn_failed', 'invalid_credentials']).toContain(json(res).error);
    expect(await srv.container.kv.get(`authctx:${login.uid}`)).toBeNull();
    expect(await completed()).toBe(completedBefore);
    const passkeyEvents = await srv.container.audit.list({ userId: user.id, type: 'login.passkey' });
    expect(passkeyEvents.filter((e) => e.outcome === 'success')).toEqual([]);
  });

  it('reports swk for a synced platform passkey (BE/BS set, counter always 0)', async () => {
    const user = await makeUser(srv);
    const auth = soft({ transports: ['internal', 'hybrid'], backupEligible: true, staticCounter: true });
    const { credentialId } = await enrollPasskey(user.email, auth, 'Phone');
    expect(JSON.parse((await factorRow(credentialId)).meta as string)).toMatchObject({ deviceType: 'multiDevice', backedUp: true });

    // Passkey-first twice: a counter that stays 0 is not a clone signal.
    for (let i = 0; i < 2; i++) {
      const login = await passkeyLogin();
      const tokens = await toTokens(login.browser, login.req, await login.verify(auth.authenticate(await login.options())));
      expect(tokens.claims()?.acr).toBe('phr');
      expect(sortedAmr(tokens.claims())).toEqual(['mfa', 'swk', 'user']);
      expect(tokens.claims()?.amr).not.toContain('hwk');
    }
    expect(await counterOf(credentialId)).toBe(0);

    // As a second factor after the password.
    const { browser, req, attrs, options } = await passwordThenWebauthnPage(user.email);
    const tokens = await toTokens(browser, req, await browser.request(attrs['data-action']!, { json: { csrf: attrs['data-csrf'], response: auth.authenticate(options) } }));
    expect(sortedAmr(tokens.claims())).toEqual(['mfa', 'pwd', 'swk', 'user']);
  });

  describe('bad assertions over HTTP', () => {
    interface Fixture {
      userId: string;
      email: string;
      auth: SoftAuthenticator;
      credentialId: string;
      /** A valid assertion that was already used once. */
      used: AuthenticationResponseJSON;
    }
    interface Attempt {
      /** Options issued for this attempt. */
      options: RequestOptions;
      /** Sends a response to the endpoint under test. */
      send(response: unknown): Promise<Page>;
      /** The interaction made no progress. */
      assertNoProgress(): Promise<void>;
      uid: string;
    }
    interface Mode {
      name: string;
      auditType: string;
      /** Sets up a user with a passkey and signs in once, so its counter is 1. */
      fixture(): Promise<Fixture>;
      attempt(f: Fixture): Promise<Attempt>;
    }

    const secondFactor: Mode = {
      name: 'second factor (/interaction/:uid/factor/webauthn)',
      auditType: 'factor.verify.webauthn',
      async fixture() {
        const user = await makeUser(srv);
        const auth = soft();
        const { credentialId } = await enrollPasskey(user.email, auth);
        const s = await passwordThenWebauthnPage(user.email);
        const used = auth.authenticate(s.options);
        await toTokens(s.browser, s.req, await s.browser.request(s.attrs['data-action']!, { json: { csrf: s.attrs['data-csrf'], response: used } }));
        return { userId: user.id, email: user.email, auth, credentialId, used };
      },
      async attempt(f) {
        const s = await passwordThenWebauthnPage(f.email);
        return {
          uid: s.uid,
          options: s.options,
          send: (response) => s.browser.request(s.attrs['data-action']!, { json: { csrf: s.attrs['data-csrf'], response } }),
          async assertNoProgress() {
            const ctx = JSON.parse((await srv.container.kv.get(`authctx:${s.uid}`))!) as { methods: Array<{ kind: string }> };
            expect(ctx.methods.map((m) => m.kind)).toEqual(['password']);
            expect(s.browser.cookies.map((c) => c.name)).not.toContain('stepwise_session');
          },
        };
      },
    };

    const passwordless: Mode = {
      name: 'passkey-first (/interaction/:uid/webauthn/passwordless)',
      auditType: 'login.passkey',
      async fixture() {
        const user = await makeUser(srv);
        const auth = soft();
        const { credentialId } = await enrollPasskey(user.email, auth);
        const login = await passkeyLogin();
        const used = auth.authenticate(await login.options());
        await toTokens(login.browser, login.req, await login.verify(used));
        return { userId: user.id, email: user.email, auth, credentialId, used };
      },
      async attempt() {
        const login = await passkeyLogin();
        return {
          uid: login.uid,
          options: await login.options(),
          send: login.verify,
          async assertNoProgress() {
            expect(await srv.container.kv.get(`authctx:${login.uid}`)).toBeNull();
            expect(login.browser.cookies.map((c) => c.name)).not.toContain('stepwise_session');
          },
        };
      },
    };

    /** A challenge the server really issued, but for another ceremony. */
    async function foreignChallenge(): Promise<string> {
      return (await (await passkeyLogin()).options()).challenge;
    }

    const cases: Array<{
      name: string;
      make: (f: Fixture, a: Attempt) => Promise<unknown> | unknown;
      status: number;
      error: string;
      message: RegExp;
    }> = [
      {
        name: 'an assertion for another challenge',
        make: async (f, a) => f.auth.authenticate(a.options, { challenge: await foreignChallenge() }),
        status: 401,
        error: 'webauthn_failed',
        message: /could not be verified/,
      },
      {
        name: 'a wrong origin',
        make: (f, a) => f.auth.authenticate(a.options, { origin: 'https://evil.example' }),
        status: 401,
        error: 'webauthn_failed',
        message: /unexpected website/,
      },
      {
        name: 'a look-alike origin (other port)',
        make: (f, a) => f.auth.authenticate(a.options, { origin: `${srv.url.replace(/:\d+$/, '')}:1` }),
        status: 401,
        error: 'webauthn_failed',
        message: /unexpected website/,
      },
      {
        name: 'a replayed assertion',
        make: (f) => f.used,
        status: 401,
        error: 'webauthn_failed',
        message: /could not be verified/,
      },
      {
        name: 'a lower counter',
        make: (f, a) => f.auth.authenticate(a.options, { counterOverride: 0 }),
        status: 401,
        error: 'webauthn_failed',
        message: /counter/,
      },
      {
        name: 'an unchanged counter',
        make: (f, a) => f.auth.authenticate(a.options, { counterOverride: 1 }),
        status: 401,
        error: 'webauthn_failed',
        message: /counter/,
      },
      {
        name: 'a signature over other data',
        make: (f, a) => f.auth.authenticate(a.options, { flipByte: 'signature' }),
        status: 401,
        error: 'webauthn_failed',
        message: /could not be verified/,
      },
    ];

    describe.each([secondFactor, passwordless])('$name', (mode) => {
      let f: Fixture;
      beforeAll(async () => {
        f = await mode.fixture();
      });
      // Each case fails twice on purpose; start every case below the per-account factor throttle
      // (STEPWISE LOGIN_MAX_FAILURES, default 10) so a 429 never hides the error under test.
      beforeEach(async () => {
        await srv.container.throttles.factorAccount.reset(`${f.userId}:webauthn`);
      });

      it('starts from a stored counter of 1', async () => {
        expect(await counterOf(f.credentialId)).toBe(1);
      });

      it.each(cases)('refuses $name: 4xx JSON, nothing changes, audit failure', async (c) => {
        const a = await mode.attempt(f);
        const before = await factorRow(f.credentialId);
        const response = await c.make(f, a);
        const res = await a.send(response);
        expect(res.status).toBe(c.status);
        expect(res.headers.get('content-type')).toMatch(/application\/json/);
        expect(json(res)).toEqual({ error: c.error, message: expect.stringMatching(c.message) });
        expect(await factorRow(f.credentialId)).toEqual(before);
        expect(Number(before.counter)).toBe(1);
        await a.assertNoProgress();
        const [event] = await srv.container.audit.list({ type: mode.auditType, limit: 1 });
        expect(event).toMatchObject({ outcome: 'failure', details: { reason: c.error } });
        if (mode === secondFactor) expect(event!.userId).toBe(f.userId);

        // The challenge was consumed by the failed attempt: even a valid assertion for it is now refused.
        const late = await a.send(f.auth.authenticate(a.options));
        expect(late.status).toBe(400);
        expect(json(late)).toMatchObject({ error: 'challenge_expired' });
        expect(await factorRow(f.credentialId)).toEqual(before);
      });

      it('still signs in with a good assertion afterwards, and the counter moves on', async () => {
        const a = await mode.attempt(f);
        const res = await a.send(f.auth.authenticate(a.options));
        expect(res.status, res.body).toBe(200);
        expect(json(res).redirect).toEqual(expect.any(String));
        expect(await counterOf(f.credentialId)).toBe(f.auth.credentials.get(f.credentialId)!.counter);
        expect(await counterOf(f.credentialId)).toBeGreaterThan(1);
      });
    });

    it('refuses another user\'s credential as a second factor and a userHandle that is not the owner\'s', async () => {
      const victim = await makeUser(srv);
      const attacker = await makeUser(srv);
      const victimKey = soft();
      const attackerKey = soft();
      await enrollPasskey(victim.email, victimKey);
      const { credentialId: attackerCred } = await enrollPasskey(attacker.email, attackerKey);

      // The victim's password step, then the attacker's own (valid) passkey: with its own user handle, and
      // with none at all (a non-discoverable credential), so the ownership check alone must refuse it.
      for (const userHandle of [undefined, null]) {
        const s = await passwordThenWebauthnPage(victim.email);
        const foreign = attackerKey.authenticate(s.options, { credentialId: attackerCred, userHandle });
        const res = await s.browser.request(s.attrs['data-action']!, { json: { csrf: s.attrs['data-csrf'], response: foreign } });
        expect(res.status).toBe(401);
        expect(json(res)).toMatchObject({ error: 'webauthn_failed' });
        expect(await counterOf(attackerCred)).toBe(0);
      }

      // Passkey-first with the attacker's credential claiming the victim's user handle.
      const login = await passkeyLogin();
      const handle = Buffer.from(victim.id, 'utf8').toString('base64url');
      const spoofed = await login.verify(attackerKey.authenticate(await login.options(), { userHandle: handle }));
      expect(spoofed.status).toBe(401);
      expect(json(spoofed)).toMatchObject({ error: 'webauthn_failed' });
      expect(await srv.container.kv.get(`authctx:${login.uid}`)).toBeNull();
    });

    it('refuses a passkey response without a CSRF token or without options', async () => {
      const user = await makeUser(srv);
      const auth = soft();
      await enrollPasskey(user.email, auth);
      const login = await passkeyLogin();
      const noCsrf = await login.browser.request(login.attrs['data-options-url']!, { json: {} });
      expect(noCsrf.status).toBe(400);
      const badCsrf = await login.browser.request(login.attrs['data-verify-url']!, { json: { csrf: 'nope', response: {} } });
      expect(badCsrf.status).toBe(403);
      expect(json(badCsrf)).toMatchObject({ error: 'csrf_failed' });
      // No options were requested for this interaction: there is no challenge to answer.
      const fresh = await passkeyLogin();
      const orphan = await fresh.verify(auth.authenticate({ challenge: Buffer.alloc(32, 7).toString('base64url'), rpId: 'localhost' }));
      expect(orphan.status).toBe(400);
      expect(json(orphan)).toMatchObject({ error: 'challenge_expired' });
    });
  });

  it('adding a second passkey once MFA exists needs a fresh two-factor re-auth; duplicates are refused', async () => {
    const user = await makeUser(srv);
    const auth = soft();
    const { browser, after, credentialId } = await enrollPasskey(user.email, auth, 'First key');

    // The session is password-only (loa1): starting another enrollment sends the browser to sign in again.
    const start = await browser.request('/account/factors/webauthn/start', { form: { csrf: accountCsrf(after) } });
    expect(start.status).toBe(302);
    const location = new URL(start.headers.get('location')!, srv.url);
    expect(location.pathname).toBe('/auth');
    expect(location.searchParams.get('client_id')).toBe('stepwise-account');
    expect(location.searchParams.get('prompt')).toBe('login');
    expect(location.searchParams.get('max_age')).toBe('0');
    expect(location.searchParams.get('acr_values')).toBe('loa2');
    // JSON callers get the error instead of a redirect.
    const finishJson = await browser.request('/account/factors/webauthn/finish', { json: { csrf: accountCsrf(after), response: {} } });
    expect(finishJson.status).toBe(401);
    expect(json(finishJson)).toMatchObject({ error: 'reauth_required' });

    // Re-auth: password, then the passkey, back to /account.
    const step = await submitPassword(browser, await browser.follow(location.toString()), user.email);
    expect(step.url).toMatch(/\/factor\/webauthn$/);
    const { attrs, options } = webauthnStep(step);
    const reauth = await browser.request(attrs['data-action']!, { json: { csrf: attrs['data-csrf'], response: auth.authenticate(options) } });
    expect(reauth.status, reauth.body).toBe(200);
    const account = await browser.follow((json(reauth) as { redirect: string }).redirect);
    expect(account.url).toMatch(/\/account$/);
    expect(account.body).not.toContain('data-testid="reauth-hint"');

    // Now fresh: the options exclude the passkey already registered.
    const second = await startEnrollment(browser, account);
    expect(second.options.excludeCredentials?.map((c) => c.id)).toEqual([credentialId]);
    const key2 = soft({ transports: ['internal'] });
    const res2 = await browser.request(second.attrs['data-action']!, {
      json: { csrf: second.attrs['data-csrf'], response: key2.register(second.options), name: 'Laptop' },
    });
    expect(res2.status, res2.body).toBe(200);
    // The registration challenge was single-use.
    const replayed = await browser.request(second.attrs['data-action']!, {
      json: { csrf: second.attrs['data-csrf'], response: key2.register(second.options), name: 'Replay' },
    });
    expect(replayed.status).toBe(400);
    expect(json(replayed)).toMatchObject({ error: 'challenge_expired' });
    const listed = await browser.follow((json(res2) as { redirect: string }).redirect);
    expect(listed.body.match(/data-kind="webauthn"/g)).toHaveLength(2);
    expect(listed.body).toMatch(/name="name" value="First key"/);
    expect(listed.body).toMatch(/name="name" value="Laptop"/);

    // Registering the first credential again (an authenticator ignoring excludeCredentials) is a conflict.
    const third = await startEnrollment(browser, listed);
    const dup = await browser.request(third.attrs['data-action']!, {
      json: { csrf: third.attrs['data-csrf'], response: auth.register(third.options, { reuseCredentialId: credentialId }), name: 'Dup' },
    });
    expect(dup.status).toBe(409);
    expect(json(dup)).toMatchObject({ error: 'conflict' });
    expect(await srv.container.db('factors').where({ user_id: user.id, kind: 'webauthn' })).toHaveLength(2);
    const failed = await srv.container.audit.list({ userId: user.id, type: 'factor.enroll.webauthn' });
    expect(failed[0]).toMatchObject({ outcome: 'failure', details: { reason: 'conflict' } });
  });
});
