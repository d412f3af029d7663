/**
 * Issue 9 — MFA enforcement (policy mfa_enforcement.all_users) end to end on every store: during the grace
 * period a password-only user sees a notice with the days left at most once a day per browser and "Later"
 * continues at once; after it, the sign-in continues only through enrolling a factor; service accounts are
 * exempt and cannot enroll; the last second factor cannot be removed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMatrix } from '../helpers/stores.js';
import { policyFile, startTestServer, type TestServer } from '../helpers/server.js';
import { FakeBrowser, hiddenField } from '../helpers/browser.js';
import { authRequest, exchange, makeRp, PASSWORD, submitPassword, type TestRp } from '../helpers/rp.js';
import { testId, totpCode } from '../helpers/account.js';
import { fakeClock } from '../helpers/stepup.js';
import { createUser } from '../../src/admin/service.js';

const DAY = 24 * 3600;

describe.each(storeMatrix)('MFA enforcement on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;
  const clock = fakeClock();

  beforeAll(async () => {
    const policy = policyFile('mfa_enforcement: { all_users: true, grace_period: 30d, exclude_service_accounts: true }\n');
    srv = await startTestServer(kind, { STEPWISE_POLICY_FILE: policy }, { now: clock.now });
    rp = await makeRp(srv);
  });
  afterAll(async () => srv?.close());

  const newUser = (serviceAccount = false) =>
    createUser(srv.container, { email: `e${Math.random().toString(36).slice(2)}@example.test`, password: PASSWORD, serviceAccount });

  async function passwordStep(browser: FakeBrowser, email: string) {
    const req = await authRequest(rp, { prompt: 'login' });
    const page = await submitPassword(browser, await browser.follow(req.url), email);
    return { req, page };
  }

  it('grace period: a notice with the days left, once a day per browser; "Later" continues at once', async () => {
    const u = await newUser();
    const browser = new FakeBrowser(srv.url);
    const { req, page } = await passwordStep(browser, u.email);
    expect(page.url).toMatch(/\/mfa-notice$/);
    expect(testId(page.body, 'mfa-days-left')).toEqual(['30']);
    const later = await browser.follow(page.url.replace(/$/, '/later'), { form: { csrf: hiddenField(page.body, 'csrf') } });
    expect(later.url.startsWith(rp.redirectUri)).toBe(true);
    const tokens = await exchange(rp, req, later.url);
    expect(tokens.claims()).toMatchObject({ acr: 'loa1', amr: ['pwd'] });
    // Same day, same browser: no notice.
    expect((await passwordStep(browser, u.email)).page.url.startsWith(rp.redirectUri)).toBe(true);
    // Ten days later: the notice again, counting down from the first sign-in.
    clock.advance(10 * DAY);
    const again = await passwordStep(browser, u.email);
    expect(testId(again.page.body, 'mfa-days-left')).toEqual(['20']);
    // A different browser on the first day sees it too (the cookie is per browser).
    expect((await passwordStep(new FakeBrowser(srv.url), u.email)).page.url).toMatch(/\/mfa-notice$/);
  });

  it('after the grace period the sign-in continues only through enrolling a factor', async () => {
    const u = await newUser();
    await passwordStep(new FakeBrowser(srv.url), u.email); // first sign-in starts the grace period
    clock.advance(31 * DAY);
    const browser = new FakeBrowser(srv.url);
    const { req, page } = await passwordStep(browser, u.email);
    expect(page.url).toMatch(/\/enroll$/);
    // "Later" is not offered any more.
    const uid = page.url.match(/\/interaction\/([^/]+)\//)![1]!;
    const refused = await browser.follow(`/interaction/${uid}/mfa-notice/later`, { form: { csrf: hiddenField(page.body, 'csrf') } });
    expect(refused.status).toBe(400);
    // Enroll TOTP here, then sign in with it and continue.
    const start = await browser.follow(`/interaction/${uid}/enroll/totp/start`, { form: { csrf: hiddenField(page.body, 'csrf') } });
    const secret = testId(start.body, 'totp-secret')[0]!;
    const finish = await browser.follow(`/interaction/${uid}/enroll/totp/finish`, {
      form: { csrf: hiddenField(start.body, 'csrf'), factorId: hiddenField(start.body, 'factorId'), code: totpCode(secret, clock.now()) },
    });
    clock.advance(30);
    const cb = await browser.follow(finish.url, { form: { csrf: hiddenField(finish.body, 'csrf'), code: totpCode(secret, clock.now()) } });
    expect(cb.url.startsWith(rp.redirectUri), cb.body.slice(0, 300)).toBe(true);
    const tokens = await exchange(rp, req, cb.url);
    expect(tokens.claims()?.acr).toBe('loa2');
  });

  it('service accounts are exempt: no notice, and they cannot enroll a factor', async () => {
    const svc = await newUser(true);
    expect(svc).toMatchObject({ service_account: true });
    clock.advance(40 * DAY);
    const browser = new FakeBrowser(srv.url);
    const { req, page } = await passwordStep(browser, svc.email);
    expect(page.url.startsWith(rp.redirectUri)).toBe(true);
    expect((await exchange(rp, req, page.url)).claims()?.acr).toBe('loa1');
    const account = await browser.follow('/account/reauth');
    const login = await submitPassword(browser, account, svc.email);
    const refused = await browser.follow('/account/factors/totp/start', { form: { csrf: hiddenField(login.body, 'csrf') } });
    expect(refused.status).toBe(403);
    expect(refused.body).toContain('Service accounts cannot add sign-in methods.');
  });
});
