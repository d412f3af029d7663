/**
 * Issue 11, the account lifecycle through real mail (nodemailer → a local SMTP server) and real OIDC
 * sign-ins (openid-client): e-mail verification on account creation (email_verified false → link → true in
 * the ID token and userinfo; reused and tampered links change nothing), e-mail change (takes effect on the
 * new address's link; the old address is told), password change (current password, common passwords
 * refused, fresh re-auth, other sessions and every refresh token end), account deletion, and a security
 * notice for each event with no code and no link that signs in. Runs on every store kind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeBrowser, hiddenField, type Page } from '../helpers/browser.js';
import { authRequest, exchange, makeRp, makeUser, PASSWORD, submitPassword, type TestRp } from '../helpers/rp.js';
import { completeSignIn, openAccount, postAccountForm, testId, totpCode } from '../helpers/account.js';
import { fakeClock } from '../helpers/stepup.js';
import { linksIn, startFakeSmtp, type FakeSmtp, type ReceivedMail } from '../helpers/smtp.js';

const NEW_PASSWORD = 'seven quiet harbours under amber light';

describe.each(storeMatrix)('account lifecycle with mail on $name', (kind) => {
  let srv: TestServer;
  let smtp: FakeSmtp;
  let rp: TestRp;
  const clock = fakeClock();

  beforeAll(async () => {
    smtp = await startFakeSmtp();
    srv = await startTestServer(kind, { MAIL_TRANSPORT: 'smtp', ...smtp.env }, { now: clock.now });
    rp = await makeRp(srv);
  });
  afterAll(async () => {
    await srv?.close();
    await smtp?.close();
  });

  const template = (m: ReceivedMail) => m.mail.headers.get('x-stepwise-template');
  async function mailsOf(address: string, name: string, count = 1): Promise<ReceivedMail[]> {
    // Notices go out after the request, over SMTP: on a loaded CI machine that can take seconds. A mail that is
    // never sent still fails here, only later.
    const until = Date.now() + 15_000;
    for (;;) {
      const found = smtp.to(address).filter((m) => template(m) === name);
      if (found.length >= count) return found;
      if (Date.now() > until) throw new Error(`expected ${count} ${name} mail(s) to ${address}, got ${found.length}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  const verifyLink = (m: ReceivedMail) => linksIn(m.text).find((l) => l.includes('/account/verify-email?token='))!;

  /** A notice: envelope from MAIL_FROM, what/when/where, and no link but the account page, no code. */
  function expectSafeNotice(m: ReceivedMail, to: string) {
    expect(m.envelope).toEqual({ from: 'no-reply@stepwise.test', to: [to] });
    expect(m.subject).toMatch(/^Stepwise: /);
    expect(m.text).toMatch(/When: \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC/);
    expect(m.text).toMatch(/If this was not you/);
    expect(linksIn(m.text)).toEqual([`${srv.url}/account`]);
    expect([...m.html.matchAll(/href="([^"]+)"/g)].map((x) => x[1])).toEqual([`${srv.url}/account`]);
    expect(m.text).not.toMatch(/\b\d{6}\b/);
    expect(m.text).not.toMatch(/token|code=/i);
  }

  async function rpSignIn(email: string, password = PASSWORD, browser = new FakeBrowser(srv.url)) {
    // The claims parameter puts email and email_verified in the ID token too (not only in userinfo).
    const req = await authRequest(rp, { claims: JSON.stringify({ id_token: { email: null, email_verified: null } }) });
    const cb = await submitPassword(browser, await browser.follow(req.url), email, password);
    expect(cb.url.startsWith(rp.redirectUri), cb.body.slice(0, 300)).toBe(true);
    return { tokens: await exchange(rp, req, cb.url), browser };
  }
  const userinfo = async (tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers) =>
    oidc.fetchUserInfo(rp.config, tokens.access_token, tokens.claims()!.sub);
  const refreshFails = async (rt: string) => {
    const err = await oidc.refreshTokenGrant(rp.config, rt).catch((e: unknown) => e);
    expect((err as { error?: string }).error).toBe('invalid_grant');
  };

  async function confirmLink(browser: FakeBrowser, link: string): Promise<Page> {
    const page = await browser.follow(link);
    expect(page.status).toBe(200);
    return browser.follow('/account/verify-email', { form: { csrf: hiddenField(page.body, 'csrf'), token: hiddenField(page.body, 'token') } });
  }

  it('a new account gets a verification mail; the link sets email_verified in the ID token and userinfo, once', async () => {
    const u = await makeUser(srv);
    const [mail] = await mailsOf(u.email, 'verify-email');
    expect(mail!.envelope).toEqual({ from: 'no-reply@stepwise.test', to: [u.email] });
    expect(mail!.mail.from?.value[0]).toEqual({ address: 'no-reply@stepwise.test', name: 'Stepwise' });
    expect(mail!.subject).toBe('Stepwise: confirm your e-mail address');
    expect(mail!.text).toMatch(/does not sign you in/);
    const link = verifyLink(mail!);
    expect(mail!.html).toContain(`href="${link.replace(/&/g, '&amp;')}"`);

    const before = await rpSignIn(u.email);
    expect(before.tokens.claims()).toMatchObject({ email: u.email, email_verified: false });
    expect(await userinfo(before.tokens)).toMatchObject({ email: u.email, email_verified: false });

    // Tampered links: a clear page, nothing changed.
    const browser = new FakeBrowser(srv.url);
    const token = new URL(link).searchParams.get('token')!;
    const tampered = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    for (const bad of [`/account/verify-email?token=${tampered}`, '/account/verify-email?token=short', '/account/verify-email']) {
      const page = await browser.follow(bad);
      expect(page.status, bad).toBe(400);
      expect(testId(page.body, 'link-invalid')[0]).toMatch(/not valid any more/);
    }
    const forged = await browser.follow('/account/verify-email', { form: { csrf: 'x', token: tampered } });
    expect(forged.status).toBeGreaterThanOrEqual(400);
    expect((await srv.container.users.findById(u.id))!.emailVerified).toBe(false);

    const page = await browser.follow(link);
    expect(testId(page.body, 'verify-address')[0]).toBe(u.email);
    // Opening the link alone (a mail scanner's GET) changes nothing.
    expect((await srv.container.users.findById(u.id))!.emailVerified).toBe(false);
    const done = await browser.follow('/account/verify-email', { form: { csrf: hiddenField(page.body, 'csrf'), token: hiddenField(page.body, 'token') } });
    expect(done.body).toContain('data-state="verified"');
    expect((await srv.container.users.findById(u.id))!.emailVerified).toBe(true);
    // It signs nobody in.
    expect((await browser.follow('/account')).url).not.toMatch(/\/account$/);

    const after = await rpSignIn(u.email);
    expect(after.tokens.claims()).toMatchObject({ email_verified: true });
    expect(await userinfo(after.tokens)).toMatchObject({ email_verified: true });

    // Reused: the GET and a replayed POST both show the clear page.
    expect((await browser.follow(link)).status).toBe(400);
    const replay = await browser.follow('/account/verify-email', { form: { csrf: hiddenField(page.body, 'csrf'), token: hiddenField(page.body, 'token') } });
    expect(replay.status).toBe(400);
    expect(testId(replay.body, 'link-invalid')).toHaveLength(1);
  });

  it('resend from /account voids the older link; only the newest works', async () => {
    const u = await makeUser(srv);
    const [first] = await mailsOf(u.email, 'verify-email');
    const browser = new FakeBrowser(srv.url);
    const account = await openAccount(browser, { email: u.email });
    expect(account.body).toContain('data-verified="false"');
    const resent = await postAccountForm(browser, account, '/account/verify-email/resend');
    expect(testId(resent.body, 'account-notice')[0]).toBe(`We sent a new link to ${u.email}`);
    const [, second] = await mailsOf(u.email, 'verify-email', 2);
    expect((await browser.follow(verifyLink(first!))).status).toBe(400);
    expect((await confirmLink(browser, verifyLink(second!))).body).toContain('data-state="verified"');
    expect((await browser.follow('/account')).body).toContain('data-verified="true"');
  });

  it('e-mail change: takes effect on the new address link, tells the old address; a taken address gets no link', async () => {
    const u = await makeUser(srv);
    const other = await makeUser(srv);
    const browser = new FakeBrowser(srv.url);
    const account = await openAccount(browser, { email: u.email });
    const form = await browser.follow('/account/email');
    expect(testId(form.body, 'current-email')[0]).toBe(u.email);

    // Another account's address: the same answer, no mail to it.
    const taken = await browser.follow('/account/email', { form: { csrf: hiddenField(form.body, 'csrf'), email: other.email.toUpperCase() } });
    expect(taken.body).toContain('data-testid="email-sent"');
    const bad = await browser.follow('/account/email', { form: { csrf: hiddenField(form.body, 'csrf'), email: 'not-an-address' } });
    expect(bad.status).toBe(400);
    expect(testId(bad.body, 'email-error')[0]).toMatch(/valid e-mail/);

    const next = `new-${u.email}`;
    const sent = await browser.follow('/account/email', { form: { csrf: hiddenField(form.body, 'csrf'), email: next } });
    expect(sent.body).toContain('data-testid="email-sent"');
    const [mail] = await mailsOf(next, 'verify-email');
    expect(mail!.text).toMatch(/replaces the current one only once you open this link/);
    expect(smtp.to(other.email).filter((m) => template(m) === 'verify-email')).toHaveLength(1); // its own account's, only
    expect((await browser.follow('/account')).body).toContain('data-testid="email-pending"');
    expect((await srv.container.users.findById(u.id))!.email).toBe(u.email);
    expect(account.status).toBe(200);

    expect((await confirmLink(browser, verifyLink(mail!))).body).toContain('data-state="changed"');
    const changed = (await srv.container.users.findById(u.id))!;
    expect(changed).toMatchObject({ email: next, emailVerified: true });
    const [notice] = await mailsOf(u.email, 'notice-email_changed');
    expectSafeNotice(notice!, u.email);
    expect(notice!.text).toContain(next);

    const { tokens } = await rpSignIn(next);
    expect(tokens.claims()).toMatchObject({ email: next, email_verified: true });
    expect((await srv.container.users.findByEmail(u.email))).toBeUndefined();
  });

  it('password change: current password, common passwords refused, fresh re-auth; other sessions and refresh tokens end', async () => {
    const u = await makeUser(srv);
    const elsewhere = await rpSignIn(u.email);
    const rtElsewhere = elsewhere.tokens.refresh_token!;
    expect(rtElsewhere).toBeTruthy();

    const browser = new FakeBrowser(srv.url);
    await openAccount(browser, { email: u.email });
    const form = await browser.follow('/account/password');
    expect(form.body).toContain('data-testid="password-form"');
    // Translated pages (locales/*.json, `text` namespace).
    expect((await browser.request('/account/password', { headers: { 'accept-language': 'de' } })).body).toContain('Aktuelles Passwort');
    expect((await browser.request('/account/password', { headers: { 'accept-language': 'fr' } })).body).toContain('Mot de passe actuel');
    const csrf = hiddenField(form.body, 'csrf');

    const wrong = await browser.follow('/account/password', { form: { csrf, current_password: 'not my password', new_password: NEW_PASSWORD } });
    expect(wrong.status).toBe(401);
    expect(testId(wrong.body, 'current-password-error')[0]).toBe('Your current password is not correct.');
    const common = await browser.follow('/account/password', { form: { csrf, current_password: PASSWORD, new_password: 'Password123' } });
    expect(common.status).toBe(400);
    expect(testId(common.body, 'new-password-error')[0]).toMatch(/most common passwords/);
    const short = await browser.follow('/account/password', { form: { csrf, current_password: PASSWORD, new_password: 'short' } });
    expect(testId(short.body, 'new-password-error')[0]).toMatch(/at least 8/);
    const noCsrf = await browser.request('/account/password', { form: { csrf: 'forged', current_password: PASSWORD, new_password: NEW_PASSWORD } });
    expect(noCsrf.status).toBe(403);

    // Past the re-auth window the change asks for a fresh sign-in first (and comes back to the form).
    clock.advance(srv.container.config.reauthWindowSeconds + 1);
    const stale = await browser.request('/account/password', { form: { csrf, current_password: PASSWORD, new_password: NEW_PASSWORD } });
    expect(stale.status).toBe(302);
    expect(stale.headers.get('location')).toMatch(/\/auth\?.*prompt=login/);
    expect((await srv.container.users.findById(u.id))!.passwordHash).toBe((await srv.container.users.findById(u.id))!.passwordHash);
    expect(await srv.container.hasher.verify((await srv.container.users.findById(u.id))!.passwordHash, PASSWORD)).toBe(true);
    const reauth = await submitPassword(browser, await browser.follow(stale.headers.get('location')!), u.email);
    expect(reauth.url).toMatch(/\/account\/password$/);

    const done = await browser.follow('/account/password', { form: { csrf: hiddenField(reauth.body, 'csrf'), current_password: PASSWORD, new_password: NEW_PASSWORD } });
    expect(testId(done.body, 'account-notice')[0]).toBe('Password changed. Your other sessions were signed out.');

    // The other session and every refresh token are dead; this browser stays signed in.
    await refreshFails(rtElsewhere);
    const otherAccount = await elsewhere.browser.follow('/account');
    expect(otherAccount.url).not.toMatch(/\/account$/);
    expect((await browser.follow('/account')).url).toMatch(/\/account$/);
    // Old password refused, new one works.
    const req = await authRequest(rp);
    const oldTry = await submitPassword(new FakeBrowser(srv.url), await new FakeBrowser(srv.url).follow(req.url), u.email);
    expect(oldTry.url).toContain('/interaction/');
    await rpSignIn(u.email, NEW_PASSWORD);

    const [notice] = await mailsOf(u.email, 'notice-password_changed');
    expectSafeNotice(notice!, u.email);
    expect(notice!.text).toMatch(/From: 127\.0\.0\.1|From: ::1|From: ::ffff:127\.0\.0\.1/);
    const audit = await srv.container.audit.list({ userId: u.id, limit: 50 });
    expect(audit.filter((e) => e.type === 'password.changed').map((e) => e.outcome).sort()).toEqual(['failure', 'success']);
  });

  it('delete the account: re-auth, typed confirmation; sessions, tokens and the row are gone; audited', async () => {
    const u = await makeUser(srv);
    const { tokens } = await rpSignIn(u.email);
    const browser = new FakeBrowser(srv.url);
    await openAccount(browser, { email: u.email });
    const form = await browser.follow('/account/delete');
    const wrong = await browser.follow('/account/delete', { form: { csrf: hiddenField(form.body, 'csrf'), confirm_email: 'someone@else.test' } });
    expect(wrong.status).toBe(400);
    expect(await srv.container.users.findById(u.id)).toBeDefined();
    const done = await browser.follow('/account/delete', { form: { csrf: hiddenField(form.body, 'csrf'), confirm_email: u.email.toUpperCase() } });
    expect(testId(done.body, 'account-deleted')).toHaveLength(1);
    expect(await srv.container.users.findById(u.id)).toBeUndefined();
    await refreshFails(tokens.refresh_token!);
    expect((await browser.follow('/account')).url).not.toMatch(/\/account$/);
    const [event] = (await srv.container.audit.list({ userId: u.id, limit: 50 })).filter((e) => e.type === 'user.deleted');
    expect(event).toMatchObject({ outcome: 'success', details: { by: 'self' } });
  });

  it('notices for factor added and removed, backup codes regenerated and low, sign-in from a new device', async () => {
    const u = await makeUser(srv);
    const { browser } = await rpSignIn(u.email);
    const account = await browser.follow('/account');
    expect(account.url).toMatch(/\/account$/);

    // Authenticator app added on /account (fresh sign-in, password only so far).
    const start = await postAccountForm(browser, account, '/account/factors/totp/start');
    const secret = testId(start.body, 'totp-secret')[0]!;
    const added = await browser.follow('/account/factors/totp/finish', { form: { csrf: hiddenField(start.body, 'csrf'), factorId: hiddenField(start.body, 'factorId'), code: totpCode(secret, clock.now()) } });
    expect(testId(added.body, 'account-notice')[0]).toMatch(/added$/);
    const [factorAdded] = await mailsOf(u.email, 'notice-factor_added');
    expectSafeNotice(factorAdded!, u.email);
    expect(factorAdded!.text).toMatch(/Authenticator app/);

    // Backup codes: regenerated (shown once on the page, never in a mail), then used down to 2, then 1 left.
    const fctx = { userId: u.id, userEmail: u.email, userName: null, scope: 't', now: clock.now() };
    const svc = srv.container.factorService;
    const { codes } = (await svc.startEnrollment('backup_code', fctx, {}, { ip: '198.51.100.9' })) as unknown as { codes: string[] };
    const [regenerated] = await mailsOf(u.email, 'notice-backup_codes_regenerated');
    expectSafeNotice(regenerated!, u.email);
    expect(regenerated!.text).toContain('198.51.100.9');
    for (const code of codes.slice(0, codes.length - 2)) await svc.verify('backup_code', fctx, { code }, { ip: '198.51.100.9' });
    const [low] = await mailsOf(u.email, 'notice-backup_codes_low');
    expectSafeNotice(low!, u.email);
    expect(low!.text).toMatch(/only 2 codes are left/);
    await svc.verify('backup_code', fctx, { code: codes[codes.length - 2]! }, {});
    const lows = await mailsOf(u.email, 'notice-backup_codes_low', 2);
    expect(lows[1]!.text).toMatch(/only 1 code is left/);

    // A sign-in from another browser (password + TOTP): a new device for an account that has one.
    const phone = new FakeBrowser(srv.url);
    phone.headers['user-agent'] = 'Mozilla/5.0 (Android 14; Mobile; rv:128.0) Gecko/128.0 Firefox/128.0';
    clock.advance(30);
    const signedIn = await completeSignIn(phone, await phone.follow('/account'), { email: u.email, totp: () => totpCode(secret, clock.now()), prefer: 'totp' });
    expect(signedIn.url).toMatch(/\/account$/);
    const [device] = await mailsOf(u.email, 'notice-new_device_sign_in');
    expectSafeNotice(device!, u.email);
    expect(device!.text).toMatch(/Firefox/);

    // Signing in with the last backup code: the page says how many are left before continuing.
    const laptop = new FakeBrowser(srv.url);
    const req = await authRequest(rp);
    const chooser = await submitPassword(laptop, await laptop.follow(req.url), u.email);
    const uid = chooser.url.match(/\/interaction\/([^/?]+)/)![1]!;
    const challenge = await laptop.follow(`/interaction/${uid}/factor/backup_code`);
    const left = await laptop.follow(`/interaction/${uid}/factor/backup_code`, { form: { csrf: hiddenField(challenge.body, 'csrf'), code: codes[codes.length - 1]! } });
    expect(left.status).toBe(200);
    expect(left.body).toContain('data-remaining="0"');
    expect(testId(left.body, 'backup-codes-left')[0]).toBe('That was your last backup code.');
    const onward = left.body.match(/href="([^"]+)" data-testid="backup-codes-continue"/)![1]!.replace(/&amp;/g, '&');
    const cb = await laptop.follow(onward);
    expect(cb.url.startsWith(rp.redirectUri), cb.body.slice(0, 300)).toBe(true);
    expect((await exchange(rp, req, cb.url)).claims()).toMatchObject({ acr: 'loa2' });

    // The TOTP factor removed on /account (fresh at loa2 on the phone).
    const totpId = signedIn.body.match(/data-kind="totp" data-factor-id="([^"]+)"/)![1]!;
    const removedPage = await postAccountForm(phone, signedIn, `/account/factors/${totpId}/remove`);
    expect(testId(removedPage.body, 'account-notice')[0]).toBe('Removed');
    const [removed] = await mailsOf(u.email, 'notice-factor_removed');
    expectSafeNotice(removed!, u.email);
    expect(removed!.text).toMatch(/Authenticator app/);

    // No mail holds a backup code.
    for (const m of smtp.to(u.email)) for (const code of codes) expect(m.text).not.toContain(code);
  });
});
