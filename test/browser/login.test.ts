/** The hosted login page in real Chromium, with openid-client as the relying party. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { PASSWORD, authRequest, exchange, makeRp, makeUser, type TestRp } from '../helpers/rp.js';
import { captureRpCallbacks, launchChromium } from '../helpers/chromium.js';

describe.each(storeMatrix)('login page in Chromium on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;
  let browser: Browser;
  let email: string;

  beforeAll(async () => {
    srv = await startTestServer(kind);
    rp = await makeRp(srv);
    email = (await makeUser(srv)).email;
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await srv?.close();
  });

  it('shows a field error for a wrong password, then signs in', async () => {
    const page = await browser.newPage();
    const callbacks = await captureRpCallbacks(page);
    const req = await authRequest(rp);
    await page.goto(req.url);
    await expect(page.getByTestId('client-name').textContent()).resolves.toBe('Test RP');
    // Password managers must be able to fill the form.
    expect(await page.getAttribute('#password', 'autocomplete')).toBe('current-password');
    await page.fill('#email', email);
    await page.fill('#password', 'definitely wrong');
    await page.getByTestId('login-submit').click();
    await expect(page.getByTestId('password-error').textContent()).resolves.toContain('Incorrect email or password');
    await page.fill('#password', PASSWORD);
    await page.getByTestId('login-submit').click();
    await page.waitForSelector('#rp');
    expect(callbacks).toHaveLength(1);
    const tokens = await exchange(rp, req, callbacks[0]!);
    expect(tokens.claims()).toMatchObject({ acr: 'loa1', amr: ['pwd'] });
    await page.close();
  });
});
