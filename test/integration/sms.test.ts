/**
 * Issue 10, SMS: enroll phone numbers on /account and sign in with password + SMS through openid-client,
 * with the `twilio` transport going through the real SDK to a local server that speaks Twilio's REST wire
 * format (the test reads the codes from what it received). Single use under races, 5 wrong tries, expiry,
 * resend cooldown and hourly quotas on a fake clock, Twilio errors, the client policy, and the console
 * transport with its development outbox. Runs on every store kind.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeBrowser, hiddenField, type Page } from '../helpers/browser.js';
import { authRequest, exchange, makeRp, makeUser, submitPassword, type TestRp } from '../helpers/rp.js';
import { openAccount, postAccountForm, testId } from '../helpers/account.js';
import { fakeClock, stepUpKit } from '../helpers/stepup.js';
import { TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TEST_FROM, TWILIO_ERRORS, startFakeTwilio, type FakeTwilio } from '../helpers/fake-twilio.js';
import { loadConfig } from '../../src/config/index.js';
import { AppError } from '../../src/errors/index.js';
import { runClientPolicyCommand } from '../../src/cli/policy.js';
import type { FactorContext } from '../../src/factors/types.js';

/** The <form> holding the element with this data-testid: its action and hidden fields. */
function formWith(html: string, testid: string): { action: string; fields: Record<string, string> } {
  const form = (html.match(/<form[\s\S]*?<\/form>/g) ?? []).find((f) => f.includes(`data-testid="${testid}"`));
  if (!form) throw new Error(`no form with ${testid} in:\n${html.slice(0, 1500)}`);
  const fields = Object.fromEntries([...form.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1]!, m[2]!]));
  return { action: form.match(/action="([^"]+)"/)![1]!, fields };
}

async function submit(browser: FakeBrowser, page: Page, testid: string, extra: Record<string, string> = {}): Promise<Page> {
  const f = formWith(page.body, testid);
  return browser.follow(f.action, { form: { ...f.fields, ...extra } });
}

const smsAction = (page: Page) => {
  const m = page.body.match(/action="(\/interaction\/[^"]+\/factor\/sms)"/);
  if (!m) throw new Error(`not an SMS challenge page (${page.status} ${page.url}):\n${page.body.slice(0, 1500)}`);
  return m[1]!;
};

const postCode = (browser: FakeBrowser, page: Page, code: string) =>
  browser.follow(smsAction(page), { form: { code, csrf: hiddenField(page.body, 'csrf') } });

const otherCode = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');
const masked = (phone: string) => `+1 ••••••••${phone.slice(-2)}`;

let numberSeq = 0;
/** A fresh valid US mobile-or-fixed number per call, so per-number quotas never cross tests. */
const nextNumber = () => `+1415555${String(2000 + numberSeq++)}`;

describe.each(storeMatrix)('SMS codes over Twilio on $name', (kind) => {
  let fake: FakeTwilio;
  let srv: TestServer;
  let rp: TestRp;
  const clock = fakeClock();
  const kit = stepUpKit(() => srv, () => rp, clock);
  /** Moves the clock to one second past the next full hour: a fresh quota window with room to work in. */
  const nextHour = () => clock.advance((3_600_000 - (clock.now() % 3_600_000)) / 1000 + 1);
  const cooldown = () => clock.advance(31);

  beforeAll(async () => {
    fake = await startFakeTwilio();
    srv = await startTestServer(
      kind,
      // MAIL_TRANSPORT=off: no console transport at all, so no /dev/outbox (asserted below).
      { SMS_TRANSPORT: 'twilio', TWILIO_ACCOUNT_SID: TEST_ACCOUNT_SID, TWILIO_AUTH_TOKEN: TEST_AUTH_TOKEN, TWILIO_FROM: TEST_FROM, TWILIO_API_BASE: fake.url, MAIL_TRANSPORT: 'off' },
      { now: clock.now },
    );
    rp = await makeRp(srv);
  });
  afterAll(async () => {
    await srv?.close();
    await fake?.close();
  });

  const smsRows = (userId: string) => srv.container.db('factors').where({ user_id: userId, kind: 'sms' });

  /** A user with one SMS number, enrolled through the factor module (its first code read from the fake server). */
  async function userWithSms(phone = nextNumber()) {
    const u = await makeUser(srv);
    const ctx: FactorContext = { userId: u.id, userEmail: u.email, userName: null, scope: `setup-${u.id}`, now: clock.now() };
    const sms = srv.container.factorService.registry.sms;
    const start = await sms.startEnrollment(ctx, { phone });
    const { factorId } = await sms.finishEnrollment(ctx, { factorId: start.factorId, code: fake.lastCode(phone) });
    return { id: u.id, email: u.email, phone, factorId };
  }

  /** New browser, acr_values=loa2, password: lands on the SMS page, which texts the code by itself. */
  async function toSmsPage(email: string, params: Record<string, string> = {}, client = rp) {
    const browser = new FakeBrowser(srv.url);
    const req = await authRequest(client, { acr_values: 'loa2', ...params });
    const page = await submitPassword(browser, await browser.follow(req.url), email);
    return { browser, req, page };
  }

  it('enrolls a number on /account (validated, confirmed by a first code, sealed, masked), then signs in with password + SMS: acr loa2, amr pwd sms otp mfa', async () => {
    const { id, email } = await makeUser(srv);
    const browser = new FakeBrowser(srv.url);
    const account = await openAccount(browser, { email });
    expect(account.body).toContain('data-testid="add-sms-form"');
    const before = fake.messages.length;

    const national = await postAccountForm(browser, account, '/account/factors/sms/start', { phone: '415 555 0123' });
    expect(national.status).toBe(400);
    expect(testId(national.body, 'phone-error')[0]).toMatch(/Add the country code.*\+14155550123/);
    const landline = await postAccountForm(browser, account, '/account/factors/sms/start', { phone: '+49 30 12345678' });
    expect(landline.status).toBe(400);
    expect(testId(landline.body, 'phone-error')[0]).toMatch(/landline, which cannot receive text messages\. Enter a mobile number/);
    expect(landline.body).toContain('value="+49 30 12345678"');
    expect(fake.messages.length).toBe(before);

    const phone = nextNumber();
    const enroll = await postAccountForm(browser, account, '/account/factors/sms/start', { phone, name: 'Work phone' });
    expect(enroll.status).toBe(200);
    expect(testId(enroll.body, 'sms-masked-number')[0]).toBe(masked(phone));
    expect(enroll.body).not.toContain(phone.slice(2));
    expect(fake.messages.length).toBe(before + 1);
    expect(fake.messages.at(-1)).toMatchObject({ to: phone, from: TEST_FROM });
    expect(fake.messages.at(-1)!.body).toMatch(/^\d{6} is your Stepwise code$/);
    expect(fake.requests.at(-1)).toMatchObject({ authorized: true, status: 201 });
    // Nothing is written until the number is confirmed.
    expect(await smsRows(id)).toHaveLength(0);

    const code = fake.lastCode(phone);
    const form = { csrf: hiddenField(enroll.body, 'csrf'), factorId: hiddenField(enroll.body, 'factorId') };
    const wrong = await browser.follow('/account/factors/sms/finish', { form: { ...form, code: otherCode(code) } });
    expect(wrong.status).toBe(401);
    expect(testId(wrong.body, 'code-error')[0]).toMatch(/not valid\. 4 tries left/);
    expect(testId(wrong.body, 'sms-masked-number')[0]).toBe(masked(phone));
    expect(await smsRows(id)).toHaveLength(0);
    const done = await browser.follow('/account/factors/sms/finish', { form: { ...form, code } });
    expect(done.url).toContain('/account');
    expect(testId(done.body, 'account-notice')[0]).toBe('Text message (SMS) added');
    expect(testId(done.body, 'sms-number')[0]).toBe(masked(phone));
    const rows = await smsRows(id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'active', name: 'Work phone' });
    expect(JSON.stringify(rows[0])).not.toContain(phone.slice(2));
    // Posting the confirmation again adds nothing (the account now has a second factor: it asks for a re-auth).
    const again = await browser.request('/account/factors/sms/finish', { form: { ...form, code } });
    expect([again.status, again.headers.get('location')?.startsWith('/auth?')]).toEqual([302, true]);
    expect(await smsRows(id)).toHaveLength(1);

    cooldown();
    const { browser: b, req, page } = await toSmsPage(email);
    expect(page.url).toMatch(/\/factor\/sms$/);
    expect(testId(page.body, 'sms-masked-number')[0]).toBe(masked(phone));
    expect(testId(page.body, 'sms-resend-wait')[0]).toMatch(/new code in 30 seconds \(at \d\d:\d\d:\d\d UTC\)/);
    expect(page.body).toContain('data-testid="sms-resend"');
    expect(page.body).toContain('data-testid="sms-less-secure"');
    expect(fake.messages.length).toBe(before + 2);
    // A reload shows the state and sends nothing.
    const reload = await b.follow(page.url);
    expect(testId(reload.body, 'sms-masked-number')[0]).toBe(masked(phone));
    expect(fake.messages.length).toBe(before + 2);

    const cb = await postCode(b, reload, fake.lastCode(phone));
    expect(cb.url.startsWith(rp.redirectUri)).toBe(true);
    const tokens = await exchange(rp, req, cb.url);
    expect(tokens.claims()).toMatchObject({ acr: 'loa2' });
    expect([...(tokens.claims()!.amr as string[])].sort()).toEqual(['mfa', 'otp', 'pwd', 'sms']);
    const events = await srv.container.audit.list({ userId: id, limit: 30 });
    expect(events.some((e) => e.type === 'factor.verify.sms' && e.outcome === 'success')).toBe(true);
    expect(events.filter((e) => e.type === 'sms.sent' && e.outcome === 'success')).toHaveLength(2);
  });

  it('a code dies after 5 wrong tries (the right one is then refused), and a replayed code is refused', async () => {
    const u = await userWithSms();
    cooldown();
    const { browser, page } = await toSmsPage(u.email);
    const right = fake.lastCode(u.phone);
    let p = page;
    const errors: string[] = [];
    for (let i = 0; i < 5; i++) {
      p = await postCode(browser, p, otherCode(right));
      expect(p.status).toBe(401);
      errors.push(testId(p.body, 'code-error')[0]!);
    }
    expect(errors[0]).toMatch(/4 tries left/);
    expect(errors[4]).toMatch(/entered wrong too many times: it no longer works\. Send a new code/);
    p = await postCode(browser, p, right);
    expect(p.status).toBe(400);
    expect(testId(p.body, 'code-error')[0]).toMatch(/No code is waiting/);
    // A new code (after the cooldown) works.
    cooldown();
    p = await submit(browser, p, 'sms-resend');
    expect(p.status).toBe(200);
    const fresh = fake.lastCode(u.phone);
    const cb = await postCode(browser, p, fresh);
    expect(cb.url.startsWith(rp.redirectUri)).toBe(true);

    // The same code in a later sign-in is refused (that sign-in texted its own code).
    cooldown();
    const again = await toSmsPage(u.email);
    expect(fake.lastCode(u.phone)).not.toBe(fresh);
    const replay = await postCode(again.browser, again.page, fresh);
    expect(replay.status).toBe(401);
    expect(testId(replay.body, 'code-error')[0]).toMatch(/not valid/);
  });

  it('the same code submitted in parallel (5 requests): exactly one sign-in step succeeds', async () => {
    const u = await userWithSms();
    cooldown();
    const { browser, page } = await toSmsPage(u.email);
    const form = { code: fake.lastCode(u.phone), csrf: hiddenField(page.body, 'csrf') };
    const results = await Promise.all([0, 1, 2, 3, 4].map(() => browser.request(smsAction(page), { form })));
    const redirects = results.filter((r) => r.status >= 300 && r.status < 400);
    // Losers: 400/401 (code used, none waiting, start over), 404 (the step is already done), or 429 when the per-account factor throttle
    // refused the parallel attempt before any check — never a 5xx, never a second success.
    const refused = results.filter((r) => r.status >= 400 && r.status < 500);
    expect(redirects).toHaveLength(1);
    expect(refused).toHaveLength(4);
    for (const r of refused) expect(r.body).toMatch(/That code was already used|No code is waiting|Enter your email and password first|Too many attempts|not available for your account/);
    const verified = await srv.container.audit.list({ userId: u.id, type: 'factor.verify.sms', limit: 10 });
    expect(verified.filter((e) => e.outcome === 'success')).toHaveLength(1);
  });

  it('a code expires after 5 minutes (fake clock); a new one can be sent at once', async () => {
    const u = await userWithSms();
    cooldown();
    const { browser, page } = await toSmsPage(u.email);
    const code = fake.lastCode(u.phone);
    clock.advance(301);
    const late = await postCode(browser, page, code);
    expect(late.status).toBe(400);
    expect(testId(late.body, 'code-error')[0]).toMatch(/That code expired\. Send a new code/);
    expect(testId(late.body, 'sms-resend-wait')[0]).toBe('You can ask for a new code now.');
    const fresh = await submit(browser, late, 'sms-resend');
    expect(fresh.status).toBe(200);
    const cb = await postCode(browser, fresh, fake.lastCode(u.phone));
    expect(cb.url.startsWith(rp.redirectUri)).toBe(true);
  });

  it('resend cooldown (30 s) and the per-number quota (5 an hour, across accounts) on a fake clock', async () => {
    nextHour();
    const u = await userWithSms(); // 1st code to this number this hour
    cooldown();
    const { browser, req, page } = await toSmsPage(u.email); // 2nd
    const first = fake.lastCode(u.phone);
    let p = await submit(browser, page, 'sms-resend');
    expect(p.status).toBe(429);
    expect(p.headers.get('retry-after')).toBe('30');
    expect(testId(p.body, 'form-error')[0]).toMatch(/A code was just sent\. You can ask for a new one in 30 seconds/);
    clock.advance(10);
    p = await submit(browser, p, 'sms-resend');
    expect(p.status).toBe(429);
    expect(testId(p.body, 'form-error')[0]).toMatch(/in 20 seconds/);
    expect(fake.messages.filter((m) => m.to === u.phone)).toHaveLength(2);
    clock.advance(21);
    p = await submit(browser, p, 'sms-resend'); // 3rd
    expect(p.status).toBe(200);
    expect(testId(p.body, 'sms-resend-wait')[0]).toMatch(/in 30 seconds/);
    // The new code replaced the first one.
    const replaced = fake.lastCode(u.phone);
    if (replaced !== first) {
      const old = await postCode(browser, p, first);
      expect(old.status).toBe(401);
      p = old;
    }
    cooldown();
    p = await submit(browser, p, 'sms-resend'); // 4th
    cooldown();
    p = await submit(browser, p, 'sms-resend'); // 5th
    expect(p.status).toBe(200);
    cooldown();
    p = await submit(browser, p, 'sms-resend');
    expect(p.status).toBe(429);
    expect(testId(p.body, 'form-error')[0]).toMatch(/Too many codes were sent to this number\. Try again in \d+ minutes, or use another sign-in method/);
    expect(fake.messages.filter((m) => m.to === u.phone)).toHaveLength(5);
    // Another account cannot text that number either (SMS pumping goes by number).
    const other = await makeUser(srv);
    const octx: FactorContext = { userId: other.id, userEmail: other.email, userName: null, scope: `o-${other.id}`, now: clock.now() };
    const refused = await srv.container.factorService.registry.sms.startEnrollment(octx, { phone: u.phone }).catch((e: AppError) => e);
    expect(refused).toMatchObject({ code: 'too_many_attempts' });
    expect(fake.messages.filter((m) => m.to === u.phone)).toHaveLength(5);
    // The next clock hour opens a new window.
    nextHour();
    p = await submit(browser, p, 'sms-resend');
    expect(p.status).toBe(200);
    expect(fake.messages.filter((m) => m.to === u.phone)).toHaveLength(6);
    const cb = await postCode(browser, p, fake.lastCode(u.phone));
    const tokens = await exchange(rp, req, cb.url);
    expect(tokens.claims()!.amr).toContain('sms');
  });

  it('per-account quota: 10 codes an hour over all of the account\'s numbers', async () => {
    nextHour();
    const u = await userWithSms();
    const sms = srv.container.factorService.registry.sms;
    const ctx = (scope: string): FactorContext => ({ userId: u.id, userEmail: u.email, userName: null, scope, now: clock.now() });
    const numbers = [u.phone];
    const ids = [u.factorId];
    for (let i = 0; i < 2; i++) {
      const phone = nextNumber();
      const start = await sms.startEnrollment(ctx(`add-${i}`), { phone });
      ids.push((await sms.finishEnrollment(ctx(`add-${i}`), { factorId: start.factorId, code: fake.lastCode(phone) })).factorId);
      numbers.push(phone);
    }
    expect(await smsRows(u.id)).toHaveLength(3);
    // 3 sent so far; 4 more to the first number and 3 to the second make 10.
    const plan = [0, 1, 0, 1, 0, 1, 0];
    for (const [i, which] of plan.entries()) {
      if (i % 2 === 0) cooldown();
      await sms.sendCode(ctx('signin'), { factorId: ids[which] });
    }
    const err = await sms.sendCode(ctx('signin'), { factorId: ids[2] }).catch((e: AppError) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).publicMessage).toMatch(/Too many codes were sent for your account/);
    expect(fake.messages.filter((m) => numbers.includes(m.to))).toHaveLength(10);
  });

  it('Twilio errors 21211 / 20429 / 20003: a clear message, no code burned, nothing half-written', async () => {
    // Enrollment: the number form again with the message; no row, no pending setup, no cooldown.
    const { id, email } = await makeUser(srv);
    const browser = new FakeBrowser(srv.url);
    const account = await openAccount(browser, { email });
    const phone = nextNumber();
    fake.failNext(TWILIO_ERRORS.invalidNumber);
    const bad = await postAccountForm(browser, account, '/account/factors/sms/start', { phone });
    expect(bad.status).toBe(400);
    expect(testId(bad.body, 'phone-error')[0]).toBe('That phone number is not valid. Check the number and its country code.');
    expect(bad.body).toContain(`value="${phone}"`);
    expect(fake.requests.at(-1)).toMatchObject({ status: 400, authorized: true });
    expect(await smsRows(id)).toHaveLength(0);
    const none = await browser.follow('/account/factors/sms/finish', { form: { csrf: hiddenField(account.body, 'csrf'), factorId: 'guess', code: '123456' } });
    expect(none.status).toBe(400);
    expect(testId(none.body, 'phone-error')[0]).toMatch(/setup expired or was replaced/);
    const retry = await postAccountForm(browser, account, '/account/factors/sms/start', { phone });
    expect(retry.status).toBe(200);
    expect(testId(retry.body, 'sms-masked-number')[0]).toBe(masked(phone));

    // Sign-in: failed resends keep the code already sent valid.
    const u = await userWithSms();
    cooldown();
    const { browser: b, page } = await toSmsPage(u.email);
    const first = fake.lastCode(u.phone);
    cooldown();
    fake.failNext(TWILIO_ERRORS.rateLimited);
    let p = await submit(b, page, 'sms-resend');
    expect(p.status).toBe(429);
    expect(testId(p.body, 'form-error')[0]).toMatch(/^Too many text messages are being sent right now\. Wait a few minutes/);
    fake.failNext(TWILIO_ERRORS.badCredentials);
    p = await submit(b, p, 'sms-resend');
    expect(p.status).toBe(503);
    expect(testId(p.body, 'form-error')[0]).toBe('Text messages cannot be sent right now. Try again later, or use another sign-in method.');
    expect(p.body).not.toMatch(/20003|20429|Authenticate/);
    const failures = await srv.container.audit.list({ userId: u.id, type: 'sms.sent', limit: 10 });
    expect(failures.filter((e) => e.outcome === 'failure').map((e) => e.details.reason).sort()).toEqual(['sms_failed', 'sms_rate_limited']);
    const cb = await postCode(b, p, first);
    expect(cb.url.startsWith(rp.redirectUri)).toBe(true);

    // A first send that fails: the message and a retry button, no code form.
    cooldown();
    fake.failNext(TWILIO_ERRORS.badCredentials);
    const failed = await toSmsPage(u.email);
    expect(testId(failed.page.body, 'form-error')[0]).toMatch(/cannot be sent right now/);
    expect(failed.page.body).not.toContain('data-testid="code-input"');
    const resent = await submit(failed.browser, failed.page, 'sms-resend');
    expect(resent.status).toBe(200);
    expect((await postCode(failed.browser, resent, fake.lastCode(u.phone))).url.startsWith(rp.redirectUri)).toBe(true);
  });

  it('several numbers: SMS is offered after TOTP and marked less secure; the user picks the number', async () => {
    const u = await kit.user({ totp: true });
    const browser = new FakeBrowser(srv.url);
    const account = await kit.answer(browser, await browser.follow('/account'), u);
    expect(account.url).toContain('/account');
    const phones = [nextNumber(), nextNumber()];
    for (const phone of phones) {
      const enroll = await postAccountForm(browser, account, '/account/factors/sms/start', { phone });
      expect(enroll.status).toBe(200);
      const done = await browser.follow('/account/factors/sms/finish', {
        form: { csrf: hiddenField(enroll.body, 'csrf'), factorId: hiddenField(enroll.body, 'factorId'), code: fake.lastCode(phone) },
      });
      expect(testId(done.body, 'account-notice')[0]).toBe('Text message (SMS) added');
    }
    expect(await smsRows(u.id)).toHaveLength(2);

    cooldown();
    const b = new FakeBrowser(srv.url);
    const req = await authRequest(rp, { acr_values: 'loa2' });
    const chooser = await submitPassword(b, await b.follow(req.url), u.email);
    expect(chooser.url).toMatch(/\/factor$/);
    const order = [...chooser.body.matchAll(/data-testid="factor-choice-(\w+)"/g)].map((m) => m[1]);
    expect(order).toEqual(['totp', 'sms']);
    expect(chooser.body).toMatch(/factor-choice-sms"[^<]*<\/a> <span class="muted" data-testid="factor-less-secure">\(less secure\)/);
    const sent = fake.messages.length;
    const pick = await b.follow(chooser.body.match(/href="([^"]+\/factor\/sms)"/)![1]!);
    // Two numbers: nothing is sent until the user picks one.
    expect(fake.messages.length).toBe(sent);
    expect(pick.body).not.toContain('data-testid="code-input"');
    const targets = [...pick.body.matchAll(/data-testid="sms-send-to" data-factor-id="([^"]+)">Text ([^<(]+)\(/g)].map((m) => ({ id: m[1]!, masked: m[2]!.trim() }));
    expect(targets.map((t) => t.masked).sort()).toEqual(phones.map(masked).sort());
    const second = targets.find((t) => t.masked === masked(phones[1]!))!;
    const sentPage = await b.follow(formWith(pick.body, 'sms-send-to').action, {
      form: { csrf: hiddenField(pick.body, 'csrf'), factorId: second.id },
    });
    expect(fake.messages.at(-1)!.to).toBe(phones[1]);
    expect(testId(sentPage.body, 'sms-masked-number')[0]).toBe(masked(phones[1]!));
    const cb = await postCode(b, sentPage, fake.lastCode(phones[1]!));
    const tokens = await exchange(rp, req, cb.url);
    expect(tokens.claims()).toMatchObject({ acr: 'loa2' });
    expect([...(tokens.claims()!.amr as string[])].sort()).toEqual(['mfa', 'otp', 'pwd', 'sms']);
  });

  it('client policy allowed_factors can exclude sms (and the CLI accepts it)', async () => {
    const u = await userWithSms();
    const strict = await makeRp(srv);
    expect(await runClientPolicyCommand(srv.container, [strict.clientId, '--allow-factors', 'totp,webauthn'])).toMatchObject({
      policy: { allowed_factors: ['totp', 'webauthn'] },
    });
    await expect(runClientPolicyCommand(srv.container, [strict.clientId, '--allow-factors', 'sms,email'])).rejects.toThrow(/allowed_factors/);
    cooldown();
    const sent = fake.messages.length;
    const { page } = await toSmsPage(u.email, {}, strict);
    expect(page.url.startsWith(strict.redirectUri)).toBe(true);
    expect(new URL(page.url).searchParams.get('error')).toBe('unmet_authentication_requirements');
    expect(fake.messages.length).toBe(sent);

    const smsOnly = await makeRp(srv);
    await runClientPolicyCommand(srv.container, [smsOnly.clientId, '--allow-factors', 'sms']);
    const ok = await toSmsPage(u.email, {}, smsOnly);
    expect(ok.page.url).toMatch(/\/factor\/sms$/);
    const cb = await postCode(ok.browser, ok.page, fake.lastCode(u.phone));
    expect((await exchange(smsOnly, ok.req, cb.url)).claims()).toMatchObject({ acr: 'loa2' });
  });

  it('the development outbox does not exist with the twilio transport', async () => {
    expect((await new FakeBrowser(srv.url).request('/dev/outbox')).status).toBe(404);
  });
});

describe.each(storeMatrix)('console SMS transport on $name', (kind) => {
  let srv: TestServer;
  const clock = fakeClock();
  let lines: string[] = [];

  beforeAll(async () => {
    srv = await startTestServer(kind, { SMS_TRANSPORT: 'console', SMS_MAX_PER_HOUR: '3' }, { now: clock.now });
  });
  afterAll(async () => srv?.close());
  afterEach(() => vi.restoreAllMocks());

  function captureStdout() {
    lines = [];
    const write = process.stdout.write.bind(process.stdout);
    vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: string | Uint8Array, ...rest: unknown[]) => {
      if (String(chunk).startsWith('[sms] ')) {
        lines.push(String(chunk));
        return true;
      }
      return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof process.stdout.write);
  }

  it('prints one line per message, shows it on /dev/outbox, and caps all sends per hour (SMS_MAX_PER_HOUR)', async () => {
    clock.advance((3_600_000 - (clock.now() % 3_600_000)) / 1000 + 1);
    const { email } = await makeUser(srv);
    const browser = new FakeBrowser(srv.url);
    const account = await openAccount(browser, { email });
    captureStdout();
    const enroll = await postAccountForm(browser, account, '/account/factors/sms/start', { phone: '+14155550123' });
    expect(enroll.status).toBe(200);
    expect(lines).toHaveLength(1);
    const m = lines[0]!.match(/^\[sms\] to \+14155550123: (\d{6}) is your Stepwise code\n$/);
    expect(m).not.toBeNull();
    const outbox = await browser.request('/dev/outbox');
    expect(outbox.status).toBe(200);
    expect(outbox.headers.get('cache-control')).toBe('no-store');
    expect(outbox.body).toMatch(/data-testid="outbox-message" data-channel="sms" data-to="\+14155550123"/);
    expect(testId(outbox.body, 'outbox-body')).toContain(`${m![1]} is your Stepwise code`);
    // The code from the console confirms the number.
    const done = await browser.follow('/account/factors/sms/finish', {
      form: { csrf: hiddenField(enroll.body, 'csrf'), factorId: hiddenField(enroll.body, 'factorId'), code: m![1]! },
    });
    expect(testId(done.body, 'account-notice')[0]).toBe('Text message (SMS) added');

    // Global quota 3 an hour (another account, other numbers): two more sends, then a refusal that prints nothing.
    const other = await makeUser(srv);
    const ctx = (n: number): FactorContext => ({ userId: other.id, userEmail: other.email, userName: null, scope: `g${n}`, now: clock.now() });
    const sms = srv.container.factorService.registry.sms;
    await sms.startEnrollment(ctx(1), { phone: '+14155550124' });
    await sms.startEnrollment(ctx(2), { phone: '+14155550125' });
    expect(lines).toHaveLength(3);
    const err = await sms.startEnrollment(ctx(3), { phone: '+14155550126' }).catch((e: AppError) => e);
    expect((err as AppError).publicMessage).toMatch(/^Text messages are paused because too many were sent\. Try again in \d+ minutes/);
    expect(lines).toHaveLength(3);
    expect(testId((await browser.request('/dev/outbox?channel=sms')).body, 'outbox-body')).toHaveLength(3);
  });

  it('production mode refuses the console transport', () => {
    const prod: Record<string, string> = { ...srv.env, NODE_ENV: 'production', ISSUER: 'https://id.example.com' };
    expect(() => loadConfig(prod)).toThrow(/^SMS_TRANSPORT: console prints sign-in codes .* refused when NODE_ENV=production/);
    const { SMS_TRANSPORT: _omit, ...unset } = prod;
    expect(loadConfig(unset).sms.transport).toBe('off');
  });
});
