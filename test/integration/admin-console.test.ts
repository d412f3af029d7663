/**
 * Issue 12, the admin console (/admin) over HTTP with a cookie-keeping browser, on every store kind: the gate
 * (admin role, a two-factor sign-in within 15 minutes, no second factor → explained 403), CSRF on every form
 * (missing or wrong → 403, nothing changed), bad form values (error on the page, nothing changed), the
 * lock-out refusal, user actions, audit search filters, and four eyes (pending, self-approval refused,
 * a second admin approves). The server runs with four eyes on for lowering a client's minimum.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMatrix } from '../helpers/stores.js';
import { policyFile, startTestServer, type TestServer } from '../helpers/server.js';
import { FakeBrowser, hiddenField, type Page } from '../helpers/browser.js';
import { makeRp, makeUser, type TestRp } from '../helpers/rp.js';
import { testId } from '../helpers/account.js';
import { fakeClock, stepUpKit, unescapeHtml, type TestUser } from '../helpers/stepup.js';
import { setAdminRole } from '../../src/admin/console/roles.js';
import { run, type CliIo } from '../../src/cli/index.js';
import { createClient } from '../../src/admin/service.js';
import { readClientPolicy } from '../../src/policy/client-policy.js';

const FOUR_EYES = policyFile('admin:\n  second_approval: [lower_client_minimum]\n');

describe.each(storeMatrix)('admin console on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;
  const clock = fakeClock();

  beforeAll(async () => {
    srv = await startTestServer(kind, { STEPWISE_POLICY_FILE: FOUR_EYES }, { now: clock.now });
    rp = await makeRp(srv);
  });
  afterAll(async () => srv?.close());

  const { user, answer } = stepUpKit(() => srv, () => rp, clock);

  async function admin(): Promise<TestUser> {
    const u = await user({ totp: true });
    await setAdminRole(srv.container, u.email, true);
    return u;
  }

  /** Opens `path` and answers the sign-in pages; returns the console page reached and the steps asked. */
  async function open(browser: FakeBrowser, u: TestUser, path = '/admin'): Promise<{ page: Page; asked: string[] }> {
    const asked: string[] = [];
    const page = await answer(browser, await browser.follow(path), u, asked);
    return { page, asked };
  }

  async function signedIn(u: TestUser): Promise<{ browser: FakeBrowser; page: Page }> {
    const browser = new FakeBrowser(srv.url);
    const { page, asked } = await open(browser, u);
    expect(asked).toEqual(['password', 'totp']);
    expect(page.status).toBe(200);
    expect(testId(page.body, 'admin-email')).toEqual([u.email]);
    return { browser, page };
  }

  const policyOf = async (clientId: string) => readClientPolicy(await srv.container.clients.find(clientId));

  async function newClient() {
    return createClient(srv.container, { redirectUris: ['http://rp.test/cb'], name: 'Console test' });
  }

  it('lets an admin in after password + TOTP; a non-admin gets 403; no second factor is explained', async () => {
    const a = await admin();
    const { page } = await signedIn(a);
    expect(page.url).toBe(`${srv.url}/admin`);
    expect(page.body).toContain('data-testid="activity-chart"');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.body).not.toMatch(/<script(?![^>]*\ssrc=)|\sstyle=|<style/);
    expect(page.body).toContain('<link rel="stylesheet" href="/assets/admin.css">');
    expect((await fetch(`${srv.url}/assets/admin.css`)).headers.get('content-type')).toMatch(/text\/css/);
    expect(Number(testId(page.body, 'total-signin')[0])).toBeGreaterThanOrEqual(1);

    const plain = await user({ totp: true });
    const { page: denied } = await open(new FakeBrowser(srv.url), plain);
    expect(denied.status).toBe(403);
    expect(denied.body).toContain('data-reason="not_admin"');

    // An admin with only a password can never reach loa2: the sign-in ends unmet and the page says why.
    const noFactor = await makeUser(srv);
    await setAdminRole(srv.container, noFactor.email, true);
    const { page: unmet } = await open(new FakeBrowser(srv.url), { id: noFactor.id, email: noFactor.email });
    expect(unmet.status).toBe(403);
    expect(unmet.body).toContain('data-reason="no_second_factor"');
    expect(unmet.body).toContain('href="/account"');
  });

  it('sends an admin whose two-factor sign-in is older than 15 minutes through the step-up again', async () => {
    const a = await admin();
    const { browser } = await signedIn(a);
    clock.advance(14 * 60);
    expect((await browser.request('/admin/clients')).status).toBe(200);
    clock.advance(2 * 60);
    // A form posted with a stale session changes nothing and goes to the sign-in.
    const client = await newClient();
    const post = await browser.request(`/admin/clients/${client.client_id}/policy`, { form: { csrf: 'x', etag: 'x', min_acr: 'loa2' } });
    expect(post.status).toBe(302);
    expect(new URL(post.headers.get('location')!, srv.url).pathname).toBe('/auth');
    expect(await policyOf(client.client_id)).toEqual({});
    const stale = await browser.request('/admin/audit?type=factor.*');
    expect(stale.status).toBe(302);
    const to = new URL(stale.headers.get('location')!, srv.url);
    expect(to.pathname).toBe('/auth');
    expect(to.searchParams.get('client_id')).toBe('stepwise-admin');
    expect(to.searchParams.get('acr_values')).toBe('loa2');
    expect(to.searchParams.get('max_age')).toBe('900');
    const asked: string[] = [];
    const back = await answer(browser, await browser.follow(stale.headers.get('location')!), a, asked);
    expect(asked).toEqual(['password', 'totp']);
    // Back where the admin was going, query included.
    expect(back.url).toBe(`${srv.url}/admin/audit?type=factor.*`);
    expect(back.body).toContain('data-testid="audit-results"');
  });

  it('refuses forms without the right CSRF token (403) and changes nothing', async () => {
    const a = await admin();
    const { browser } = await signedIn(a);
    const client = await newClient();
    const target = await user({ totp: true });
    for (const csrf of [undefined, 'forged']) {
      const form: Record<string, string> = { etag: 'x', min_acr: 'loa2', ...(csrf ? { csrf } : {}) };
      const res = await browser.request(`/admin/clients/${client.client_id}/policy`, { form });
      expect(res.status).toBe(403);
      expect(testId(res.body, 'error-code')).toEqual(['csrf_failed']);
      const disable = await browser.request(`/admin/users/${target.id}/disable`, { method: 'POST', form: csrf ? { csrf } : {} });
      expect(disable.status).toBe(403);
    }
    expect(await policyOf(client.client_id)).toEqual({});
    expect((await srv.container.users.findById(target.id))!.disabled).toBe(false);
  });

  it('shows bad policy values on the page and changes nothing; a valid edit is saved and audited', async () => {
    const a = await admin();
    const { browser } = await signedIn(a);
    const client = await newClient();
    const view = await browser.follow(`/admin/clients/${client.client_id}`);
    const csrf = hiddenField(view.body, 'csrf');
    const etag = unescapeHtml(hiddenField(view.body, 'etag'));
    const bad: Array<[Record<string, string>, RegExp]> = [
      [{ max_age_seconds: 'soon' }, /whole number of seconds/],
      [{ min_acr: 'loa9' }, /min_acr must be one of/],
      [{ min_acr: 'phr', allowed_factors: 'totp' }, /lock everyone out/],
      [{ allowed_factors: 'carrier_pigeon' }, /allowed_factors/],
      [{ remembered_devices: 'maybe' }, /remembered_devices/],
      [{ surprise: '1' }, /surprise/],
      [{ sensitive_scopes: 'payments:write' }, /not an API scope/],
    ];
    for (const [fields, message] of bad) {
      const res = await browser.request(`/admin/clients/${client.client_id}/policy`, { form: { csrf, etag, ...fields } });
      expect(res.status, JSON.stringify(fields)).toBe(400);
      expect(testId(res.body, 'admin-error')[0], JSON.stringify(fields)).toMatch(message);
      expect(res.body).toContain('data-testid="policy-form"');
    }
    expect(await policyOf(client.client_id)).toEqual({});

    const ok = await browser.follow(`/admin/clients/${client.client_id}/policy`, { form: { csrf, etag, min_acr: 'loa2', allowed_factors: 'totp', max_age_seconds: '3600' } });
    expect(testId(ok.body, 'admin-notice')).toEqual(['Policy saved']);
    expect(await policyOf(client.client_id)).toEqual({ min_acr: 'loa2', allowed_factors: ['totp'], max_age_seconds: 3600 });
    const [event] = await srv.container.audit.list({ type: 'client.policy.updated', limit: 1 });
    expect(event).toMatchObject({ clientId: client.client_id, details: { actor: a.id } });

    // The old ETag is stale now: a second edit from the old page is a conflict, shown, nothing changed.
    const stale = await browser.request(`/admin/clients/${client.client_id}/policy`, { form: { csrf, etag, min_acr: 'phr' } });
    expect(stale.status).toBe(409);
    expect(testId(stale.body, 'admin-error')[0]).toMatch(/changed/);
    expect((await policyOf(client.client_id)).min_acr).toBe('loa2');

    // Internal clients are shown, never edited.
    const internal = await browser.follow('/admin/clients/stepwise-admin');
    expect(internal.body).toContain('data-testid="client-internal"');
    const refused = await browser.request('/admin/clients/stepwise-admin/policy', { form: { csrf, etag: '*', min_acr: 'loa1' } });
    expect(refused.status).toBe(403);
    expect((await policyOf('stepwise-admin')).min_acr).toBe('loa2');
  });

  it('lowering a minimum waits for a second admin; the requester cannot approve it', async () => {
    const a = await admin();
    const b = await admin();
    const { browser: ba } = await signedIn(a);
    const client = await newClient();
    await srv.container.clients.updateMetadata(client.client_id, { stepwise_policy: { min_acr: 'loa2' } });
    const view = await ba.follow(`/admin/clients/${client.client_id}`);
    const lowered = await ba.follow(`/admin/clients/${client.client_id}/policy`, {
      form: { csrf: hiddenField(view.body, 'csrf'), etag: unescapeHtml(hiddenField(view.body, 'etag')), min_acr: '' },
    });
    expect(testId(lowered.body, 'admin-notice')[0]).toMatch(/second admin/);
    expect((await policyOf(client.client_id)).min_acr).toBe('loa2');

    const list = await ba.follow('/admin/approvals');
    const id = list.body.match(/data-testid="approval-row" data-approval-id="([^"]+)" data-status="pending"/)?.[1];
    expect(id).toBeDefined();
    const self = await ba.request(`/admin/approvals/${id}/approve`, { form: { csrf: hiddenField(list.body, 'csrf') } });
    expect(self.status).toBe(403);
    expect(testId(self.body, 'admin-error')[0]).toMatch(/cannot approve/);
    expect((await policyOf(client.client_id)).min_acr).toBe('loa2');

    // The second admin reads German: the stored (English) summary, the notice and the policy list are translated.
    const { browser: bb } = await signedIn(b);
    bb.headers['accept-language'] = 'de';
    const listB = await bb.follow('/admin/approvals');
    expect(listB.body).toContain('<html lang="de"');
    expect(testId(listB.body, 'approval-summary')[0]).toMatch(new RegExp(`^die Mindeststufe von ${client.client_id} von loa2 \\(.+\\) auf none \\(.+\\) senken$`));
    const approved = await bb.follow(`/admin/approvals/${id}/approve`, { form: { csrf: hiddenField(listB.body, 'csrf') } });
    expect(testId(approved.body, 'admin-notice')).toEqual(['Genehmigt und ausgeführt']);
    // A refusal from the admin service layer (its English detail) is in German too.
    const again = await bb.request(`/admin/approvals/${id}/approve`, { form: { csrf: hiddenField(listB.body, 'csrf') } });
    expect(again.status).toBe(409);
    expect(testId(again.body, 'admin-error')[0]).toMatch(new RegExp(`^Freigabe ${id} ist bereits ausgeführt \\(von .+\\)$`));
    expect(await policyOf(client.client_id)).toEqual({});
    const clients = await bb.follow(`/admin/clients?q=${client.client_id}`);
    expect(testId(clients.body, 'client-policy-summary')).toEqual(['Standardwerte']);
  });

  it('searches users, disables and enables one, removes a factor; bad input is shown, never a 500', async () => {
    const a = await admin();
    const { browser } = await signedIn(a);
    const target = await user({ totp: true });
    const found = await browser.follow(`/admin/users?q=${encodeURIComponent(target.email.slice(0, 8))}`);
    expect(found.body).toContain(`data-user-id="${target.id}"`);
    const tooLong = await browser.request(`/admin/users?q=${'x'.repeat(300)}`);
    expect(tooLong.status).toBe(400);
    expect(testId(tooLong.body, 'admin-error')[0]).toMatch(/200/);
    expect((await browser.request('/admin/users/nope')).status).toBe(404);

    const page = await browser.follow(`/admin/users/${target.id}`);
    const csrf = hiddenField(page.body, 'csrf');
    const factorId = page.body.match(/data-testid="user-factor-row" data-factor-id="([^"]+)" data-kind="totp"/)?.[1];
    expect(factorId).toBeDefined();
    // The factor's kind by the name the account pages use, not its code.
    expect(page.body).toMatch(/data-kind="totp">\s*<td>Authenticator app<\/td>/);
    const disabled = await browser.follow(`/admin/users/${target.id}/disable`, { form: { csrf } });
    expect(testId(disabled.body, 'user-status')).toEqual(['disabled']);
    expect((await srv.container.users.findById(target.id))!.disabled).toBe(true);
    const enabled = await browser.follow(`/admin/users/${target.id}/enable`, { form: { csrf } });
    expect(testId(enabled.body, 'user-status')).toEqual(['active']);
    // The console's own admin cannot disable themselves (it would end the session mid-way).
    const selfDisable = await browser.request(`/admin/users/${a.id}/disable`, { form: { csrf } });
    expect(selfDisable.status).toBe(403);
    expect((await srv.container.users.findById(a.id))!.disabled).toBe(false);

    const unknownFactor = await browser.request(`/admin/users/${target.id}/factors/unknown/remove`, { form: { csrf } });
    expect(unknownFactor.status).toBe(404);
    expect(testId(unknownFactor.body, 'admin-error')[0]).toMatch(/no factor/);
    const removed = await browser.follow(`/admin/users/${target.id}/factors/${factorId}/remove`, { form: { csrf } });
    expect(testId(removed.body, 'admin-notice')).toEqual(['Factor removed']);
    expect(await srv.container.factors.listByUser(target.id, { status: 'active' })).toEqual([]);
    const [event] = await srv.container.audit.list({ userId: target.id, type: 'factor.removed', limit: 1 });
    expect(event?.details).toMatchObject({ actor: a.id, factorIds: [factorId] });
  });

  it('searches the audit log by user, type, outcome and time; bad filters are shown', async () => {
    const a = await admin();
    const { browser } = await signedIn(a);
    const byUser = await browser.follow(`/admin/audit?user=${encodeURIComponent(a.email)}&type=login.complete`);
    const types = testId(byUser.body, 'audit-row-type');
    expect(types.length).toBeGreaterThanOrEqual(1);
    expect(new Set(types)).toEqual(new Set(['login.complete']));
    const failures = await browser.follow(`/admin/audit?user=${a.id}&outcome=failure`);
    expect(failures.body).toContain('data-testid="no-events"');
    const prefix = await browser.follow(`/admin/audit?user=${a.id}&type=factor.*`);
    expect(testId(prefix.body, 'audit-row-type').every((t) => t.startsWith('factor.'))).toBe(true);
    const future = new Date(clock.now() + 3600_000).toISOString().slice(0, 16);
    const none = await browser.follow(`/admin/audit?user=${a.id}&from=${future}`);
    expect(none.body).toContain('data-testid="no-events"');

    for (const [query, message] of [
      ['type=DROP TABLE', /type/],
      ['outcome=maybe', /outcome/],
      ['from=yesterday', /from: enter a UTC date/],
      ['from=2026-12-02T00:00&to=2026-12-01T00:00', /later than from/],
      ['user=nobody@example.test', /no user with email/],
      ['cursor=garbage', /cursor/],
      ['page=2', /page/],
    ] as const) {
      const res = await browser.request(`/admin/audit?${query}`);
      expect(res.status, query).toBe(400);
      expect(testId(res.body, 'admin-error')[0], query).toMatch(message);
    }
  });

  it('grants and revokes the role with the CLI (audited); a revoked admin is refused at once', async () => {
    const u = await user({ totp: true });
    const cli = async (argv: string[]) => {
      let written = '';
      const io: CliIo = { env: { ...srv.env, LOG_LEVEL: 'silent' }, readStdin: async () => '', write: (t) => (written += t) };
      await run(argv, io);
      return JSON.parse(written);
    };
    expect(await cli(['users', 'grant-admin', u.email.toUpperCase()])).toEqual({ id: u.id, email: u.email, admin: true, changed: true });
    expect(await cli(['users', 'grant-admin', u.email])).toMatchObject({ admin: true, changed: false });
    await expect(cli(['users', 'grant-admin', 'nobody@example.test'])).rejects.toThrow(/no user/);
    const { browser } = await signedIn(u);
    expect(await cli(['users', 'revoke-admin', u.email])).toMatchObject({ admin: false, changed: true });
    const refused = await browser.request('/admin');
    expect(refused.status).toBe(403);
    expect(refused.body).toContain('data-reason="not_admin"');
    const events = await srv.container.audit.list({ userId: u.id, limit: 50 });
    expect(events.filter((e) => e.type.startsWith('admin.role.')).map((e) => [e.type, e.details.actor])).toEqual([
      ['admin.role.revoked', 'cli'],
      ['admin.role.granted', 'cli'],
    ]);
  });

  it('pages through the audit search 50 events at a time', async () => {
    const a = await admin();
    const { browser } = await signedIn(a);
    for (let i = 0; i < 53; i++) await srv.container.audit.record({ type: 'test.paging_probe', outcome: 'success', userId: a.id, details: { i } });
    const first = await browser.follow('/admin/audit?type=test.paging_probe');
    expect(testId(first.body, 'audit-row-type')).toHaveLength(50);
    const next = first.body.match(/href="([^"]+)" data-testid="next-page"/)?.[1]?.replace(/&amp;/g, '&');
    expect(next).toMatch(/type=test.paging_probe&cursor=/);
    const second = await browser.follow(next!);
    expect(testId(second.body, 'audit-row-details').map(unescapeHtml)).toEqual(['{"i":2}', '{"i":1}', '{"i":0}']);
    expect(second.body).not.toContain('data-testid="next-page"');
  });

  // Last: moves the shared clock a day on.
  it('counts sign-ins, step-ups and failures of the last 24 hours on the dashboard', async () => {
    const a = await admin();
    // Everything recorded so far becomes older than a day; this test runs in the first minutes of an hour.
    clock.advance(25 * 3600 + (3600 - (Math.floor(clock.now() / 1000) % 3600)) + 60);
    const { browser, page } = await signedIn(a);
    const totals = (p: Page) => ['signin', 'stepup', 'failure'].map((k) => Number(testId(p.body, `total-${k}`)[0]));
    // This sign-in: one completed sign-in, one TOTP verification (the password step alone is neither).
    expect(totals(page)).toEqual([1, 1, 0]);
    for (const type of ['login.password', 'factor.verify.totp', 'login.passkey']) await srv.container.audit.record({ type, outcome: 'failure', userId: a.id });
    await srv.container.audit.record({ type: 'client.created', outcome: 'failure' });
    const after = await browser.follow('/admin');
    expect(totals(after)).toEqual([1, 1, 3]);
    const hour = `${new Date(clock.now()).toISOString().slice(11, 13)}:00`;
    const row = after.body.slice(after.body.indexOf(`data-hour="${hour}"`));
    expect(testId(row, 'hour-failure')[0]).toBe('3');
    expect(testId(after.body, 'activity-row')).toHaveLength(1);
  });
});
