/**
 * Issue 9 — the location signals end to end, with a real MaxMind DB file (written by the test writer) behind
 * GEOIP_DB: a known place spares an enrolled user the second factor at loa1; London → Changchun in 30 minutes
 * is impossible travel and asks for the second factor even on a remembered device (audited with the speed
 * and the place); the same trip a day later is not; a new country is recorded in the signals. Without
 * GEOIP_DB the location signals stay 'unknown'. TRUST_PROXY=1 lets a test choose the client's address.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storeMatrix } from '../helpers/stores.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { FakeBrowser, browserAt as browserFor } from '../helpers/browser.js';
import { makeRp, type TestRp } from '../helpers/rp.js';
import { fakeClock, stepUpKit } from '../helpers/stepup.js';
import { double, writeMmdb } from '../helpers/mmdb-writer.js';
import type { RiskReason, RiskSignals } from '../../src/risk/types.js';

const MIN = 60;
const HOUR = 3600;

/** A GeoLite2-City-shaped record. */
function city(iso: string, name: string, latitude: number, longitude: number): Record<string, unknown> {
  return {
    city: { geoname_id: 1, names: { en: name } },
    country: { geoname_id: 2, iso_code: iso, names: { en: iso } },
    location: { accuracy_radius: 50, latitude: double(latitude), longitude: double(longitude), time_zone: 'UTC' },
  };
}

const LONDON = '81.2.69.10';
const LONDON_2 = '81.2.69.200';
const CHANGCHUN = '175.16.199.10';
const LYON_V6 = '2001:db8:1:2::5';

let dir: string;
let geoDb: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'stepwise-risk-geoip-'));
  geoDb = join(dir, 'city.mmdb');
  writeMmdb(geoDb, [
    { cidr: '81.2.69.0/24', data: city('GB', 'London', 51.5142, -0.0931) },
    { cidr: '175.16.199.0/24', data: city('CN', 'Changchun', 43.88, 125.3228) },
    { cidr: '2.125.160.0/20', data: city('FR', 'Lyon', 45.7485, 4.8467) },
    { cidr: '2001:db8:1::/48', data: city('FR', 'Lyon', 45.7485, 4.8467) },
  ]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Decision {
  decision: { kind: string; bypassRemembered?: boolean; maxAgeSeconds?: number };
  reasons: RiskReason[];
  signals: RiskSignals;
  location: string | null;
  sso: boolean;
}

describe.each(storeMatrix)('risk engine with GeoIP on $name', (kind) => {
  let srv: TestServer;
  let rp: TestRp;
  const clock = fakeClock();

  beforeAll(async () => {
    srv = await startTestServer(kind, { TRUST_PROXY: '1', GEOIP_DB: geoDb }, { now: clock.now });
    rp = await makeRp(srv);
  });
  afterAll(async () => srv?.close());

  const { user, authorize, tokensFor } = stepUpKit(() => srv, () => rp, clock);

  const browserAt = (ip: string) => browserFor(srv.url, ip);

  /** This user's risk decisions, oldest first. */
  const decisions = async (userId: string) =>
    (await srv.container.audit.list({ userId, type: 'risk.decision' })).reverse().map((e) => e.details as unknown as Decision);
  const signalsOf = (d: Decision) => d.reasons.map((r) => r.signal);

  it('London twice is a known place; Changchun 30 minutes later is impossible travel, even on a remembered device', async () => {
    const u = await user({ totp: true });
    const b = browserAt(LONDON);
    const first = await tokensFor(b, u, { prompt: 'login' }, rp, { rememberDevice: true });
    expect(first.asked).toEqual(['password', 'totp']);
    const [d1] = await decisions(u.id);
    expect(d1!.location).toBe('London, GB');
    expect(d1!.signals.location).toMatchObject({ country: 'GB', city: 'London', known: 'unknown', impossibleTravel: 'unknown' });

    // Same browser, same city: known place, no travel.
    clock.advance(5 * MIN);
    b.headers['x-forwarded-for'] = LONDON_2;
    const again = await tokensFor(b, u, { prompt: 'login' });
    expect(again.asked).toEqual(['password']);
    expect(again.claims.acr).toBe('loa1');
    const d2 = (await decisions(u.id)).at(-1)!;
    expect(d2.decision.kind).toBe('allow');
    expect(d2.signals.device).toMatchObject({ known: true, remembered: true });
    expect(d2.signals.network.known).toBe(true);
    expect(d2.signals.location).toMatchObject({ country: 'GB', city: 'London', known: true, impossibleTravel: false, speedKmh: 0 });
    expect(signalsOf(d2)).not.toContain('new_location');
    expect(signalsOf(d2)).not.toContain('impossible_travel');

    // 30 minutes later from Changchun (~8 200 km): the remembered device spares nothing here.
    clock.advance(30 * MIN);
    b.headers['x-forwarded-for'] = CHANGCHUN;
    const device = await srv.container.db('devices').where({ user_id: u.id }).first();
    expect(Number(device.remembered_until)).toBeGreaterThan(clock.now());
    const trip = await tokensFor(b, u, { prompt: 'login' });
    expect(trip.asked).toEqual(['password', 'totp']);
    expect(trip.claims.acr).toBe('loa2');

    const d3 = (await decisions(u.id)).at(-1)!;
    expect(d3.location).toBe('Changchun, CN');
    expect(d3.decision).toMatchObject({ kind: 'step_up', bypassRemembered: true });
    const travel = d3.reasons.find((r) => r.signal === 'impossible_travel');
    expect(travel).toMatchObject({ action: 'require_mfa', points: 50 });
    // "impossible travel (16 364 km/h)": the speed, digits grouped.
    expect(travel!.detail).toMatch(/^impossible travel \(\d{1,3}( \d{3})+ km\/h\)$/);
    const speed = Number(travel!.detail.replace(/\D/g, ''));
    expect(speed).toBeGreaterThan(10_000);
    expect(speed).toBeLessThan(20_000);
    expect(d3.signals.location).toMatchObject({ country: 'CN', city: 'Changchun', known: false, impossibleTravel: true, speedKmh: speed });
    // The prompt_mfa reasons are spared by the remembered device (reported as ignore); impossible travel is not.
    expect(d3.reasons.find((r) => r.signal === 'new_location')).toMatchObject({ action: 'ignore', detail: 'new location Changchun, CN (remembered device)' });
  });

  it('an SSO session used after impossible travel needs a second factor verified within sensitive_action_max_age', async () => {
    const u = await user({ totp: true });
    // The user has been to Changchun before (so its network and place are known), then to London a day later.
    const b = browserAt(CHANGCHUN);
    await tokensFor(b, u, { prompt: 'login' });
    clock.advance(25 * HOUR);
    b.headers['x-forwarded-for'] = LONDON;
    const london = await tokensFor(b, u, {}, rp, { rememberDevice: true });
    expect(london.asked).toEqual(['password', 'totp']);
    // Half an hour later the London session is used from Changchun.
    clock.advance(30 * MIN);
    b.headers['x-forwarded-for'] = CHANGCHUN;
    const silent = await authorize(b, u, { prompt: 'none' });
    expect(silent.callback.searchParams.get('error')).toBe('interaction_required');
    const stepped = await tokensFor(b, u, {});
    expect(stepped.asked).toEqual(['totp']);
    // The SSO decisions of the London session used from Changchun (prompt=none, then the interactive retry).
    const sso = (await decisions(u.id)).filter((d) => d.sso && d.location === 'Changchun, CN');
    expect(sso.length).toBeGreaterThanOrEqual(2);
    expect(signalsOf(sso[0]!)).toEqual(expect.arrayContaining(['impossible_travel', 'session_context_changed']));
    expect(signalsOf(sso[0]!)).not.toContain('new_location');
    expect(sso[0]!.decision).toEqual({ kind: 'step_up', level: 2, bypassRemembered: true, maxAgeSeconds: 5 * MIN });
  });

  it('a day later the same trip is no longer impossible', async () => {
    const u = await user({ totp: true });
    const b = browserAt(LONDON);
    await tokensFor(b, u, { prompt: 'login' }, rp, { rememberDevice: true });
    clock.advance(24 * HOUR);
    b.headers['x-forwarded-for'] = CHANGCHUN;
    const trip = await tokensFor(b, u, { prompt: 'login' });
    // New network and new place are prompt_mfa, spared on the remembered device; nothing requires more.
    expect(trip.asked).toEqual(['password']);
    const d = (await decisions(u.id)).at(-1)!;
    expect(d.decision.kind).toBe('allow');
    expect(signalsOf(d)).not.toContain('impossible_travel');
    expect(d.signals.location.impossibleTravel).toBe(false);
    // ~8 200 km in 24 h.
    expect(d.signals.location.speedKmh).toBeGreaterThan(300);
    expect(d.signals.location.speedKmh).toBeLessThan(400);
    expect(d.location).toBe('Changchun, CN');
  });

  it('a new country is recorded in the signals (IPv6 client, /48 network)', async () => {
    const u = await user({ totp: true });
    const b = browserAt(LONDON);
    await tokensFor(b, u, { prompt: 'login' });
    // London → Lyon (~740 km) in 2 hours: a plausible trip, but a new network and a new place.
    clock.advance(2 * HOUR);
    b.headers['x-forwarded-for'] = LYON_V6;
    const moved = await tokensFor(b, u, { prompt: 'login' });
    expect(moved.asked).toEqual(['password', 'totp']);
    const d = (await decisions(u.id)).at(-1)!;
    expect(d.location).toBe('Lyon, FR');
    expect(d.signals.network).toMatchObject({ prefix: '2001:db8:1::/48', known: false });
    expect(d.signals.location).toMatchObject({ country: 'FR', city: 'Lyon', known: false, impossibleTravel: false });
    expect(d.reasons.find((r) => r.signal === 'new_location')).toMatchObject({ action: 'prompt_mfa', detail: 'new location Lyon, FR' });
    expect(signalsOf(d)).not.toContain('impossible_travel');
    // Lyon is now a known place for this user.
    clock.advance(5 * MIN);
    b.headers['x-forwarded-for'] = '2001:db8:1:9::1';
    const back = await tokensFor(b, u, { prompt: 'login' });
    expect(back.asked).toEqual(['password']);
    expect((await decisions(u.id)).at(-1)!.signals.location).toMatchObject({ country: 'FR', known: true, impossibleTravel: false });
  });

  it('without GEOIP_DB the location signals are unknown and never fire', async () => {
    const plain = await startTestServer(kind, { TRUST_PROXY: '1' }, { now: clock.now });
    try {
      const plainRp = await makeRp(plain);
      const kit = stepUpKit(() => plain, () => plainRp, clock);
      const u = await kit.user({ totp: true });
      const b = new FakeBrowser(plain.url);
      b.headers['x-forwarded-for'] = LONDON;
      await kit.tokensFor(b, u, { prompt: 'login' });
      clock.advance(30 * MIN);
      b.headers['x-forwarded-for'] = CHANGCHUN;
      await kit.tokensFor(b, u, { prompt: 'login' });
      const all = (await plain.container.audit.list({ userId: u.id, type: 'risk.decision' })).map((e) => e.details as unknown as Decision);
      // Both sign-ins were assessed (the second one also as SSO first: its session came from London).
      expect(all.filter((d) => !d.sso)).toHaveLength(2);
      // The network signal still works without GeoIP.
      expect(all[0]!.signals.network).toMatchObject({ prefix: '175.16.199.0/24', known: false });
      for (const d of all) {
        expect(d.signals.location).toEqual({ country: null, city: null, known: 'unknown', impossibleTravel: 'unknown', speedKmh: null });
        expect(d.location).toBeNull();
        expect(signalsOf(d)).not.toContain('impossible_travel');
        expect(signalsOf(d)).not.toContain('new_location');
      }
    } finally {
      await plain.close();
    }
  });
});
