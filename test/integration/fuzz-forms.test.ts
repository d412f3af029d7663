/**
 * Issue 14, fuzzing the hosted pages: every interaction form (login, factor challenges of every kind, SMS
 * send, enroll-then-continue, consent, chooser, passkey login, push resend), the /account forms with and
 * without their CSRF token (other users' factor and device ids included), the push device JSON API with a
 * real device credential, and GET pages with junk queries. Form and JSON bodies, arrays where strings are
 * expected, duplicate parameters. Never a 5xx, never a stack trace, never a durable change on a rejection.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeBrowser, hiddenField } from '../helpers/browser.js';
import { authRequest, makeRp, makeUser, submitPassword, type TestRp } from '../helpers/rp.js';
import { openAccount } from '../helpers/account.js';
import { fakeClock, stepUpKit } from '../helpers/stepup.js';
import { deviceEnv, deviceRecord, enrollPush } from '../helpers/push.js';
import { asHeader, badEscapes, encodeForm, encodePart, formOf, jsonJunk, jsonOf, junk, paramValue, probe, runs, FUZZ_TIMEOUT } from '../helpers/fuzz.js';

type Stage = 'login' | 'factor' | 'consent';
const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';
const KINDS = ['totp', 'webauthn', 'backup_code', 'sms', 'push'];
const kindArb = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...KINDS) }, { weight: 1, arbitrary: fc.constantFrom('password', 'constructor', '__proto__', '..%2f', 'x') });

/** A body for a form: url-encoded (with undecodable escapes sometimes) or JSON (any JSON where strings are expected). */
function bodyFor(fields: Record<string, string | undefined>) {
  return fc.oneof(
    fc.tuple(formOf(fields), fc.option(badEscapes, { freq: 4 })).map(([f, raw]) => ({ body: encodeForm(f, raw ?? undefined), type: FORM, show: f })),
    jsonOf(fields).map((j) => ({ body: JSON.stringify(j), type: JSON_TYPE, show: j })),
  );
}

describe.each(storeMatrix)('fuzzing the hosted forms on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;
  const clock = fakeClock();
  const kit = stepUpKit(() => srv, () => rp, clock);
  let mfaEmail: string;
  let plainEmail: string;
  let thirdParty: TestRp;
  let otherFactorId: string;
  let otherDeviceId: string;

  beforeAll(async () => {
    srv = await startTestServer(kind, { TRUST_PROXY: '1' }, { now: clock.now });
    rp = await makeRp(srv);
    thirdParty = await makeRp(srv, { firstParty: false });
    plainEmail = (await makeUser(srv)).email;
    const u = await kit.user({ totp: true, webauthn: true });
    mfaEmail = u.email;
    // Backup codes for the same user, so every challenge kind has something to check against.
    await srv.container.factorService.registry.backup_code.startEnrollment({ userId: u.id, userEmail: u.email, userName: null, scope: 'setup', now: clock.now() }, {});
    otherFactorId = (await srv.container.factors.listByUser(u.id))[0]!.id;
    otherDeviceId = String((await srv.container.db('devices').first())?.id ?? 'none');
  });
  afterAll(async () => srv?.close());

  /** A sign-in waiting at its login page, past the password at its second factor, or at a third party's consent. */
  async function interaction(stage: Stage) {
    const browser = new FakeBrowser(srv.url);
    const req = stage === 'consent' ? await authRequest(thirdParty) : await authRequest(rp, { acr_values: 'loa2', prompt: 'consent' });
    let page = await browser.follow(req.url);
    if (stage === 'factor') page = await submitPassword(browser, page, mfaEmail);
    if (stage === 'consent') page = await submitPassword(browser, page, plainEmail);
    const uid = page.url.match(/\/interaction\/([^/?]+)/)![1]!;
    return { browser, uid, csrf: srv.container.csrf.token(uid) };
  }

  it('every interaction form, with real or forged CSRF, form or JSON, at the login step, past the password and at consent', async () => {
    const live: Partial<Record<Stage, Awaited<ReturnType<typeof interaction>>>> = {};
    const route = fc.oneof(
      fc.constantFrom('/login', '/consent', '/abort', '/denied', '/mfa-notice/later', '/factor/sms/send', '/webauthn/passwordless/options', '/webauthn/passwordless', '/factor/push/new'),
      kindArb.map((k) => `/factor/${k}`),
      kindArb.map((k) => `/enroll/${k}/start`),
      kindArb.map((k) => `/enroll/${k}/finish`),
    );
    const fields = { csrf: 'REAL', email: mfaEmail, password: 'a long and memorable passphrase-not', code: '123456', remember_device: '1', phone: '+14155550100', number: undefined, factorId: undefined, name: undefined, response: undefined, resend: undefined };
    await fc.assert(
      fc.asyncProperty(fc.constantFrom<Stage>('login', 'factor', 'consent'), route, bodyFor(fields), async (stage, path, b) => {
        live[stage] ??= await interaction(stage);
        const it = live[stage]!;
        const body = b.body.replace(/REAL/g, it.csrf);
        const res = await probe(srv, `/interaction/${it.uid}${path}`, { body, type: b.type, browser: it.browser }, `${stage} POST ${path} ${JSON.stringify(b.show).slice(0, 300)}`);
        // Left the interaction (e.g. an accepted abort): use a fresh one from now on.
        const location = res.headers.get('location') ?? '';
        if (res.status >= 300 && res.status < 400 && !location.startsWith(`/interaction/${it.uid}`)) delete live[stage];
      }),
      runs(45),
    );
  }, FUZZ_TIMEOUT);

  it('GET pages with junk paths, queries and cookies', async () => {
    const it = await interaction('factor');
    const page = fc.oneof(
      fc.constantFrom('/', '/account', '/account/login', '/account/callback', '/account/reauth', '/dev/outbox', '/healthz', '/readyz', '/metrics', '/assets/theme.css', '/.well-known/openid-configuration', '/jwks'),
      junk.map((j) => `/lang/${encodePart(j)}`),
      junk.map((j) => `/assets/theme/${encodePart(j)}`),
      fc.constantFrom('', '/factor', '/enroll', '/denied', '/mfa-notice', '/factor/push/status').map((p) => `/interaction/${it.uid}${p}`),
      kindArb.map((k) => `/interaction/${it.uid}/factor/${k}`),
      junk.map((j) => `/interaction/${encodePart(j)}`),
      junk.map((j) => `/account/factors/push/enrollment/${encodePart(j)}`),
    );
    const cookieNames = fc.constantFrom(
      'stepwise_session',
      'stepwise_interaction',
      'stepwise_resume',
      'stepwise_device',
      'stepwise_last_factor',
      'stepwise_account_login',
      'stepwise_mfa_notice',
      'stepwise_lang',
      'stepwise_demo',
    );
    const cookies = fc.array(fc.tuple(cookieNames, fc.boolean(), junk), { maxLength: 4 }).map((list) =>
      list.map(([name, sig, value]) => `${name}${sig ? '.sig' : ''}=${asHeader(encodePart(value))}`).join('; '),
    );
    await fc.assert(
      fc.asyncProperty(page, formOf({ channel: 'sms', notice: undefined, state: undefined, error: undefined, return_to: '/account/x', choose: '' }), cookies, fc.boolean(), async (path, query, cookie, keep) => {
        // Junk cookies alone, or next to the real interaction cookies (a junk one of the same name wins or loses).
        const real = keep ? it.browser.cookieHeader(new URL(path, srv.url)) : '';
        const header = [cookie, real].filter(Boolean).join('; ');
        await probe(srv, `${path}?${encodeForm(query)}`, { headers: header ? { cookie: header } : {} }, `GET ${path} cookie=${header.slice(0, 200)}`);
      }),
      runs(40),
    );
  }, FUZZ_TIMEOUT);

  it('/account forms with and without CSRF, junk fields and other users’ ids: clean, nothing changed on rejection', async () => {
    const { email } = await makeUser(srv);
    const browser = new FakeBrowser(srv.url);
    const account = await openAccount(browser, { email });
    expect(account.url).toMatch(/\/account$/);
    const csrf = hiddenField(account.body, 'csrf');
    const id = fc.oneof(fc.constant(otherFactorId), fc.constant(otherDeviceId), junk.map(encodePart));
    const route = fc.oneof(
      kindArb.map((k) => `/account/factors/${k}/start`),
      kindArb.map((k) => `/account/factors/${k}/finish`),
      id.map((i) => `/account/factors/${i}/rename`),
      id.map((i) => `/account/factors/${i}/remove`),
      id.map((i) => `/account/devices/${i}/forget`),
      fc.constant('/account/devices/forget-all'),
    );
    const fields = { csrf: 'REAL', name: 'Phone', phone: '+14155550123', code: '123456', factorId: undefined, enrollmentId: undefined, resend: undefined, response: undefined };
    await fc.assert(
      fc.asyncProperty(route, bodyFor(fields), async (path, b) => {
        const res = await probe(srv, path, { body: b.body.replace(/REAL/g, csrf), type: b.type, browser }, `POST ${path} ${JSON.stringify(b.show).slice(0, 300)}`);
        if (res.status === 403) expect(res.body).toMatch(/csrf_failed|forbidden/);
      }),
      runs(40),
    );
  }, FUZZ_TIMEOUT);

  it('the push device API: junk JSON, junk credentials, and a real device with junk answers', async () => {
    const { email } = await makeUser(srv);
    const env = deviceEnv();
    await enrollPush(srv, email, env);
    const credential = deviceRecord(env).credential;
    const authz = fc.oneof(fc.constant(undefined), fc.constant(`Bearer ${credential}`), junk.map((j) => `Bearer ${asHeader(j)}`), fc.constant(`Bearer ${credential}x`));
    const call = fc.oneof(
      fc.record({ method: fc.constant('POST'), path: fc.constant('/push/v1/devices'), json: jsonOf({ token: undefined, publicKey: { kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA' }, name: 'x', fcmToken: undefined }) }),
      fc.record({ method: fc.constant('GET'), path: fc.constant('/push/v1/challenges'), json: fc.constant(undefined) }),
      fc.record({
        method: fc.constant('POST'),
        path: junk.map((j) => `/push/v1/challenges/${encodePart(j)}`),
        json: jsonOf({ decision: 'approve', number: '42', userVerified: true, signature: undefined }),
      }),
      fc.record({ method: fc.constant('PUT'), path: fc.constant('/push/v1/device'), json: jsonOf({ fcmToken: 'tok' }) }),
    );
    await fc.assert(
      fc.asyncProperty(call, authz, fc.oneof(fc.constant(JSON_TYPE), fc.constant(FORM), junk.map(asHeader)), async (c, a, type) => {
        const body = c.json === undefined ? undefined : JSON.stringify(c.json);
        const res = await probe(srv, c.path, { method: c.method, body, type: body ? type : undefined, headers: a ? { authorization: a } : {}, accept: 'application/json' }, `${c.method} ${c.path} ${body?.slice(0, 200)}`);
        // Devices are not browsers: every answer is JSON.
        if (res.status >= 400) expect(() => JSON.parse(res.body), res.body.slice(0, 200)).not.toThrow();
      }),
      runs(30),
    );
  }, FUZZ_TIMEOUT);

  it('any JSON value as the whole body of every JSON-accepting form', async () => {
    const it = await interaction('factor');
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/factor/webauthn', '/factor/totp', '/webauthn/passwordless', '/webauthn/passwordless/options', '/login', '/enroll/webauthn/finish'),
        fc.oneof(jsonJunk.map((v) => JSON.stringify(v) ?? 'null'), paramValue.map(String), fc.constantFrom('{"csrf":', '[', '"', '{"__proto__":{"csrf":"x"}}', '1'.repeat(70_000))),
        async (path, body) => {
          await probe(srv, `/interaction/${it.uid}${path}`, { body, type: JSON_TYPE, browser: it.browser, accept: 'application/json' }, `JSON ${path} ${body.slice(0, 200)}`);
        },
      ),
      runs(20),
    );
  }, FUZZ_TIMEOUT);
});
