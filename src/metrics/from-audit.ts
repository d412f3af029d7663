/**
 * Counters derived from audit events (AuditLog#onRecord): every security decision is audited already, so
 * the metrics follow the audit trail instead of being sprinkled over the sign-in flow.
 */
import type { AuditEvent, AuditLog } from '../audit/log.js';
import type { Metrics } from './registry.js';

export type AuditCount =
  | { metric: 'signIns'; labels: { result: string } }
  | { metric: 'stepUps'; labels: { level: string; outcome: string } }
  | { metric: 'factorVerifications'; labels: { kind: string; result: string } };

const SIGN_IN_FAILURES: Record<string, string> = {
  'login.password': 'invalid_password',
  'login.passkey': 'invalid_passkey',
  'login.denied': 'denied',
  'login.unmet_requirements': 'unmet',
};

/** What one audit event counts for (pure). Step-up events carry `details.stepUp` (src/interactions/flow.ts). */
export function countsFor(e: Pick<AuditEvent, 'type' | 'outcome' | 'details'>): AuditCount[] {
  const out: AuditCount[] = [];
  const d = e.details ?? {};
  const level = typeof d.acr === 'string' ? d.acr : 'none';
  if (e.type === 'login.complete') out.push({ metric: 'signIns', labels: { result: 'success' } });
  else if (e.outcome === 'failure' && SIGN_IN_FAILURES[e.type]) out.push({ metric: 'signIns', labels: { result: SIGN_IN_FAILURES[e.type]! } });
  if (d.stepUp === true && (e.type === 'login.complete' || e.type === 'login.denied' || e.type === 'login.unmet_requirements')) {
    out.push({ metric: 'stepUps', labels: { level, outcome: e.type === 'login.complete' ? 'success' : SIGN_IN_FAILURES[e.type]! } });
  }
  const factor = /^factor\.verify\.([a-z_]+)$/.exec(e.type)?.[1] ?? (e.type === 'login.password' ? 'password' : e.type === 'login.passkey' ? 'passkey' : null);
  if (factor) out.push({ metric: 'factorVerifications', labels: { kind: factor, result: e.outcome } });
  return out;
}

export function countAuditEvents(audit: AuditLog, metrics: Metrics): () => void {
  return audit.onRecord((e) => {
    for (const c of countsFor(e)) (metrics[c.metric] as { inc(labels: Record<string, string>): void }).inc(c.labels);
  });
}
