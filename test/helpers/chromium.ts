/** Debian's Chromium driven by playwright-core (no browser downloads here). */
import { chromium, type Browser, type Page } from 'playwright-core';

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
