/**
 * Issue 14 — Back-Channel Logout 1.0: an RP that registered a backchannel_logout_uri receives a signed
 * logout token (typ logout+jwt; iss, aud, sub, sid, events) when the user signs out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeBrowser } from '../helpers/browser.js';
import { makeUser, signIn, type TestRp } from '../helpers/rp.js';
import { createClient } from '../../src/admin/service.js';
import { startBackchannelReceiver, type BackchannelReceiver } from '../helpers/backchannel-rp.js';

describe.each(storeMatrix)('back-channel logout on $name', (kind) => {
  let srv: TestServer;
  let receiver: BackchannelReceiver;
  let rp: TestRp;

  beforeAll(async () => {
    receiver = await startBackchannelReceiver();
    // The RP listens on loopback: let the IdP's outgoing requests reach it (never in production).
    srv = await startTestServer(kind, { ALLOW_PRIVATE_OUTBOUND: 'true' });
    const uri = receiver.uri;
    const c = (await createClient(srv.container, {
      redirectUris: ['http://rp.test/cb'],
      postLogoutRedirectUris: ['http://rp.test/logged-out'],
      firstParty: true,
      backchannelLogoutUri: uri,
    })) as Record<string, unknown>;
    const config = await oidc.discovery(new URL(srv.url), String(c.client_id), undefined, oidc.ClientSecretBasic(String(c.client_secret)), { execute: [oidc.allowInsecureRequests] });
    rp = { config, clientId: String(c.client_id), redirectUri: 'http://rp.test/cb' };
  });
  afterAll(async () => {
    await srv?.close();
    await receiver?.close();
  });

  it('discovery advertises it, and signing out sends the RP a verifiable logout token', async () => {
    const meta = (await (await fetch(`${srv.url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(meta).toMatchObject({ backchannel_logout_supported: true, backchannel_logout_session_supported: true });
    const received = receiver.received;
    received.length = 0;
    const u = await makeUser(srv);
    const browser = new FakeBrowser(srv.url);
    const { tokens } = await signIn(srv, rp, u.email, {}, browser);
    const sid = tokens.claims()?.sid;
    expect(sid).toBeTruthy();
    // RP-initiated logout: the confirmation page, then "yes".
    const end = oidc.buildEndSessionUrl(rp.config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'http://rp.test/logged-out' });
    const confirm = await browser.follow(end.toString());
    const xsrf = confirm.body.match(/name="xsrf" value="([^"]+)"/)![1]!;
    const done = await browser.follow('/session/end/confirm', { form: { xsrf, logout: 'yes' } });
    expect(done.url).toMatch(/^http:\/\/rp\.test\/logged-out/);
    expect(received).toHaveLength(1);
    expect(received[0]!.contentType).toMatch(/application\/x-www-form-urlencoded/);
    const token = received[0]!.body.get('logout_token')!;
    expect(decodeProtectedHeader(token).typ).toBe('logout+jwt');
    const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(`${srv.url}/jwks`)), { issuer: srv.url, audience: rp.clientId });
    expect(payload).toMatchObject({ sub: u.id, sid, events: { 'http://schemas.openid.net/event/backchannel-logout': {} } });
    expect(payload.nonce).toBeUndefined();
  });

  it('a bad backchannel_logout_uri is refused at registration', async () => {
    await expect(createClient(srv.container, { redirectUris: ['http://rp.test/cb'], backchannelLogoutUri: 'not a url' })).rejects.toMatchObject({ code: 'invalid_form' });
    await expect(createClient(srv.container, { redirectUris: ['http://rp.test/cb'], backchannelLogoutUri: 'https://rp.test/bc#frag' })).rejects.toMatchObject({ code: 'invalid_form' });
  });
});
