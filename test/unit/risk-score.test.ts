import { afterEach, describe, expect, it, vi } from 'vitest';
import { parsePolicy } from '../../src/risk/policy-file.js';
import { MAX_SCORE, score } from '../../src/risk/score.js';
import type { RiskOutcome, RiskPolicy, RiskReason, RiskSignals, SignalName } from '../../src/risk/types.js';

const NOW = 1_750_000_000;
const DAY = 86_400;
/** The shipped defaults (an empty file is the default policy). */
const POLICY = parsePolicy('', 'test.yaml');

type Overrides = { [K in keyof RiskSignals]?: Partial<RiskSignals[K]> };

/** A quiet sign-in: known device, network and place, no failures, an old account with a fresh second factor. */
function signals(o: Overrides = {}): RiskSignals {
  return {
    account: { ageSeconds: 400 * DAY, serviceAccount: false, secondFactors: 1, lastMfaAt: NOW - DAY, ...o.account },
    device: { known: true, remembered: false, ...o.device },
    network: { prefix: '198.51.100.0/24', known: true, allowListed: false, denyListed: false, ...o.network },
    location: { country: 'FR', city: 'Paris', known: true, impossibleTravel: false, speedKmh: 0, ...o.location },
    velocity: { accountFailures: 0, ipFailures: 0, ipDistinctAccounts: 0, ...o.velocity },
    request: { sensitive: false, sessionContextChanged: false, ...o.request },
  };
}

function policy(change: (p: RiskPolicy) => void): RiskPolicy {
  const p = structuredClone(POLICY);
  change(p);
  return p;
}

const passwordOnly = { secondFactors: 0, lastMfaAt: null };
const ALLOW: RiskOutcome = { kind: 'allow' };
const DENY: RiskOutcome = { kind: 'deny' };
const PROMPT: RiskOutcome = { kind: 'step_up', level: 2, bypassRemembered: false };
const REQUIRE: RiskOutcome = { kind: 'step_up', level: 2, bypassRemembered: true };
const SENSITIVE: RiskOutcome = { kind: 'step_up', level: 2, bypassRemembered: true, maxAgeSeconds: 300 };
/** A session used from elsewhere, or impossible travel: the second factor must be verified again now. */
const FRESH_PROMPT: RiskOutcome = { kind: 'step_up', level: 2, bypassRemembered: false, maxAgeSeconds: 300 };
const FRESH_REQUIRE = SENSITIVE;

/** [name, signals, expected outcome, expected reasons as "signal:action:points:detail"] */
const table: [string, Overrides, RiskOutcome, string[]][] = [
  ['quiet sign-in', {}, ALLOW, []],
  ['new device', { device: { known: false } }, PROMPT, ['new_device:prompt_mfa:20:new device']],
  ['new device, password-only user', { device: { known: false }, account: passwordOnly }, ALLOW, ['new_device:prompt_mfa:20:new device']],
  ['new network', { network: { known: false } }, PROMPT, ['new_network:prompt_mfa:10:new network 198.51.100.0/24']],
  ['unusable address: no new_network', { network: { prefix: null, known: false } }, ALLOW, []],
  ['new location', { location: { known: false, city: 'Lyon' } }, PROMPT, ['new_location:prompt_mfa:20:new location Lyon, FR']],
  ['new location, country only', { location: { known: false, city: null } }, PROMPT, ['new_location:prompt_mfa:20:new location FR']],
  ['no GeoIP: unknown never fires', { location: { known: 'unknown', impossibleTravel: 'unknown', country: null, city: null, speedKmh: null } }, ALLOW, []],
  ['impossible travel', { location: { impossibleTravel: true, speedKmh: 1850.4 } }, FRESH_REQUIRE, ['impossible_travel:require_mfa:50:impossible travel (1 850 km/h)']],
  ['impossible travel, no speed', { location: { impossibleTravel: true, speedKmh: null } }, FRESH_REQUIRE, ['impossible_travel:require_mfa:50:impossible travel']],
  ['impossible travel, password-only user: still a step-up', { location: { impossibleTravel: true, speedKmh: 12000 } , account: passwordOnly }, FRESH_REQUIRE, ['impossible_travel:require_mfa:50:impossible travel (12 000 km/h)']],
  ['SSO from another context', { request: { sessionContextChanged: true } }, FRESH_PROMPT, ['session_context_changed:prompt_mfa:20:session started on another device or network']],
  ['account failures at the limit', { velocity: { accountFailures: 5 } }, PROMPT, ['failed_attempts:prompt_mfa:20:failed attempts (5 for the account)']],
  ['failures below both limits', { velocity: { accountFailures: 4, ipFailures: 19, ipDistinctAccounts: 9 } }, ALLOW, []],
  ['IP failures at the limit', { velocity: { ipFailures: 20 } }, PROMPT, ['failed_attempts:prompt_mfa:20:failed attempts (20 from this IP)']],
  [
    'credential stuffing',
    { velocity: { ipFailures: 30, ipDistinctAccounts: 10 } },
    REQUIRE,
    ['credential_stuffing:require_mfa:40:credential stuffing (10 accounts failing from this IP)', 'failed_attempts:prompt_mfa:20:failed attempts (30 from this IP)'],
  ],
  ['sensitive action', { request: { sensitive: true } }, SENSITIVE, ['sensitive_action:require_mfa:10:sensitive action']],
  ['second factor never verified', { account: { lastMfaAt: null } }, ALLOW, ['stale_mfa:ignore:10:second factor never verified']],
  ['second factor 31 days old', { account: { lastMfaAt: NOW - 31 * DAY } }, ALLOW, ['stale_mfa:ignore:10:second factor last verified 31 d ago']],
  ['second factor exactly mfa_max_age old: not stale', { account: { lastMfaAt: NOW - 30 * DAY } }, ALLOW, []],
  ['password-only user: never stale', { account: passwordOnly }, ALLOW, []],
  ['new account', { account: { ageSeconds: 3 * 3600 } }, ALLOW, ['new_account:ignore:10:new account (3 h old)']],
  ['a push the user denied ("this wasn\'t me")', { account: { pushDenials: 1 } }, REQUIRE, ['push_denied:require_mfa:30:push request denied by the user (1 recently)']],
  ['no denial recorded (old records lack the field)', { account: { pushDenials: 0 } }, ALLOW, []],
  ['deny-listed network', { network: { denyListed: true } }, DENY, ['deny_listed_network:deny:100:deny-listed network 198.51.100.0/24']],
  ['deny-listed service account', { network: { denyListed: true }, account: { serviceAccount: true } }, DENY, ['deny_listed_network:deny:100:deny-listed network 198.51.100.0/24']],
  [
    'service account on a new device and network',
    { device: { known: false }, network: { known: false }, account: { serviceAccount: true, ...passwordOnly } },
    ALLOW,
    ['new_device:prompt_mfa:20:new device', 'new_network:prompt_mfa:10:new network 198.51.100.0/24'],
  ],
  ['service account, sensitive scope', { request: { sensitive: true }, account: { serviceAccount: true } }, ALLOW, ['sensitive_action:require_mfa:10:sensitive action']],
  [
    'remembered device spares prompt_mfa',
    { device: { remembered: true }, network: { known: false }, location: { known: false } },
    ALLOW,
    ['new_location:ignore:20:new location Paris, FR (remembered device)', 'new_network:ignore:10:new network 198.51.100.0/24 (remembered device)'],
  ],
  [
    'remembered device never spares require_mfa',
    { device: { remembered: true }, network: { known: false }, location: { impossibleTravel: true, speedKmh: 1000 } },
    FRESH_REQUIRE,
    ['impossible_travel:require_mfa:50:impossible travel (1 000 km/h)', 'new_network:ignore:10:new network 198.51.100.0/24 (remembered device)'],
  ],
  ['remembered device never spares deny', { device: { remembered: true }, network: { denyListed: true } }, DENY, ['deny_listed_network:deny:100:deny-listed network 198.51.100.0/24']],
  [
    'remembered device, sensitive action: still fresh',
    { device: { remembered: true }, request: { sensitive: true } },
    SENSITIVE,
    ['sensitive_action:require_mfa:10:sensitive action'],
  ],
  [
    'many signals: capped score reaches deny',
    { device: { known: false }, location: { impossibleTravel: true, speedKmh: 2000 }, velocity: { ipDistinctAccounts: 50 } },
    DENY,
    [
      'impossible_travel:require_mfa:50:impossible travel (2 000 km/h)',
      'credential_stuffing:require_mfa:40:credential stuffing (50 accounts failing from this IP)',
      'new_device:prompt_mfa:20:new device',
    ],
  ],
];

const fmt = (r: RiskReason) => `${r.signal}:${r.action}:${r.points}:${r.detail}`;

describe('score (default policy)', () => {
  it.each(table)('%s', (_name, o, outcome, reasons) => {
    const d = score(signals(o), POLICY, NOW);
    expect(d.decision).toStrictEqual(outcome);
    expect(d.reasons.map(fmt)).toEqual(reasons);
    expect(d.score).toBe(Math.min(MAX_SCORE, d.reasons.reduce((s, r) => s + r.points, 0)));
  });

  it('sums and caps the score', () => {
    expect(score(signals({ device: { known: false }, network: { known: false } }), POLICY, NOW).score).toBe(30);
    const all = signals({
      device: { known: false },
      network: { known: false, denyListed: true },
      location: { known: false, impossibleTravel: true },
      velocity: { accountFailures: 99, ipDistinctAccounts: 99 },
    });
    expect(score(all, POLICY, NOW).score).toBe(100);
  });

  it('sorts reasons by points, then signal name', () => {
    const d = score(signals({ device: { known: false }, network: { known: false }, location: { known: false }, account: { ageSeconds: 10 } }), POLICY, NOW);
    expect(d.reasons.map((r) => r.signal)).toEqual(['new_device', 'new_location', 'new_account', 'new_network']);
  });
});

describe('score (policy variations)', () => {
  const quietActions = (p: RiskPolicy) => {
    for (const k of Object.keys(p.riskBasedPrompting) as SignalName[]) p.riskBasedPrompting[k] = 'ignore';
  };

  it('steps up at the step_up threshold, not below; spared on a remembered device and for password-only users', () => {
    const at = policy((p) => {
      quietActions(p);
      p.weights.new_device = 25;
      p.weights.new_network = 15;
    });
    const risky = { device: { known: false }, network: { known: false } };
    expect(score(signals(risky), at, NOW)).toMatchObject({ score: 40, decision: PROMPT });
    const below = policy((p) => {
      quietActions(p);
      p.weights.new_device = 25;
      p.weights.new_network = 14;
    });
    expect(score(signals(risky), below, NOW)).toMatchObject({ score: 39, decision: ALLOW });
    expect(score(signals({ ...risky, device: { known: false, remembered: true } }), at, NOW).decision).toStrictEqual(ALLOW);
    expect(score(signals({ ...risky, account: passwordOnly }), at, NOW).decision).toStrictEqual(ALLOW);
  });

  it('denies at the deny threshold, on remembered devices too', () => {
    const p = policy((q) => {
      q.thresholds = { stepUp: 20, deny: 30 };
    });
    expect(score(signals({ device: { known: false }, network: { known: false } }), p, NOW).decision).toStrictEqual(DENY);
    expect(score(signals({ device: { remembered: true }, network: { known: false }, location: { known: false } }), p, NOW).decision).toStrictEqual(DENY);
    expect(score(signals({ device: { known: false } }), p, NOW).decision).toStrictEqual(PROMPT);
  });

  it('a signal configured to deny denies', () => {
    const p = policy((q) => {
      q.riskBasedPrompting.new_device = 'deny';
    });
    expect(score(signals({ device: { known: false } }), p, NOW).decision).toStrictEqual(DENY);
    expect(score(signals({ device: { known: false }, account: { serviceAccount: true } }), p, NOW).decision).toStrictEqual(DENY);
  });

  it('a signal configured to ignore only scores', () => {
    const p = policy((q) => {
      q.riskBasedPrompting.new_device = 'ignore';
    });
    const d = score(signals({ device: { known: false } }), p, NOW);
    expect(d).toMatchObject({ score: 20, decision: ALLOW });
    expect(d.reasons.map(fmt)).toEqual(['new_device:ignore:20:new device']);
  });

  it('require_mfa on a new device bypasses the remembered device', () => {
    const p = policy((q) => {
      q.riskBasedPrompting.new_network = 'require_mfa';
    });
    expect(score(signals({ device: { remembered: true }, network: { known: false } }), p, NOW).decision).toStrictEqual(REQUIRE);
  });

  it('a prompt_mfa sensitive action carries the max age unless spared', () => {
    const p = policy((q) => {
      q.riskBasedPrompting.sensitive_action = 'prompt_mfa';
      q.sensitiveActionMaxAgeSeconds = 120;
    });
    expect(score(signals({ request: { sensitive: true } }), p, NOW).decision).toStrictEqual({ ...PROMPT, maxAgeSeconds: 120 });
    const spared = score(signals({ request: { sensitive: true }, device: { remembered: true } }), p, NOW);
    expect(spared.decision).toStrictEqual(ALLOW);
    expect(spared.reasons.map(fmt)).toEqual(['sensitive_action:ignore:10:sensitive action (remembered device)']);
  });

  it('remembered_devices.days 0 disables remembering', () => {
    const p = policy((q) => {
      q.rememberedDeviceDays = 0;
    });
    const d = score(signals({ device: { remembered: true }, network: { known: false } }), p, NOW);
    expect(d.decision).toStrictEqual(PROMPT);
    expect(d.reasons[0]!.action).toBe('prompt_mfa');
  });

  it('velocity and age thresholds come from the policy', () => {
    const p = policy((q) => {
      q.velocity.accountFailures = 2;
      q.velocity.ipDistinctAccounts = 3;
      q.newAccountSeconds = 0;
      q.mfaMaxAgeSeconds = 3600;
    });
    const d = score(signals({ velocity: { accountFailures: 2, ipDistinctAccounts: 3 }, account: { ageSeconds: 0, lastMfaAt: NOW - 3601 } }), p, NOW);
    expect(d.reasons.map((r) => r.signal)).toEqual(['credential_stuffing', 'failed_attempts', 'stale_mfa']);
    expect(d.reasons.find((r) => r.signal === 'stale_mfa')!.detail).toBe('second factor last verified 1 h ago');
  });

  describe('every_sign_in', () => {
    const every = policy((p) => {
      p.mfaEnforcement.everySignIn = true;
    });
    it.each<[string, Overrides, RiskOutcome]>([
      ['quiet sign-in of an enrolled user', {}, REQUIRE],
      ['remembered device', { device: { remembered: true } }, REQUIRE],
      ['prompting signal: upgraded to bypass', { device: { known: false } }, REQUIRE],
      ['sensitive action keeps its max age', { request: { sensitive: true } }, SENSITIVE],
      ['password-only user', { account: passwordOnly }, ALLOW],
      ['service account', { account: { serviceAccount: true } }, ALLOW],
      ['deny still wins', { network: { denyListed: true } }, DENY],
    ])('%s', (_name, o, outcome) => {
      expect(score(signals(o), every, NOW).decision).toStrictEqual(outcome);
    });
  });

  it('service accounts are prompted when exclude_service_accounts is false', () => {
    const p = policy((q) => {
      q.mfaEnforcement.excludeServiceAccounts = false;
    });
    expect(score(signals({ device: { known: false }, account: { serviceAccount: true } }), p, NOW).decision).toStrictEqual(PROMPT);
  });
});

describe('score invariants over every combination of signals', () => {
  const flags = [
    (s: RiskSignals) => (s.device.known = false),
    (s: RiskSignals) => (s.device.remembered = true),
    (s: RiskSignals) => (s.network.known = false),
    (s: RiskSignals) => (s.network.denyListed = true),
    (s: RiskSignals) => (s.location.known = false),
    (s: RiskSignals) => (s.location.impossibleTravel = true),
    (s: RiskSignals) => (s.velocity.accountFailures = 50),
    (s: RiskSignals) => (s.request.sensitive = true),
    (s: RiskSignals) => (s.request.sessionContextChanged = true),
    (s: RiskSignals) => Object.assign(s.account, passwordOnly),
    (s: RiskSignals) => (s.account.serviceAccount = true),
  ];
  const cases = Array.from({ length: 1 << flags.length }, (_, mask) => {
    const s = signals();
    flags.forEach((f, i) => mask & (1 << i) && f(s));
    return s;
  });

  it('holds the rules', () => {
    for (const s of cases) {
      const d = score(s, POLICY, NOW);
      const actions = new Set(d.reasons.map((r) => r.action));
      const remembered = s.device.remembered;
      if (s.network.denyListed || d.score >= POLICY.thresholds.deny) expect(d.decision.kind).toBe('deny');
      else if (s.account.serviceAccount) expect(d.decision.kind).toBe('allow');
      else if (actions.has('require_mfa')) expect(d.decision).toMatchObject({ kind: 'step_up', level: 2, bypassRemembered: true });
      else if (s.account.secondFactors > 0 && (actions.has('prompt_mfa') || (!remembered && d.score >= POLICY.thresholds.stepUp))) {
        const fresh = d.reasons.some((r) => r.action === 'prompt_mfa' && ['sensitive_action', 'session_context_changed', 'impossible_travel'].includes(r.signal));
        expect(d.decision).toStrictEqual(fresh ? FRESH_PROMPT : PROMPT);
      }
      else expect(d.decision.kind).toBe('allow');
      if (remembered) expect(actions.has('prompt_mfa')).toBe(false);
      if (d.decision.kind === 'step_up' && (s.request.sensitive || s.request.sessionContextChanged)) expect(d.decision.maxAgeSeconds).toBe(300);
      expect(d.score).toBeLessThanOrEqual(MAX_SCORE);
      const sorted = [...d.reasons].sort((a, b) => b.points - a.points || a.signal.localeCompare(b.signal));
      expect(d.reasons).toEqual(sorted);
    }
  });
});

describe('determinism', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('same input, same output, whatever the clock; inputs are not mutated', () => {
    const s = signals({ device: { known: false }, location: { known: false, impossibleTravel: true, speedKmh: 1850 }, account: { lastMfaAt: NOW - 40 * DAY } });
    const frozen = structuredClone(s);
    const deepFreeze = (o: object): void => {
      Object.freeze(o);
      for (const v of Object.values(o)) if (v && typeof v === 'object') deepFreeze(v);
    };
    deepFreeze(s);
    const p = structuredClone(POLICY);
    deepFreeze(p);
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2001-01-01T00:00:00Z'));
    const a = score(s, p, NOW);
    vi.setSystemTime(new Date('2099-12-31T00:00:00Z'));
    const b = score(s, p, NOW);
    expect(b).toStrictEqual(a);
    expect(s).toStrictEqual(frozen);
    expect(p).toStrictEqual(POLICY);
    // Time only matters through the argument.
    expect(score(s, p, NOW - 20 * DAY).reasons.some((r) => r.signal === 'stale_mfa')).toBe(false);
    expect(a.reasons.some((r) => r.signal === 'stale_mfa')).toBe(true);
  });
});
