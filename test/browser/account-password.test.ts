/**
 * Issue 11, the /account password change in real Chromium: from the account page to the form, a common
 * password refused next to the field (nothing changed), the show-password toggle, the change itself with
 * the notice, and the new password signing in from another browser while the old one is refused. The page
 * must run without script errors or CSP violations.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { sqliteStore } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { PASSWORD, makeUser } from '../helpers/rp.js';
import { launchChromium, typePassword, WatchedPages } from '../helpers/chromium.js';

const NEW_PASSWORD = 'lanterns drift past the old mill at dusk';

// One store: the page is the subject here; the change itself runs on every store in
// test/integration/account-lifecycle.test.ts.
describe('password change on /account in Chromium', () => {
  const kind = sqliteStore;
  let srv: TestServer;
  let browser: Browser;
  let pages: WatchedPages;

  beforeAll(async () => {
    srv = await startTestServer(kind);
    browser = await launchChromium();
    pages = new WatchedPages(() => browser);
  });
  afterAll(async () => {
    await pages?.closeAll();
    await browser?.close();
    await srv?.close();
  });

  it('changes the password from the account page; a common password is refused next to the field', async () => {
    const u = await makeUser(srv);
    const page = await pages.newPage();
    await page.goto(`${srv.url}/account`);
    await typePassword(page, u.email);
    await page.waitForURL(/\/account$/);
    await page.getByTestId('change-password').click();
    await page.waitForURL(/\/account\/password$/);

    await page.getByTestId('current-password').fill(PASSWORD);
    await page.getByTestId('new-password').fill('iloveyou1');
    // The toggle shows what was typed (and hides it again).
    await page.getByTestId('show-password').click();
    expect(await page.getByTestId('new-password').getAttribute('type')).toBe('text');
    await page.getByTestId('show-password').click();
    expect(await page.getByTestId('new-password').getAttribute('type')).toBe('password');
    await page.getByTestId('password-submit').click();
    await expect.poll(() => page.getByTestId('new-password-error').textContent()).toMatch(/most common passwords/);
    expect(await page.getByTestId('new-password').getAttribute('aria-invalid')).toBe('true');
    expect(await srv.container.hasher.verify((await srv.container.users.findById(u.id))!.passwordHash, PASSWORD)).toBe(true);

    await page.getByTestId('current-password').fill(PASSWORD);
    await page.getByTestId('new-password').fill(NEW_PASSWORD);
    await page.getByTestId('password-submit').click();
    await page.waitForURL(/\/account\?notice=/);
    expect(await page.getByTestId('account-notice').textContent()).toBe('Password changed. Your other sessions were signed out.');

    // Another browser: the old password is refused, the new one signs in.
    const other = await pages.newPage();
    await other.goto(`${srv.url}/account`);
    await typePassword(other, u.email, PASSWORD);
    await expect.poll(() => other.locator('[role="alert"]').first().textContent()).toMatch(/Incorrect email or password/);
    await typePassword(other, u.email, NEW_PASSWORD);
    await other.waitForURL(/\/account$/);
    expect(pages.takeProblems()).toEqual([]);
  });
});
