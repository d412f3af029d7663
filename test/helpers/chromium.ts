/** Debian's Chromium driven by playwright-core (no browser downloads here). */
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { PASSWORD } from './rp.js';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Serves the RP's redirect_uri (http://rp.test/...) from the test and records the callback URLs. */
export async function captureRpCallbacks(page: Page): Promise<string[]> {
  const seen: string[] = [];
  await page.route('http://rp.test/**', async (route) => {
    seen.push(route.request().url());
    await route.fulfill({ status: 200, contentType: 'text/html', body: '<p id="rp">callback received</p>' });
  });
  return seen;
}

/** Adds a CDP virtual authenticator (CTAP2, internal transport, resident keys, UV). */
export async function addVirtualAuthenticator(page: Page, opts: { isUserVerified?: boolean } = {}) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: opts.isUserVerified ?? true,
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, authenticatorId };
}

/** Types email + password into the hosted login page and submits it. */
export async function typePassword(page: Page, email: string, password = PASSWORD): Promise<void> {
  await page.waitForSelector('#password');
  await page.fill('#email', email);
  await page.fill('#password', password);
  await page.getByTestId('login-submit').click();
}

/**
 * Pages, each in a fresh browser context, that record uncaught page errors and CSP violations: a test
 * file checks `takeProblems()` after each test (the pages' JS must run cleanly) and `closeAll()` at the end.
 */
export class WatchedPages {
  private readonly contexts: BrowserContext[] = [];
  private problems: string[] = [];

  constructor(private readonly browser: () => Browser) {}

  async newPage(): Promise<Page> {
    const context = await this.browser().newContext();
    this.contexts.push(context);
    const page = await context.newPage();
    page.on('pageerror', (err) => this.problems.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error' && /Content Security Policy|Refused to/i.test(msg.text())) this.problems.push(`console: ${msg.text()}`);
    });
    return page;
  }

  takeProblems(): string[] {
    const out = this.problems;
    this.problems = [];
    return out;
  }

  async closeAll(): Promise<void> {
    for (const c of this.contexts) await c.close().catch(() => undefined);
  }
}
