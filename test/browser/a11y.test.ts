/**
 * Accessibility audit (issue 13): axe-core in Chromium over every hosted page and state — sign-in (clean,
 * with an error, in German, in dark mode), factor chooser, each factor challenge (and a wrong code),
 * consent, errors, the account page and each enrollment page, sign-out, and the reset pages — must report
 * zero WCAG 2.2 AA violations (tags wcag2a, wcag2aa, wcag21a, wcag21aa, wcag22aa).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { sqliteStore } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { authRequest, makeRp, PASSWORD, type TestRp } from '../helpers/rp.js';
import { captureRpCallbacks, launchChromium, typePassword } from '../helpers/chromium.js';
import { fakeClock, stepUpKit, type TestUser } from '../helpers/stepup.js';
import { totpCode } from '../helpers/account.js';

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
    srv = await startTestServer(sqliteStore, {}, { now: clock.now });
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

  afterAll(() => {
    // Reported once for all pages, so one run shows every problem.
    expect(scanned.length).toBeGreaterThanOrEqual(20);
    expect(found).toEqual([]);
  });
});
