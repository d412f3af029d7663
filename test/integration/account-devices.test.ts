/**
 * Issue 9, remembered devices on /account: the Devices section lists the account's device records, forgets
 * one or all remembered devices (signed-in session, CSRF, no re-auth; audited), refuses another account's
 * device with a 404, removing a sign-in method forgets every remembered device, and the activity list reads
 * as sentences. Runs on every store kind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeBrowser, hiddenField, type Page } from '../helpers/browser.js';
import { makeRp, type TestRp } from '../helpers/rp.js';
import { postAccountForm, testId } from '../helpers/account.js';
import { fakeClock, stepUpKit, type TestUser } from '../helpers/stepup.js';

const DAY_MS = 86_400_000;

describe.each(storeMatrix)('remembered devices on /account on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;
  const clock = fakeClock();

  beforeAll(async () => {
    srv = await startTestServer(kind, {}, { now: clock.now });
    rp = await makeRp(srv);
  });
  afterAll(async () => srv?.close());

  const { user, answer } = stepUpKit(() => srv, () => rp, clock);

  const deviceRows = (html: string) => [...html.matchAll(/data-testid="device-row" data-device-id="([^"]+)" data-remembered="(true|false)"/g)].map((m) => ({ id: m[1]!, remembered: m[2] === 'true' }));
  const dbDevices = (userId: string) => srv.container.db('devices').where({ user_id: userId });

  /** Signs in to /account from a new browser with password + TOTP, ticking "Remember this device". */
  async function signInRemembering(u: TestUser): Promise<{ browser: FakeBrowser; account: Page; asked: string[] }> {
    const browser = new FakeBrowser(srv.url);
    browser.headers['user-agent'] = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
    const asked: string[] = [];
    const account = await answer(browser, await browser.follow('/account'), u, asked, { rememberDevice: true });
    expect(account.url).toMatch(/\/account$/);
    expect(asked).toEqual(['password', 'totp']);
    return { browser, account, asked };
  }

  it('lists the remembered device, forgets it without re-auth, and audits it', async () => {
    const u = await user({ totp: true });
    const { browser, account } = await signInRemembering(u);

    const rows = deviceRows(account.body);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.remembered).toBe(true);
    expect(account.body).toContain('Chrome on Linux');
    expect(testId(account.body, 'device-remembered-until')[0]).toMatch(/^remembered until \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$/);
    expect(account.body).toContain('data-testid="device-current"');
    expect(account.body).toContain(`action="/account/devices/${rows[0]!.id}/forget"`);
    expect(account.body).toContain('data-testid="device-forget"');
    expect(account.body).toContain('data-testid="devices-forget-all"');
    const [stored] = await dbDevices(u.id);
    expect(Number(stored.remembered_until)).toBeGreaterThan(clock.now() + 29 * DAY_MS);

    // A wrong CSRF token changes nothing.
    const forged = await browser.request(`/account/devices/${rows[0]!.id}/forget`, { form: { csrf: 'nope' } });
    expect(forged.status).toBe(403);
    expect((await dbDevices(u.id))[0].remembered_until).not.toBeNull();

    // Well past the re-auth window: forgetting only removes a convenience, so no fresh sign-in is asked.
    clock.advance(2 * 3600);
    const forgotten = await postAccountForm(browser, account, `/account/devices/${rows[0]!.id}/forget`);
    expect(forgotten.url).toMatch(/\/account\?notice=Device%20forgotten$/);
    expect(testId(forgotten.body, 'account-notice')[0]).toBe('Device forgotten');
    const [after] = await dbDevices(u.id);
    expect(after.remembered_until).toBeNull();
    expect(deviceRows(forgotten.body)).toEqual([{ id: rows[0]!.id, remembered: false }]);
    expect(forgotten.body).not.toContain('data-testid="device-forget"');
    expect(forgotten.body).not.toContain('data-testid="devices-forget-all"');
    expect(testId(forgotten.body, 'activity-text')).toContain('Forgot a remembered device');
    const [event] = await srv.container.audit.list({ userId: u.id, type: 'device.forgotten' });
    expect(event).toMatchObject({ outcome: 'success', details: { deviceId: rows[0]!.id, device: 'Chrome on Linux' } });

    // Forgetting it again is harmless and records nothing more.
    const again = await postAccountForm(browser, forgotten, `/account/devices/${rows[0]!.id}/forget`);
    expect(testId(again.body, 'account-notice')[0]).toBe('This device was not remembered');
    expect(await srv.container.audit.list({ userId: u.id, type: 'device.forgotten' })).toHaveLength(1);
  });

  it('forgets all remembered devices at once', async () => {
    const u = await user({ totp: true });
    const first = await signInRemembering(u);
    const second = await signInRemembering(u);
    const account = await second.browser.follow('/account');
    const rows = deviceRows(account.body);
    expect(rows).toHaveLength(2);
    expect(rows.every((r) => r.remembered)).toBe(true);
    expect(first.account.body).toContain('data-testid="devices-forget-all"');

    const done = await postAccountForm(second.browser, account, '/account/devices/forget-all');
    expect(testId(done.body, 'account-notice')[0]).toBe('2 remembered devices forgotten');
    const stored = await dbDevices(u.id);
    expect(stored).toHaveLength(2);
    expect(stored.map((d) => d.remembered_until)).toEqual([null, null]);
    expect(deviceRows(done.body).every((r) => !r.remembered)).toBe(true);
    const [event] = await srv.container.audit.list({ userId: u.id, type: 'device.forgotten' });
    expect(event).toMatchObject({ details: { all: true, count: 2 } });
    expect(testId(done.body, 'activity-text')).toContain('Forgot all remembered devices');
  });

  it("refuses another user's device id (404, nothing changes) and an unknown id", async () => {
    const alice = await user({ totp: true });
    const bob = await user({ totp: true });
    const a = await signInRemembering(alice);
    const b = await signInRemembering(bob);
    const bobDevice = deviceRows(b.account.body)[0]!.id;

    const refused = await postAccountForm(a.browser, a.account, `/account/devices/${bobDevice}/forget`);
    expect(refused.status).toBe(404);
    expect(refused.body).toContain('No such device on your account.');
    expect((await dbDevices(bob.id))[0].remembered_until).not.toBeNull();

    const json = await a.browser.request(`/account/devices/${bobDevice}/forget`, { json: { csrf: hiddenField(a.account.body, 'csrf') } });
    expect(json.status).toBe(404);
    expect(JSON.parse(json.body)).toMatchObject({ error: expect.any(String) });

    const unknown = await postAccountForm(a.browser, a.account, `/account/devices/${'x'.repeat(200)}/forget`);
    expect(unknown.status).toBe(404);
    expect((await dbDevices(alice.id))[0].remembered_until).not.toBeNull();
    expect(await srv.container.audit.list({ type: 'device.forgotten', userId: alice.id })).toEqual([]);
  });

  it('needs a signed-in session: without one, forgetting sends the browser to sign in', async () => {
    const u = await user({ totp: true });
    const { account } = await signInRemembering(u);
    const id = deviceRows(account.body)[0]!.id;
    const stranger = new FakeBrowser(srv.url);
    const res = await stranger.request(`/account/devices/${id}/forget`, { form: { csrf: hiddenField(account.body, 'csrf') } });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toMatch(/^\/auth\?/);
    const all = await stranger.request('/account/devices/forget-all', { form: { csrf: hiddenField(account.body, 'csrf') } });
    expect(all.status).toBe(302);
    expect((await dbDevices(u.id))[0].remembered_until).not.toBeNull();
  });

  it('removing a sign-in method forgets every remembered device', async () => {
    // Two second factors, so one may go under the default policy's mfa_enforcement.all_users.
    const u = await user({ totp: true, webauthn: true });
    const other = await signInRemembering(u);
    const { browser, account } = await signInRemembering(u);
    expect((await dbDevices(u.id)).filter((d) => d.remembered_until !== null)).toHaveLength(2);
    expect(other.account.url).toMatch(/\/account$/);

    const passkeyId = account.body.match(/data-kind="webauthn" data-factor-id="([^"]+)"/)![1]!;
    const removed = await postAccountForm(browser, account, `/account/factors/${passkeyId}/remove`);
    expect(removed.url).toMatch(/notice=Removed/);
    expect((await dbDevices(u.id)).map((d) => d.remembered_until)).toEqual([null, null]);
    const [event] = await srv.container.audit.list({ userId: u.id, type: 'factor.removed' });
    expect(event).toMatchObject({ outcome: 'success', details: { factorId: passkeyId, devicesForgotten: 2 } });
  });

  it('shows the activity as sentences: a sign-in from a new device, never raw event names', async () => {
    const u = await user({ totp: true });
    const { account } = await signInRemembering(u);
    const texts = testId(account.body, 'activity-text');
    expect(testId(account.body, 'activity-row').length).toBe(texts.length);
    expect(texts.some((t) => t.startsWith('Sign-in from a new device'))).toBe(true);
    // Issue 13: a sign-in names its methods, with the browser, IP and time next to it.
    expect(texts).toContain('Signed in with password and authenticator app');
    expect(testId(account.body, 'activity-detail')[texts.indexOf('Signed in with password and authenticator app')]).toMatch(/ · (::ffff:)?127\.0\.0\.1 · (now|this minute|\d+ minutes? ago)$/);
    expect(texts.some((t) => /^[a-z_]+(\.[a-z_]+)+$/.test(t))).toBe(false);
    expect(account.body).not.toContain('risk.decision');
    expect(account.body).not.toContain('login.complete');
  });
});
