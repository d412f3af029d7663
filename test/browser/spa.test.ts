/**
 * Issue 14 in real Chromium: a single-page app on its own origin (a second local HTTP server) signs in with
 * oidc-client-ts (public client, code + PKCE) through the hosted login page, reads userinfo, refreshes,
 * signs out, and asks for loa2 (acr_values) with TOTP. The same page on a third origin, which the client
 * does not allow, cannot redeem a code: /token answers without Access-Control-Allow-Origin and the SPA
 * reports it.
 *
 * On SQLite only, to keep the suite short: nothing here depends on the store, and test/integration/cors.test.ts
 * runs the same CORS, refresh-rotation and DPoP paths on every store of the matrix.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { sqliteStore } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { PASSWORD, makeUser } from '../helpers/rp.js';
import { launchChromium, typePassword } from '../helpers/chromium.js';
import { totpCode } from '../helpers/account.js';
import { stepUpKit } from '../helpers/stepup.js';
import { startSpaServer, type SpaServer, type SpaUser } from '../helpers/spa-server.js';
import { createClient } from '../../src/admin/service.js';

/** What the SPA page exposes (test/helpers/spa-server.ts); page functions cast `window` to it (type-only, nothing to serialize). */
interface SpaWindow {
  spa: {
    login(args?: Record<string, string>): Promise<void>;
    user(): Promise<SpaUser | null>;
    userinfo(): Promise<Record<string, unknown>>;
    refresh(): Promise<SpaUser & { error?: string }>;
    logout(): Promise<void>;
  };
}

describe.each([sqliteStore])('single-page app with oidc-client-ts in Chromium on $name', (kind) => {
  let srv: TestServer;
  let spa: SpaServer;
  let foreign: SpaServer;
  let clientId: string;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  let offset = 0;
  const now = () => Date.now() + offset;
  const advance = (seconds: number) => {
    offset += seconds * 1000;
  };
  const { user: userWithFactors } = stepUpKit(() => srv, () => undefined as never, { now, advance });

  beforeAll(async () => {
    srv = await startTestServer(kind, {}, { now });
    [spa, foreign] = await Promise.all([startSpaServer(), startSpaServer()]);
    // Only the SPA's own origin is allowed, through its redirect URI; `foreign` is not registered anywhere.
    const client = await createClient(srv.container, {
      redirectUris: [spa.url],
      postLogoutRedirectUris: [spa.url],
      public: true,
      firstParty: true,
      name: 'Test SPA',
    });
    clientId = client.client_id;
    spa.configure({ authority: srv.url, clientId, redirectUri: spa.url, postLogoutRedirectUri: spa.url });
    // The same page on the foreign origin, for the same client: its code comes back to the SPA's redirect URI.
    foreign.configure({ authority: srv.url, clientId, redirectUri: spa.url, postLogoutRedirectUri: spa.url });
    browser = await launchChromium();
  });
  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await Promise.all([spa?.close(), foreign?.close()]);
    await srv?.close();
  });

  async function newPage(): Promise<Page> {
    const context = await browser.newContext();
    contexts.push(context);
    return context.newPage();
  }

  /** Opens an SPA page and waits until its script has run. */
  async function openSpa(page: Page, url: string) {
    await page.goto(url);
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'ready');
  }

  /** Starts signinRedirect in the page (it navigates away, so nothing is awaited in the page). */
  async function startLogin(page: Page, args?: Record<string, string>) {
    await page.evaluate((a) => void (window as unknown as SpaWindow).spa.login(a), args);
    await page.waitForURL(`${srv.url}/interaction/**`);
  }

  /**
   * After the password: a user without a second factor may be shown the "protect your account" notice
   * (MFA enforcement's grace period), which "Later" dismisses; then the browser lands on `target`.
   */
  async function leaveIdp(page: Page, target: string) {
    const later = page.getByTestId('mfa-later');
    await Promise.race([page.waitForURL(`${target}?**`), later.waitFor()]);
    if (page.url().startsWith(srv.url)) await later.click();
    await page.waitForURL(`${target}?**`);
  }

  /** Waits for the SPA page to report an outcome; returns [status, error]. */
  async function outcome(page: Page): Promise<[string, string]> {
    await page.waitForFunction(() => Boolean(document.getElementById('status')?.textContent || document.getElementById('error')?.textContent));
    return [(await page.textContent('#status')) ?? '', (await page.textContent('#error')) ?? ''];
  }

  const idpCookies = async (page: Page) => (await page.context().cookies(srv.url)).map((c) => c.name);

  it('signs in, reads userinfo, refreshes and signs out, all from its own origin', async () => {
    const u = await makeUser(srv);
    const page = await newPage();
    await openSpa(page, spa.url);
    await startLogin(page);
    await typePassword(page, u.email);
    await leaveIdp(page, spa.url);
    expect(await outcome(page)).toEqual(['signed-in', '']);

    const signedIn = (await page.evaluate(() => (window as unknown as SpaWindow).spa.user()))!;
    expect(signedIn.access_token).toBeTruthy();
    expect(signedIn.refresh_token).toBeTruthy();
    expect(signedIn.token_type.toLowerCase()).toBe('bearer');
    expect(signedIn.id_token_claims).toMatchObject({ sub: u.id, aud: clientId, iss: srv.url, acr: 'loa1' });

    // userinfo with the access token, cross-origin (a CORS preflight for the Authorization header).
    expect(await page.evaluate(() => (window as unknown as SpaWindow).spa.userinfo())).toMatchObject({ sub: u.id, email: u.email });

    // Refresh with the refresh token (UserManager.signinSilent): a new access token, and a rotated refresh token.
    const refreshed = await page.evaluate(() => (window as unknown as SpaWindow).spa.refresh());
    expect(refreshed.error).toBeUndefined();
    expect(refreshed.access_token).toBeTruthy();
    expect(refreshed.access_token).not.toBe(signedIn.access_token);
    expect(refreshed.refresh_token).toBeTruthy();
    expect(refreshed.refresh_token).not.toBe(signedIn.refresh_token);
    expect(refreshed.id_token_claims.sub).toBe(u.id);
    expect(await page.evaluate(() => (window as unknown as SpaWindow).spa.userinfo())).toMatchObject({ sub: u.id });

    // signoutRedirect: the IdP asks, then returns to post_logout_redirect_uri; its session is gone.
    expect(await idpCookies(page)).toContain('stepwise_session');
    await page.evaluate(() => void (window as unknown as SpaWindow).spa.logout());
    await page.getByTestId('logout-confirm').click();
    await page.waitForURL(`${spa.url}?**`);
    expect(await outcome(page)).toEqual(['signed-out', '']);
    expect(await page.evaluate(() => (window as unknown as SpaWindow).spa.user())).toBeNull();
    expect(await idpCookies(page)).not.toContain('stepwise_session');
    // Signing in again asks for the password: no single sign-on left.
    await openSpa(page, spa.url);
    await startLogin(page);
    await page.waitForSelector('#password');
  });

  it('signs in at loa2 when the SPA asks with acr_values: password, then a TOTP code', async () => {
    const u = await userWithFactors({ totp: true });
    const page = await newPage();
    await openSpa(page, spa.url);
    await startLogin(page, { acr_values: 'loa2' });
    await typePassword(page, u.email);
    await page.getByTestId('code-input').fill(totpCode(u.totpSecret!, now()));
    await page.getByTestId('code-submit').click();
    await page.waitForURL(`${spa.url}?**`);
    expect(await outcome(page)).toEqual(['signed-in', '']);
    const signedIn = (await page.evaluate(() => (window as unknown as SpaWindow).spa.user()))!;
    expect(signedIn.id_token_claims).toMatchObject({ sub: u.id, acr: 'loa2' });
    expect(signedIn.id_token_claims.amr).toEqual(expect.arrayContaining(['pwd', 'otp']));
  });

  it('cannot redeem a code from an origin the client does not allow', async () => {
    const u = await makeUser(srv);
    const page = await newPage();
    const corsErrors: string[] = [];
    page.on('console', (msg) => {
      if (/CORS policy/.test(msg.text())) corsErrors.push(msg.text());
    });
    const tokenRequests: string[] = [];
    page.on('request', (r) => {
      if (r.url() === `${srv.url}/token` && r.method() === 'POST') tokenRequests.push(new URL(r.frame().url()).origin);
    });
    // The code is delivered to the SPA's redirect URI; the SPA there has no matching state (the foreign page
    // started the sign-in), so it redeems nothing. The test hands the callback to the foreign page.
    await openSpa(page, foreign.url);
    await startLogin(page);
    await typePassword(page, u.email);
    await leaveIdp(page, spa.url);
    const [, stateError] = await outcome(page);
    expect(stateError).toMatch(/No matching state/);
    const callback = new URL(page.url());
    expect(callback.searchParams.get('code')).toBeTruthy();
    expect(tokenRequests).toEqual([]);

    const failed: string[] = [];
    page.on('requestfailed', (r) => {
      if (r.url() === `${srv.url}/token`) failed.push(r.failure()?.errorText ?? '');
    });
    const refusals: string[] = [];
    const onGrantError = (_ctx: unknown, err: Error) => refusals.push(err.message + ': ' + String((err as { error_description?: string }).error_description));
    srv.container.provider.on('grant.error', onGrantError);
    try {
      await page.goto(`${foreign.url}${callback.search}`);
      const [status, error] = await outcome(page);
      expect(status).toBe('');
      expect(error).toMatch(/Failed to fetch/);
    } finally {
      srv.container.provider.off('grant.error', onGrantError);
    }
    // The IdP refused the origin (400 invalid_request) and sent no Access-Control-Allow-Origin, so the
    // browser withheld the response from the page.
    expect(refusals).toEqual([`invalid_request: origin ${foreign.origin} not allowed for client: ${clientId}`]);
    expect(failed).toEqual(['net::ERR_FAILED']);
    expect(corsErrors.join('\n')).toMatch(/No 'Access-Control-Allow-Origin' header is present/);
    expect(corsErrors.join('\n')).toContain(`from origin '${foreign.origin}' has been blocked by CORS policy`);
    expect(tokenRequests).toEqual([foreign.origin]);
    expect(await page.evaluate(() => (window as unknown as SpaWindow).spa.user())).toBeNull();
  });
});
