/**
 * The admin console in real Chromium: an admin signs in to /admin with password + TOTP typed into the hosted
 * pages, sees the dashboard, raises a client's minimum level through the policy form, and finds that edit in
 * the audit search; a non-admin gets the 403 page; after 15 minutes (fake clock) the console sends the admin
 * through the two-factor sign-in again. Pages must run without CSP violations or script errors.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { makeRp, type TestRp } from '../helpers/rp.js';
import { launchChromium, typePassword, WatchedPages } from '../helpers/chromium.js';
import { fakeClock, stepUpKit, type TestUser } from '../helpers/stepup.js';
import { totpCode } from '../helpers/account.js';
import { setAdminRole } from '../../src/admin/console/roles.js';
import { createClient } from '../../src/admin/service.js';
import { readClientPolicy } from '../../src/policy/client-policy.js';

describe.each(storeMatrix)('admin console in Chromium on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;
  let browser: Browser;
  const clock = fakeClock();
  const pages = new WatchedPages(() => browser);

  beforeAll(async () => {
    srv = await startTestServer(kind, {}, { now: clock.now });
    rp = await makeRp(srv);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await pages.closeAll();
    await browser?.close();
    await srv?.close();
  });
  afterEach(() => expect(pages.takeProblems()).toEqual([]));

  const { user } = stepUpKit(() => srv, () => rp, clock);

  /** Password, then a TOTP code from a later step than any used so far. */
  async function signInTyping(page: Page, u: TestUser) {
    await typePassword(page, u.email);
    await page.waitForURL(/\/interaction\/[^/]+\/factor\/totp$/);
    clock.advance(30);
    await page.getByTestId('code-input').fill(totpCode(u.totpSecret!, clock.now()));
    await page.getByTestId('code-submit').click();
  }

  it('signs an admin in with password + TOTP, edits a client minimum, and finds the edit in the audit log', async () => {
    const admin = await user({ totp: true });
    await setAdminRole(srv.container, admin.email, true);
    const client = await createClient(srv.container, { redirectUris: ['http://rp.test/cb'], name: 'Payroll' });

    const page = await pages.newPage();
    await page.goto(`${srv.url}/admin`);
    await signInTyping(page, admin);
    await page.waitForURL(`${srv.url}/admin`);
    expect(await page.getByTestId('admin-email').textContent()).toBe(admin.email);
    expect(await page.getByTestId('activity-chart').isVisible()).toBe(true);
    expect(Number(await page.getByTestId('total-signin').textContent())).toBeGreaterThanOrEqual(1);

    await page.getByTestId('nav-clients').click();
    await page.locator(`[data-testid="client-row"][data-client-id="${client.client_id}"] [data-testid="client-link"]`).click();
    await page.getByTestId('policy-min-acr').selectOption('loa2');
    await page.getByTestId('policy-save').click();
    await page.waitForURL(/\?notice=/);
    expect(await page.getByTestId('admin-notice').textContent()).toBe('Policy saved');
    expect(readClientPolicy(await srv.container.clients.find(client.client_id)).min_acr).toBe('loa2');

    await page.getByTestId('nav-audit').click();
    await page.getByTestId('audit-client').fill(client.client_id);
    await page.getByTestId('audit-type').fill('client.policy.updated');
    await page.getByTestId('audit-search').click();
    await page.waitForURL(/\/admin\/audit\?/);
    const rows = page.getByTestId('audit-row');
    expect(await rows.count()).toBe(1);
    expect(await rows.first().getByTestId('audit-row-actor').textContent()).toBe(admin.email);
    expect(await rows.first().getByTestId('audit-row-details').textContent()).toContain('"min_acr":"loa2"');
  });

  it('shows a non-admin the 403 page', async () => {
    const plain = await user({ totp: true });
    const page = await pages.newPage();
    await page.goto(`${srv.url}/admin`);
    await signInTyping(page, plain);
    await page.waitForSelector('[data-testid="admin-denied"]');
    expect(await page.getByTestId('admin-denied').getAttribute('data-reason')).toBe('not_admin');
    expect(await page.getByTestId('admin-nav').count()).toBe(0);
  });

  it('sends an admin whose two-factor sign-in is older than 15 minutes through the step-up again', async () => {
    const admin = await user({ totp: true });
    await setAdminRole(srv.container, admin.email, true);
    const page = await pages.newPage();
    await page.goto(`${srv.url}/admin/users`);
    await signInTyping(page, admin);
    await page.waitForURL(`${srv.url}/admin/users`);

    clock.advance(16 * 60);
    await page.getByTestId('nav-dashboard').click();
    // The console asks for both factors again, then lands where the admin was going.
    await signInTyping(page, admin);
    await page.waitForURL(`${srv.url}/admin`);
    expect(await page.getByTestId('admin-email').textContent()).toBe(admin.email);
  });
});
