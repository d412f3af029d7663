/**
 * The small comforts in Chromium (issue 13): a keyboard-only sign-in with TOTP (focus lands on the field,
 * then on the first error), "Try another way" and the last-used factor first, show/hide password,
 * login_hint, "Keep me signed in" (unchecked: a browser-session cookie; checked: the SSO lifetime), and the
 * account's sessions list with "Sign out" for another session, and the sign-out button.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { sqliteStore } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { authRequest, exchange, makeRp, PASSWORD, type TestRp } from '../helpers/rp.js';
import { captureRpCallbacks, launchChromium, typePassword } from '../helpers/chromium.js';
import { fakeClock, stepUpKit } from '../helpers/stepup.js';
import { totpCode } from '../helpers/account.js';

const SSO_TTL = 7 * 24 * 3600;

describe('comforts in Chromium', () => {
  let srv: TestServer;
  let rp: TestRp;
  let browser: Browser;
  const clock = fakeClock();
  const kit = stepUpKit(() => srv, () => rp, clock);
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];

  async function newPage(): Promise<{ page: Page; callbacks: string[] }> {
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    page.on('pageerror', (err) => problems.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error' && /Content Security Policy|Refused to/i.test(msg.text())) problems.push(msg.text());
    });
    return { page, callbacks: await captureRpCallbacks(page) };
  }

  const focused = (page: Page) => page.evaluate(() => document.activeElement?.id ?? document.activeElement?.tagName ?? '');

  beforeAll(async () => {
    srv = await startTestServer(sqliteStore, { SESSION_TTL_SECONDS: String(SSO_TTL) }, { now: clock.now });
    rp = await makeRp(srv);
    browser = await launchChromium();
  });
  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await srv?.close();
  });
  afterEach(() => expect(problems.splice(0)).toEqual([]));

  it('keyboard-only sign-in with TOTP; focus on the first error; try another way; last-used factor first', async () => {
    const u = await kit.user({ totp: true });
    await srv.container.factorService.registry.backup_code.startEnrollment({ userId: u.id, userEmail: u.email, userName: null, scope: 'x', now: clock.now() }, {});
    const { page, callbacks } = await newPage();
    const req = await authRequest(rp, { acr_values: 'loa2' });
    await page.goto(req.url);
    await page.waitForSelector('#email');
    expect(await focused(page)).toBe('email');
    await page.keyboard.type(u.email);
    await page.keyboard.press('Tab');
    expect(await focused(page)).toBe('password');
    await page.keyboard.type('not the password');
    await page.keyboard.press('Enter');
    await page.waitForSelector('[aria-invalid="true"], .error[role="alert"]');
    // The first error gets the focus (the password field, described by its error).
    expect(await focused(page)).toBe('password');
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Enter');
    // Two methods: the chooser; reach TOTP with the keyboard.
    await page.waitForSelector('[data-testid="factor-choice-totp"]');
    await page.getByTestId('factor-choice-totp').focus();
    await page.keyboard.press('Enter');
    await page.waitForSelector('#code');
    expect(await focused(page)).toBe('code');
    expect(await page.getByTestId('try-another-way').getAttribute('href')).toMatch(/\/factor\?choose$/);
    await page.keyboard.type('000000');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#code[aria-invalid="true"]');
    expect(await focused(page)).toBe('code');
    clock.advance(30);
    await page.keyboard.type(totpCode(u.totpSecret!, clock.now()));
    await page.keyboard.press('Enter');
    await page.waitForSelector('#rp');
    const tokens = await exchange(rp, req, callbacks[0]!);
    expect(tokens.claims()!.acr).toBe('loa2');

    // Next sign-in: the last-used factor is offered first (straight to it; first in the chooser).
    const again = await authRequest(rp, { acr_values: 'loa2', prompt: 'login' });
    await page.goto(again.url);
    await typePassword(page, u.email);
    await page.waitForURL(/\/factor\/totp$/);
    await page.getByTestId('try-another-way').click();
    await page.waitForSelector('[data-testid="factor-last-used"]');
    expect(await page.locator('ul.choices li a').first().getAttribute('data-testid')).toBe('factor-choice-totp');
  });

  it('show/hide password and login_hint', async () => {
    const { page } = await newPage();
    await page.goto((await authRequest(rp, { login_hint: 'hinted@example.test' })).url);
    await page.waitForSelector('#password');
    expect(await page.locator('#email').inputValue()).toBe('hinted@example.test');
    expect(await focused(page)).toBe('password');
    const toggle = page.getByTestId('show-password');
    await expect.poll(() => toggle.isVisible()).toBe(true);
    await page.fill('#password', 'secret words');
    await toggle.click();
    expect(await page.locator('#password').getAttribute('type')).toBe('text');
    expect(await toggle.getAttribute('aria-pressed')).toBe('true');
    expect(await toggle.textContent()).toBe('Hide password');
    await toggle.click();
    expect(await page.locator('#password').getAttribute('type')).toBe('password');
    expect(await toggle.textContent()).toBe('Show password');
  });

  it('keep me signed in: unchecked → browser-session cookie; checked → the SSO lifetime', async () => {
    const u = await kit.user();
    const lifetime = async (keep: boolean) => {
      const { page } = await newPage();
      await page.goto((await authRequest(rp)).url);
      await page.waitForSelector('#password');
      await page.fill('#email', u.email);
      await page.fill('#password', PASSWORD);
      if (keep) await page.getByTestId('keep-signed-in').check();
      await page.getByTestId('login-submit').click();
      await page.waitForSelector('#rp');
      const cookie = (await page.context().cookies()).find((c) => c.name === 'stepwise_session');
      expect(cookie).toBeDefined();
      return cookie!.expires;
    };
    expect(await lifetime(false)).toBe(-1);
    const expires = await lifetime(true);
    expect(Math.abs(expires - (clock.now() / 1000 + SSO_TTL))).toBeLessThan(120);
  });

  it('account: sessions list, sign out another session, then the sign-out button', async () => {
    const u = await kit.user();
    const a = (await newPage()).page;
    const b = (await newPage()).page;
    for (const page of [a, b]) {
      await page.goto(`${srv.url}/account`);
      await typePassword(page, u.email);
      await page.waitForURL(`${srv.url}/account`);
    }
    await a.reload();
    const rows = a.getByTestId('session-row');
    expect(await rows.count()).toBe(2);
    expect(await a.locator('[data-testid="session-row"][data-current="true"]').count()).toBe(1);
    await a.locator('[data-testid="session-row"][data-current="false"] [data-testid="session-end"]').click();
    await a.waitForURL(/\/account\?notice=/);
    expect(await a.getByTestId('session-row').count()).toBe(1);
    // The other browser is signed out: /account asks it to sign in.
    await b.goto(`${srv.url}/account`);
    await b.waitForSelector('#password');
    await a.getByTestId('sign-out').click();
    await a.waitForSelector('[data-testid="logged-out"]');
    await a.goto(`${srv.url}/account`);
    await a.waitForSelector('#password');
    expect(await srv.container.userSessions.list(u.id)).toEqual([]);
  });
});
