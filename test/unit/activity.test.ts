/** The account page's activity sentences (src/account/activity.ts): every event type reads as text, never its raw name. */
import { describe, expect, it } from 'vitest';
import { describeEvent, type DescribableEvent } from '../../src/account/activity.js';
import { parsePolicy } from '../../src/risk/policy-file.js';
import { score } from '../../src/risk/score.js';
import type { RiskSignals } from '../../src/risk/types.js';
import { activityRows } from '../../src/account/activity-view.js';
import { translator } from '../../src/i18n/index.js';

const NOW = 1_750_000_000;
const DAY = 86_400;
const POLICY = parsePolicy('', 'test.yaml');

type Overrides = { [K in keyof RiskSignals]?: Partial<RiskSignals[K]> };

function signals(o: Overrides = {}): RiskSignals {
  return {
    account: { ageSeconds: 400 * DAY, serviceAccount: false, secondFactors: 1, lastMfaAt: NOW - DAY, ...o.account },
    device: { known: true, remembered: false, ...o.device },
    network: { prefix: '198.51.100.0/24', known: true, allowListed: false, denyListed: false, ...o.network },
    location: { country: 'FR', city: 'Lyon', known: true, impossibleTravel: false, speedKmh: 0, ...o.location },
    velocity: { accountFailures: 0, ipFailures: 0, ipDistinctAccounts: 0, ...o.velocity },
    request: { sensitive: false, sessionContextChanged: false, ...o.request },
  };
}

/** A risk.decision event as src/risk/service.ts writes it, from the real scorer. */
function riskEvent(o: Overrides, location: string | null = 'Lyon, FR'): DescribableEvent {
  const s = signals(o);
  const d = score(s, POLICY, NOW);
  return {
    type: 'risk.decision',
    outcome: d.decision.kind === 'deny' ? 'failure' : 'success',
    details: { decision: d.decision, score: d.score, reasons: d.reasons, signals: s, sso: false, location, device: 'Chrome on Linux' },
  };
}

const ev = (type: string, details: Record<string, unknown> = {}, outcome: 'success' | 'failure' = 'success'): DescribableEvent => ({ type, outcome, details });

describe('describeEvent: risk decisions', () => {
  it('a new device that is only scored reads as a sign-in from a new device, with the place', () => {
    const policy = structuredClone(POLICY);
    policy.riskBasedPrompting.new_device = 'ignore';
    const s = signals({ device: { known: false } });
    const d = score(s, policy, NOW);
    expect(d.decision.kind).toBe('allow');
    const text = describeEvent({ type: 'risk.decision', outcome: 'success', details: { decision: d.decision, reasons: d.reasons, signals: s, location: 'Lyon, FR' } });
    expect(text).toBe('Sign-in from a new device in Lyon, FR');
  });

  it('a step-up says a second factor was asked for', () => {
    const e = riskEvent({ device: { known: false } });
    expect((e.details!.decision as { kind: string }).kind).toBe('step_up');
    expect(describeEvent(e)).toBe('Sign-in from a new device in Lyon, FR: asked for a second factor');
  });

  it('without a location the place is left out', () => {
    expect(describeEvent(riskEvent({ device: { known: false } }, null))).toBe('Sign-in from a new device: asked for a second factor');
  });

  it('a step-up not named by device/network/place says why', () => {
    const e = riskEvent({ request: { sensitive: true } });
    expect(describeEvent(e)).toBe('Sign-in in Lyon, FR: asked for a second factor (sensitive action)');
  });

  it('new location and new network are named when the device is known', () => {
    expect(describeEvent(riskEvent({ location: { known: false } }))).toBe('Sign-in from a new location in Lyon, FR: asked for a second factor');
    expect(describeEvent(riskEvent({ network: { known: false } }))).toBe('Sign-in from a new network in Lyon, FR: asked for a second factor');
  });

  it('a denial reads as blocked, with the deciding reason', () => {
    const e = riskEvent({ network: { denyListed: true, prefix: '203.0.113.0/24' } });
    expect(e.outcome).toBe('failure');
    expect(describeEvent(e)).toBe('Sign-in blocked in Lyon, FR: deny-listed network 203.0.113.0/24');
  });

  it('a quiet sign-in and a remembered device', () => {
    expect(describeEvent(riskEvent({}))).toBe('Sign-in in Lyon, FR');
    const spared = riskEvent({ device: { remembered: true }, network: { known: false } });
    expect((spared.details!.decision as { kind: string }).kind).toBe('allow');
    expect(describeEvent(spared)).toBe('Sign-in from a new network in Lyon, FR');
    expect(describeEvent(riskEvent({ device: { remembered: true } }))).toBe('Sign-in from a remembered device in Lyon, FR');
  });

  it('odd or missing details never throw and never show the raw type', () => {
    for (const details of [{}, { decision: 'x', reasons: 'nope', location: 42 }, { reasons: [null, 1, { action: 'deny' }] }]) {
      const text = describeEvent(ev('risk.decision', details as Record<string, unknown>));
      expect(text).toBe('Sign-in');
    }
    expect(describeEvent({ type: 'risk.decision', outcome: 'failure', details: { decision: { kind: 'deny' } } })).toBe('Sign-in blocked');
    expect(describeEvent({ type: 'risk.decision', outcome: 'success', details: null })).toBe('Sign-in');
  });
});

describe('describeEvent: account events', () => {
  it.each([
    [ev('login.complete', { acr: 'loa2', amr: ['pwd', 'otp'] }), 'Signed in (loa2)'],
    [ev('login.complete'), 'Signed in'],
    [ev('factor.removed', { factorId: 'f', kind: 'totp' }), 'Removed a sign-in method'],
    [ev('factor.removed', { reason: 'last_factor' }, 'failure'), 'Refused to remove your last second factor (your account requires one)'],
    [ev('factor.enroll.totp', { factorId: 'f' }), 'Added an authenticator app'],
    [ev('factor.enroll.webauthn'), 'Added a passkey or security key'],
    [ev('factor.enroll.backup_code'), 'Created backup codes'],
    [ev('factor.enroll.totp', { reason: 'invalid_code' }, 'failure'), 'Could not add an authenticator app'],
    [ev('factor.enroll.totp.start'), 'Started adding an authenticator app'],
    [ev('factor.verify.totp'), 'Confirmed with an authenticator app'],
    [ev('factor.verify.backup_code', {}, 'failure'), 'Failed attempt with a backup code'],
    [ev('factor.renamed', { name: 'Work phone' }), 'Renamed a sign-in method'],
    [ev('device.forgotten', { deviceId: 'd' }), 'Forgot a remembered device'],
    [ev('device.forgotten', { all: true, count: 2 }), 'Forgot all remembered devices'],
    [ev('login.password'), 'Password accepted'],
    [ev('login.passkey'), 'Signed in with a passkey'],
    [ev('consent.granted'), 'Allowed an app to access your account'],
  ])('%o → %s', (event, text) => {
    expect(describeEvent(event)).toBe(text);
  });

  it('unknown types get a generic sentence, never the raw name', () => {
    for (const type of ['keys.rotated', 'something.new', 'factor.enroll.unknown_kind.x', '']) {
      const text = describeEvent(ev(type));
      expect(text).toBe('Account activity');
      if (type) expect(text).not.toContain(type);
    }
    expect(describeEvent(ev('something.new', {}, 'failure'))).toBe('Account activity (did not succeed)');
    // A new factor kind still reads as a sentence.
    expect(describeEvent(ev('factor.enroll.carrier_pigeon'))).toBe('Added a sign-in method');
  });
});

describe('describeEvent in the reader language', () => {
  const de = translator('de');
  const fr = translator('fr');
  it('translates fixed sentences, factor sentences and risk sentences (reasons by signal)', () => {
    expect(describeEvent(ev('factor.verify.totp'), de, 'de')).toBe('Bestätigt mit einer Authenticator-App');
    expect(describeEvent(ev('recovery.started'), fr, 'fr')).toBe('Un administrateur a lancé une récupération de votre compte');
    expect(describeEvent(riskEvent({ device: { known: false } }), de, 'de')).toBe('Anmeldung von einem neuen Gerät in Lyon, FR: ein zweiter Faktor wurde verlangt');
    const sensitive = describeEvent(riskEvent({ request: { sensitive: true } }), fr, 'fr');
    expect(sensitive).toBe('Connexion à Lyon, FR : un second facteur a été demandé (action sensible)');
    expect(describeEvent(ev('something.new', {}, 'failure'), de, 'de')).toBe('Kontoaktivität (nicht erfolgreich)');
  });

  it('account rows name the methods and the device in the language', () => {
    const at = 1_750_000_000_000;
    const rows = activityRows(
      [
        { seq: 3, at, type: 'login.complete', outcome: 'success', userId: 'u', clientId: null, ip: '203.0.113.7', details: {} },
        { seq: 2, at, type: 'factor.verify.totp', outcome: 'success', userId: 'u', clientId: null, ip: null, details: {} },
        { seq: 1, at, type: 'risk.decision', outcome: 'success', userId: 'u', clientId: null, ip: null, details: { device: 'Chrome on Linux' } },
      ] as never,
      { nowMs: at + 5 * 60_000, lang: 'de', t: de },
    );
    expect(rows[0]).toMatchObject({ text: 'Angemeldet mit Authenticator-App', detail: 'Chrome unter Linux · 203.0.113.7 · vor 5 Minuten' });
  });
});
