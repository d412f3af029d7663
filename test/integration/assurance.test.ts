/**
 * Issue 8 — one assurance rule on every path, end to end with openid-client on every store: the account's
 * demand survives a permissive client and is never stored as a reusable session (hole 1), an essential acr
 * stays essential next to acr_values (hole 2), refresh chains decay and end (hole 3), and removing a factor
 * ends every token and stops the factor counting for the session at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { storeMatrix } from '../helpers/stores.js';
import { policyFile, startTestServer, type TestServer } from '../helpers/server.js';
import { FakeBrowser } from '../helpers/browser.js';
import { authRequest, makeRp, type TestRp } from '../helpers/rp.js';
import { postAccountForm } from '../helpers/account.js';
import { fakeClock, stepUpKit } from '../helpers/stepup.js';

const HOUR = 3600;
const ESSENTIAL_LOA2 = JSON.stringify({ id_token: { acr: { essential: true, values: ['loa2'] } } });

describe.each(storeMatrix)('one assurance rule on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;
  const clock = fakeClock();

  beforeAll(async () => {
    // The strict switch of the risk policy: every sign-in of an enrolled user needs the second factor (the
    // account's own demand of this issue). The risk-based default is covered by risk.test.ts.
    const policy = policyFile('mfa_enforcement:\n  every_sign_in: true\n');
    srv = await startTestServer(kind, { REFRESH_TOKEN_MAX_LIFETIME_SECONDS: String(2 * HOUR), STEPWISE_POLICY_FILE: policy }, { now: clock.now });
    rp = await makeRp(srv);
  });
  afterAll(async () => srv?.close());

  const { user, authorize, tokensFor } = stepUpKit(() => srv, () => rp, clock);

  /** prompt=none at `client` with the browser's SSO session: the callback's error, or null with a code. */
  async function silent(browser: FakeBrowser, params: Record<string, string>, client = rp) {
    const req = await authRequest(client, { prompt: 'none', ...params });
    const page = await browser.follow(req.url);
    const cb = new URL(page.url);
    expect(cb.origin + cb.pathname).toBe(client.redirectUri);
    return { error: cb.searchParams.get('error'), code: cb.searchParams.get('code'), req, page };
  }

  it('hole 1: a permissive client cannot let a two-factor account leave with its password, and nothing is left to reuse', async () => {
    const permissive = await makeRp(srv);
    await srv.container.clients.updateMetadata(permissive.clientId, { stepwise_policy: { allowed_factors: ['webauthn'], allow_lower_acr: true } });
    const u = await user({ totp: true });
    const browser = new FakeBrowser(srv.url);
    const r = await authorize(browser, u, { acr_values: 'loa1', prompt: 'login' }, permissive);
    // TOTP does not count for this client and the account demands two factors: no lower acr below that.
    expect(r.asked).toEqual(['password']);
    expect(r.callback.searchParams.get('error')).toBe('unmet_authentication_requirements');
    // No session with loa1/pwd was stored for any other client (or this one) to reuse.
    const elsewhere = await silent(browser, {});
    expect(elsewhere.code).toBeNull();
    expect(elsewhere.error).toBe('login_required');
    const same = await silent(browser, { acr_values: 'loa1' }, permissive);
    expect(same.code).toBeNull();
    // The lenient client still lowers a voluntary request for a password-only account (its floor is loa1).
    const plain = await user();
    const lowered = await tokensFor(new FakeBrowser(srv.url), plain, { acr_values: 'loa2' }, permissive);
    expect(lowered.claims.acr).toBe('loa1');
    expect(lowered.claims.amr).toEqual(['pwd']);
  });

  it('hole 1: enrolling a second factor raises the demand for an existing password-only session', async () => {
    const u = await user();
    const browser = new FakeBrowser(srv.url);
    const first = await tokensFor(browser, u, {});
    expect(first.claims.acr).toBe('loa1');
    const registry = srv.container.factorService.registry;
    const ctx = { userId: u.id, userEmail: u.email, userName: null, scope: `late-${u.id}`, now: clock.now() };
    const start = await registry.totp.startEnrollment(ctx, {});
    const { totpCode } = await import('../helpers/account.js');
    await registry.totp.finishEnrollment(ctx, { factorId: start.factorId, code: totpCode(start.secret as string, clock.now()) });
    // The same session now falls short of what the account demands.
    const again = await silent(browser, {});
    expect(again.code).toBeNull();
    expect(again.error).toBe('interaction_required');
  });

  it('hole 2: an essential acr stays essential when acr_values is also sent', async () => {
    const u = await user();
    const browser = new FakeBrowser(srv.url);
    expect((await tokensFor(browser, u, {})).claims.acr).toBe('loa1');
    const r = await silent(browser, { claims: ESSENTIAL_LOA2, acr_values: 'loa1' });
    expect(r.code).toBeNull();
    expect(r.error).toBe('interaction_required');
    // Interactive: the user cannot reach loa2, and the essential request is never downgraded.
    const interactive = await authorize(browser, u, { claims: ESSENTIAL_LOA2, acr_values: 'loa1' });
    expect(interactive.callback.searchParams.get('error')).toBe('unmet_authentication_requirements');
  });

  it('hole 2: the same holds when the parameters come through PAR (pushed authorization request)', async () => {
    const u = await user();
    const browser = new FakeBrowser(srv.url);
    expect((await tokensFor(browser, u, {})).claims.acr).toBe('loa1');
    const verifier = oidc.randomPKCECodeVerifier();
    const url = await oidc.buildAuthorizationUrlWithPAR(rp.config, {
      redirect_uri: rp.redirectUri,
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      claims: ESSENTIAL_LOA2,
      acr_values: 'loa1',
      prompt: 'none',
    });
    expect(url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    const cb = new URL((await browser.follow(url.toString())).url);
    expect(cb.searchParams.get('code')).toBeNull();
    expect(cb.searchParams.get('error')).toBe('interaction_required');
  });

  it('hole 2: an essential request for exactly loa1 from a two-factor account reports loa1, with the amr of what happened', async () => {
    const u = await user({ totp: true });
    const t = await tokensFor(new FakeBrowser(srv.url), u, { claims: JSON.stringify({ id_token: { acr: { essential: true, values: ['loa1'] } } }) });
    expect(t.asked).toEqual(['password', 'totp']);
    expect(t.claims.acr).toBe('loa1');
    expect([...(t.claims.amr as string[])].sort()).toEqual(['mfa', 'otp', 'pwd']);
  });

  it('hole 3: a refresh carries what the authentication still holds — loa2 decays to loa1 after 12 h, auth_time stays', async () => {
    const u = await user({ totp: true });
    const signIn = await tokensFor(new FakeBrowser(srv.url), u, { acr_values: 'loa2' });
    expect(signIn.claims.acr).toBe('loa2');
    clock.advance(HOUR);
    const early = await oidc.refreshTokenGrant(rp.config, signIn.tokens.refresh_token!);
    expect(early.claims()).toMatchObject({ acr: 'loa2', auth_time: signIn.claims.auth_time });
    expect([...(early.claims()!.amr as string[])].sort()).toEqual(['mfa', 'otp', 'pwd']);
    clock.advance(11 * HOUR + 1);
    const late = await oidc.refreshTokenGrant(rp.config, early.refresh_token!);
    expect(late.claims()).toMatchObject({ acr: 'loa1', amr: ['pwd'], auth_time: signIn.claims.auth_time });
    // The access token says the same (RFC 9470 §6).
    const at = await oidc.tokenIntrospection(rp.config, late.access_token);
    expect(at).toMatchObject({ active: true, acr: 'loa1', amr: ['pwd'], auth_time: signIn.claims.auth_time });
    // Past loa1's own max age (the session lifetime, 14 days) nothing holds: the chain still works for
    // offline access, but its tokens claim no level at all.
    clock.advance(14 * 24 * HOUR);
    const none = await oidc.refreshTokenGrant(rp.config, late.refresh_token!);
    expect(none.claims()?.acr).toBeUndefined();
    expect(none.claims()?.amr).toBeUndefined();
    expect(none.claims()?.auth_time).toBe(signIn.claims.auth_time);
  });

  it('hole 3: a refresh chain has an absolute lifetime from its first issue; rotation does not extend it', async () => {
    const u = await user();
    const signIn = await tokensFor(new FakeBrowser(srv.url), u, {});
    const first = await oidc.tokenIntrospection(rp.config, signIn.tokens.refresh_token!);
    expect(Number(first.exp) - Number(first.iat)).toBeLessThanOrEqual(2 * HOUR);
    expect(Number(first.exp) - Number(first.iat)).toBeGreaterThan(2 * HOUR - 5);
    await new Promise((r) => setTimeout(r, 1100)); // oidc-provider's own clock must tick for the rotation to be visible
    const rotated = await oidc.refreshTokenGrant(rp.config, signIn.tokens.refresh_token!);
    const second = await oidc.tokenIntrospection(rp.config, rotated.refresh_token!);
    expect(Number(second.iat)).toBeGreaterThan(Number(first.iat));
    expect(Number(second.exp)).toBeLessThanOrEqual(Number(first.exp));
  });

  it('removing a factor ends every token of the user and the factor stops counting for the session at once', async () => {
    const u = await user({ totp: true, webauthn: true });
    const browser = new FakeBrowser(srv.url);
    const signIn = await tokensFor(browser, u, { acr_values: 'loa2' });
    expect(signIn.asked).toEqual(['password', 'totp']);
    // The account page: a fresh two-factor sign-in is needed to remove a method.
    const { answer } = stepUpKit(() => srv, () => rp, clock);
    const account = await answer(browser, await browser.follow('/account/reauth'), u);
    const totpId = account.body.match(/data-kind="totp" data-factor-id="([^"]+)"/)![1]!;
    const removed = await postAccountForm(browser, account, `/account/factors/${totpId}/remove`);
    expect(removed.url).toMatch(/notice=Removed/);

    await expect(oidc.refreshTokenGrant(rp.config, signIn.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await oidc.tokenIntrospection(rp.config, signIn.tokens.access_token)).toMatchObject({ active: false });
    await expect(oidc.fetchUserInfo(rp.config, signIn.tokens.access_token, oidc.skipSubjectCheck)).rejects.toBeTruthy();
    // The SSO session's TOTP no longer counts: loa2 needs the remaining passkey now.
    const silentLoa2 = await silent(browser, { acr_values: 'loa2' });
    expect(silentLoa2.error).toBe('interaction_required');
    // A new sign-in works and gets fresh tokens.
    const fresh = await tokensFor(new FakeBrowser(srv.url), u, { acr_values: 'loa2' });
    expect(fresh.asked).toEqual(['password', 'webauthn']);
    await expect(oidc.refreshTokenGrant(rp.config, fresh.tokens.refresh_token!)).resolves.toBeTruthy();
  });
});
