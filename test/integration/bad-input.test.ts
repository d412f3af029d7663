/** Bad input and failures on the hosted pages: clear 4xx/503 pages, no stack traces, no partial writes. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeBrowser, hiddenField, type Page } from '../helpers/browser.js';
import { authRequest, makeRp, makeUser, submitPassword, type TestRp } from '../helpers/rp.js';

const noStack = (p: Page) => {
  expect(p.body).not.toMatch(/\bat [\w.<>]+ \(|node_modules|Error:/);
};

describe.each(storeMatrix)('bad input on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;
  let email: string;

  beforeAll(async () => {
    srv = await startTestServer(kind, { LOGIN_MAX_FAILURES: '3' });
    rp = await makeRp(srv);
    email = (await makeUser(srv)).email;
  });
  afterAll(async () => srv?.close());

  async function loginPage() {
    const browser = new FakeBrowser(srv.url);
    const page = await browser.follow((await authRequest(rp)).url);
    const action = page.body.match(/action="(\/interaction\/[^"]+\/login)"/)![1]!;
    return { browser, page, action, csrf: hiddenField(page.body, 'csrf') };
  }

  it('rejects a wrong CSRF token with 403 and does not sign in', async () => {
    const { browser, action } = await loginPage();
    const res = await browser.request(action, { form: { email, password: 'x', csrf: 'forged' } });
    expect(res.status).toBe(403);
    expect(res.body).toContain('data-testid="error-code">csrf_failed<');
    noStack(res);
  });

  it('re-renders the form for malformed posts (missing fields, wrong types)', async () => {
    const { browser, action, csrf } = await loginPage();
    const missing = await browser.request(action, { form: { csrf, email: '' } });
    expect(missing.status).toBe(400);
    expect(missing.body).toContain('data-testid="email-error"');
    const json = await browser.request(action, { json: { csrf, email: ['a'], password: { x: 1 } } });
    expect(json.status).toBe(400);
    noStack(json);
  });

  it('answers 413 to oversize bodies', async () => {
    const { browser, action, csrf } = await loginPage();
    const res = await browser.request(action, { form: { csrf, email, password: 'p'.repeat(40_000) } });
    expect(res.status).toBe(413);
    noStack(res);
  });

  it('answers 400 to unknown and expired interactions', async () => {
    const { browser, page } = await loginPage();
    const unknown = await browser.request('/interaction/doesnotexist');
    expect(unknown.status).toBe(400);
    expect(unknown.body).toContain('interaction_not_found');
    const uid = page.url.split('/interaction/')[1]!;
    const interaction = await srv.container.provider.Interaction.find(uid);
    await interaction!.destroy(); // what expiry does
    const expired = await browser.request(`/interaction/${uid}`);
    expect(expired.status).toBe(400);
    expect(expired.body).toContain('sign-in link has expired');
    noStack(expired);
  });

  it('throttles repeated failures per account and IP (429), and the right password does not bypass it', async () => {
    const victim = (await makeUser(srv)).email;
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const { browser, page } = await loginPage();
      statuses.push((await submitPassword(browser, page, victim, `wrong-${i}`)).status);
    }
    expect(statuses).toEqual([401, 401, 401, 429]);
    const { browser, page } = await loginPage();
    const blocked = await submitPassword(browser, page, victim);
    expect(blocked.status).toBe(429);
    expect(blocked.body).toContain('Too many attempts');
  });

  it('answers unknown routes with 404 and no stack', async () => {
    const res = await new FakeBrowser(srv.url).request('/nope');
    expect(res.status).toBe(404);
    noStack(res);
  });

  // Last: takes the stores down.
  it('answers 503 without a stack trace when the stores are down, and writes nothing', async () => {
    const { browser, action, csrf } = await loginPage();
    const before = await srv.container.audit.list({ limit: 1000 });
    if (srv.container.redis) srv.container.redis.disconnect();
    const db = srv.container.db;
    const pool = (db.client as { pool?: { destroy(): Promise<void> } }).pool;
    await db.destroy();
    const post = await browser.request(action, { form: { csrf, email, password: 'whatever' } });
    expect(post.status).toBe(503);
    expect(post.body).toContain('temporarily unavailable');
    noStack(post);
    // The client is known without the database (client cache), so the outage goes back to the RP the way
    // RFC 6749 §4.1.2.1 defines it: a redirect with error=temporarily_unavailable.
    const request = await authRequest(rp);
    const auth = await new FakeBrowser(srv.url).request(request.url);
    expect(auth.status).toBe(303);
    const back = new URL(auth.headers.get('location')!);
    expect(`${back.origin}${back.pathname}`).toBe(new URL(request.url).searchParams.get('redirect_uri'));
    expect(back.searchParams.get('error')).toBe('temporarily_unavailable');
    noStack(auth);
    // Readiness names the outage; liveness stays up (the process is fine, the stores are not).
    const ready = await fetch(`${srv.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { down: string[] }).down).toContain('database');
    expect((await fetch(`${srv.url}/healthz`)).status).toBe(200);
    void pool;
    // Bring the database back to check that nothing was half-written during the outage.
    db.initialize();
    const after = await srv.container.audit.list({ limit: 1000 });
    expect(after.length).toBe(before.length);
  });
});
