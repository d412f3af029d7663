/**
 * Issue 11 — delayed admin recovery on a fake clock, on every store, with the real nodemailer against a local
 * SMTP server: start (CLI verbs) → the user is notified at once (mail with a cancel link, SMS to each number)
 * → cancelled by the user with the link or on /account after signing in with a factor; start → 24 h →
 * effective (a sweep mails the one-time sign-in link) → the link removes the old factors → sign-in with the
 * password → a new second factor must be enrolled first → old factors gone, recovery completed. Cancelling
 * after effective or used is refused; bad ids, bad arguments, malformed or tampered links give clear
 * answers and change nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeBrowser, hiddenField, type Page } from '../helpers/browser.js';
import { makeRp, makeUser, submitPassword, type TestRp } from '../helpers/rp.js';
import { testId, totpCode } from '../helpers/account.js';
import { fakeClock, stepUpKit, type TestUser } from '../helpers/stepup.js';
import { linksIn, startFakeSmtp, type FakeSmtp } from '../helpers/smtp.js';
import { run, UsageError, type CliIo } from '../../src/cli/index.js';
import { runRecoveryCommand } from '../../src/recovery/cli.js';
import { startRecovery, type RecoveryView } from '../../src/recovery/service.js';
import { AppError } from '../../src/errors/index.js';
import type { FactorContext } from '../../src/factors/types.js';

const HOUR = 3600;

describe.each(storeMatrix)('admin recovery on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;
  let smtp: FakeSmtp;
  const clock = fakeClock();

  beforeAll(async () => {
    smtp = await startFakeSmtp();
    srv = await startTestServer(kind, { ...smtp.env, SMS_TRANSPORT: 'console', ARGON2_MEMORY_KIB: '7168', ARGON2_TIME_COST: '1' }, { now: clock.now });
    rp = await makeRp(srv);
  });
  afterAll(async () => {
    await srv?.close();
    await smtp?.close();
  });

  const { user, answer } = stepUpKit(() => srv, () => rp, clock);

  /** A recovery verb in the server's own container (its fake clock), as the CLI runs it. */
  const recovery = (verb: string, ...args: string[]) => runRecoveryCommand(srv.container, verb, args, (m) => new UsageError(m)) as Promise<any>;
  const start = (email: string) => recovery('start', '--email', email, '--reason', 'lost phone', '--evidence', 'TICKET-42', '--admin', 'alice@corp.test') as Promise<RecoveryView>;

  async function waitFor(cond: () => boolean) {
    for (let i = 0; !cond(); i++) {
      if (i > 250) throw new Error('condition not met in 5 s');
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  const mailsOf = (email: string, template: string) => smtp.to(email).filter((m) => m.mail.headers.get('x-stepwise-template') === template);
  async function linkIn(email: string, template: string, part: string, count = 1): Promise<string> {
    await waitFor(() => mailsOf(email, template).length >= count);
    const link = linksIn(mailsOf(email, template).at(-1)!.text).find((l) => l.includes(part));
    expect(link, `${template} mail holds a ${part} link`).toBeDefined();
    return new URL(link!).pathname;
  }
  const factorKinds = async (userId: string) => (await srv.container.db('factors').where({ user_id: userId })).map((f) => f.kind as string).sort();
  const row = async (id: string) => srv.container.db('recoveries').where({ id }).first();
  const audits = async (userId: string) => (await srv.container.db('audit_events').where({ user_id: userId }).orderBy('seq')).map((e) => `${e.type}:${e.outcome}`);

  /** Adds a confirmed SMS factor (the code read from the console outbox). */
  async function addSms(u: TestUser, phone: string) {
    const ctx: FactorContext = { userId: u.id, userEmail: u.email, userName: null, scope: `sms-${u.id}`, now: clock.now() };
    const sms = srv.container.factorService.registry.sms;
    const view = (await sms.startEnrollment(ctx, { phone })) as { factorId: string };
    const code = srv.container.notifier.outbox!.list('sms')[0]!.body.match(/\d{6}/)![0];
    await sms.finishEnrollment(ctx, { factorId: view.factorId, code });
  }

  it('start notifies at once (mail with a cancel link, SMS to each number); the user cancels with the link', async () => {
    const u = await user({ totp: true });
    await addSms(u, '+14155550177');
    const started = await start(u.email);
    expect(started).toMatchObject({ status: 'pending', email: u.email, reason: 'lost phone', evidence: 'TICKET-42', requested_by: 'alice@corp.test', notified: { email: u.email, sms: 1 } });
    expect(Date.parse(started.effective_at) - Date.parse(started.created_at)).toBe(24 * HOUR * 1000);
    const texts = srv.container.notifier.outbox!.list('sms').filter((m) => m.to === '+14155550177');
    expect(texts[0]!.body).toMatch(/^Stepwise: an administrator started a recovery of your account\. It takes effect \d{4}-\d\d-\d\d \d\d:\d\d UTC\./);
    expect(texts[0]!.body).not.toMatch(/https?:/);

    const cancelPath = await linkIn(u.email, 'notice-recovery_started', '/recovery/cancel/');
    // A second recovery for the same user is refused while this one is open.
    await expect(start(u.email)).rejects.toMatchObject({ code: 'conflict' });

    const browser = new FakeBrowser(srv.url);
    const confirm = await browser.follow(cancelPath);
    expect(confirm.status).toBe(200);
    expect(testId(confirm.body, 'recovery-effective-at')[0]).toMatch(/UTC$/);
    // Opening the link changes nothing: only the POST (with its CSRF token) cancels.
    expect((await row(started.id)).status).toBe('pending');
    expect((await browser.request(cancelPath, { form: { csrf: 'forged' } })).status).toBe(403);
    const done = await browser.request(cancelPath, { form: { csrf: hiddenField(confirm.body, 'csrf') } });
    expect(done.status).toBe(200);
    expect(testId(done.body, 'recovery-message')[0]).toMatch(/^The account recovery was cancelled/);
    expect((await row(started.id))).toMatchObject({ status: 'cancelled', cancelled_by: 'user' });
    await waitFor(() => mailsOf(u.email, 'notice-recovery_cancelled').length === 1);

    // Spent link: a clear page. The admin cannot cancel it again either; the factors are untouched.
    const again = await new FakeBrowser(srv.url).follow(cancelPath);
    expect(again.status).toBe(400);
    expect(testId(again.body, 'recovery-message')[0]).toMatch(/not valid|cancelled/);
    await expect(recovery('cancel', started.id)).rejects.toMatchObject({ code: 'conflict', message: 'This recovery is cancelled; only a pending recovery can be cancelled.' });
    clock.advance(25 * HOUR);
    expect((await recovery('list', '--email', u.email)).recoveries).toMatchObject([{ id: started.id, status: 'cancelled' }]);
    expect(await factorKinds(u.id)).toEqual(['sms', 'totp']);
    expect(await audits(u.id)).toEqual(expect.arrayContaining(['recovery.started:success', 'recovery.cancelled:success', 'recovery.cancelled:failure']));
  });

  it('the user cancels on /account after signing in with a factor they still have', async () => {
    const u = await user({ totp: true });
    const started = await start(u.email);
    const browser = new FakeBrowser(srv.url);
    const account = await answer(browser, await browser.follow('/account'), u);
    expect(account.url).toMatch(/\/account$/);
    expect(account.body).toContain('data-testid="recovery-section" data-status="pending"');
    expect(account.body).toContain('alice@corp.test');
    // Another user's recovery id is not found from this account.
    const other = await makeUser(srv);
    const foreign = await start(other.email);
    const refused = await browser.request(`/account/recovery/${foreign.id}/cancel`, { form: { csrf: hiddenField(account.body, 'csrf') } });
    expect(refused.status).toBe(404);
    expect((await row(foreign.id)).status).toBe('pending');
    // Without a session: sign in first.
    expect((await new FakeBrowser(srv.url).request(`/account/recovery/${started.id}/cancel`, { form: { csrf: 'x' } })).status).toBe(401);

    const done = await browser.follow(`/account/recovery/${started.id}/cancel`, { form: { csrf: hiddenField(account.body, 'csrf') } });
    expect(testId(done.body, 'account-notice')[0]).toBe('Recovery cancelled');
    expect(done.body).not.toContain('data-testid="recovery-section"');
    expect(await row(started.id)).toMatchObject({ status: 'cancelled', cancelled_by: 'user' });
    await recovery('cancel', foreign.id, '--admin', 'bob');
  });

  it('start → 24 h → effective: the mailed link removes the old factors, and the next sign-in must enroll a new one first', async () => {
    const u = await user({ totp: true });
    await srv.container.factorService.registry.backup_code.startEnrollment(
      { userId: u.id, userEmail: u.email, userName: null, scope: `bc-${u.id}`, now: clock.now() },
      {},
    );
    // An RP session with a refresh token from before.
    const rpBrowser = new FakeBrowser(srv.url);
    const before = await answer(rpBrowser, await rpBrowser.follow('/account'), u);
    expect(before.url).toMatch(/\/account$/);
    const started = await start(u.email);
    const cancelPath = await linkIn(u.email, 'notice-recovery_started', '/recovery/cancel/');

    // 23 h: still pending; no sign-in link yet.
    clock.advance(23 * HOUR);
    expect((await recovery('list', '--email', u.email)).recoveries[0]).toMatchObject({ status: 'pending', signin_link_sent_at: null });
    expect(mailsOf(u.email, 'recovery-signin')).toHaveLength(0);

    // 24 h: effective; the list's sweep mails the link (once, however often it runs).
    clock.advance(1 * HOUR + 1);
    const [effective] = (await recovery('list', '--status', 'effective')).recoveries.filter((r: RecoveryView) => r.id === started.id);
    expect(effective).toMatchObject({ status: 'effective' });
    await recovery('list');
    const signinPath = await linkIn(u.email, 'recovery-signin', '/recovery/signin/');
    await new Promise((r) => setTimeout(r, 100));
    expect(mailsOf(u.email, 'recovery-signin')).toHaveLength(1);
    expect(mailsOf(u.email, 'recovery-signin')[0]!.subject).toBe('Stepwise: your account recovery is ready');

    // Too late to cancel, by the link or the admin.
    const late = await new FakeBrowser(srv.url).follow(cancelPath);
    expect(late.status).toBe(400);
    expect(testId(late.body, 'recovery-message')[0]).toMatch(/already taken effect/);
    await expect(recovery('cancel', started.id)).rejects.toMatchObject({ code: 'conflict', message: 'This recovery is effective; only a pending recovery can be cancelled.' });

    // The link's page explains; continuing removes every factor and ends every session.
    const browser = new FakeBrowser(srv.url);
    const confirm = await browser.follow(signinPath);
    expect(confirm.status).toBe(200);
    expect(await factorKinds(u.id)).toEqual(['backup_code', 'totp']);
    const login = await browser.follow(signinPath, { form: { csrf: hiddenField(confirm.body, 'csrf') } });
    expect(login.url).toMatch(/\/interaction\/[\w-]+$/);
    expect(await factorKinds(u.id)).toEqual([]);
    expect(await srv.container.db('backup_codes').where({ user_id: u.id })).toHaveLength(0);
    expect((await rpBrowser.follow('/account')).url).toMatch(/\/interaction\//);
    expect((await row(started.id)).status).toBe('used');
    await expect(recovery('cancel', started.id)).rejects.toMatchObject({ code: 'conflict', message: 'This recovery is used; only a pending recovery can be cancelled.' });
    // The link works once.
    const reused = await new FakeBrowser(srv.url).follow(signinPath);
    expect(reused.status).toBe(400);

    // Password, then a new second factor before anything else.
    const enroll = await submitPassword(browser, login, u.email);
    expect(enroll.url).toMatch(/\/interaction\/[\w-]+\/enroll$/);
    const uid = enroll.url.match(/\/interaction\/([^/]+)\//)![1]!;
    const startTotp = await browser.follow(`/interaction/${uid}/enroll/totp/start`, { form: { csrf: hiddenField(enroll.body, 'csrf') } });
    const secret = testId(startTotp.body, 'totp-secret')[0]!;
    const finish = await browser.follow(`/interaction/${uid}/enroll/totp/finish`, {
      form: { csrf: hiddenField(startTotp.body, 'csrf'), factorId: hiddenField(startTotp.body, 'factorId'), code: totpCode(secret, clock.now()) },
    });
    clock.advance(30);
    const account = await browser.follow(finish.url, { form: { csrf: hiddenField(finish.body, 'csrf'), code: totpCode(secret, clock.now()) } });
    expect(account.url).toMatch(/\/account$/);
    expect(await factorKinds(u.id)).toEqual(['totp']);
    const done = await row(started.id);
    expect(done.status).toBe('completed');
    expect(Number(done.completed_at)).toBeGreaterThan(Number(done.used_at));
    expect(await audits(u.id)).toEqual(expect.arrayContaining(['recovery.started:success', 'recovery.effective:success', 'recovery.used:success', 'recovery.completed:success']));
    // The next sign-in is an ordinary one with the new factor.
    const next = new FakeBrowser(srv.url);
    const asked: string[] = [];
    const again = await answer(next, await next.follow('/account/reauth'), { ...u, totpSecret: secret }, asked);
    expect(again.url).toMatch(/\/account$/);
    expect(asked).toEqual(['password', 'totp']);
  });

  it('an unused sign-in link expires with its recovery after 72 h', async () => {
    const u = await makeUser(srv);
    const started = await start(u.email);
    clock.advance(24 * HOUR + 1);
    await recovery('list', '--email', u.email);
    const signinPath = await linkIn(u.email, 'recovery-signin', '/recovery/signin/');
    clock.advance(72 * HOUR);
    const page = await new FakeBrowser(srv.url).follow(signinPath);
    expect(page.status).toBe(400);
    expect(testId(page.body, 'recovery-message')[0]).toMatch(/expired/);
    expect((await recovery('list', '--email', u.email)).recoveries[0]).toMatchObject({ id: started.id, status: 'expired' });
    // A new one can be started now.
    expect((await start(u.email)).status).toBe('pending');
  });

  it('malformed and tampered links give one clear page and change nothing', async () => {
    const u = await makeUser(srv);
    const started = await start(u.email);
    const cancelPath = await linkIn(u.email, 'notice-recovery_started', '/recovery/cancel/');
    const token = cancelPath.split('/').pop()!;
    const tampered = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    for (const path of ['/recovery/cancel/x', `/recovery/cancel/${tampered}`, `/recovery/signin/${token}`, `/recovery/signin/${'%ff'.repeat(30)}`]) {
      for (const page of [await new FakeBrowser(srv.url).follow(path), await new FakeBrowser(srv.url).request(path, { form: { csrf: 'x' } })]) {
        expect(page.status, path).toBe(400);
        expect(testId(page.body, 'recovery-message')[0]).toMatch(/not valid/);
      }
    }
    expect((await row(started.id)).status).toBe('pending');
    await recovery('cancel', started.id);
  });

  it('CLI: JSON out through `stepwise`; bad ids, unknown users, bad arguments and a disabled policy are clear errors', async () => {
    const u = await makeUser(srv);
    let written = '';
    const io: CliIo = { env: srv.env, readStdin: async () => '', write: (t) => (written += t) };
    await run(['recovery', 'start', '--email', u.email, '--reason', 'lost both phones', '--evidence', 'ID check #7'], io);
    const out = JSON.parse(written) as RecoveryView;
    expect(out).toMatchObject({ status: 'pending', email: u.email, requested_by: expect.stringMatching(/^cli:/) });
    written = '';
    await run(['recovery', 'cancel', out.id, '--admin', 'carol'], io);
    expect(JSON.parse(written)).toMatchObject({ id: out.id, status: 'cancelled', cancelled_by: 'carol' });

    for (const bad of ['nope', '00000000-0000-4000-8000-000000000000', "'; drop table recoveries; --"]) {
      const err = await run(['recovery', 'cancel', bad], io).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect(err).toMatchObject({ code: 'not_found', message: `No recovery with id ${JSON.stringify(bad)}.` });
    }
    await expect(recovery('start', '--email', 'ghost@example.test', '--reason', 'r', '--evidence', 'e')).rejects.toMatchObject({ code: 'not_found', message: 'No user with that email.' });
    await expect(recovery('start', '--email', u.email, '--reason', ' ', '--evidence', 'e')).rejects.toMatchObject({ code: 'invalid_form', field: 'reason' });
    await expect(recovery('start', '--email', u.email, '--reason', 'r')).rejects.toThrow(/--evidence is required/);
    await expect(recovery('list', '--status', 'open')).rejects.toMatchObject({ code: 'invalid_form', field: 'status' });
    await expect(recovery('cancel')).rejects.toBeInstanceOf(UsageError);
    await expect(recovery('undo')).rejects.toThrow('unknown command: recovery undo');
    // recovery.admin_recovery: off refuses every start.
    const off = { ...srv.container, risk: { policy: { ...srv.container.risk.policy, recovery: { ...srv.container.risk.policy.recovery, adminRecovery: 'off' as const } } } };
    await expect(startRecovery(off as never, { email: u.email, reason: 'r', evidence: 'e', admin: 'a' })).rejects.toMatchObject({ code: 'forbidden' });
    expect((await srv.container.db('recoveries').where({ user_id: u.id })).map((r) => r.status)).toEqual(['cancelled']);
  });
});
