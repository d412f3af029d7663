/**
 * Issue 3 end to end: enroll TOTP and backup codes on the account pages, sign in with each through
 * openid-client, re-auth rules for enrollment, removal, and the audit trail. Runs on every store kind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeBrowser, hiddenField } from '../helpers/browser.js';
import { authRequest, exchange, makeRp, makeUser, submitPassword, type TestRp } from '../helpers/rp.js';
import { completeSignIn, openAccount, postAccountForm, testId, totpCode } from '../helpers/account.js';

describe.each(storeMatrix)('TOTP and backup codes on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;
  let offset = 0;
  const now = () => Date.now() + offset;
  /** Moves the IdP clock one TOTP step on, so a fresh code is due. */
  const nextStep = () => {
    offset += 30_000;
  };

  beforeAll(async () => {
    srv = await startTestServer(kind, { STEPWISE_REQUIRE_MFA: 'true' }, { now });
    rp = await makeRp(srv);
  });
  afterAll(async () => srv?.close());

  async function enrollTotp(email: string) {
    const browser = new FakeBrowser(srv.url);
    const account = await openAccount(browser, { email });
    expect(account.url).toContain('/account');
    const enroll = await postAccountForm(browser, account, '/account/factors/totp/start');
    expect(enroll.status).toBe(200);
    const secret = testId(enroll.body, 'totp-secret')[0]!;
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(enroll.body).toContain('autocomplete="one-time-code"');
    expect(enroll.body).toContain('inputmode="numeric"');
    // A wrong first code keeps the factor pending and says so next to the field.
    const factorId = hiddenField(enroll.body, 'factorId');
    const bad = await browser.follow('/account/factors/totp/finish', { form: { csrf: hiddenField(enroll.body, 'csrf'), factorId, code: '000000' } });
    expect(bad.status).toBe(401);
    expect(testId(bad.body, 'code-error')[0]).toMatch(/not valid/);
    const done = await browser.follow('/account/factors/totp/finish', {
      form: { csrf: hiddenField(enroll.body, 'csrf'), factorId, code: totpCode(secret, now()) },
    });
    expect(done.url).toContain('/account');
    expect(testId(done.body, 'account-notice')[0]).toBe('Authenticator app added');
    expect(done.body).toMatch(/data-testid="factor-row" data-kind="totp"/);
    return { secret, browser };
  }

  it('enrolls TOTP from the account page, then signs in with password + TOTP (acr loa2, amr pwd otp mfa)', async () => {
    const { email } = await makeUser(srv);
    const { secret } = await enrollTotp(email);
    // The stored seed is encrypted: the base32 secret is nowhere in the row.
    const row = await srv.container.db('factors').where({ kind: 'totp' }).orderBy('created_at', 'desc').first();
    expect(JSON.stringify(row)).not.toContain(secret);

    nextStep();
    const browser = new FakeBrowser(srv.url);
    const req = await authRequest(rp);
    const afterPassword = await submitPassword(browser, await browser.follow(req.url), email);
    expect(afterPassword.url).toMatch(/\/factor\/totp$/);
    const code = totpCode(secret, now());
    const cb = await completeSignIn(browser, afterPassword, { email, totp: () => code });
    const tokens = await exchange(rp, req, cb.url);
    expect(tokens.claims()).toMatchObject({ acr: 'loa2' });
    expect([...(tokens.claims()!.amr as string[])].sort()).toEqual(['mfa', 'otp', 'pwd']);

    // The same code again, in another sign-in, is refused as reused.
    const b2 = new FakeBrowser(srv.url);
    const p2 = await submitPassword(b2, await b2.follow((await authRequest(rp)).url), email);
    const replay = await b2.follow(p2.body.match(/action="(\/interaction\/[^"]+\/factor\/totp)"/)![1]!, {
      form: { code, csrf: hiddenField(p2.body, 'csrf') },
    });
    expect(replay.status).toBe(401);
    expect(testId(replay.body, 'code-error')[0]).toMatch(/already used/);
    const wrong = await b2.follow(replay.body.match(/action="(\/interaction\/[^"]+\/factor\/totp)"/)![1]!, {
      form: { code: '12345', csrf: hiddenField(replay.body, 'csrf') },
    });
    expect(wrong.status).toBe(400);
  });

  it('throttles wrong TOTP codes per account (429 after LOGIN_MAX_FAILURES), and the right code does not bypass it', async () => {
    const { email } = await makeUser(srv);
    const { secret } = await enrollTotp(email);
    nextStep();
    const browser = new FakeBrowser(srv.url);
    let page = await submitPassword(browser, await browser.follow((await authRequest(rp)).url), email);
    const action = page.body.match(/action="(\/interaction\/[^"]+\/factor\/totp)"/)![1]!;
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) {
      page = await browser.follow(action, { form: { code: String(100000 + i), csrf: hiddenField(page.body, 'csrf') } });
      statuses.push(page.status);
    }
    expect(statuses.slice(0, 10).every((s) => s === 401)).toBe(true);
    expect(statuses[10]).toBe(429);
    const right = await browser.follow(action, { form: { code: totpCode(secret, now()), csrf: hiddenField(page.body, 'csrf') } });
    expect(right.status).toBe(429);
    const failures = await srv.container.audit.list({ type: 'factor.verify.totp', limit: 50 });
    expect(failures.filter((e) => e.outcome === 'failure').length).toBeGreaterThanOrEqual(10);
  });

  it('a stolen password alone cannot reach the account pages of an MFA account', async () => {
    const { email } = await makeUser(srv);
    await enrollTotp(email);
    const attacker = new FakeBrowser(srv.url);
    const page = await completeSignIn(attacker, await attacker.follow('/account'), { email });
    expect(page.url).toMatch(/\/interaction\/.*\/factor\/totp$/);
    const start = await attacker.request('/account/factors/totp/start', { form: { csrf: 'x' } });
    expect(start.status).toBe(302);
    expect(start.headers.get('location')).toMatch(/^\/auth\?/);
    expect(await srv.container.db('factors').where({ kind: 'totp' }).count({ n: '*' }).first()).toBeTruthy();
  });

  it('requires a fresh two-factor re-auth to add another factor, then generates backup codes and signs in with one', async () => {
    const { email } = await makeUser(srv);
    const { secret, browser } = await enrollTotp(email);
    // The account session is password-only (loa1) from before MFA existed: adding more needs a fresh loa2 sign-in.
    const account = await browser.follow('/account');
    const start = await postAccountForm(browser, account, '/account/factors/backup_code/start');
    expect(start.url).toContain('/interaction/');
    nextStep();
    const back = await completeSignIn(browser, start, { email, totp: () => totpCode(secret, now()) });
    expect(back.url).toMatch(/\/account$/);
    const gen = await postAccountForm(browser, back, '/account/factors/backup_code/start');
    const codes = testId(gen.body, 'backup-code');
    expect(codes).toHaveLength(10);
    for (const c of codes) expect(c).toMatch(/^[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}$/);
    const stored = JSON.stringify(await srv.container.db('backup_codes'));
    for (const c of codes) expect(stored).not.toContain(c.replace(/-/g, ''));
    const acct = await browser.follow('/account');
    expect(testId(acct.body, 'backup-remaining')[0]).toBe('10 codes left');

    const b2 = new FakeBrowser(srv.url);
    const req = await authRequest(rp);
    const cb = await completeSignIn(b2, await b2.follow(req.url), { email, prefer: 'backup_code', backupCode: codes[0] });
    const tokens = await exchange(rp, req, cb.url);
    expect(tokens.claims()?.acr).toBe('loa2');
    expect([...(tokens.claims()!.amr as string[])].sort()).toEqual(['mfa', 'otp', 'pwd']);
    const audit = await srv.container.audit.list({ type: 'factor.verify.backup_code' });
    expect(audit[0]).toMatchObject({ outcome: 'success' });

    // Used once only.
    const b3 = new FakeBrowser(srv.url);
    const again = await completeSignIn(b3, await b3.follow((await authRequest(rp)).url), { email, prefer: 'backup_code', backupCode: codes[0] });
    expect(again.status).toBe(401);
    expect(testId(again.body, 'code-error')[0]).toMatch(/already used/);
    expect(testId((await browser.follow('/account')).body, 'backup-remaining')[0]).toBe('9 codes left');

    // Regeneration invalidates the old set.
    const regen = await postAccountForm(browser, await browser.follow('/account'), '/account/factors/backup_code/start');
    expect(testId(regen.body, 'backup-code')).toHaveLength(10);
    const b4 = new FakeBrowser(srv.url);
    const old = await completeSignIn(b4, await b4.follow((await authRequest(rp)).url), { email, prefer: 'backup_code', backupCode: codes[1] });
    expect(old.status).toBe(401);

    // Removing the backup-code set deletes every stored code with its factor row.
    const acct2 = await browser.follow('/account');
    const setId = acct2.body.match(/data-kind="backup_code" data-factor-id="([^"]+)"/)![1]!;
    const removed = await postAccountForm(browser, acct2, `/account/factors/${setId}/remove`);
    expect(removed.url).toMatch(/notice=Removed/);
    const userId = (await srv.container.users.findByEmail(email))!.id;
    expect(await srv.container.db('backup_codes').where({ user_id: userId })).toEqual([]);
    expect(removed.body).not.toContain('data-kind="backup_code"');
  });

  it('refuses a second pending TOTP, lets the user cancel it, and refuses removing the last required factor', async () => {
    const { email } = await makeUser(srv);
    const { secret, browser } = await enrollTotp(email);
    nextStep();
    let account = await completeSignIn(browser, await browser.follow('/account/reauth'), { email, totp: () => totpCode(secret, now()) });
    expect(account.url).toMatch(/\/account$/);
    const first = await postAccountForm(browser, account, '/account/factors/totp/start');
    expect(first.status).toBe(200);
    const second = await postAccountForm(browser, account, '/account/factors/totp/start');
    expect(second.status).toBe(409);
    expect(second.body).toContain('Finish setting up');
    account = await browser.follow('/account');
    const pendingId = account.body.match(/data-testid="cancel-pending-([^"]+)"/)![1]!;
    const cancelled = await postAccountForm(browser, account, `/account/factors/${pendingId}/remove`);
    expect(cancelled.url).toMatch(/notice=Removed/);

    account = await browser.follow('/account');
    const totpId = account.body.match(/data-kind="totp" data-factor-id="([^"]+)"/)![1]!;
    const refused = await postAccountForm(browser, account, `/account/factors/${totpId}/remove`);
    expect(refused.status).toBe(409);
    expect(refused.body).toContain('last second factor');
    const events = await srv.container.audit.list({ type: 'factor.removed' });
    expect(events[0]).toMatchObject({ outcome: 'failure', details: { reason: 'last_factor' } });
  });

  it('renames and removes a factor; removal takes effect at once', async () => {
    const { email } = await makeUser(srv);
    const { secret, browser } = await enrollTotp(email);
    nextStep();
    let account = await completeSignIn(browser, await browser.follow('/account/reauth'), { email, totp: () => totpCode(secret, now()) });
    // A second TOTP so the first may be removed under STEPWISE_REQUIRE_MFA.
    const enroll2 = await postAccountForm(browser, account, '/account/factors/totp/start', { name: 'Backup phone' });
    const secret2 = testId(enroll2.body, 'totp-secret')[0]!;
    await browser.follow('/account/factors/totp/finish', {
      form: { csrf: hiddenField(enroll2.body, 'csrf'), factorId: hiddenField(enroll2.body, 'factorId'), code: totpCode(secret2, now()) },
    });
    account = await browser.follow('/account');
    const firstId = account.body.match(/data-kind="totp" data-factor-id="([^"]+)"/)![1]!;
    const renamed = await postAccountForm(browser, account, `/account/factors/${firstId}/rename`, { name: 'Work phone' });
    expect(renamed.body).toContain('value="Work phone"');
    const removed = await postAccountForm(browser, renamed, `/account/factors/${firstId}/remove`);
    expect(removed.url).toMatch(/notice=Removed/);
    expect(removed.body).not.toContain(firstId);
    expect(testId(removed.body, 'activity-row').length).toBeGreaterThan(0);
    expect(testId(removed.body, 'activity-text')).toContain('Removed a sign-in method');
    // Codes of the removed authenticator no longer work.
    nextStep();
    const b2 = new FakeBrowser(srv.url);
    const page = await completeSignIn(b2, await b2.follow((await authRequest(rp)).url), { email, totp: () => totpCode(secret, now()) });
    expect(page.status).toBe(401);
  });
});
