/**
 * Push approval pages in real Chromium: the account page's enrollment finishes by itself once the reference
 * device registered, and the sign-in page updates itself (polling) when the device approves — or shows the
 * denial and offers a new request. openid-client is the relying party (http://rp.test/cb fulfilled here).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { PASSWORD, authRequest, exchange, makeRp, makeUser, type TestRp } from '../helpers/rp.js';
import { captureRpCallbacks, launchChromium, typePassword, WatchedPages } from '../helpers/chromium.js';
import { device, deviceEnv } from '../helpers/push.js';

const sortedAmr = (claims: Record<string, unknown> | undefined) => [...((claims?.amr as string[] | undefined) ?? [])].sort();

describe.each(storeMatrix)('push pages in Chromium on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;
  let browser: Browser;

  beforeAll(async () => {
    // No cool-down after a denial here, so the same sign-in can send a new request at once.
    srv = await startTestServer(kind, { PUSH_DENY_COOLDOWN_SECONDS: '0' });
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


  /** /account → "Set up sign-in approval" → the reference device enrolls with the shown code → back on /account by itself. */
  async function enrollInPage(page: Page, email: string, env: { STEPWISE_DEVICE_HOME: string }) {
    await page.goto(`${srv.url}/account`);
    await typePassword(page, email);
    await page.waitForURL(`${srv.url}/account`);
    await page.getByTestId('add-push').click();
    await expect(page.getByTestId('push-qr').getAttribute('src')).resolves.toMatch(/^data:image\/png;base64,/);
    const token = (await page.getByTestId('push-enrollment-token').textContent())!.trim();
    await device(env, 'enroll', token, '--name', 'Chromium test phone');
    // No click: the page sees the registration and confirms it.
    await page.waitForURL(/\/account\?notice=/);
    expect(await page.getByTestId('account-notice').textContent()).toBe('Phone approval (push) added');
    expect(await page.locator('[data-testid="factor-row"][data-kind="push"]').count()).toBe(1);
  }

  it('the sign-in page updates itself: a denial is shown, a new request is sent, and the approval continues by itself', async () => {
    const { email } = await makeUser(srv);
    const env = deviceEnv();
    await enrollInPage(await newPage(), email, env);

    const page = await newPage();
    const callbacks = await captureRpCallbacks(page);
    const req = await authRequest(rp, { acr_values: 'loa2' });
    await page.goto(req.url);
    await typePassword(page, email);
    await page.waitForURL(/\/interaction\/[^/]+\/factor\/push$/);
    const first = (await page.getByTestId('push-number').textContent())!.trim();
    expect(first).toMatch(/^[1-9][0-9]$/);
    await expect(page.getByTestId('push-status').getAttribute('data-state')).resolves.toBe('pending');
    await expect(page.getByTestId('push-resend').isHidden()).resolves.toBe(true);

    // "Deny — this wasn't me" on the device: the page says so by itself and offers a new request.
    await device(env, 'deny');
    await page.waitForSelector('[data-testid="push-status"][data-state="denied"]');
    expect(await page.getByTestId('push-status').textContent()).toMatch(/You denied this request on your phone/);
    await expect(page.getByTestId('push-continue-form').isHidden()).resolves.toBe(true);
    await page.getByTestId('push-resend-button').click();
    await page.waitForSelector('[data-testid="push-status"][data-state="pending"]');
    const number = (await page.getByTestId('push-number').textContent())!.trim();

    // Approve on the device: nothing is clicked, the poll sees it and submits the Continue form.
    await device(env, 'approve', '--number', number);
    await page.waitForSelector('#rp');
    expect(callbacks).toHaveLength(1);
    const tokens = await exchange(rp, req, callbacks[0]!);
    expect(tokens.claims()?.acr).toBe('loa2');
    expect(sortedAmr(tokens.claims())).toEqual(['mfa', 'pwd', 'swk']);
  });
});
