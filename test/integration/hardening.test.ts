/**
 * Issue 14 hardening defects found from outside, each reproduced before the fix: a body whose
 * Content-Encoding does not match it, a resume URL with an unknown interaction uid, `claims` with a
 * non-list `acr.values`, and the demo's logout form without its CSRF token. Never a 500, never a stack trace.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeBrowser } from '../helpers/browser.js';
import * as oidc from 'openid-client';
import { authRequest, makeRp, makeUser, signIn, type TestRp } from '../helpers/rp.js';

describe.each(storeMatrix)('hardening on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;

  beforeAll(async () => {
    srv = await startTestServer(kind, { STEPWISE_DEMO: 'true' });
    rp = await makeRp(srv);
  });
  afterAll(async () => srv?.close());

  it.each(['gzip', 'deflate', 'br'])('a form body that is not really %s → 400, no stack trace', async (encoding) => {
    for (const path of ['/account/factors/totp/start', '/interaction/abc/login', '/demo/logout']) {
      const res = await fetch(`${srv.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-encoding': encoding, accept: 'text/html' },
        body: 'csrf=x&email=a',
      });
      expect(res.status, path).toBe(400);
      const body = await res.text();
      expect(body).not.toMatch(/at \w+ \(|node:internal|zlib/i);
    }
  });

  it('GET /auth/<unknown uid> for a client with one redirect URI → a clean 400 page', async () => {
    const res = await fetch(`${srv.url}/auth/doesnotexist?client_id=${rp.clientId}`, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(400);
    const body = await res.text();
    expect(body).toContain('data-testid="error-code"');
    expect(body).not.toMatch(/TypeError|redirect_uri'\)/);
  });

  it.each(['3', 'true', '{"a":1}', '"loa2"'])('claims with acr.values = %s never gives a 500', async (values) => {
    const req = await authRequest(rp, { claims: `{"id_token":{"acr":{"essential":true,"values":${values}}}}` });
    const page = await new FakeBrowser(srv.url).follow(req.url);
    expect(page.status).toBeLessThan(500);
  });

  it('a refresh refused for a bad resource does not spend the refresh token', async () => {
    const u = await makeUser(srv);
    const { tokens } = await signIn(srv, rp, u.email);
    await expect(oidc.refreshTokenGrant(rp.config, tokens.refresh_token!, { resource: 'https://not-a-resource.example' })).rejects.toMatchObject({
      error: 'invalid_target',
    });
    // The same token still works: nothing was rotated, nothing revoked.
    const again = await oidc.refreshTokenGrant(rp.config, tokens.refresh_token!);
    expect(again.access_token).toBeTruthy();
  });

  it('POST /demo/logout without the CSRF token is refused', async () => {
    const browser = new FakeBrowser(srv.url);
    await browser.follow('/demo');
    const res = await browser.request('/demo/logout', { form: { note: 'no csrf here' } });
    expect(res.status).toBe(403);
  });

  it('a token request body past 56 KiB → 400 invalid_request (the answer still arrives), and the next request works', async () => {
    const res = await fetch(`${srv.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=client_credentials&pad=${'a'.repeat(80 * 1024)}`,
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_request' });
    const next = await fetch(`${srv.url}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=nope' });
    expect(next.status).toBeGreaterThanOrEqual(400);
    expect(next.status).toBeLessThan(500);
  });

  it('protocol errors speak English whatever the Accept-Language (RFC 6749 §5.2: ASCII error_description)', async () => {
    const res = await fetch(`${srv.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'accept-language': 'de, fr;q=0.5' },
      body: 'grant_type=refresh_token&refresh_token=unknown',
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    const body = (await res.json()) as { error: string; error_description?: string };
    expect(body.error).toMatch(/^invalid_(client|grant|request)$/);
    expect(body.error_description ?? '').toMatch(/^[\x20-\x7e]*$/);
  });
});
