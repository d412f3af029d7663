/**
 * Issue 11 — password reset by e-mail, end to end on every store with the real nodemailer against a local
 * SMTP server: the sign-in page links to it; known and unknown addresses get the same answer (body, status,
 * cookies) and the same timing, only the known one gets a mail; the link is single-use, expires after 30
 * minutes (fake clock) and dies with a password change; malformed or tampered links give one clear page and
 * change nothing; throttles per address and per IP; a reset never lowers MFA (a TOTP user is still asked for
 * it, with openid-client) and ends refresh tokens, SSO sessions and remembered devices.
 */
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { browserAt, FakeBrowser, hiddenField, type Page } from '../helpers/browser.js';
import { authRequest, makeRp, makeUser, PASSWORD, submitPassword, type TestRp } from '../helpers/rp.js';
import { testId } from '../helpers/account.js';
import { fakeClock, stepUpKit } from '../helpers/stepup.js';
import { linksIn, startFakeSmtp, type FakeSmtp } from '../helpers/smtp.js';

const NEW_PASSWORD = 'a brand new and rather long passphrase';
let ipCounter = 0;
/** A distinct client address per test step (TRUST_PROXY=1), so the per-IP throttle is in play only where tested. */
const freshIp = () => `198.51.100.${++ipCounter}`;

describe.each(storeMatrix)('password reset on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;
  let smtp: FakeSmtp;
  const clock = fakeClock();

  beforeAll(async () => {
    smtp = await startFakeSmtp();
    srv = await startTestServer(kind, { ...smtp.env, TRUST_PROXY: '1', ARGON2_MEMORY_KIB: '7168', ARGON2_TIME_COST: '1' }, { now: clock.now });
    rp = await makeRp(srv);
  });
  afterAll(async () => {
    await srv?.close();
    await smtp?.close();
  });

  const { user, tokensFor } = stepUpKit(() => srv, () => rp, clock);

  async function requestReset(email: string, browser = browserAt(srv.url, freshIp())): Promise<Page> {
    const form = await browser.follow('/password/forgot');
    expect(form.status).toBe(200);
    return browser.request('/password/forgot', { form: { csrf: hiddenField(form.body, 'csrf'), email } });
  }

  /** The reset link of the latest reset mail to `email` (waits for it). */
  /** Waits until `count` reset mails reached `email` (other mails, e.g. address verification, are skipped). */
  async function waitResetMails(email: string, count = 1) {
    await waitFor(() => resetMails(email).length >= count);
    return resetMails(email);
  }

  async function resetLink(email: string, count = 1): Promise<string> {
    const link = linksIn((await waitResetMails(email, count)).at(-1)!.text).find((l) => l.includes('/password/reset/'));
    expect(link).toBeDefined();
    return new URL(link!).pathname;
  }

  async function setPassword(path: string, password = NEW_PASSWORD, browser = new FakeBrowser(srv.url)): Promise<Page> {
    const form = await browser.follow(path);
    expect(form.status, form.body.slice(0, 300)).toBe(200);
    return browser.request(path, { form: { csrf: hiddenField(form.body, 'csrf'), password, confirm: password } });
  }

  async function waitFor(cond: () => boolean) {
    for (let i = 0; !cond(); i++) {
      if (i > 250) throw new Error('condition not met in 5 s');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  const passwordHash = async (id: string) => String((await srv.container.db('users').where({ id }).first()).password_hash);
  const resetMails = (email: string) => smtp.to(email).filter((m) => m.subject.includes('reset your password'));

  it('the sign-in page links to it, keeping the sign-in to return to', async () => {
    const browser = new FakeBrowser(srv.url);
    const login = await browser.follow((await authRequest(rp)).url);
    const href = login.body.match(/href="([^"]+)" data-testid="forgot-password"/)?.[1];
    expect(href).toMatch(/^\/password\/forgot\?return_to=\/interaction\/[\w-]+$/);
    const form = await browser.follow(href!);
    expect(form.body).toContain(`name="return_to" value="${href!.split('return_to=')[1]}"`);
  });

  it('known and unknown addresses get the same answer and timing; only the known one gets a mail, with a working link', async () => {
    const u = await makeUser(srv);
    const unknown = `nobody-${Date.now()}@example.test`;
    const [a, b] = [await requestReset(u.email), await requestReset(unknown)];
    const shape = (p: Page) => ({ status: p.status, body: p.body, cookies: p.headers.getSetCookie().map((c) => c.split('=')[0]), type: p.headers.get('content-type') });
    expect(shape(a)).toEqual(shape(b));
    expect(a.status).toBe(200);
    expect(testId(a.body, 'forgot-sent')).toHaveLength(1);

    const [mail] = await waitResetMails(u.email);
    expect(mail!.envelope).toEqual({ from: 'no-reply@stepwise.test', to: [u.email] });
    expect(mail!.subject).toBe('Stepwise: reset your password');
    expect(mail!.text).toContain('expires in 30 minutes');
    expect(mail!.html).toContain('Choose a new password');
    expect(mail!.mail.headers.get('x-stepwise-template')).toBe('password-reset');
    // No mail ever goes to the unknown address; the audit log says why.
    await new Promise((r) => setTimeout(r, 150));
    expect(smtp.to(unknown)).toHaveLength(0);
    const audit = await srv.container.db('audit_events').where({ type: 'password.reset_requested' });
    expect(audit.some((e) => e.outcome === 'failure' && String(e.details).includes('unknown_address'))).toBe(true);

    // Timing: the request does the same work either way — the lookup and the SMTP conversation run after the
    // reply. With a relay that takes 500 ms per message, a reply that waited for it would show.
    const users = await Promise.all(Array.from({ length: 5 }, () => makeUser(srv)));
    await waitFor(() => users.every((x) => smtp.to(x.email).length > 0)); // their address-verification mails
    smtp.setDelay(500);
    const times = { known: [] as number[], unknown: [] as number[] };
    for (let i = 0; i < 5; i++) {
      for (const which of i % 2 === 0 ? (['known', 'unknown'] as const) : (['unknown', 'known'] as const)) {
        const browser = browserAt(srv.url, freshIp());
        const form = await browser.follow('/password/forgot');
        const t0 = performance.now();
        const res = await browser.request('/password/forgot', { form: { csrf: hiddenField(form.body, 'csrf'), email: which === 'known' ? users[i]!.email : `ghost${i}-${Date.now()}@example.test` } });
        times[which].push(performance.now() - t0);
        expect(res.status).toBe(200);
      }
    }
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    console.info(`[password-reset ${kind.name}] forgot POST median known ${median(times.known).toFixed(1)} ms, unknown ${median(times.unknown).toFixed(1)} ms (relay 500 ms)`);
    expect(median(times.known)).toBeLessThan(300);
    expect(Math.abs(median(times.known) - median(times.unknown))).toBeLessThan(200);
    await waitResetMails(users[4]!.email);
    smtp.setDelay(0);
  });

  it('a TOTP user is still asked for TOTP after a reset; refresh tokens, SSO sessions and remembered devices end', async () => {
    const u = await user({ totp: true });
    const browser = new FakeBrowser(srv.url);
    browser.headers['user-agent'] = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
    // Signed in with TOTP, remembering this browser.
    const first = await tokensFor(browser, u, { prompt: 'login consent' }, rp, { rememberDevice: true });
    expect(first.asked).toEqual(['password', 'totp']);
    expect(first.tokens.refresh_token).toBeDefined();
    const remembered = async () => (await srv.container.db('devices').where({ user_id: u.id }).whereNotNull('remembered_until')).length;
    expect(await remembered()).toBe(1);

    // The reset happens in another browser, which it does not sign in.
    const resetter = new FakeBrowser(srv.url);
    await requestReset(u.email);
    const done = await setPassword(await resetLink(u.email), NEW_PASSWORD, resetter);
    expect(done.status).toBe(200);
    expect(testId(done.body, 'reset-done')).toHaveLength(1);
    expect((await resetter.follow('/account')).url).toMatch(/\/interaction\//);

    // The refresh token from before the reset is dead; so is the SSO session and the remembered device.
    await expect(oidc.refreshTokenGrant(rp.config, first.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await browser.follow('/account')).url).toMatch(/\/interaction\//);
    expect(await remembered()).toBe(0);
    // The old password is refused; the new one works, and a new browser is asked for TOTP as before the reset.
    const req = await authRequest(rp, { prompt: 'login' });
    const refused = await submitPassword(browser, await browser.follow(req.url), u.email, PASSWORD);
    expect(refused.status).toBe(401);
    const after = await tokensFor(new FakeBrowser(srv.url), { ...u, password: NEW_PASSWORD }, { prompt: 'login consent' });
    expect(after.asked).toEqual(['password', 'totp']);
    expect(after.claims.amr).toEqual(expect.arrayContaining(['pwd', 'otp', 'mfa']));
    // A request for loa2 on the old browser too: the password alone never reaches it.
    expect((await tokensFor(browser, { ...u, password: NEW_PASSWORD }, { prompt: 'login consent', acr_values: 'loa2' })).asked).toEqual(['password', 'totp']);

    // The user was told, and it was audited.
    await waitFor(() => smtp.to(u.email).some((m) => m.mail.headers.get('x-stepwise-template') === 'notice-password_reset'));
    const notice = smtp.to(u.email).find((m) => m.mail.headers.get('x-stepwise-template') === 'notice-password_reset');
    expect(notice).toBeDefined();
    expect(notice!.text).not.toContain('/password/reset/');
    const events = await srv.container.db('audit_events').where({ user_id: u.id, type: 'password.reset', outcome: 'success' });
    expect(events).toHaveLength(1);
  });

  it('a link works once; an expired, reused, malformed or tampered link gives one clear page and changes nothing', async () => {
    const u = await makeUser(srv);
    await requestReset(u.email);
    const path = await resetLink(u.email);
    const token = path.split('/').pop()!;
    const before = await passwordHash(u.id);
    const invalid = async (p: Page) => {
      expect(p.status).toBe(400);
      expect(testId(p.body, 'link-invalid')).toHaveLength(1);
    };
    const tampered = `/password/reset/${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    for (const bad of ['/password/reset/abc', '/password/reset/%00%ff', `/password/reset/${'x'.repeat(400)}`, tampered]) {
      await invalid(await new FakeBrowser(srv.url).follow(bad));
      await invalid(await new FakeBrowser(srv.url).request(bad, { form: { csrf: 'x', password: NEW_PASSWORD, confirm: NEW_PASSWORD } }));
    }
    expect(await passwordHash(u.id)).toBe(before);

    // A weak password is refused on the form and does not spend the link; a wrong CSRF token neither.
    const browser = new FakeBrowser(srv.url);
    const form = await browser.follow(path);
    const weak = await browser.request(path, { form: { csrf: hiddenField(form.body, 'csrf'), password: 'password', confirm: 'password' } });
    expect(weak.status).toBe(400);
    expect(testId(weak.body, 'password-error')[0]).toMatch(/at least|common/);
    expect((await browser.request(path, { form: { csrf: 'forged', password: NEW_PASSWORD, confirm: NEW_PASSWORD } })).status).toBe(403);
    expect(await passwordHash(u.id)).toBe(before);

    // Two parallel posts of the same link: exactly one sets the password.
    const [f1, f2] = [await new FakeBrowser(srv.url).follow(path), await new FakeBrowser(srv.url).follow(path)];
    const posts = await Promise.all(
      [f1, f2].map((f) => new FakeBrowser(srv.url).request(path, { form: { csrf: hiddenField(f.body, 'csrf'), password: NEW_PASSWORD, confirm: NEW_PASSWORD } })),
    );
    expect(posts.map((p) => p.status).sort()).toEqual([200, 400]);
    const changed = await passwordHash(u.id);
    expect(changed).not.toBe(before);
    expect(changed).toMatch(/^\$argon2id\$/);
    // Reused.
    await invalid(await new FakeBrowser(srv.url).follow(path));
    await invalid(await setPasswordRaw(path));
    expect(await passwordHash(u.id)).toBe(changed);

    // Expired: 31 minutes later (the fake clock), on every store.
    await requestReset(u.email);
    const late = await resetLink(u.email, 2);
    clock.advance(31 * 60);
    await invalid(await new FakeBrowser(srv.url).follow(late));
    expect(await passwordHash(u.id)).toBe(changed);
  });

  /** POSTs a new password to a link without loading its form first (the form of a spent link would not load). */
  async function setPasswordRaw(path: string): Promise<Page> {
    return new FakeBrowser(srv.url).request(path, { form: { csrf: 'irrelevant', password: NEW_PASSWORD, confirm: NEW_PASSWORD } });
  }

  it('two links for one account: using one changes the password, which kills the other', async () => {
    const u = await makeUser(srv);
    await requestReset(u.email);
    await requestReset(u.email);
    const mails = await waitResetMails(u.email, 2);
    const [p1, p2] = mails.map((m) => new URL(linksIn(m.text).find((l) => l.includes('/password/reset/'))!).pathname);
    expect(p1).not.toBe(p2);
    expect((await setPassword(p2!)).status).toBe(200);
    const page = await new FakeBrowser(srv.url).follow(p1!);
    expect(page.status).toBe(400);
  });

  it('throttles: three requests per address per hour, twenty per IP — the same for unknown addresses', async () => {
    const u = await makeUser(srv);
    const unknown = `throttled-${Date.now()}@example.test`;
    for (const email of [u.email, unknown]) {
      for (let i = 0; i < 3; i++) expect((await requestReset(email)).status).toBe(200);
      const refused = await requestReset(email);
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(testId(refused.body, 'form-error')[0]).toMatch(/^Too many reset requests\. Try again in \d+ minutes?\.$/);
    }
    await waitResetMails(u.email, 3);
    await new Promise((r) => setTimeout(r, 100));
    expect(resetMails(u.email)).toHaveLength(3);

    const ip = freshIp();
    for (let i = 0; i < 20; i++) expect((await requestReset(`ip${i}-${Date.now()}@example.test`, browserAt(srv.url, ip))).status).toBe(200);
    expect((await requestReset(`ip-last-${Date.now()}@example.test`, browserAt(srv.url, ip))).status).toBe(429);
  });

  it('the forgot form needs its CSRF token and a valid address', async () => {
    const browser = browserAt(srv.url, freshIp());
    expect((await browser.request('/password/forgot', { form: { email: 'a@example.test' } })).status).toBe(403);
    const form = await browser.follow('/password/forgot');
    expect((await browser.request('/password/forgot', { form: { csrf: 'nope', email: 'a@example.test' } })).status).toBe(403);
    const bad = await browser.request('/password/forgot', { form: { csrf: hiddenField(form.body, 'csrf'), email: 'not an address' } });
    expect(bad.status).toBe(400);
    expect(testId(bad.body, 'email-error')[0]).toBe('Enter a valid email address');
  });
});
