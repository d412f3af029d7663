/**
 * Languages and branding in Chromium (issue 13): the pages render in English, German and French from the
 * browser's Accept-Language and from ui_locales (which wins); the language switcher works without
 * JavaScript and comes back to the same page; an unknown locale falls back to English; a custom theme's
 * name, logo and colours are applied (light and dark).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { sqliteStore } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { authRequest, makeRp, type TestRp } from '../helpers/rp.js';
import { launchChromium } from '../helpers/chromium.js';

function theme(): string {
  const dir = mkdtempSync(join(tmpdir(), 'stepwise-theme-'));
  writeFileSync(join(dir, 'theme.json'), JSON.stringify({ product_name: 'Acme ID', logo: 'acme.svg', colors: { accent: '#0a6b2e' }, dark_colors: { accent: '#7ee2a0' } }));
  writeFileSync(join(dir, 'acme.svg'), '<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32"><rect width="32" height="32" fill="#0a6b2e"/></svg>');
  return dir;
}

describe('languages and theme in Chromium', () => {
  let srv: TestServer;
  let rp: TestRp;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];

  async function open(url: string, opts: { locale?: string; colorScheme?: 'light' | 'dark'; javaScriptEnabled?: boolean } = {}): Promise<Page> {
    const context = await browser.newContext({ locale: opts.locale ?? 'en-US', colorScheme: opts.colorScheme ?? 'light', javaScriptEnabled: opts.javaScriptEnabled ?? true });
    contexts.push(context);
    const page = await context.newPage();
    page.on('pageerror', (err) => problems.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(msg.text());
    });
    await page.goto(url);
    await page.waitForSelector('#password');
    return page;
  }

  beforeAll(async () => {
    srv = await startTestServer(sqliteStore, { STEPWISE_THEME_DIR: theme() });
    rp = await makeRp(srv);
    browser = await launchChromium();
  });
  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await srv?.close();
  });
  afterEach(() => expect(problems.splice(0)).toEqual([]));

  it('each language renders from Accept-Language; ui_locales wins; unknown falls back to English', async () => {
    const cases: Array<[string, Record<string, string>, string, string]> = [
      ['de-DE', {}, 'de', 'Angemeldet bleiben'],
      ['fr-FR', {}, 'fr', 'Rester connecté'],
      ['de-DE', { ui_locales: 'fr-CA en' }, 'fr', 'Rester connecté'],
      ['xx-YY', { ui_locales: 'qq' }, 'en', 'Keep me signed in'],
    ];
    for (const [locale, params, lang, keep] of cases) {
      const page = await open((await authRequest(rp, params)).url, { locale });
      expect(await page.getAttribute('html', 'lang'), `${locale} ${JSON.stringify(params)}`).toBe(lang);
      expect(await page.locator('label[for="keep_signed_in"]').textContent()).toBe(keep);
      expect(await page.title()).toMatch(/ · Acme ID$/);
    }
  });

  it('the language switcher works without JavaScript and returns to the same page', async () => {
    const page = await open((await authRequest(rp)).url, { locale: 'en-US', javaScriptEnabled: false });
    const before = page.url();
    await page.getByTestId('language-de').click();
    await page.waitForSelector('html[lang="de"]');
    expect(page.url()).toBe(before);
    expect(await page.getByTestId('login-submit').textContent()).toBe('Anmelden');
    expect(await page.getByTestId('language-de').getAttribute('aria-current')).toBe('true');
    // The show-password button stays hidden without JavaScript: the page works without it.
    expect(await page.getByTestId('show-password').isHidden()).toBe(true);
  });

  it('a custom theme is applied: name, logo, colours, and dark mode', async () => {
    const light = await open((await authRequest(rp)).url);
    expect(await light.getByTestId('brand-name').textContent()).toBe('Acme ID');
    expect(await light.getByTestId('brand-logo').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0 && img.src.endsWith('/assets/theme/logo.svg'))).toBe(true);
    const bg = () => light.getByTestId('login-submit').evaluate((b) => getComputedStyle(b).backgroundColor);
    expect(await bg()).toBe('rgb(10, 107, 46)');
    const dark = await open((await authRequest(rp)).url, { colorScheme: 'dark' });
    expect(await dark.getByTestId('login-submit').evaluate((b) => getComputedStyle(b).backgroundColor)).toBe('rgb(126, 226, 160)');
    expect(await dark.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe('rgb(15, 19, 26)');
  });
});
