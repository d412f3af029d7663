/**
 * Accessibility audit (issue 13): axe-core in Chromium over every hosted page and state — sign-in (clean,
 * with an error, in German, in dark mode), factor chooser, each factor challenge (and a wrong code),
 * consent, errors, the push page when the phone can no longer be reached (its app was removed: FCM says the
 * token is unregistered), the account page and each enrollment page, sign-out, the reset pages, the MFA-enforcement
 * notice, the "sign-in blocked" page (German), and the admin console (each section, one user,
 * one client, and its two refusal pages) — must report zero WCAG 2.2 AA violations (tags wcag2a, wcag2aa,
 * wcag21a, wcag21aa, wcag22aa).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { sqliteStore } from '../helpers/stores.js';
import { policyFile, startTestServer, type TestServer } from '../helpers/server.js';
import { authRequest, makeRp, makeUser, PASSWORD, type TestRp } from '../helpers/rp.js';
import { captureRpCallbacks, launchChromium, typePassword } from '../helpers/chromium.js';
import { fakeClock, stepUpKit, type TestUser } from '../helpers/stepup.js';
import { totpCode } from '../helpers/account.js';
import { setAdminRole } from '../../src/admin/console/roles.js';
import { DEAD_FCM_TOKEN, deviceEnv, enrollPush, startFakeFcm } from '../helpers/push.js';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];

interface Violation {
  id: string;
  impact: string;
  help: string;
  nodes: Array<{ target: string[]; failureSummary?: string }>;
}

/** Runs axe on the current page; returns "page: rule (impact) at target" lines. */
async function audit(page: Page, label: string): Promise<string[]> {
  await page.addScriptTag({ content: AXE });
  const violations = (await page.evaluate(
    (tags) => (window as unknown as { axe: { run(ctx: Document, o: unknown): Promise<{ violations: unknown[] }> } }).axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] }).then((r) => r.violations),
    TAGS,
  )) as Violation[];
  return violations.flatMap((v) => v.nodes.map((n) => `${label}: ${v.id} (${v.impact}) ${v.help} at ${n.target.join(' ')}`));
}

describe('accessibility (axe-core, WCAG 2.2 AA) in Chromium', () => {
  let srv: TestServer;
  let rp: TestRp;
  let consentRp: TestRp;
  let browser: Browser;
  const clock = fakeClock();
  const kit = stepUpKit(() => srv, () => rp, clock);
  let user: TestUser;
  let fcm: Awaited<ReturnType<typeof startFakeFcm>>;
  const found: string[] = [];
  const scanned: string[] = [];
  const contexts: BrowserContext[] = [];

  async function newPage(opts: { locale?: string; colorScheme?: 'dark' | 'light' } = {}): Promise<Page> {
    // bypassCSP only so the test can inject axe; the pages' own CSP is checked by the other browser tests.
    const context = await browser.newContext({ bypassCSP: true, locale: opts.locale ?? 'en-US', colorScheme: opts.colorScheme ?? 'light' });
    contexts.push(context);
    const page = await context.newPage();
    await captureRpCallbacks(page);
    return page;
  }

  async function scan(page: Page, label: string) {
    if (process.env.A11Y_DEBUG) console.log(new Date().toISOString(), label, page.url());
    scanned.push(label);
    found.push(...(await audit(page, label)));
  }

  beforeAll(async () => {
    // Push goes through a local FCM (helpers/push.ts), so a removed phone app is seen as a real user meets it.
    fcm = await startFakeFcm();
    srv = await startTestServer(sqliteStore, fcm.env, { now: clock.now, firebase: fcm.firebase });
    rp = await makeRp(srv);
    consentRp = await makeRp(srv, { firstParty: false });
    user = await kit.user({ totp: true, webauthn: true });
    const ctx = { userId: user.id, userEmail: user.email, userName: null, scope: `a11y-${user.id}`, now: clock.now() };
    await srv.container.factorService.registry.backup_code.startEnrollment(ctx, {});
    browser = await launchChromium();
  });
  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await srv?.close();
    await fcm?.close();
  });

  it('sign-in pages: login (clean, error, German, dark), chooser, each factor, wrong code, consent, errors, sign-out', async () => {
    const page = await newPage();
    await page.goto((await authRequest(consentRp, { acr_values: 'loa2' })).url);
    await page.waitForSelector('#password');
    await scan(page, 'login');
    await typePassword(page, user.email, 'wrong password entirely');
    await page.waitForSelector('.error[role="alert"]');
    await scan(page, 'login with error');
    await typePassword(page, user.email, PASSWORD);
    await page.waitForURL(/\/factor(\/|\?|$)/);
    const uid = page.url().match(/\/interaction\/([^/?]+)/)![1]!;
    await page.goto(`${srv.url}/interaction/${uid}/factor?choose`);
    await scan(page, 'factor chooser');
    for (const kind of ['webauthn', 'backup_code', 'totp']) {
      await page.goto(`${srv.url}/interaction/${uid}/factor/${kind}`);
      await scan(page, `${kind} challenge`);
    }
    await page.getByTestId('code-input').fill('000000');
    await page.getByTestId('code-submit').click();
    await page.waitForSelector('[data-testid="code-error"]');
    await scan(page, 'totp wrong code');
    clock.advance(30);
    await page.getByTestId('code-input').fill(totpCode(user.totpSecret!, clock.now()));
    await page.getByTestId('code-submit').click();
    await page.waitForSelector('[data-testid="consent-allow"]');
    await scan(page, 'consent');
    await page.getByTestId('consent-allow').click();
    await page.waitForSelector('#rp');

    await page.goto(`${srv.url}/session/end`);
    await page.waitForSelector('[data-testid="logout-confirm"]');
    await scan(page, 'sign-out confirmation');
    await page.getByTestId('logout-confirm').click();
    await page.waitForSelector('[data-testid="logged-out"]');
    await scan(page, 'signed out');

    await page.goto(`${srv.url}/interaction/not-a-real-interaction`);
    await scan(page, 'error page');
    await page.goto(`${srv.url}/`);
    await scan(page, 'home');

    const de = await newPage({ locale: 'de-DE', colorScheme: 'dark' });
    await de.goto((await authRequest(rp)).url);
    await de.waitForSelector('#password');
    expect(await de.getAttribute('html', 'lang')).toBe('de');
    await scan(de, 'login (German, dark)');
    for (const path of ['/password/forgot']) {
      const res = await de.goto(`${srv.url}${path}`);
      if (res?.status() === 200) await scan(de, `reset: ${path}`);
    }
  }, 180_000);

  it('push page when the phone can no longer be reached (blocked)', async () => {
    // Push set up with a token FCM no longer knows (the app was removed): the sign-in marks it stale and says so.
    const phone = await makeUser(srv);
    await enrollPush(srv, phone.email, deviceEnv(), ['--fcm-token', DEAD_FCM_TOKEN]);
    const page = await newPage();
    await page.goto((await authRequest(rp, { acr_values: 'loa2' })).url);
    await typePassword(page, phone.email);
    await page.waitForURL(/\/factor\/push$/);
    await page.waitForSelector('[data-testid="push-status"][data-state="blocked"]');
    expect(await page.getByTestId('push-status').textContent()).toMatch(/could not reach your phone app/);
    await scan(page, 'push blocked (phone unreachable)');
  }, 60_000);

  it('account page and each enrollment page', async () => {
    // A password-only account: a fresh password sign-in may add methods (no re-auth step in the way).
    const fresh = await kit.user();
    const page = await newPage();
    await page.goto(`${srv.url}/account`);
    await typePassword(page, fresh.email);
    await page.waitForURL(`${srv.url}/account`);
    await scan(page, 'account');
    // The account lifecycle pages (issue 11), with a form error each.
    await page.goto(`${srv.url}/account/password`);
    await page.getByTestId('current-password').fill('wrong');
    await page.getByTestId('new-password').fill('password1');
    await page.getByTestId('password-submit').click();
    await page.waitForSelector('[data-testid="current-password-error"]');
    await scan(page, 'password change with error');
    await page.goto(`${srv.url}/account/email`);
    await page.getByTestId('email-submit').click();
    await page.waitForSelector('[data-testid="email-error"]');
    await scan(page, 'e-mail change with error');
    await page.goto(`${srv.url}/account/delete`);
    await scan(page, 'delete account');
    await page.goto(`${srv.url}/account/verify-email?token=x`);
    await scan(page, 'verification link invalid');
    // Before any second factor exists (then adding one needs a two-factor re-auth).
    if (await page.getByTestId('add-sms').count()) {
      await page.getByTestId('sms-phone').fill('not a number');
      await page.getByTestId('add-sms').click();
      await page.waitForLoadState('domcontentloaded');
      expect(page.url()).toMatch(/\/account\/factors\/sms\/start$/);
      await scan(page, 'sms enroll with error');
    }
    for (const [button, label] of [['add-totp', 'totp enroll'], ['add-webauthn', 'webauthn enroll'], ['add-push', 'push enroll'], ['generate-backup-codes', 'backup codes']] as const) {
      await page.goto(`${srv.url}/account`);
      await page.getByTestId(button).click();
      await page.waitForLoadState('domcontentloaded');
      await scan(page, label);
      if (button === 'add-totp') {
        await page.getByTestId('code-input').fill('000000');
        await page.getByTestId('totp-confirm').click();
        await page.waitForSelector('[data-testid="code-error"]');
        await scan(page, 'totp enroll wrong code');
        await page.goto(`${srv.url}/account`);
        await page.locator('[data-testid^="cancel-pending-"]').first().click();
      }
    }
  }, 180_000);

  /** Password, then the authenticator app (whichever factor page came first). */
  async function totpSignIn(page: Page, u: TestUser) {
    await typePassword(page, u.email);
    await page.waitForURL(/\/factor(\/|\?|$)/);
    const uid = page.url().match(/\/interaction\/([^/?]+)/)![1]!;
    await page.goto(`${srv.url}/interaction/${uid}/factor/totp`);
    clock.advance(30);
    await page.getByTestId('code-input').fill(totpCode(u.totpSecret!, clock.now()));
    await page.getByTestId('code-submit').click();
  }

  it('admin console: each section, one user, one client, and both refusal pages', async () => {
    const admin = await kit.user({ totp: true });
    await setAdminRole(srv.container, admin.email, true);
    const page = await newPage();
    await page.goto(`${srv.url}/admin`);
    await totpSignIn(page, admin);
    await page.waitForSelector('[data-testid="admin-nav"]');
    await scan(page, 'admin dashboard');
    for (const [path, label] of [
      [`/admin/users?q=${encodeURIComponent(user.email)}`, 'admin users'],
      [`/admin/users/${user.id}`, 'admin user'],
      [`/admin/clients/${encodeURIComponent(rp.clientId)}`, 'admin client'],
      ['/admin/audit?from=yesterday', 'admin audit with error'],
      ['/admin/approvals', 'admin approvals'],
    ] as const) {
      await page.goto(`${srv.url}${path}`);
      await page.waitForSelector('[data-testid="admin-nav"]');
      await scan(page, label);
    }
    // Signed in with two factors but not an admin: the refusal page.
    const other = await newPage({ locale: 'fr-FR' });
    await other.goto(`${srv.url}/admin`);
    await totpSignIn(other, user);
    await other.waitForSelector('[data-testid="admin-denied"]');
    await scan(other, 'admin refusal (French)');
    // An admin with only a password cannot reach the console's level: the page says why, in German.
    const passwordOnly = await kit.user();
    await setAdminRole(srv.container, passwordOnly.email, true);
    const unmet = await newPage({ locale: 'de-DE' });
    await unmet.goto(`${srv.url}/admin`);
    await typePassword(unmet, passwordOnly.email);
    await unmet.waitForSelector('[data-testid="admin-denied"][data-reason="no_second_factor"]');
    await scan(unmet, 'admin refusal, no second factor (German)');
  }, 120_000);

  it('MFA-enforcement notice, and the sign-in blocked page (German)', async () => {
    // A second server: MFA required for all (30-day grace) and a denied network, behind a trusted proxy.
    const strict = await startTestServer(sqliteStore, { ARGON2_MEMORY_KIB: '7168', ARGON2_TIME_COST: '1', TRUST_PROXY: '1', STEPWISE_POLICY_FILE: policyFile('mfa_enforcement: { all_users: true, grace_period: 30d }\nnetworks:\n  deny: [198.51.100.0/24]\n') });
    try {
      const strictRp = await makeRp(strict);
      const plain = await makeUser(strict);
      const page = await newPage();
      await page.goto((await authRequest(strictRp)).url);
      await typePassword(page, plain.email);
      await page.waitForSelector('[data-testid="mfa-notice"]');
      await scan(page, 'MFA notice');
      // Denied by the policy (the network is deny-listed), in German.
      const context = await browser.newContext({ bypassCSP: true, locale: 'de-DE', extraHTTPHeaders: { 'x-forwarded-for': '198.51.100.7' } });
      contexts.push(context);
      const blocked = await context.newPage();
      await captureRpCallbacks(blocked);
      await blocked.goto((await authRequest(strictRp)).url);
      await typePassword(blocked, plain.email);
      await blocked.waitForSelector('[data-testid="denied-message"]');
      expect(await blocked.getAttribute('html', 'lang')).toBe('de');
      await scan(blocked, 'sign-in blocked (German)');
    } finally {
      await strict.close();
    }
  }, 120_000);

  afterAll(() => {
    // Reported once for all pages, so one run shows every problem.
    expect(scanned.length).toBeGreaterThanOrEqual(20);
    expect(found).toEqual([]);
  });
});
