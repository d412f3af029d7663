/**
 * Issue 4 end to end with openid-client: levels, per-client policy, acr_values / claims / max_age,
 * level expiry on a fake clock, refresh keeping acr, unmet requirements, and RFC 9470 through the demo.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeBrowser, hiddenField, type Page } from '../helpers/browser.js';
import { authRequest, exchange, makeRp, makeUser, PASSWORD, type TestRp } from '../helpers/rp.js';
import { totpCode } from '../helpers/account.js';
import { stepUpKit, unescapeHtml, type TestUser } from '../helpers/stepup.js';
import type { FactorContext } from '../../src/factors/types.js';
import { createDemoData, DEMO } from '../../src/seed.js';

describe.each(storeMatrix)('step-up on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;
  let offset = 0;
  const now = () => Date.now() + offset;
  const advance = (seconds: number) => {
    offset += seconds * 1000;
  };

  beforeAll(async () => {
    srv = await startTestServer(kind, { STEPWISE_DEMO: 'true' }, { now });
    rp = await makeRp(srv);
  });
  afterAll(async () => srv?.close());

  const { user, answer, authorize, tokensFor } = stepUpKit(() => srv, () => rp, { now, advance });

  it('steps a loa1 session up to loa2 and phr, asking only for the missing factor each time', async () => {
    const u = await user({ totp: true, webauthn: true });
    const browser = new FakeBrowser(srv.url);
    const first = await tokensFor(browser, u);
    // A user with a second factor always signs in with two.
    expect(first.asked).toEqual(['password', expect.stringMatching(/totp|webauthn/)]);

    const b2 = new FakeBrowser(srv.url);
    // Make the first sign-in password + TOTP by choosing TOTP explicitly.
    const req = await authRequest(rp);
    const login = await b2.follow(req.url);
    const afterPwd = await b2.follow(login.body.match(/action="(\/interaction\/[^"]+\/login)"/)![1]!, {
      form: { email: u.email, password: PASSWORD, csrf: hiddenField(login.body, 'csrf') },
    });
    const uid = afterPwd.url.match(/\/interaction\/([^/]+)/)![1];
    const totpPage = await b2.follow(`/interaction/${uid}/factor/totp`);
    const done = await answer(b2, totpPage, u);
    const loa2 = (await exchange(rp, req, done.url)).claims()!;
    expect(loa2.acr).toBe('loa2');
    expect([...(loa2.amr as string[])].sort()).toEqual(['mfa', 'otp', 'pwd']);

    // Now the RP asks for phr: only WebAuthn is asked — no password, no TOTP.
    advance(60);
    const sessionBefore = b2.cookies.find((c) => c.name === 'stepwise_session')!.value;
    const phr = await tokensFor(b2, u, { acr_values: 'phr' });
    // Step-up rotates the session id; the old id is dead (checklist 104/119).
    const sessionAfter = b2.cookies.find((c) => c.name === 'stepwise_session')!.value;
    expect(sessionAfter).not.toBe(sessionBefore);
    expect(await srv.container.provider.Session.find(sessionBefore)).toBeUndefined();
    expect(phr.asked).toEqual(['webauthn']);
    expect(phr.claims.acr).toBe('phr');
    expect(phr.claims.amr).toEqual(expect.arrayContaining(['pwd', 'otp', 'hwk', 'mfa']));
    expect(phr.claims.auth_time).toBeGreaterThan(loa2.auth_time as number);

    // The session already satisfies loa2: no prompt, and the token reports the strongest accepted level.
    const again = await tokensFor(b2, u, { acr_values: 'loa2' });
    expect(again.asked).toEqual([]);
    expect(again.claims.acr).toBe('phr');
  });

  it('after the password, goes straight to the only second factor, or to the one this browser used last; else the chooser', async () => {
    const passwordStep = async (email: string, b: FakeBrowser) => {
      const req = await authRequest(rp, { acr_values: 'loa2', prompt: 'login' }); // a new sign-in, even where a session exists
      const login = await b.follow(req.url);
      const action = login.body.match(/action="(\/interaction\/[^"]+\/login)"/)![1]!;
      const res = await b.request(action, { form: { email, password: PASSWORD, csrf: hiddenField(login.body, 'csrf') } });
      expect([302, 303]).toContain(res.status);
      return new URL(res.headers.get('location')!, srv.url).pathname;
    };
    const one = await user({ totp: true });
    expect(await passwordStep(one.email, new FakeBrowser(srv.url))).toMatch(/^\/interaction\/[^/]+\/factor\/totp$/);
    const two = await user({ totp: true, webauthn: true });
    const b = new FakeBrowser(srv.url);
    const chooser = await passwordStep(two.email, b);
    expect(chooser).toMatch(/^\/interaction\/[^/]+\/factor$/);
    // Pass TOTP once: the browser remembers it, and the next sign-in goes there directly.
    const challenge = await b.follow(`${chooser}/totp`);
    await b.follow(`${chooser}/totp`, { form: { csrf: hiddenField(challenge.body, 'csrf'), code: totpCode(two.totpSecret!, now()) } });
    advance(30);
    expect(await passwordStep(two.email, b)).toMatch(/^\/interaction\/[^/]+\/factor\/totp$/);
  });

  it('drops an elevated level after its max age (phr 15 min) but keeps loa2; a refresh decays the same way', async () => {
    const u = await user({ totp: true, webauthn: true });
    const browser = new FakeBrowser(srv.url);
    const phr = await tokensFor(browser, u, { acr_values: 'phr' });
    expect(phr.claims.acr).toBe('phr');
    advance(16 * 60);
    // A refresh carries what the authentication still holds (phr is past its 15 minutes, loa2 is not) and
    // the original auth_time (OIDC Core §12.2).
    const refreshed = await oidc.refreshTokenGrant(rp.config, phr.tokens.refresh_token!);
    expect(refreshed.claims()?.acr).toBe('loa2');
    expect(refreshed.claims()?.auth_time).toBe(phr.claims.auth_time);
    // A new request for loa2 needs no prompt, and the token no longer claims phr.
    const loa2 = await tokensFor(browser, u, { acr_values: 'loa2' });
    expect(loa2.asked).toEqual([]);
    expect(loa2.claims.acr).toBe('loa2');
    // A new request for phr steps up again: the password is older than phr's max age too, so both are asked.
    const again = await tokensFor(browser, u, { acr_values: 'phr' });
    expect(again.asked).toEqual(['password', 'webauthn']);
    expect(again.claims.acr).toBe('phr');
  });

  it('treats essential and voluntary acr differently, and ignores unknown voluntary values', async () => {
    const u = await user({ totp: true });
    const browser = new FakeBrowser(srv.url);
    // Unknown voluntary acr: ignored.
    const unknown = await tokensFor(browser, u, { acr_values: 'urn:unknown:acr' });
    expect(unknown.claims.acr).toBe('loa2');
    // Essential values: the token carries one of them (loa2), not the stronger one the session may hold.
    const essential = await tokensFor(browser, u, { claims: JSON.stringify({ id_token: { acr: { essential: true, values: ['loa2'] } } }) });
    expect(essential.asked).toEqual([]);
    expect(essential.claims.acr).toBe('loa2');
    // Essential phr for a user without WebAuthn: unmet_authentication_requirements, state echoed.
    const unmet = await authorize(browser, u, { claims: JSON.stringify({ id_token: { acr: { essential: true, values: ['phr'] } } }) });
    expect(unmet.callback.searchParams.get('error')).toBe('unmet_authentication_requirements');
    expect(unmet.callback.searchParams.get('state')).toBe(unmet.req.state);
    expect(unmet.callback.searchParams.get('code')).toBeNull();
    // Essential but unknown values: unmet at once, without a login page.
    const fresh = new FakeBrowser(srv.url);
    const unknownEssential = await authorize(fresh, u, { claims: JSON.stringify({ id_token: { acr: { essential: true, values: ['urn:nope'] } } }) });
    expect(unknownEssential.asked).toEqual([]);
    expect(unknownEssential.callback.searchParams.get('error')).toBe('unmet_authentication_requirements');
    // Voluntary phr the user cannot reach: also unmet by default (no silent downgrade).
    const voluntary = await authorize(browser, u, { acr_values: 'phr' });
    expect(voluntary.callback.searchParams.get('error')).toBe('unmet_authentication_requirements');
  });

  it('lets a client accept the lower level for voluntary requests when its policy says so', async () => {
    const lenient = await makeRp(srv);
    await srv.container.clients.updateMetadata(lenient.clientId, { stepwise_policy: { allow_lower_acr: true } });
    const u = await user({ totp: true });
    const r = await tokensFor(new FakeBrowser(srv.url), u, { acr_values: 'phr' }, lenient);
    expect(r.claims.acr).toBe('loa2');
    // Essential stays strict even then.
    const strict = await authorize(new FakeBrowser(srv.url), u, { claims: JSON.stringify({ id_token: { acr: { essential: true, values: ['phr'] } } }) }, lenient);
    expect(strict.callback.searchParams.get('error')).toBe('unmet_authentication_requirements');
  });

  it('lets a password-only user enroll a factor mid-sign-in and continue when the client allows it', async () => {
    const enrolling = await makeRp(srv);
    await srv.container.clients.updateMetadata(enrolling.clientId, { stepwise_policy: { min_acr: 'loa2', enroll_on_unmet: true } });
    const u = await user();
    const browser = new FakeBrowser(srv.url);
    const req = await authRequest(enrolling);
    const login = await browser.follow(req.url);
    const chooser = await browser.follow(login.body.match(/action="(\/interaction\/[^"]+\/login)"/)![1]!, {
      form: { email: u.email, password: PASSWORD, csrf: hiddenField(login.body, 'csrf') },
    });
    expect(chooser.url).toMatch(/\/enroll$/);
    expect(chooser.body).toContain('data-testid="enroll-totp"');
    expect(chooser.body).toContain('data-testid="enroll-webauthn"');
    const start = chooser.body.match(/action="(\/interaction\/[^"]+\/enroll\/totp\/start)"/)![1]!;
    const enroll = await browser.follow(start, { form: { csrf: hiddenField(chooser.body, 'csrf') } });
    u.totpSecret = enroll.body.match(/data-testid="totp-secret">([A-Z2-7]+)</)![1]!;
    const finish = enroll.body.match(/action="(\/interaction\/[^"]+\/enroll\/totp\/finish)"/)![1]!;
    const challenge = await browser.follow(finish, {
      form: { csrf: hiddenField(enroll.body, 'csrf'), factorId: hiddenField(enroll.body, 'factorId'), code: totpCode(u.totpSecret, now()) },
    });
    expect(challenge.url).toMatch(/\/factor\/totp$/);
    const done = await answer(browser, challenge, u);
    const tokens = await exchange(enrolling, req, done.url);
    expect(tokens.claims()).toMatchObject({ acr: 'loa2' });
    // Without the policy the same situation is unmet, and an account with MFA never enrolls mid-sign-in.
    const plain = await makeRp(srv);
    await srv.container.clients.updateMetadata(plain.clientId, { stepwise_policy: { min_acr: 'loa2' } });
    const denied = await authorize(new FakeBrowser(srv.url), await user(), {}, plain);
    expect(denied.callback.searchParams.get('error')).toBe('unmet_authentication_requirements');
    const mfaUser = await user({ totp: true });
    const phr = await authorize(new FakeBrowser(srv.url), mfaUser, { acr_values: 'phr' }, enrolling);
    expect(phr.callback.searchParams.get('error')).toBe('unmet_authentication_requirements');
  });

  it('enforces the client minimum even when the RP asks for less (Keycloak #16884)', async () => {
    const strict = await makeRp(srv);
    await srv.container.clients.updateMetadata(strict.clientId, { stepwise_policy: { min_acr: 'phr' } });
    const u = await user({ totp: true, webauthn: true });
    const browser = new FakeBrowser(srv.url);
    const r = await tokensFor(browser, u, { acr_values: 'loa1' }, strict);
    expect(r.claims.acr).toBe('phr');
    expect(r.asked).toContain('webauthn');
    // A password-only user cannot reach it.
    const weak = await user();
    const denied = await authorize(new FakeBrowser(srv.url), weak, { acr_values: 'loa1' }, strict);
    expect(denied.callback.searchParams.get('error')).toBe('unmet_authentication_requirements');
  });

  it('restricts a client to its allowed factors', async () => {
    const onlyKeys = await makeRp(srv);
    await srv.container.clients.updateMetadata(onlyKeys.clientId, { stepwise_policy: { min_acr: 'loa2', allowed_factors: ['webauthn'] } });
    const u = await user({ totp: true, webauthn: true });
    const browser = new FakeBrowser(srv.url);
    await tokensFor(browser, u, {}, rp); // loa2 session, possibly via TOTP
    const r = await tokensFor(browser, u, {}, onlyKeys);
    expect(r.claims.amr).toEqual(expect.arrayContaining(['hwk']));
    expect(r.claims.amr).not.toContain('otp');
    const totpOnly = await user({ totp: true });
    const denied = await authorize(new FakeBrowser(srv.url), totpOnly, {}, onlyKeys);
    expect(denied.callback.searchParams.get('error')).toBe('unmet_authentication_requirements');
  });

  it('forces re-authentication for max_age=0 / prompt=login, keeps SSO for a large max_age', async () => {
    const u = await user();
    const browser = new FakeBrowser(srv.url);
    const first = await tokensFor(browser, u);
    const big = await tokensFor(browser, u, { max_age: '86400' });
    expect(big.asked).toEqual([]);
    expect(big.claims.auth_time).toBe(first.claims.auth_time);
    await new Promise((r) => setTimeout(r, 1100)); // auth_time has 1 s resolution
    const forced = await tokensFor(browser, u, { max_age: '0' });
    expect(forced.asked).toEqual(['password']);
    expect(forced.claims.auth_time).toBeGreaterThan(first.claims.auth_time as number);
    const login = await tokensFor(browser, u, { prompt: 'login consent' });
    expect(login.asked).toEqual(['password']);
  });

  it('a failed or abandoned step-up leaves the session at its previous level (no half-open state)', async () => {
    const u = await user({ totp: true, webauthn: true });
    const browser = new FakeBrowser(srv.url);
    await tokensFor(browser, u, { acr_values: 'loa2' });
    const req = await authRequest(rp, { acr_values: 'phr' });
    const page = await browser.follow(req.url);
    const webauthn = page.body.match(/data-options='([^']+)'\s+data-action="([^"]+)" data-csrf="([^"]+)"/)!;
    const bad = await u.authenticator!.authenticate(JSON.parse(unescapeHtml(webauthn[1]!)), { flipByte: 'signature' });
    const res = await browser.request(webauthn[2]!, { json: { csrf: webauthn[3], response: bad } });
    expect(res.status).toBe(401);
    // Abandoned here. The session still holds loa2 — not phr, and not nothing.
    const after = await tokensFor(browser, u, { acr_values: 'loa2' });
    expect(after.asked).toEqual([]);
    expect(after.claims.acr).toBe('loa2');
  });

  it('answers prompt=none with interaction_required when a step-up is needed', async () => {
    const u = await user({ totp: true, webauthn: true });
    const browser = new FakeBrowser(srv.url);
    await tokensFor(browser, u, { acr_values: 'loa2' });
    const req = await authRequest(rp, { prompt: 'none', acr_values: 'phr' });
    const page = await browser.follow(req.url);
    expect(new URL(page.url).searchParams.get('error')).toBe('interaction_required');
  });

  it('rejects malformed claims and negative max_age with OIDC errors, never a 500', async () => {
    const browser = new FakeBrowser(srv.url);
    const cases: Record<string, string>[] = [{ claims: '{not json' }, { max_age: '-5' }, { max_age: 'abc' }];
    for (const params of cases) {
      const req = await authRequest(rp, params);
      const page = await browser.follow(req.url);
      const error = page.url.startsWith(rp.redirectUri) ? new URL(page.url).searchParams.get('error') : page.status;
      expect([400, 'invalid_request'], JSON.stringify(params)).toContain(error);
    }
    const huge = await authorize(browser, await user(), { max_age: '999999999999' });
    expect(huge.callback.searchParams.get('code')).toBeTruthy();
  });

  it('access tokens carry acr, amr and auth_time (introspection)', async () => {
    const u = await user({ totp: true });
    const { tokens, claims } = await tokensFor(new FakeBrowser(srv.url), u, { acr_values: 'loa2' });
    const intro = await oidc.tokenIntrospection(rp.config, tokens.access_token);
    expect(intro).toMatchObject({ active: true, acr: 'loa2', auth_time: claims.auth_time });
    expect(intro.amr).toEqual(claims.amr);
  });

  it('RFC 9470: the demo API challenges a loa1 token, the demo steps up, and the call then succeeds', async () => {
    await createDemoData(srv.container);
    const demoUser: TestUser = { id: '', email: DEMO.email, password: DEMO.password };
    const ctx: FactorContext = { userId: (await srv.container.users.findByEmail(DEMO.email))!.id, userEmail: DEMO.email, userName: null, scope: 's', now: now() };
    const start = await srv.container.factorService.registry.totp.startEnrollment(ctx, {});
    demoUser.totpSecret = start.secret as string;
    await srv.container.factorService.registry.totp.finishEnrollment(ctx, { factorId: start.factorId, code: totpCode(demoUser.totpSecret, now()) });

    const browser = new FakeBrowser(srv.url);
    // Direct API call without a token: invalid_token challenge.
    const anon = await fetch(`${srv.url}/demo/api/transfer`);
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');

    const demoPassword = DEMO.password;
    const login = await browser.follow('/demo/login');
    const afterPwd = await browser.follow(login.body.match(/action="(\/interaction\/[^"]+\/login)"/)![1]!, {
      form: { email: DEMO.email, password: demoPassword, csrf: hiddenField(login.body, 'csrf') },
    });
    const home = await answer(browser, afterPwd, demoUser);
    expect(home.body).toContain('data-testid="demo-acr">loa2<');
    expect(home.body).toContain(`data-testid="demo-email">${DEMO.email}<`);

    // Let the authentication age past the API's 5-minute max_age: the API now answers with the RFC 9470 challenge.
    advance(6 * 60);
    const accessToken = JSON.parse((await srv.container.kv.get(`demo:${browser.cookies.find((c) => c.name === 'stepwise_demo')!.value}`))!).accessToken;
    const challenged = await fetch(`${srv.url}/demo/api/transfer`, { headers: { authorization: `Bearer ${accessToken}` } });
    expect(challenged.status).toBe(401);
    expect(challenged.headers.get('www-authenticate')).toBe(
      'Bearer error="insufficient_user_authentication", error_description="More recent authentication is required", acr_values="loa2 phr", max_age="300"',
    );
    // The demo follows the challenge: re-authorizes with acr_values/max_age, the user re-authenticates, the call succeeds.
    const sensitive = await browser.follow('/demo/sensitive', { form: { csrf: hiddenField(home.body, 'csrf') } });
    const finished = await answer(browser, sensitive, demoUser);
    expect(finished.body, finished.url + finished.body.slice(-1500)).toMatch(/data-testid="demo-result">[^<]*&#34;ok&#34;:true/);
  });
});
