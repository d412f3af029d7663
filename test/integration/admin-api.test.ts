/**
 * Issue 12 — the admin API (/admin/api) with real client_credentials tokens on both stores: bearer auth
 * (401 + WWW-Authenticate, 403 insufficient_scope, read-only scope), users, clients and their policies
 * (ETag / If-Match → 409, lock-out refused), secret rotation with an overlap window, levels, keys, audit
 * search with cursor paging and NDJSON export, problem+json for bad input, and the OpenAPI document
 * covering every route. Every response body is checked against its documented schema.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { makeRp, makeUser, signIn, PASSWORD, authRequest, submitPassword } from '../helpers/rp.js';
import { FakeBrowser } from '../helpers/browser.js';
import { fakeClock } from '../helpers/stepup.js';
import { accessToken, adminToken, apiCaller, expectDocumented, expectProblem, serviceClient, tokenResponse, type ServiceCredentials } from '../helpers/admin-api.js';
import { ROUTES } from '../../src/admin/api/routes.js';

describe.each(storeMatrix)('admin API on $name', (kind) => {
  let srv: TestServer;
  let api: ReturnType<typeof apiCaller>;
  let admin: string;
  let adminCreds: ServiceCredentials;
  let reader: string;
  const clock = fakeClock();

  beforeAll(async () => {
    srv = await startTestServer(kind, { STEPWISE_API_SCOPES: 'payments:write' }, { now: clock.now });
    api = apiCaller(srv);
    ({ token: admin, creds: adminCreds } = await adminToken(srv, 'stepwise:admin', 'ops'));
    ({ token: reader } = await adminToken(srv, 'stepwise:admin:read', 'siem'));
  });
  afterAll(async () => srv?.close());

  it('401 without or with a bad token (WWW-Authenticate), 403 without the scope; read tokens only read', async () => {
    const none = await api('GET', '/users');
    expectProblem(none, 401, 'not_authenticated');
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="stepwise-admin"');
    const bad = await api('GET', '/users', { token: 'not-a-token' });
    expectProblem(bad, 401, 'not_authenticated');
    expect(bad.headers.get('www-authenticate')).toMatch(/^Bearer realm="stepwise-admin", error="invalid_token"/);
    // Bad input from an unauthenticated caller is still a 401: nothing is parsed before the token.
    expectProblem(await api('POST', '/users', { raw: '{nope' }), 401, 'not_authenticated');

    const readOk = await api('GET', '/users', { token: reader });
    expect(readOk.status).toBe(200);
    const readWrite = await api('POST', '/users', { token: reader, body: { email: 'x@example.test', password: PASSWORD } });
    expectProblem(readWrite, 403, 'forbidden');
    expect(readWrite.headers.get('www-authenticate')).toMatch(/error="insufficient_scope".*scope="stepwise:admin"/);

    // A service client registered for read only cannot get the admin scope at the token endpoint.
    const narrow = await serviceClient(srv, ['stepwise:admin:read']);
    const refused = await tokenResponse(srv, narrow, 'stepwise:admin');
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: string }).error).toBe('invalid_scope');

    // A token without an admin scope (a service client for an API scope) is refused with 403.
    const payments = await serviceClient(srv, ['payments:write']);
    expectProblem(await api('GET', '/users', { token: await accessToken(srv, payments, 'payments:write') }), 403, 'forbidden');

    // A relying party's user token that asked for stepwise:admin is worth nothing here.
    const rp = await makeRp(srv, { firstParty: true });
    const u = await makeUser(srv);
    const { tokens } = await signIn(srv, rp, u.email, { scope: 'openid stepwise:admin' });
    expectProblem(await api('GET', '/users', { token: tokens.access_token }), 403, 'forbidden');

    // A revoked token stops working.
    const { creds, token } = await adminToken(srv);
    expect((await api('GET', '/levels', { token })).status).toBe(200);
    const revoke = await fetch(`${srv.url}/token/revocation`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${creds.clientId}:${creds.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }),
    });
    expect(revoke.status).toBe(200);
    expectProblem(await api('GET', '/levels', { token }), 401, 'not_authenticated');
  });

  it('bad input is a problem+json naming the field; unknown ids 404; wrong method 405', async () => {
    expectProblem(await api('POST', '/users', { token: admin, raw: '{"email": "a@example.test",' }), 400, 'invalid_request');
    expectProblem(await api('POST', '/users', { token: admin, body: { email: 'a@example.test', password: PASSWORD, bogus: 1 } }), 400, 'invalid_form', 'bogus');
    expectProblem(await api('POST', '/users', { token: admin, body: { email: 5, password: PASSWORD } }), 400, 'invalid_form', 'email');
    expectProblem(await api('POST', '/users', { token: admin, body: { email: 'not-an-email', password: PASSWORD } }), 400, 'invalid_form', 'email');
    expectProblem(await api('POST', '/users', { token: admin, raw: 'email=a', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'unsupported_media_type');
    expectProblem(await api('GET', '/users?limit=0', { token: admin }), 400, 'invalid_form', 'limit');
    expectProblem(await api('GET', '/users?color=red', { token: admin }), 400, 'invalid_form', 'color');
    expectProblem(await api('GET', '/users?cursor=garbage', { token: admin }), 400, 'invalid_form', 'cursor');
    expectProblem(await api('PUT', '/clients/x/policy', { token: admin, body: { min_acr: 7 } }), 400, 'invalid_form', 'min_acr');
    expectProblem(await api('PUT', '/clients/x/policy', { token: admin, body: { min_acr: 'loa2' } }), 404, 'not_found');
    expectProblem(await api('GET', '/users/00000000-0000-0000-0000-000000000000', { token: admin }), 404, 'not_found');
    expectProblem(await api('GET', '/clients/nope', { token: admin }), 404, 'not_found');
    expectProblem(await api('GET', '/approvals/nope', { token: admin }), 404, 'not_found');
    expectProblem(await api('GET', '/no-such-thing', { token: admin }), 404, 'not_found');
    const wrong = await api('PUT', '/users', { token: admin, body: {} });
    expectProblem(wrong, 405, 'method_not_allowed');
    expect(wrong.headers.get('allow')).toBe('GET, POST');
  });

  it('users: create, search with paging, disable (ends sessions) / enable, password reset, factors, sessions, devices', async () => {
    const tag = `p${Date.now()}`;
    const created = [];
    for (const n of [1, 2, 3]) {
      const res = await api('POST', '/users', { token: admin, body: { email: `${tag}-${n}@example.test`, name: `Paging ${n}`, password: PASSWORD } });
      expect(res.status, res.text).toBe(201);
      expectDocumented('POST', '/users', res.json);
      created.push(res.json);
    }
    expectProblem(await api('POST', '/users', { token: admin, body: { email: `${tag}-1@example.test`, password: PASSWORD } }), 409, 'conflict');

    const page1 = await api('GET', `/users?q=${tag}&limit=2`, { token: reader });
    expectDocumented('GET', '/users', page1.json);
    expect(page1.json.items.map((u: { email: string }) => u.email)).toEqual([`${tag}-1@example.test`, `${tag}-2@example.test`]);
    expect(page1.json.next_cursor).toEqual(expect.any(String));
    const page2 = await api('GET', `/users?q=${tag}&limit=2&cursor=${page1.json.next_cursor}`, { token: reader });
    expect(page2.json.items.map((u: { email: string }) => u.email)).toEqual([`${tag}-3@example.test`]);
    expect(page2.json.next_cursor).toBeNull();
    // LIKE wildcards in q are literal.
    expect((await api('GET', `/users?q=${encodeURIComponent('%')}`, { token: reader })).json.items).toEqual([]);

    // A signed-in user: disable ends the session and its tokens.
    const rp = await makeRp(srv);
    const u = await makeUser(srv);
    const { tokens } = await signIn(srv, rp, u.email);
    const sessions = await api('GET', `/users/${u.id}/sessions`, { token: reader });
    expectDocumented('GET', '/users/{id}/sessions', sessions.json);
    expect(sessions.json).toHaveLength(1);
    expect(sessions.json[0].clients).toEqual([rp.clientId]);
    const disabled = await api('POST', `/users/${u.id}/disable`, { token: admin });
    expect(disabled.status, disabled.text).toBe(200);
    expectDocumented('POST', '/users/{id}/disable', disabled.json);
    expect(disabled.json).toMatchObject({ id: u.id, disabled: true, sessions_ended: 1 });
    expect((await api('GET', `/users/${u.id}/sessions`, { token: reader })).json).toEqual([]);
    const introspect = await fetch(`${srv.url}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(introspect.status).toBe(401);
    expect((await api('GET', `/users?q=${u.email}&disabled=true`, { token: reader })).json.items.map((x: { id: string }) => x.id)).toEqual([u.id]);
    const enabled = await api('POST', `/users/${u.id}/enable`, { token: admin, body: {} });
    expect(enabled.json).toMatchObject({ id: u.id, disabled: false });

    // Ending one session by id; an unknown one is 404.
    const again = await signIn(srv, rp, u.email);
    const [s] = (await api('GET', `/users/${u.id}/sessions`, { token: reader })).json;
    expectProblem(await api('DELETE', `/users/${u.id}/sessions/nope`, { token: admin }), 404, 'not_found');
    const ended = await api('DELETE', `/users/${u.id}/sessions/${s.id}`, { token: admin });
    expect(ended.json).toEqual({ user_id: u.id, ended: 1 });
    expect((await fetch(`${srv.url}/me`, { headers: { authorization: `Bearer ${again.tokens.access_token}` } })).status).toBe(401);

    // Password: admins start a reset, never set one. `email` voids the password and mails a reset link;
    // `forced` voids it and sends nothing. Either way the old password fails.
    expectProblem(await api('POST', `/users/${u.id}/password`, { token: admin, body: { mode: 'set', password: 'a long enough new password' } }), 400, 'invalid_form', 'mode');
    expectProblem(await api('POST', `/users/${u.id}/password`, { token: admin, body: { mode: 'maybe' } }), 400, 'invalid_form', 'mode');
    const outbox = srv.container.notifier.outbox!;
    expect(outbox).toBeDefined();
    const mailsBefore = outbox.list('email').filter((m) => m.to === u.email).length;
    const emailed = await api('POST', `/users/${u.id}/password`, { token: admin, body: { mode: 'email' } });
    expect(emailed.json).toMatchObject({ id: u.id, mode: 'email' });
    const mails = outbox.list('email').filter((m) => m.to === u.email);
    expect(mails.length).toBe(mailsBefore + 1);
    expect(mails[0]!.body).toMatch(/\/password\/reset\/[A-Za-z0-9_-]{43}/);
    const forced = await api('POST', `/users/${u.id}/password`, { token: admin, body: { mode: 'forced' } });
    expectDocumented('POST', '/users/{id}/password', forced.json);
    for (const pw of [PASSWORD]) {
      const b = new FakeBrowser(srv.url);
      const after = await submitPassword(b, await b.follow((await authRequest(rp)).url), u.email, pw);
      expect(after.url.startsWith(rp.redirectUri)).toBe(false);
    }

    // Factors: listed without secrets; removing one ends tokens; an unknown one is 404.
    const factor = await srv.container.factors.insert({ userId: u.id, kind: 'totp', name: 'Phone', status: 'active', secretEnc: 'sealed' });
    const listed = await api('GET', `/users/${u.id}/factors`, { token: reader });
    expectDocumented('GET', '/users/{id}/factors', listed.json);
    expect(listed.json).toEqual([expect.objectContaining({ id: factor.id, kind: 'totp', name: 'Phone', status: 'active' })]);
    expect(listed.text).not.toContain('sealed');
    expectProblem(await api('DELETE', `/users/${u.id}/factors/nope`, { token: admin }), 404, 'not_found');
    const removed = await api('DELETE', `/users/${u.id}/factors/${factor.id}`, { token: admin });
    expect(removed.status, removed.text).toBe(200);
    expectDocumented('DELETE', '/users/{id}/factors/{factorId}', removed.json);
    expect(removed.json).toMatchObject({ status: 'applied', result: { user_id: u.id, removed: [{ id: factor.id }] } });
    expect(await srv.container.factors.listByUser(u.id)).toEqual([]);

    // Devices: a remembered device is listed and forgotten.
    const device = (await srv.container.devices.listByUser(u.id))[0]!;
    await srv.container.devices.signedIn(u.id, device.deviceHash, { uaFamily: device.uaFamily, nowMs: clock.now(), mfaAt: null, rememberedUntil: clock.now() + 86_400_000 });
    const devices = await api('GET', `/users/${u.id}/devices`, { token: reader });
    expectDocumented('GET', '/users/{id}/devices', devices.json);
    expect(devices.json.find((d: { id: string }) => d.id === device.id).remembered_until).toEqual(expect.any(Number));
    expectProblem(await api('DELETE', `/users/${u.id}/devices/nope`, { token: admin }), 404, 'not_found');
    expect((await api('DELETE', `/users/${u.id}/devices/${device.id}`, { token: admin })).json).toEqual({ user_id: u.id, forgotten: 1 });
    expect((await api('DELETE', `/users/${u.id}/devices`, { token: admin })).json).toEqual({ user_id: u.id, forgotten: 0 });
  });

  it('clients: create, ETag / If-Match (409 when stale), policy with lock-out refused, delete', async () => {
    const created = await api('POST', '/clients', { token: admin, body: { redirect_uris: ['https://pay.example/cb'], client_name: 'Payments' } });
    expect(created.status, created.text).toBe(201);
    expectDocumented('POST', '/clients', created.json);
    const id = created.json.client_id as string;
    expect(created.json.client_secret).toEqual(expect.any(String));
    expectProblem(await api('POST', '/clients', { token: admin, body: { redirect_uris: ['not a uri'] } }), 400, 'invalid_form', 'redirect_uri');

    const got = await api('GET', `/clients/${id}`, { token: reader });
    expectDocumented('GET', '/clients/{id}', got.json);
    expect(got.text).not.toContain(created.json.client_secret);
    const etag = got.headers.get('etag')!;
    expect(etag).toBe(got.json.etag);

    const patched = await api('PATCH', `/clients/${id}`, { token: admin, body: { client_name: 'Payments EU' }, headers: { 'if-match': etag } });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.json.client_name).toBe('Payments EU');
    const etag2 = patched.headers.get('etag')!;
    expect(etag2).not.toBe(etag);
    // The second editor still holds the first ETag: 409, nothing changed.
    expectProblem(await api('PATCH', `/clients/${id}`, { token: admin, body: { client_name: 'Lost update' }, headers: { 'if-match': etag } }), 409, 'conflict');
    expect((await api('GET', `/clients/${id}`, { token: reader })).json.client_name).toBe('Payments EU');
    expectProblem(await api('PATCH', `/clients/${id}`, { token: admin, body: { redirect_uris: [] } }), 400, 'invalid_form', 'redirect_uris');

    // Two concurrent writers from the same ETag: exactly one wins.
    const race = await Promise.all(['A', 'B', 'C'].map((n) => api('PATCH', `/clients/${id}`, { token: admin, body: { client_name: n }, headers: { 'if-match': etag2 } })));
    expect(race.map((r) => r.status).sort()).toEqual([200, 409, 409]);

    // Policy: a valid one is stored; one nobody can meet is refused with the reason.
    const current = await api('GET', `/clients/${id}/policy`, { token: reader });
    expectDocumented('GET', '/clients/{id}/policy', current.json);
    const policy = { min_acr: 'loa2', allowed_factors: ['totp', 'webauthn'], max_age_seconds: 3600, enroll_on_unmet: true, sensitive_scopes: ['payments:write'] };
    const put = await api('PUT', `/clients/${id}/policy`, { token: admin, body: policy, headers: { 'if-match': current.headers.get('etag')! } });
    expect(put.status, put.text).toBe(200);
    expectDocumented('PUT', '/clients/{id}/policy', put.json);
    expect(put.json).toMatchObject({ status: 'applied', result: { client_id: id, policy } });
    expect((await srv.container.clients.find(id))?.stepwise_policy).toEqual(policy);
    const lockout = await api('PUT', `/clients/${id}/policy`, { token: admin, body: { min_acr: 'phr', allowed_factors: ['totp', 'sms'] } });
    expectProblem(lockout, 400, 'invalid_form', 'min_acr');
    expect(lockout.json.detail).toMatch(/lock everyone out.*phr.*webauthn/);
    // The detail in the caller's language (Accept-Language), the title stays the code's English.
    const gesperrt = await api('PUT', `/clients/${id}/policy`, { token: admin, body: { min_acr: 'phr', allowed_factors: ['totp', 'sms'] }, headers: { 'accept-language': 'de' } });
    expectProblem(gesperrt, 400, 'invalid_form', 'min_acr');
    expect(gesperrt.json.detail).toMatch(/^Diese Richtlinie würde alle aussperren: min_acr phr .*phishing-resistenten \(webauthn\)\. Erlauben Sie/);
    expectProblem(await api('PUT', `/clients/${id}/policy`, { token: admin, body: { min_acr: 'gold' } }), 400, 'invalid_form', 'min_acr');
    expectProblem(await api('PUT', `/clients/${id}/policy`, { token: admin, body: { sensitive_scopes: ['payments:read'] } }), 400, 'invalid_form', 'sensitive_scopes');
    expectProblem(await api('PUT', `/clients/${id}/policy`, { token: admin, body: { allowed_factors: ['carrier-pigeon'] } }), 400, 'invalid_form', 'allowed_factors.0');
    expectProblem(await api('PUT', `/clients/${id}/policy`, { token: admin, body: { max_age_seconds: 'long' } }), 400, 'invalid_form', 'max_age_seconds');
    expectProblem(await api('PUT', `/clients/${id}/policy`, { token: admin, body: { min_acr: 'loa1' }, headers: { 'if-match': current.headers.get('etag')! } }), 409, 'conflict');
    expect((await srv.container.clients.find(id))?.stepwise_policy).toEqual(policy);

    // Internal clients are not editable here.
    expectProblem(await api('PUT', '/clients/stepwise-admin/policy', { token: admin, body: {} }), 403, 'forbidden');

    const list = await api('GET', `/clients?q=${id.toLowerCase()}&limit=5`, { token: reader });
    expectDocumented('GET', '/clients', list.json);
    expect(list.json.items.map((x: { client_id: string }) => x.client_id)).toContain(id);

    const before = (await api('GET', `/clients/${id}`, { token: reader })).headers.get('etag')!;
    expectProblem(await api('DELETE', `/clients/${id}`, { token: admin, headers: { 'if-match': etag } }), 409, 'conflict');
    const deleted = await api('DELETE', `/clients/${id}`, { token: admin, headers: { 'if-match': before } });
    expect(deleted.json).toEqual({ client_id: id, deleted: true });
    expectProblem(await api('GET', `/clients/${id}`, { token: reader }), 404, 'not_found');
  });

  it('service clients and secret rotation: the old secret works only within the overlap window', async () => {
    const created = await api('POST', '/service-clients', { token: admin, body: { scopes: ['stepwise:admin:read'], client_name: 'SIEM' } });
    expect(created.status, created.text).toBe(201);
    expectDocumented('POST', '/service-clients', created.json);
    expect(created.json.grant_types).toEqual(['client_credentials']);
    expectProblem(await api('POST', '/service-clients', { token: admin, body: { scopes: ['openid'] } }), 400, 'invalid_form', 'scope');
    const old: ServiceCredentials = { clientId: created.json.client_id, secret: created.json.client_secret };
    expect((await api('GET', '/levels', { token: await accessToken(srv, old, 'stepwise:admin:read') })).status).toBe(200);

    const rotated = await api('POST', `/clients/${old.clientId}/secret`, { token: admin, body: { overlap_seconds: 60 } });
    expect(rotated.status, rotated.text).toBe(200);
    expectDocumented('POST', '/clients/{id}/secret', rotated.json);
    const next: ServiceCredentials = { clientId: old.clientId, secret: rotated.json.client_secret };
    expect(next.secret).not.toBe(old.secret);
    expect((await tokenResponse(srv, next, 'stepwise:admin:read')).status).toBe(200);
    expect((await tokenResponse(srv, old, 'stepwise:admin:read')).status).toBe(200);
    expect((await tokenResponse(srv, { ...old, secret: `${old.secret}x` }, 'stepwise:admin:read')).status).toBe(401);
    clock.advance(61);
    expect((await tokenResponse(srv, old, 'stepwise:admin:read')).status).toBe(401);
    expect((await tokenResponse(srv, next, 'stepwise:admin:read')).status).toBe(200);

    // Without an overlap the previous secret ends at once.
    const third = await api('POST', `/clients/${old.clientId}/secret`, { token: admin, body: {} });
    expect(third.json.previous_secret_expires_at).toBeNull();
    expect((await tokenResponse(srv, next, 'stepwise:admin:read')).status).toBe(401);
    expect((await tokenResponse(srv, { ...old, secret: third.json.client_secret }, 'stepwise:admin:read')).status).toBe(200);
    expectProblem(await api('POST', `/clients/${old.clientId}/secret`, { token: admin, body: { overlap_seconds: -1 } }), 400, 'invalid_form', 'overlap_seconds');
  });

  it('recoveries: start (admin named), list, cancel; a second start while one is open conflicts', async () => {
    const u = await makeUser(srv);
    expectProblem(await api('POST', `/users/${u.id}/recoveries`, { token: admin, body: { reason: 'lost phone' } }), 400, 'invalid_form', 'evidence');
    const started = await api('POST', `/users/${u.id}/recoveries`, { token: admin, body: { reason: 'lost phone', evidence: 'ticket SEC-1' } });
    expect(started.status, started.text).toBe(200);
    expectDocumented('POST', '/users/{id}/recoveries', started.json);
    expect(started.json.result).toMatchObject({ user_id: u.id, status: 'pending', requested_by: adminCreds.clientId, evidence: 'ticket SEC-1' });
    expectProblem(await api('POST', `/users/${u.id}/recoveries`, { token: admin, body: { reason: 'again', evidence: 'ticket SEC-2' } }), 409, 'conflict');
    const listed = await api('GET', `/users/${u.id}/recoveries`, { token: reader });
    expectDocumented('GET', '/users/{id}/recoveries', listed.json);
    expect(listed.json.map((r: { id: string }) => r.id)).toEqual([started.json.result.id]);
    const cancelled = await api('POST', `/recoveries/${started.json.result.id}/cancel`, { token: admin });
    expectDocumented('POST', '/recoveries/{id}/cancel', cancelled.json);
    expect(cancelled.json).toMatchObject({ status: 'cancelled', cancelled_by: adminCreds.clientId });
    expectProblem(await api('POST', `/recoveries/${started.json.result.id}/cancel`, { token: admin }), 409, 'conflict');
    expectProblem(await api('POST', '/recoveries/nope/cancel', { token: admin }), 404, 'not_found');
  });

  it('levels, signing keys (list, rotate)', async () => {
    const levels = await api('GET', '/levels', { token: reader });
    expectDocumented('GET', '/levels', levels.json);
    expect(levels.json.map((l: { acr: string }) => l.acr)).toEqual(['loa1', 'loa2', 'phr']);
    const keys = await api('GET', '/keys', { token: reader });
    expectDocumented('GET', '/keys', keys.json);
    expect(keys.text).not.toMatch(/"d"|jwk/);
    const rotated = await api('POST', '/keys/rotate', { token: admin });
    expect(rotated.status, rotated.text).toBe(200);
    expectDocumented('POST', '/keys/rotate', rotated.json);
    const after = await api('GET', '/keys', { token: reader });
    expect(after.json.map((k: { kid: string }) => k.kid)).toContain(rotated.json.kid);
    expect(after.json).toHaveLength(keys.json.length + 1);
  });

  it('audit: every write names the admin; filters, cursor paging and NDJSON export agree', async () => {
    const u = (await api('POST', '/users', { token: admin, body: { email: `audit${Date.now()}@example.test`, password: PASSWORD } })).json;
    for (let i = 0; i < 3; i++) await api('POST', `/users/${u.id}/${i % 2 ? 'enable' : 'disable'}`, { token: admin });
    const all = await api('GET', `/audit/events?user_id=${u.id}&type=user.*`, { token: reader });
    expectDocumented('GET', '/audit/events', all.json);
    const types = all.json.items.map((e: { type: string }) => e.type);
    expect(types).toEqual(['user.disabled', 'user.enabled', 'user.disabled', 'user.created']);
    for (const e of all.json.items) expect(e.details.actor).toBe(adminCreds.clientId);

    // Pages of 2: newest first, disjoint, same events.
    const p1 = await api('GET', `/audit/events?user_id=${u.id}&type=user.*&limit=2`, { token: reader });
    const p2 = await api('GET', `/audit/events?user_id=${u.id}&type=user.*&limit=2&cursor=${p1.json.next_cursor}`, { token: reader });
    expect(p2.json.next_cursor).toBeNull();
    const seqs = [...p1.json.items, ...p2.json.items].map((e: { seq: number }) => e.seq);
    expect(seqs).toEqual(all.json.items.map((e: { seq: number }) => e.seq));
    expect([...seqs].sort((a, b) => b - a)).toEqual(seqs);

    expect((await api('GET', `/audit/events?user_id=${u.id}&type=user.dis*`, { token: reader })).json.items).toHaveLength(2);
    expect((await api('GET', `/audit/events?user_id=${u.id}&type=user.enabled`, { token: reader })).json.items).toHaveLength(1);
    expect((await api('GET', `/audit/events?user_id=${u.id}&outcome=failure`, { token: reader })).json.items).toHaveLength(0);
    const first = all.json.items[3].at as number;
    expect((await api('GET', `/audit/events?user_id=${u.id}&type=user.*&from=${first + 1}`, { token: reader })).json.items.length).toBeLessThan(4);
    expect((await api('GET', `/audit/events?user_id=${u.id}&type=user.*&to=${first}`, { token: reader })).json.items).toHaveLength(0);
    expectProblem(await api('GET', '/audit/events?outcome=maybe', { token: reader }), 400, 'invalid_form', 'outcome');
    expectProblem(await api('GET', '/audit/events?from=yesterday', { token: reader }), 400, 'invalid_form', 'from');

    const exported = await api('GET', `/audit/events.ndjson?user_id=${u.id}&type=user.*`, { token: reader });
    expect(exported.status).toBe(200);
    expect(exported.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const lines = exported.text.trimEnd().split('\n').map((l) => JSON.parse(l));
    for (const line of lines) expectDocumented('GET', '/audit/events.ndjson', line);
    expect(lines.map((e) => e.seq)).toEqual([...seqs].reverse());
    // Every event, not only one page: the whole log exported equals the count paged through.
    const everything = (await api('GET', '/audit/events.ndjson', { token: reader })).text.trimEnd().split('\n');
    let paged = 0;
    let cursor: string | null = '';
    while (cursor !== null) {
      const page: { json: { items: unknown[]; next_cursor: string | null } } = await api('GET', `/audit/events?limit=200${cursor ? `&cursor=${cursor}` : ''}`, { token: reader });
      paged += page.json.items.length;
      cursor = page.json.next_cursor;
    }
    expect(everything.length).toBe(paged);
  });

  it('OpenAPI 3.1: every route documented with its security, params and an example that validates', async () => {
    const res = await fetch(`${srv.url}/admin/api/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, any>>; components: any };
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.components.securitySchemes.oauth2.flows.clientCredentials.tokenUrl).toBe(`${srv.url}/token`);
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`));
    expect(documented.sort()).toEqual(ROUTES.map((r) => `${r.method} ${r.path}`).sort());
    for (const route of ROUTES) {
      const op = doc.paths[route.path]![route.method]!;
      expect(op.security[0].oauth2[0]).toBe(route.method === 'get' ? 'stepwise:admin:read' : 'stepwise:admin');
      for (const name of route.path.match(/\{(\w+)\}/g) ?? []) {
        expect(op.parameters.some((p: { name: string; in: string }) => p.in === 'path' && `{${p.name}}` === name), `${route.path} ${name}`).toBe(true);
      }
      if (route.body) {
        const body = op.requestBody.content['application/json'];
        expect(body.schema).not.toHaveProperty('$schema');
        const parsed = route.body.safeParse(body.example);
        expect(parsed.success, `${route.method} ${route.path} body example: ${parsed.success ? '' : JSON.stringify(parsed.error.issues)}`).toBe(true);
      }
      const ok = op.responses[String(route.response.status)].content;
      const example = Object.values(ok as Record<string, { example: unknown }>)[0]!.example;
      const parsed = route.response.schema.safeParse(example);
      expect(parsed.success, `${route.method} ${route.path} response example: ${parsed.success ? '' : JSON.stringify(parsed.error.issues)}`).toBe(true);
      expect(op.responses['401'] ?? op.responses['403']).toBeDefined();
      // Served: a documented route never answers "no such route" or 405.
      const path = route.path.replace(/\{\w+\}/g, 'x');
      const served = await api(route.method.toUpperCase(), path, { token: reader, ...(route.body ? { body: {} } : {}) });
      expect([404, 405].includes(served.status) && /no admin API route|not allowed/.test(served.json?.detail ?? ''), `${route.method} ${path}`).toBe(false);
    }
  });
});
