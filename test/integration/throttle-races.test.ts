/**
 * Issue 8, hole 4: throttles count an attempt before the secret is checked, atomically in the store, so
 * parallel guesses get at most the limit's worth of checks; and the block after the limit lasts the rule's
 * block time (15 minutes), not the counting window.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeBrowser, hiddenField, type Page } from '../helpers/browser.js';
import { authRequest, makeRp, makeUser, signIn, submitPassword, type TestRp } from '../helpers/rp.js';
import { openAccount, postAccountForm, testId, totpCode } from '../helpers/account.js';
import { ThrottledError, defaultRules } from '../../src/security/rate-limit.js';

const MAX = 10; // LOGIN_MAX_FAILURES default
const PARALLEL = 40;

describe.each(storeMatrix)('throttle races on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;
  let offset = 0;
  const now = () => Date.now() + offset;

  beforeAll(async () => {
    srv = await startTestServer(kind, { TRUST_PROXY: '1' }, { now });
    rp = await makeRp(srv);
  });
  afterAll(async () => srv?.close());

  const passwordFailures = async (email: string) =>
    (await srv.container.audit.list({ type: 'login.password', limit: 1000 })).filter((e) => e.outcome === 'failure' && e.details.email === email).length;

  /** Fires `n` wrong passwords at one login form at once, all from `ip`. */
  async function parallelWrongPasswords(browser: FakeBrowser, page: Page, email: string, ip: string, n = PARALLEL) {
    const action = page.body.match(/action="(\/interaction\/[^"]+\/login)"/)![1]!;
    const csrf = hiddenField(page.body, 'csrf');
    const pages = await Promise.all(
      Array.from({ length: n }, (_, i) => browser.request(action, { form: { email, password: `wrong-${i}`, csrf }, headers: { 'x-forwarded-for': ip } })),
    );
    return pages.map((p) => p.status);
  }

  it(`${PARALLEL} parallel wrong passwords from a known browser get at most ${MAX} checks (per account+device), the rest 429`, async () => {
    const { email } = await makeUser(srv);
    const browser = new FakeBrowser(srv.url);
    await signIn(srv, rp, email, {}, browser); // the browser becomes known to the account
    expect(browser.cookies.some((c) => c.name === 'stepwise_device')).toBe(true);
    const login = await browser.follow((await authRequest(rp, { prompt: 'login' })).url);
    const statuses = await parallelWrongPasswords(browser, login, email, '198.51.100.10');
    const checks = await passwordFailures(email);
    expect(checks).toBeLessThanOrEqual(MAX);
    expect(checks).toBe(MAX); // nothing else limits a known browser this early
    expect(statuses.filter((s) => s === 401)).toHaveLength(checks);
    expect(statuses.filter((s) => s === 429)).toHaveLength(PARALLEL - checks);
  });

  it(`${PARALLEL} parallel wrong passwords from a stranger get at most ${MAX} checks, the rest 429`, async () => {
    const { email } = await makeUser(srv);
    const browser = new FakeBrowser(srv.url);
    const login = await browser.follow((await authRequest(rp)).url);
    const statuses = await parallelWrongPasswords(browser, login, email, '198.51.100.11');
    const checks = await passwordFailures(email);
    expect(checks).toBeLessThanOrEqual(MAX);
    // Account+IP allows MAX; past the free stranger failures (5) the stranger gate lets one check through at a time.
    expect(checks).toBe(defaultRules(MAX).strangerDelay.freeFailures + 1);
    expect(statuses.filter((s) => s === 401)).toHaveLength(checks);
    expect(statuses.filter((s) => s === 429)).toHaveLength(PARALLEL - checks);
  });

  it(`${PARALLEL} parallel wrong TOTP codes get at most ${MAX} checks (per account+factor), the rest 429`, async () => {
    const { email } = await makeUser(srv);
    const enroller = new FakeBrowser(srv.url);
    const account = await openAccount(enroller, { email });
    const enroll = await postAccountForm(enroller, account, '/account/factors/totp/start');
    const secret = testId(enroll.body, 'totp-secret')[0]!;
    const done = await enroller.follow('/account/factors/totp/finish', {
      form: { csrf: hiddenField(enroll.body, 'csrf'), factorId: hiddenField(enroll.body, 'factorId'), code: totpCode(secret, now()) },
    });
    expect(done.url).toContain('/account');
    offset += 30_000;

    const browser = new FakeBrowser(srv.url);
    const page = await submitPassword(browser, await browser.follow((await authRequest(rp)).url), email);
    const action = page.body.match(/action="(\/interaction\/[^"]+\/factor\/totp)"/)![1]!;
    const csrf = hiddenField(page.body, 'csrf');
    const right = totpCode(secret, now());
    const wrong = (i: number) => {
      const c = String((Number(right) + 1 + i) % 1_000_000).padStart(6, '0');
      return c === right ? '000000' : c;
    };
    const pages = await Promise.all(Array.from({ length: PARALLEL }, (_, i) => browser.request(action, { form: { code: wrong(i), csrf } })));
    const statuses = pages.map((p) => p.status);
    const userId = (await srv.container.users.findByEmail(email))!.id;
    const checks = (await srv.container.audit.list({ type: 'factor.verify.totp', limit: 1000 })).filter(
      (e) => e.userId === userId && e.outcome === 'failure',
    ).length;
    expect(checks).toBeLessThanOrEqual(MAX);
    expect(checks).toBe(MAX);
    expect(statuses.filter((s) => s === 401)).toHaveLength(checks);
    expect(statuses.filter((s) => s === 429)).toHaveLength(PARALLEL - checks);
    // The right code does not get through the block either.
    expect((await browser.request(action, { form: { code: right, csrf } })).status).toBe(429);
  });

  it('the block after LOGIN_MAX_FAILURES wrong passwords lasts 15 minutes, not the 60-minute window', async () => {
    const { email } = await makeUser(srv);
    const ip = '198.51.100.12';
    const statuses: number[] = [];
    const browser = new FakeBrowser(srv.url);
    const login = await browser.follow((await authRequest(rp)).url);
    const action = login.body.match(/action="(\/interaction\/[^"]+\/login)"/)![1]!;
    const csrf = hiddenField(login.body, 'csrf');
    for (let i = 0; i <= MAX; i++) {
      // Open the stranger gate each time (its growing delays are lockout.test.ts's subject), so the
      // account+IP rule is what refuses the 11th.
      await srv.container.throttles.loginStrangerGate.reset(email);
      statuses.push((await browser.request(action, { form: { email, password: `wrong-${i}`, csrf }, headers: { 'x-forwarded-for': ip } })).status);
    }
    expect(statuses).toEqual([...Array(MAX).fill(401), 429]);
    const state = await srv.container.throttles.loginAccountIp.peek(`${email}|${ip}`);
    expect(state.blocked).toBe(true);
    expect(state.msBeforeNext).toBeGreaterThan(15 * 60_000 - 30_000);
    expect(state.msBeforeNext).toBeLessThanOrEqual(15 * 60_000);
  });

  it('every rule blocks for its blockSeconds once exceeded, measured on the real store', async () => {
    const { throttles } = srv.container;
    for (const name of ['loginAccountIp', 'loginAccountDevice', 'factorAccount', 'loginIp', 'loginAccount'] as const) {
      const throttle = throttles[name];
      const key = `race-${name}-${Math.random()}`;
      // Parallel consumes: exactly `points` are admitted.
      const results = await Promise.allSettled(Array.from({ length: throttle.rule.points + 5 }, () => throttle.consume(key)));
      expect(results.filter((r) => r.status === 'fulfilled'), name).toHaveLength(throttle.rule.points);
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
      expect(refused.every((e) => e instanceof ThrottledError), name).toBe(true);
      const state = await throttle.peek(key);
      expect(state.blocked, name).toBe(true);
      expect(state.msBeforeNext, name).toBeGreaterThan(throttle.rule.blockSeconds * 1000 - 30_000);
      expect(state.msBeforeNext, name).toBeLessThanOrEqual(throttle.rule.blockSeconds * 1000);
      await throttle.reset(key);
    }
    expect(throttles.loginAccountIp.rule.blockSeconds).toBe(15 * 60);
    expect(throttles.factorAccount.rule.blockSeconds).toBe(15 * 60);
  });
});
