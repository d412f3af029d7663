/**
 * Issue 14 — conformance points the independent RP found: protocol endpoints answer JSON errors whatever the
 * Accept header (RFC 6749 §5.2), and an authentication request without redirect_uri is refused even for a
 * client with one registered URI (OIDC Core §3.1.2.1).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMatrix } from '../helpers/stores.js';
import * as oidc from 'openid-client';
import { freePort, startTestServer, type TestServer } from '../helpers/server.js';
import { authRequest, makeRp, makeUser, submitPassword, type TestRp } from '../helpers/rp.js';
import { createClient } from '../../src/admin/service.js';
import { FakeBrowser } from '../helpers/browser.js';

describe.each(storeMatrix)('conformance on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;

  beforeAll(async () => {
    srv = await startTestServer(kind);
    rp = await makeRp(srv);
  });
  afterAll(async () => srv?.close());

  it.each(['text/html', 'text/html,application/json', '*/*'])('POST /token with Accept: %s → a JSON error', async (accept) => {
    const res = await fetch(`${srv.url}/token`, {
      method: 'POST',
      headers: { accept, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=authorization_code&code=nope&client_id=nobody',
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect((await res.json()) as { error: string }).toMatchObject({ error: expect.any(String) });
  });

  it('userinfo and introspection errors are JSON too', async () => {
    const me = await fetch(`${srv.url}/me`, { headers: { accept: 'text/html', authorization: 'Bearer nope' } });
    expect(me.status).toBe(401);
    expect(me.headers.get('content-type')).toMatch(/application\/json/);
    const intro = await fetch(`${srv.url}/token/introspection`, { method: 'POST', headers: { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=x' });
    expect(intro.headers.get('content-type')).toMatch(/application\/json/);
  });

  it('the authorization endpoint still shows people an HTML error page', async () => {
    const res = await fetch(`${srv.url}/auth?client_id=unknown&response_type=code&scope=openid&redirect_uri=http://rp.test/cb`, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
  });

  it('PKCE stays required by default; a confidential client may opt out per client (conformance Basic plan)', async () => {
    const u = await makeUser(srv);
    const noPkce = async (client: TestRp) => {
      const url = oidc.buildAuthorizationUrl(client.config, { redirect_uri: client.redirectUri, scope: 'openid', state: 'st', nonce: 'nn' });
      const browser = new FakeBrowser(srv.url);
      const page = await browser.follow(url.toString());
      return { browser, page };
    };
    const strict = await noPkce(rp);
    expect(new URL(strict.page.url).searchParams.get('error')).toBe('invalid_request');
    const basic = await makeRp(srv);
    await srv.container.clients.updateMetadata(basic.clientId, { stepwise_policy: { pkce_optional: true } });
    const relaxed = await noPkce(basic);
    const cb = await submitPassword(relaxed.browser, relaxed.page, u.email);
    const tokens = await oidc.authorizationCodeGrant(basic.config, new URL(cb.url), { expectedState: 'st', expectedNonce: 'nn', idTokenExpected: true });
    expect(tokens.claims()?.sub).toBe(u.id);
    // A public client can never opt out.
    const spa = await makeRp(srv, { public: true });
    await srv.container.clients.updateMetadata(spa.clientId, { stepwise_policy: { pkce_optional: true } });
    expect(new URL((await noPkce(spa)).page.url).searchParams.get('error')).toBe('invalid_request');
  });

  it('URLs come from the configured issuer, never from the Host header', async () => {
    const { request } = await import('node:http');
    const port = Number(new URL(srv.url).port);
    const get = (path: string, host: string) =>
      new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path, headers: { host, accept: 'application/json' } }, (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
        });
        req.on('error', reject);
        req.end();
      });
    const meta = JSON.parse((await get('/.well-known/openid-configuration', 'evil.example')).body) as Record<string, string>;
    for (const key of ['issuer', 'authorization_endpoint', 'token_endpoint', 'jwks_uri', 'userinfo_endpoint', 'end_session_endpoint']) {
      expect(meta[key], key).toMatch(new RegExp(`^${srv.url}`));
    }
    // A redirect the IdP builds (the login page of an authorization request) also names the issuer.
    const req = await authRequest(rp);
    const auth = await get(new URL(req.url).pathname + new URL(req.url).search, 'evil.example');
    expect(auth.status).toBe(303);
    expect(String(auth.headers.location)).not.toContain('evil.example');
  });

  it('an authorization request without redirect_uri is refused, even with one registered URI', async () => {
    const req = await authRequest(rp);
    const url = new URL(req.url);
    url.searchParams.delete('redirect_uri');
    const page = await new FakeBrowser(srv.url).follow(url.toString());
    expect(page.status).toBe(400);
    expect(page.body).toContain('missing redirect_uri');
    // With it, the same request goes to the login page.
    const ok = await new FakeBrowser(srv.url).follow(req.url);
    expect(ok.url).toMatch(/\/interaction\//);
  });
});

describe.each(storeMatrix)('POST at /auth and /session/end behind https on $name', (kind) => {
  let srv: TestServer;
  let clientId: string;
  const redirectUri = 'https://rp.test/cb';

  beforeAll(async () => {
    // An https issuer behind one TLS-terminating proxy hop (X-Forwarded-Proto tells the scheme).
    const port = await freePort();
    srv = await startTestServer(kind, { PORT: String(port), ISSUER: `https://localhost:${port}`, TRUST_PROXY: '1' });
    const c = await createClient(srv.container, { redirectUris: [redirectUri], postLogoutRedirectUris: ['https://rp.test/bye'], firstParty: true, public: true });
    clientId = c.client_id;
  });
  afterAll(async () => srv?.close());

  /** The issuer's own https redirects, followed through the proxy (plain http to the test server). */
  async function throughProxy(browser: FakeBrowser, page: Awaited<ReturnType<FakeBrowser['follow']>>) {
    const issuer = srv.container.config.issuer;
    for (let i = 0; i < 5 && page.url.startsWith(issuer); i++) page = await browser.follow(page.url.replace(issuer, srv.url));
    return page;
  }

  const viaProxy = () => {
    const b = new FakeBrowser(srv.url.replace('https:', 'http:'));
    b.headers['x-forwarded-proto'] = 'https';
    b.headers['x-forwarded-for'] = '203.0.113.80';
    return b;
  };

  it('a form POST to /auth signs in, and the SSO session carries a later POST with prompt=none', async () => {
    const u = await makeUser(srv);
    const browser = viaProxy();
    const verifier = oidc.randomPKCECodeVerifier();
    const login = await browser.follow('/auth', {
      form: {
        client_id: clientId,
        response_type: 'code',
        scope: 'openid',
        redirect_uri: redirectUri,
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state: 's1',
      },
    });
    expect(login.url).toMatch(/\/interaction\//);
    const cb = await throughProxy(browser, await submitPassword(browser, login, u.email));
    const url = new URL(cb.url);
    expect(url.origin + url.pathname).toBe(redirectUri);
    expect(url.searchParams.get('code')).toBeTruthy();
    expect(url.searchParams.get('state')).toBe('s1');
    // The session cookie (SameSite=None; Secure behind https) is sent with a later POST.
    const res = await browser.request('/auth', {
      form: { client_id: clientId, response_type: 'code', scope: 'openid', redirect_uri: redirectUri, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', prompt: 'none' },
    });
    expect(res.status).toBe(303);
    expect(new URL(res.headers.get('location')!).searchParams.get('code')).toBeTruthy();
  });

  it('a form POST to /session/end shows the confirmation, which signs out', async () => {
    const u = await makeUser(srv);
    const browser = viaProxy();
    const verifier = oidc.randomPKCECodeVerifier();
    const login = await browser.follow(
      `/auth?${new URLSearchParams({ client_id: clientId, response_type: 'code', scope: 'openid', redirect_uri: redirectUri, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' })}`,
    );
    await throughProxy(browser, await submitPassword(browser, login, u.email));
    const confirm = await browser.follow('/session/end', { form: { client_id: clientId, post_logout_redirect_uri: 'https://rp.test/bye' } });
    expect(confirm.status).toBe(200);
    const xsrf = confirm.body.match(/name="xsrf" value="([^"]+)"/)?.[1];
    expect(xsrf).toBeTruthy();
    const done = await browser.follow('/session/end/confirm', { form: { xsrf: xsrf!, logout: 'yes' } });
    expect(done.url).toMatch(/^https:\/\/rp\.test\/bye/);
  });
});

it('a plain-http development issuer keeps GET only (POST /auth is not offered there)', async () => {
  const srv = await startTestServer(storeMatrix[0]!);
  try {
    const res = await fetch(`${srv.url}/auth`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'client_id=x&redirect_uri=http://rp.test/cb' });
    expect(res.status).toBe(404);
  } finally {
    await srv.close();
  }
});
