/**
 * One risk assessment: collect the signals (collector.ts, I/O), score them (score.ts, pure) and turn the
 * outcome into what the one assurance rule consumes (policy/requirement.ts): demands, a freshness bound
 * for the second factor of a sensitive action, or a denial. Used by the login prompt's check, the sign-in
 * flow and `stepwise risk explain`, so all three judge a request the same way.
 */
import type { RiskCollector, CollectInput, Observed } from './collector.js';
import { score } from './score.js';
import type { RiskDecision, RiskSignals } from './types.js';
import type { Demand } from '../policy/requirement.js';

export interface RiskVerdict {
  decision: RiskDecision;
  signals: RiskSignals;
  observed: Observed;
  /** What the assurance rule gets from this verdict. */
  demands: Demand[];
  /** A second factor must have been verified this recently (sensitive actions). */
  secondFactorWithin: number | undefined;
  denied: boolean;
}

/** Pure: the demands of a risk decision. */
export function demandsOf(decision: RiskDecision): Pick<RiskVerdict, 'demands' | 'secondFactorWithin' | 'denied'> {
  const d = decision.decision;
  if (d.kind === 'deny') return { demands: [], secondFactorWithin: undefined, denied: true };
  if (d.kind === 'allow') return { demands: [], secondFactorWithin: undefined, denied: false };
  const reason = decision.reasons.filter((r) => r.action === 'prompt_mfa' || r.action === 'require_mfa').map((r) => r.signal).join(',') || 'risk_score';
  return { demands: [{ source: 'risk', level: d.level, reason }], secondFactorWithin: d.maxAgeSeconds, denied: false };
}

export async function assessRisk(collector: RiskCollector, input: CollectInput): Promise<RiskVerdict> {
  const { signals, observed } = await collector.collect(input);
  const decision = score(signals, collector.policy, Math.floor(input.nowMs / 1000));
  return { decision, signals, observed, ...demandsOf(decision) };
}

/** The audit record of a verdict: enough to explain it and to replay it against another policy. */
export function verdictDetails(v: RiskVerdict): Record<string, unknown> {
  return { decision: v.decision.decision, score: v.decision.score, reasons: v.decision.reasons, signals: v.signals };
}
