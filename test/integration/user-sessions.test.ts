/**
 * Issue 14 — a user's SSO sessions (c.userSessions): list them, end one, end all (admin revoke, disable,
 * password reset). Ending a session kills its tokens and sends each RP with a backchannel_logout_uri a
 * verifiable logout token for that session's sid — exactly once, also when several enders race.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { authRequest, makeRp, makeUser, signIn, type TestRp } from '../helpers/rp.js';
import { startBackchannelReceiver, type BackchannelReceiver } from '../helpers/backchannel-rp.js';
import { FakeBrowser } from '../helpers/browser.js';
import { createClient } from '../../src/admin/service.js';

describe.each(storeMatrix)('user sessions on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;
  let plainRp: TestRp;
  let receiver: BackchannelReceiver;

  beforeAll(async () => {
    receiver = await startBackchannelReceiver();
    // The RP listens on loopback: let the IdP's outgoing requests reach it (never in production).
    srv = await startTestServer(kind, { ALLOW_PRIVATE_OUTBOUND: 'true' });
    const c = (await createClient(srv.container, { redirectUris: ['http://rp.test/cb'], firstParty: true, backchannelLogoutUri: receiver.uri })) as Record<string, unknown>;
    const config = await oidc.discovery(new URL(srv.url), String(c.client_id), undefined, oidc.ClientSecretBasic(String(c.client_secret)), { execute: [oidc.allowInsecureRequests] });
    rp = { config, clientId: String(c.client_id), redirectUri: 'http://rp.test/cb' };
    plainRp = await makeRp(srv); // no backchannel_logout_uri: its authorizations end silently
  });
  afterAll(async () => {
    await srv?.close();
    await receiver?.close();
  });
  beforeEach(() => {
    receiver.received.length = 0;
  });

  const sessions = () => srv.container.userSessions;
  const sidOf = (t: { claims(): object | undefined }) => String((t.claims() as { sid?: string } | undefined)?.sid);
  const loggedOutSids = async () => (await receiver.verifiedTokens(srv.url, rp.clientId)).map((p) => p.sid).sort();

  it('lists the sessions; ending one sends its logout token and kills its tokens, the other session lives on', async () => {
    const u = await makeUser(srv);
    const a = await signIn(srv, rp, u.email);
    const firefox = new FakeBrowser(srv.url);
    firefox.headers['user-agent'] = 'Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0';
    const b = await signIn(srv, rp, u.email, {}, firefox);
    const sso = await b.browser.follow((await authRequest(plainRp)).url); // b's session now also holds plainRp
    expect(sso.url.startsWith(plainRp.redirectUri)).toBe(true);

    const list = await sessions().list(u.id);
    expect(list).toHaveLength(2);
    for (const s of list) {
      expect(s.uid).toEqual(expect.any(String));
      expect(s.createdAt).toBeGreaterThan(Date.now() - 60_000);
      expect(s.lastSeen).toBeGreaterThanOrEqual(s.createdAt - 1000);
      expect(s.clients).toContain(rp.clientId);
    }
    expect(list.map((s) => s.clients.length).sort()).toEqual([1, 2]);
    const flagged = await sessions().list(u.id, { currentSessionUid: list[0]!.uid });
    expect(flagged.map((s) => s.current)).toEqual([true, false]);
    expect(await sessions().list((await makeUser(srv)).id)).toEqual([]);

    const target = list.find((s) => s.clients.length === 2)!; // b's session
    expect(target).toMatchObject({ device: 'Firefox on Linux', ip: expect.stringMatching(/127\.0\.0\.1$/) });
    expect(await sessions().endOne((await makeUser(srv)).id, target.uid, { reason: 'test' })).toBe(false); // not theirs
    // A request that loaded the session before it ended saves it when it finishes: it must not come back.
    const inFlight = (await srv.container.provider.Session.findByUid(target.uid))!;
    expect(await sessions().endOne(u.id, target.uid, { reason: 'test' })).toBe(true);
    await inFlight.save(3600);
    expect(await srv.container.provider.Session.findByUid(target.uid)).toBeUndefined();
    expect(await loggedOutSids()).toEqual([sidOf(b.tokens)]);
    const [token] = await receiver.verifiedTokens(srv.url, rp.clientId);
    expect(token).toMatchObject({ sub: u.id, events: { 'http://schemas.openid.net/event/backchannel-logout': {} } });

    await expect(oidc.refreshTokenGrant(rp.config, b.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await oidc.refreshTokenGrant(rp.config, a.tokens.refresh_token!)).access_token).toBeTruthy();
    expect((await sessions().list(u.id)).map((s) => s.uid)).toEqual(list.filter((s) => s !== target).map((s) => s.uid));
    expect(await sessions().endOne(u.id, target.uid, { reason: 'test' })).toBe(false); // already ended
    expect(receiver.received).toHaveLength(1);
    const audit = await srv.container.db('audit_events').where({ user_id: u.id, type: 'session.ended' });
    expect(audit).toHaveLength(1);
  });

  it('endAll ends every session but the one kept, with one logout token each, also when enders race', async () => {
    const u = await makeUser(srv);
    const signIns = await Promise.all([1, 2, 3, 4].map(() => signIn(srv, rp, u.email)));
    const list = await sessions().list(u.id);
    expect(list).toHaveLength(4);
    const keep = list[0]!.uid;

    // Five admins at once: four sessions end, four logout tokens go out — not twenty.
    const results = await Promise.all([1, 2, 3, 4, 5].map(() => sessions().endAll(u.id, { reason: 'admin', exceptSessionUid: keep })));
    expect(results.reduce((n, r) => n + r.ended, 0)).toBe(3);
    expect(receiver.received).toHaveLength(3);
    const remaining = await sessions().list(u.id);
    expect(remaining.map((s) => s.uid)).toEqual([keep]);
    const endedSids = await loggedOutSids();
    const alive = signIns.filter((s) => !endedSids.includes(sidOf(s.tokens)));
    expect(alive).toHaveLength(1);
    expect((await oidc.refreshTokenGrant(rp.config, alive[0]!.tokens.refresh_token!)).access_token).toBeTruthy();

    expect(await sessions().endAll(u.id, { reason: 'password_reset' })).toEqual({ ended: 1 });
    expect(await sessions().list(u.id)).toEqual([]);
    expect(await loggedOutSids()).toEqual(signIns.map((s) => sidOf(s.tokens)).sort());
  });

  it('disabling an account ends its sessions with logout tokens, though the account no longer resolves', async () => {
    const u = await makeUser(srv);
    const { tokens, browser } = await signIn(srv, rp, u.email);
    await srv.container.db('users').where({ id: u.id }).update({ disabled: true });
    expect(await sessions().endAll(u.id, { reason: 'disabled' })).toEqual({ ended: 1 });
    const [token] = await receiver.verifiedTokens(srv.url, rp.clientId);
    expect(token).toMatchObject({ sub: u.id, sid: sidOf(tokens) });
    // The browser's session cookie now points at nothing: a new authorization asks for a login.
    const page = await browser.follow(oidc.buildAuthorizationUrl(rp.config, { redirect_uri: rp.redirectUri, scope: 'openid', prompt: 'none', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }).toString());
    expect(new URL(page.url).searchParams.get('error')).toBe('login_required');
  });

  // Last: takes the database down for a moment. On PostgreSQL + Redis the sessions stay readable (Redis) and
  // the RPs' clients do not (PostgreSQL): ending must fail before it changes anything.
  it('an outage fails cleanly and changes nothing; once the store is back, endAll finishes', async () => {
    const u = await makeUser(srv);
    await signIn(srv, rp, u.email);
    await signIn(srv, rp, u.email);
    await srv.container.db.destroy();
    try {
      await expect(sessions().endAll(u.id, { reason: 'admin' })).rejects.toMatchObject({ code: 'store_unavailable' });
    } finally {
      srv.container.db.initialize();
    }
    expect(receiver.received).toHaveLength(0);
    expect(await sessions().list(u.id)).toHaveLength(2);
    expect(await sessions().endAll(u.id, { reason: 'admin' })).toEqual({ ended: 2 });
    expect(await loggedOutSids()).toHaveLength(2);
  });
});
