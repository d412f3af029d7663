/**
 * Replays recorded sign-in decisions against two risk policies (`stepwise policy check FILE`): the signals
 * each `risk.decision` audit event recorded are scored again, at the event's own time, under the current
 * policy and under a candidate, and the report counts the outcomes and lists the sign-ins whose outcome
 * changes. Pure: the events come in, nothing is read from a store or the clock; the same input gives the
 * same report whatever its order.
 *
 * What a replay shows is everything score() decides from the signals: actions, weights, thresholds,
 * every_sign_in, exclude_service_accounts, remembered devices on or off, mfa_max_age, new_account_age, the
 * velocity limits, and impossible_travel_kmh (re-derived from the recorded speed). What it cannot show is
 * what the collector applied while gathering the signals (networks, the velocity window, how long a device
 * stays remembered) or what is not a risk decision (enrollment, recovery): when the candidate changes one
 * of those, its key is listed in `notReplayed`.
 */
import { score } from './score.js';
import type { RiskOutcome, RiskPolicy, RiskSignals } from './types.js';

export type OutcomeKind = RiskOutcome['kind'];

export interface ReplayEvent {
  /** When the decision was recorded (epoch milliseconds, as audit events store it). */
  at: number;
  userId: string | null;
  signals: RiskSignals;
}

export type OutcomeCounts = Record<OutcomeKind, number>;

export interface ChangedDecision {
  userId: string | null;
  /** Epoch milliseconds. */
  at: number;
  from: OutcomeKind;
  to: OutcomeKind;
  /** The reasons' details under the candidate, strongest first. */
  reasons: string[];
}

export interface ReplayReport {
  events: number;
  current: OutcomeCounts;
  candidate: OutcomeCounts;
  /** Every event whose outcome kind differs, oldest first. */
  changed: ChangedDecision[];
  /** Distinct users among `changed` (events without a user are not counted). */
  usersChanged: number;
  /** (step_up + deny) / events, rounded to 4 decimals; 0 without events. */
  promptRate: { current: number; candidate: number };
  /** Policy keys (file names) the candidate changes whose effect a replay cannot show. */
  notReplayed: string[];
}

/** The recorded signals as `policy` would see them: impossible travel follows the policy's speed limit. */
function underPolicy(signals: RiskSignals, policy: RiskPolicy): RiskSignals {
  const { speedKmh, impossibleTravel } = signals.location;
  if (speedKmh === null || impossibleTravel === 'unknown') return signals;
  const impossible = speedKmh > policy.impossibleTravelKmh;
  return impossible === impossibleTravel ? signals : { ...signals, location: { ...signals.location, impossibleTravel: impossible } };
}

const counts = (): OutcomeCounts => ({ allow: 0, step_up: 0, deny: 0 });

const rate = (c: OutcomeCounts, events: number) => (events === 0 ? 0 : Math.round(((c.step_up + c.deny) / events) * 10_000) / 10_000);

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Keys of settings the candidate changes that the collector applied, or that are not risk decisions. */
export function notReplayed(current: RiskPolicy, candidate: RiskPolicy): string[] {
  const days = (p: RiskPolicy) => p.rememberedDeviceDays;
  const checks: [string, (p: RiskPolicy) => unknown][] = [
    ['mfa_enforcement.all_users', (p) => p.mfaEnforcement.allUsers],
    ['mfa_enforcement.grace_period', (p) => p.mfaEnforcement.gracePeriodSeconds],
    // On/off is replayed (score() reads days > 0); a different length changes which devices were remembered.
    ['remembered_devices.days', (p) => (days(current) > 0 && days(candidate) > 0 ? days(p) : 0)],
    // The outcome kind is the same; only the freshness it demands differs.
    ['sensitive_action_max_age', (p) => p.sensitiveActionMaxAgeSeconds],
    ['velocity.window', (p) => p.velocity.windowSeconds],
    ['networks.allow', (p) => [...p.networks.allow].sort()],
    ['networks.deny', (p) => [...p.networks.deny].sort()],
    ['recovery.backup_codes', (p) => p.recovery.backupCodes],
    ['recovery.admin_recovery', (p) => p.recovery.adminRecovery],
    ['recovery.recovery_timeout', (p) => p.recovery.recoveryTimeoutSeconds],
  ];
  return checks.filter(([, read]) => !same(read(current), read(candidate))).map(([key]) => key);
}

export function replay(events: ReplayEvent[], current: RiskPolicy, candidate: RiskPolicy): ReplayReport {
  const now = counts();
  const next = counts();
  const changed: ChangedDecision[] = [];
  for (const e of events) {
    const at = Math.floor(e.at / 1000);
    const a = score(underPolicy(e.signals, current), current, at);
    const b = score(underPolicy(e.signals, candidate), candidate, at);
    now[a.decision.kind] += 1;
    next[b.decision.kind] += 1;
    if (a.decision.kind !== b.decision.kind) {
      changed.push({ userId: e.userId, at: e.at, from: a.decision.kind, to: b.decision.kind, reasons: b.reasons.map((r) => r.detail) });
    }
  }
  // Oldest first; ties in a fixed order so the report does not depend on the input's order.
  const key = (c: ChangedDecision) => JSON.stringify([c.userId, c.from, c.to, c.reasons]);
  changed.sort((x, y) => x.at - y.at || (key(x) < key(y) ? -1 : key(x) > key(y) ? 1 : 0));
  return {
    events: events.length,
    current: now,
    candidate: next,
    changed,
    usersChanged: new Set(changed.map((c) => c.userId).filter((u): u is string => u !== null)).size,
    promptRate: { current: rate(now, events.length), candidate: rate(next, events.length) },
    notReplayed: notReplayed(current, candidate),
  };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Whether an audit event's `details.signals` has the shape score() reads (events from older versions may not). */
export function isRiskSignals(v: unknown): v is RiskSignals {
  if (!isObject(v)) return false;
  const { account, device, network, location, velocity, request } = v;
  return (
    isObject(account) &&
    typeof account.ageSeconds === 'number' &&
    typeof account.secondFactors === 'number' &&
    isObject(device) &&
    typeof device.known === 'boolean' &&
    isObject(network) &&
    typeof network.known === 'boolean' &&
    isObject(location) &&
    isObject(velocity) &&
    typeof velocity.accountFailures === 'number' &&
    typeof velocity.ipFailures === 'number' &&
    typeof velocity.ipDistinctAccounts === 'number' &&
    isObject(request)
  );
}
