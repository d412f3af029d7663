/**
 * Issue 14: the defects the fuzz and race suites found, each pinned by a focused test.
 * - A code exchange refused for a `resource` (invalid_target) spent the authorization code: the retry
 *   without it failed as a replay and revoked the grant.
 * - Parallel resumes of one finished interaction (a consent form submitted many times at once) each got an
 *   authorization code.
 * - The push device API answered unknown paths under /push/v1 with Koa's text "Not Found", not JSON.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeBrowser, hiddenField } from '../helpers/browser.js';
import { authRequest, exchange, makeRp, makeUser, submitPassword, type TestRp } from '../helpers/rp.js';

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

  it('unknown paths under /push/v1 answer a JSON 404', async () => {
    for (const path of ['/push/v1/challenges/', '/push/v1/nope', '/push/v1']) {
      const res = await fetch(`${srv.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(res.status, path).toBe(404);
      expect(await res.json(), path).toMatchObject({ error: 'not_found' });
    }
  });
});
