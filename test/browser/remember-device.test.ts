/**
 * Issue 9, "Remember this device" in real Chromium (playwright-core): the TOTP page offers the checkbox,
 * ticking it marks the device record remembered, a remembered device spares the risk prompt of a new network,
 * /account lists the device as remembered, and "Forget" clears it (the next unusual sign-in asks again).
 * TRUST_PROXY=1 + an X-Forwarded-For header on the browser context choose the client's network.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { PASSWORD, authRequest, exchange, makeRp, type TestRp } from '../helpers/rp.js';
import { captureRpCallbacks, launchChromium, typePassword } from '../helpers/chromium.js';
import { totpCode } from '../helpers/account.js';
import { fakeClock, stepUpKit } from '../helpers/stepup.js';

const DAY_MS = 86_400_000;

describe.each(storeMatrix)('remember this device in Chromium on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;
  let browser: Browser;
  const clock = fakeClock();
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    srv = await startTestServer(kind, { TRUST_PROXY: '1' }, { now: clock.now });
    rp = await makeRp(srv);
    browser = await launchChromium();
  });
  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await srv?.close();
  });

  const { user } = stepUpKit(() => srv, () => rp, clock);

  /** Starts a sign-in at the RP with prompt=login and types the password; returns the request. */
  async function startSignIn(page: Page, email: string) {
    const req = await authRequest(rp, { prompt: 'login' });
    await page.goto(req.url);
    await typePassword(page, email);
    return req;
  }

  it('ticking the box on the TOTP page remembers the device; /account lists it and forgets it', async () => {
    const u = await user({ totp: true });
    const context = await browser.newContext({ extraHTTPHeaders: { 'x-forwarded-for': '203.0.113.10' } });
    contexts.push(context);
    const page = await context.newPage();
    const callbacks = await captureRpCallbacks(page);
    const devices = () => srv.container.db('devices').where({ user_id: u.id });

    // First sign-in: new device and network → TOTP, with the checkbox (unticked by default).
    const req = await startSignIn(page, u.email);
    await page.waitForURL(/\/interaction\/[^/]+\/factor\/totp$/);
    const box = page.getByTestId('remember-device');
    // Checked without waiting: the page is fully rendered here, and a missing box should fail at once.
    expect(await page.locator('form').first().textContent()).not.toContain('[object Promise]');
    expect(await box.count()).toBe(1);
    expect(await box.isChecked()).toBe(false);
    expect((await page.locator('label[for="remember_device"]').textContent())?.trim()).toBe('Remember this device for 30 days');
    // The label ticks the box (a real <label for>).
    await page.locator('label[for="remember_device"]').click();
    expect(await box.isChecked()).toBe(true);
    clock.advance(30);
    await page.getByTestId('code-input').fill(totpCode(u.totpSecret!, clock.now()));
    await page.getByTestId('code-submit').click();
    await page.waitForSelector('#rp');
    expect(callbacks).toHaveLength(1);
    const tokens = await exchange(rp, req, callbacks[0]!);
    expect(tokens.claims()?.acr).toBe('loa2');
    const [stored] = await devices();
    expect(stored).toBeDefined();
    expect(stored.ua_family).toMatch(/Chrome/);
    expect(Number(stored.remembered_until)).toBeGreaterThan(clock.now() + 29 * DAY_MS);
    expect(Number(stored.remembered_until)).toBeLessThanOrEqual(clock.now() + 30 * DAY_MS);

    // From a new network the remembered device is spared the second factor (loa1 is all the RP asks).
    await context.setExtraHTTPHeaders({ 'x-forwarded-for': '192.0.2.10' });
    callbacks.length = 0;
    const req2 = await startSignIn(page, u.email);
    await page.waitForSelector('#rp');
    expect(callbacks).toHaveLength(1);
    expect((await exchange(rp, req2, callbacks[0]!)).claims()).toMatchObject({ acr: 'loa1', amr: ['pwd'] });

    // /account (the IdP session is reused) lists this browser as remembered.
    await page.goto(`${srv.url}/account`);
    await page.waitForURL(`${srv.url}/account`);
    const row = page.getByTestId('device-row');
    expect(await row.count()).toBe(1);
    expect(await row.getAttribute('data-remembered')).toBe('true');
    expect(await row.getAttribute('data-device-id')).toBe(stored.id);
    expect(await row.getByTestId('device-current').count()).toBe(1);
    await expect(row.getByTestId('device-remembered-until').textContent()).resolves.toMatch(/^remembered until \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$/);

    // Forget.
    await row.getByTestId('device-forget').click();
    await page.waitForURL(/\/account\?notice=/);
    expect(await page.getByTestId('account-notice').textContent()).toBe('Device forgotten');
    expect(await page.getByTestId('device-row').getAttribute('data-remembered')).toBe('false');
    expect(await page.getByTestId('device-forget').count()).toBe(0);
    expect((await devices())[0].remembered_until).toBeNull();

    // The next sign-in from a new network asks for the second factor again.
    await context.setExtraHTTPHeaders({ 'x-forwarded-for': '198.18.0.10' });
    await startSignIn(page, u.email);
    await page.waitForURL(/\/interaction\/[^/]+\/factor\/totp$/);
    expect(await page.getByTestId('code-input').count()).toBe(1);
  });
});
