/**
 * Issue 10 (push): device enrollment with the reference device, sign-in through openid-client with password +
 * an approved push (acr loa2, amr swk pwd mfa), the refusals (wrong number, bad signature, replayed answer,
 * approval after expiry), denial (audit + cool-down), the fatigue limits on a fake clock, and the firebase
 * transport through the real SDK against a local FCM HTTP v1 server (including an unregistered token).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { exchange, makeRp, makeUser, type TestRp } from '../helpers/rp.js';
import { testId } from '../helpers/account.js';
import {
  DEAD_FCM_TOKEN,
  continuePush,
  device,
  deviceEnv,
  deviceRecord,
  enrollPush,
  pendingChallenges,
  postAnswer,
  pushStatus,
  resend,
  signedAnswer,
  startFakeFcm,
  startPushSignIn,
} from '../helpers/push.js';
import { generateSync } from 'otplib';
import { DeviceError } from '../../src/factors/push/device-client.js';
import type { FactorContext } from '../../src/factors/types.js';

const sortedAmr = (claims: Record<string, unknown> | undefined) => [...((claims?.amr as string[] | undefined) ?? [])].sort();
const otherNumber = (n: string) => String(((Number(n) - 10 + 1) % 90) + 10);

describe.each(storeMatrix)('push approval (pull transport) on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;
  let offset = 0;
  const now = () => Date.now() + offset;
  const advance = (seconds: number) => {
    offset += seconds * 1000;
  };

  beforeAll(async () => {
    srv = await startTestServer(kind, {}, { now });
    rp = await makeRp(srv);
  });
  afterAll(async () => srv?.close());

  const audits = async (type: string, userId: string) => (await srv.container.audit.list({ type, limit: 50 })).filter((e) => e.userId === userId);

  it('enrolls a device from /account, then signs in with password + an approved push (acr loa2, amr pwd swk mfa)', async () => {
    const { id: userId, email } = await makeUser(srv);
    const env = deviceEnv();
    const { token } = await enrollPush(srv, email, env);
    const row = await srv.container.db('factors').where({ user_id: userId, kind: 'push' }).first();
    expect(row).toMatchObject({ status: 'active', name: 'Test phone' });
    // Only the public key is stored: no private part, no device secret in clear.
    expect(JSON.parse(row.public_key as string)).toEqual({ kty: 'EC', crv: 'P-256', x: expect.any(String), y: expect.any(String) });
    expect(JSON.stringify(row)).not.toContain(deviceRecord(env).credential.split('.')[1]);
    expect(JSON.stringify(row)).not.toContain(String(deviceRecord(env).privateKey.d));
    // The enrollment token works once.
    await expect(device(deviceEnv(), 'enroll', token)).rejects.toThrow(/expired or was already used/);

    const s = await startPushSignIn(rp, srv, email);
    expect(s.number).toMatch(/^[1-9][0-9]$/);
    expect(await pushStatus(s)).toMatchObject({ status: 'pending' });
    // The device sees the request with its context, never the number.
    const listed = (await device(env, 'list')) as { devices: Array<{ pending: Array<Record<string, string>> }> };
    expect(listed.devices[0]!.pending).toHaveLength(1);
    const notice = listed.devices[0]!.pending[0]!;
    expect(notice).toMatchObject({ client: 'Test RP', ip: expect.any(String), location: expect.any(String) });
    expect(Object.keys(notice).sort()).toEqual(['client', 'expiresAt', 'id', 'ip', 'location', 'time']);
    // "Continue" before the phone answered: told to approve first.
    const early = await continuePush(s);
    expect(early.status).toBe(409);
    expect(testId(early.body, 'form-error')[0]).toMatch(/Approve the request on your phone first/);
    expect(testId(early.body, 'push-number')[0]).toBe(s.number);

    expect(await device(env, 'approve', '--number', s.number!)).toMatchObject({ status: 'approved', client: 'Test RP' });
    expect(await pushStatus(s)).toMatchObject({ status: 'approved' });
    const cb = await continuePush({ ...s, page: early });
    expect(cb.url).toMatch(/^http:\/\/rp\.test\/cb\?/);
    const tokens = await exchange(rp, s.req, cb.url);
    expect(tokens.claims()?.acr).toBe('loa2');
    expect(sortedAmr(tokens.claims())).toEqual(['mfa', 'pwd', 'swk']);
    expect((await audits('factor.verify.push', userId))[0]).toMatchObject({ outcome: 'success' });

    // The app says it verified its user (biometric): amr also carries `user`.
    const s2 = await startPushSignIn(rp, srv, email);
    await device(env, 'approve', '--number', s2.number!, '--user-verified');
    const tokens2 = await exchange(rp, s2.req, (await continuePush(s2)).url);
    expect(sortedAmr(tokens2.claims())).toEqual(['mfa', 'pwd', 'swk', 'user']);
  });

  it('refuses a wrong number, a bad signature, a replayed answer and an approval after expiry', async () => {
    const { id: userId, email } = await makeUser(srv);
    const env = deviceEnv();
    await enrollPush(srv, email, env);
    const rec = deviceRecord(env);

    // Bad signatures (another key, or a signature over other fields) are refused and burn nothing.
    const s = await startPushSignIn(rp, srv, email);
    const [ch] = await pendingChallenges(rec);
    const stranger = deviceEnv();
    await enrollPush(srv, (await makeUser(srv)).email, stranger);
    const foreign = await postAnswer(rec, ch!.id!, signedAnswer(deviceRecord(stranger), ch!.id!, 'approve', s.number!));
    expect(foreign.status).toBe(403);
    const tampered = { ...signedAnswer(rec, ch!.id!, 'approve', s.number!), userVerified: true };
    expect((await postAnswer(rec, ch!.id!, tampered)).status).toBe(403);
    const otherId = { ...signedAnswer(rec, 'A'.repeat(22), 'approve', s.number!) };
    expect((await postAnswer(rec, ch!.id!, otherId)).status).toBe(403);
    // Another device's credential cannot even see or answer this user's challenge.
    expect(await pendingChallenges(deviceRecord(stranger))).toEqual([]);
    expect((await postAnswer(deviceRecord(stranger), ch!.id!, signedAnswer(deviceRecord(stranger), ch!.id!, 'approve', s.number!))).status).toBe(404);
    expect(await pushStatus(s)).toMatchObject({ status: 'pending' });

    // Replay: the same signed approval twice in parallel → exactly one is accepted; a third time → 409.
    const answer = signedAnswer(rec, ch!.id!, 'approve', s.number!);
    const raced = await Promise.all([postAnswer(rec, ch!.id!, answer), postAnswer(rec, ch!.id!, answer)]);
    expect(raced.map((r) => r.status).sort()).toEqual([200, 409]);
    expect((await postAnswer(rec, ch!.id!, answer)).status).toBe(409);
    const cb = await continuePush(s);
    expect(cb.url).toMatch(/^http:\/\/rp\.test\/cb\?/);
    // The approval completed one step: the same interaction's push cannot be reused.
    expect((await srv.container.factorService.registry.push.state.takeApproval(ch!.id!))).toBe(false);

    // Wrong number: refused, and it ends the challenge (one guess); the page says so.
    const w = await startPushSignIn(rp, srv, email);
    await expect(device(env, 'approve', '--number', otherNumber(w.number!))).rejects.toThrow(/does not match/);
    expect(await pushStatus(w)).toMatchObject({ status: 'wrong_number' });
    await expect(device(env, 'approve', '--number', w.number!)).rejects.toThrow(/no sign-in request is waiting/);
    const wrongPage = await continuePush(w);
    expect(wrongPage.status).toBe(401);
    expect(testId(wrongPage.body, 'form-error')[0]).toMatch(/did not match/);
    expect(await audits('factor.push.wrong_number', userId)).toHaveLength(1);

    // Approval after expiry (a slow phone that fetched the request in time): refused with 410.
    const e = await startPushSignIn(rp, srv, email);
    const [late] = await pendingChallenges(rec);
    advance(121);
    const tooLate = await postAnswer(rec, late!.id!, signedAnswer(rec, late!.id!, 'approve', e.number!));
    expect(tooLate.status).toBe(410);
    expect(tooLate.body.error).toBe('challenge_expired');
    expect(await pushStatus(e)).toMatchObject({ status: 'expired' });
    expect((await continuePush(e)).status).toBe(400);
    // Reloading the page sends nothing by itself; "Send a new request" does (new challenge, new number).
    const reloaded = await e.browser.follow(e.page.url);
    expect(testId(reloaded.body, 'push-number')).toEqual([]);
    expect(testId(reloaded.body, 'push-status')[0]).toMatch(/expired/);
    expect(await pendingChallenges(rec)).toEqual([]);
    const again = await resend(e.browser, reloaded);
    expect(testId(again.body, 'push-number')).toHaveLength(1);
    const [fresh] = await pendingChallenges(rec);
    expect(fresh!.id).not.toBe(late!.id);
  });

  it('"Deny — this wasn\'t me": audit event, the page says so, push pauses (other methods stay offered), resumes after the cool-down', async () => {
    const { id: userId, email } = await makeUser(srv);
    const env = deviceEnv();
    await enrollPush(srv, email, env);
    // A second method, so the alternatives list has something to offer.
    const totp = srv.container.factorService.registry.totp;
    const fctx: FactorContext = { userId, userEmail: email, userName: null, scope: 'test', now: now() };
    const started = await totp.startEnrollment(fctx, {});
    await totp.finishEnrollment(fctx, { factorId: started.factorId, code: generateSync({ secret: String(started.secret), epoch: Math.floor(now() / 1000) }) });

    const s = await startPushSignIn(rp, srv, email);
    expect(await device(env, 'deny')).toMatchObject({ status: 'denied' });
    const status = await pushStatus(s);
    expect(status.status).toBe('denied');
    expect(status.message).toMatch(/You denied this request on your phone.*paused for 15 minutes/);
    const denied = await audits('factor.push.denied', userId);
    expect(denied).toHaveLength(1);
    expect(denied[0]).toMatchObject({ outcome: 'failure', details: { client: 'Test RP' } });
    const refused = await continuePush(s);
    expect(refused.status).toBe(403);
    expect(testId(refused.body, 'push-number')).toEqual([]);
    expect(testId(refused.body, 'push-status')[0]).toMatch(/You denied this request/);

    // A new sign-in during the cool-down: no push is sent, the page explains and offers the authenticator app.
    const blocked = await startPushSignIn(rp, srv, email);
    // The denial is a risk signal for that next sign-in: a second factor is required, whatever else.
    const decisions = await audits('risk.decision', userId);
    const latest = decisions.reduce((a, b) => (a.at >= b.at ? a : b));
    expect((latest.details.reasons as Array<{ signal: string; action: string }>).find((r) => r.signal === 'push_denied')).toMatchObject({ action: 'require_mfa' });
    const page = blocked.page;
    expect(testId(page.body, 'push-number')).toEqual([]);
    expect(testId(page.body, 'push-status')[0]).toMatch(/paused for 15 more minutes/);
    expect(page.body).toMatch(/data-testid="alternative"[^>]*>Authenticator app</);
    expect(await pendingChallenges(deviceRecord(env))).toEqual([]);

    // The denied sign-in stays denied on reload; after the cool-down "Send a new request" works again.
    expect(testId((await resend(s.browser, refused)).body, 'push-status')[0]).toMatch(/paused for 15 more minutes/);
    advance(15 * 60 + 1);
    const after = await resend(blocked.browser, blocked.page);
    expect(testId(after.body, 'push-number')).toHaveLength(1);
  });

  it('fatigue limits: one pending push per user, a cap per hour (fake clock)', async () => {
    const { email } = await makeUser(srv);
    const env = deviceEnv();
    await enrollPush(srv, email, env);
    const rec = deviceRecord(env);

    const first = await startPushSignIn(rp, srv, email);
    expect(first.number).toBeDefined();
    // Reloading the same sign-in shows the same request; a second sign-in is refused while it is pending.
    const reload = await first.browser.follow(first.page.url);
    expect(testId(reload.body, 'push-number')[0]).toBe(first.number);
    expect(testId((await resend(first.browser, reload)).body, 'push-number')[0]).toBe(first.number);
    const second = await startPushSignIn(rp, srv, email);
    expect(second.number).toBeUndefined();
    expect(testId(second.page.body, 'push-status')[0]).toMatch(/already waiting for approval/);
    expect(await pendingChallenges(rec)).toHaveLength(1);

    // Five pushes an hour (PUSH_MAX_PER_HOUR default 5), each left to expire; the sixth is refused.
    for (let i = 0; i < 4; i++) {
      advance(121);
      const s = await startPushSignIn(rp, srv, email);
      expect(s.number, `push ${i + 2}`).toBeDefined();
    }
    advance(121);
    const capped = await startPushSignIn(rp, srv, email);
    expect(capped.number).toBeUndefined();
    expect(testId(capped.page.body, 'push-status')[0]).toMatch(/Too many push requests in the last hour/);
    expect(await pendingChallenges(rec)).toEqual([]);

    advance(3600);
    const later = await startPushSignIn(rp, srv, email);
    expect(later.number).toBeDefined();
    // An approval resets the count.
    await device(env, 'approve', '--number', later.number!);
    expect((await continuePush(later)).url).toMatch(/^http:\/\/rp\.test\/cb\?/);
    for (let i = 0; i < 5; i++) {
      advance(121);
      expect((await startPushSignIn(rp, srv, email)).number, `after approval, push ${i + 1}`).toBeDefined();
    }
  });
});

describe.each(storeMatrix)('push approval through Firebase (real SDK, local FCM) on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;
  let fcm: Awaited<ReturnType<typeof startFakeFcm>>;

  beforeAll(async () => {
    fcm = await startFakeFcm();
    srv = await startTestServer(kind, fcm.env, { firebase: fcm.firebase });
    rp = await makeRp(srv);
  });
  afterAll(async () => {
    await srv?.close();
    await fcm?.close();
  });

  it('sends an FCM HTTP v1 data message (challenge id, client, IP, time; no number), and the approved push signs in', async () => {
    const { email } = await makeUser(srv);
    const env = deviceEnv();
    await enrollPush(srv, email, env, ['--fcm-token', 'good-registration-token']);
    const before = fcm.requests.length;
    const s = await startPushSignIn(rp, srv, email);
    expect(s.number).toBeDefined();
    const sent = fcm.requests.slice(before);
    expect(sent).toHaveLength(1);
    const [req] = sent;
    expect(req).toMatchObject({ method: 'POST', path: `/v1/projects/${fcm.projectId}/messages:send`, host: 'fcm.googleapis.com', authorization: 'Bearer test-access-token' });
    const [pending] = await pendingChallenges(deviceRecord(env));
    expect(req!.body.message).toMatchObject({
      token: 'good-registration-token',
      android: { priority: 'high', ttl: '120s' },
      data: { type: 'stepwise.push.challenge', challengeId: pending!.id, client: 'Test RP', issuer: srv.url, ip: expect.any(String), time: pending!.time },
    });
    expect(Object.keys(req!.body.message!.data!)).not.toContain('number');
    await device(env, 'approve', '--number', s.number!);
    const tokens = await exchange(rp, s.req, (await continuePush(s)).url);
    expect(sortedAmr(tokens.claims())).toEqual(['mfa', 'pwd', 'swk']);
  });

  it('an unregistered token (FCM 404 UNREGISTERED) marks the device stale and the page says to use another method', async () => {
    const { id: userId, email } = await makeUser(srv);
    const env = deviceEnv();
    const { deviceId } = await enrollPush(srv, email, env, ['--fcm-token', DEAD_FCM_TOKEN]);
    const s = await startPushSignIn(rp, srv, email);
    expect(s.number).toBeUndefined();
    expect(testId(s.page.body, 'push-status')[0]).toMatch(/could not reach your phone app.*Use another method/);
    const row = await srv.container.factors.findById(deviceId);
    expect(row?.meta).toMatchObject({ stale: true, fcmToken: null });
    expect((await srv.container.audit.list({ type: 'factor.push.stale', limit: 10 })).some((e) => e.userId === userId)).toBe(true);
    // Nothing is left pending, and the device cannot answer anything.
    expect(await pendingChallenges(deviceRecord(env))).toEqual([]);
    await expect(device(env, 'approve', '--number', '42')).rejects.toBeInstanceOf(DeviceError);
    // A new FCM token (the app was reinstalled and re-registered its token) makes it reachable again.
    const rec = deviceRecord(env);
    const put = await fetch(`${srv.url}/push/v1/device`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${rec.credential}`, 'content-type': 'application/json' },
      body: JSON.stringify({ fcmToken: 'new-registration-token' }),
    });
    expect(put.status).toBe(200);
    const again = await resend(s.browser, s.page);
    expect(testId(again.body, 'push-number')).toHaveLength(1);
    expect(fcm.requests.at(-1)?.body.message?.token).toBe('new-registration-token');
  });
});
