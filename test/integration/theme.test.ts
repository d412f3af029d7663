/**
 * Branding and languages over HTTP (issue 13): a theme folder (name, logo, favicon, colours, a template
 * override) is applied; a theme that names a missing file falls back to the shipped one with a start-up
 * warning; an operator's catalog (STEPWISE_LOCALES_DIR) overrides a message and adds a language; the
 * locale order ui_locales > switcher cookie > Accept-Language, with unknown locales in English; client
 * logo/policy/terms on the sign-in page with the CSP allowing exactly the logo's origin.
 */
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import pino from 'pino';
import { Writable } from 'node:stream';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeBrowser } from '../helpers/browser.js';
import { authRequest, makeRp, type TestRp } from '../helpers/rp.js';
import { createClient } from '../../src/admin/service.js';
import { loadTheme } from '../../src/config/theme.js';

function themeDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'stepwise-theme-'));
  writeFileSync(
    join(dir, 'theme.json'),
    JSON.stringify({ product_name: 'Acme ID', logo: 'acme.svg', favicon: 'missing.ico', colors: { accent: '#aa0000' }, dark_colors: { accent: '#ff8888' } }),
  );
  writeFileSync(join(dir, 'acme.svg'), '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>');
  mkdirSync(join(dir, 'views'));
  writeFileSync(join(dir, 'views', 'logged-out.ejs'), '<h1>Bye from Acme</h1><p data-testid="logged-out"><%= t(\'logout.done\', { product: theme.productName }) %></p>');
  return dir;
}

function localesDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'stepwise-locales-'));
  writeFileSync(join(dir, 'en.json'), JSON.stringify({ translation: { login: { submit: 'Continue securely' } } }));
  writeFileSync(join(dir, 'nl.json'), JSON.stringify({ translation: { language: { name: 'Nederlands' }, login: { heading: 'Inloggen' } } }));
  return dir;
}

describe('theme: missing files', () => {
  test('a missing theme folder, theme.json or named asset falls back to the shipped one with a warning', () => {
    const none = loadTheme(join(tmpdir(), 'no-such-stepwise-theme'));
    expect(none.productName).toBe('Stepwise');
    expect(none.warnings.join('\n')).toMatch(/is not a folder/);
    const empty = loadTheme(mkdtempSync(join(tmpdir(), 'stepwise-empty-')));
    expect(empty.warnings.join('\n')).toMatch(/no theme\.json/);
    const partial = loadTheme(themeDir());
    expect(partial.productName).toBe('Acme ID');
    expect(partial.warnings).toHaveLength(1);
    expect(partial.warnings[0]).toMatch(/favicon .*missing\.ico not found; using the shipped favicon/);
    expect(partial.assets.get(partial.faviconUrl)!.file).toMatch(/public\/favicon\.svg$/);
    const bad = mkdtempSync(join(tmpdir(), 'stepwise-bad-'));
    writeFileSync(join(bad, 'theme.json'), JSON.stringify({ colors: { accent: 'red; } body { display: none' } }));
    const refused = loadTheme(bad);
    expect(refused.css).not.toMatch(/display/);
    expect(refused.warnings[0]).toMatch(/colors\.accent: a CSS colour/);
  });

  test('a theme.yaml is read like a theme.json (the YAML parser loads on demand)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stepwise-yaml-theme-'));
    writeFileSync(join(dir, 'theme.yaml'), 'product_name: Acme YAML\ncolors:\n  accent: "#00aa00"\n');
    const theme = loadTheme(dir);
    expect(theme.warnings).toEqual([]);
    expect(theme.productName).toBe('Acme YAML');
    expect(theme.css).toMatch(/#00aa00/);
    writeFileSync(join(dir, 'theme.yaml'), 'product_name: [unclosed\n');
    expect(loadTheme(dir).warnings[0]).toMatch(/theme\.yaml could not be read/);
  });
});

describe.each(storeMatrix)('theme and languages ($name)', (kind) => {
  let srv: TestServer;
  let rp: TestRp;
  const logged: string[] = [];

  beforeAll(async () => {
    const sink = new Writable({ write(chunk, _enc, cb) { logged.push(String(chunk)); cb(); } });
    srv = await startTestServer(kind, { STEPWISE_THEME_DIR: themeDir(), STEPWISE_LOCALES_DIR: localesDir() }, { log: pino({ level: 'warn' }, sink) } as never);
    rp = await makeRp(srv);
  });
  afterAll(async () => srv?.close());

  test('the start-up log warns about the missing favicon', () => {
    expect(logged.join('')).toMatch(/favicon .*missing\.ico not found/);
  });

  test('product name, logo, colours and a template override are served', async () => {
    const b = new FakeBrowser(srv.url);
    const login = await b.follow((await authRequest(rp)).url);
    expect(login.body).toContain('<title>Sign in · Acme ID</title>');
    expect(login.body).toMatch(/data-testid="brand-name">Acme ID</);
    expect(login.body).toContain('Continue securely'); // operator override of a shipped message
    const logo = await fetch(`${srv.url}/assets/theme/logo.svg`);
    expect(logo.headers.get('content-type')).toMatch(/image\/svg\+xml/);
    expect(await logo.text()).toContain('<svg');
    const css = await (await fetch(`${srv.url}/assets/theme.css`)).text();
    expect(css).toMatch(/--sw-accent: #aa0000/);
    expect(css).toMatch(/prefers-color-scheme: dark[\s\S]*--sw-accent: #ff8888/);
    const out = await b.follow('/session/end');
    const form = out.body.match(/name="xsrf" value="([^"]+)"/)?.[1];
    const done = await b.follow('/session/end/confirm', { form: { xsrf: form!, logout: 'yes' } });
    expect(done.body).toContain('Bye from Acme');
    expect(done.body).toContain('You are signed out of Acme ID.');
  });

  test('locale order: ui_locales, then the switcher cookie, then Accept-Language; unknown → English', async () => {
    const b = new FakeBrowser(srv.url);
    b.headers['accept-language'] = 'fr-CH, fr;q=0.9, en;q=0.5';
    const fr = await b.follow((await authRequest(rp)).url);
    expect(fr.body).toMatch(/<html lang="fr">/);
    expect(fr.body).toContain('Mot de passe');
    const de = await b.follow((await authRequest(rp, { ui_locales: 'xx de-AT' })).url);
    expect(de.body).toMatch(/<html lang="de">/);
    expect(de.body).toContain('Angemeldet bleiben');
    // The switcher (a plain link) sets the cookie and returns to a same-site path only.
    const sw = await b.request('/lang/nl?return=%2F%2Fevil.example%2F');
    expect(sw.status).toBe(302);
    expect(sw.headers.get('location')).toBe('/');
    const nl = await b.follow((await authRequest(rp)).url);
    expect(nl.body).toMatch(/<html lang="nl">/);
    expect(nl.body).toContain('Inloggen');
    expect(nl.body).toContain('Continue securely'); // missing in nl → English
    const unknown = new FakeBrowser(srv.url);
    unknown.headers['accept-language'] = 'xx-YY, zz';
    const en = await unknown.follow((await authRequest(rp, { ui_locales: 'qq' })).url);
    expect(en.body).toMatch(/<html lang="en">/);
    const disc = (await (await fetch(`${srv.url}/.well-known/openid-configuration`)).json()) as { ui_locales_supported: string[] };
    expect(disc.ui_locales_supported).toEqual(['en', 'de', 'fr', 'nl']);
  });

  test('errors are translated by code; JSON errors too', async () => {
    const b = new FakeBrowser(srv.url);
    b.headers['accept-language'] = 'de';
    const page = await b.follow('/interaction/nonexistent-uid');
    expect(page.status).toBe(400);
    expect(page.body).toContain('Dieser Anmeldelink ist abgelaufen');
    expect(page.body).toContain('<title>Etwas ist schiefgelaufen · Acme ID</title>');
  });

  test('client logo, privacy policy and terms on the sign-in page; CSP allows exactly the logo origin', async () => {
    const c = await createClient(srv.container, {
      redirectUris: ['http://rp.test/cb'],
      name: 'Branded App',
      logoUri: 'https://cdn.example.com/logo.png',
      policyUri: 'https://app.example.com/privacy',
      tosUri: 'https://app.example.com/terms',
    });
    await expect(createClient(srv.container, { redirectUris: ['http://rp.test/cb'], logoUri: 'javascript:alert(1)' })).rejects.toThrow(/logo_uri must be an http\(s\) URL/);
    const url = `${srv.url}/auth?${new URLSearchParams({ client_id: c.client_id, response_type: 'code', scope: 'openid', redirect_uri: 'http://rp.test/cb', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' })}`;
    const b = new FakeBrowser(srv.url);
    const login = await b.follow(url);
    expect(login.body).toContain('src="https://cdn.example.com/logo.png"');
    expect(login.body).toContain('href="https://app.example.com/privacy"');
    expect(login.body).toContain('Branded App terms of service');
    expect(login.headers.get('content-security-policy')).toMatch(/img-src 'self' data: https:\/\/cdn\.example\.com;/);
    const other = await b.follow((await authRequest(rp)).url);
    expect(other.headers.get('content-security-policy')).toMatch(/img-src 'self' data:;/);
  });
});
