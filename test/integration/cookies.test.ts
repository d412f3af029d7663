/** Cookie attributes behind a TLS-terminating proxy (production shape): Secure, HttpOnly, SameSite=Lax. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { storeMatrix } from '../helpers/stores.js';
import { freePort, startTestServer, type TestServer } from '../helpers/server.js';
import { createClient } from '../../src/admin/service.js';

describe.each(storeMatrix)('cookies over https (TRUST_PROXY) on $name', (kind) => {
  let srv: TestServer;
  beforeAll(async () => {
    const port = await freePort();
    srv = await startTestServer(kind, { PORT: String(port), ISSUER: `https://localhost:${port}`, TRUST_PROXY: 'true' });
  });
  afterAll(async () => srv?.close());

  it('sets every cookie Secure + HttpOnly + SameSite=Lax, and sends HSTS', async () => {
    const c = await createClient(srv.container, { redirectUris: ['https://rp.test/cb'], firstParty: true });
    const q = new URLSearchParams({
      client_id: c.client_id, response_type: 'code', scope: 'openid', redirect_uri: 'https://rp.test/cb', state: 's', nonce: 'n',
      code_challenge: createHash('sha256').update('v'.repeat(43)).digest('base64url'), code_challenge_method: 'S256',
    });
    const headers = { 'x-forwarded-proto': 'https', host: new URL(srv.env.ISSUER!).host };
    const auth = await fetch(`http://127.0.0.1:${srv.env.PORT}/auth?${q}`, { redirect: 'manual', headers });
    expect(auth.status).toBe(303);
    const cookies = auth.headers.getSetCookie();
    expect(cookies.length).toBeGreaterThan(0);
    for (const cookie of cookies) {
      expect(cookie.toLowerCase(), cookie).toContain('; secure');
      expect(cookie.toLowerCase(), cookie).toContain('; httponly');
      expect(cookie.toLowerCase(), cookie).toContain('samesite=lax');
    }
    const page = await fetch(`http://127.0.0.1:${srv.env.PORT}${new URL(auth.headers.get('location')!, 'https://x').pathname}`, {
      headers: { ...headers, cookie: cookies.map((k) => k.split(';')[0]).join('; ') },
    });
    expect(page.status).toBe(200);
    expect(page.headers.get('strict-transport-security')).toContain('max-age=');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('cache-control')).toBe('no-store');
  });
});
