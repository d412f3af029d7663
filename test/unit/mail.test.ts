/** The e-mail channel (src/notify/mail.ts), security notices, mail configuration and the common-password check. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { ConsoleMailer, SmtpMailer, buildMailer, renderMail } from '../../src/notify/mail.js';
import { MailSecurityNotices, NOTICE_EVENTS, noticeDetails } from '../../src/notify/security-notices.js';
import { DevOutbox } from '../../src/notify/outbox.js';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { AppError } from '../../src/errors/index.js';
import { validateNewPassword } from '../../src/security/password.js';
import { linksIn, startFakeSmtp, type FakeSmtp } from '../helpers/smtp.js';
import pino from 'pino';

const ISSUER = 'https://id.example.test';
const site = { productName: 'Stepwise', issuer: ISSUER, from: 'Stepwise <no-reply@id.example.test>', cacheTemplates: false };
const silent = pino({ level: 'silent' });

describe('mail templates', () => {
  it('renders every notice with what happened, when, from where, what to do, and no link but the account page', async () => {
    for (const event of NOTICE_EVENTS) {
      const d = noticeDetails(
        { method: 'Authenticator app', name: 'phone', remaining: 2, device: 'Firefox on Linux', newEmail: 'new@example.test', previousEmail: 'old@example.test', effectiveAt: Date.UTC(2026, 11, 3, 9, 0), code: '123456', link: `${ISSUER}/login?token=x` },
        event,
        ISSUER,
      );
      const m = await renderMail(`notice-${event}`, { event, userName: 'Ada', when: '2026-12-02 08:00 UTC', ip: '203.0.113.7', location: 'Paris, FR', d }, site);
      expect(m.subject, event).toMatch(/^Stepwise: [a-z]/);
      expect(m.text, event).not.toMatch(/^Subject:/);
      for (const body of [m.text, m.html]) {
        expect(body, event).toContain('Stepwise');
        expect(body, event).toContain('2026-12-02 08:00 UTC');
        expect(body, event).toContain('203.0.113.7');
        expect(body, event).toContain('Paris, FR');
        expect(body, event).toMatch(/If this was not you/);
        expect(body, event).not.toContain('123456');
        expect(body, event).not.toContain('token=');
      }
      expect(linksIn(m.text), event).toEqual([`${ISSUER}/account`]);
      expect(m.html).toContain(`href="${ISSUER}/account"`);
    }
  });

  it('shows the event-specific facts and escapes them in HTML', async () => {
    const d = noticeDetails({ method: 'Passkey', name: '<b>evil</b>' }, 'factor_added', ISSUER);
    const m = await renderMail('notice-factor_added', { event: 'factor_added', when: 'w', ip: null, location: null, d }, site);
    expect(m.text).toContain('Passkey ("<b>evil</b>")');
    expect(m.html).toContain('&lt;b&gt;evil&lt;/b&gt;');
    expect(m.html).not.toContain('<b>evil');
    expect(m.text).not.toContain('From:');
    const low = await renderMail('notice-backup_codes_low', { event: 'backup_codes_low', when: 'w', ip: null, location: null, d: { remaining: 1 } }, site);
    expect(low.text).toMatch(/only 1 code is left/);
  });

  it('a recovery notice carries the cancel link only when it is on this issuer', async () => {
    const cancelUrl = `${ISSUER}/recovery/cancel?token=${'a'.repeat(43)}`;
    const good = noticeDetails({ cancelUrl }, 'recovery_started', ISSUER);
    expect(good.cancelUrl).toBe(cancelUrl);
    expect(noticeDetails({ cancelUrl: 'https://evil.example/x' }, 'recovery_started', ISSUER).cancelUrl).toBeUndefined();
    expect(noticeDetails({ cancelUrl }, 'password_changed', ISSUER).cancelUrl).toBeUndefined();
    const m = await renderMail('notice-recovery_started', { event: 'recovery_started', when: 'w', ip: null, location: null, d: good }, site);
    expect(linksIn(m.text)).toEqual([cancelUrl, `${ISSUER}/account`]);
    expect(m.text).toMatch(/does not sign you in/);
  });

  it('refuses template names that are not plain file names', async () => {
    await expect(renderMail('../layout', {}, site)).rejects.toThrow(/invalid template name/);
    await expect(renderMail('no-such-template', {}, site)).rejects.toThrow();
  });
});

describe('SMTP transport (real nodemailer against a local SMTP server)', () => {
  let smtp: FakeSmtp;
  let mailer: SmtpMailer;
  beforeAll(async () => {
    smtp = await startFakeSmtp();
    mailer = new SmtpMailer(site, smtp.url, silent);
  });
  afterAll(async () => {
    mailer?.close();
    await smtp?.close();
  });

  it('delivers text and HTML with the envelope, From, To, Subject and auto-generated headers', async () => {
    const link = `${ISSUER}/account/verify-email?token=${'b'.repeat(43)}`;
    await mailer.send({ to: 'ada@example.test', template: 'verify-email', vars: { link, change: false, expiresIn: '24 hours' } });
    const [got] = await smtp.waitFor('ada@example.test');
    expect(got!.envelope).toEqual({ from: 'no-reply@id.example.test', to: ['ada@example.test'] });
    expect(got!.subject).toBe('Stepwise: confirm your e-mail address');
    expect(got!.mail.from?.value).toEqual([{ address: 'no-reply@id.example.test', name: 'Stepwise' }]);
    expect(got!.mail.to && !Array.isArray(got!.mail.to) ? got!.mail.to.text : '').toBe('ada@example.test');
    expect(got!.mail.headers.get('x-stepwise-template')).toBe('verify-email');
    expect(got!.mail.headers.get('auto-submitted')).toBe('auto-generated');
    expect(got!.text).toContain(link);
    expect(got!.text).toMatch(/does not sign you in/);
    expect(got!.html).toContain(`href="${link}"`);
  });

  it('a refused delivery is AppError mail_failed', async () => {
    smtp.failNext(1);
    const err = await mailer.send({ to: 'bob@example.test', template: 'verify-email', vars: { link: 'x', change: true, expiresIn: '1 hour' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('mail_failed');
  });
});

describe('console transport', () => {
  it('prints the subject and body and keeps the message in the development outbox', async () => {
    const printed: string[] = [];
    const outbox = new DevOutbox();
    const mailer = new ConsoleMailer(site, { outbox, write: (t) => printed.push(t) });
    await mailer.send({ to: 'ada@example.test', template: 'verify-email', vars: { link: 'https://id.example.test/v?token=t', change: false, expiresIn: '24 hours' } });
    expect(printed).toHaveLength(1);
    expect(printed[0]).toMatch(/^\[mail\] to ada@example\.test: Stepwise: confirm your e-mail address\n/);
    expect(printed[0]).toContain('https://id.example.test/v?token=t');
    const [m] = outbox.list('email');
    expect(m).toMatchObject({ channel: 'email', to: 'ada@example.test', subject: 'Stepwise: confirm your e-mail address' });
    expect(m!.body).toContain('https://id.example.test/v?token=t');
  });
});

describe('security notices', () => {
  const user = { id: 'u1', email: 'ada@example.test', name: 'Ada', locale: 'de' };
  type Sent = { to: string; template: string; vars: Record<string, unknown>; userLocale?: string | null };
  function notices(mailer: { send: (m: Sent) => Promise<void> }, audited: unknown[] = []) {
    return new MailSecurityNotices({
      users: { findById: async (id: string) => (id === user.id ? (user as never) : undefined) },
      mailer,
      audit: { record: async (e: unknown) => void audited.push(e) },
      log: silent,
      geoip: { lookup: (ip: string) => (ip === '203.0.113.7' ? { country: 'FR', city: 'Paris', latitude: 48.8, longitude: 2.3 } : null) },
      issuer: ISSUER,
      enabled: true,
      now: () => Date.UTC(2026, 11, 2, 8, 0),
    });
  }

  it('renders the notice for the address on file with location from GeoIP; an e-mail change goes to the old address', async () => {
    const sent: Sent[] = [];
    const n = notices({ send: async (m) => void sent.push(m) });
    await n.send('u1', 'password_changed', { ip: '203.0.113.7' });
    await n.send('u1', 'email_changed', { details: { previousEmail: 'old@example.test', newEmail: 'ada@example.test' } });
    await n.send('nobody', 'password_changed');
    expect(sent.map((m) => [m.to, m.template])).toEqual([
      ['ada@example.test', 'notice-password_changed'],
      ['old@example.test', 'notice-email_changed'],
    ]);
    // The time as epoch ms (the template prints it in the reader's language), the user's stored language along.
    expect(sent[0]!.vars).toMatchObject({ when: Date.UTC(2026, 11, 2, 8, 0), ip: '203.0.113.7', location: 'Paris, FR' });
    expect(sent[0]!.userLocale).toBe('de');
  });

  it('a failed delivery never throws: it is logged and audited', async () => {
    const audited: Array<Record<string, unknown>> = [];
    const n = notices({ send: async () => Promise.reject(new AppError('mail_failed')) }, audited);
    await expect(n.send('u1', 'factor_added', { ip: '198.51.100.1' })).resolves.toBeUndefined();
    expect(audited).toEqual([{ type: 'notice.failed', outcome: 'failure', userId: 'u1', ip: '198.51.100.1', details: { event: 'factor_added', error: 'mail_failed' } }]);
  });
});

describe('mail configuration', () => {
  const secrets = { STEPWISE_COOKIE_KEYS: randomBytes(32).toString('base64url'), STEPWISE_ENCRYPTION_KEY: randomBytes(32).toString('base64') };
  const prod = { NODE_ENV: 'production', ISSUER: 'https://id.example.com', DATABASE_URL: 'postgres://u@db/x', ...secrets };

  it('console outside production, smtp when SMTP_URL is set, off in production without it; console refused in production', () => {
    expect(loadConfig({ NODE_ENV: 'test', ...secrets }).mail.transport).toBe('console');
    expect(loadConfig({ NODE_ENV: 'test', ...secrets, SMTP_URL: 'smtp://mx.example.com:587', MAIL_FROM: 'a@example.com' }).mail).toEqual({
      transport: 'smtp',
      url: 'smtp://mx.example.com:587',
      from: 'a@example.com',
    });
    expect(loadConfig(prod).mail.transport).toBe('off');
    expect(() => loadConfig({ ...prod, MAIL_TRANSPORT: 'console' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...prod, MAIL_TRANSPORT: 'console' })).toThrow(/^MAIL_TRANSPORT: console .*refused when NODE_ENV=production/);
  });

  it('smtp needs SMTP_URL and MAIL_FROM; a bad SMTP_URL is named without echoing its password', () => {
    expect(() => loadConfig({ ...prod, MAIL_TRANSPORT: 'smtp' })).toThrow(/^MAIL_TRANSPORT: smtp needs SMTP_URL and MAIL_FROM$/);
    expect(() => loadConfig({ ...prod, SMTP_URL: 'smtp://mx.example.com' })).toThrow(/needs MAIL_FROM$/);
    let message = '';
    try {
      loadConfig({ ...prod, SMTP_URL: 'http://user:hunter2@mx.example.com', MAIL_FROM: 'a@example.com' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^SMTP_URL: an smtp:\/\/ or smtps:\/\/ URL/);
    expect(message).not.toContain('hunter2');
    expect(() => loadConfig({ ...prod, SMTP_URL: 'smtp://mx.example.com', MAIL_FROM: 'not an address' })).toThrow(/^MAIL_FROM: /);
  });

  it('the mailer follows the configuration', () => {
    const cfg = loadConfig({ NODE_ENV: 'test', ...secrets, MAIL_TRANSPORT: 'off' });
    return expect(buildMailer(cfg).send({ to: 'a@example.test', template: 'verify-email', vars: {} })).rejects.toMatchObject({ code: 'mail_failed' });
  });
});

describe('validateNewPassword: the common-password list and context words (NIST 800-63B-4 §3.1.1.2)', () => {
  const policy = { minLength: 8, maxLength: 256 };
  it('refuses listed passwords whatever their case, accepts the rest', () => {
    for (const p of ['password', 'Password1', 'qwertyuiop', 'iloveyou', '1qaz2wsx', 'PASSW0RD']) expect(validateNewPassword(p, policy), p).toMatch(/most common passwords/);
    for (const p of ['a long and memorable passphrase', 'correct horse battery staple', 'aaaaaaab', 'password-with-more-words']) expect(validateNewPassword(p, policy), p).toBeNull();
  });
  it('refuses the e-mail, its local part, the name and the product name, also with trailing digits', () => {
    const ctx = { email: 'Ada.Lovelace@example.test', name: 'Ada Lovelace', productName: 'Stepwise' };
    for (const p of ['ada.lovelace@example.test', 'ADA.LOVELACE', 'ada lovelace', 'Stepwise2026!', 'stepwise']) expect(validateNewPassword(p, policy, ctx), p).toMatch(/must not be your name/);
    expect(validateNewPassword('stepwise is a nice product', policy, ctx)).toBeNull();
  });
});
