/**
 * The factor pages in real Chromium (playwright-core): TOTP enrollment and sign-in typed into the pages, and
 * passkeys through a CDP virtual authenticator driving public/stepwise.js + the SimpleWebAuthn bundle.
 * openid-client is the relying party; its redirect_uri (http://rp.test/cb) is fulfilled by the test.
 *
 * The server runs on an injectable clock (offset advanced 30 s at a time) so the sign-in code is always from
 * a later TOTP step than the enrollment code, which the server would refuse as reused.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { generateSync } from 'otplib';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { PASSWORD, authRequest, exchange, makeRp, makeUser, type TestRp } from '../helpers/rp.js';
import { addVirtualAuthenticator, captureRpCallbacks, launchChromium, typePassword, WatchedPages } from '../helpers/chromium.js';

const sortedAmr = (claims: Record<string, unknown> | undefined) => [...((claims?.amr as string[] | undefined) ?? [])].sort();

describe.each(storeMatrix)('factor pages in Chromium on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;
  let browser: Browser;
  let offset = 0;
  const now = () => Date.now() + offset;
  /** Moves the IdP clock one TOTP step on, so the next code is from a later step than any used so far. */
  const nextStep = () => {
    offset += 30_000;
  };
  const code = (secret: string) => generateSync({ secret, epoch: Math.floor(now() / 1000) });

  beforeAll(async () => {
    srv = await startTestServer(kind, {}, { now });
    rp = await makeRp(srv);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await pages.closeAll();
    await browser?.close();
    await srv?.close();
  });

  afterEach(() => expect(pages.takeProblems()).toEqual([]));

  const pages = new WatchedPages(() => browser);
  const newPage = () => pages.newPage();


  /** Opens /account and signs in with the password (fresh session, loa1). */
  async function signInToAccount(page: Page, email: string) {
    await page.goto(`${srv.url}/account`);
    await typePassword(page, email);
    await page.waitForURL(`${srv.url}/account`);
    expect(await page.getByTestId('account-email').textContent()).toBe(email);
  }

  /** Waits for the RP callback and redeems the code with openid-client. */
  async function tokensFrom(page: Page, callbacks: string[], req: Awaited<ReturnType<typeof authRequest>>) {
    await page.waitForSelector('#rp');
    expect(callbacks).toHaveLength(1);
    return exchange(rp, req, callbacks[0]!);
  }

  async function enrollTotpInPage(page: Page): Promise<string> {
    await page.getByTestId('add-totp').click();
    const secret = (await page.getByTestId('totp-secret').textContent())!.trim();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(await page.getByTestId('code-input').getAttribute('autocomplete')).toBe('one-time-code');
    await page.getByTestId('code-input').fill(code(secret));
    await page.getByTestId('totp-confirm').click();
    await page.waitForURL(/\/account\?notice=/);
    expect(await page.getByTestId('account-notice').textContent()).toBe('Authenticator app added');
    expect(await page.locator('[data-testid="factor-row"][data-kind="totp"]').count()).toBe(1);
    return secret;
  }

  async function virtualCredentials(cdp: CDPSession, authenticatorId: string) {
    return (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
  }

  /** Clicks "Add a passkey", names it and creates it with the page's virtual authenticator. */
  async function enrollPasskeyInPage(page: Page, name: string) {
    await page.getByTestId('add-webauthn').click();
    await page.getByTestId('webauthn-name').fill(name);
    await page.getByTestId('webauthn-register').click();
    await page.waitForURL(/\/account\?notice=/);
    expect(await page.getByTestId('account-notice').textContent()).toBe('Passkey or security key added');
    const row = page.locator('[data-testid="factor-row"][data-kind="webauthn"]');
    expect(await row.count()).toBe(1);
    const factorId = (await row.getAttribute('data-factor-id'))!;
    expect(await page.getByTestId(`rename-input-${factorId}`).inputValue()).toBe(name);
    return factorId;
  }

  it('enrolls TOTP on /account, then signs in to the RP with password + a code from the next step', async () => {
    const { email } = await makeUser(srv);
    const account = await newPage();
    await signInToAccount(account, email);
    const secret = await enrollTotpInPage(account);

    nextStep();
    const page = await newPage();
    const callbacks = await captureRpCallbacks(page);
    const req = await authRequest(rp);
    await page.goto(req.url);
    await typePassword(page, email);
    await page.waitForURL(/\/interaction\/[^/]+\/factor\/totp$/);
    // A wrong code is shown next to the field; the right one finishes the sign-in.
    await page.getByTestId('code-input').fill('000000');
    await page.getByTestId('code-submit').click();
    await expect(page.getByTestId('code-error').textContent()).resolves.toMatch(/not valid/);
    await page.getByTestId('code-input').fill(code(secret));
    await page.getByTestId('code-submit').click();
    const tokens = await tokensFrom(page, callbacks, req);
    expect(tokens.claims()?.acr).toBe('loa2');
    expect(sortedAmr(tokens.claims())).toEqual(['mfa', 'otp', 'pwd']);
  });

  it('enrolls a passkey with a virtual authenticator, then signs in with password + passkey and passkey-first', async () => {
    const user = await makeUser(srv);
    const page = await newPage();
    const { cdp, authenticatorId } = await addVirtualAuthenticator(page);
    const callbacks = await captureRpCallbacks(page);

    await signInToAccount(page, user.email);
    const factorId = await enrollPasskeyInPage(page, 'Virtual key');

    // The virtual authenticator holds one discoverable credential; CDP reports its id in plain base64.
    const [cred] = await virtualCredentials(cdp, authenticatorId);
    expect(cred).toBeDefined();
    expect(cred!.isResidentCredential).toBe(true);
    expect(cred!.rpId).toBe('localhost');
    const credentialId = Buffer.from(cred!.credentialId, 'base64').toString('base64url');
    const row = await srv.container.db('factors').where({ id: factorId }).first();
    expect(row).toMatchObject({ user_id: user.id, kind: 'webauthn', credential_id: credentialId, name: 'Virtual key' });
    expect(JSON.parse(row.meta as string).transports).toContain('internal');
    expect(Buffer.from(cred!.userHandle!, 'base64').toString('utf8')).toBe(user.id);

    // Password, then the passkey as second factor (prompt=login: the account session is not reused; this
    // browser and network are known now, so the RP asks for loa2 to get a second factor at all).
    const req = await authRequest(rp, { prompt: 'login', acr_values: 'loa2' });
    await page.goto(req.url);
    await typePassword(page, user.email);
    await page.waitForURL(/\/interaction\/[^/]+\/factor\/webauthn$/);
    await page.getByTestId('webauthn-start').click();
    const tokens = await tokensFrom(page, callbacks, req);
    expect(tokens.claims()?.sub).toBe(user.id);
    expect(tokens.claims()?.acr).toBe('phr');
    // Platform authenticator (transport internal) → swk; UV performed → user; with the password → mfa.
    expect(sortedAmr(tokens.claims())).toEqual(['mfa', 'pwd', 'swk', 'user']);
    const afterSecond = (await virtualCredentials(cdp, authenticatorId))[0]!.signCount;
    expect(Number((await srv.container.db('factors').where({ id: factorId }).first()).counter)).toBe(afterSecond);

    // Passkey-first from the login page's button: no password at all.
    callbacks.length = 0;
    const req2 = await authRequest(rp, { prompt: 'login' });
    await page.goto(req2.url);
    await page.getByTestId('passkey-signin').click();
    const tokens2 = await tokensFrom(page, callbacks, req2);
    expect(tokens2.claims()?.sub).toBe(user.id);
    expect(tokens2.claims()?.acr).toBe('phr');
    expect(sortedAmr(tokens2.claims())).toEqual(['mfa', 'swk', 'user']);
    expect(tokens2.claims()?.amr).not.toContain('pwd');
    const afterFirst = (await virtualCredentials(cdp, authenticatorId))[0]!.signCount;
    expect(afterFirst).toBeGreaterThan(afterSecond);
    expect(Number((await srv.container.db('factors').where({ id: factorId }).first()).counter)).toBe(afterFirst);
  });

  it('shows passkey-first errors in the page: the authenticator refusing UV, and the server refusing the credential', async () => {
    const user = await makeUser(srv);
    const page = await newPage();
    const { cdp, authenticatorId } = await addVirtualAuthenticator(page);
    await signInToAccount(page, user.email);
    const factorId = await enrollPasskeyInPage(page, 'No PIN');
    const error = page.getByTestId('passkey-error');

    // The passwordless options require UV; an authenticator that cannot verify the user refuses in the browser.
    await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: false });
    const req = await authRequest(rp, { prompt: 'login' });
    await page.goto(req.url);
    const loginUrl = page.url();
    await page.getByTestId('passkey-signin').click();
    await error.waitFor({ state: 'visible' });
    expect(await error.textContent()).toMatch(/cancelled or timed out/);
    expect(page.url()).toBe(loginUrl);
    expect(await page.getByTestId('passkey-signin').isEnabled()).toBe(true);

    // The passkey was removed from the account but is still on the device: the server's JSON message is shown,
    // and the user can still sign in with the password on the same page.
    await cdp.send('WebAuthn.setUserVerified', { authenticatorId, isUserVerified: true });
    await srv.container.db('factors').where({ id: factorId }).del();
    await page.getByTestId('passkey-signin').click();
    await expect.poll(() => error.textContent()).toBe('The security key or passkey could not be verified.');
    expect(page.url()).toBe(loginUrl);
    const callbacks = await captureRpCallbacks(page);
    await typePassword(page, user.email);
    const tokens = await tokensFrom(page, callbacks, req);
    expect(tokens.claims()).toMatchObject({ acr: 'loa1', amr: ['pwd'] });
  });

  it('adding a passkey after TOTP goes through a fresh two-factor re-auth in the page', async () => {
    const { email } = await makeUser(srv);
    const page = await newPage();
    const { cdp, authenticatorId } = await addVirtualAuthenticator(page);
    await signInToAccount(page, email);
    const secret = await enrollTotpInPage(page);
    expect(await page.getByTestId('reauth-hint').count()).toBe(1);

    // The loa1 session is not enough any more: "Add a passkey" asks for password + TOTP first.
    nextStep();
    await page.getByTestId('add-webauthn').click();
    await typePassword(page, email);
    await page.waitForURL(/\/interaction\/[^/]+\/factor\/totp$/);
    await page.getByTestId('code-input').fill(code(secret));
    await page.getByTestId('code-submit').click();
    await page.waitForURL(`${srv.url}/account`);
    expect(await page.getByTestId('reauth-hint').count()).toBe(0);
    await enrollPasskeyInPage(page, 'After re-auth');
    expect(await virtualCredentials(cdp, authenticatorId)).toHaveLength(1);

    // Sign-in at loa2 (a known browser and network ask no more by themselves): TOTP was used last, the page
    // offers the passkey as the alternative.
    const callbacks = await captureRpCallbacks(page);
    const req = await authRequest(rp, { prompt: 'login', acr_values: 'loa2' });
    await page.goto(req.url);
    await typePassword(page, email);
    await page.waitForURL(/\/factor\/totp$/);
    await page.getByTestId('alternative').filter({ hasText: 'Passkey or security key' }).click();
    await page.waitForURL(/\/factor\/webauthn$/);
    await page.getByTestId('webauthn-start').click();
    const tokens = await tokensFrom(page, callbacks, req);
    expect(tokens.claims()?.acr).toBe('phr');
    expect(sortedAmr(tokens.claims())).toEqual(['mfa', 'pwd', 'swk', 'user']);
  });
});
