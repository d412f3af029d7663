/**
 * Issue 14, races: 50 parallel submissions of one single-use thing get exactly one success — one TOTP code,
 * one backup code, one WebAuthn assertion, one SMS code, one consent, one authorization code, one
 * password-reset link, one one-time link — and 50 parallel enrollments of a factor leave exactly one complete record. On every store
 * (SQLite, PostgreSQL + Redis). Losers get a clean 4xx, never a 5xx.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeBrowser, hiddenField, type Page } from '../helpers/browser.js';
import { authRequest, exchange, makeRp, makeUser, submitPassword, type TestRp } from '../helpers/rp.js';
import { openAccount, testId, totpCode } from '../helpers/account.js';
import { fakeClock, stepUpKit, unescapeHtml, type TestUser } from '../helpers/stepup.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';
import { BACKUP_CODE_COUNT } from '../../src/factors/backup-codes/index.js';
import { PasswordResets } from '../../src/account/password-reset.js';

const N = 50;
const parallel = <T>(fn: (i: number) => Promise<T>) => Promise.all(Array.from({ length: N }, (_, i) => fn(i)));
const redirected = (p: Page) => p.status >= 300 && p.status < 400;

/** Every answer is a success (redirect / 200) or a clean refusal; returns how many succeeded. */
function successes(pages: Page[], ok: (p: Page) => boolean = redirected): number {
  for (const p of pages) expect(p.status, p.body.slice(0, 300)).toBeLessThan(500);
  return pages.filter(ok).length;
}

describe.each(storeMatrix)('50-way races on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;
  const clock = fakeClock();
  const kit = stepUpKit(() => srv, () => rp, clock);

  beforeAll(async () => {
    srv = await startTestServer(kind, {}, { now: clock.now });
    rp = await makeRp(srv);
  });
  afterAll(async () => srv?.close());

  /** Password done, waiting at the second factor `kind`. */
  async function atFactor(u: TestUser, factor: string) {
    const browser = new FakeBrowser(srv.url);
    const page = await submitPassword(browser, await browser.follow((await authRequest(rp, { acr_values: 'loa2' })).url), u.email);
    const uid = page.url.match(/\/interaction\/([^/?]+)/)![1]!;
    const challenge = page.url.endsWith(`/factor/${factor}`) ? page : await browser.follow(`/interaction/${uid}/factor/${factor}`);
    return { browser, uid, page: challenge, csrf: srv.container.csrf.token(uid), action: `/interaction/${uid}/factor/${factor}` };
  }

  it(`${N} parallel submissions of one TOTP code: exactly one passes`, async () => {
    const u = await kit.user({ totp: true });
    const s = await atFactor(u, 'totp');
    clock.advance(30);
    const code = totpCode(u.totpSecret!, clock.now());
    const pages = await parallel(() => s.browser.request(s.action, { form: { code, csrf: s.csrf } }));
    expect(successes(pages)).toBe(1);
  });

  it(`${N} parallel submissions of one backup code: exactly one passes, the code is spent once`, async () => {
    const u = await kit.user();
    const fctx = { userId: u.id, userEmail: u.email, userName: null, scope: 'setup', now: clock.now() };
    const { codes } = (await srv.container.factorService.registry.backup_code.startEnrollment(fctx, {})) as { codes: string[] };
    const s = await atFactor(u, 'backup_code');
    const pages = await parallel(() => s.browser.request(s.action, { form: { code: codes[0]!, csrf: s.csrf } }));
    const seen = pages.map((p) => `${p.status} ${testId(p.body, 'code-error')[0] ?? testId(p.body, 'error-code')[0] ?? p.headers.get('location') ?? p.body.match(/<title>([^<]*)/)?.[1]}`);
    // A spent backup code shows how many remain (200) before the sign-in goes on.
    expect(successes(pages, (p) => redirected(p) || p.status === 200), [...new Set(seen)].join(' | ')).toBe(1);
    expect(await srv.container.factorService.registry.backup_code.remaining(u.id)).toBe(BACKUP_CODE_COUNT - 1);
  });

  it(`${N} parallel submissions of one WebAuthn assertion: exactly one passes`, async () => {
    const u = await kit.user({ webauthn: true });
    const s = await atFactor(u, 'webauthn');
    const m = s.page.body.match(/data-options='([^']+)'\s+data-action="([^"]+)" data-csrf="([^"]+)"/)!;
    const response = await u.authenticator!.authenticate(JSON.parse(unescapeHtml(m[1]!)));
    const pages = await parallel(() => s.browser.request(m[2]!, { json: { csrf: m[3], response } }));
    expect(successes(pages, (p) => p.status === 200)).toBe(1);
  });

  it(`${N} parallel submissions of one SMS code: exactly one passes`, async () => {
    const u = await kit.user();
    const sms = srv.container.factorService.registry.sms;
    const outbox = srv.container.notifier.outbox!;
    const scope = `setup-sms-${u.id}`;
    const fctx = { userId: u.id, userEmail: u.email, userName: null, scope, now: clock.now() };
    const started = await sms.startEnrollment(fctx, { phone: '+14155550142' });
    const latestCode = () => outbox.list('sms')[0]!.body.match(/\b(\d{6})\b/)![1]!;
    await sms.finishEnrollment(fctx, { factorId: started.factorId, code: latestCode() });
    clock.advance(31); // the resend cooldown after the enrollment text
    const s = await atFactor(u, 'sms');
    const code = latestCode(); // the challenge page texted a code
    const pages = await parallel(() => s.browser.request(s.action, { form: { code, csrf: s.csrf } }));
    const seen = pages.map((p) => `${p.status} ${testId(p.body, 'code-error')[0] ?? testId(p.body, 'error-code')[0] ?? p.headers.get('location')}`);
    expect(successes(pages), [...new Set(seen)].join(' | ')).toBe(1);
  });

  it(`${N} parallel consents for one interaction: one authorization code reaches the client`, async () => {
    const thirdParty = await makeRp(srv, { firstParty: false });
    const { email } = await makeUser(srv);
    const browser = new FakeBrowser(srv.url);
    const req = await authRequest(thirdParty);
    const consent = await submitPassword(browser, await browser.follow(req.url), email);
    expect(consent.body).toContain('/consent"');
    const action = consent.body.match(/action="(\/interaction\/[^"]+\/consent)"/)![1]!;
    const csrf = hiddenField(consent.body, 'csrf');
    const posted = await parallel(() => browser.request(action, { form: { csrf } }));
    for (const p of posted) expect(p.status, p.body.slice(0, 300)).toBeLessThan(500);
    // Every browser that was sent on resumes the authorization; only one may come back with a code.
    const callbacks = await Promise.all(posted.filter(redirected).map((p) => browser.follow(new URL(p.headers.get('location')!, p.url).toString())));
    const codes = callbacks.filter((p) => p.url.startsWith(thirdParty.redirectUri) && new URL(p.url).searchParams.get('code'));
    expect(codes).toHaveLength(1);
    const granted = (await srv.container.audit.list({ type: 'consent.granted', limit: 200 })).filter((e) => e.clientId === thirdParty.clientId);
    expect(granted.length).toBeGreaterThanOrEqual(1);
    await expect(exchange(thirdParty, req, codes[0]!.url)).resolves.toBeTruthy();
  });

  it(`${N} parallel token requests with one authorization code: exactly one gets tokens`, async () => {
    const { email } = await makeUser(srv);
    const browser = new FakeBrowser(srv.url);
    const req = await authRequest(rp);
    const cb = await submitPassword(browser, await browser.follow(req.url), email);
    const results = await Promise.allSettled(Array.from({ length: N }, () => exchange(rp, req, cb.url)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as { error?: string }).error, String(r.reason)).toBe('invalid_grant');
  });

  it(`${N} parallel TOTP enrollments on /account: one pending factor, then ${N} parallel confirmations: one active factor`, async () => {
    const { id, email } = await makeUser(srv);
    const browser = new FakeBrowser(srv.url);
    const account = await openAccount(browser, { email });
    const csrf = hiddenField(account.body, 'csrf');
    const starts = await parallel(() => browser.request('/account/factors/totp/start', { form: { csrf } }));
    expect(successes(starts, (p) => p.status === 200)).toBe(1);
    const rows = await srv.container.db('factors').where({ user_id: id, kind: 'totp' });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'pending' });
    const page = starts.find((p) => p.status === 200)!;
    const secret = testId(page.body, 'totp-secret')[0]!;
    const form = { csrf: hiddenField(page.body, 'csrf'), factorId: hiddenField(page.body, 'factorId'), code: totpCode(secret, clock.now()) };
    const finishes = await parallel(() => browser.request('/account/factors/totp/finish', { form }));
    const added = (p: Page) => redirected(p) && (p.headers.get('location') ?? '').startsWith('/account?notice=');
    expect(successes(finishes, added), finishes.map((p) => `${p.status} ${p.headers.get('location')}`).join(', ')).toBe(1);
    const after = await srv.container.db('factors').where({ user_id: id, kind: 'totp' });
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ status: 'active' });
    expect(after[0]!.secret_enc).toBeTruthy();
  });

  // Fewer: each generation hashes ten codes with argon2id before it writes anything.
  it(`${N / 5} parallel backup-code generations: one factor row and exactly one full set`, async () => {
    const { id, email } = await makeUser(srv);
    const browser = new FakeBrowser(srv.url);
    const account = await openAccount(browser, { email });
    const csrf = hiddenField(account.body, 'csrf');
    const pages = await Promise.all(Array.from({ length: N / 5 }, () => browser.request('/account/factors/backup_code/start', { form: { csrf } })));
    for (const p of pages) expect(p.status, p.body.slice(0, 300)).toBeLessThan(500);
    expect(await srv.container.db('factors').where({ user_id: id, kind: 'backup_code' })).toHaveLength(1);
    const codes = await srv.container.db('backup_codes').where({ user_id: id });
    expect(codes).toHaveLength(BACKUP_CODE_COUNT);
    // The set on file is the one the factor row names: no mix of two generations.
    const batch = JSON.parse((await srv.container.db('factors').where({ user_id: id, kind: 'backup_code' }).first()).meta).batchId;
    expect(new Set(codes.map((c) => c.batch_id))).toEqual(new Set([batch]));
  });

  it(`${N} parallel WebAuthn registrations with one attestation: one credential`, async () => {
    const u = await kit.user();
    const webauthn = srv.container.factorService.registry.webauthn;
    const fctx = { userId: u.id, userEmail: u.email, userName: null, scope: `race-${u.id}`, now: clock.now() };
    const start = await webauthn.startEnrollment(fctx, {});
    const soft = new SoftAuthenticator({ rpID: 'localhost', origin: srv.url });
    const response = await soft.register(start.optionsJSON as never);
    const results = await Promise.allSettled(Array.from({ length: N }, () => srv.container.factorService.finishEnrollment('webauthn', fctx, { response, name: 'Key' }, {})));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(await srv.container.db('factors').where({ user_id: u.id, kind: 'webauthn' })).toHaveLength(1);
  });

  it(`${N} parallel posts of one password-reset link: exactly one sets the password`, async () => {
    const { id, email } = await makeUser(srv);
    const before = (await srv.container.users.findById(id))!.passwordHash;
    await new PasswordResets(srv.container).sendLink(email, { ip: '127.0.0.1', returnTo: null });
    const mail = srv.container.notifier.outbox!.list('email').find((m) => m.to.includes(email))!;
    const path = mail.body.match(/\/password\/reset\/[A-Za-z0-9_-]{43}/)![0];
    const browser = new FakeBrowser(srv.url);
    const csrf = hiddenField((await browser.request(path)).body, 'csrf');
    const password = 'a brand new and long passphrase 42';
    const pages = await parallel(() => browser.request(path, { form: { csrf, password, confirm: password } }));
    expect(successes(pages, (p) => p.status === 200 && p.body.includes('<title>Password changed'))).toBe(1);
    expect((await srv.container.users.findById(id))!.passwordHash).not.toBe(before);
  });

  it(`${N} parallel redemptions of one one-time link: exactly one gets the grant`, async () => {
    const { id } = await makeUser(srv);
    const token = await srv.container.links.issue('reset_password', id, { n: 1 }, 600);
    const results = await parallel(() => srv.container.links.redeem('reset_password', token));
    expect(results.filter((r) => r !== null)).toHaveLength(1);
    expect(results.find((r) => r !== null)).toMatchObject({ userId: id, data: { n: 1 } });
  });
});
