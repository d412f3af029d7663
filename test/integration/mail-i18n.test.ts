/**
 * Issue 13 — an e-mail goes out in the language of the request that triggered it: a password reset asked
 * for from a German browser (Accept-Language) arrives in German over real SMTP; one asked for without a
 * language preference arrives in English.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { browserAt, hiddenField } from '../helpers/browser.js';
import { makeUser } from '../helpers/rp.js';
import { startFakeSmtp, type FakeSmtp } from '../helpers/smtp.js';

describe.each(storeMatrix)('mail language on $name', (kind) => {
  let srv: TestServer;
  let smtp: FakeSmtp;

  beforeAll(async () => {
    smtp = await startFakeSmtp();
    srv = await startTestServer(kind, { SMTP_URL: smtp.url, MAIL_FROM: 'Stepwise <no-reply@stepwise.test>', TRUST_PROXY: '1', ARGON2_MEMORY_KIB: '7168', ARGON2_TIME_COST: '1' });
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
});
