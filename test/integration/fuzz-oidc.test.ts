/**
 * Issue 14, fuzzing the protocol endpoints: /auth (every parameter, through the login page and the policy
 * checks), /token (every grant with garbage, client authentication, PKCE, resource), /me, introspection,
 * revocation, /session/end and PAR. Never a 5xx, never a stack trace, never a durable change on a rejected
 * request, and a rejected token request never spends the code or refresh token it names.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeBrowser } from '../helpers/browser.js';
import { authRequest, makeRp, makeUser, signIn, submitPassword, type TestRp } from '../helpers/rp.js';
import { asHeader, encodeForm, expectClean, formOf, jsonJunk, junk, paramValue, probe, runs, send, FUZZ_TIMEOUT } from '../helpers/fuzz.js';

const FORM = 'application/x-www-form-urlencoded';
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
/** Something shaped like a JWT, with junk inside. */
const jwtish = fc
  .tuple(jsonJunk, jsonJunk, junk)
  .map(([h, p, s]) => [h, p].map((x) => Buffer.from(JSON.stringify(x) ?? 'null').toString('base64url')).join('.') + `.${Buffer.from(s).toString('base64url')}`);
const tokenJunk = fc.oneof(junk, jwtish).map(asHeader);

describe.each(storeMatrix)('fuzzing the OIDC endpoints on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;
  let secret: string;
  let email: string;
  let signedIn: FakeBrowser;
  let accessToken: string;
  let refreshToken: string;
  let idToken: string;

  beforeAll(async () => {
    srv = await startTestServer(kind, { TRUST_PROXY: '1' });
    rp = await makeRp(srv);
    secret = (await srv.container.clients.find(rp.clientId))!.client_secret as string;
    email = (await makeUser(srv)).email;
    const s = await signIn(srv, rp, email);
    signedIn = s.browser;
    accessToken = s.tokens.access_token;
    refreshToken = s.tokens.refresh_token!;
    idToken = s.tokens.id_token!;
  });
  afterAll(async () => srv?.close());

  const auth = () => basic(rp.clientId, secret);

  /** The authorization parameters, each real, absent, junk or repeated; the assurance ones also as odd JSON. */
  const authParams = () =>
    fc
      .tuple(
        formOf({
          client_id: rp.clientId,
          redirect_uri: rp.redirectUri,
          response_type: 'code',
          scope: 'openid email',
          state: 'st',
          nonce: 'n',
          code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
          code_challenge_method: 'S256',
          acr_values: 'loa2',
          max_age: '0',
          prompt: undefined,
          ui_locales: undefined,
          login_hint: '<script>alert(1)</script>',
          request: undefined,
          request_uri: undefined,
          response_mode: undefined,
          id_token_hint: undefined,
          display: undefined,
          resource: undefined,
        }),
        fc.option(
          fc.oneof(
            jsonJunk.map((v) => ({ id_token: { acr: { essential: true, values: v } } })),
            jsonJunk.map((v) => ({ id_token: { acr: v }, userinfo: v })),
            jsonJunk.map((v) => ({ id_token: v })),
            jsonJunk,
          ).map((v) => JSON.stringify(v) ?? 'null'),
        ),
      )
      .map(([form, claims]) => (claims === null ? form : { ...form, claims }));

  it('GET /auth with any parameters, then the interaction page and a password sign-in: clean answers, no script echoed', async () => {
    await fc.assert(
      fc.asyncProperty(authParams(), fc.boolean(), fc.boolean(), async (params, sso, login) => {
        // Half the runs from a browser with an SSO session: the provider's own policy checks run on /auth.
        const browser = new FakeBrowser(srv.url);
        if (sso) browser.cookies.push(...signedIn.cookies);
        const first = await browser.request(`/auth?${encodeForm(params)}`);
        expectClean({ ...first }, `/auth ${JSON.stringify(params).slice(0, 200)}`);
        let page = first;
        for (let i = 0; i < 4 && page.status >= 300 && page.status < 400; i++) {
          const next = new URL(page.headers.get('location')!, page.url);
          if (next.origin !== srv.url) break;
          page = await browser.request(next.toString());
          expectClean(page, `${next.pathname} after /auth ${JSON.stringify(params).slice(0, 200)}`);
          if (login && page.body.includes('/login"')) page = await submitPassword(browser, page, email).catch(() => page);
        }
        expect(page.body).not.toContain('<script>alert(1)</script>');
      }),
      runs(40),
    );
  }, FUZZ_TIMEOUT);

  it('POST /auth and PAR (/request) with any parameters and any client authentication', async () => {
    await fc.assert(
      fc.asyncProperty(authParams(), fc.constantFrom('/auth', '/request'), fc.oneof(fc.constant(undefined), tokenJunk, fc.constant('real')), async (params, path, authz) => {
        const headers: Record<string, string> = authz === undefined ? {} : { authorization: authz === 'real' ? auth() : `Basic ${authz}` };
        const res = await probe(srv, path, { body: encodeForm(params), type: FORM, headers, accept: 'application/json' }, `POST ${path}`);
        if (path === '/request' && res.status === 201) {
          // The request_uri it hands out, used with junk beside it, still answers cleanly.
          const { request_uri } = JSON.parse(res.body) as { request_uri: string };
          expectClean(await send(srv, `/auth?${encodeForm({ ...params, request_uri })}`), '/auth with a PAR request_uri');
        }
      }),
      runs(30),
    );
  }, FUZZ_TIMEOUT);

  it('POST /token: every grant type with garbage and any client authentication never spends the refresh token', async () => {
    const grant = fc.oneof(
      fc.constantFrom(
        'authorization_code',
        'refresh_token',
        'client_credentials',
        'urn:ietf:params:oauth:grant-type:device_code',
        'urn:openid:params:grant-type:ciba',
        'urn:ietf:params:oauth:grant-type:token-exchange',
        'password',
      ),
      junk,
    );
    const clientAuth = fc.oneof(
      fc.constant({ header: 'real' as const }),
      tokenJunk.map((j) => ({ header: `Basic ${j}` })),
      tokenJunk.map((j) => ({ header: `Bearer ${j}` })),
      fc.record({ client_id: paramValue, client_secret: paramValue }),
      fc.record({ client_assertion: tokenJunk, client_assertion_type: fc.constantFrom('urn:ietf:params:oauth:client-assertion-type:jwt-bearer', 'x'), client_id: fc.constant('') }),
    );
    await fc.assert(
      fc.asyncProperty(
        grant,
        clientAuth,
        formOf({ code: undefined, redirect_uri: rp.redirectUri, code_verifier: undefined, refresh_token: 'REAL', scope: 'openid', resource: undefined, device_code: undefined, auth_req_id: undefined }),
        async (grant_type, cauth, form) => {
          const body: Record<string, string | string[]> = { ...form, grant_type };
          if (body.refresh_token === 'REAL') body.refresh_token = refreshToken;
          const headers: Record<string, string> = {};
          if ('header' in cauth) headers.authorization = cauth.header === 'real' ? auth() : cauth.header;
          else Object.assign(body, cauth);
          const res = await probe(srv, '/token', { body: encodeForm(body), type: FORM, headers, accept: 'text/html' }, `/token ${grant_type}`);
          if (res.status === 200) {
            expect(res.headers.get('content-type')).toMatch(/json/);
            const out = JSON.parse(res.body) as { refresh_token?: string };
            if (out.refresh_token) refreshToken = out.refresh_token;
            return;
          }
          // RFC 6749 §5.2: JSON errors whatever Accept says; and the rejected request spent nothing.
          expect(res.headers.get('content-type'), res.body.slice(0, 200)).toMatch(/json/);
          const rt = await srv.container.provider.RefreshToken.find(refreshToken);
          expect(rt?.consumed, `refresh token spent by a rejected ${grant_type} (${res.status} ${res.body})`).toBeFalsy();
        },
      ),
      runs(60),
    );
  }, FUZZ_TIMEOUT);

  it('POST /token with a real code and garbage beside it: a rejection never spends the code', async () => {
    const browser = new FakeBrowser(srv.url);
    const req = await authRequest(rp);
    const cb = new URL((await submitPassword(browser, await browser.follow(req.url), email)).url);
    const code = cb.searchParams.get('code')!;
    let spent = false;
    await fc.assert(
      fc.asyncProperty(
        formOf({ redirect_uri: rp.redirectUri, code_verifier: req.verifier, resource: undefined, scope: undefined, client_id: rp.clientId }),
        async (form) => {
          const res = await probe(srv, '/token', { body: encodeForm({ ...form, grant_type: 'authorization_code', code }), type: FORM, headers: { authorization: auth() } }, '/token code');
          expect(res.headers.get('content-type')).toMatch(/json/);
          if (res.status === 200) spent = true;
          else if (!spent) {
            const stored = (await srv.container.provider.AuthorizationCode.find(code)) as { consumed?: unknown } | undefined;
            expect(stored?.consumed, `code spent by a rejected exchange: ${res.body}`).toBeFalsy();
          }
        },
      ),
      runs(20),
    );
  }, FUZZ_TIMEOUT);

  it('/me, introspection and revocation with garbage tokens and hints: clean, and the real access token stays active', async () => {
    const target = fc.constantFrom('/me', '/token/introspection', '/token/revocation');
    await fc.assert(
      fc.asyncProperty(
        target,
        fc.constantFrom('GET', 'POST'),
        formOf({ token: undefined, token_type_hint: 'access_token', access_token: undefined }),
        fc.oneof(fc.constant(undefined), tokenJunk.map((t) => `Bearer ${t}`), tokenJunk.map((t) => `DPoP ${t}`), fc.constant('real')),
        fc.option(tokenJunk),
        async (path, method, form, authz, dpop) => {
          const headers: Record<string, string> = {};
          if (authz) headers.authorization = authz === 'real' ? (path === '/me' ? `Bearer ${accessToken}` : auth()) : authz;
          if (dpop !== null) headers.dpop = dpop;
          const query = method === 'GET' ? `?${encodeForm(form)}` : '';
          const body = method === 'POST' ? encodeForm(form) : undefined;
          await probe(srv, `${path}${query}`, { method, body, type: body !== undefined ? FORM : undefined, headers, accept: 'text/html' }, `${method} ${path}`);
        },
      ),
      runs(50),
    );
    const me = await send(srv, '/me', { headers: { authorization: `Bearer ${accessToken}` }, accept: 'application/json' });
    expect(me.status).toBe(200);
  }, FUZZ_TIMEOUT);

  it('/session/end (GET and POST) and its confirmation with garbage: clean answers', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST'),
        fc.constantFrom('/session/end', '/session/end/confirm'),
        formOf({
          id_token_hint: idToken,
          post_logout_redirect_uri: 'http://rp.test/logged-out',
          state: 's',
          client_id: rp.clientId,
          logout_hint: undefined,
          ui_locales: undefined,
          xsrf: undefined,
          logout: 'yes',
        }),
        async (method, path, form) => {
          // Without the session cookie: nothing to end, so nothing may change.
          const q = method === 'GET' ? `?${encodeForm(form)}` : '';
          await probe(srv, `${path}${q}`, { method, body: method === 'POST' ? encodeForm(form) : undefined, type: method === 'POST' ? FORM : undefined }, `${method} ${path}`);
        },
      ),
      runs(30),
    );
  }, FUZZ_TIMEOUT);
});
