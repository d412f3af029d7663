/**
 * Hole 5: behind one proxy (TRUST_PROXY=1) the client is the right-most X-Forwarded-For entry. Spoofed
 * left-most entries, different on every request, neither escape the login throttles nor reach the audit log.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeBrowser, hiddenField } from '../helpers/browser.js';
import { authRequest, makeRp, makeUser, type TestRp } from '../helpers/rp.js';

const CLIENT = '203.0.113.7';
const spoofed = () => `${10 + (randomBytes(1)[0]! % 200)}.${randomBytes(1)[0]}.${randomBytes(1)[0]}.${randomBytes(1)[0]}`;

describe.each(storeMatrix)('client address behind a proxy on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;

  beforeAll(async () => {
    srv = await startTestServer(kind, { TRUST_PROXY: '1', LOGIN_MAX_FAILURES: '3' });
    rp = await makeRp(srv);
  });
  afterAll(async () => srv?.close());

  async function failLogin(email: string, forwardedFor: string): Promise<number> {
    const browser = new FakeBrowser(srv.url);
    const page = await browser.follow((await authRequest(rp)).url);
    const action = page.body.match(/action="(\/interaction\/[^"]+\/login)"/)![1]!;
    const res = await browser.request(action, {
      form: { email, password: 'wrong password', csrf: hiddenField(page.body, 'csrf') },
      headers: { 'x-forwarded-for': forwardedFor },
    });
    return res.status;
  }

  it('spoofed left-most entries do not escape the per-account-and-IP throttle', async () => {
    const { email } = await makeUser(srv);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push(await failLogin(email, `${spoofed()}, ${spoofed()}, ${CLIENT}`));
    expect(statuses).toEqual([401, 401, 401, 429]);
    // Another client (another right-most address) is not blocked by them.
    expect(await failLogin(email, `${spoofed()}, 198.51.100.23`)).toBe(401);
  });

  it('counts per-IP failures against the right-most address, never the spoofed ones', async () => {
    const limiter = (srv.container.throttles.loginIp as unknown as { limiter: RateLimiterAbstract }).limiter;
    const client = '203.0.113.99';
    const lies: string[] = [];
    for (let i = 0; i < 3; i++) {
      const lie = spoofed();
      lies.push(lie);
      await failLogin((await makeUser(srv)).email, `${lie}, ${client}`);
    }
    expect((await limiter.get(client))?.consumedPoints).toBe(3);
    for (const lie of lies) expect(await limiter.get(lie)).toBeNull();
  });

  it('the audit log records the right-most address', async () => {
    const { email } = await makeUser(srv);
    const lie = spoofed();
    await failLogin(email, `${lie}, 192.0.2.44`);
    const events = (await srv.container.audit.list({ type: 'login.password', limit: 1000 })).filter((e) => e.details.email === email);
    expect(events.map((e) => e.ip)).toEqual(['192.0.2.44']);
    const all = await srv.container.audit.list({ limit: 1000 });
    expect(all.some((e) => e.ip === lie)).toBe(false);
  });

  it('a request without X-Forwarded-For is attributed to the socket peer', async () => {
    const { email } = await makeUser(srv);
    const browser = new FakeBrowser(srv.url);
    const page = await browser.follow((await authRequest(rp)).url);
    const action = page.body.match(/action="(\/interaction\/[^"]+\/login)"/)![1]!;
    await browser.request(action, { form: { email, password: 'wrong password', csrf: hiddenField(page.body, 'csrf') } });
    const [event] = (await srv.container.audit.list({ type: 'login.password', limit: 1000 })).filter((e) => e.details.email === email);
    expect(event?.ip).toBe('127.0.0.1');
  });
});
