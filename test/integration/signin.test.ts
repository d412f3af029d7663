/** Walking skeleton end to end: password sign-in with openid-client on every store kind. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeBrowser, hiddenField } from '../helpers/browser.js';
import { PASSWORD, authRequest, exchange, makeRp, makeUser, signIn, submitPassword, type TestRp } from '../helpers/rp.js';

describe.each(storeMatrix)('password sign-in on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;
  let email: string;

  beforeAll(async () => {
    srv = await startTestServer(kind);
    rp = await makeRp(srv);
    email = (await makeUser(srv)).email;
  });
  afterAll(async () => srv?.close());

  it('publishes discovery with acr values, claims and the claims parameter', async () => {
    const meta = rp.config.serverMetadata();
    expect(meta.issuer).toBe(srv.url);
    expect(meta.acr_values_supported).toEqual(['loa1', 'loa2', 'phr']);
    expect(meta.claims_supported).toEqual(expect.arrayContaining(['acr', 'amr', 'auth_time']));
    expect(meta.claims_parameter_supported).toBe(true);
    expect(meta.code_challenge_methods_supported).toEqual(['S256']);
    expect(meta.response_types_supported).toEqual(['code']);
    const jwks = (await (await fetch(meta.jwks_uri!)).json()) as { keys: Array<Record<string, unknown>> };
    expect(jwks.keys.length).toBeGreaterThan(0);
    expect(jwks.keys[0]).not.toHaveProperty('d');
  });

  it('signs in with a password: ID token carries acr, amr, auth_time and nonce', async () => {
    const before = Math.floor(Date.now() / 1000);
    const { tokens, req } = await signIn(srv, rp, email);
    const claims = tokens.claims()!;
    expect(claims.acr).toBe('loa1');
    expect(claims.amr).toEqual(['pwd']);
    expect(claims.auth_time).toBeGreaterThanOrEqual(before - 1);
    expect(claims.nonce).toBe(req.nonce);
    const info = await oidc.fetchUserInfo(rp.config, tokens.access_token, claims.sub);
    expect(info.email).toBe(email);
  });

  it('refreshes, introspects and revokes tokens', async () => {
    const { tokens } = await signIn(srv, rp, email);
    expect(tokens.refresh_token).toBeTruthy();
    const intro = await oidc.tokenIntrospection(rp.config, tokens.access_token);
    expect(intro.active).toBe(true);
    const refreshed = await oidc.refreshTokenGrant(rp.config, tokens.refresh_token!);
    expect(refreshed.access_token).not.toBe(tokens.access_token);
    expect(refreshed.claims()?.acr).toBe('loa1');
    await oidc.tokenRevocation(rp.config, refreshed.refresh_token!);
    await expect(oidc.refreshTokenGrant(rp.config, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    // The rotated-out refresh token cannot be replayed either.
    await expect(oidc.refreshTokenGrant(rp.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('reuses the SSO session without a second login', async () => {
    const { browser } = await signIn(srv, rp, email);
    const req = await authRequest(rp);
    const cb = await browser.follow(req.url);
    expect(cb.url.startsWith(rp.redirectUri)).toBe(true);
    const tokens = await exchange(rp, req, cb.url);
    expect(tokens.claims()?.amr).toEqual(['pwd']);
  });

  it('gives one generic message for unknown user and wrong password', async () => {
    const browser = new FakeBrowser(srv.url);
    const req = await authRequest(rp);
    const login = await browser.follow(req.url);
    const wrong = await submitPassword(browser, login, email, 'not the password at all');
    const login2 = await new FakeBrowser(srv.url).follow((await authRequest(rp)).url);
    const b2 = new FakeBrowser(srv.url);
    const l2 = await b2.follow((await authRequest(rp)).url);
    const unknown = await submitPassword(b2, l2, 'nobody@example.test', PASSWORD);
    expect(login2.status).toBe(200);
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    const msg = (p: string) => p.match(/data-testid="password-error">([^<]*)</)?.[1];
    expect(msg(wrong.body)).toBe('Incorrect email or password.');
    expect(msg(unknown.body)).toBe(msg(wrong.body));
  });

  it('shows consent for a third-party client and honours the choice', async () => {
    const thirdParty = await makeRp(srv, { firstParty: false });
    const browser = new FakeBrowser(srv.url);
    const req = await authRequest(thirdParty, { scope: 'openid email' });
    const login = await browser.follow(req.url);
    const consent = await submitPassword(browser, login, email);
    expect(consent.status).toBe(200);
    expect(consent.body).toContain('data-testid="consent-allow"');
    expect(consent.body).toContain('Read your email address');
    const action = consent.body.match(/action="(\/interaction\/[^"]+\/consent)"/)![1]!;
    const cb = await browser.follow(action, { form: { csrf: hiddenField(consent.body, 'csrf') } });
    const tokens = await exchange(thirdParty, req, cb.url);
    expect(tokens.claims()?.sub).toBeTruthy();

    // Denying consent returns access_denied to the RP.
    const b2 = new FakeBrowser(srv.url);
    const req2 = await authRequest(thirdParty, { scope: 'openid email' });
    const c2 = await submitPassword(b2, await b2.follow(req2.url), email);
    const abort = c2.body.match(/action="(\/interaction\/[^"]+\/abort)"/)![1]!;
    const denied = await b2.follow(abort, { form: { csrf: hiddenField(c2.body, 'csrf') } });
    expect(new URL(denied.url).searchParams.get('error')).toBe('access_denied');
  });

  it('rejects authorization code reuse, redirect_uri variants, implicit flow, and ID tokens as bearer tokens', async () => {
    const browser = new FakeBrowser(srv.url);
    const req = await authRequest(rp);
    const cb = await submitPassword(browser, await browser.follow(req.url), email);
    const tokens = await exchange(rp, req, cb.url);
    // Same code again → invalid_grant (RFC 6749 §4.1.2).
    await expect(exchange(rp, req, cb.url)).rejects.toMatchObject({ error: 'invalid_grant' });
    // The ID token is not an access token.
    const userinfo = await fetch(`${srv.url}/me`, { headers: { authorization: `Bearer ${tokens.id_token}` } });
    expect(userinfo.status).toBe(401);
    for (const redirect of ['http://rp.test/cb/', 'http://RP.test/cb', 'http://rp.test/cb?x=1', 'https://rp.test/cb', 'http://rp.test:8080/cb']) {
      const url = oidc.buildAuthorizationUrl(rp.config, { redirect_uri: redirect, scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' });
      const page = await new FakeBrowser(srv.url).follow(url.toString());
      expect(page.status, redirect).toBe(400); // an error page, never a redirect to the unregistered URI
      expect(page.url.startsWith(srv.url)).toBe(true);
    }
    const implicit = oidc.buildAuthorizationUrl(rp.config, { redirect_uri: rp.redirectUri, scope: 'openid', response_type: 'id_token token', nonce: 'n' });
    const denied = await new FakeBrowser(srv.url).follow(implicit.toString());
    expect(new URL(denied.url).searchParams.get('error') ?? new URL(denied.url.replace('#', '?')).searchParams.get('error')).toBe('unsupported_response_type');
  });

  it('requires PKCE', async () => {
    const url = oidc.buildAuthorizationUrl(rp.config, { redirect_uri: rp.redirectUri, scope: 'openid', nonce: 'n' });
    const page = await new FakeBrowser(srv.url).follow(url.toString());
    expect(new URL(page.url).searchParams.get('error')).toBe('invalid_request');
  });

  it('logs out with RP-initiated logout and confirmation', async () => {
    const { browser, tokens } = await signIn(srv, rp, email);
    const url = oidc.buildEndSessionUrl(rp.config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'http://rp.test/logged-out' });
    const confirm = await browser.follow(url.toString());
    expect(confirm.body).toContain('data-testid="logout-confirm"');
    const xsrf = hiddenField(confirm.body, 'xsrf');
    const done = await browser.follow('/session/end/confirm', { form: { xsrf, logout: 'yes' } });
    expect(done.url).toContain('http://rp.test/logged-out');
    // The session is gone: a new authorization request shows the login page again.
    const again = await browser.follow((await authRequest(rp)).url);
    expect(again.body).toContain('data-testid="login-submit"');
  });

  it('writes audit events for sign-in outcomes, in an intact hash chain', async () => {
    const events = await srv.container.audit.list({ limit: 500 });
    expect(events.some((e) => e.type === 'login.password' && e.outcome === 'failure')).toBe(true);
    expect(events.some((e) => e.type === 'login.complete' && e.outcome === 'success')).toBe(true);
    expect(await srv.container.audit.verifyChain()).toBeNull();
  });
});
