/**
 * Issue 8: single-use grant sources are consumed atomically in the store. Parallel token requests with one
 * authorization code (or one refresh token) get exactly (at most) one success; the others get invalid_grant,
 * and everything issued under the grant is revoked (RFC 6749 §4.1.2).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeBrowser } from '../helpers/browser.js';
import { authRequest, exchange, makeRp, makeUser, signIn, submitPassword, type TestRp } from '../helpers/rp.js';

type Settled<T> = PromiseSettledResult<T>;
const fulfilled = <T>(r: Settled<T>[]) => r.filter((x): x is PromiseFulfilledResult<T> => x.status === 'fulfilled').map((x) => x.value);
const rejected = <T>(r: Settled<T>[]) => r.filter((x): x is PromiseRejectedResult => x.status === 'rejected').map((x) => x.reason as { error?: string; cause?: unknown });

describe.each(storeMatrix)('single-use codes and refresh tokens under races on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;
  let email: string;

  beforeAll(async () => {
    srv = await startTestServer(kind);
    rp = await makeRp(srv);
    email = (await makeUser(srv)).email;
  });
  afterAll(async () => srv?.close());

  /** Signs in and returns the callback with a fresh authorization code, not yet exchanged. */
  async function codeCallback() {
    const browser = new FakeBrowser(srv.url);
    const req = await authRequest(rp);
    const cb = await submitPassword(browser, await browser.follow(req.url), email);
    expect(cb.url.startsWith(rp.redirectUri)).toBe(true);
    return { req, callback: cb.url };
  }

  it.each([2, 2, 2, 5])('%i parallel token requests with one code: exactly one 200, the others invalid_grant, the grant revoked', async (n) => {
    const { req, callback } = await codeCallback();
    const results = await Promise.allSettled(Array.from({ length: n }, () => exchange(rp, req, callback)));
    const ok = fulfilled(results);
    const failed = rejected(results);
    expect(ok).toHaveLength(1);
    expect(failed).toHaveLength(n - 1);
    for (const err of failed) expect(err.error, String(err)).toBe('invalid_grant');
    // The replay revoked what the winner got: its tokens are dead however the requests interleaved.
    const winner = ok[0]!;
    expect((await oidc.tokenIntrospection(rp.config, winner.access_token)).active).toBe(false);
    await expect(oidc.refreshTokenGrant(rp.config, winner.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('a code used again after a completed exchange is refused too', async () => {
    const { req, callback } = await codeCallback();
    const first = await exchange(rp, req, callback);
    await expect(exchange(rp, req, callback)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await oidc.tokenIntrospection(rp.config, first.access_token)).active).toBe(false);
  });

  it.each([2, 2, 4])('%i parallel refreshes with one refresh token: at most one success, the others invalid_grant', async (n) => {
    const { tokens } = await signIn(srv, rp, email);
    const rt = tokens.refresh_token!;
    expect(rt).toBeTruthy();
    const results = await Promise.allSettled(Array.from({ length: n }, () => oidc.refreshTokenGrant(rp.config, rt)));
    const ok = fulfilled(results);
    const failed = rejected(results);
    expect(ok.length).toBeLessThanOrEqual(1);
    expect(failed.length).toBeGreaterThanOrEqual(n - 1);
    for (const err of failed) expect(err.error, String(err)).toBe('invalid_grant');
    // Reuse detection revoked the grant, so even the one rotated token no longer works.
    for (const t of ok) await expect(oidc.refreshTokenGrant(rp.config, t.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('a normal refresh chain still works (consume succeeds once per token)', async () => {
    const { tokens } = await signIn(srv, rp, email);
    const r1 = await oidc.refreshTokenGrant(rp.config, tokens.refresh_token!);
    const r2 = await oidc.refreshTokenGrant(rp.config, r1.refresh_token!);
    expect((await oidc.tokenIntrospection(rp.config, r2.access_token)).active).toBe(true);
  });
});
