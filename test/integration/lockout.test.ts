/**
 * Issue 8, hole 6: an attacker hammering an account must not lock the real user out. Browsers that signed in
 * to the account before (the `stepwise_device` cookie) are exempt from the per-account cap and the stranger
 * delays; strangers get growing delays (1 s, 2 s, 4 s … capped), and at most 100 checks per account and hour.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMatrix } from '../helpers/stores.js';
import { freePort, startTestServer, type TestServer } from '../helpers/server.js';
import { FakeBrowser, hiddenField, type Page } from '../helpers/browser.js';
import { PASSWORD, authRequest, makeRp, makeUser, signIn, type TestRp } from '../helpers/rp.js';
import { createClient } from '../../src/admin/service.js';
import { defaultRules } from '../../src/security/rate-limit.js';
import { deviceHandle } from '../../src/risk/known-browser.js';
import { createHash } from 'node:crypto';

const MAX = 10; // LOGIN_MAX_FAILURES default
const { freeFailures } = defaultRules(MAX).strangerDelay;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let ipSeq = 0;
/** A fresh client address per request (TEST-NET-3 and 198.18/15), as a botnet would have. */
const nextIp = () => {
  ipSeq++;
  return `198.${18 + ((ipSeq >> 16) & 1)}.${(ipSeq >> 8) & 255}.${ipSeq & 255}`;
};

interface LoginForm {
  action: string;
  csrf: string;
}

describe.each(storeMatrix)('lockout and known browsers on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;

  beforeAll(async () => {
    srv = await startTestServer(kind, { TRUST_PROXY: '1' });
    rp = await makeRp(srv);
  });
  afterAll(async () => srv?.close());

  async function loginForm(browser: FakeBrowser, params: Record<string, string> = {}): Promise<LoginForm> {
    const page = await browser.follow((await authRequest(rp, params)).url);
    const action = page.body.match(/action="(\/interaction\/[^"]+\/login)"/)?.[1];
    if (!action) throw new Error(`not a login page (${page.status} ${page.url})`);
    return { action, csrf: hiddenField(page.body, 'csrf') };
  }

  /** One password POST, no redirect following; from `ip` when given (TRUST_PROXY). */
  function post(browser: FakeBrowser, form: LoginForm, email: string, password: string, ip?: string): Promise<Page> {
    return browser.request(form.action, { form: { email, password, csrf: form.csrf }, headers: ip ? { 'x-forwarded-for': ip } : {} });
  }

  const failures = async (email: string) =>
    (await srv.container.audit.list({ type: 'login.password', limit: 5000 })).filter((e) => e.outcome === 'failure' && e.details.email === email).length;

  /** A browser that has signed in to the account (carries the known-browser cookie). */
  async function knownBrowser(email: string) {
    const browser = new FakeBrowser(srv.url);
    await signIn(srv, rp, email, {}, browser);
    expect(browser.cookies.filter((c) => c.name.startsWith('stepwise_device')).map((c) => c.name).sort()).toEqual(['stepwise_device', 'stepwise_device.sig']);
    return browser;
  }

  it('sets the known-browser cookie after a verified password: signed, HttpOnly, SameSite=Lax, Path=/, 180 days', async () => {
    const { email } = await makeUser(srv);
    const browser = new FakeBrowser(srv.url);
    const wrong = await post(browser, await loginForm(browser), email, 'wrong password');
    expect(wrong.status).toBe(401);
    expect(wrong.headers.getSetCookie().some((c) => c.startsWith('stepwise_device'))).toBe(false);
    const ok = await post(browser, await loginForm(browser), email, PASSWORD);
    expect(ok.headers.get('location')).toBeTruthy();
    const cookie = ok.headers.getSetCookie().find((c) => c.startsWith('stepwise_device='))!;
    expect(cookie).toBeDefined();
    expect(ok.headers.getSetCookie().some((c) => c.startsWith('stepwise_device.sig='))).toBe(true);
    const attrs = cookie.toLowerCase();
    expect(attrs).toContain('; path=/;');
    expect(attrs).toContain('; httponly');
    expect(attrs).toContain('samesite=lax');
    expect(attrs).not.toContain('; secure'); // http issuer
    const expires = Date.parse(cookie.match(/expires=([^;]+)/i)![1]!);
    expect(Math.abs(expires - (Date.now() + 180 * 86400_000))).toBeLessThan(60_000);
    // The store remembers the device for this account only, not under the raw id.
    const deviceId = decodeURIComponent(cookie.split(';')[0]!.split('=')[1]!);
    const userId = (await srv.container.users.findByEmail(email))!.id;
    expect(await srv.container.knownBrowsers.isKnownFor(deviceId, userId)).toBe(true);
    expect(await srv.container.knownBrowsers.isKnownFor(deviceId, 'someone-else')).toBe(false);
    // A forged (unsigned) device cookie is not read.
    const forged = new FakeBrowser(srv.url);
    forged.cookies.push({ name: 'stepwise_device', value: deviceId, path: '/' });
    const form = await loginForm(forged);
    const ip = nextIp();
    await post(forged, form, email, 'wrong again', ip);
    expect((await srv.container.throttles.loginAccountIp.peek(`${email}|${ip}`)).consumed).toBe(1); // counted as a stranger
  });

  it("after an attacker's 100+ wrong passwords from many IPs, the known browser signs in at once and a stranger is delayed", async () => {
    const { email } = await makeUser(srv);
    const known = await knownBrowser(email);

    // The attack: 4 parallel workers, a new address per request, until 8 passwords were actually checked
    // (5 free, then after 1 s, after 2 s more: the last failure closes the account to strangers for 4 s).
    const attacker = new FakeBrowser(srv.url);
    const form = await loginForm(attacker);
    let sent = 0;
    let checked = 0;
    const refused: Page[] = [];
    const deadline = Date.now() + 15_000;
    const worker = async () => {
      while ((checked < freeFailures + 3 || sent < 100) && Date.now() < deadline) {
        sent++;
        const page = await post(attacker, form, email, `guess-${sent}`, nextIp());
        if (page.status === 401) checked++;
        else if (page.status === 429) refused.push(page);
        else throw new Error(`unexpected ${page.status}`);
        await sleep(5);
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    expect(sent).toBeGreaterThanOrEqual(100);
    expect(checked).toBeGreaterThanOrEqual(freeFailures + 3);
    expect(checked).toBeLessThanOrEqual(freeFailures + 4);
    expect(await failures(email)).toBe(checked); // only real checks are audited as failures
    expect(refused.length).toBe(sent - checked);
    expect(refused[refused.length - 1]!.body).toMatch(/Try again in \d+ seconds?\./);

    // A stranger with the right password is delayed...
    const stranger = new FakeBrowser(srv.url);
    const strangerPage = await post(stranger, await loginForm(stranger), email, PASSWORD, nextIp());
    expect(strangerPage.status).toBe(429);
    expect(strangerPage.body).toContain('Too many attempts');
    // ...while the real user's browser signs in straight away.
    const t0 = Date.now();
    const { tokens } = await signIn(srv, rp, email, { prompt: 'login' }, known);
    expect(tokens.claims()?.acr).toBe('loa1');
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it('strangers wait 1 s, then 2 s … after the free failures; a stranger with the right password waits too', async () => {
    const { email } = await makeUser(srv);
    const browser = new FakeBrowser(srv.url);
    const form = await loginForm(browser);
    const gate = srv.container.throttles.loginStrangerGate;
    for (let i = 0; i < freeFailures; i++) {
      expect((await post(browser, form, email, `wrong-${i}`, nextIp())).status).toBe(401);
      expect((await gate.peek(email)).blocked).toBe(false);
    }
    // Failure 6 closes the account to strangers for 1 s.
    expect((await post(browser, form, email, 'wrong-6', nextIp())).status).toBe(401);
    let state = await gate.peek(email);
    expect(state.blocked).toBe(true);
    expect(state.msBeforeNext).toBeGreaterThan(500);
    expect(state.msBeforeNext).toBeLessThanOrEqual(1_000);
    const early = await post(browser, form, email, PASSWORD, nextIp());
    expect(early.status).toBe(429);
    expect(early.body).toContain('Try again in 1 second.');

    await sleep(state.msBeforeNext + 50);
    // Failure 7: 2 s.
    expect((await post(browser, form, email, 'wrong-7', nextIp())).status).toBe(401);
    state = await gate.peek(email);
    expect(state.msBeforeNext).toBeGreaterThan(1_500);
    expect(state.msBeforeNext).toBeLessThanOrEqual(2_000);
    expect((await post(browser, form, email, PASSWORD, nextIp())).status).toBe(429);
    expect(await failures(email)).toBe(freeFailures + 2);
  });

  it('caps strangers at 100 checks per account and hour, known browsers are exempt', async () => {
    const { email } = await makeUser(srv);
    const known = await knownBrowser(email);
    // 100 stranger failures this hour (counted straight on the store: at the growing delays they take hours).
    const cap = srv.container.throttles.loginAccount;
    for (let i = 0; i < cap.rule.points; i++) await cap.consume(email);
    const stranger = new FakeBrowser(srv.url);
    const refused = await post(stranger, await loginForm(stranger), email, PASSWORD, nextIp());
    expect(refused.status).toBe(429);
    expect(refused.body).toContain('Try again in 60 minutes.');
    expect((await cap.peek(email)).msBeforeNext).toBeGreaterThan(59 * 60_000);
    const { tokens } = await signIn(srv, rp, email, { prompt: 'login' }, known);
    expect(tokens.claims()?.sub).toBeTruthy();
  });

  it('a known browser keeps its own per-account+device limit, and is a stranger to other accounts', async () => {
    const { email } = await makeUser(srv);
    const other = (await makeUser(srv)).email;
    const known = await knownBrowser(email);
    const form = await loginForm(known, { prompt: 'login' });
    const ip = nextIp();
    const statuses: number[] = [];
    for (let i = 0; i <= MAX; i++) statuses.push((await post(known, form, email, `wrong-${i}`, ip)).status);
    expect(statuses).toEqual([...Array(MAX).fill(401), 429]);
    expect((await post(known, form, email, PASSWORD, ip)).status).toBe(429);
    const deviceId = decodeURIComponent(known.cookies.find((c) => c.name === 'stepwise_device')!.value);
    const device = await srv.container.throttles.loginAccountDevice.peek(`${email}|${deviceHandle(deviceId)}`);
    expect(device.blocked).toBe(true);
    expect(device.msBeforeNext).toBeGreaterThan(14 * 60_000);
    // Known-browser failures do not count toward the strangers' per-account cap or delays.
    expect((await srv.container.throttles.loginAccount.peek(email)).consumed).toBe(0);
    expect((await srv.container.throttles.loginAccountIp.peek(`${email}|${ip}`)).consumed).toBe(0);
    // For another account the same browser is a stranger.
    expect((await post(known, form, other, 'wrong', ip)).status).toBe(401);
    expect((await srv.container.throttles.loginAccountIp.peek(`${other}|${ip}`)).consumed).toBe(1);
    expect((await srv.container.throttles.loginAccount.peek(other)).consumed).toBe(1);
  });
});

describe.each(storeMatrix)('known-browser cookie over https (TRUST_PROXY) on $name', (kind) => {
  let srv: TestServer;
  beforeAll(async () => {
    const port = await freePort();
    srv = await startTestServer(kind, { PORT: String(port), ISSUER: `https://localhost:${port}`, TRUST_PROXY: '1' });
  });
  afterAll(async () => srv?.close());

  it('is Secure when the issuer is https', async () => {
    const { email } = await makeUser(srv);
    const c = await createClient(srv.container, { redirectUris: ['https://rp.test/cb'], firstParty: true });
    const q = new URLSearchParams({
      client_id: c.client_id, response_type: 'code', scope: 'openid', redirect_uri: 'https://rp.test/cb', state: 's', nonce: 'n',
      code_challenge: createHash('sha256').update('v'.repeat(43)).digest('base64url'), code_challenge_method: 'S256',
    });
    const headers = { 'x-forwarded-proto': 'https', host: new URL(srv.env.ISSUER!).host };
    const browser = new FakeBrowser(`http://127.0.0.1:${srv.env.PORT}`);
    const auth = await browser.request(`/auth?${q}`, { headers });
    expect(auth.status).toBe(303);
    const page = await browser.request(new URL(auth.headers.get('location')!, 'https://x').pathname, { headers });
    const action = page.body.match(/action="(\/interaction\/[^"]+\/login)"/)![1]!;
    const res = await browser.request(action, { form: { email, password: PASSWORD, csrf: hiddenField(page.body, 'csrf') }, headers });
    expect(res.headers.get('location')).toBeTruthy();
    const device = res.headers.getSetCookie().filter((k) => k.startsWith('stepwise_device'));
    expect(device).toHaveLength(2);
    for (const cookie of device) {
      expect(cookie.toLowerCase(), cookie).toContain('; secure');
      expect(cookie.toLowerCase(), cookie).toContain('; httponly');
      expect(cookie.toLowerCase(), cookie).toContain('samesite=lax');
    }
  });
});
