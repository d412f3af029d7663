/**
 * Issue 11, the e-mail channel inside a running server: the console transport fills /dev/outbox (also when
 * SMS is not on the console), MAIL_TRANSPORT=off leaves no outbox and sends nothing, and a failed SMTP
 * delivery of a security notice is audited without failing the action it reports. Runs on every store kind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeBrowser } from '../helpers/browser.js';
import { makeUser } from '../helpers/rp.js';
import { testId } from '../helpers/account.js';
import { startFakeSmtp, type FakeSmtp } from '../helpers/smtp.js';

describe.each(storeMatrix)('mail transports in the server on $name', (kind) => {
  let consoleSrv: TestServer;
  let smtpSrv: TestServer;
  let smtp: FakeSmtp;

  beforeAll(async () => {
    smtp = await startFakeSmtp();
    [consoleSrv, smtpSrv] = await Promise.all([
      startTestServer(kind, { SMS_TRANSPORT: 'off' }),
      startTestServer(kind, { MAIL_TRANSPORT: 'smtp', SMTP_URL: smtp.url, MAIL_FROM: 'no-reply@stepwise.test', SMS_TRANSPORT: 'off' }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([consoleSrv?.close(), smtpSrv?.close()]);
    await smtp?.close();
  });

  it('console transport: the verification mail is on /dev/outbox (e-mail channel) even with SMS off', async () => {
    const u = await makeUser(consoleSrv);
    const page = await new FakeBrowser(consoleSrv.url).request('/dev/outbox?channel=email');
    expect(page.status).toBe(200);
    expect(page.body).toMatch(new RegExp(`data-testid="outbox-message" data-channel="email" data-to="${u.email.replace(/\./g, '\\.')}"`));
    expect(page.body).toContain('Stepwise: confirm your e-mail address');
    expect(testId(page.body, 'outbox-body').join('\n')).toMatch(/\/account\/verify-email\?token=[A-Za-z0-9_-]{43}/);
  });

  it('an SMTP failure on a notice never throws: it is audited, and the next notice goes through', async () => {
    const u = await makeUser(smtpSrv);
    await smtp.waitFor(u.email);
    // The SMTP server refuses the next message (451): the notice is lost, nothing throws.
    smtp.failNext(1);
    await smtpSrv.container.notices.send(u.id, 'password_changed', { ip: '198.51.100.4' });
    const [failed] = await smtpSrv.container.audit.list({ userId: u.id, type: 'notice.failed' });
    expect(failed).toMatchObject({ outcome: 'failure', ip: '198.51.100.4', details: { event: 'password_changed', error: 'mail_failed' } });
    // The next one goes through.
    await smtpSrv.container.notices.send(u.id, 'password_changed', {});
    const mails = await smtp.waitFor(u.email, 2);
    expect(mails[1]!.subject).toBe('Stepwise: your password was changed');
    // No outbox with no console transport.
    expect((await new FakeBrowser(smtpSrv.url).request('/dev/outbox')).status).toBe(404);
  });

  it('MAIL_TRANSPORT=off: no mail attempted, no audit noise, no outbox', async () => {
    const off = await startTestServer(kind, { MAIL_TRANSPORT: 'off', SMS_TRANSPORT: 'off' });
    try {
      const u = await makeUser(off);
      await off.container.notices.send(u.id, 'factor_added', {});
      expect(await off.container.audit.list({ userId: u.id, type: 'notice.failed' })).toEqual([]);
      expect(await off.container.audit.list({ userId: u.id, type: 'email.verification_sent' })).toEqual([]);
      expect((await new FakeBrowser(off.url).request('/dev/outbox')).status).toBe(404);
    } finally {
      await off.close();
    }
  });
});
