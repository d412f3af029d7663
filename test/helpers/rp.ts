/** The relying party in tests: openid-client 6 (code flow + PKCE) driving a FakeBrowser through hosted pages. */
import * as oidc from 'openid-client';
import { FakeBrowser, hiddenField, type Page } from './browser.js';
import type { TestServer } from './server.js';
import { createClient, createUser } from '../../src/admin/service.js';

export interface TestRp {
  config: oidc.Configuration;
  clientId: string;
  redirectUri: string;
}

export const PASSWORD = 'a long and memorable passphrase';

export async function makeUser(srv: TestServer, email = `u${Math.random().toString(36).slice(2)}@example.test`) {
  return createUser(srv.container, { email, name: 'Test User', password: PASSWORD });
}

export async function makeRp(srv: TestServer, opts: { firstParty?: boolean; public?: boolean } = {}): Promise<TestRp> {
  const redirectUri = 'http://rp.test/cb';
  const c = await createClient(srv.container, {
    redirectUris: [redirectUri],
    postLogoutRedirectUris: ['http://rp.test/logged-out'],
    firstParty: opts.firstParty ?? true,
    public: opts.public,
    name: 'Test RP',
  });
  const auth = opts.public ? oidc.None() : oidc.ClientSecretBasic(c.client_secret as string);
  const config = await oidc.discovery(new URL(srv.url), c.client_id, undefined, auth, { execute: [oidc.allowInsecureRequests] });
  return { config, clientId: c.client_id, redirectUri };
}

export interface AuthRequest {
  url: string;
  verifier: string;
  nonce: string;
  state: string;
}

export async function authRequest(rp: TestRp, params: Record<string, string> = {}): Promise<AuthRequest> {
  const verifier = oidc.randomPKCECodeVerifier();
  const nonce = oidc.randomNonce();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(rp.config, {
    redirect_uri: rp.redirectUri,
    scope: 'openid email offline_access',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    nonce,
    state,
    prompt: 'consent',
    ...params,
  });
  return { url: url.toString(), verifier, nonce, state };
}

export async function exchange(rp: TestRp, req: AuthRequest, callback: string) {
  return oidc.authorizationCodeGrant(rp.config, new URL(callback), {
    pkceCodeVerifier: req.verifier,
    expectedNonce: req.nonce,
    expectedState: req.state,
    idTokenExpected: true,
  });
}

/** Submits the password form on a login page; returns the page after following redirects. */
export async function submitPassword(browser: FakeBrowser, page: Page, email: string, password = PASSWORD): Promise<Page> {
  const action = page.body.match(/action="(\/interaction\/[^"]+\/login)"/)?.[1];
  if (!action) throw new Error(`not a login page (${page.status} ${page.url}):\n${page.body.slice(0, 400)}`);
  return browser.follow(action, { form: { email, password, csrf: hiddenField(page.body, 'csrf') } });
}

/** Full password sign-in: authorization request → login page → callback → tokens. */
export async function signIn(srv: TestServer, rp: TestRp, email: string, params: Record<string, string> = {}, browser = new FakeBrowser(srv.url)) {
  const req = await authRequest(rp, params);
  const login = await browser.follow(req.url);
  const cb = await submitPassword(browser, login, email);
  if (!cb.url.startsWith(rp.redirectUri)) throw new Error(`expected callback, got ${cb.status} ${cb.url}\n${cb.body.slice(0, 500)}`);
  const tokens = await exchange(rp, req, cb.url);
  return { tokens, browser, req };
}
