/**
 * Issue 14: the defects the fuzz and race suites found, each pinned by a focused test.
 * - A code exchange refused for a `resource` (invalid_target) spent the authorization code: the retry
 *   without it failed as a replay and revoked the grant.
 * - Parallel resumes of one finished interaction (a consent form submitted many times at once) each got an
 *   authorization code.
 * - The push device API answered unknown paths under /push/v1 with Koa's text "Not Found", not JSON.
 * - A NUL byte in any looked-up value (client_id, a token, the login e-mail, a factor id in a URL) → 500 on
 *   PostgreSQL, which refuses such text (22021); now a 4xx, and nothing can match it.
 * - An SMS code attempt refused because the code's tries had run out threw the code away — also while a
 *   parallel submission of the right code, which had counted the last try, was still being checked, so
 *   that one failed too and parallel submissions of one right code could all fail.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeBrowser, hiddenField } from '../helpers/browser.js';
import { authRequest, exchange, makeRp, makeUser, submitPassword, type TestRp } from '../helpers/rp.js';
import { openAccount } from '../helpers/account.js';

describe.each(storeMatrix)('defects found by fuzzing and races, on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;
  let email: string;

  beforeAll(async () => {
    srv = await startTestServer(kind);
    rp = await makeRp(srv);
    email = (await makeUser(srv)).email;
  });
  afterAll(async () => srv?.close());

  it('a code exchange refused for a bad resource does not spend the code', async () => {
    const browser = new FakeBrowser(srv.url);
    const req = await authRequest(rp);
    const cb = await submitPassword(browser, await browser.follow(req.url), email);
    await expect(
      oidc.authorizationCodeGrant(rp.config, new URL(cb.url), { pkceCodeVerifier: req.verifier, expectedNonce: req.nonce, expectedState: req.state }, { resource: 'https://not-a-resource.example' }),
    ).rejects.toMatchObject({ error: 'invalid_target' });
    // The same code still works, and what it gives is alive (nothing was revoked as a replay).
    const tokens = await exchange(rp, req, cb.url);
    expect((await oidc.tokenIntrospection(rp.config, tokens.access_token)).active).toBe(true);
  });

  it('a token request body is still read as before: form fields, a charset, and an undecodable charset', async () => {
    const secret = (await srv.container.clients.find(rp.clientId))!.client_secret as string;
    const auth = `Basic ${Buffer.from(`${rp.clientId}:${secret}`).toString('base64')}`;
    const post = (type: string, body: string) => fetch(`${srv.url}/token`, { method: 'POST', headers: { 'content-type': type, authorization: auth }, body });
    const cc = await post('application/x-www-form-urlencoded; charset=utf-8', 'grant_type=authorization_code&code=nope&redirect_uri=http%3A%2F%2Frp.test%2Fcb');
    expect(cc.status).toBe(400);
    expect(await cc.json()).toMatchObject({ error: 'invalid_grant' });
    const junkCharset = await post('application/x-www-form-urlencoded; charset=x-junk', 'grant_type=refresh_token&refresh_token=x');
    expect(junkCharset.status).toBe(400);
    expect(await junkCharset.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('parallel resumes of one finished interaction give one authorization code', async () => {
    const thirdParty = await makeRp(srv, { firstParty: false });
    const browser = new FakeBrowser(srv.url);
    const req = await authRequest(thirdParty);
    const consent = await submitPassword(browser, await browser.follow(req.url), email);
    const action = consent.body.match(/action="(\/interaction\/[^"]+\/consent)"/)![1]!;
    const done = await browser.request(action, { form: { csrf: hiddenField(consent.body, 'csrf') } });
    const resume = new URL(done.headers.get('location')!, srv.url).toString();
    const pages = await Promise.all(Array.from({ length: 10 }, () => browser.request(resume)));
    const withCode = pages.filter((p) => (p.headers.get('location') ?? '').includes('code='));
    expect(withCode).toHaveLength(1);
    for (const p of pages.filter((x) => !withCode.includes(x))) {
      expect(p.status).toBe(400);
      expect(p.body).toContain('interaction_not_found');
    }
  });

  it('an SMS attempt refused for spent tries leaves the code to the submission that counted the last try', async () => {
    const u = await makeUser(srv);
    const sms = srv.container.factorService.registry.sms;
    const outbox = srv.container.notifier.outbox!;
    const latestCode = () => outbox.list('sms')[0]!.body.match(/\b(\d{6})\b/)![1]!;
    const setup = { userId: u.id, userEmail: u.email, userName: null, scope: `enroll-${u.id}`, now: Date.now() };
    const started = await sms.startEnrollment(setup, { phone: '+14155550177' });
    await sms.finishEnrollment(setup, { factorId: started.factorId, code: latestCode() });
    const fctx = { ...setup, scope: `signin-${u.id}`, now: Date.now() + 31_000 }; // past the resend cooldown
    await sms.startChallenge(fctx);
    const code = latestCode();
    const key = `sms:chal:${fctx.scope}`;
    const record = JSON.parse((await srv.container.kv.get(key))!) as { id: string };
    const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
    for (let i = 0; i < 4; i++) await expect(sms.verify(fctx, { code: wrong })).rejects.toMatchObject({ code: 'invalid_code' });
    // A parallel submission of the right code has counted the fifth (last) try and is being checked …
    await srv.container.throttles.smsCodeTries.consume(record.id);
    // … when another one is refused by the tries limit: that refusal must not throw the code away.
    await expect(sms.verify(fctx, { code })).rejects.toMatchObject({ code: 'challenge_expired' });
    expect(await srv.container.kv.get(key)).not.toBeNull();
  });

  it('a NUL byte in a client_id, a token, the login e-mail or a factor id answers 4xx', async () => {
    const form = 'application/x-www-form-urlencoded';
    const token = await fetch(`${srv.url}/token`, { method: 'POST', headers: { 'content-type': form }, body: 'grant_type=refresh_token&refresh_token=%00&client_id=a%00b&client_secret=x' });
    expect(token.status).toBe(401);
    expect(await token.json()).toMatchObject({ error: 'invalid_client' });
    const secret = (await srv.container.clients.find(rp.clientId))!.client_secret as string;
    const authz = { authorization: `Basic ${Buffer.from(`${rp.clientId}:${secret}`).toString('base64')}`, 'content-type': form };
    const refresh = await fetch(`${srv.url}/token`, { method: 'POST', headers: authz, body: 'grant_type=refresh_token&refresh_token=x%00y' });
    expect(refresh.status).toBe(400);
    expect(await refresh.json()).toMatchObject({ error: 'invalid_grant' });
    const auth = await fetch(`${srv.url}/auth?client_id=a%00b&redirect_uri=http%3A%2F%2Frp.test%2Fcb&response_type=code&scope=openid`);
    expect(auth.status).toBe(400);
    const browser = new FakeBrowser(srv.url);
    const login = await browser.follow((await authRequest(rp)).url);
    const action = login.body.match(/action="(\/interaction\/[^"]+\/login)"/)![1]!;
    const bad = await browser.request(action, { form: { email: 'a\u0000b@example.test', password: 'x', csrf: hiddenField(login.body, 'csrf') } });
    // SQLite stores NUL and finds no such user (401); PostgreSQL refuses the text (400). Never a 5xx.
    expect([400, 401]).toContain(bad.status);
    const account = new FakeBrowser(srv.url);
    const page = await openAccount(account, { email });
    const rename = await account.request('/account/factors/%00/rename', { form: { csrf: hiddenField(page.body, 'csrf'), name: 'x' } });
    expect([400, 404]).toContain(rename.status);
  });

  it('unknown paths under /push/v1 answer a JSON 404', async () => {
    for (const path of ['/push/v1/challenges/', '/push/v1/nope', '/push/v1']) {
      const res = await fetch(`${srv.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(res.status, path).toBe(404);
      expect(await res.json(), path).toMatchObject({ error: 'not_found' });
    }
  });
});
