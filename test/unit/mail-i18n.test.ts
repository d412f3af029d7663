/**
 * E-mails in the reader's language (issue 13): subject, text and HTML body of the notices and the
 * password-reset mail come from the catalogs; the locale is the one given, else the triggering request's,
 * else English (also for an unknown locale).
 */
import { describe, expect, it } from 'vitest';
import type { Context } from 'koa';
import { renderMail } from '../../src/notify/mail.js';
import { noticeDetails } from '../../src/notify/security-notices.js';
import { localeContext } from '../../src/i18n/context.js';
import { defaultI18n } from '../../src/i18n/index.js';

const ISSUER = 'https://id.example.test';
const site = { productName: 'Stepwise', issuer: ISSUER };
const resetVars = { userName: 'Ada', resetUrl: `${ISSUER}/password/reset/abc?x=1&y=2`, expiresIn: '30 minutes', ip: '203.0.113.7', when: '2026-12-02 08:00 UTC' };
const noticeVars = (event: string, details: Record<string, unknown>) => ({
  event,
  userName: 'Ada',
  when: '2026-12-02 08:00 UTC',
  ip: '203.0.113.7',
  location: 'Paris, FR',
  d: noticeDetails(details, event as never, ISSUER),
});

/** A request carrying only an Accept-Language header, enough for the locale middleware. */
function requestWith(acceptLanguage: string): Context {
  return { query: {}, request: {}, path: '/account', originalUrl: '/account', cookies: { get: () => undefined }, get: (h: string) => (h.toLowerCase() === 'accept-language' ? acceptLanguage : '') } as unknown as Context;
}

describe('mail in the reader language', () => {
  it('renders the password-reset mail in German and French', async () => {
    const de = await renderMail('password-reset', resetVars, site, { locale: 'de' });
    expect(de.subject).toBe('Stepwise: Setzen Sie Ihr Passwort zurück');
    expect(de.text).toContain('läuft in 30 Minuten ab');
    expect(de.text).toContain(resetVars.resetUrl);
    expect(de.text).toContain('von 203.0.113.7 aus');
    expect(de.html).toContain('<html lang="de">');
    expect(de.html).toContain('Neues Passwort wählen');
    expect(de.html).toContain(`href="${resetVars.resetUrl.replace(/&/g, '&amp;')}"`);
    expect(de.html).toContain('Bitte antworten Sie nicht darauf.');
    expect(de.text).not.toMatch(/\bthe link\b|expires in/i);

    const fr = await renderMail('password-reset', resetVars, site, { locale: 'fr-CA' });
    expect(fr.subject).toBe('Stepwise : réinitialisez votre mot de passe');
    expect(fr.text).toContain('expire dans 30 minutes');
    expect(fr.html).toContain('<html lang="fr">');
    expect(fr.html).toContain('Choisir un nouveau mot de passe');
    expect(fr.html).toContain('Merci de ne pas y répondre.');
  });

  it('renders notices translated, with plurals and with the details escaped in HTML only', async () => {
    const low = await renderMail('notice-backup_codes_low', noticeVars('backup_codes_low', { remaining: 2 }), site, { locale: 'de' });
    expect(low.subject).toBe('Stepwise: Ihre Backup-Codes gehen zur Neige');
    expect(low.text).toContain('es sind nur noch 2 Codes übrig');
    expect(low.text).toContain('Zeitpunkt: 2026-12-02 08:00 UTC');
    expect(low.text).toContain('Herkunft: 203.0.113.7 (ungefährer Standort: Paris, FR)');
    expect(low.text).toContain('Wenn Sie das nicht waren');
    const one = await renderMail('notice-backup_codes_low', noticeVars('backup_codes_low', { remaining: 1 }), site, { locale: 'de' });
    expect(one.text).toContain('es ist nur noch 1 Code übrig');

    const added = await renderMail('notice-factor_added', noticeVars('factor_added', { method: 'Passkey', name: '<b>evil</b>' }), site, { locale: 'fr' });
    expect(added.subject).toBe('Stepwise : une méthode de connexion a été ajoutée');
    expect(added.text).toContain('ajoutée à votre compte Stepwise : Passkey (« <b>evil</b> »).');
    expect(added.html).toContain('Passkey (« &lt;b&gt;evil&lt;/b&gt; »)');
    expect(added.html).not.toContain('<b>evil');
    expect(added.html).toContain(`<a href="${ISSUER}/account">votre compte</a>`);
    expect(added.text).toContain('Date : 2026-12-02 08:00 UTC');

    const started = await renderMail('notice-recovery_started', noticeVars('recovery_started', { cancelUrl: `${ISSUER}/recovery/cancel/t`, effectiveAt: Date.UTC(2026, 11, 3, 9, 0) }), site, { locale: 'de' });
    expect(started.subject).toBe('Stepwise: Eine Kontowiederherstellung wurde gestartet');
    expect(started.html).toContain(`<a href="${ISSUER}/recovery/cancel/t">Wiederherstellung abbrechen</a>`);
  });

  it('falls back to English for an unknown locale', async () => {
    const en = await renderMail('password-reset', resetVars, site);
    const xx = await renderMail('password-reset', resetVars, site, { locale: 'xx-YY' });
    expect(xx).toEqual(en);
    expect(xx.subject).toBe('Stepwise: reset your password');
    expect(xx.html).toContain('<html lang="en">');
  });

  it('uses the locale of the request that triggered the mail', async () => {
    let got: Awaited<ReturnType<typeof renderMail>> | undefined;
    await localeContext(defaultI18n())(requestWith('fr;q=0.9, de;q=0.8'), async () => {
      got = await renderMail('verify-email', { link: `${ISSUER}/account/verify-email?token=t`, change: false, expiresIn: '24 hours' }, site);
    });
    expect(got!.subject).toBe('Stepwise : confirmez votre adresse e-mail');
    expect(got!.text).toContain('expire dans 24 heures');
    expect(got!.text).toContain(`${ISSUER}/account/verify-email?token=t`);
  });

  it('has every mail key translated (not English) in German and French', () => {
    const en = defaultI18n().catalogs.en!.translation as { mail: Record<string, unknown> };
    const flat = (o: unknown, p = ''): [string, string][] =>
      Object.entries(o as Record<string, unknown>).flatMap(([k, v]) => (typeof v === 'object' ? flat(v, `${p}${k}.`) : [[`${p}${k}`, String(v)]]));
    const widest = Math.max(...flat(en.mail).flatMap(([, v]) => (v.includes('\n') ? v.split('\n').map((l) => l.length) : [])));
    for (const lang of ['de', 'fr']) {
      const other = new Map(flat((defaultI18n().catalogs[lang]!.translation as { mail: unknown }).mail));
      for (const [key, english] of flat(en.mail)) {
        expect(other.get(key), `${lang} mail.${key}`).toBeTruthy();
        // Same placeholders as the English sentence, and an actual translation.
        expect([...other.get(key)!.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]).sort(), `${lang} mail.${key}`).toEqual([...english.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]).sort());
        expect(other.get(key), `${lang} mail.${key}`).not.toBe(english);
        // Plain-text paragraphs the English hand-wraps are wrapped in every language, no wider than the English.
        if (english.includes('\n')) {
          expect(other.get(key), `${lang} mail.${key} is wrapped`).toContain('\n');
          for (const line of other.get(key)!.split('\n')) expect(line.length, `${lang} mail.${key}: ${line}`).toBeLessThanOrEqual(widest);
        }
      }
    }
  });
});
