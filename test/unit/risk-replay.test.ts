/** The pure replay behind `stepwise policy check`: recorded signals scored again under two policies. */
import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/risk/policy-file.js';
import { isRiskSignals, notReplayed, replay, type ReplayEvent } from '../../src/risk/replay.js';
import type { RiskSignals } from '../../src/risk/types.js';

const T = 1_750_000_000_000; // epoch ms
const DAY = 86_400;
const CURRENT = parsePolicy('', 'current.yaml');
const policy = (yaml: string) => parsePolicy(yaml, 'candidate.yaml');
const NO_NEW_DEVICE = policy('risk_based_prompting:\n  new_device: ignore\n');

type Overrides = { [K in keyof RiskSignals]?: Partial<RiskSignals[K]> };

/** A quiet sign-in by an old account with a fresh second factor, as the collector records it. */
function signals(o: Overrides = {}): RiskSignals {
  return {
    account: { ageSeconds: 400 * DAY, serviceAccount: false, secondFactors: 1, lastMfaAt: T / 1000 - DAY, ...o.account },
    device: { known: true, remembered: false, ...o.device },
    network: { prefix: '203.0.113.0/24', known: true, allowListed: false, denyListed: false, ...o.network },
    location: { country: null, city: null, known: 'unknown', impossibleTravel: 'unknown', speedKmh: null, ...o.location },
    velocity: { accountFailures: 0, ipFailures: 0, ipDistinctAccounts: 0, ...o.velocity },
    request: { sensitive: false, sessionContextChanged: false, ...o.request },
  };
}

const ev = (minutes: number, userId: string | null, o: Overrides = {}): ReplayEvent => ({ at: T + minutes * 60_000, userId, signals: signals(o) });

const EVENTS: ReplayEvent[] = [
  ev(1, 'alice', { device: { known: false } }), // step_up → allow
  ev(2, 'alice', { device: { known: false }, network: { known: false } }), // step_up (new_network still prompts)
  ev(3, 'bob'), // allow
  ev(4, 'carol', { network: { denyListed: true } }), // deny
  ev(5, 'bob', { device: { known: false }, account: { secondFactors: 0, lastMfaAt: null } }), // password-only: allow
  ev(6, 'dave', { device: { known: false } }), // step_up → allow
];

describe('replay', () => {
  it('counts outcomes under both policies and lists the sign-ins that change', () => {
    const r = replay(EVENTS, CURRENT, NO_NEW_DEVICE);
    expect(r.events).toBe(6);
    expect(r.current).toEqual({ allow: 2, step_up: 3, deny: 1 });
    expect(r.candidate).toEqual({ allow: 4, step_up: 1, deny: 1 });
    expect(r.changed).toEqual([
      { userId: 'alice', at: T + 60_000, from: 'step_up', to: 'allow', reasons: ['new device'] },
      { userId: 'dave', at: T + 6 * 60_000, from: 'step_up', to: 'allow', reasons: ['new device'] },
    ]);
    expect(r.usersChanged).toBe(2);
    expect(r.promptRate).toEqual({ current: 0.6667, candidate: 0.3333 });
    expect(r.notReplayed).toEqual([]);
  });

  it('finds nothing to change when the candidate is the current policy', () => {
    const r = replay(EVENTS, CURRENT, policy('# same as the default\n'));
    expect(r.changed).toEqual([]);
    expect(r.usersChanged).toBe(0);
    expect(r.current).toEqual(r.candidate);
    expect(r.promptRate.current).toBe(r.promptRate.candidate);
  });

  it('is deterministic: same report twice, whatever the input order, without touching the input', () => {
    const before = structuredClone(EVENTS);
    const a = replay(EVENTS, CURRENT, NO_NEW_DEVICE);
    expect(replay(EVENTS, CURRENT, NO_NEW_DEVICE)).toEqual(a);
    expect(replay([...EVENTS].reverse(), CURRENT, NO_NEW_DEVICE)).toEqual(a);
    expect(replay([EVENTS[5]!, EVENTS[2]!, EVENTS[0]!, EVENTS[4]!, EVENTS[1]!, EVENTS[3]!], CURRENT, NO_NEW_DEVICE)).toEqual(a);
    expect(EVENTS).toEqual(before);
  });

  it('counts a user once however many of their sign-ins change; events without a user are listed, not counted', () => {
    const r = replay([ev(1, 'alice', { device: { known: false } }), ev(2, 'alice', { device: { known: false } }), ev(3, null, { device: { known: false } })], CURRENT, NO_NEW_DEVICE);
    expect(r.changed.map((c) => c.userId)).toEqual(['alice', 'alice', null]);
    expect(r.usersChanged).toBe(1);
  });

  it('scores each event at its own time (epoch ms → s)', () => {
    const stale = policy('risk_based_prompting:\n  stale_mfa: prompt_mfa\nmfa_max_age: 1h\n');
    const e: ReplayEvent = { at: T, userId: 'erin', signals: signals({ account: { lastMfaAt: T / 1000 - 2 * 3600 } }) };
    const r = replay([e], CURRENT, stale);
    expect(r.changed).toEqual([{ userId: 'erin', at: T, from: 'allow', to: 'step_up', reasons: ['second factor last verified 2 h ago'] }]);
    // The same factor, replayed an hour after it was verified, is fresh under the candidate.
    expect(replay([{ ...e, at: T - 3600_000 }], CURRENT, stale).changed).toEqual([]);
  });

  it('re-derives impossible travel from the recorded speed under each policy', () => {
    const travel = ev(1, 'frank', { location: { country: 'JP', city: 'Tokyo', known: true, impossibleTravel: true, speedKmh: 1200 } });
    const r = replay([travel, ev(2, 'gina')], CURRENT, policy('impossible_travel_kmh: 1500\n'));
    expect(r.current).toEqual({ allow: 1, step_up: 1, deny: 0 });
    expect(r.changed).toEqual([{ userId: 'frank', at: travel.at, from: 'step_up', to: 'allow', reasons: [] }]);
    // A lower limit makes a recorded "possible" trip impossible.
    const slow = ev(1, 'frank', { location: { country: 'JP', city: 'Tokyo', known: true, impossibleTravel: false, speedKmh: 600 } });
    expect(replay([slow], CURRENT, policy('impossible_travel_kmh: 500\n')).changed[0]).toMatchObject({ from: 'allow', to: 'step_up', reasons: ['impossible travel (600 km/h)'] });
  });

  it('replays remembered devices being switched off, and names what it cannot replay', () => {
    const remembered = ev(1, 'hana', { device: { known: true, remembered: true }, network: { known: false } });
    const off = replay([remembered], CURRENT, policy('remembered_devices:\n  days: 0\n'));
    expect(off.changed).toEqual([{ userId: 'hana', at: remembered.at, from: 'allow', to: 'step_up', reasons: ['new network 203.0.113.0/24'] }]);
    expect(off.notReplayed).toEqual([]);

    const other = policy('remembered_devices: { days: 60 }\nvelocity: { window: 30m }\nnetworks: { deny: [198.51.100.0/24] }\nsensitive_action_max_age: 10m\n');
    expect(notReplayed(CURRENT, other)).toEqual(['remembered_devices.days', 'sensitive_action_max_age', 'velocity.window', 'networks.deny']);
    expect(replay([remembered], CURRENT, other).notReplayed).toEqual(notReplayed(CURRENT, other));
  });

  it('reports zero rates without events', () => {
    expect(replay([], CURRENT, NO_NEW_DEVICE)).toEqual({
      events: 0,
      current: { allow: 0, step_up: 0, deny: 0 },
      candidate: { allow: 0, step_up: 0, deny: 0 },
      changed: [],
      usersChanged: 0,
      promptRate: { current: 0, candidate: 0 },
      notReplayed: [],
    });
  });
});

describe('isRiskSignals', () => {
  it('accepts what the collector records and rejects other shapes', () => {
    expect(isRiskSignals(signals())).toBe(true);
    expect(isRiskSignals(JSON.parse(JSON.stringify(signals())))).toBe(true);
    expect(isRiskSignals(null)).toBe(false);
    expect(isRiskSignals({})).toBe(false);
    expect(isRiskSignals([])).toBe(false);
    const { velocity: _v, ...noVelocity } = signals();
    expect(isRiskSignals(noVelocity)).toBe(false);
    expect(isRiskSignals({ ...signals(), device: { known: 'yes' } })).toBe(false);
  });
});
