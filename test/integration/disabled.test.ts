/** An account disabled while it has an SSO session cannot get new tokens, and gets no 500. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { authRequest, makeRp, makeUser, signIn, type TestRp } from '../helpers/rp.js';

describe.each(storeMatrix)('disabled accounts on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;
  beforeAll(async () => {
    srv = await startTestServer(kind);
    rp = await makeRp(srv);
  });
  afterAll(async () => srv?.close());

  it('an existing session of a disabled account leads back to the login page, not to a token', async () => {
    const u = await makeUser(srv);
    const { browser } = await signIn(srv, rp, u.email);
    await srv.container.db('users').where({ id: u.id }).update({ disabled: true });
    const page = await browser.follow((await authRequest(rp)).url);
    expect(page.status).toBeLessThan(500);
    expect(page.url.startsWith(rp.redirectUri) ? new URL(page.url).searchParams.get('code') : null).toBeNull();
    expect(page.body).toContain('data-testid="login-submit"');
  });

  it('refresh tokens of a disabled account stop working', async () => {
    const u = await makeUser(srv);
    const { tokens } = await signIn(srv, rp, u.email);
    await srv.container.db('users').where({ id: u.id }).update({ disabled: true });
    await expect(oidc.refreshTokenGrant(rp.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });
});
