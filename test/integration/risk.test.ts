/**
 * Issue 9 — the risk engine end to end with openid-client on every store: a known device and network spare
 * an enrolled user the second factor at loa1; a new device, a new network, recent failures, a sensitive
 * scope or a session used from elsewhere ask for it; a remembered device spares risk prompts but never a
 * level; the deny list ends the sign-in with access_denied; every decision is audited with its reasons.
 * TRUST_PROXY=1 lets a test choose the client's address with X-Forwarded-For.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMatrix } from '../helpers/stores.js';
import { policyFile, startTestServer, type TestServer } from '../helpers/server.js';
import { browserAt as browserFor, hiddenField } from '../helpers/browser.js';
import { authRequest, makeRp, submitPassword, type TestRp } from '../helpers/rp.js';
import { fakeClock, stepUpKit } from '../helpers/stepup.js';

const MIN = 60;

describe.each(storeMatrix)('risk engine on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;
  const clock = fakeClock();

  beforeAll(async () => {
    // The shipped default plus a deny list for one documentation network.
    const policy = policyFile('networks:\n  deny: [198.51.100.0/24]\n');
    srv = await startTestServer(kind, { TRUST_PROXY: '1', STEPWISE_POLICY_FILE: policy, STEPWISE_API_SCOPES: 'payments:write' }, { now: clock.now });
    rp = await makeRp(srv);
  });
  afterAll(async () => srv?.close());

  const { user, authorize, tokensFor } = stepUpKit(() => srv, () => rp, clock);

  const browserAt = (ip: string) => browserFor(srv.url, ip);

  /** This user's risk decisions, oldest first. */
  const decisions = async (userId: string) => (await srv.container.audit.list({ userId, type: 'risk.decision' })).reverse();

  it('a known device on a known network: an enrolled user signs in with the password alone at loa1; a new device is asked', async () => {
    const u = await user({ totp: true });
    const b = browserAt('203.0.113.10');
    const first = await tokensFor(b, u, { prompt: 'login' });
    expect(first.asked).toEqual(['password', 'totp']);
    expect(first.claims.acr).toBe('loa2');
    // Same browser, same /24: nothing risky, and the RP asks for nothing more.
    b.headers['x-forwarded-for'] = '203.0.113.77';
    const again = await tokensFor(b, u, { prompt: 'login' });
    expect(again.asked).toEqual(['password']);
    expect(again.claims).toMatchObject({ acr: 'loa1', amr: ['pwd'] });
    // …but a requested loa2 always needs the second factor.
    const loa2 = await tokensFor(b, u, { prompt: 'login', acr_values: 'loa2' });
    expect(loa2.asked).toEqual(['password', 'totp']);
    // A new browser on the same network is a new device.
    const other = await tokensFor(browserAt('203.0.113.10'), u, { prompt: 'login' });
    expect(other.asked).toEqual(['password', 'totp']);
    const events = await decisions(u.id);
    expect(events.map((e) => (e.details.decision as { kind: string }).kind)).toEqual(['step_up', 'allow', 'allow', 'step_up']);
    expect((events[0]!.details.reasons as Array<{ signal: string }>).map((r) => r.signal)).toEqual(expect.arrayContaining(['new_device', 'new_network']));
    expect(events[0]!.details.device).toBe('Chrome on Linux');
  });

  it('a new network, or recent failed attempts, ask again on a known device', async () => {
    const u = await user({ totp: true });
    const b = browserAt('203.0.113.20');
    await tokensFor(b, u, { prompt: 'login' });
    b.headers['x-forwarded-for'] = '192.0.2.20';
    const moved = await tokensFor(b, u, { prompt: 'login' });
    expect(moved.asked).toEqual(['password', 'totp']);
    // Back home, after 5 wrong passwords for the account from elsewhere.
    b.headers['x-forwarded-for'] = '203.0.113.21';
    for (let i = 0; i < 5; i++) {
      const attacker = browserAt(`100.64.${i}.1`);
      const page = await attacker.follow((await authRequest(rp)).url);
      await submitPassword(attacker, page, u.email, 'wrong password entirely');
    }
    const after = await tokensFor(b, u, { prompt: 'login' });
    expect(after.asked).toEqual(['password', 'totp']);
    const last = (await decisions(u.id)).at(-1)!;
    expect((last.details.reasons as Array<{ signal: string }>).map((r) => r.signal)).toContain('failed_attempts');
  });

  it('a remembered device spares risk prompts but never a level the client or RP demands', async () => {
    const u = await user({ totp: true });
    const b = browserAt('203.0.113.30');
    const first = await tokensFor(b, u, { prompt: 'login' }, rp, { rememberDevice: true });
    expect(first.asked).toEqual(['password', 'totp']);
    const device = await srv.container.db('devices').where({ user_id: u.id }).first();
    expect(Number(device.remembered_until)).toBeGreaterThan(clock.now() + 29 * 24 * 3600 * 1000);
    // From a new network: spared at loa1 on the remembered device.
    b.headers['x-forwarded-for'] = '192.0.2.30';
    const spared = await tokensFor(b, u, { prompt: 'login' });
    expect(spared.asked).toEqual(['password']);
    expect(spared.claims.acr).toBe('loa1');
    // A client minimum of loa2 still needs the second factor.
    const strict = await makeRp(srv);
    await srv.container.clients.updateMetadata(strict.clientId, { stepwise_policy: { min_acr: 'loa2' } });
    const min2 = await tokensFor(b, u, { prompt: 'login' }, strict);
    expect(min2.asked).toEqual(['password', 'totp']);
    expect(min2.claims.acr).toBe('loa2');
    // A client that forbids remembered devices asks again from the new network.
    const noRemember = await makeRp(srv);
    await srv.container.clients.updateMetadata(noRemember.clientId, { stepwise_policy: { remembered_devices: false } });
    b.headers['x-forwarded-for'] = '198.18.0.130';
    const forbidden = await tokensFor(b, u, { prompt: 'login' }, noRemember);
    expect(forbidden.asked).toEqual(['password', 'totp']);
  });

  it('a sensitive scope needs a second factor from the last 5 minutes, even with a loa2 session', async () => {
    const bank = await makeRp(srv);
    await srv.container.clients.updateMetadata(bank.clientId, { stepwise_policy: { sensitive_scopes: ['payments:write'] } });
    const u = await user({ totp: true });
    const b = browserAt('203.0.113.40');
    const signIn = await tokensFor(b, u, { acr_values: 'loa2' }, bank);
    expect(signIn.asked).toEqual(['password', 'totp']);
    // Within 5 minutes: SSO is enough.
    const soon = await tokensFor(b, u, { acr_values: 'loa2', scope: 'openid payments:write' }, bank);
    expect(soon.asked).toEqual([]);
    clock.advance(6 * MIN);
    const silent = await authorize(b, u, { acr_values: 'loa2', scope: 'openid payments:write', prompt: 'none' }, bank);
    expect(silent.callback.searchParams.get('error')).toBe('interaction_required');
    // Interactive: only the second factor again (the password is still within loa2's max age).
    const later = await tokensFor(b, u, { acr_values: 'loa2', scope: 'openid payments:write' }, bank);
    expect(later.asked).toEqual(['totp']);
    // A non-sensitive request keeps using the session.
    expect((await tokensFor(b, u, { acr_values: 'loa2' }, bank)).asked).toEqual([]);
  });

  it('an SSO session used from another network is judged again', async () => {
    const u = await user({ totp: true });
    const b = browserAt('203.0.113.50');
    await tokensFor(b, u, {});
    // Past sensitive_action_max_age (5 min): a second factor that old does not cover a change of context.
    clock.advance(10 * MIN);
    b.headers['x-forwarded-for'] = '192.0.2.50';
    const silent = await authorize(b, u, { prompt: 'none' });
    expect(silent.callback.searchParams.get('error')).toBe('interaction_required');
    const stepped = await tokensFor(b, u, {});
    expect(stepped.asked).toEqual(['totp']);
    const sso = (await decisions(u.id)).filter((e) => e.details.sso === true);
    expect(sso.length).toBeGreaterThan(0);
    expect((sso[0]!.details.reasons as Array<{ signal: string }>).map((r) => r.signal)).toContain('session_context_changed');
  });

  it('the deny list ends the sign-in on a clear page, and the RP gets access_denied', async () => {
    const u = await user();
    const b = browserAt('198.51.100.7');
    const page = await b.follow((await authRequest(rp)).url);
    const denied = await submitPassword(b, page, u.email);
    expect(denied.status).toBe(403);
    expect(denied.url).toMatch(/\/interaction\/[^/]+\/denied$/);
    expect(denied.body).toContain('data-testid="denied-message"');
    expect(denied.body).not.toMatch(/198\.51\.100|deny.?list/i);
    const back = await b.follow(denied.url, { form: { csrf: hiddenField(denied.body, 'csrf') } });
    const cb = new URL(back.url);
    expect(cb.searchParams.get('error')).toBe('access_denied');
    expect((await decisions(u.id)).at(-1)!.details.decision).toEqual({ kind: 'deny' });
    const loginDenied = (await srv.container.audit.list({ type: 'login.denied' })).filter((e) => e.userId === u.id);
    expect(loginDenied).toHaveLength(1);
  });

  it('a malformed or forged device cookie is a new device, never an error', async () => {
    const u = await user({ totp: true });
    const b = browserAt('203.0.113.60');
    await tokensFor(b, u, { prompt: 'login' });
    for (const c of b.cookies) if (c.name === 'stepwise_device') c.value = 'forged-value';
    const sig = b.cookies.find((c) => c.name === 'stepwise_device.sig');
    if (sig) sig.value = 'AAAA';
    const again = await tokensFor(b, u, { prompt: 'login' });
    expect(again.asked).toEqual(['password', 'totp']);
  });
});
