/**
 * Risk operations for administrators, shared by the CLI (`stepwise risk explain`, `stepwise policy check`)
 * and, later, the admin API. Both only read: explaining a sign-in records no audit event, no device and
 * no sign-in; checking a policy reads the recorded decisions and replays them (replay.ts, pure).
 */
import { isIP } from 'node:net';
import type { Container } from '../container.js';
import { ConfigError } from '../config/index.js';
import { AppError } from '../errors/index.js';
import { readClientPolicy, isSensitiveRequest } from '../policy/client-policy.js';
import { assuranceRequirement } from '../policy/requirement.js';
import { loadPolicyFile } from './policy-file.js';
import { placeOf } from './service.js';
import { DEVICE_ID } from './known-browser.js';
import { isRiskSignals, replay, type OutcomeCounts, type ReplayEvent } from './replay.js';
import type { RiskOutcome, RiskPolicy, RiskReason, RiskSignals } from './types.js';

// ---------------------------------------------------------------------------------------------------------
// risk explain

export type ExplainDeps = Pick<Container, 'users' | 'clients' | 'risk' | 'levels'>;

export interface ExplainInput {
  email: string;
  ip: string;
  userAgent: string;
  /** The raw `stepwise_device` cookie value, when the browser has one. */
  deviceId?: string | undefined;
  /** acr_values the request would send. */
  acr?: string | undefined;
  scope?: string | undefined;
  clientId?: string | undefined;
}

export interface ExplainResult {
  user: { id: string; email: string };
  decision: RiskOutcome;
  score: number;
  reasons: RiskReason[];
  signals: RiskSignals;
  /** What the sign-in must reach: the one assurance rule fed with this verdict's demands. */
  requirement: { level: number; floor: number; accepted: string[]; denied: boolean; secondFactorWithin?: number };
  /** User-agent family and place, as the audit event would show them. */
  device: string;
  location: string | null;
}

/** The device cookie's value (see known-browser.ts): 32 random bytes, base64url. */

/** What a sign-in by `email` from this request would get right now. Changes nothing. */
export async function explainSignIn(c: ExplainDeps, input: ExplainInput): Promise<ExplainResult> {
  const ip = input.ip.trim();
  if (!isIP(ip)) throw new AppError('invalid_form', `--ip: not an IPv4 or IPv6 address: ${input.ip}`, 'ip');
  if (input.deviceId !== undefined && !DEVICE_ID.test(input.deviceId)) {
    throw new AppError('invalid_form', '--device-id: expected the stepwise_device cookie value (43 characters, base64url)', 'device_id');
  }
  const user = await c.users.findByEmail(input.email);
  if (!user) throw new AppError('not_found', `no user with email ${input.email}`);
  if (user.disabled) throw new AppError('conflict', `user ${user.email} is disabled: every sign-in is refused`);
  const client = input.clientId === undefined ? undefined : await c.clients.find(input.clientId);
  if (input.clientId !== undefined && !client) throw new AppError('not_found', `no client ${input.clientId}`);
  const clientPolicy = readClientPolicy(client);

  const assessment = await c.risk.assess({ ip, userAgent: input.userAgent, deviceId: input.deviceId ?? null }, user.id, {
    sensitive: isSensitiveRequest(clientPolicy, input.scope),
    rememberedAllowed: clientPolicy.remembered_devices !== false,
  });
  if (!assessment) throw new AppError('not_found', `no user with email ${input.email}`);
  const { verdict } = assessment;
  const req = assuranceRequirement({
    levels: c.levels,
    client,
    params: input.acr === undefined ? {} : { acr_values: input.acr },
    demands: verdict.demands,
    secondFactorWithin: verdict.secondFactorWithin,
    denied: verdict.denied,
  });
  if (input.acr !== undefined) {
    const asked = input.acr.split(' ').filter(Boolean);
    if (!asked.some((a) => req.levels.some((l) => l.acr === a))) {
      throw new AppError('invalid_form', `--acr: unknown acr ${input.acr} (known: ${req.levels.map((l) => l.acr).join(', ')})`, 'acr');
    }
  }
  return {
    user: { id: user.id, email: user.email },
    decision: verdict.decision.decision,
    score: verdict.decision.score,
    reasons: verdict.decision.reasons,
    signals: verdict.signals,
    requirement: {
      level: req.level,
      floor: req.floor,
      accepted: req.accepted,
      denied: req.denied,
      ...(req.secondFactorWithin !== undefined ? { secondFactorWithin: req.secondFactorWithin } : {}),
    },
    device: verdict.observed.uaFamily,
    location: placeOf(verdict.observed),
  };
}

// ---------------------------------------------------------------------------------------------------------
// policy check

/** A candidate policy file that does not validate. The CLI exits with `exitCode` (2). */
export class InvalidPolicyFileError extends ConfigError {
  override name = 'InvalidPolicyFileError';
  readonly exitCode = 2;
}

/**
 * Reads and validates a candidate policy file. Errors name the file, the line and the key, as at start-up
 * (without the STEPWISE_POLICY_FILE prefix: the candidate is not the configured file).
 */
export function loadCandidatePolicy(file: string): RiskPolicy {
  try {
    return loadPolicyFile(file);
  } catch (err) {
    if (err instanceof ConfigError) throw new InvalidPolicyFileError(err.message.replace(/^STEPWISE_POLICY_FILE: /, ''));
    throw err;
  }
}

export const MAX_CHECK_DAYS = 3650;
/** Changed decisions listed in full; the rest are only counted (`changedTotal`). */
export const CHANGED_LISTED = 50;
const BATCH = 1000;

export type CheckDeps = Pick<Container, 'db' | 'users' | 'config' | 'now'>;

export interface PolicyCheckResult {
  file: string;
  days: number;
  events: number;
  current: OutcomeCounts;
  candidate: OutcomeCounts;
  changed: Array<{ userId: string | null; email: string | null; at: string; from: string; to: string; reasons: string[] }>;
  changedTotal: number;
  users_changed: number;
  prompt_rate: { current: number; candidate: number };
  /** Settings the candidate changes whose effect the replay cannot show (see replay.ts). */
  not_replayed: string[];
}

/** The `risk.decision` audit events of the last `days` days that recorded their signals, oldest first. */
export async function recordedDecisions(c: Pick<Container, 'db' | 'now'>, days: number): Promise<ReplayEvent[]> {
  const since = c.now() - days * 86_400_000;
  const events: ReplayEvent[] = [];
  // AuditLog.list() has no time filter and caps its answer, so page through the table by seq.
  for (let after = 0; ; ) {
    const rows: Array<Record<string, unknown>> = await c
      .db('audit_events')
      .select('seq', 'at', 'user_id', 'details')
      .where('type', 'risk.decision')
      .andWhere('at', '>=', since)
      .andWhere('seq', '>', after)
      .orderBy('seq', 'asc')
      .limit(BATCH);
    for (const r of rows) {
      let details: unknown;
      try {
        details = JSON.parse(r.details as string);
      } catch {
        continue;
      }
      const signals = (details as { signals?: unknown } | null)?.signals;
      if (isRiskSignals(signals)) events.push({ at: Number(r.at), userId: (r.user_id as string | null) ?? null, signals });
    }
    if (rows.length < BATCH) return events;
    after = Number(rows[rows.length - 1]!.seq);
  }
}

export function assertCheckDays(days: number): void {
  if (!Number.isInteger(days) || days < 1 || days > MAX_CHECK_DAYS) {
    throw new AppError('invalid_form', `--days must be a whole number from 1 to ${MAX_CHECK_DAYS}`, 'days');
  }
}

/** Replays the recorded decisions of the last `days` days under the current policy and `candidate`. */
export async function checkPolicy(c: CheckDeps, input: { file: string; days: number; candidate: RiskPolicy }): Promise<PolicyCheckResult> {
  assertCheckDays(input.days);
  const report = replay(await recordedDecisions(c, input.days), c.config.risk, input.candidate);
  const listed = report.changed.slice(-CHANGED_LISTED).reverse(); // the most recent first
  const emails = new Map<string, string | null>();
  for (const id of new Set(listed.map((x) => x.userId).filter((u): u is string => u !== null))) {
    emails.set(id, (await c.users.findById(id))?.email ?? null);
  }
  return {
    file: input.file,
    days: input.days,
    events: report.events,
    current: report.current,
    candidate: report.candidate,
    changed: listed.map((x) => ({
      userId: x.userId,
      email: x.userId === null ? null : (emails.get(x.userId) ?? null),
      at: new Date(x.at).toISOString(),
      from: x.from,
      to: x.to,
      reasons: x.reasons,
    })),
    changedTotal: report.changed.length,
    users_changed: report.usersChanged,
    prompt_rate: report.promptRate,
    not_replayed: report.notReplayed,
  };
}
