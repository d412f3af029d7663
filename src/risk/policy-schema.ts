/**
 * What a risk policy file may say (snake_case keys, each optional with its built-in default) and how it maps
 * onto a RiskPolicy: the value schemas (durations, CIDRs, actions, weights), the file schema and `toPolicy`.
 * Reading a file and reporting its mistakes by line is policy-file.ts.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import type { RiskAction, RiskPolicy, SignalName } from './types.js';
import { SECOND_APPROVAL_ACTIONS } from '../admin/approval-kinds.js';

const SIGNALS = [
  'new_device',
  'new_network',
  'new_location',
  'impossible_travel',
  'session_context_changed',
  'failed_attempts',
  'credential_stuffing',
  'sensitive_action',
  'stale_mfa',
  'deny_listed_network',
  'new_account',
  'push_denied',
] as const satisfies readonly SignalName[];

/** Default action per signal (keep in step with policy/default.yaml; a test compares the two). */
const DEFAULT_ACTIONS: Record<SignalName, RiskAction> = {
  new_device: 'prompt_mfa',
  new_network: 'prompt_mfa',
  new_location: 'prompt_mfa',
  impossible_travel: 'require_mfa',
  session_context_changed: 'prompt_mfa',
  failed_attempts: 'prompt_mfa',
  credential_stuffing: 'require_mfa',
  sensitive_action: 'require_mfa',
  stale_mfa: 'ignore',
  deny_listed_network: 'deny',
  new_account: 'ignore',
  push_denied: 'require_mfa',
};

/** Default points per signal. */
const DEFAULT_WEIGHTS: Record<SignalName, number> = {
  new_device: 20,
  new_network: 10,
  new_location: 20,
  impossible_travel: 50,
  session_context_changed: 20,
  failed_attempts: 20,
  credential_stuffing: 40,
  sensitive_action: 10,
  stale_mfa: 10,
  deny_listed_network: 100,
  new_account: 10,
  push_denied: 30,
};

const MINUTE = 60;
const HOUR = 3600;
const DAY = 86_400;

// ---------------------------------------------------------------------------------------------------------
// Value schemas

const UNITS: Record<string, number> = { s: 1, m: MINUTE, h: HOUR, d: DAY };

/** `30d` / `24h` / `15m` / `90s` / a plain (non-negative, integer) number of seconds → seconds; else null. */
export function parseDuration(value: unknown): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : null;
  if (typeof value !== 'string') return null;
  const m = /^\s*(\d{1,9})\s*([smhd]?)\s*$/.exec(value);
  if (!m) return null;
  return Number(m[1]) * UNITS[m[2] || 's']!;
}

/** 2592000 → "30d", 300 → "5m", 90 → "90s": the largest unit that divides exactly. */
export function formatDuration(seconds: number): string {
  for (const [unit, size] of [['d', DAY], ['h', HOUR], ['m', MINUTE]] as const) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

const duration = (min: number, max: number, def: number) =>
  z
    .unknown()
    .transform((value, ctx) => {
      const seconds = parseDuration(value);
      if (seconds === null) {
        ctx.addIssue({ code: 'custom', message: 'expected a duration such as 30d, 24h, 15m, 90s or a number of seconds' });
        return z.NEVER;
      }
      if (seconds < min || seconds > max) {
        ctx.addIssue({ code: 'custom', message: `must be between ${formatDuration(min)} and ${formatDuration(max)}` });
        return z.NEVER;
      }
      return seconds;
    })
    .default(def);

const int = (min: number, max: number, def: number) => z.number().int().min(min).max(max).default(def);

const action = (def: RiskAction) => z.enum(['ignore', 'prompt_mfa', 'require_mfa', 'deny']).default(def);

/** An IPv4 or IPv6 CIDR (`192.0.2.0/24`, `2001:db8::/32`); a bare address means a single host. → `addr/len`. */
export function parseCidr(value: string): string | null {
  const m = /^([^/\s]+)(?:\/(\d{1,3}))?$/.exec(value.trim());
  if (!m) return null;
  const address = m[1]!.toLowerCase();
  const family = isIPv4(address) ? 4 : !address.includes('%') && isIPv6(address) ? 6 : 0;
  if (family === 0) return null;
  const max = family === 4 ? 32 : 128;
  if (m[2] !== undefined && m[2].length > 1 && m[2].startsWith('0')) return null; // no /024
  const bits = m[2] === undefined ? max : Number(m[2]);
  return bits <= max ? `${address}/${bits}` : null;
}

const cidr = z.string().transform((value, ctx) => {
  const parsed = parseCidr(value);
  if (parsed === null) {
    ctx.addIssue({ code: 'custom', message: 'expected an IPv4 or IPv6 CIDR such as 192.0.2.0/24 or 2001:db8::/32' });
    return z.NEVER;
  }
  return parsed;
});

const perSignal = <T>(make: (signal: SignalName) => T) => Object.fromEntries(SIGNALS.map((s) => [s, make(s)])) as Record<SignalName, T>;
const actionsSchema = z.object(perSignal((s) => action(DEFAULT_ACTIONS[s]))).strict().prefault({});
const weightsSchema = z.object(perSignal((s) => int(0, 100, DEFAULT_WEIGHTS[s]))).strict().prefault({});

export const fileSchema = z
  .object({
    mfa_enforcement: z
      .object({
        all_users: z.boolean().default(false),
        grace_period: duration(0, 365 * DAY, 30 * DAY),
        exclude_service_accounts: z.boolean().default(true),
        every_sign_in: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    risk_based_prompting: actionsSchema,
    risk_weights: weightsSchema,
    risk_thresholds: z
      .object({ step_up: int(1, 100, 40), deny: int(1, 100, 100) })
      .strict()
      .superRefine((t, ctx) => {
        if (t.step_up > t.deny) ctx.addIssue({ code: 'custom', path: ['step_up'], message: `must not exceed risk_thresholds.deny (${t.deny})` });
      })
      .prefault({}),
    remembered_devices: z.object({ days: int(0, 365, 30) }).strict().prefault({}),
    sensitive_action_max_age: duration(MINUTE, DAY, 5 * MINUTE),
    mfa_max_age: duration(HOUR, 365 * DAY, 30 * DAY),
    velocity: z
      .object({
        window: duration(MINUTE, DAY, 15 * MINUTE),
        account_failures: int(1, 1000, 5),
        ip_failures: int(1, 100_000, 20),
        ip_distinct_accounts: int(2, 100_000, 10),
      })
      .strict()
      .prefault({}),
    impossible_travel_kmh: int(100, 20_000, 900),
    new_account_age: duration(0, 365 * DAY, DAY),
    networks: z
      .object({ allow: z.array(cidr).max(10_000).default([]), deny: z.array(cidr).max(10_000).default([]) })
      .strict()
      .prefault({}),
    recovery: z
      .object({
        backup_codes: int(5, 20, 10),
        // `disabled`: the earlier spelling of `off`.
        admin_recovery: z.enum(['verify_with_id', 'off', 'disabled']).default('verify_with_id'),
        recovery_timeout: duration(MINUTE, 30 * DAY, DAY),
      })
      .strict()
      .prefault({}),
    admin: z
      .object({ second_approval: z.array(z.enum(SECOND_APPROVAL_ACTIONS)).max(20).default([]) })
      .strict()
      .prefault({}),
  })
  .strict();

export type PolicyFile = z.output<typeof fileSchema>;

export function toPolicy(f: PolicyFile): RiskPolicy {
  return {
    mfaEnforcement: {
      allUsers: f.mfa_enforcement.all_users,
      gracePeriodSeconds: f.mfa_enforcement.grace_period,
      excludeServiceAccounts: f.mfa_enforcement.exclude_service_accounts,
      everySignIn: f.mfa_enforcement.every_sign_in,
    },
    riskBasedPrompting: { ...f.risk_based_prompting },
    weights: { ...f.risk_weights },
    thresholds: { stepUp: f.risk_thresholds.step_up, deny: f.risk_thresholds.deny },
    rememberedDeviceDays: f.remembered_devices.days,
    sensitiveActionMaxAgeSeconds: f.sensitive_action_max_age,
    mfaMaxAgeSeconds: f.mfa_max_age,
    velocity: {
      windowSeconds: f.velocity.window,
      accountFailures: f.velocity.account_failures,
      ipFailures: f.velocity.ip_failures,
      ipDistinctAccounts: f.velocity.ip_distinct_accounts,
    },
    impossibleTravelKmh: f.impossible_travel_kmh,
    newAccountSeconds: f.new_account_age,
    networks: { allow: [...f.networks.allow], deny: [...f.networks.deny] },
    recovery: {
      backupCodes: f.recovery.backup_codes,
      adminRecovery: f.recovery.admin_recovery,
      recoveryTimeoutSeconds: f.recovery.recovery_timeout,
    },
    // Present only when some action needs a second admin: the default policy's shape stays as it was.
    ...(f.admin.second_approval.length ? { admin: { secondApproval: [...new Set(f.admin.second_approval)] } } : {}),
  };
}

/** The policy of an empty file: every built-in default. */
export function builtInPolicy(): RiskPolicy {
  return toPolicy(fileSchema.parse({}));
}
