/**
 * The risk scorer: a pure, deterministic function of the collected signals, the policy and the time (an
 * argument; no clock reads, no I/O). Its outcome is one demand for the assurance rule — it may ask for a
 * second factor or deny, never raise a level by itself.
 *
 * Order of the rules:
 *  1. deny — a reason whose action is `deny` (deny_listed_network by default), or a score at or above
 *     thresholds.deny. Applies to service accounts too.
 *  2. allow — a service account when mfa_enforcement.exclude_service_accounts (reasons still listed).
 *  3. step_up (bypassRemembered) — any `require_mfa` reason, even for a user without a second factor (the
 *     sign-in then ends unmet or enrolls one); or every_sign_in for a user with a second factor.
 *  4. step_up — any `prompt_mfa` reason, or a score at or above thresholds.step_up, for a user with a
 *     second factor. A remembered device spares both (its prompt_mfa reasons are reported as `ignore`,
 *     detail suffixed "(remembered device)"); it never spares require_mfa or deny.
 *  5. allow.
 * A step-up driven by sensitive_action carries maxAgeSeconds = sensitive_action_max_age.
 * score = the sum of the fired signals' points, capped at 100 (spared reasons still count).
 */
import type { RiskAction, RiskDecision, RiskOutcome, RiskPolicy, RiskReason, RiskSignals, SignalName } from './types.js';

export const MAX_SCORE = 100;

/**
 * Signals whose step-up needs a second factor verified *now* (within sensitive_action_max_age), not merely
 * a session that holds loa2: a sensitive action, and a session used from elsewhere or after impossible travel.
 */
const FRESH: ReadonlySet<SignalName> = new Set<SignalName>(['sensitive_action', 'session_context_changed', 'impossible_travel']);

const REMEMBERED = ' (remembered device)';

/** 1850 → "1 850" (a plain space every three digits; locale-free, so deterministic). */
function groupDigits(n: number): string {
  return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
}

function ago(seconds: number): string {
  if (seconds >= 86_400) return `${Math.floor(seconds / 86_400)} d`;
  if (seconds >= 3600) return `${Math.floor(seconds / 3600)} h`;
  return `${Math.max(0, Math.floor(seconds / 60))} min`;
}

/** The signals that fire, each with its human detail ('unknown' never fires). */
function fired(s: RiskSignals, p: RiskPolicy, now: number): [SignalName, string][] {
  const out: [SignalName, string][] = [];
  if (!s.device.known) out.push(['new_device', 'new device']);
  if (s.network.prefix !== null && !s.network.known) out.push(['new_network', `new network ${s.network.prefix}`]);
  if (s.location.known === false) {
    const place = [s.location.city, s.location.country].filter((x): x is string => !!x).join(', ');
    out.push(['new_location', place ? `new location ${place}` : 'new location']);
  }
  if (s.location.impossibleTravel === true) {
    const speed = s.location.speedKmh;
    out.push(['impossible_travel', speed !== null && Number.isFinite(speed) ? `impossible travel (${groupDigits(speed)} km/h)` : 'impossible travel']);
  }
  if (s.request.sessionContextChanged) out.push(['session_context_changed', 'session started on another device or network']);
  const v = s.velocity;
  const accountHit = v.accountFailures >= p.velocity.accountFailures;
  const ipHit = v.ipFailures >= p.velocity.ipFailures;
  if (accountHit || ipHit) {
    const parts = [accountHit ? `${v.accountFailures} for the account` : '', ipHit ? `${v.ipFailures} from this IP` : ''].filter(Boolean);
    out.push(['failed_attempts', `failed attempts (${parts.join(', ')})`]);
  }
  if (v.ipDistinctAccounts >= p.velocity.ipDistinctAccounts) {
    out.push(['credential_stuffing', `credential stuffing (${v.ipDistinctAccounts} accounts failing from this IP)`]);
  }
  if (s.request.sensitive) out.push(['sensitive_action', 'sensitive action']);
  const a = s.account;
  if (a.secondFactors > 0) {
    if (a.lastMfaAt === null) out.push(['stale_mfa', 'second factor never verified']);
    else if (now - a.lastMfaAt > p.mfaMaxAgeSeconds) out.push(['stale_mfa', `second factor last verified ${ago(now - a.lastMfaAt)} ago`]);
  }
  if (s.network.denyListed) out.push(['deny_listed_network', s.network.prefix ? `deny-listed network ${s.network.prefix}` : 'deny-listed network']);
  if (a.ageSeconds < p.newAccountSeconds) out.push(['new_account', `new account (${ago(a.ageSeconds)} old)`]);
  if ((a.pushDenials ?? 0) > 0) out.push(['push_denied', `push request denied by the user (${a.pushDenials} recently)`]);
  return out;
}

const byPointsThenName = (x: RiskReason, y: RiskReason) => y.points - x.points || (x.signal < y.signal ? -1 : x.signal > y.signal ? 1 : 0);

export function score(signals: RiskSignals, policy: RiskPolicy, nowSeconds: number): RiskDecision {
  const remembered = signals.device.remembered && policy.rememberedDeviceDays > 0;
  const secondFactor = signals.account.secondFactors > 0;

  const reasons: RiskReason[] = [];
  let total = 0;
  let deny = false;
  let require = false;
  let prompt = false;
  let sensitiveDemand = false;
  for (const [signal, detail] of fired(signals, policy, nowSeconds)) {
    const points = policy.weights[signal];
    const action: RiskAction = policy.riskBasedPrompting[signal];
    total += points;
    if (action === 'deny') deny = true;
    else if (action === 'require_mfa') {
      require = true;
      if (FRESH.has(signal)) sensitiveDemand = true;
    } else if (action === 'prompt_mfa') {
      if (remembered) {
        reasons.push({ signal, action: 'ignore', points, detail: detail + REMEMBERED });
        continue;
      }
      prompt = true;
      if (FRESH.has(signal)) sensitiveDemand = true;
    }
    reasons.push({ signal, action, points, detail });
  }
  reasons.sort(byPointsThenName);
  const value = Math.min(MAX_SCORE, total);
  return { score: value, reasons, decision: outcome() };

  function outcome(): RiskOutcome {
    if (deny || value >= policy.thresholds.deny) return { kind: 'deny' };
    if (signals.account.serviceAccount && policy.mfaEnforcement.excludeServiceAccounts) return { kind: 'allow' };
    const soft = secondFactor && (prompt || (!remembered && value >= policy.thresholds.stepUp));
    const hard = require || (policy.mfaEnforcement.everySignIn && secondFactor);
    if (!hard && !soft) return { kind: 'allow' };
    return sensitiveDemand
      ? { kind: 'step_up', level: 2, bypassRemembered: hard, maxAgeSeconds: policy.sensitiveActionMaxAgeSeconds }
      : { kind: 'step_up', level: 2, bypassRemembered: hard };
  }
}
