/**
 * Issue 13 — an e-mail goes out in the language of the request that triggered it: a password reset asked
 * for from a German browser (Accept-Language) arrives in German over real SMTP; one asked for without a
 * language preference arrives in English. Mails sent without a request of the user's (the recovery notice
 * and sign-in link of a CLI recovery and its sweep, an admin's reset) use the language stored when the user
 * signed in (users.locale), and the language switcher changes it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { browserAt, hiddenField } from '../helpers/browser.js';
import { makeRp, makeUser, signIn } from '../helpers/rp.js';
import { startFakeSmtp, type FakeSmtp } from '../helpers/smtp.js';
import { fakeClock } from '../helpers/stepup.js';
import { adminToken, apiCaller, expectDocumented } from '../helpers/admin-api.js';
import { UsageError } from '../../src/cli/index.js';
import { runRecoveryCommand } from '../../src/recovery/cli.js';
import { sweepRecoveries } from '../../src/recovery/service.js';

describe.each(storeMatrix)('mail language on $name', (kind) => {
  let srv: TestServer;
  let smtp: FakeSmtp;
  const clock = fakeClock();

  beforeAll(async () => {
    smtp = await startFakeSmtp();
    srv = await startTestServer(kind, { ...smtp.env, TRUST_PROXY: '1', ARGON2_MEMORY_KIB: '7168', ARGON2_TIME_COST: '1' }, { now: clock.now });
  });
  afterAll(async () => {
    await srv?.close();
    await smtp?.close();
  });

  async function askReset(email: string, ip: string, acceptLanguage?: string) {
    const browser = browserAt(srv.url, ip);
    if (acceptLanguage) browser.headers['accept-language'] = acceptLanguage;
    const form = await browser.follow('/password/forgot');
    expect(form.status).toBe(200);
    await browser.request('/password/forgot', { form: { csrf: hiddenField(form.body, 'csrf'), email } });
    // Only the reset mail (makeUser may have sent an address verification before).
    const resets = () => smtp.to(email).filter((m) => m.text.includes('/password/reset/'));
    for (let i = 0; resets().length === 0; i++) {
      if (i > 250) throw new Error('no reset mail in 5 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    return resets()[0]!;
  }

  it('a reset asked for in German arrives in German, one without a preference in English', async () => {
    const de = await makeUser(srv);
    const mail = await askReset(de.email, '198.51.100.31', 'de-DE,de;q=0.9,en;q=0.5');
    expect(mail.subject).toBe('Stepwise: Setzen Sie Ihr Passwort zurück');
    expect(mail.text).toContain('läuft in 30 Minuten ab');
    expect(mail.html).toContain('<html lang="de">');

    const en = await makeUser(srv);
    const plain = await askReset(en.email, '198.51.100.32');
    expect(plain.subject).toBe('Stepwise: reset your password');
    expect(plain.text).toContain('expires in 30 minutes');
  });

  async function mailOf(email: string, template: string, count = 1) {
    const mails = () => smtp.to(email).filter((m) => m.mail.headers.get('x-stepwise-template') === template);
    for (let i = 0; mails().length < count; i++) {
      if (i > 250) throw new Error(`no ${template} mail in 5 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return mails().at(-1)!;
  }

  it('mails sent without a request of the user follow the language they signed in with, and the switcher changes it', async () => {
    const rp = await makeRp(srv);
    const u = await makeUser(srv);
    const locale = async () => (await srv.container.db('users').where({ id: u.id }).first()).locale as string | null;
    expect(await locale()).toBeNull();
    const browser = browserAt(srv.url, '198.51.100.33');
    browser.headers['accept-language'] = 'de-CH,de;q=0.9';
    await signIn(srv, rp, u.email, {}, browser);
    expect(await locale()).toBe('de');

    // A recovery started from the CLI (no request at all): the notice, then the sweep's sign-in link, in German.
    const started = await runRecoveryCommand(srv.container, 'start', ['--email', u.email, '--reason', 'lost phone', '--evidence', 'T-1', '--admin', 'alice@corp.test'], (m) => new UsageError(m));
    const notice = await mailOf(u.email, 'notice-recovery_started');
    expect(notice.subject).toBe('Stepwise: Eine Kontowiederherstellung wurde gestartet');
    const effective = new Date(Date.parse((started as { effective_at: string }).effective_at));
    const deDate = new Intl.DateTimeFormat('de', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC', hourCycle: 'h23' }).format(effective);
    expect(notice.text).toContain(`wird sie am ${deDate} UTC wirksam`);
    clock.advance(24 * 3600 + 1);
    await sweepRecoveries(srv.container);
    const signin = await mailOf(u.email, 'recovery-signin');
    expect(signin.subject).toBe('Stepwise: Ihre Kontowiederherstellung ist bereit');
    expect(signin.html).toContain('<html lang="de">');
    expect(signin.text).not.toMatch(/\d{4}-\d\d-\d\d \d\d:\d\d UTC/);

    // The switcher, used while signed in, stores French; a switch without a session stores nothing.
    expect((await browser.request('/lang/fr?return=/account')).status).toBe(302);
    expect(await locale()).toBe('fr');
    await browserAt(srv.url, '198.51.100.34').request('/lang/de?return=/');
    expect(await locale()).toBe('fr');

    // An admin's reset from an English-speaking admin: the mail is in the user's language, not the admin's.
    const { token } = await adminToken(srv);
    const api = apiCaller(srv);
    const shown = await api('GET', `/users/${u.id}`, { token });
    expect(shown.json).toMatchObject({ id: u.id, locale: 'fr' });
    expectDocumented('GET', '/users/{id}', shown.json);
    expect((await api('POST', `/users/${u.id}/password`, { token, body: { mode: 'email' }, headers: { 'accept-language': 'en-US' } })).status).toBe(200);
    const reset = await mailOf(u.email, 'password-reset');
    expect(reset.subject).toBe('Stepwise : réinitialisez votre mot de passe');
    expect(reset.text).toContain('expire dans 30 minutes');
  });
});
