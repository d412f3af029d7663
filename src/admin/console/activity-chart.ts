/**
 * The dashboard's last day of authentication activity, from the audit log: sign-ins (completed), step-ups
 * (a second factor or passkey verified) and failures (any failed sign-in step), per hour. `bucketActivity` is
 * pure; `recentAuthEvents` is its collector.
 */
import type { Db } from '../../store/db.js';
import { guardStore } from '../../errors/index.js';

export type ActivityKind = 'signin' | 'stepup' | 'failure';

export interface AuthEventRow {
  at: number;
  type: string;
  outcome: string;
}

export interface HourBucket {
  /** Start of the hour (epoch ms). */
  start: number;
  label: string;
  signin: number;
  stepup: number;
  failure: number;
  /** Bar heights in 5 % steps of the busiest hour (CSS classes h0..h100; no inline style under the CSP). */
  heights: Record<ActivityKind, number>;
}

const HOUR_MS = 3_600_000;
export const DAY_HOURS = 24;

/** What a row counts as on the dashboard, if anything. */
export function kindOf(row: Pick<AuthEventRow, 'type' | 'outcome'>): ActivityKind | null {
  const signInStep = row.type.startsWith('login.') || row.type.startsWith('factor.verify.');
  if (row.outcome === 'failure') return signInStep ? 'failure' : null;
  if (row.type === 'login.complete') return 'signin';
  if (row.type.startsWith('factor.verify.') || row.type === 'login.passkey') return 'stepup';
  return null;
}

export function bucketActivity(rows: AuthEventRow[], nowMs: number): { hours: HourBucket[]; totals: Record<ActivityKind, number> } {
  const lastHour = Math.floor(nowMs / HOUR_MS) * HOUR_MS;
  const first = lastHour - (DAY_HOURS - 1) * HOUR_MS;
  const hours = Array.from({ length: DAY_HOURS }, (_, i) => {
    const start = first + i * HOUR_MS;
    return { start, label: `${new Date(start).toISOString().slice(11, 13)}:00`, signin: 0, stepup: 0, failure: 0, heights: { signin: 0, stepup: 0, failure: 0 } };
  });
  const totals = { signin: 0, stepup: 0, failure: 0 };
  for (const row of rows) {
    const kind = kindOf(row);
    const i = Math.floor((row.at - first) / HOUR_MS);
    if (!kind || i < 0 || i >= DAY_HOURS) continue;
    hours[i]![kind]++;
    totals[kind]++;
  }
  const busiest = Math.max(1, ...hours.map((h) => h.signin + h.stepup + h.failure));
  const step = (n: number) => (n === 0 ? 0 : Math.max(5, Math.round((n / busiest) * 20) * 5));
  for (const h of hours) h.heights = { signin: step(h.signin), stepup: step(h.stepup), failure: step(h.failure) };
  return { hours, totals };
}

/** Sign-in events since `sinceMs` (only the columns the chart needs). */
export async function recentAuthEvents(db: Db, sinceMs: number): Promise<AuthEventRow[]> {
  const rows = await guardStore(() =>
    db('audit_events')
      .where('at', '>=', sinceMs)
      .andWhere((q) => q.where('type', 'like', 'login.%').orWhere('type', 'like', 'factor.verify.%'))
      .select('at', 'type', 'outcome'),
  );
  return (rows as Array<Record<string, unknown>>).map((r) => ({ at: Number(r.at), type: String(r.type), outcome: String(r.outcome) }));
}

export const dayAgo = (nowMs: number) => Math.floor(nowMs / HOUR_MS) * HOUR_MS - (DAY_HOURS - 1) * HOUR_MS;
