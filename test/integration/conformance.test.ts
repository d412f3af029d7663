/**
 * Issue 14 — conformance points the independent RP found: protocol endpoints answer JSON errors whatever the
 * Accept header (RFC 6749 §5.2), and an authentication request without redirect_uri is refused even for a
 * client with one registered URI (OIDC Core §3.1.2.1).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { authRequest, makeRp, type TestRp } from '../helpers/rp.js';
import { FakeBrowser } from '../helpers/browser.js';

describe.each(storeMatrix)('conformance on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;

  beforeAll(async () => {
    srv = await startTestServer(kind);
    rp = await makeRp(srv);
  });
  afterAll(async () => srv?.close());

  it.each(['text/html', 'text/html,application/json', '*/*'])('POST /token with Accept: %s → a JSON error', async (accept) => {
    const res = await fetch(`${srv.url}/token`, {
      method: 'POST',
      headers: { accept, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=authorization_code&code=nope&client_id=nobody',
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect((await res.json()) as { error: string }).toMatchObject({ error: expect.any(String) });
  });

  it('userinfo and introspection errors are JSON too', async () => {
    const me = await fetch(`${srv.url}/me`, { headers: { accept: 'text/html', authorization: 'Bearer nope' } });
    expect(me.status).toBe(401);
    expect(me.headers.get('content-type')).toMatch(/application\/json/);
    const intro = await fetch(`${srv.url}/token/introspection`, { method: 'POST', headers: { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=x' });
    expect(intro.headers.get('content-type')).toMatch(/application\/json/);
  });

  it('the authorization endpoint still shows people an HTML error page', async () => {
    const res = await fetch(`${srv.url}/auth?client_id=unknown&response_type=code&scope=openid&redirect_uri=http://rp.test/cb`, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
  });

  it('an authorization request without redirect_uri is refused, even with one registered URI', async () => {
    const req = await authRequest(rp);
    const url = new URL(req.url);
    url.searchParams.delete('redirect_uri');
    const page = await new FakeBrowser(srv.url).follow(url.toString());
    expect(page.status).toBe(400);
    expect(page.body).toContain('missing redirect_uri');
    // With it, the same request goes to the login page.
    const ok = await new FakeBrowser(srv.url).follow(req.url);
    expect(ok.url).toMatch(/\/interaction\//);
  });
});
